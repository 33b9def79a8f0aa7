"""How long a population will train, from the committed engine benchmark of the device.

``benchmarks/engine_throughput.py`` measures member-iterations per second of RNN-LRA-diff training
for a few shapes (T, K), population sizes P and chain paths, and writes
``benchmarks/results/<device>.json``. This module reads those files (in the repository; found from
this package's location, or from ``$LRA_BENCHMARK_RESULTS``) and answers:

* :func:`load_benchmark` — the newest benchmark of a device (``None``: this machine's device);
  :func:`list_benchmarks` — the ones there are;
* :func:`fastest_method` — the chain path that is fastest on that device: ``"graph+torch"``
  (PyTorch chain in a CUDA graph), ``"graph+kernel:<variant>"`` (fused chain kernel in a CUDA
  graph) or ``"eager"``; :func:`engine_options` turns it into the engine's arguments and
  :func:`auto_chain_variant` into the chain kernel a campaign's RNN-LRA-diff populations take;
* :func:`rate` — member-iterations/s of a population of P members of shape (T, K);
* :func:`project_population_seconds` — seconds for a population whose members may have different
  K (each member costs what a member of its own K costs, so smaller K costs less) and may stop at
  different iterations (finished members stop costing).

The model behind :func:`rate`: within a measured shape, member-iterations/s is interpolated
log-log over P; below the smallest measured P the time per iteration stays that of the smallest
(a latency floor), above the largest the member-iterations/s stays that of the largest. Across
shapes the cost of one member-iteration is interpolated log-log in the analytic FLOP count
(:func:`flops_per_member_iteration`) between the measured shapes that bracket it, and scaled in
proportion to FLOPs outside them; it never decreases with FLOPs.

Validation (``validation_size`` samples every ``check_every`` iterations) is priced as forward
FLOPs at half the fp32 peak the benchmark measured (an estimate: batched, large products).
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

# Shapes of the paper's network and protocol (lra.engine.trainer / lra.model): batch 20, hidden 100.
BATCH, HIDDEN = 20, 100
TASK_DIMS = {"temporal_order": (6, 4), "temporal_order_3bit": (6, 8),
             "random_permutation": (100, 100)}
VALIDATION_EFFICIENCY = 0.5    # fraction of the measured fp32 peak assumed for validation passes
# The benchmark measures LRA-diff only. BPTT and TPTT are priced as the LRA-diff population with
# the K whose serial products per step come closest: BPTT ~ 3 per step (forward, two backward)
# ~ K = 1 (4 per step); TPTT ~ 6 (forward, target chain through G, loss gradients) ~ K = 2.
K_EQUIVALENT = {"bptt": 1, "tptt": 2}
# The readout-only control is priced by its own FLOPs (:func:`readout_flops_per_member_iteration`)
# on the same measured cost-per-FLOP curve: its recurrent weights never change, so it runs no
# target chain and no recurrent weight gradient, and its validation and test states are computed
# once per member (lra.algorithms.readout), leaving one output-layer product per check.

# The released script's step as a population (lra.algorithms.released_population, algorithm
# "lra_released"): eager autograd, CPU only. It is priced by the benchmark's measurement of the
# released script itself, one network at a time ("released", P = 1): P members cost P times one
# network (an upper bound: the population's autograd step batches them). A device whose benchmark
# did not measure the released script (every GPU: the step never runs there) has no price for it.
RELEASED_ALGORITHM, RELEASED_METHOD = "lra_released", "released"

# Method labels of the first benchmark format (commit ad22ab4 and before) -> current names.
LEGACY_METHODS = {
    "naive loop (1 config, autograd)": "naive",
    "population eager": "eager",
    "population + CUDA graph": "graph+torch",
    "population + fused kernel": "eager+kernel:default",
    "population + fused kernel + CUDA graph": "graph+kernel:default",
}
CHAIN_PREFIXES = ("eager", "graph+torch", "graph+kernel:")
# What the engine is measured against, never one of its paths: one network, no population
# (P = 1): the naive per-configuration loop and the paper's released script. A benchmark's
# "fastest", the engine chapter's tables and Findings' GPU sentence all leave them out.
BASELINE_METHODS = ("naive", "released")


class BenchmarkNotFound(LookupError):
    """No benchmark for the device asked for (the message lists those there are)."""


def flops_per_member_iteration(T: int, K: int, B: int = BATCH, H: int = HIDDEN, n_in: int = 6,
                               n_out: int = 4, regularised: bool = False) -> int:
    """FLOPs (2 x multiply-adds) of one LRA-diff training iteration of one member.

    Products only (elementwise work is not counted): forward pass (T steps of z W_hh and x W_xh,
    the output layer), output-layer gradient, K top-target steps (output layer forward and back),
    the target chain ((T-1) x K inner steps, each a product with W_hh and one with W_hh^T), the
    per-step weight gradients (z_{t-1}^T delta, x_t^T delta) and, with the regulariser
    (Algorithm 2), two more H x H products per step.
    """
    mm = 2 * B * H * H
    inp = 2 * B * n_in * H
    out = 2 * B * H * n_out
    forward = T * (mm + inp) + out
    output_grad = out
    top = K * 2 * out
    chain = (T - 1) * K * 2 * mm
    weight_grads = T * (mm + inp)
    reg = T * 2 * mm if regularised else 0
    return forward + output_grad + top + chain + weight_grads + reg


def readout_flops_per_member_iteration(T: int, B: int = BATCH, H: int = HIDDEN, n_in: int = 6,
                                       n_out: int = 4) -> int:
    """FLOPs of one readout-only training iteration of one member: the frozen network's forward
    pass (T steps of z W_hh and x W_xh), the output layer and its gradient (W_hy, b_y)."""
    return T * (2 * B * H * H + 2 * B * n_in * H) + 2 * (2 * B * H * n_out)


def validation_flops(T: int, size: int, H: int = HIDDEN, n_in: int = 6, n_out: int = 4) -> int:
    """FLOPs of one member's validation pass (forward only) over ``size`` samples."""
    return size * (T * 2 * H * (H + n_in) + 2 * H * n_out)


def task_dims(task: str) -> tuple[int, int]:
    try:
        return TASK_DIMS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_DIMS)}") from None


def slug(name: str) -> str:
    """File-name form of a device name: "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def results_dir() -> Path:
    """``$LRA_BENCHMARK_RESULTS``, else ``benchmarks/results`` of the checkout holding this package
    (an editable install or ``PYTHONPATH``), else of the working directory or one above it (a
    non-editable install run from the checkout)."""
    env = os.environ.get("LRA_BENCHMARK_RESULTS")
    if env:
        return Path(env)
    own = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    if own.is_dir():
        return own
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if (d / "benchmarks" / "results").is_dir():
            return d / "benchmarks" / "results"
    return own


def current_device_name() -> str:
    """The name the benchmark records for this machine's device (CUDA if present, else CPU)."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.cuda.current_device())
    return "CPU"


# ----------------------------------------------------------------------------- loading
@dataclass
class Benchmark:
    """One benchmark file: its metadata and its successful measurements."""
    path: Path
    meta: dict
    rows: list = field(default_factory=list)   # status "ok" rows, methods in current names

    @property
    def device(self) -> str:
        return self.meta.get("device", "?")

    @property
    def date(self) -> str:
        return self.meta.get("date", "")

    @property
    def task(self) -> str:
        return self.meta.get("task", "temporal_order")

    @property
    def peak_tflops(self) -> float | None:
        peak = self.meta.get("peak") or {}
        return peak.get("tflops")

    def methods(self) -> list[str]:
        """Chain paths with at least one successful measurement (naive excluded)."""
        return sorted({r["method"] for r in self.rows if r["method"].startswith(CHAIN_PREFIXES)})

    def _points(self, method: str) -> dict[tuple[int, int], list[tuple[int, float]]]:
        cache = self.__dict__.setdefault("_points_cache", {})
        if method not in cache:
            pts: dict[tuple[int, int], list] = {}
            for r in self.rows:
                if r["method"] == method:
                    pts.setdefault((r["T"], r["K"]), []).append((r["P"], r["rate"]))
            cache[method] = {s: sorted(v) for s, v in pts.items()}
        return cache[method]

    # -------------------------------------------------------------------------- the model
    def rate(self, T: int, K: int, P: int, method: str | None = None,
             task: str = "temporal_order", regularised: bool = False) -> float:
        """Member-iterations per second of a population of P members, all with (T, K)."""
        return 1.0 / self._cost(T, K, P, method or self.fastest_method(), task, regularised)

    def _cost(self, T, K, P, method, task, regularised, flops: int | None = None):
        """Seconds per member-iteration (of ``flops`` FLOPs when given, else of LRA-diff's)."""
        if P < 1:
            raise ValueError(f"population size must be >= 1, got {P}")
        pts = self._points(method)
        if not pts:
            raise ValueError(f"no measurement of method {method!r} on {self.device}; "
                             f"measured: {', '.join(self.methods()) or 'none'}")
        n_in, n_out = task_dims(self.task)
        shapes = sorted((flops_per_member_iteration(t, k, n_in=n_in, n_out=n_out),
                         1.0 / _rate_over_P(p, P)) for (t, k), p in pts.items())
        # cost never decreases with FLOPs (measurement noise aside)
        mono, top = [], 0.0
        for f, c in shapes:
            top = max(top, c)
            mono.append((f, top))
        qi, qo = task_dims(task)
        f = flops if flops is not None else flops_per_member_iteration(
            T, K, n_in=qi, n_out=qo, regularised=regularised)
        if f <= mono[0][0]:
            return mono[0][1] * f / mono[0][0]
        if f >= mono[-1][0]:
            return mono[-1][1] * f / mono[-1][0]
        for (f0, c0), (f1, c1) in zip(mono, mono[1:]):
            if f0 <= f <= f1:
                if f1 == f0:
                    return max(c0, c1)
                w = math.log(f / f0) / math.log(f1 / f0)
                return math.exp((1 - w) * math.log(c0) + w * math.log(c1))
        raise AssertionError("unreachable")

    def fastest_method(self, T: int | None = None, K: int | None = None,
                       P: int | None = None) -> str:
        """The chain path with the highest member-iterations/s: at (T, K, P) when given, else
        by the geometric mean over every measured (T, K, P) cell of the benchmark."""
        methods = self.methods()
        if not methods:
            raise ValueError(f"benchmark {self.path} has no successful population measurement")
        if T is not None and K is not None and P is not None:
            cells = [(T, K, P)]
        else:
            cells = sorted({(r["T"], r["K"], r["P"]) for r in self.rows
                            if r["method"] in methods})

        def score(m):
            return sum(math.log(self.rate(t, k, p, m)) for t, k, p in cells) / len(cells)

        return max(methods, key=lambda m: (score(m), m))

    def project(self, T: int, K_values, iterations, method: str | None = None,
                task: str = "temporal_order", regularised=False, check_every: int = 100,
                validation_size: int = 10_000, algorithm: str = "lra_diff") -> dict:
        """Projected time of one population; see :func:`project_population_seconds`.

        Returns a dict: ``seconds`` (total), ``train_seconds``, ``validation_seconds``, ``method``,
        ``members``, ``member_iterations``, ``device``, ``benchmark`` (its file).
        """
        readout = algorithm == "readout_only"
        if algorithm == RELEASED_ALGORITHM:
            if not self._points(RELEASED_METHOD):
                raise ValueError(f"no price for {RELEASED_ALGORITHM} on {self.device}: its "
                                 f"benchmark did not measure the released script (it runs on "
                                 f"the CPU only)")
            method = RELEASED_METHOD
            algorithm = "lra_diff"               # the same K and shapes, at its own measured rate
        if algorithm != "lra_diff" and not readout:
            if algorithm not in K_EQUIVALENT:
                raise ValueError(f"unknown algorithm {algorithm!r}")
            K_values = [K_EQUIVALENT[algorithm]] * len(list(K_values))
        K_values = [int(k) for k in K_values]
        P = len(K_values)
        if P == 0:
            raise ValueError("a population needs at least one member")
        if readout:
            K_values = [1] * P          # K plays no part in the readout's price
        if any(k < 1 for k in K_values):
            raise ValueError("every K must be >= 1")
        if isinstance(iterations, (int, float)):
            its = [int(iterations)] * P
        else:
            its = [int(i) for i in iterations]
            if len(its) != P:
                raise ValueError("iterations: one number, or one per member")
        if any(i < 0 for i in its):
            raise ValueError("iterations must be >= 0")
        regs = list(regularised) if isinstance(regularised, (list, tuple)) else [regularised] * P
        method = method or self.fastest_method()
        n_in, n_out = task_dims(task)
        order = sorted(range(P), key=lambda m: its[m])
        train = val = 0.0
        done = 0                     # iterations every live member has run so far
        for i, m in enumerate(order):
            live = order[i:]
            span = its[m] - done
            if span > 0:
                # Every live member is priced at the largest K among them: the inner steps of a
                # mixed-K population are a chain of K_max steps on a shrinking prefix, and on a
                # latency-bound GPU path a step costs about the same whatever its rows (measured
                # on an H100: 34.5 it/s for T=10, K in {10, 20, 30}, P=135 where this gives 41
                # without validation; pricing each K separately gave twice too fast).
                K_top = max(K_values[j] for j in live)
                reg = any(bool(regs[j]) for j in live)
                own = (readout_flops_per_member_iteration(T, n_in=n_in, n_out=n_out)
                       if readout else None)
                per_it = len(live) * self._cost(T, K_top, len(live), method, task, reg, own)
                train += span * per_it
                if validation_size and check_every and self.peak_tflops:
                    checks = its[m] // check_every - done // check_every
                    flops = (2 * validation_size * HIDDEN * n_out if readout else
                             validation_flops(T, validation_size, n_in=n_in, n_out=n_out))
                    val += checks * len(live) * flops / (
                        VALIDATION_EFFICIENCY * self.peak_tflops * 1e12)
                done = its[m]
        if readout and validation_size and self.peak_tflops:
            # the frozen states of the validation and the test set, once per member
            val += 2 * P * validation_flops(T, validation_size, n_in=n_in, n_out=n_out) / (
                VALIDATION_EFFICIENCY * self.peak_tflops * 1e12)
        return dict(seconds=train + val, train_seconds=train, validation_seconds=val,
                    method=method, members=P, member_iterations=sum(its), device=self.device,
                    benchmark=str(self.path))


def _rate_over_P(points: list[tuple[int, float]], P: int) -> float:
    """Member-iterations/s at P from (P_i, rate_i), log-log between the measured sizes; below them
    the time per iteration of the smallest, above them the rate of the largest."""
    if P <= points[0][0]:
        P0, r0 = points[0]
        return r0 * P / P0
    if P >= points[-1][0]:
        return points[-1][1]
    for (P0, r0), (P1, r1) in zip(points, points[1:]):
        if P0 <= P <= P1:
            if P1 == P0:
                return max(r0, r1)
            w = math.log(P / P0) / math.log(P1 / P0)
            return math.exp((1 - w) * math.log(r0) + w * math.log(r1))
    raise AssertionError("unreachable")


def _read(path: Path) -> Benchmark | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "meta" not in data or "rows" not in data:
        return None
    rows = []
    for r in data["rows"]:
        if r.get("status", "ok") != "ok" or not r.get("rate"):
            continue
        method = LEGACY_METHODS.get(r.get("method"), r.get("method"))
        rows.append(dict(T=int(r["T"]), K=int(r["K"]), P=int(r["P"]), method=method,
                         rate=float(r["rate"])))
    return Benchmark(path, data["meta"], rows)


def list_benchmarks(directory: str | os.PathLike | None = None) -> list[Benchmark]:
    """Every readable benchmark JSON in the results directory, newest first."""
    d = Path(directory) if directory is not None else results_dir()
    if not d.is_dir():
        return []
    found = [b for b in (_read(p) for p in sorted(d.glob("*.json"))) if b is not None]
    return sorted(found, key=lambda b: (b.date, b.path.name), reverse=True)


def _matches(query: str, device: str) -> int:
    """2: same name; 1: the query's words appear in the device's name (e.g. "H100"); 0: no."""
    q, d = slug(query), slug(device)
    if q == d:
        return 2
    return 1 if f"-{q}-" in f"-{d}-" else 0


def load_benchmark(device_name: str | None = None,
                   directory: str | os.PathLike | None = None) -> Benchmark:
    """The newest benchmark of ``device_name`` (default: this machine's device).

    A benchmark matches when its device name equals ``device_name`` or contains it as whole words
    (case and punctuation ignored: "h100" matches "NVIDIA H100 80GB HBM3"); exact names win.
    Raises :class:`BenchmarkNotFound` (listing the benchmarks there are) when none matches, or when
    a partial name matches several devices.
    """
    name = device_name or current_device_name()
    all_b = list_benchmarks(directory)
    where = Path(directory) if directory is not None else results_dir()
    exact = [b for b in all_b if _matches(name, b.device) == 2]
    partial = [b for b in all_b if _matches(name, b.device) == 1]
    if exact:
        return exact[0]
    devices = sorted({b.device for b in partial})
    if len(devices) == 1:
        return partial[0]
    there = "; ".join(f"{b.device} ({b.path.name}, {b.date})" for b in all_b) or "none"
    if len(devices) > 1:
        raise BenchmarkNotFound(f"device name {name!r} is ambiguous in {where}: matches "
                                f"{', '.join(devices)}")
    raise BenchmarkNotFound(f"no engine benchmark for device {name!r} in {where}; available: "
                            f"{there}. Run benchmarks/engine_throughput.py --out auto on that "
                            "device and commit the result")


# ----------------------------------------------------------------------------- module-level API
def rate(T: int, K: int, P: int, method: str | None = None, device_name: str | None = None,
         task: str = "temporal_order", directory=None) -> float:
    """Member-iterations/s of P members of shape (T, K) on ``device_name`` (see the module doc)."""
    return load_benchmark(device_name, directory).rate(T, K, P, method, task)


def fastest_method(device_name: str | None = None, directory=None, T=None, K=None,
                   P=None) -> str:
    """``"graph+torch"``, ``"graph+kernel:<variant>"`` or ``"eager"``: the fastest chain path on
    the device, by the geometric mean over the benchmark's cells (or at (T, K, P) when given)."""
    return load_benchmark(device_name, directory).fastest_method(T, K, P)


def auto_chain_variant(device) -> str | None:
    """The chain kernel variant the committed benchmark of this GPU shows fastest: what
    :class:`lra.algorithms.lra_diff.LRADiff` takes with ``fused="auto"`` (its ``auto_variant``;
    ``LRA_CHAIN`` overrides it there). None for the PyTorch chain: off CUDA, and when this GPU
    has no committed benchmark (the path known to work)."""
    import torch
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    try:
        method = fastest_method(torch.cuda.get_device_name(dev))
    except Exception:
        return None
    if method and "kernel:" in method:
        return method.split("kernel:", 1)[1]
    return None


def method_words(method: str) -> str:
    """A benchmark's method label in a reader's words (the label stays in commands and tables of
    the engine chapter): which operations, and whether a CUDA graph replays them."""
    if method in BASELINE_METHODS:
        return {"naive": "one network at a time, a plain loop",
                "released": "the paper's released script, one network"}[method]
    opts = engine_options(method)
    what = ("PyTorch's operations" if not opts["fused"] else
            "the Triton chain kernel" + ("" if opts["fused"] is True else ", a tuned variant"))
    return what + (", captured in a CUDA graph" if opts["cuda_graph"] else ", run eagerly")


def engine_options(method: str) -> dict:
    """The engine's arguments for a method name: ``cuda_graph`` for :class:`PopulationTrainer`,
    ``fused`` for :class:`lra.algorithms.lra_diff.LRADiff` (a variant name, True for the single kernel)."""
    if method == "eager":
        return dict(cuda_graph=False, fused=False)
    if method == "graph+torch":
        return dict(cuda_graph=True, fused=False)
    for prefix, graph in (("graph+kernel:", True), ("eager+kernel:", False)):
        if method.startswith(prefix):
            variant = method[len(prefix):]
            return dict(cuda_graph=graph, fused=True if variant in ("", "default") else variant)
    raise ValueError(f"unknown method {method!r}")


def project_population_seconds(T: int, K_values, iterations, device_name: str | None = None,
                               method: str | None = None, *, task: str = "temporal_order",
                               regularised=False, check_every: int = 100,
                               validation_size: int = 10_000, algorithm: str = "lra_diff",
                               directory=None) -> float:
    """Projected seconds to train one population on ``device_name``.

    ``K_values``: one K per member; ``iterations``: one number for all members, or one per member
    (a member that stops early stops costing, and the population shrinks). Each iteration costs
    the sum over live members of 1 / :func:`rate` (T, K_member, live members), so a member with a
    smaller K costs less; plus validation. ``method``: default :func:`fastest_method`.
    ``validation_size=0`` leaves validation out. ``regularised``: one flag, or one per member
    (Algorithm 2 costs two more products per step). ``algorithm`` "bptt" / "tptt": priced as an
    LRA-diff population of comparable serial work (:data:`K_EQUIVALENT`; K_values then only
    counts the members) — the benchmark measures LRA-diff alone; "readout_only": by its own FLOPs
    (:func:`readout_flops_per_member_iteration`) on the same cost-per-FLOP curve.
    """
    bench = load_benchmark(device_name, directory)
    return bench.project(T, K_values, iterations, method, task, regularised, check_every,
                         validation_size, algorithm)["seconds"]


def project_populations(populations, budget, device_name: str | None = None,
                        method: str | None = None, iterations=None, directory=None,
                        done: dict | None = None) -> dict:
    """Projection of a campaign plan, for ``lra campaign --dry-run``.

    ``populations``: lists of :class:`lra.campaign.experiments.Run` (each list one population: same
    algorithm, task and T); ``budget``: a :class:`lra.campaign.experiments.Budget` (its iteration cap,
    check interval and validation size). Every member is priced to the cap unless ``iterations``
    (one number for all) says otherwise — an upper bound, since solved members stop early.
    ``done``: ``{row key: iterations already trained}`` (the checkpoints in flight:
    :func:`lra.campaign.population_checkpoints.trained_iterations`); such a member is priced for
    the iterations it has left to the cap.
    Returns ``dict(device, benchmark, method, seconds, populations=[dict(members, algorithm, task,
    T, K (sorted distinct), experiments, seconds)])``.
    """
    bench = load_benchmark(device_name, directory)
    method = method or bench.fastest_method()
    out, total = [], 0.0
    for pop in populations:
        pop = list(pop)
        if not pop:
            continue
        first = pop[0]
        cfgs = [dict(r.config) for r in pop]
        Ks = [int(c.get("K", 1)) for c in cfgs]
        cap = budget.max_iterations if iterations is None else iterations
        if done:
            cap = [max(0, cap - int(done.get(r.key, 0))) for r in pop]
        info = bench.project(first.T, Ks, cap, method, first.task,
                             [float(c.get("lam", 0) or 0) > 0 for c in cfgs], budget.check_every,
                             budget.validation_size, first.algorithm)
        total += info["seconds"]
        out.append(dict(members=len(pop), algorithm=first.algorithm, task=first.task, T=first.T,
                        K=sorted(set(Ks)), experiments=sorted({r.experiment for r in pop}),
                        seconds=info["seconds"]))
    return dict(device=bench.device, benchmark=str(bench.path), method=method, seconds=total,
                populations=out)
