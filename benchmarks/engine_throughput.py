"""Member-iterations/s of RNN-LRA-diff training: naive loop, eager, CUDA graph, chain kernel.

    python benchmarks/engine_throughput.py [--device auto] [--seconds 1] [--total-seconds 140]
                                           [--out auto | --out benchmarks/results/NAME.md]

One run measures every cell of (T, K) x P x method (``--shapes``, ``--populations``, ``--methods``):

* ``naive``: one configuration, the readable autograd implementation
  (:func:`lra.algorithms.reference.lra_diff_single`) plus an SGD step — what a straightforward script does
  (P = 1 only);
* ``eager``: P members as one tensor program (:class:`lra.engine.trainer.PopulationTrainer`), PyTorch chain;
* ``graph+torch``: the same, the iteration captured once in a CUDA graph and replayed (CUDA only);
* ``graph+kernel:<variant>``: CUDA graph with the fused chain kernel, one method per entry of
  ``lra.algorithms.chain_kernel.VARIANTS`` (``graph+kernel:default``, the single kernel, where there is no such dict).

Defaults: on CUDA all four shapes x P in {15, 132, 264, 1215, 2048} x every method; on a CPU
naive + eager with P in {15, 132}. Members of a cell mix gamma over 10, 1, 0.1, 0.01, 0.001 (alpha
0.1, the cell's K), batch 20, hidden 100, temporal order; data generation is part of the iteration
(as in training). Each cell: warm-up iterations (for a graph, its capture), then iterations in
growing chunks, the device synchronised after each chunk, until ``--seconds`` have passed.

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
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # run as a script from anywhere in the checkout
    sys.path.insert(0, str(ROOT))

from lra.engine.trainer import PopulationTrainer, resolve_device  # noqa: E402
from lra.algorithms.lra_diff import LRADiff, LRADiffConfig  # noqa: E402
from lra.model import init_population  # noqa: E402
from lra.campaign.projection import Benchmark, flops_per_member_iteration, slug  # noqa: E402
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
WARMUP = {"naive": 1, "eager": 2, "graph": 2}   # graph: the first call also captures


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
    """Warm up, then run chunks of iterations (sync after each) until ``seconds`` have passed."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm = time.perf_counter() - t0
    n, chunk, start = 0, 1, time.perf_counter()
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
    return dict(iterations=n, seconds=elapsed, warmup_seconds=warm)


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
        if "naive" in methods:
            cells.append(dict(T=T, K=K, P=1, method="naive"))
        for P in populations:
            for m in methods:
                if m != "naive":
                    cells.append(dict(T=T, K=K, P=P, method=m))
    return cells


def run_cells(cells, device, table, seconds, total_seconds, max_cell_seconds, start,
              log=print) -> list[dict]:
    deadline = start + total_seconds
    pred = Predictor()
    rows = []
    for i, cell in enumerate(cells):
        T, K, P, method = cell["T"], cell["K"], cell["P"], cell["method"]
        row = dict(cell, status="skipped", rate=None,
                   flops_per_member_iteration=flops_per_member_iteration(T, K))
        rows.append(row)
        now = time.perf_counter()
        left = deadline - now
        if left <= 0:
            row["reason"] = "not reached: --total-seconds budget spent"
            continue
        warmup = WARMUP["naive" if method == "naive" else
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
            if method == "naive":
                step = make_naive(T, K, device)
            else:
                opt = table[method]
                step = make_population(T, K, P, device, opt["cuda_graph"], opt["fused"])
            setup = time.perf_counter() - t0
            r = measure(step, device, cell_seconds, warmup)
        except Exception as e:  # report and go on: one failing cell must not hide the rest
            row.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
            log(f"T={T} K={K} P={P} {method}: FAILED {row['error'][:200]}")
        else:
            rate = P * r["iterations"] / r["seconds"]
            row.update(status="ok", rate=rate, setup_seconds=setup, **r)
            pred.add(method, T, K, P, r["seconds"] / r["iterations"], setup)
            log(f"T={T} K={K} P={P} {method}: {rate:,.1f} member-it/s "
                f"({r['iterations']} it in {r['seconds']:.2f} s; setup {setup:.1f} s, "
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
    for r in rows:
        r["speedup"] = None   # the first format's name of vs_naive (book/engine.ipynb reads it)
        if not r["rate"]:
            continue
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
    lines = ["| T/K | P | method | member-it/s | vs naive | vs eager | TFLOP/s | % fp32 peak "
             "| status |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        status = r["status"] if r["status"] == "ok" else \
            f"{r['status']}: {(r.get('error') or r.get('reason') or '')[:120]}".replace("|", "/")
        lines.append(f"| {r['T']}/{r['K']} | {r['P']} | {r['method']} | "
                     f"{_fmt(r['rate'], ',.1f')} | {_fmt(r.get('vs_naive'), ',.1f', 'x')} | "
                     f"{_fmt(r.get('vs_eager'), ',.2f', 'x')} | {_fmt(r.get('tflops'), '.4f')} | "
                     f"{_fmt(r.get('pct_peak'), '.2f')} | {status} |")
    return lines


def fastest(meta, rows):
    ok = [dict(T=r["T"], K=r["K"], P=r["P"], method=r["method"], rate=r["rate"])
          for r in rows if r["status"] == "ok"]
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
             "## Member-iterations per second", ""]
    lines += compact_table(rows, methods)
    lines += ["", "## Every cell", "", "TFLOP/s from the analytic FLOP count "
              "(`lra.campaign.projection.flops_per_member_iteration`: products only).", ""]
    lines += detail_table(rows)
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--out", default=None,
                    help="write markdown here and JSON beside it; 'auto': "
                         "benchmarks/results/<device-slug>.md")
    a = ap.parse_args(argv)
    start = time.perf_counter()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    tf32_off()   # fp32 products, as the engine computes, for every cell
    table = method_table(device)
    methods = a.methods or list(table)
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
                argv=sys.argv[1:] if argv is None else list(argv))
    cells = plan_cells(shapes, populations, methods)
    print(f"{name}: {len(cells)} cells, {a.seconds} s each, budget {a.total_seconds} s",
          flush=True)
    meta["peak"] = measure_peak(device, a.peak_seconds)
    print(f"fp32 matmul peak (TF32 off): {meta['peak']['tflops']:.2f} TFLOP/s", flush=True)
    left = a.total_seconds - (time.perf_counter() - start)
    rows = run_cells(cells, device, table, a.seconds, left, a.max_cell_seconds,
                     time.perf_counter(), log=lambda s: print(s, flush=True))
    annotate(rows, meta["peak"]["tflops"])
    meta["elapsed_seconds"] = time.perf_counter() - start
    meta["fastest"] = fastest(meta, rows)
    md = markdown(meta, rows, methods)
    print()
    print("\n".join(compact_table(rows, methods)))
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
