"""Verdicts at the paper's protocol, from the evidence plan's rows (issue 21, item 4; book chapter
"Verdicts"): the parts whose claim is that variants of the algorithm make no difference.

The plan (:mod:`lra.campaign.evidence`) runs each such comparison on one configuration the plan
fixed beforehand, at the paper's protocol (100,000-iteration cap, 10,000-sample validation every
100 iterations, solved = no mistake), five seeds per method, every run also judged on its own
10,000-sample held-out test set. Once every method of a part has at least
:data:`lra.analysis.verdicts.vocabulary.MIN_SEEDS` seeds stored at the paper's budget in every
cell of its entry, the part is decided here, not by the smoke grid; until then the smoke verdict
stands and says how far the plan's rows are (:func:`progress_line`).

The comparison, per cell: each seed's run selected on validation (solved first, then the best
validation accuracy), and for every variant against the plan's configuration (the *base*) an
exact McNemar test per seed on the held-out test bits of those runs
(:func:`lra.analysis.paired.pair_methods`). One is better than the other only if every paired
seed favours it at p < 0.05. The part's own reading:

* ``same`` (C3, C4, C5a, C5b: "makes no difference"): a pair agrees when neither side is better
  in every paired seed;
* ``not worse`` (C10a: "can replace the inner loop"): a pair agrees when the base is not better
  than the variant in every paired seed;
* ``better`` (C9: "a lower λ is better"): a pair agrees when the base is better than the
  variant in every paired seed;

reproduced when every pair agrees, partly when some do, not reproduced when none does — then
:func:`lra.analysis.verdicts.vocabulary.decide` applies the shared rules (identical test bits on
every seed of every pair: *inconclusive*, the variants cannot be told apart; the base never beats
the readout-only control in a paired test: *inconclusive*, the cell cannot show the rule at work).
The strength counts the plan's cells against the paper's (one configuration is not the grid) and
says what the full grid would add, with its command and projected H100 time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lra.analysis.paired import TEST_COLUMN, pair_methods, reported_per_seed
from lra.analysis.verdicts.readout_control import _controls
from lra.analysis.verdicts.vocabulary import (MIN_SEEDS, REPRODUCED, PARTLY, NOT_REPRODUCED,
                                              Verdict, _count, _current, _record, _stale, _task)
from lra.campaign.evidence import PAPER, get_entry
from lra.engine.predictions import unpack

SAME, NOT_WORSE, BETTER = "same", "not worse", "better"


@dataclass(frozen=True)
class Method:
    """One side of a comparison: the rows of ``experiment`` whose columns equal ``where``."""
    name: str
    experiment: str
    where: tuple = ()        # ((column, value), ...)

    def rows(self, res, cell) -> pd.DataFrame:
        df = res.rows(self.experiment, PAPER)
        if df.empty:
            return df
        task, T = cell
        d = df[(df.task == task) & (df["T"].astype(int) == int(T))]
        for col, value in self.where:
            d = d[d[col].astype(float) == float(value)]
        return d


@dataclass(frozen=True)
class Comparison:
    """A claim part decided by an evidence-plan entry: ``base`` against each of ``variants``."""
    part: str
    tests: str
    entry: str
    base: Method
    variants: tuple
    reading: str = SAME
    grid: str = ""           # the paper's grid experiment the plan stands in for (e.g. table2)

    def all_methods(self) -> tuple:
        return (self.base,) + tuple(self.variants)


# The plan's comparisons of variants, by claim part (lra.campaign.evidence's entries).
FIG2 = "Figure 2's configuration"
COMPARISONS = {
    "C3": Comparison("C3", "the number of inner steps K makes no difference (paired per seed)",
                     "k", Method("K = 10", "ev_fig2"),
                     (Method("K = 20", "ev_k", (("K", 20),)),
                      Method("K = 30", "ev_k", (("K", 30),))), SAME, "table1"),
    "C4": Comparison("C4", "MSE and the log-penalty local loss give the same results (paired per "
                     "seed)", "local_loss", Method("MSE", "ev_fig2"),
                     (Method("the log-penalty", "ev_log_penalty"),), SAME, "table2"),
    "C5a": Comparison("C5a", "normalisation (c0 = c1 = 1) and none (c0 = c1 = 0) give the same "
                      "results (paired per seed)", "normalisation",
                      Method("c0 = c1 = 1", "ev_fig2"),
                      (Method("c0 = c1 = 0", "ev_no_norm"),), SAME, "table3"),
    "C5b": Comparison("C5b", "the clipping thresholds c0, c1 do not change temporal order at "
                      "T = 20 (Table IV's settings, paired per seed)", "table4",
                      Method("(c0, c1) = (0, 0.1)", "ev_t20_lra"),
                      (Method("(c0, c1) = (1, 1)", "ev_table4_norm"),
                       Method("(c0, c1) = (0, 0)", "ev_table4_none")), SAME, "table4"),
    "C9": Comparison("C9", "the smallest λ is better than the larger ones, paired per seed "
                     "(Figure 5's T = 20 cells)", "lambda", Method("λ = 0.1", "ev_t20_reg"),
                     (Method("λ = 1", "ev_lambda", (("lam", 1),)),
                      Method("λ = 2", "ev_lambda", (("lam", 2),))), BETTER, "fig5"),
    "C10a": Comparison("C10a", "K = 1 with a tuned γ does as well as K = 10 (paired per seed)",
                       "k1", Method("K = 10", "ev_fig2"),
                       (Method("K = 1, γ = 10", "ev_k1"),), NOT_WORSE, "conjecture_k1"),
}


def entry_label(name: str) -> str:
    """How a reader finds an entry: its number in the plan's table (chapter "Verdicts")."""
    from lra.campaign.evidence import ENTRIES
    return f"entry {[e.name for e in ENTRIES].index(name) + 1}"


def _cells(cmp: Comparison) -> tuple:
    return tuple((t, int(T)) for t, T in get_entry(cmp.entry).cells)


def stored_seeds(res, cmp: Comparison) -> dict:
    """{(method name, cell): seeds stored at the paper's budget}."""
    return {(m.name, c): int(m.rows(res, c)["seed"].nunique()) if not m.rows(res, c).empty
            else 0 for m in cmp.all_methods() for c in _cells(cmp)}


def complete(res, cmp: Comparison) -> bool:
    """Whether every method has MIN_SEEDS seeds or more in every cell of the entry."""
    return all(n >= MIN_SEEDS for n in stored_seeds(res, cmp).values())


def progress_line(res, cmp: Comparison) -> str:
    """Where the plan's paper-protocol rows of this part stand, in one sentence."""
    seeds = stored_seeds(res, cmp)
    have = sum(min(n, MIN_SEEDS) for n in seeds.values())
    need = MIN_SEEDS * len(seeds)
    return ("The evidence plan's paper-protocol comparison for this part "
            f"({entry_label(cmp.entry)}: "
            + ", ".join(m.name for m in cmp.all_methods())
            + f", {MIN_SEEDS} seeds each) has {have} of its {need} runs stored; it decides this "
            "part once all are.")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _span(values) -> str:
    v = [100 * float(x) for x in values if pd.notna(x)]
    if not v:
        return "—"
    return (f"{np.mean(v):.2f} % ({min(v):.2f}–{max(v):.2f} %)" if len(v) > 1 else
            f"{v[0]:.2f} %")


def _summary(name: str, rows: pd.DataFrame) -> tuple[str, bool, float]:
    """One method's line at one cell (each seed's run selected on validation), whether any seed
    solved, and its best validation accuracy (%)."""
    picks = pd.DataFrame(list(reported_per_seed(rows).values()))
    solved = picks["solved"].astype(bool)
    test = pd.to_numeric(picks.get("best_test_accuracy"), errors="coerce")
    line = (f"{name}: solved in {int(solved.sum())} of {len(picks)} seeds; best validation "
            f"accuracy {_span(picks['best_accuracy'])}, held-out test accuracy at that check "
            f"{_span(test)}")
    return line, bool(solved.any()), 100 * float(picks["best_accuracy"].max())


def _same_bits(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> bool:
    """Whether each shared seed's selected runs got exactly the same test samples right."""
    a, b = reported_per_seed(rows_a), reported_per_seed(rows_b)
    shared = sorted(set(a) & set(b))
    if not shared:
        return False
    for s in shared:
        x, y = unpack(a[s].get(TEST_COLUMN)), unpack(b[s].get(TEST_COLUMN))
        if x is None or y is None or x.size != y.size or not np.array_equal(x, y):
            return False
    return True


def _curves_differ(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> tuple[int, int]:
    """(shared seeds whose selected runs' validation curves differ, shared seeds): whether two
    variants that get the same test samples right trained differently at all (the variant in
    effect, too small to change a prediction) or computed the same thing."""
    a, b = reported_per_seed(rows_a), reported_per_seed(rows_b)
    shared = sorted(set(a) & set(b))
    return sum(str(a[s].get("curve")) != str(b[s].get("curve")) for s in shared), len(shared)


OWN_GRIDS = ("conjecture_k1",)        # grids the paper did not run (its conjectures)


def full_grid_line(cmp: Comparison | str, plan_cells: int) -> str:
    """What the paper's grid (``cmp.grid``, or a grid experiment's name) would add, with its
    command and projected H100 time."""
    from lra.analysis.verdicts.vocabulary import NAMES
    grid = cmp if isinstance(cmp, str) else cmp.grid
    if not grid:
        return ""
    what = NAMES.get(grid, grid)
    try:
        from lra.campaign.experiments import get_budget, get_experiment
        from lra.campaign.planning import merge
        from lra.campaign.projection import project_populations
        budget = get_budget(PAPER)
        runs = list(get_experiment(grid).runs(budget, None))
        pops = merge({grid: runs}, 2048)
        s = project_populations([p.runs for p in pops], budget, "NVIDIA H100 80GB HBM3")["seconds"]
        first = " of its first stage (each later stage unlocks once one is solved)" \
            if get_experiment(grid).curriculum else ""
        cost = (f"{len(runs):,} runs{first}, one seed each as the paper ran them; projected ≤ "
                f"{s / 3600:.1f} h on an H100")
    except Exception as err:                       # no benchmark stored: say so, do not guess
        cost = f"projected time unavailable: {type(err).__name__}"
    # the K = 1 grid is the book's: the paper states C10 as a conjecture and ran no K = 1
    whose = "the book's" if grid in OWN_GRIDS else "the paper's"
    return (f"Scope: {_count(plan_cells, 'cell')} at one configuration per method; {whose} "
            f"{what} covers every cell and configuration. The full grid would add them: "
            f"`lra campaign --experiments {grid} --budget paper` ({cost}).")


def decide_at_protocol(res, part: str) -> Verdict | None:
    """The part's verdict from the plan's paper-protocol rows, or None while they are not all
    stored (the caller keeps the smoke verdict and adds :func:`progress_line`)."""
    cmp = COMPARISONS[part]
    if not complete(res, cmp):
        return None
    cells = _cells(cmp)
    ev, lines, pairs, identical, unpaired = [], [], [], True, []
    differ = [0, 0]                 # seeds whose paired runs' curves differ, seeds compared
    agree = total = 0
    control_cells, own = [], []
    for cell in cells:
        base = cmp.base.rows(res, cell)
        line, solved, acc = _summary(cmp.base.name, base)
        lines.append(f"{_cap(_task(cell[0]))} at T = {cell[1]}, {line}")
        control_cells.append((cell[0], cell[1], solved, acc))
        own.append(("the evidence plan's runs", base))
        for m in cmp.variants:
            other = m.rows(res, cell)
            lines.append(f"{_cap(_task(cell[0]))} at T = {cell[1]}, {_summary(m.name, other)[0]}")
            p = pair_methods(base, other, cmp.base.name, m.name)
            pairs.append(p)
            identical &= _same_bits(base, other)
            differ = [x + y for x, y in zip(differ, _curves_differ(base, other))]
            if p.missing is not None:
                unpaired.append(f"no paired multi-seed test on held-out data of {cmp.base.name} "
                                f"and {m.name} at {_task(cell[0])} T = {cell[1]} ({p.reason})")
            if not p.tested:
                continue
            total += 1
            base_wins, other_wins = p.a_better_everywhere, p.b_better_everywhere
            agree += {NOT_WORSE: not base_wins, BETTER: base_wins,
                      SAME: not (base_wins or other_wins)}[cmp.reading]
    if not total:
        return None
    reading = REPRODUCED if agree == total else (PARTLY if agree else NOT_REPRODUCED)
    how = {SAME: "neither side is better in every paired seed",
           NOT_WORSE: f"{cmp.base.name} is not better than the variant in every paired seed",
           BETTER: f"{cmp.base.name} is better than the variant in every paired seed"}[cmp.reading]
    ev.append(f"At the paper's protocol (evidence plan, {entry_label(cmp.entry)}; "
              f"{_count(MIN_SEEDS, 'seed')} or more per method, each seed's run selected on "
              f"validation and judged on its own 10,000-sample held-out test set): in {agree} of "
              f"{_count(total, 'paired comparison')} {how} (exact McNemar per seed, p < 0.05).")
    ev.extend(s + "." for s in lines)
    ev.extend(p.sentence() for p in pairs)
    if identical:
        ev.append("Each seed's selected runs get exactly the same held-out test samples right "
                  "in every comparison: these cells cannot separate the variants.")
        k, n = differ
        ev.append(f"The runs are not the same computation: their validation curves differ in {k} "
                  f"of {n} paired seeds, so the variant is in effect, but too little to change which held-out samples "
                  "the selected networks get right." if k else
                  f"The runs are the same computation here: their validation curves are identical "
                  f"in all {n} paired seeds.")
    scope = full_grid_line(cmp, len(cells))
    if scope:
        ev.append(scope)
    control = _controls(res, control_cells, own=own, reseeded=False)
    rows = pd.concat([m.rows(res, c) for m in cmp.all_methods() for c in cells])
    seeds = min(int(m.rows(res, c)["seed"].nunique()) for m in cmp.all_methods() for c in cells)
    # the strength counts the plan's cells against the paper's own grid for this part
    from lra.analysis.report import published
    try:
        needed = published(cmp.grid).groupby(["task", "T"]).ngroups if cmp.grid else len(cells)
    except (KeyError, ValueError, FileNotFoundError):
        needed = len(cells)
    return _record(part, cmp.tests, reading, ev, [PAPER], seeds, len(cells), needed,
                   _stale(rows, _current()), control, unpaired, identical=identical)


def with_protocol(res, part: str, smoke: Verdict) -> Verdict:
    """The plan's verdict where its rows are complete (the smoke grid's reading then follows as
    one line); otherwise ``smoke`` with a line on how far the plan's rows are."""
    v = decide_at_protocol(res, part)
    if v is None:
        if smoke.verdict != "not tested" or any(stored_seeds(res, COMPARISONS[part]).values()):
            smoke.evidence.append(progress_line(res, COMPARISONS[part]))
        return smoke
    if smoke.evidence and smoke.verdict != "not tested":
        v.evidence.append(f"Before the plan's rows, the {', '.join(smoke.own_budgets) or 'smoke'}"
                          f"-budget grid read “{smoke.verdict}”: {smoke.headline}")
    return v


# ------------------------------------------------------------------------------ C8b: a length
# (part, task, T, entry): regularisation's claim at the length the paper says it reaches, decided
# by the plan's T = 20 entry of that task (RNN-LRA-diff with and without the regulariser, five
# seeds each, BPTT the positive control, the readout-only control)
LENGTH_PARTS = {"C8b": ("temporal_order", 20, "t20_temporal_order")}
PLAIN = Method("RNN-LRA-diff", "ev_t20_lra")
REGULARISED = Method("RNN-LRA-diff, regularised", "ev_t20_reg")


def length_complete(res, part: str) -> bool:
    task, T, _ = LENGTH_PARTS[part]
    return all(not m.rows(res, (task, T)).empty and
               m.rows(res, (task, T))["seed"].nunique() >= MIN_SEEDS
               for m in (PLAIN, REGULARISED))


def length_progress(res, part: str) -> str:
    task, T, entry = LENGTH_PARTS[part]
    have = sum(min(MIN_SEEDS, m.rows(res, (task, T))["seed"].nunique())
               if not m.rows(res, (task, T)).empty else 0 for m in (PLAIN, REGULARISED))
    return (f"The evidence plan's paper-protocol comparison for this part ({entry_label(entry)}: "
            f"{PLAIN.name} and {REGULARISED.name} on {_task(task)} at T = {T}, {MIN_SEEDS} seeds "
            f"each) has {have} of its {2 * MIN_SEEDS} runs stored; it decides this part once "
            "all are.")


def length_at_protocol(res, part: str, tests: str) -> Verdict | None:
    """Regularisation extends the solved length to (task, T): from the plan's rows, once complete.
    Reproduced when the regularised form solves the cell in some seed and the unmodified one in
    none; partly when both solve it, the regularised form in more seeds; not reproduced otherwise
    — unless BPTT fails there too (then inconclusive: the budget may be what limits it)."""
    from lra.analysis.verdicts.evidence import positive_control
    task, T, entry = LENGTH_PARTS[part]
    if not length_complete(res, part):
        return None
    cell = (task, T)
    plain, reg = PLAIN.rows(res, cell), REGULARISED.rows(res, cell)
    solved = {}
    for m, rows in ((PLAIN, plain), (REGULARISED, reg)):
        picks = reported_per_seed(rows)
        solved[m.name] = (sum(bool(p["solved"]) for p in picks.values()), len(picks))
    (kp, np_), (kr, nr) = solved[PLAIN.name], solved[REGULARISED.name]
    if kr and not kp:
        reading = REPRODUCED
    elif kr > kp:
        reading = PARTLY
    else:
        reading = NOT_REPRODUCED
    ev = [f"At the paper's protocol (evidence plan, {entry_label(entry)}): {_task(task)} at "
          f"T = {T} "
          f"is solved by {REGULARISED.name} in {kr} of {nr} seeds and by {PLAIN.name} in {kp} of "
          f"{np_}."]
    ev += [f"{_cap(_task(task))} at T = {T}, {_summary(m.name, rows)[0]}."
           for m, rows in ((PLAIN, plain), (REGULARISED, reg))]
    pair = pair_methods(reg, plain, REGULARISED.name, PLAIN.name)
    ev.append(pair.sentence())
    unpaired = ([f"no paired multi-seed test on held-out data of the two forms ({pair.reason})"]
                if pair.missing else [])
    positive, said = positive_control(res, task, T, PAPER)
    ev.append(said + (" So this budget cannot separate the learning rules at that length."
                      if positive is False else ""))
    rs = _summary(REGULARISED.name, reg)
    control = _controls(res, [(task, T, rs[1], rs[2])],
                        own=[("the evidence plan's regularised runs", reg)], reseeded=False)
    seeds = min(plain["seed"].nunique(), reg["seed"].nunique())
    rows = pd.concat([plain, reg])
    return _record(part, tests, reading, ev, [PAPER], int(seeds), 1, 1,
                   _stale(rows, _current()), control,
                   unpaired + ([] if positive is not None else
                               [f"no positive control (BPTT) at T = {T}"]),
                   positive=positive if reading != REPRODUCED else None)


def length_with_protocol(res, part: str, smoke: Verdict) -> Verdict:
    """As :func:`with_protocol`, for a part about the length regularisation reaches."""
    v = length_at_protocol(res, part, smoke.tests)
    if v is None:
        smoke.evidence.append(length_progress(res, part))
        return smoke
    if smoke.evidence and smoke.verdict != "not tested":
        v.evidence.append(f"Before the plan's rows, the {', '.join(smoke.own_budgets) or 'smoke'}"
                          f"-budget curricula read “{smoke.verdict}”: {smoke.headline}")
    return v


# ------------------------------------------------------------------------------ C1a: T = 10
# Table I's claim at T = 10, decided by the plan's entry for it: RNN-LRA-diff at the configuration
# the plan fixed for each temporal-order task, five seeds, against the readout-only control.
T10 = Method("RNN-LRA-diff", "ev_t10_lra")
T10_ENTRY = "t10_temporal"


def _t10_cells() -> tuple:
    return tuple((t, int(T)) for t, T in get_entry(T10_ENTRY).cells)


def t10_seeds(res) -> dict:
    """{cell: seeds of the entry's RNN-LRA-diff runs stored at the paper's budget}."""
    return {c: (int(T10.rows(res, c)["seed"].nunique()) if not T10.rows(res, c).empty else 0)
            for c in _t10_cells()}


def t10_progress(res) -> str:
    seeds = t10_seeds(res)
    have = sum(min(MIN_SEEDS, n) for n in seeds.values())
    return (f"The evidence plan's paper-protocol runs for this part ({entry_label(T10_ENTRY)}: "
            f"{T10.name} on " + " and ".join(f"{_task(t)} at T = {T}" for t, T in seeds)
            + f", {MIN_SEEDS} seeds each) have {have} of their {MIN_SEEDS * len(seeds)} runs "
            "stored; they decide this part once all are.")


def t10_at_protocol(res, tests: str) -> Verdict | None:
    """Solves both tasks at T = 10: reproduced when every seed solves both cells, partly when some
    seeds (or one cell) do, not reproduced when no seed solves either; the readout-only control
    then says whether the cells can credit the learning rule at all. None until complete."""
    seeds = t10_seeds(res)
    if not seeds or min(seeds.values()) < MIN_SEEDS:
        return None
    ev, lines, control_cells, own, frames = [], [], [], [], []
    solved_seeds = {}
    for cell in seeds:
        rows = T10.rows(res, cell)
        picks = reported_per_seed(rows)
        solved_seeds[cell] = (sum(bool(p["solved"]) for p in picks.values()), len(picks))
        line, any_solved, acc = _summary(T10.name, rows)
        lines.append(f"{_cap(_task(cell[0]))} at T = {cell[1]}, {line}.")
        control_cells.append((cell[0], cell[1], any_solved, acc))
        own.append(("the evidence plan's runs", rows))
        frames.append(rows)
    if all(k == n for k, n in solved_seeds.values()):
        reading = REPRODUCED
    elif any(k for k, _ in solved_seeds.values()):
        reading = PARTLY
    else:
        reading = NOT_REPRODUCED
    ev.append(f"At the paper's protocol (evidence plan, {entry_label(T10_ENTRY)}; each seed's run "
              "selected on validation and judged on its own 10,000-sample held-out test set): "
              + "; ".join(f"{_task(t)} at T = {T} solved in {k} of {n} seeds"
                          for (t, T), (k, n) in solved_seeds.items()) + ".")
    ev.extend(lines)
    ev.append(full_grid_line("table1", len(seeds)))
    control = _controls(res, control_cells, own=own, reseeded=False)
    rows = pd.concat(frames)
    n = len(seeds)
    return _record("C1a", tests, reading, ev, [PAPER], min(seeds.values()), n, n,
                   _stale(rows, _current()), control)


def t10_with_protocol(res, smoke: Verdict) -> Verdict:
    """C1a from the plan's rows once complete (the smoke grid's reading then follows as one
    line); until then ``smoke`` with a line on how far the plan's rows are."""
    v = t10_at_protocol(res, smoke.tests)
    if v is None:
        if smoke.verdict != "not tested" or any(t10_seeds(res).values()):
            smoke.evidence.append(t10_progress(res))
        return smoke
    if smoke.evidence and smoke.verdict != "not tested":
        v.evidence.append(f"Before the plan's rows, the {', '.join(smoke.own_budgets) or 'smoke'}"
                          f"-budget grid read “{smoke.verdict}”: {smoke.headline}")
    return v


# ------------------------------------------------------------------------------ C10b
# The conjecture against the paper's own numbers: the plan's K = 1 runs (entry k1, γ fixed by
# the rule before any paper-budget row) in each of its cells against the best the paper
# publishes there over K ∈ {10, 20, 30} (Table I), the readout-only control paired with the
# K = 1 runs themselves (C10a pairs it with K = 10's).
K1 = Method("K = 1, γ = 10", "ev_k1")


def c10b_at_protocol(res, tests: str) -> Verdict | None:
    """Reproduced when every cell's K = 1 runs do at least as well as the paper's best there in
    every seed (solved where it is solved, otherwise within the tolerance or above), partly when
    some seeds or cells do, not reproduced otherwise. None until every cell has five seeds."""
    from lra.analysis.report import published
    from lra.analysis.verdicts.vocabulary import TOL, _pts
    cells = _cells(COMPARISONS["C10a"])
    rows = {c: K1.rows(res, c) for c in cells}
    if any(r.empty or r["seed"].nunique() < MIN_SEEDS for r in rows.values()):
        return None
    pub = published("table1")
    ev, lines, control_cells, own, ok_cells, ok_seeds = [], [], [], [], 0, 0
    total_seeds = 0
    for (task, T), r in rows.items():
        p = pub[(pub.task == task) & (pub["T"] == T)]
        if p.empty:
            continue
        p_solved, p_best = bool(p.solved.any()), float(p.accuracy.max())
        picks = reported_per_seed(r).values()
        good = sum(bool(x["solved"]) or (not p_solved and 100 * float(x["best_accuracy"])
                                         >= p_best - TOL) for x in picks)
        ok_seeds += good
        total_seeds += len(picks)
        ok_cells += good == len(picks)
        line, solved, acc = _summary(K1.name, r)
        lines.append(f"{_cap(_task(task))} at T = {T}, {line}; the paper's best over K ∈ "
                     f"{{{', '.join(str(int(k)) for k in sorted(p.K.unique()))}}}: "
                     + ("solved" if p_solved else f"{p_best:.2f} %") + f"; {good} of {len(picks)} "
                     "seeds do at least as well")
        control_cells.append((task, T, solved, acc))
        own.append(("the evidence plan's K = 1 runs", r))
    if not total_seeds:
        return None
    reading = (REPRODUCED if ok_cells == len(lines) else PARTLY if ok_seeds else NOT_REPRODUCED)
    ev.append(f"At the paper's protocol (evidence plan, {entry_label(COMPARISONS['C10a'].entry)}; "
              f"each seed's run selected on validation): K = 1 with γ = 10 does at least as well "
              f"as the paper's published best (solved where it is solved, otherwise within "
              f"{TOL:g} {_pts(TOL)} or above) in {ok_seeds} of {total_seeds} seeds.")
    ev.extend(s + "." for s in lines)
    ev.append(full_grid_line("conjecture_k1", len(lines)))
    control = _controls(res, control_cells, own=own, reseeded=False)
    frames = pd.concat(list(rows.values()))
    from lra.campaign.experiments import EXPERIMENTS
    k1 = EXPERIMENTS["conjecture_k1"]
    needed = len(k1.tasks) * len(k1.lengths)
    return _record("C10b", tests, reading, ev, [PAPER], int(frames["seed"].nunique()),
                   len(lines), needed, _stale(frames, _current()), control)


def c10b_with_protocol(res, smoke: Verdict) -> Verdict:
    """C10b from the plan's K = 1 rows once complete; until then ``smoke`` (with the plan's
    progress, as :func:`with_protocol` says it for C10a)."""
    v = c10b_at_protocol(res, smoke.tests)
    if v is None:
        if smoke.verdict != "not tested" or any(stored_seeds(res, COMPARISONS["C10a"]).values()):
            smoke.evidence.append(progress_line(res, COMPARISONS["C10a"]))
        return smoke
    if smoke.evidence and smoke.verdict != "not tested":
        v.evidence.append(f"Before the plan's rows, the {', '.join(smoke.own_budgets) or 'smoke'}"
                          f"-budget grid read “{smoke.verdict}”: {smoke.headline}")
    return v
