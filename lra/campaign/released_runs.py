"""The runs of ``results/released_script/``: written with provenance, read back, compared.

Book chapter "The paper and its released code", section "The released script itself". Three
readings of the same runs are stored there (``results/released_script/README.md``): the released
script's printed output (``<perm|temp>_a<lr>_g<gamma>.txt``, run by
``results/released_script/run_released.py``), and our two readings of its step on its data stream
(``ours/*.json``): :func:`lra.algorithms.released_script.train` with ``reading="autograd"`` (the
script's step as the script computes it) or ``reading="local"`` (the package's one-step reading
with :class:`lra.algorithms.lra_diff.ReleasedCodeSwitches`).

* :func:`main` — ``python -m lra.campaign.released_runs OUT_DIR TASK LR GAMMA [...]``: one run of
  our readings, written to ``OUT_DIR/<label>.json`` with its :func:`provenance`;
* :func:`parse_released_output` and :func:`load_runs` — every stored run, in the layout of
  :func:`~lra.algorithms.released_script.train`'s result;
* :func:`curve_difference` — two runs' validation accuracies compared check by check.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from lra.algorithms.released_script import (RELEASED_COMMIT, RELEASED_REPO, RELEASED_TASK_NAMES,
                                            SOURCE_SHA256, TASK_SHAPES, RunSpec, train)

ROOT = Path(__file__).resolve().parents[2]           # the checkout this package runs from
STORED = ROOT / "results" / "released_script"         # the stored runs (its README says what)


# ----------------------------------------------------------------------------- stored output
_CHECK = re.compile(r"^It ([\d,]+)/[\d,]+\s+Train loss: (\S+)\s+Val loss: (\S+)\s+"
                    r"Val Acc: ([\d.]+)%\s+Highest: ([\d.]+)%")
_START = re.compile(r"Starting val loss: (\S+)\s+Starting val accuracy: ([\d.]+)%")


def parse_released_output(text: str) -> dict:
    """The curve the released script prints (line 359: one line per validation check) and how it
    stopped (lines 339, 364, 368), in the layout of the result of
    :func:`~lra.algorithms.released_script.train`. Accuracies are fractions, as printed (four
    decimals of a percentage)."""
    curve = {"iteration": [], "accuracy": [], "highest": [], "train_loss": [], "val_loss": []}
    start, stop = None, "max_iterations"
    for line in text.splitlines():
        m = _CHECK.match(line)
        if m:
            it, tl, vl, acc, hi = m.groups()
            for key, v in zip(curve, (int(it.replace(",", "")), float(acc) / 100,
                                      float(hi) / 100, float(tl), float(vl))):
                curve[key].append(v)
        elif _START.search(line):
            start = float(_START.search(line).group(2)) / 100
        elif line.startswith("PROBLEM SOLVED"):
            stop = "solved"
        elif line.startswith("Validation error not reducing"):
            stop = "patience"
        elif line.startswith("Training loss is NAN"):
            stop = "nan"
    return {"start_accuracy": start, "curve": curve, "stop_reason": stop,
            "best_accuracy": max(curve["highest"], default=start)}


_RELEASED_FILE = re.compile(r"^(perm|temp)_a([\d.]+)_g([\d.]+)\.txt$")


def load_runs(folder) -> list[dict]:
    """Every stored run of ``results/released_script``: the script's printed output
    (``<perm|temp>_a<lr>_g<gamma>.txt``, reading "released script") and our readings' runs
    (``ours/*.json``, readings "autograd" and "local"), each as a dict with ``reading``, ``task``,
    ``lr``, ``gamma``, ``switches`` and the fields of the result of
    :func:`~lra.algorithms.released_script.train`."""
    folder = Path(folder)
    tasks = {v: k for k, v in RELEASED_TASK_NAMES.items()}
    runs = []
    for f in sorted(folder.glob("*.txt")):
        m = _RELEASED_FILE.match(f.name)
        if m:
            r = parse_released_output(f.read_text())
            r["iterations"] = r["curve"]["iteration"][-1] if r["curve"]["iteration"] else 0
            if "WRAPPER returned" not in f.read_text():   # our wrapper's last line: run ended
                r["stop_reason"] = "incomplete"
            runs.append({"reading": "released script", "task": tasks[m.group(1)],
                         "lr": float(m.group(2)), "gamma": float(m.group(3)), "switches": (),
                         "file": f.name, **r})
    for f in sorted((folder / "ours").glob("*.json")):
        r = json.loads(f.read_text())
        sp = r["spec"]
        runs.append({"reading": sp["reading"], "task": sp["task"], "lr": sp["lr"],
                     "gamma": sp["gamma"], "switches": tuple(sp["switches"]), "file": f.name,
                     **r})
    return runs


def curve_difference(a: dict, b: dict) -> dict:
    """Absolute differences of two runs' validation accuracies at the checks both made
    (percentage points): max, mean, number of common checks, and the first check where they
    differ by more than the printing resolution (5e-5 points: four decimals of a percentage)."""
    ca, cb = a["curve"], b["curve"]
    acc_b = dict(zip(cb["iteration"], cb["accuracy"]))
    common = [(it, acc, acc_b[it]) for it, acc in zip(ca["iteration"], ca["accuracy"])
              if it in acc_b]
    d = [abs(u - v) * 100 for _, u, v in common]
    first = next((it for (it, _, _), x in zip(common, d) if x > 5e-5), None)
    return {"max": max(d) if d else float("nan"), "mean": float(np.mean(d)) if d else float("nan"),
            "checks": len(d), "first_differing_check": first}


# ----------------------------------------------------------------------------- provenance
def provenance() -> dict:
    """Commit (and whether the tree was dirty), the SHA-256 of the step's module
    (:data:`lra.algorithms.released_script.SOURCE_SHA256`), torch, device, date."""
    import datetime
    import os
    import platform
    import subprocess
    run = lambda *a: subprocess.run(a, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"commit": run("git", "rev-parse", "HEAD"),
            "dirty": bool(run("git", "status", "--porcelain", "--", "lra")),
            "module_sha256": SOURCE_SHA256,
            "torch": torch.__version__, "numpy": np.__version__,
            "device": f"cpu ({platform.machine()}, {os.cpu_count()} cores), torch threads "
                      f"{torch.get_num_threads()}",
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "released_repo": RELEASED_REPO, "released_commit": RELEASED_COMMIT}


def main(argv=None) -> None:
    """``python -m lra.campaign.released_runs OUT_DIR TASK LR GAMMA [--reading local --switches a,b]``:
    one run, written to OUT_DIR/<label>.json with its provenance."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("task", choices=list(TASK_SHAPES))
    ap.add_argument("lr", type=float)
    ap.add_argument("gamma", type=float)
    ap.add_argument("--reading", default="autograd", choices=("autograd", "local"))
    ap.add_argument("--switches", default="", help="comma-separated switch names (local)")
    ap.add_argument("--max-iterations", type=int, default=10_000)
    ap.add_argument("--no-history", action="store_true", help="autograd: one-step weight grads")
    ap.add_argument("--chain", default="released", choices=("released", "local"))
    ap.add_argument("--monitor", action="store_true", help="record saturation and weight norms")
    a = ap.parse_args(argv)
    spec = RunSpec(a.task, a.lr, a.gamma, a.reading,
                   tuple(s for s in a.switches.split(",") if s), max_iterations=a.max_iterations,
                   history=not a.no_history, chain=a.chain, monitor=a.monitor)
    out = Path(a.out_dir) / f"{spec.label()}.json"
    prov = provenance()            # at the start: the commit and tree the run started from
    result = train(spec, log=lambda s: print(s, flush=True))
    result["provenance"] = prov
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}: {result['stop_reason']} after {result['iterations']} iterations, "
          f"best {result['best_accuracy']:.4%}")


if __name__ == "__main__":
    main()
