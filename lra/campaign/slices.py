"""The slice packer: which populations a device slice of a given length trains, in what order.

``lra campaign --slice 12m --dry-run`` prints the packing; without ``--dry-run`` the campaign trains
exactly the populations packed, in the packing's order, under a time limit of the slice's training
seconds (the campaign's own ``--time-limit`` machinery: a population stopped at it leaves its
checkpoint, which the next slice resumes).

**Value.** Populations are taken in order of value:

* with ``--plan evidence``, the plan's own order (:data:`lra.campaign.evidence.ENTRIES` lists its
  entries "in the order they run: those that can change a verdict first"; the entries carry no
  other value or priority). A population's value is the position of the first entry it serves (an
  entry whose experiments include one of the population's and whose cells include its (task, T)),
  ties broken by the number of claim parts the entries it serves can decide (more first);
* otherwise the order the experiments were named (what a campaign does anyway): a population's
  value is the position of the first named experiment it serves.

Within one value, cheaper populations first, then by id (a deterministic order).

**Packing.** The slice's training seconds are its length less its fixed costs
(:func:`fixed_costs`): the quick self-test where no verdict for this code version and device kind
is cached, the benchmark where the device kind has none of the current code version
(:mod:`lra.campaign.device_cache`; a CPU slice runs neither), the start of the process and of the
device, and a reserve for the bundle and the logs at the end. That is the dry run's question (a
slice still to start). Without ``--dry-run`` the campaign is the slice's last step: ``--slice``
is then the time left, and the self-test and benchmark, run before it by
``scripts/device_campaign.sh`` where needed, are not counted again. In value order, every population
whose projected seconds (:mod:`lra.campaign.projection`, every member to the cap: an upper bound)
fit in what is left is packed: it finishes within the slice. What is left after that goes to the
most valuable population that did not fit: it trains until the time limit and is checkpointed
across slices (the only one that is). Nothing is scheduled past the slice's training seconds
(:func:`pack` never does: a test checks it), so the share of the slice spent training is at most
(slice - fixed costs) / slice, and reaches it when some population spans the slice.

**Concurrency.** A population is *latency-bound* on the device when its projected time per
iteration is at most :data:`LATENCY_RATIO` times that of one member of its shape (its step leaves
the device mostly idle; never on a CPU, whose populations share its cores). Two or more packed
latency-bound populations may run at once
(``--concurrent N``: threads, one CUDA stream each, graph captures serialised; only where the
self-test's concurrency check passed). The packing counts their seconds one after the other all
the same: overlap is not measured, so the packing never relies on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SELFTEST_SECONDS = 60     # the quick self-test (scripts/gpu_selftest.py --fast) when not cached
BENCH_SECONDS = 150       # the benchmark (device_campaign.sh's BENCH_SECONDS) when none is current
STARTUP_SECONDS = 30      # Python, torch and the device's context, planning: before the first step
RESERVE_SECONDS = 40      # after the time limit: bundle, status, logs (device_campaign.sh keeps it)
MIN_SPAN_SECONDS = 30     # less than this left over: not worth starting a population
TARGET_SHARE = 0.75       # issue 22: >= 75 % of a 12-minute slice in training
LATENCY_RATIO = 1.25


@dataclass
class Item:
    """One population as the packer sees it."""
    id: str
    what: str
    members: int
    seconds: float                 # projected, every member to the cap
    value: tuple                   # smaller is more valuable
    value_label: str = ""
    latency_bound: bool = False
    experiments: tuple = ()


@dataclass
class Packing:
    slice_seconds: float
    fixed: dict                    # name -> seconds
    packed: list = field(default_factory=list)      # Items that finish within the slice
    spanning: Item | None = None                    # trains the rest, checkpointed across slices
    spanning_seconds: float = 0.0
    left_out: list = field(default_factory=list)    # Items for later slices
    concurrent: list = field(default_factory=list)  # ids of packed latency-bound populations

    @property
    def budget(self) -> float:
        """The slice's training seconds: its length less its fixed costs."""
        return max(0.0, self.slice_seconds - sum(self.fixed.values()))

    @property
    def training_seconds(self) -> float:
        return sum(i.seconds for i in self.packed) + self.spanning_seconds

    @property
    def share(self) -> float:
        return self.training_seconds / self.slice_seconds if self.slice_seconds > 0 else 0.0

    def order(self) -> list[str]:
        """Population ids in the order the slice trains them (the spanning one last)."""
        return [i.id for i in self.packed] + ([self.spanning.id] if self.spanning else [])


def ordered(items) -> list[Item]:
    return sorted(items, key=lambda i: (i.value, i.seconds, i.id))


def pack(items, slice_seconds: float, fixed: dict) -> Packing:
    """Pack ``items`` (any order) into a slice of ``slice_seconds`` with ``fixed`` costs."""
    p = Packing(float(slice_seconds), dict(fixed))
    left = p.budget
    rest = []
    for it in ordered(items):
        if it.seconds <= left:
            p.packed.append(it)
            left -= it.seconds
        else:
            rest.append(it)
    if rest and left >= MIN_SPAN_SECONDS:
        p.spanning, p.spanning_seconds = rest[0], left
        rest = rest[1:]
    p.left_out = rest
    lat = [i.id for i in p.packed if i.latency_bound]
    p.concurrent = lat if len(lat) > 1 else []
    return p


# ------------------------------------------------------------------------------ from a campaign
def plan_values(pops, names, plan: str | None) -> dict:
    """{population id: (value, label)} by the evidence plan's order or the experiments' order."""
    out = {}
    if plan == "evidence":
        from lra.campaign.evidence import ENTRIES
        for pop in pops:
            exps, cell = set(pop.experiment_names()), (pop.head.task, pop.head.T)
            served = [(i, e) for i, e in enumerate(ENTRIES)
                      if exps & set(e.experiments) and cell in e.cells]
            if not served:
                out[pop.id] = ((len(ENTRIES), 0), "no entry")
                continue
            parts = sorted({p for _, e in served for p in e.parts},
                           key=lambda p: (int(p[1:].rstrip("abc")), p))
            i, e = served[0]
            out[pop.id] = ((i, -len(parts)), f"entry {i + 1} {e.name}; decides {' '.join(parts)}")
        return out
    names = list(names)
    for pop in pops:
        i = min(names.index(e) for e in pop.experiment_names() if e in names)
        out[pop.id] = ((i, 0), f"experiment {i + 1} {names[i]}")
    return out


def fixed_costs(bench, results_root=None, ahead: bool = True) -> tuple[dict, dict]:
    """({cost: seconds}, {cost: why}) of a slice on the device of ``bench`` (a
    :class:`lra.campaign.projection.Benchmark`) with what is cached now. ``ahead=False``: the
    campaign of a slice under way, whose self-test and benchmark, if any, are behind it
    (``scripts/device_campaign.sh`` runs them first): only the start and the reserve count."""
    from lra.campaign.device_cache import benchmark_is_current, lookup_selftest
    cost = dict(startup=STARTUP_SECONDS, reserve=RESERVE_SECONDS)
    why = dict(startup="Python, torch and the device's context, planning",
               reserve="bundle, status and logs after the time limit")
    if bench.meta.get("device_type") == "cpu":
        why["self-test"] = why["benchmark"] = "a CPU slice runs neither"
        return cost, why
    if not ahead:
        why["self-test"] = why["benchmark"] = "run before this campaign, if at all"
        return cost, why
    # planned from elsewhere: torch and Triton are the device's, unknown here (the slice checks)
    entry, reason = lookup_selftest(bench.device, results_root=results_root, versions={})
    if entry is None:
        cost["self-test"] = SELFTEST_SECONDS
        why["self-test"] = f"quick self-test: {reason}"
    else:
        why["self-test"] = f"verdict {entry['verdict']} {reason}"
    ok, reason = benchmark_is_current(bench.device, bench.path.parent)
    if not ok:
        cost["benchmark"] = BENCH_SECONDS
    why["benchmark"] = reason
    return cost, why


def latency_bound(bench, pop, method: str) -> bool:
    """Projected time per iteration at most LATENCY_RATIO x that of one member of its shape."""
    cfgs = [dict(r.config) for r in pop.runs]
    Ks = [max(int(c.get("K", 1)), 1) for c in cfgs]
    regs = [float(c.get("lam", 0) or 0) > 0 for c in cfgs]
    h = pop.head

    def per_it(K, reg):
        return bench.project(h.T, K, 1, method, h.task, reg, validation_size=0,
                             algorithm=h.algorithm)["train_seconds"]

    return per_it(Ks, regs) <= LATENCY_RATIO * per_it([max(Ks)], [any(regs)])


def plan_slice(names, budget, store, *, slice_seconds: float, device_name: str,
               plan: str | None = None, max_members: int | None = None, seeds=None,
               lengths=None, results_root=None, ahead: bool = True) -> tuple[Packing, dict]:
    """The packing of a slice of ``slice_seconds`` on ``device_name`` (its committed benchmark
    prices the populations); returns (packing, info: device, benchmark, method, fixed-cost
    reasons). ``ahead``: a slice still to start (:func:`fixed_costs`). Raises
    :class:`lra.campaign.projection.BenchmarkNotFound` without a benchmark."""
    import torch
    from lra.campaign.projection import load_benchmark
    from lra.campaign.runner import default_population_size, plan_campaign
    bench = load_benchmark(device_name)
    if max_members is None:
        max_members = default_population_size(torch.device(
            "cpu" if bench.meta.get("device_type") == "cpu" else "cuda"))
    pops = plan_campaign(names, budget, store, max_members, seeds, lengths)
    values = plan_values(pops, names, plan)
    method = bench.fastest_method()
    items = []
    for pop in pops:
        cfgs = [dict(r.config) for r in pop.runs]
        info = bench.project(pop.head.T, [max(int(c.get("K", 1)), 1) for c in cfgs],
                             budget.max_iterations, method, pop.head.task,
                             [float(c.get("lam", 0) or 0) > 0 for c in cfgs], budget.check_every,
                             budget.validation_size, pop.head.algorithm)
        v, label = values[pop.id]
        # on a CPU populations share the cores: none is latency-bound in this sense
        lat = bench.meta.get("device_type") != "cpu" and latency_bound(bench, pop, method)
        items.append(Item(pop.id, pop.describe(), len(pop.runs), info["seconds"], v, label,
                          lat, tuple(pop.experiment_names())))
    fixed, why = fixed_costs(bench, results_root, ahead)
    return pack(items, slice_seconds, fixed), dict(device=bench.device, benchmark=bench.path.name,
                                                   method=method, why=why,
                                                   max_members=max_members)


def _m(s: float) -> str:
    return f"{s / 60:5.1f} min"


def format_packing(p: Packing, info: dict, budget_name: str) -> str:
    lines = [f"Slice packing: {_m(p.slice_seconds).strip()} slice on {info['device']} "
             f"(benchmark {info['benchmark']}, {info['method']}), budget {budget_name}; "
             "projected with every member to the cap (an upper bound)", "",
             "fixed costs:"]
    for k in ("self-test", "benchmark", "startup", "reserve"):
        s = p.fixed.get(k, 0)
        lines.append(f"  {k:10s} {s:4.0f} s  ({info['why'].get(k, '')})")
    lines.append(f"  training   {p.budget:4.0f} s  (the slice less its fixed costs: the campaign's "
                 "time limit)")
    lines += ["", "order of value, and what the slice does with each population:"]
    t = 0.0
    rows = ([(i, "packed", i.seconds) for i in p.packed]
            + ([(p.spanning, "spans", p.spanning_seconds)] if p.spanning else [])
            + [(i, "later", 0.0) for i in p.left_out])
    for n, (it, what, secs) in enumerate(sorted(rows, key=lambda r: (r[0].value, r[0].seconds,
                                                                     r[0].id)), 1):
        if what == "packed":
            state = "packed: finishes in this slice"
        elif what == "spans":
            state = (f"spans: trains {secs:.0f} s of {it.seconds:.0f} s, checkpointed "
                     "across slices")
        else:
            state = "later slice"
        lat = "  latency-bound" if it.latency_bound else ""
        lines.append(f"{n:3d}. {it.what:50s} {it.members:5d} members {_m(it.seconds)}  "
                     f"[{it.value_label}]{lat}")
        lines.append(f"       {state}")
    for it in (p.packed + ([p.spanning] if p.spanning else [])):
        t += it.seconds if it is not p.spanning else p.spanning_seconds
    if p.concurrent:
        names = [i.what for i in p.packed if i.id in p.concurrent]
        wall = max(i.seconds for i in p.packed if i.id in p.concurrent)
        lines.append(f"\nmay run concurrently (latency-bound, --concurrent {len(names)}, where the "
                     f"self-test's concurrency check passed): {'; '.join(names)}; counted one "
                     f"after the other above (overlap unmeasured; {_m(wall).strip()} if it were "
                     "complete)")
    else:
        lines.append("\nno two packed populations are latency-bound: one at a time")
    span = (f"checkpointed across slices: {p.spanning.what}" if p.spanning
            else "checkpointed across slices: none")
    if not p.left_out and not p.spanning:
        span += " (every missing population is packed: the slice ends when they do)"
    lines += [span,
              f"training {t:.0f} s of a {p.slice_seconds:.0f} s slice: {100 * p.share:.0f} % "
              f"(target {100 * TARGET_SHARE:.0f} %: "
              + ("met" if p.share >= TARGET_SHARE else "NOT met") + " by this projection)"]
    cached = dict(p.fixed)
    saved = cached.pop("self-test", 0) + cached.pop("benchmark", 0)
    if saved:
        best = max(0.0, p.slice_seconds - sum(cached.values()))
        lines.append(f"once the self-test and benchmark are cached for this code version and "
                     f"device: up to {best:.0f} s, {100 * best / p.slice_seconds:.0f} % of the "
                     "slice (when a population spans it)")
    return "\n".join(lines)
