"""GPU self-test: does the engine's GPU path compute what the CPU path computes? One screen.

    python scripts/gpu_selftest.py [--device cuda] [--iterations 300] [--json OUT.json]

1. capture safety: every algorithm and switch set's step, on the meta device, under
   :class:`lra.engine.capture_check.CaptureSafetyMode` (no host copy or synchronisation);
2. training: every algorithm and released-code switch set, a small mixed population (sorted K,
   both losses, regularised members), trained for ``--iterations`` on the device (CUDA graph on,
   compaction on) and on the CPU; the same verdicts (solved, stop reason) and accuracy curves
   within float32 noise, where the noise is measured: the CPU run repeated with the initial weights
   scaled by (1 + 2^-23), one float32 rounding step. On CUDA also: the captured step equals the
   eager step on the device bit for bit;
3. the chain kernel (CUDA): every variant against the PyTorch chain and float64
   (``tests/algorithms/chain_kernel_equivalence.py``).

Exit status 0 when everything passes. With ``--device cpu`` (CI) the device run is the CPU run
(no graph) and part 3 is skipped: it checks that the harness itself works.

``--fast`` is the device slice's mode (``scripts/device_campaign.sh``, when no verdict for this
code version and device kind is cached: :mod:`lra.campaign.device_cache`): ``--quick``, 100
iterations unless ``--iterations`` says otherwise, and of the chain kernel only the variant the
engine will take on this GPU (the committed benchmark's fastest, :func:`auto_chain_variant`; none
when it takes the PyTorch chain), in parts 2 and 3. The full run took 126 s on an H100 (four
variants; the committed log), its kernel part 65 s of it; ``--fast`` is meant to stay under 60 s
there (an estimate: not yet timed on a GPU). The JSON lists the kernel variants it checked
(``kernel_variants``): a slice takes no variant the self-test did not check.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lra.algorithms.bptt import BPTT, BPTTConfig  # noqa: E402
from lra.engine.trainer import PopulationTrainer  # noqa: E402
from lra.algorithms.lra_diff import LRADiff, LRADiffConfig, ReleasedCodeSwitches  # noqa: E402
from lra.engine.predictions import accuracy  # noqa: E402
from lra.algorithms.readout import ReadoutConfig, ReadoutOnly  # noqa: E402
from lra.algorithms.tptt import TPTT, TPTTConfig  # noqa: E402

LRA_MIX = [LRADiffConfig(alpha=0.1, gamma=1.0, K=4), LRADiffConfig(alpha=0.1, gamma=0.1, K=3,
                                                                   loss="log_penalty"),
           LRADiffConfig(alpha=0.05, gamma=1.0, K=2, lam=0.1),
           LRADiffConfig(alpha=0.1, gamma=10.0, K=1, norm="forced")]


def cases(device: torch.device, quick: bool):
    """(name, algorithm factory, task) for every algorithm and switch set."""
    out = [("lra_diff paper", lambda d, f=False: LRADiff(LRA_MIX, device=d, fused=f),
            "temporal_order")]
    names = ReleasedCodeSwitches.names()
    if quick:
        names = names[:2]
    for n in names:
        sw = ReleasedCodeSwitches(**{n: True})
        cfg = LRA_MIX if n != "released_regularizer" else \
            [LRADiffConfig(alpha=0.05, gamma=1.0, K=2, lam=0.1)] * 2
        out.append((f"lra_diff {n}", lambda d, f=False, sw=sw, cfg=cfg:
                    LRADiff(cfg, sw, device=d, fused=f), "temporal_order"))
    out.append(("lra_diff all released", lambda d, f=False: LRADiff(
        LRA_MIX, ReleasedCodeSwitches.all_on(), device=d, fused=f), "random_permutation"))
    out.append(("bptt", lambda d, f=False: BPTT([BPTTConfig(0.1), BPTTConfig(0.01)], device=d),
                "temporal_order"))
    out.append(("readout_only", lambda d, f=False: ReadoutOnly(
        [ReadoutConfig(0.1), ReadoutConfig(0.01), ReadoutConfig(0.001)], device=d),
        "temporal_order"))
    out.append(("tptt nesterov", lambda d, f=False: TPTT([TPTTConfig(), TPTTConfig(lr_f=0.1)],
                                                        device=d), "temporal_order"))
    if not quick:
        out.append(("tptt sgd", lambda d, f=False: TPTT([TPTTConfig(optimiser="sgd")] * 2,
                                                       device=d), "temporal_order"))
    return out


def train(make, task, device, iterations, graph, perturb=False, fused=False):
    algo = make(str(device), fused) if fused else make(str(device))
    P = len(algo.configs)
    tr = PopulationTrainer(algo, task, 10, [0] * P, device=device, max_iterations=iterations,
                           check_every=50, validation_size=1000, cuda_graph=graph,
                           compact=True, progress=False)
    if perturb:
        with torch.no_grad():
            for _, v in tr.params.items():
                v.mul_(1 + 2.0 ** -23)
    start = time.perf_counter()
    res = tr.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return tr, res, time.perf_counter() - start


def curve_gap(a, b):
    """Largest difference between two members' accuracy curves at common checks."""
    da = {it: acc for it, acc, _ in a.curve}
    db = {it: acc for it, acc, _ in b.curve}
    common = sorted(set(da) & set(db))
    return max((abs(da[i] - db[i]) for i in common), default=0.0)


def verdict(r):
    return (r.solved, r.stop_reason, r.diverged)


def capture_part(report):
    from lra.engine.capture_check import CaptureSafetyMode
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_capture_safety import LRA_CONFIGS, SWITCH_SETS, violations  # noqa: E402
    bad = []
    for sw in SWITCH_SETS:
        mode = violations(LRADiff(LRA_CONFIGS, sw, device="meta", fused=False))
        if mode.violations:
            bad.append(("+".join(sw.enabled()) or "paper", mode.report()))
    for algo in (BPTT([BPTTConfig(0.1)], device="meta"), TPTT([TPTTConfig()], device="meta")):
        mode = violations(algo)
        if mode.violations:
            bad.append((algo.name, mode.report()))
    report.append(("capture safety (meta device, every algorithm and switch set)",
                   not bad, "no host interaction" if not bad else repr(bad)))
    del CaptureSafetyMode
    return not bad


def training_part(device, iterations, quick, report, details, variants):
    ok_all = True
    for name, make, task in cases(device, quick):
        chains = [(name, False)]
        if device.type == "cuda" and name == "lra_diff paper":
            chains += [(f"{name} + kernel {v}", v) for v in variants]
        ref, ref_res, ref_secs = train(make, task, torch.device("cpu"), iterations, False)
        _, noise_res, _ = train(make, task, torch.device("cpu"), iterations, False, perturb=True)
        noise = max(curve_gap(a, b) for a, b in zip(ref_res, noise_res))
        for label, fused in chains:
            try:
                if device.type == "cpu":      # the device is the reference's: the same call
                    dev_res, secs = ref_res, ref_secs
                else:
                    dev, dev_res, secs = train(make, task, device, iterations,
                                               device.type == "cuda", fused=fused)
            except Exception as e:   # report, go on with the other cases
                report.append((label, False, f"failed: {type(e).__name__}: {e}"))
                ok_all = False
                continue
            gap = max(curve_gap(a, b) for a, b in zip(ref_res, dev_res))
            same = [verdict(a) == verdict(b) for a, b in zip(ref_res, dev_res)]
            noisy_verdicts = [verdict(a) == verdict(b) for a, b in zip(ref_res, noise_res)]
            # a verdict may differ only where the CPU's own rounding noise also changes it
            verdicts_ok = all(s or not n for s, n in zip(same, noisy_verdicts))
            tol = max(3 * noise, 0.02)
            # the stored per-sample predictions (lra.engine.predictions) imply each best accuracy
            bits_ok = all(abs(accuracy(r.best_correct) - r.best_accuracy) < 1e-6
                          for r in dev_res)
            ok = verdicts_ok and gap <= tol and bits_ok
            ok_all &= ok
            msg = (f"curve gap {gap:.4f} (CPU noise {noise:.4f}, allowed {tol:.4f}); verdicts "
                   f"{[verdict(r)[1] for r in dev_res]} vs CPU {[verdict(r)[1] for r in ref_res]};"
                   f" stored predictions {'match' if bits_ok else 'DO NOT match'} the best"
                   f" accuracies; {iterations / secs:,.0f} it/s")
            report.append((label, ok, msg))
            details[label] = dict(gap=gap, noise=noise, verdicts_device=[verdict(r) for r in dev_res],
                                  verdicts_cpu=[verdict(r) for r in ref_res], it_per_s=iterations / secs)
    if device.type == "cuda":
        # the captured step equals the eager step on the same device, bit for bit
        make = cases(device, True)[0][1]
        a, _, _ = train(make, "temporal_order", device, min(iterations, 100), True)
        b, _, _ = train(make, "temporal_order", device, min(iterations, 100), False)
        same = all(torch.equal(x, y) for (_, x), (_, y) in zip(a.full_params().items(),
                                                              b.full_params().items()))
        report.append(("CUDA graph == eager on the device (bit for bit, 100 iterations)", same, ""))
        ok_all &= same
        # populations trained concurrently (threads, one stream each) == one after the other;
        # 300 iterations so that members solve and populations are compacted and recaptured
        # while the others run (a readout-only recapture failed so in a campaign on an H100)
        import threading
        makers = [c for c in cases(device, True)
                  if c[0] in ("lra_diff paper", "bptt", "readout_only")]
        seq = [train(mk, task, device, 300, True)[0] for _, mk, task in makers]
        par = [None] * len(makers)

        def worker(i, mk, task):
            with torch.cuda.stream(torch.cuda.Stream(device)):
                par[i] = train(mk, task, device, 300, True)[0]
        threads = [threading.Thread(target=worker, args=(i, mk, task))
                   for i, (_, mk, task) in enumerate(makers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        torch.cuda.synchronize()
        same = all(p is not None and all(torch.equal(x, y) for (_, x), (_, y) in
                                         zip(s.full_params().items(), p.full_params().items()))
                   for s, p in zip(seq, par))
        report.append(("concurrent populations (threads + streams) == sequential, bit for bit",
                       same, f"{sum(p.recaptures for p in par if p is not None)} recaptures"))
        ok_all &= same
    return ok_all


def kernel_part(report, details, variants=None):
    script = ROOT / "tests" / "algorithms" / "chain_kernel_equivalence.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRITON_INTERPRET", None)
    if variants is not None:        # --fast: only these variants
        env["LRA_KERNEL_VARIANTS"] = ",".join(variants)
    out = subprocess.run([sys.executable, str(script), "--no-bench"], env=env,
                         capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    if out.returncode != 0:
        report.append(("chain kernel vs PyTorch and float64", False,
                       "failed: " + out.stderr.strip()[-600:]))
        return False
    lines = out.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    res = json.loads(lines[-1])
    details["kernel"] = res
    ok = bool(res.get("ok", True))
    report.append(("chain kernel vs PyTorch and float64", ok,
                   res.get("summary", "see the report above")))
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--iterations", type=int, default=None, help="default 300 (--fast: 100)")
    ap.add_argument("--quick", action="store_true", help="fewer switch sets (CI)")
    ap.add_argument("--fast", action="store_true",
                    help="the device slice's mode: --quick, 100 iterations, only the chain kernel "
                         "variant the engine takes here")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-kernel", action="store_true", help="skip the chain kernel's checks")
    a = ap.parse_args(argv)
    if a.iterations is None:
        a.iterations = 100 if a.fast else 300
    a.quick = a.quick or a.fast
    device = torch.device(a.device)
    start = time.perf_counter()
    report, details = [], {}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    try:
        import triton
        tv = triton.__version__
    except ImportError:
        tv = "absent"
    print(f"gpu_selftest on {name}: torch {torch.__version__}, triton {tv}, "
          f"{a.iterations} iterations per run", flush=True)
    variants = []
    if device.type == "cuda" and not a.no_kernel:
        try:
            from lra.algorithms import chain_kernel as fused
            variants = list(getattr(fused, "VARIANTS", {"default": {}}))
        except Exception as e:
            report.append(("import lra.algorithms.chain_kernel", False, repr(e)))
        if a.fast:      # the variant the engine takes here (the benchmark's fastest), or none
            from lra.campaign.projection import auto_chain_variant
            taken = auto_chain_variant(device)
            variants = [v for v in variants if v == taken]
            print(f"--fast: chain kernel variant checked: {taken or 'none (PyTorch chain)'}",
                  flush=True)
    ok = capture_part(report)
    ok &= training_part(device, a.iterations, a.quick, report, details, variants)
    if device.type == "cuda" and not a.no_kernel and (variants or not a.fast):
        ok &= kernel_part(report, details, variants if a.fast else None)
    print("\n" + "=" * 100)
    print(f"GPU SELF-TEST on {name} ({time.perf_counter() - start:.0f} s)")
    for label, passed, msg in report:
        print(f"  {'PASS' if passed else 'FAIL'}  {label}: {msg}")
    print(f"RESULT: {'PASS' if ok else 'FAIL'}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(
            device=name, ok=ok, report=report, details=details, kernel_variants=variants,
            mode="fast" if a.fast else ("quick" if a.quick else "full"),
            iterations=a.iterations, seconds=time.perf_counter() - start), indent=1,
            default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
