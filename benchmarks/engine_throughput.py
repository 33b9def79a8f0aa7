"""Member-iterations/s of RNN-LRA-diff training: naive loop, eager, CUDA graph, chain kernel.

    python benchmarks/engine_throughput.py [--device auto] [--seconds 1] [--total-seconds 140]
                                           [--released PATH]
                                           [--out auto | --out benchmarks/results/NAME.md]

One run measures every cell of (T, K) x P x method (``--shapes``, ``--populations``, ``--methods``):

* ``naive``: one configuration, the readable autograd implementation
  (:func:`lra.algorithms.reference.lra_diff_single`) plus an SGD step — what a straightforward script does
  (P = 1 only);
* ``eager``: P members as one tensor program (:class:`lra.engine.trainer.PopulationTrainer`), PyTorch chain;
* ``graph+torch``: the same, the iteration captured once in a CUDA graph and replayed (CUDA only);
* ``graph+kernel:<variant>``: CUDA graph with the fused chain kernel, one method per entry of
  ``lra.algorithms.chain_kernel.VARIANTS`` (``graph+kernel:default``, the single kernel, where there is no such dict);
* ``released`` (only with ``--released PATH``): the paper's released script ``lra2_reg.py``
  (nmanchev/lra-rnn), imported at run time from PATH, a checkout *outside* this repository (none of
  its code is ever copied here), unmodified, as ``results/released_script/run_released.py`` calls it:
  ``run_experiment(seed, orthogonal, "temp", 100, T, 20, "SGD", 0.1, 1.0, K, 0.0, 1.0, maxiter,
  chk_iter > maxiter, "MSE")`` (P = 1; it always runs on the CPU). One of its iterations is one pass
  of ``SRNN.train``'s loop: a batch generated, forward, ``calc_grads``, an SGD step; a validation on
  its 10,000 test samples runs once before the loop (and at every ``chk_iter``-th iteration: never
  here). The per-iteration time is a difference of two calls, (t(n2) - t(n1)) / (n2 - n1), in wall
  and in process CPU time, so that the setup (test data, model, the initial validation) cancels;
  n2 comes from the cell's time budget after a probe call. Its printing is silenced.

Defaults: on CUDA all four shapes x P in {15, 132, 264, 1215, 2048} x every method; on a CPU
naive + eager with P in {15, 132}. Members of a cell mix gamma over 10, 1, 0.1, 0.01, 0.001 (alpha
0.1, the cell's K), batch 20, hidden 100, temporal order; data generation is part of the iteration
(as in training). Each cell: warm-up iterations (for a graph, its capture), then iterations in
growing chunks, the device synchronised after each chunk, until ``--seconds`` have passed. Each
cell records wall time (``seconds``, ``rate``: member-iterations per wall second) and the process CPU
time of the same iterations (``cpu_seconds``, ``cpu_rate``: per CPU second); the machine's load
average at the start and at the end is recorded too: on a shared machine CPU-time rates are the
comparable numbers. The markdown compares, per shape, the engine with the released script and with
the naive loop per CPU second and says whether the issue's targets (:data:`TARGETS`) are met.

``--total-seconds`` is a hard budget for the whole run: the time per cell shrinks (down to 0.2 s)
when the run falls behind, a cell whose projected minimum time (from the cells already measured)
does not fit in what is left or exceeds ``--max-cell-seconds`` is skipped with its reason, and
cells not reached are listed as skipped — never dropped. A failing cell is reported and the run
goes on. At the start the fp32 matmul peak of the device is measured (TF32 off), and each cell
reports TFLOP/s (analytic FLOP count: :func:`lra.campaign.projection.flops_per_member_iteration`) and the
percentage of that peak.

Output: a compact table on stdout; with ``--out X.md``, markdown at X.md and JSON at X.json
(``--out auto``: ``benchmarks/results/<device-slug>.md``). :mod:`lra.campaign.projection` reads the JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib
import io
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

from lra.engine.trainer import PopulationTrainer, resolve_device  # noqa: E402
from lra.algorithms.lra_diff import LRADiff, LRADiffConfig  # noqa: E402
from lra.model import init_population  # noqa: E402
from lra.campaign.projection import (BASELINE_METHODS, Benchmark,  # noqa: E402
                                     flops_per_member_iteration, slug)
from lra.campaign.store import code_version  # noqa: E402
from lra.algorithms.reference import lra_diff_single  # noqa: E402
from lra.tasks import generate, get_task, make_generator  # noqa: E402

__all__ = ["flops_per_member_iteration", "main"]

SCHEMA = 2
TASK = "temporal_order"
BATCH, HIDDEN = 20, 100
SHAPES = [(10, 1), (10, 10), (20, 20), (30, 30)]
CUDA_POPULATIONS = [15, 132, 264, 1215, 2048]
CPU_POPULATIONS = [15, 132]
GAMMAS = (10.0, 1.0, 0.1, 0.01, 0.001)
ALPHA = 0.1
MIN_CELL_SECONDS = 0.2
WARMUP = {"naive": 1, "eager": 2, "graph": 2,   # graph: the first call also captures
          "released": 4}    # released: its warm-up and probe calls (~ 4 iterations + 3 setups)
P1_METHODS = BASELINE_METHODS   # one configuration: P = 1 only, never a chain path

# The released script (nmanchev/lra-rnn, lra2_reg.py), as results/released_script/run_released.py
# calls it: temporal order ("temp"), SGD, lr 0.1, glr 1.0, lambda 0, c = 1, local loss MSE.
RELEASED_SCRIPT = "lra2_reg.py"
RELEASED = dict(task="temp", seed=1234, lr=0.1, glr=1.0, alpha=0.0, grad_norm=1.0, opt="SGD",
                local_loss="MSE")
# Issue 22's targets, per CPU second: eager at (T, K, P) with `threads` torch threads >= `ratio` x
# the `baseline` method (P = 1) at the same (T, K).
TARGETS = [dict(T=10, K=10, P=15, threads=1, baseline="released", ratio=10.0)]


# ----------------------------------------------------------------------------- methods
def kernel_methods() -> dict[str, object]:
    """method name -> the ``fused`` argument of LRADiff, one per chain-kernel variant."""
    try:
        from lra.algorithms import chain_kernel as fused
    except Exception:  # pragma: no cover - the module imports without Triton
        return {}
    variants = getattr(fused, "VARIANTS", None)
    if isinstance(variants, dict) and variants:
        return {f"graph+kernel:{name}": name for name in variants}
    return {"graph+kernel:default": True}


def method_table(device: torch.device) -> dict[str, dict]:
    """Every method this device can be asked for -> its engine options."""
    table = {"naive": dict(cuda_graph=False, fused=False),
             "eager": dict(cuda_graph=False, fused=False)}
    if device.type == "cuda":
        table["graph+torch"] = dict(cuda_graph=True, fused=False)
        for name, fused in kernel_methods().items():
            table[name] = dict(cuda_graph=True, fused=fused)
    return table


def configs_for(K: int, P: int) -> list[LRADiffConfig]:
    return [LRADiffConfig(alpha=ALPHA, gamma=GAMMAS[i % len(GAMMAS)], K=K) for i in range(P)]


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_naive(T: int, K: int, device: torch.device):
    spec = get_task(TASK)
    W = {k: v[0].to(device) for k, v in init_population([0], spec.n_in, spec.n_out,
                                                         HIDDEN).items()}
    g = make_generator(TASK, T, 0, "train")

    def step():
        x, y = generate(TASK, T, BATCH, g)
        grads = lra_diff_single(W, x.to(device), y.to(device), gamma=1.0, K=K)
        for k in W:
            W[k] = W[k] - ALPHA * grads[k]

    return step


def make_population(T: int, K: int, P: int, device: torch.device, cuda_graph: bool, fused):
    algo = LRADiff(configs_for(K, P), device=device, fused=fused)
    tr = PopulationTrainer(algo, TASK, T, [0] * P, device=device, cuda_graph=cuda_graph,
                           max_iterations=10 ** 9, check_every=10 ** 9, progress=False)

    def step():
        tr.next_batch()
        tr._graphed_step() if cuda_graph else tr._step()

    return step


def measure(step, device, seconds: float, warmup: int) -> dict:
    """Warm up, then run chunks of iterations (sync after each) until ``seconds`` have passed.

    ``seconds``: wall time of the timed iterations; ``cpu_seconds``: the process CPU time
    (:func:`time.process_time`, every thread of the process) over the same iterations."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm = time.perf_counter() - t0
    n, chunk = 0, 1
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        for _ in range(chunk):
            step()
        sync(device)
        n += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        per = elapsed / n
        chunk = max(1, min(2 * chunk, math.ceil((seconds - elapsed) / per)))
    cpu = time.process_time() - cpu_start
    return dict(iterations=n, seconds=elapsed, cpu_seconds=cpu, warmup_seconds=warm)


# ----------------------------------------------------------------------------- the released script
def check_released_dir(path, root: Path = ROOT) -> Path:
    """The released checkout's directory, resolved; ValueError (with the reason) when it lies inside
    this repository (its code must never be copied here) or holds no ``lra2_reg.py``."""
    p = Path(path).expanduser().resolve()
    root = Path(root).resolve()
    if p == root or root in p.parents:
        raise ValueError(f"--released {path}: {p} is inside this repository ({root}); the released "
                         "code is never copied into it: export nmanchev/lra-rnn elsewhere, e.g. "
                         "git archive HEAD | tar -x -C /tmp/lra-rnn")
    if not (p / RELEASED_SCRIPT).is_file():
        raise ValueError(f"--released {path}: no {RELEASED_SCRIPT} in {p} (expected a checkout of "
                         "the paper's released code, nmanchev/lra-rnn)")
    return p


def import_released(path: Path):
    """Import the released ``lra2_reg`` from ``path`` (sys.path.insert, as
    results/released_script/run_released.py does), unmodified. Its pyplot import needs the Agg
    backend first; its import-time ``sys.stdout = Unbuffered(sys.stdout)`` is confined to a
    redirected stdout, which is restored afterwards."""
    path = str(path)
    if path not in sys.path:
        sys.path.insert(0, path)
    import matplotlib
    matplotlib.use("Agg")
    with contextlib.redirect_stdout(io.StringIO()):
        mod = importlib.import_module(RELEASED_SCRIPT[:-3])
    where = Path(mod.__file__).resolve().parent
    if where != Path(path).resolve():
        raise RuntimeError(f"lra2_reg was imported from {where}, not from {path}")
    return mod


def released_call(mod, T: int, K: int, maxiter: int) -> dict:
    """One silenced ``run_experiment`` call of ``maxiter`` iterations: its wall and CPU time.
    ``chk_iter`` = maxiter + 1, so the only validation is the one before the loop."""
    import torch.nn as nn
    c = RELEASED
    w0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = mod.run_experiment(c["seed"], nn.init.orthogonal_, c["task"], HIDDEN, T, BATCH,
                                 c["opt"], c["lr"], c["glr"], K, c["alpha"], c["grad_norm"],
                                 maxiter, maxiter + 1, c["local_loss"], plot=False)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    it = out[1] if isinstance(out, tuple) else None
    if it != maxiter + 1:   # SRNN.train returns early only on a NaN loss
        raise RuntimeError(f"released run_experiment(maxiter={maxiter}) stopped at iteration "
                           f"{it} (returned {out!r})")
    return dict(maxiter=maxiter, seconds=wall, cpu_seconds=cpu)


def measure_released(mod, T: int, K: int, seconds: float, call=released_call) -> dict:
    """Per-iteration time of the released script by differencing two calls (setup cancels).

    A warm-up call (1 iteration, discarded), n1 = 1, a probe of 3 iterations for the time of one,
    then n2 = n1 + max(2, ceil(seconds / that)); iterations = n2 - n1, seconds and cpu_seconds are
    t(n2) - t(n1) in wall and CPU time. When that difference falls short of 70 % of ``seconds``
    (the probe overestimated an iteration), n2 is chosen once more from it and measured again."""
    t0 = time.perf_counter()
    call(mod, T, K, 1)
    warm = time.perf_counter() - t0
    a = call(mod, T, K, 1)
    probe = call(mod, T, K, 3)
    per = (probe["seconds"] - a["seconds"]) / 2
    if per <= 0:          # noise: the setup's variation exceeded two iterations
        per = a["seconds"]
    calls = [a, probe]
    for _ in range(2):
        n2 = 1 + max(2, math.ceil(seconds / per))
        b = call(mod, T, K, n2)
        calls.append(b)
        wall, cpu = b["seconds"] - a["seconds"], b["cpu_seconds"] - a["cpu_seconds"]
        if wall >= 0.7 * seconds or wall <= 0:
            break
        per = wall / (n2 - 1)
    if wall <= 0 or cpu <= 0:
        raise RuntimeError(f"differencing failed: t({n2}) - t(1) = {wall:.3f} s wall, "
                           f"{cpu:.3f} s CPU")
    return dict(iterations=n2 - 1, seconds=wall, cpu_seconds=cpu, warmup_seconds=warm,
                calls=calls, setup_estimate_seconds=max(0.0, a["seconds"] - wall / (n2 - 1)))


def released_meta(path: Path, mod=None) -> dict:
    """Where the released script came from (a checkout outside the repository) and how it is run."""
    script = path / RELEASED_SCRIPT
    commit = None
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and Path(top.stdout.strip()).resolve() == path:
            commit = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return dict(path=str(path), script=RELEASED_SCRIPT, commit=commit,
                sha256=hashlib.sha256(script.read_bytes()).hexdigest(), device="cpu",
                threads=torch.get_num_threads(), **RELEASED,
                chk_iter="maxiter + 1 (no validation inside the timed iterations)",
                timing="(t(n2) - t(n1)) / (n2 - n1), wall and process CPU time, n1 = 1")


# ----------------------------------------------------------------------------- peak
def tf32_off():
    """fp32 products in full fp32 (no TF32, as the engine computes); returns the undo."""
    m = torch.backends.cuda.matmul
    prec = torch.get_float32_matmul_precision()
    try:
        saved = m.allow_tf32
        m.allow_tf32 = False
        undo = lambda: setattr(m, "allow_tf32", saved)  # noqa: E731
    except Exception:  # torch versions that refuse the legacy flag after the new API was used
        saved = m.fp32_precision
        m.fp32_precision = "ieee"
        undo = lambda: setattr(m, "fp32_precision", saved)  # noqa: E731
    torch.set_float32_matmul_precision("highest")

    def restore():
        undo()
        torch.set_float32_matmul_precision(prec)
    return restore


def measure_peak(device: torch.device, seconds: float) -> dict:
    """fp32 matmul throughput with TF32 off: the reference for "% of peak"."""
    n = 8192 if device.type == "cuda" else 1024
    restore = tf32_off()
    try:
        g = torch.Generator(device=device).manual_seed(0)
        a = torch.randn(n, n, device=device, generator=g)
        b = torch.randn(n, n, device=device, generator=g)
        c = torch.empty(n, n, device=device)
        r = measure(lambda: torch.mm(a, b, out=c), device, seconds, warmup=2)
        del a, b, c
    finally:
        restore()
    tflops = 2 * n ** 3 * r["iterations"] / r["seconds"] / 1e12
    return dict(tflops=tflops, n=n, dtype="float32", tf32=False, seconds=r["seconds"])


# ----------------------------------------------------------------------------- bookkeeping
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU ({model}, {torch.get_num_threads()} threads)"


def device_slug(device: torch.device, name: str) -> str:
    return "cpu" if device.type == "cpu" else slug(name)


def git_commit() -> str:
    # A copy sent to a GPU machine may sit in some other checkout (seen on the device machine: a
    # .git at an older commit): the commit the copy was made from, when given, wins.
    if os.environ.get("LRA_GIT_COMMIT"):
        dirty = os.environ.get("LRA_GIT_DIRTY", "1") != "0"
        return os.environ["LRA_GIT_COMMIT"][:12] + ("+dirty" if dirty else "")
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            commit = out.stdout.strip()
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                    "--untracked-files=no"], capture_output=True, text=True,
                                   timeout=10).stdout.strip()
            return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("LRA_GIT_COMMIT", "unknown")


def versions() -> dict:
    try:
        import triton
        tv = triton.__version__
    except Exception:
        tv = None
    return dict(torch=torch.__version__, triton=tv, python=platform.python_version(),
                cuda=torch.version.cuda)


class Predictor:
    """Time per iteration of a cell not yet run, from the cells already measured."""

    def __init__(self):
        self.t_iter: dict[tuple, list[tuple[int, float]]] = {}   # (method, T, K) -> [(P, s)]
        self.setup: dict[str, float] = {}

    def add(self, method, T, K, P, t_iter, setup):
        self.t_iter.setdefault((method, T, K), []).append((P, t_iter))
        self.setup[method] = setup   # the latest: compilation (first shape) is not repeated

    def iteration(self, method, T, K, P) -> float | None:
        same = [(p, t) for p, t in self.t_iter.get((method, T, K), []) if p <= P]
        if same:   # time per iteration grows at most in proportion to P
            p, t = max(same)
            return t * P / p
        f = flops_per_member_iteration(T, K)
        other = [(abs(math.log(p / P)), t * max(1.0, P / p) * f / flops_per_member_iteration(
            t_, k_)) for (m, t_, k_), pts in self.t_iter.items() if m == method for p, t in pts]
        return min(other)[1] if other else None

    def cell(self, method, T, K, P, warmup) -> float | None:
        t = self.iteration(method, T, K, P)
        if t is None:
            return None
        extra = 0.0
        if method.startswith("graph"):   # capture: 3 eager warm-up steps + the capture itself
            eager = self.iteration("eager", T, K, P) if method == "graph+torch" else None
            extra = 4 * max(t, eager or 0.0)
        return self.setup.get(method, 0.0) + extra + (warmup + 1) * t


def plan_cells(shapes, populations, methods) -> list[dict]:
    cells = []
    for T, K in shapes:
        for m in P1_METHODS:
            if m in methods:
                cells.append(dict(T=T, K=K, P=1, method=m))
        for P in populations:
            for m in methods:
                if m not in P1_METHODS:
                    cells.append(dict(T=T, K=K, P=P, method=m))
    return cells


def run_cells(cells, device, table, seconds, total_seconds, max_cell_seconds, start,
              log=print, released=None) -> list[dict]:
    """Measure the cells in order within the budget. ``released``: the released checkout's
    directory (needed by ``released`` cells; imported at its first cell)."""
    deadline = start + total_seconds
    pred = Predictor()
    rows = []
    released_mod = None
    for i, cell in enumerate(cells):
        T, K, P, method = cell["T"], cell["K"], cell["P"], cell["method"]
        row = dict(cell, status="skipped", rate=None, cpu_rate=None,
                   flops_per_member_iteration=flops_per_member_iteration(T, K))
        rows.append(row)
        now = time.perf_counter()
        left = deadline - now
        if left <= 0:
            row["reason"] = "not reached: --total-seconds budget spent"
            continue
        warmup = WARMUP[method if method in P1_METHODS else
                        "graph" if table[method]["cuda_graph"] else "eager"]
        cell_seconds = min(seconds, max(MIN_CELL_SECONDS, 0.6 * left / (len(cells) - i)))
        need = pred.cell(method, T, K, P, warmup)
        if need is not None and need + cell_seconds > max_cell_seconds:
            row["reason"] = (f"projected {need:.1f} s before timing (one iteration "
                             f"~{pred.iteration(method, T, K, P):.2f} s) > --max-cell-seconds")
            log(f"T={T} K={K} P={P} {method}: skipped ({row['reason']})")
            continue
        if need is not None and need + cell_seconds > left:
            row["reason"] = f"projected {need:.1f} s, {left:.1f} s of the budget left"
            log(f"T={T} K={K} P={P} {method}: skipped ({row['reason']})")
            continue
        step = None
        try:
            t0 = time.perf_counter()
            if method == "released":
                if released is None:
                    raise ValueError("a released cell needs the checkout (--released PATH)")
                if released_mod is None:
                    released_mod = import_released(released)
                setup = time.perf_counter() - t0     # the import (first released cell only)
                r = measure_released(released_mod, T, K, cell_seconds)
                r["threads"] = torch.get_num_threads()
                predicted_setup = setup + r["warmup_seconds"] + sum(
                    c["seconds"] for c in r["calls"][:2])
            else:
                if method == "naive":
                    step = make_naive(T, K, device)
                else:
                    opt = table[method]
                    step = make_population(T, K, P, device, opt["cuda_graph"], opt["fused"])
                setup = time.perf_counter() - t0
                r = measure(step, device, cell_seconds, warmup)
                predicted_setup = setup
        except Exception as e:  # report and go on: one failing cell must not hide the rest
            row.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
            log(f"T={T} K={K} P={P} {method}: FAILED {row['error'][:200]}")
        else:
            rate = P * r["iterations"] / r["seconds"]
            cpu_rate = P * r["iterations"] / r["cpu_seconds"] if r["cpu_seconds"] > 0 else None
            row.update(status="ok", rate=rate, cpu_rate=cpu_rate, setup_seconds=setup, **r)
            pred.add(method, T, K, P, r["seconds"] / r["iterations"], predicted_setup)
            log(f"T={T} K={K} P={P} {method}: {rate:,.1f} member-it/s, "
                f"{_fmt(cpu_rate, ',.1f')} per CPU-s ({r['iterations']} it in "
                f"{r['seconds']:.2f} s wall, {r['cpu_seconds']:.2f} s CPU; setup {setup:.1f} s, "
                f"warm-up {r['warmup_seconds']:.1f} s)")
        finally:
            del step
            gc.collect()
            if device.type == "cuda":
                try:
                    torch.cuda.synchronize(device)
                    torch.cuda.empty_cache()
                except Exception as e:  # a sticky CUDA error: later cells will say so too
                    log(f"CUDA error after the cell: {e!r}")
    return rows


def annotate(rows, peak_tflops):
    naive = {(r["T"], r["K"]): r["rate"] for r in rows if r["method"] == "naive" and r["rate"]}
    eager = {(r["T"], r["K"], r["P"]): r["rate"] for r in rows
             if r["method"] == "eager" and r["rate"]}
    cpu_base = {(r["T"], r["K"], r["method"]): r.get("cpu_rate") for r in rows
                if r["method"] in P1_METHODS and r.get("cpu_rate")}
    for r in rows:
        r["speedup"] = None   # the first format's name of vs_naive (book/engine.ipynb reads it)
        if not r["rate"]:
            continue
        for m in P1_METHODS:   # per CPU second
            b = cpu_base.get((r["T"], r["K"], m))
            r[f"cpu_vs_{m}"] = r["cpu_rate"] / b if b and r.get("cpu_rate") else None
        base = naive.get((r["T"], r["K"]))
        r["vs_naive"] = r["speedup"] = r["rate"] / base if base else None
        e = eager.get((r["T"], r["K"], r["P"]))
        r["vs_eager"] = r["rate"] / e if e else None
        r["tflops"] = r["rate"] * r["flops_per_member_iteration"] / 1e12
        r["pct_peak"] = 100 * r["tflops"] / peak_tflops if peak_tflops else None


# ----------------------------------------------------------------------------- output
def _fmt(v, spec, suffix=""):
    return "—" if v is None else f"{v:{spec}}{suffix}"


def compact_table(rows, methods) -> list[str]:
    """One line per (T/K, P); member-iterations/s per method (— = not measured)."""
    by = {(r["T"], r["K"], r["P"], r["method"]): r for r in rows}
    keys = sorted({(r["T"], r["K"], r["P"]) for r in rows})
    lines = ["| T/K | P | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for T, K, P in keys:
        cells = []
        for m in methods:
            r = by.get((T, K, P, m))
            cells.append("" if r is None else _fmt(r["rate"], ",.0f") if r["rate"] else
                         ("failed" if r["status"] == "failed" else "skipped"))
        if any(cells):
            lines.append(f"| {T}/{K} | {P} | " + " | ".join(cells) + " |")
    return lines


def detail_table(rows) -> list[str]:
    lines = ["| T/K | P | method | member-it/s | member-it/CPU-s | vs naive | vs eager | TFLOP/s "
             "| % fp32 peak | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else \
            f"{r['status']}: {(r.get('error') or r.get('reason') or '')[:120]}".replace("|", "/")
        lines.append(f"| {r['T']}/{r['K']} | {r['P']} | {r['method']} | "
                     f"{_fmt(r['rate'], ',.1f')} | {_fmt(r.get('cpu_rate'), ',.1f')} | "
                     f"{_fmt(r.get('vs_naive'), ',.1f', 'x')} | "
                     f"{_fmt(r.get('vs_eager'), ',.2f', 'x')} | {_fmt(r.get('tflops'), '.4f')} | "
                     f"{_fmt(r.get('pct_peak'), '.2f')} | {status} |")
    return lines


def comparison(rows) -> list[dict]:
    """Per shape (T, K): released and naive member-it per CPU second (P = 1) and, at each P, eager's
    with its ratios to them (CPU-time based; None where a side was not measured)."""
    by = {(r["T"], r["K"], r["P"], r["method"]): r for r in rows}
    out = []
    for T, K in sorted({(r["T"], r["K"]) for r in rows}, key=lambda s: (s[0], s[1])):
        base = {m: (by.get((T, K, 1, m)) or {}).get("cpu_rate") for m in P1_METHODS}
        eager = []
        for P in sorted({r["P"] for r in rows if r["T"] == T and r["K"] == K and
                         r["method"] == "eager"}):
            e = (by.get((T, K, P, "eager")) or {}).get("cpu_rate")
            eager.append(dict(P=P, cpu_rate=e, **{
                f"vs_{m}": e / base[m] if e and base[m] else None for m in P1_METHODS}))
        out.append(dict(T=T, K=K, released=base["released"], naive=base["naive"], eager=eager))
    return out


def _ratio(x: float) -> str:
    return f"{x:,.1f}x" if x >= 0.95 else f"{x:.2g}x"


def target_verdicts(rows, threads: int, device_type: str = "cpu", targets=None) -> list[dict]:
    """Each target of :data:`TARGETS` with ``ratio`` (eager per CPU-s / the baseline's, or None)
    and ``verdict``: "met", "not met: <ratio>x", "not measured: ..." or "not applicable: ..."."""
    out = []
    for t in TARGETS if targets is None else targets:
        cmp = {(c["T"], c["K"]): c for c in comparison(rows)}.get((t["T"], t["K"]))
        e = next((x for x in cmp["eager"] if x["P"] == t["P"]), None) if cmp else None
        ratio = e and e[f"vs_{t['baseline']}"]
        if device_type != "cpu":
            verdict = f"not applicable: the engine ran on {device_type} (a CPU target)"
        elif threads != t["threads"]:
            verdict = (f"not applicable: the run used {threads} torch threads, the target "
                       f"{t['threads']}")
        elif ratio is None:
            missing = []
            if not (cmp and cmp[t["baseline"]]):
                missing.append(f"no {t['baseline']} row" + (
                    ": run with --released PATH" if t["baseline"] == "released" else ""))
            if not (e and e["cpu_rate"]):
                missing.append(f"no eager row at P = {t['P']}")
            verdict = f"not measured ({'; '.join(missing) or 'no CPU time'})"
        elif ratio >= t["ratio"]:
            verdict = "met"
        else:
            verdict = f"not met: {_ratio(ratio)}"
        out.append(dict(t, measured=ratio, verdict=verdict))
    return out


def load_line(load: dict | None, threads: int) -> str:
    """One line on the machine's load (1-minute load average at the start and at the end)."""
    if not load or load.get("start") is None or load.get("end") is None:
        return "Load average unknown: CPU-time rates are the comparable numbers."
    s, e, n = load["start"][0], load["end"][0], load.get("cpus")
    # this run itself adds about `threads` to the load by the end
    shared = s > 0.5 or e > threads + 0.5
    state = ("the machine was shared; CPU-time rates are the comparable numbers" if shared else
             "the machine was quiet")
    return f"Load average {s:.1f} at start, {e:.1f} at end on {n} CPUs: {state}."


def comparison_section(meta, rows) -> list[str]:
    rel = meta.get("released")
    lines = ["## Engine vs the released script and the naive loop (per CPU second)", "",
             "Member-iterations per second of process CPU time (`time.process_time`) over the "
             "timed iterations; ratios are eager's over the P = 1 baseline of the same T/K. "
             + (f"Released: `{rel['script']}` of nmanchev/lra-rnn imported from `{rel['path']}` "
                f"(outside this repository; commit {rel['commit'] or 'unknown'}, sha256 "
                f"{rel['sha256'][:12]}), task \"{rel['task']}\", lr {rel['lr']}, glr {rel['glr']},"
                f" on the CPU with {rel['threads']} torch thread{'s' * (rel['threads'] != 1)}; one iteration = one pass of "
                "`SRNN.train`'s loop (batch, forward, `calc_grads`, SGD step), timed as "
                "(t(n2) - t(n1)) / (n2 - n1) so its setup and initial validation cancel."
                if rel else "Released script not measured (run with `--released PATH`)."), ""]
    lines += ["Targets (issue 22), per CPU second:", ""]
    verdicts = target_verdicts(rows, meta["threads"], meta.get("device_type", "cpu"))
    for t in verdicts:
        one = "one thread" if t["threads"] == 1 else f"{t['threads']} threads"
        got = "" if t["measured"] is None or t["verdict"].startswith("not met") else \
            f" — measured {_ratio(t['measured'])}"
        lines.append(f"* T = {t['T']}, K = {t['K']}, P = {t['P']}, {one}: eager ≥ "
                     f"{t['ratio']:g}x the {t['baseline']} {'script' if t['baseline'] == 'released' else 'loop'}"
                     f"{got}: **{t['verdict']}**")
    if any(t["verdict"].startswith("not met") for t in verdicts):
        lines += ["", "Where the time goes, and why a target is not met with the numbers kept "
                  "bit-for-bit: `benchmarks/README.md`, section \"The CPU engine: where its time "
                  "goes\"."]
    lines += ["", "| T/K | released /CPU-s | naive /CPU-s | P | eager /CPU-s | eager/released "
              "| eager/naive |", "|---|---|---|---|---|---|---|"]
    for c in comparison(rows):
        for e in c["eager"] or [dict(P="—", cpu_rate=None, vs_released=None, vs_naive=None)]:
            lines.append(f"| {c['T']}/{c['K']} | {_fmt(c['released'], ',.2f')} | "
                         f"{_fmt(c['naive'], ',.1f')} | {e['P']} | {_fmt(e['cpu_rate'], ',.1f')} | "
                         f"{'—' if e['vs_released'] is None else _ratio(e['vs_released'])} | "
                         f"{'—' if e['vs_naive'] is None else _ratio(e['vs_naive'])} |")
    return lines


def fastest(meta, rows):
    # chain paths only: Benchmark.methods() keeps eager / graph+torch / graph+kernel:*, so neither
    # naive nor released (P = 1 baselines) can be named fastest
    ok = [dict(T=r["T"], K=r["K"], P=r["P"], method=r["method"], rate=r["rate"])
          for r in rows if r["status"] == "ok" and r["method"] not in P1_METHODS]
    bench = Benchmark(Path("(this run)"), meta, ok)
    try:
        return bench.fastest_method()
    except ValueError:
        return None


def markdown(meta, rows, methods) -> str:
    peak = meta["peak"]
    n_ok = sum(r["status"] == "ok" for r in rows)
    n_fail = sum(r["status"] == "failed" for r in rows)
    n_skip = sum(r["status"] == "skipped" for r in rows)
    lines = [f"# Engine throughput on {meta['device']}", "",
             f"torch {meta['torch']}, Triton {meta['triton']}, Python {meta['python']}, CUDA "
             f"{meta['cuda']}; commit {meta['commit']}, {meta['date']}. RNN-LRA-diff, "
             f"{meta['task']}, batch {meta['batch']}, hidden {meta['hidden']}; members mix gamma "
             f"over {', '.join(f'{g:g}' for g in GAMMAS)} (alpha {ALPHA}). "
             f"Measured fp32 matmul peak (TF32 off, n = {peak['n']}): "
             f"{peak['tflops']:.2f} TFLOP/s.", "",
             f"{len(rows)} cells: {n_ok} measured, {n_fail} failed, {n_skip} skipped; "
             f"{meta['seconds_per_cell']} s per cell, budget {meta['total_seconds']} s, "
             f"elapsed {meta['elapsed_seconds']:.1f} s. Fastest chain path (geometric mean over "
             f"the cells): **{meta['fastest']}**.", "",
             load_line(meta.get("load"), meta["threads"]), "",
             "## Member-iterations per second", ""]
    lines += compact_table(rows, methods)
    lines += [""] + comparison_section(meta, rows)
    lines += ["", "## Every cell", "", "TFLOP/s from the analytic FLOP count "
              "(`lra.campaign.projection.flops_per_member_iteration`: products only).", ""]
    lines += detail_table(rows)
    return "\n".join(lines) + "\n"


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shapes", nargs="+", default=None, metavar="T/K",
                    help="default: " + " ".join(f"{T}/{K}" for T, K in SHAPES))
    ap.add_argument("--populations", type=int, nargs="+", default=None,
                    help=f"default: {CUDA_POPULATIONS} on CUDA, {CPU_POPULATIONS} on a CPU")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="default: every method the device has (naive, eager, graph+torch, "
                         "graph+kernel:<variant>)")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per cell")
    ap.add_argument("--total-seconds", type=float, default=140.0,
                    help="hard budget for the whole run (cells not reached are listed skipped)")
    ap.add_argument("--max-cell-seconds", type=float, default=12.0,
                    help="skip a cell projected to need longer than this")
    ap.add_argument("--peak-seconds", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    ap.add_argument("--released", default=None, metavar="PATH",
                    help="a checkout of the paper's released code (nmanchev/lra-rnn, with "
                         "lra2_reg.py) outside this repository: adds the method 'released' "
                         "(P = 1) for every shape; imported from PATH at run time, never copied")
    ap.add_argument("--out", default=None,
                    help="write markdown here and JSON beside it; 'auto': "
                         "benchmarks/results/<device-slug>.md")
    a = ap.parse_args(argv)
    released = None
    if a.released is not None:
        try:
            released = check_released_dir(a.released)
        except ValueError as e:
            ap.error(str(e))     # exit status 2
    start = time.perf_counter()
    load_start = _loadavg()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    tf32_off()   # fp32 products, as the engine computes, for every cell
    table = method_table(device)
    if released is not None:   # after naive: the P = 1 baselines first; always on the CPU
        table = {"naive": table["naive"], "released": dict(cuda_graph=False, fused=False),
                 **{m: v for m, v in table.items() if m != "naive"}}
    methods = a.methods or list(table)
    if released is None and "released" in methods:
        ap.error("method 'released' needs --released PATH")
    unknown = [m for m in methods if m not in table]
    if unknown:
        ap.error(f"methods not available on {device.type}: {', '.join(unknown)}; "
                 f"available: {', '.join(table)}")
    shapes = [tuple(int(v) for v in s.split("/")) for s in a.shapes] if a.shapes else SHAPES
    populations = a.populations or (CUDA_POPULATIONS if device.type == "cuda" else
                                    CPU_POPULATIONS)
    name = device_name(device)
    meta = dict(schema=SCHEMA, device=name, device_slug=device_slug(device, name),
                device_type=device.type, **versions(), commit=git_commit(),
                # the engine's code version: a device slice benchmarks a device kind again only
                # when it has no benchmark of the current one (lra.campaign.device_cache)
                code_version=code_version(),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                task=TASK, batch=BATCH, hidden=HIDDEN, gammas=list(GAMMAS), alpha=ALPHA,
                threads=torch.get_num_threads(), seconds_per_cell=a.seconds,
                total_seconds=a.total_seconds, max_cell_seconds=a.max_cell_seconds,
                shapes=[list(s) for s in shapes], populations=populations,
                methods={m: table[m] for m in methods},
                argv=sys.argv[1:] if argv is None else list(argv),
                load=dict(start=load_start, end=None, cpus=os.cpu_count()))
    if released is not None:
        meta["released"] = released_meta(released)
    cells = plan_cells(shapes, populations, methods)
    print(f"{name}: {len(cells)} cells, {a.seconds} s each, budget {a.total_seconds} s",
          flush=True)
    meta["peak"] = measure_peak(device, a.peak_seconds)
    print(f"fp32 matmul peak (TF32 off): {meta['peak']['tflops']:.2f} TFLOP/s", flush=True)
    left = a.total_seconds - (time.perf_counter() - start)
    rows = run_cells(cells, device, table, a.seconds, left, a.max_cell_seconds,
                     time.perf_counter(), log=lambda s: print(s, flush=True), released=released)
    meta["load"]["end"] = _loadavg()
    annotate(rows, meta["peak"]["tflops"])
    meta["targets"] = target_verdicts(rows, meta["threads"], device.type)
    meta["elapsed_seconds"] = time.perf_counter() - start
    meta["fastest"] = fastest(meta, rows)
    md = markdown(meta, rows, methods)
    print()
    print("\n".join(compact_table(rows, methods)))
    print()
    print("\n".join(comparison_section(meta, rows)))
    print()
    print(load_line(meta["load"], meta["threads"]))
    n_ok = sum(r["status"] == "ok" for r in rows)
    print(f"\n{n_ok}/{len(rows)} cells measured; fastest chain path: {meta['fastest']}; "
          f"elapsed {meta['elapsed_seconds']:.1f} s")
    if a.out:
        out = ROOT / "benchmarks" / "results" / f"{meta['device_slug']}.md" if a.out == "auto" \
            else Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md)
        out.with_suffix(".json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1) + "\n")
        print(f"wrote {out} and {out.with_suffix('.json')}")
    return meta, rows


if __name__ == "__main__":
    main()
