"""The linear-readout ceiling of each frozen reservoir: what the best linear readout of a seed's
untrained network reaches, fitted on a large sample and judged on held-out data (book chapters
"The reservoir" and "Verdicts").

The readout-only control trains W_hy and b_y by SGD for at most 100,000 iterations of 20 samples.
Its ceiling asks the question without the optimiser: multinomial logistic regression
(:func:`lra.algorithms.readout.fit_linear_readout`) on the last states of ``fit_size`` fresh
sequences of the seed's reservoir (their own stream, ``"ceiling_fit"``), then its accuracy on the
seed's validation set and on its test set (:func:`lra.tasks.heldout_symbols`). Where a number of
the paper is within reach of this ceiling, a frozen reservoir explains it.

Stored as ``results/readout_ceiling/<budget>/ceiling.json``: one record per (task, T, seed), each
with the provenance of the code and machine that computed it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from lra.algorithms.readout import fit_linear_readout, readout_accuracy, reservoir_states
from lra.campaign.store import ResultsStore, atomic_write_bytes, code_version, file_lock, provenance
from lra.tasks import generate_symbols, get_task, heldout_symbols, make_generator, validation_symbols

EXPERIMENT = "readout_ceiling"


def ceiling(task: str, T: int, seed: int, fit_size: int, heldout_size: int) -> dict:
    """Fit the readout of seed's reservoir on ``fit_size`` samples; accuracy on the fit sample,
    the validation set and the test set (``heldout_size`` each)."""
    t0 = time.monotonic()
    sym, y = generate_symbols(task, T, fit_size, make_generator(task, T, seed, "ceiling_fit"))
    z = reservoir_states(task, T, seed, sym)
    W, b = fit_linear_readout(z, y, get_task(task).n_out)
    out = dict(task=task, T=T, seed=seed, fit_size=fit_size, heldout_size=heldout_size,
               fit_accuracy=readout_accuracy(z, y, W, b))
    for role, symbols in (("validation", validation_symbols), ("test", heldout_symbols)):
        s, lab = symbols(task, T, seed, heldout_size)
        out[f"{role}_accuracy"] = readout_accuracy(reservoir_states(task, T, seed, s), lab, W, b)
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def path(store: ResultsStore, budget: str) -> Path:
    return Path(store.root) / EXPERIMENT / budget / "ceiling.json"


def load(store: ResultsStore | None = None, budget: str = "paper") -> list[dict]:
    p = path(store or ResultsStore(), budget)
    return json.loads(p.read_text())["records"] if p.exists() else []


def run(cells, seeds, budget: str = "paper", fit_size: int = 100_000,
        heldout_size: int = 10_000, store: ResultsStore | None = None, log=print) -> int:
    """Compute the missing (task, T, seed) records and store each as it is done. Returns the count."""
    store = store or ResultsStore()
    p = path(store, budget)
    n = 0
    for task, T in cells:
        for seed in seeds:
            if any(r["task"] == task and r["T"] == T and r["seed"] == seed
                   and r["fit_size"] == fit_size for r in load(store, budget)):
                continue
            rec = ceiling(task, T, seed, fit_size, heldout_size)
            rec.update(provenance=provenance(torch.device("cpu"), budget),
                       code_version=code_version())
            with file_lock(p.with_name(".lock")):
                records = load(store, budget) + [rec]
                atomic_write_bytes(p, json.dumps({"records": records}, indent=1).encode())
            n += 1
            log(f"ceiling {task} T={T} seed {seed}: fit {rec['fit_accuracy']:.4f}, validation "
                f"{rec['validation_accuracy']:.4f}, test {rec['test_accuracy']:.4f} "
                f"({rec['seconds']} s)")
    return n


def main(argv=None) -> int:
    """``python -m lra.campaign.ceiling [--budget paper] [--lengths 10 20 30] [--seeds 5]``"""
    import argparse
    from lra.campaign.experiments import ALL_TASKS, get_budget
    ap = argparse.ArgumentParser(description="the linear-readout ceiling of each frozen reservoir")
    ap.add_argument("--budget", default="paper", choices=["smoke", "paper"])
    ap.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fit-size", type=int, default=None,
                    help="samples to fit on (default: 5 x the budget's validation set)")
    args = ap.parse_args(argv)
    b = get_budget(args.budget)
    torch.set_num_threads(1)
    run([(t, T) for t in ALL_TASKS for T in args.lengths], range(args.seeds), args.budget,
        args.fit_size or 5 * b.validation_size, b.validation_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
