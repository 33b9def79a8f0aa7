"""Verdicts on the paper's claims C1-C10 (its "Claims" list), computed from stored results
(book chapter "Verdicts").

Each claim is split into the parts that can be tested apart (C2: "cannot solve random permutation"
and "reaches ~51 %"). Each part is a :class:`Verdict` record: the claim quoted from the paper, what
the part tests, the evidence (every number and every list of cells computed from the results
passed in), the verdict — reproduced / partly / not reproduced / not tested — and its strength:

* ``supported`` only when every run behind it used the paper's budget, with at least
  :data:`MIN_SEEDS` seeds, on at least as many cells as the paper reports, all computed by the
  current code, and every comparison of two methods in it rests on a paired multi-seed test;
* ``indicative`` otherwise (the record says why);
* ``—`` when nothing was tested.

Two results agree when both solve the task or their accuracies differ by less than
:data:`lra.analysis.report.AGREE_POINTS` (the tables' "=" mark). Two *methods* are compared by a paired
multi-seed test where the rows store per-sample predictions (:mod:`lra.analysis.paired`): per seed, each
method's reported run on the seed's shared validation set, an exact McNemar test, and the seeds'
spread of the accuracy difference; one method is better only if every paired seed favours it at
p < 0.05. Where a verdict credits the learning rule, the record says whether it beats the
readout-only control (:mod:`lra.algorithms.readout`: recurrent weights frozen at initialisation, only the
readout trained), with that control's spread over seeds, by that paired test
(:func:`control_pair` says which runs stand for the learning rule). Paired tests also decide C7
(forced normalisation vs the unmodified run; Figure 3's two readings) and the cells of C4/C5a
(two variants). Where no paired multi-seed test is possible — rows without predictions (stored
before the column existed), one seed, no shared seed, validation sets of different sizes — the
record says so, keeps the threshold reading, and is indicative.

The results come from a *source* with two methods, ``rows(experiment, budget)`` and
``probes(experiment, budget, key)``: :class:`StoredResults` reads ``results/``; tests pass
:class:`FrameResults` built from hand-made tables with the columns of ``runs.csv``.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from lra.analysis.controls import readout_summary
from lra.campaign.experiments import BUDGETS, EXPERIMENTS
from lra.analysis.paired import MIN_PAIRED_SEEDS, REFUSALS, Paired, pair_methods
from lra.analysis.report import AGREE_POINTS, TASK_LABELS, best_per_cell, curriculum_max_T, published
from lra.campaign.store import ResultsStore, code_version, solved_flags, stale_rows

TOL = AGREE_POINTS   # one tolerance: the tables' "=" mark
# The paper ran one seed per configuration; one seed shows no spread, so a verdict is
# "supported" only with more than one.
MIN_SEEDS = 2
BUDGET_ORDER = ("paper", "smoke")   # the paper's budget where stored, else smoke
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested")
STRENGTHS = ("supported", "indicative", "—")
NOT_SHOWN = "the learning rule is not shown to matter here"

# The claims as /work/shared/paper/paper.md lists them (the paper's text, not a result).
CLAIMS = {
    "C1": "LRA-diff solves temporal order and 3-bit temporal order only at T = 10.",
    "C2": "LRA-diff cannot solve random permutation even at T = 10 (~51%, chance).",
    "C3": "K has a marginal effect.",
    "C4": "The local loss (MSE vs log-penalty) makes no noticeable difference.",
    "C5": "Normalisation (gradient clipping as in LRA) has no significant effect (Tables III, IV).",
    "C6": "LRA-diff suffers vanishing gradients: the local loss vanishes a few steps below the top "
          "(Fig. 2).",
    "C7": "Forced normalisation restores gradient flow but not learning (Fig. 3).",
    "C8": "Regularisation restores flow (Fig. 4) and extends the solved length: temporal order 20, "
          "random permutation 80 (Table V).",
    "C9": "Lower λ is better (Fig. 5).",
    "C10": "A tuned γ can replace the inner loop (K = 1) — stated as a conjecture for future "
           "work.",
}
# Figure 2's caption in the paper: "local loss falls from L9 to L7 by twelve orders of magnitude".
PAPER_ORDERS = 12.0
PAPER_STEPS = 3      # "... it is zero three steps below the top" (Figure 2)
ORDERS_TOL = 1.0     # read off a log-scale plot: one order of magnitude is its resolution

NAMES = {"table1": "Table I grid", "table1_multiseed": "Table I's best configuration, re-seeded",
         "table2": "Table II grid", "table3": "Table III grid", "table4": "Table IV grid",
         "fig2": "Figure 2 run", "fig3": "Figure 3 run", "fig4": "Figure 4 run",
         "fig2_seeds": "Figure 2's configuration, re-seeded",
         "fig5": "Figure 5 grid", "conjecture_k1": "K = 1 grid", "table5_lra": "Table V curriculum",
         "table5_lra_reg": "Table V curriculum (regularised)", "table5_bptt": "BPTT curriculum",
         "table5_tptt": "TPTT curriculum", "readout_only": "readout-only control",
         "reservoir": "the reservoir chapter's runs"}
TO_TASKS = ("temporal_order", "temporal_order_3bit")
ROMAN = {"table1": "Table I", "table2": "Table II", "table3": "Table III", "table4": "Table IV",
         "table5": "Table V"}


# ------------------------------------------------------------------------------ results sources
def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if not df.empty:
        df["solved"] = solved_flags(df["solved"])
        df["best_accuracy"] = df["best_accuracy"].astype(float)
    return df


class StoredResults:
    """The results store (``results/`` by default), read once per table."""

    def __init__(self, store: ResultsStore | None = None):
        self.store = store if store is not None else ResultsStore()
        self._tables = {}

    def rows(self, experiment: str, budget: str) -> pd.DataFrame:
        if (experiment, budget) not in self._tables:
            self._tables[experiment, budget] = _typed(self.store.load(experiment, budget))
        return self._tables[experiment, budget]

    def probes(self, experiment: str, budget: str, key: str):
        return self.store.probes(experiment, budget, key)


class FrameResults:
    """Hand-made results: ``{(experiment, budget): runs table}`` and
    ``{(experiment, budget, key): probes}``."""

    def __init__(self, tables: dict, probes: dict | None = None):
        self.tables = {k: _typed(v) for k, v in tables.items()}
        self._probes = dict(probes or {})

    def rows(self, experiment: str, budget: str) -> pd.DataFrame:
        return self.tables.get((experiment, budget), pd.DataFrame())

    def probes(self, experiment: str, budget: str, key: str):
        return self._probes.get((experiment, budget, key))


def as_source(results=None):
    """A results source from None (``results/``), a ResultsStore, or a source itself."""
    if results is None or isinstance(results, ResultsStore):
        return StoredResults(results)
    return results


def _load(res, experiment: str, budget: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """(rows, budget): the given budget, else the paper's where stored, else smoke."""
    for b in ([budget] if budget else BUDGET_ORDER):
        df = res.rows(experiment, b)
        if not df.empty:
            return df, b
    return pd.DataFrame(), None


def _common(res, experiments: list[str]) -> str | None:
    """A budget at which every experiment has rows (the paper's first), for like-with-like."""
    for b in BUDGET_ORDER:
        if all(not res.rows(e, b).empty for e in experiments):
            return b
    return None


# ------------------------------------------------------------------------------ text helpers
def _task(task: str) -> str:
    label = TASK_LABELS.get(task, str(task).replace("_", " "))
    return label[0].lower() + label[1:]


def _pct(x: float) -> str:
    return f"{x:.2f} %"


def _res(solved: bool, acc: float) -> str:
    return "solved" if solved else _pct(acc)


def _set(values) -> str:
    vals = sorted({float(v) for v in values if not pd.isna(v)})
    return "{" + ", ".join(f"{v:g}" for v in vals) + "}"


def _pts(v: float) -> str:
    return "point" if v == 1 else "points"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _seeds(df: pd.DataFrame) -> int:
    """Seeds behind each cell (the fewest over cells)."""
    if df.empty:
        return 0
    return int(df.groupby(["task", "T"])["seed"].nunique().min())


def _runs(df: pd.DataFrame, budget: str) -> str:
    """'smoke budget: 6 runs, 1 seed each' — what a piece of evidence rests on."""
    s = _seeds(df)
    return (f"{budget} budget: {_count(len(df), 'run')}, "
            + _per_config(s))


def _per_config(seeds: int) -> str:
    return f"{_count(seeds, 'seed')} per configuration"


@functools.lru_cache(maxsize=1)
def _current() -> str:
    return code_version()


def _stale(df: pd.DataFrame, current: str) -> int:
    return int(stale_rows(df, current).sum()) if not df.empty else 0


# ------------------------------------------------------------------------------ the record
@dataclass
class Verdict:
    part: str                 # "C2a"
    claim: str                # "C2"
    tests: str                # what this part tests, in words
    verdict: str              # one of VERDICTS
    strength: str             # one of STRENGTHS
    evidence: list            # sentences, each computed from the results
    budgets: list = field(default_factory=list)
    why_indicative: list = field(default_factory=list)
    controls: list = field(default_factory=list)   # readout-only comparison, one per cell
    control_matters: list = field(default_factory=list)  # per cell: True / False / None (no run)

    @property
    def control_summary(self) -> str:
        """One line: in how many cells the learning rule beats the readout-only control."""
        f = self.control_matters
        if not f:
            return ""
        ran = [x for x in f if x is not None]
        if not ran:
            return "No readout-only control was run in these cells."
        beats, unshown = sum(x is True for x in ran), sum(x is False for x in ran)
        of = f" of {_count(len(ran), 'cell')}"
        said = ([f"beats it in {beats}{of}"] if beats else []) + \
            ([f"is not shown to matter in {unshown}{of}"] if unshown else [])
        out = "Readout-only control: the learning rule " + " and ".join(said)
        return out + (f" (no control in {len(f) - len(ran)} more)." if len(ran) < len(f) else ".")

    @property
    def control(self) -> str:
        """The readout-only comparison, where the verdict credits the learning rule."""
        return " ".join(self.controls)

    @property
    def quote(self) -> str:
        return CLAIMS[self.claim]

    @property
    def headline(self) -> str:
        return self.evidence[0] if self.evidence else ""

    def text(self) -> str:
        return " ".join(self.evidence + ([self.control] if self.control else []))

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(quote=self.quote, headline=self.headline, text=self.text(),
                 control=self.control, control_summary=self.control_summary)
        return d


def _strength(budgets, seeds: int, cells: int, needed: int, stale: int,
              unpaired=()) -> tuple[str, list]:
    why = []
    off = sorted({b for b in budgets if b != "paper"})
    if off:
        why.append(f"{' and '.join(off)} budget, not the paper's protocol")
    if seeds < MIN_SEEDS:
        why.append(f"{_per_config(seeds)}, so no spread")
    if cells < needed:
        why.append(f"{cells} of the paper's {needed} cells")
    if stale:
        why.append(f"{_count(stale, 'row')} computed by other code")
    why.extend(u for u in unpaired if u)   # comparisons of two methods without a paired test
    return ("indicative" if why else "supported"), why


def _record(part, tests, verdict, evidence, budgets, seeds, cells, needed, stale=0,
            control=((), (), ()), unpaired=()):
    """``control``: (sentences, flags, reasons) of :func:`_controls`; ``unpaired``: why other
    comparisons of two methods in this part had no paired multi-seed test (each makes the part
    indicative)."""
    budgets = sorted({b for b in budgets if b}, key=lambda b: (b != "paper", b))
    reasons = list(control[2]) if len(control) > 2 else []
    strength, why = _strength(budgets, seeds, cells, needed, stale, reasons + list(unpaired))
    return Verdict(part, part.rstrip("abcd"), tests, verdict, strength, list(evidence), budgets,
                   why, list(control[0]), list(control[1]))


def _not_tested(part, tests, what) -> Verdict:
    return Verdict(part, part.rstrip("abcd"), tests, "not tested", "—",
                   [f"No stored results for {what}."])


# ------------------------------------------------------------------------------ controls
def _seed_spread(res, task, T, K=None, budget=None):
    """(seeds, lowest %, highest %, solved seeds) of the re-seeded Table I cell, or None."""
    df, _ = _load(res, "table1_multiseed", budget)
    if df.empty:
        return None
    d = df[(df.task == task) & (df["T"] == T)]
    if K is not None and "K" in d:
        d = d[d.K == K]
    if d["seed"].nunique() < 2:
        return None
    acc = d.best_accuracy * 100
    return int(d["seed"].nunique()), float(acc.min()), float(acc.max()), int(d.solved.sum())


# The learning rule's side of the paired control test, for verdicts on unmodified RNN-LRA-diff:
# Table I's best configuration re-seeded, Figure 2's configuration re-seeded, and the reservoir
# chapter's runs (one configuration, five seeds each). The control's side: the readout-only experiment, else the reservoir chapter's
# readout-only runs.
RESEEDED_RULE = ("table1_multiseed", "fig2_seeds", "reservoir")
CONTROL_SOURCES = ("readout_only", "reservoir")
CONTROL_NAME = "the readout-only control"


def _cell_rows(df: pd.DataFrame, task, T, algorithm=None) -> pd.DataFrame:
    if df.empty:
        return df
    d = df[(df.task == task) & (df["T"] == T)]
    if algorithm is not None and "algorithm" in d:
        d = d[d.algorithm == algorithm]
    return d


def control_pair(res, task, T, own=(), reseeded=True) -> Paired | None:
    """The paired test (:func:`lra.analysis.paired.pair_methods`) of the learning rule against the
    readout-only control at (task, T), or None when no run of the rule shares a budget with the
    control there.

    Which rows represent the learning rule: the verdict's own runs (``own``: (name, rows) pairs,
    e.g. Figure 3's five seeds for C7) and, where the verdict is about unmodified RNN-LRA-diff
    (``reseeded``), the re-seeded runs of :data:`RESEEDED_RULE`. Of these, at each budget where
    the control has the cell, the one sharing the most seeds with the control is paired, with
    preference for two or more shared seeds, then for the paper's budget, then for more seeds
    (ties: the order above)."""
    best = None
    for b in BUDGET_ORDER:
        ctrl = next((d for d in (_cell_rows(res.rows(e, b), task, T, "readout_only")
                                 for e in CONTROL_SOURCES) if not d.empty), None)
        if ctrl is None:
            continue
        cands = [(name, _cell_rows(rows[rows.budget == b], task, T)) for name, rows in own
                 if not rows.empty]
        if reseeded:
            cands += [(NAMES[e], _cell_rows(res.rows(e, b), task, T, "lra_diff"))
                      for e in RESEEDED_RULE]
        for name, d in cands:
            if d.empty:
                continue
            shared = len(set(d["seed"]) & set(ctrl["seed"]))
            score = (shared >= MIN_PAIRED_SEEDS, b == "paper", shared)
            if shared and (best is None or score > best[0]):
                best = (score, name, d, ctrl)
    if best is None:
        return None
    _, name, d, ctrl = best
    return pair_methods(d, ctrl, f"RNN-LRA-diff ({name})", CONTROL_NAME)


def control_pairs(results=None) -> list[Paired]:
    """The paired test of unmodified RNN-LRA-diff against the readout-only control at every
    (task, T) where the control was run, the runs chosen as the verdicts choose them
    (:func:`control_pair`); for the table in chapter "RNN-LRA-diff", section "Control: readout
    only"."""
    res = as_source(results)
    cells = set()
    for b in BUDGET_ORDER:
        for e in CONTROL_SOURCES:
            d = res.rows(e, b)
            if not d.empty:
                d = d[d.algorithm == "readout_only"]
                cells |= {(t, int(T)) for t, T in zip(d.task, d["T"])}
    pairs = [control_pair(res, task, T) for task, T in sorted(cells)]
    return [p for p in pairs if p is not None]


def _control_cell(res, task, T, solved, acc, own=(), reseeded=True):
    """Sentences comparing the learning rule at (task, T) with the readout-only control:
    (text, whether the rule is shown to matter — None: no control there —, budgets, and
    (cell, why the comparison has no paired multi-seed test) or None).

    With stored per-sample predictions the paired test decides (:func:`control_pair`): the rule
    beats the control only if every paired seed favours it at p < 0.05 (exact McNemar).
    Without them, the threshold reading: the rule's best result (``solved``, ``acc`` in %) vs the
    control's best seed within :data:`TOL` points — and the part is indicative."""
    df, b = _load(res, "readout_only")
    s = readout_summary(df) if not df.empty else pd.DataFrame()
    r = s[(s.task == task) & (s["T"] == T)] if not s.empty else s
    where = f"{_task(task)} at T = {T}"
    if r.empty:
        # no control: the part cannot be more than indicative (the rule's share is unmeasured)
        return (f"No readout-only control was run on {where}: the learning rule's share is not "
                "measured."), None, [b], (where, "no readout-only control was run there")
    r = r.iloc[0]
    n, k = int(r.seeds), int(r.readout_solved)
    spread = (f"best accuracy {_pct(r.readout_mean)} on average, {r.readout_min:.2f}–"
              f"{r.readout_max:.2f} % over {n} seeds, solved in {k} of {n} seeds; {b} budget")
    head = f"Readout-only control, {where} (recurrent weights frozen; {spread})"
    pair = control_pair(res, task, T, own, reseeded)
    if pair is not None and pair.missing is None:          # a paired multi-seed test decides
        m = pair.stats["seeds"]
        if pair.a_better_everywhere:
            said = f"The learning rule beats the control in {m} of {m} paired seeds."
        else:
            said = (f"The learning rule beats the control in {pair.stats['a_better']} of {m} "
                    f"paired seeds, not in every one, so {NOT_SHOWN}.")
        return (f"{head}. {pair.sentence()} {said}", pair.a_better_everywhere,
                [b] + pair.budget.split(" and "), None)
    # no paired multi-seed test: the threshold reading, and why there is no paired test
    if pair is None:
        reason = "no run of the learning rule shares a budget and a seed with the control here"
        unpaired = f"No paired test against the control on {where}: {reason}."
    else:
        reason, unpaired = pair.reason, pair.sentence()
    why = (where, reason)
    budgets = [b] + ([] if pair is None else pair.budget.split(" and "))
    if solved:
        if k > 0:
            return f"{head}: it solves the task too, so {NOT_SHOWN}. {unpaired}", False, \
                budgets, why
        return (f"{head}: the learning rule solves what the readout alone does not. {unpaired}",
                True, budgets, why)
    if acc - r.readout_max < TOL:
        return (f"{head}: RNN-LRA-diff's {_pct(acc)} is within {TOL:g} {_pts(TOL)} of the "
                f"control's best seed or below it, so {NOT_SHOWN}. {unpaired}"), False, budgets, why
    return (f"{head}: RNN-LRA-diff's {_pct(acc)} beats the control's best seed by "
            f"{acc - r.readout_max:.2f} points. {unpaired}"), True, budgets, why


def _controls(res, cells, own=(), reseeded=True) -> tuple[tuple, list]:
    """The control for several (task, T, solved, accuracy) cells: (sentences, whether the rule
    is shown to matter per cell, why each comparison lacks a paired test) and the budgets used.
    ``own``, ``reseeded``: which runs represent the learning rule (:func:`control_pair`)."""
    texts, flags, lacking, budgets = [], [], {}, []
    for task, T, solved, acc in cells:
        t, f, b, w = _control_cell(res, task, int(T), bool(solved), float(acc), own, reseeded)
        texts.append(t)
        flags.append(f)
        budgets.extend(b)
        if w:                                      # (cell, why no paired test)
            lacking.setdefault(w[1], []).append(w[0])
    whys = [f"no paired multi-seed test against the readout-only control on {', '.join(where)} "
            f"({reason})" for reason, where in lacking.items()]
    return (texts, flags, whys), budgets


NO_CONTROL = (([], [], []), [])


# ------------------------------------------------------------------------------ C1
def c1(res) -> list[Verdict]:
    return [_c1_at_10(res), _c1_longer(res)]


def _c1_at_10(res):
    tests = "solves temporal order and 3-bit temporal order at T = 10"
    grid, b = _load(res, "table1")
    d = grid[grid.task.isin(TO_TASKS) & (grid["T"] == 10)] if not grid.empty else grid
    if d.empty:
        return _not_tested("C1a", tests, "temporal order or 3-bit temporal order at T = 10")
    cur = _current()
    cells = best_per_cell(d, ["task"])
    ev = [f"{NAMES['table1']} ({_runs(d, b)}; K ∈ {_set(d.K)}): " + "; ".join(
        f"{_task(r.task)} at T = 10 "
        + ("solved" if r.solved else f"not solved, best {_pct(r.accuracy)}")
        for r in cells.itertuples()) + "."]
    missing = [t for t in TO_TASKS if t not in set(cells.task)]
    if missing:
        ev.append("Not run: " + ", ".join(_task(t) for t in missing) + ".")
    ms, bm = _load(res, "table1_multiseed", b)
    if ms.empty:                                  # re-seeded only at another budget
        ms, bm = _load(res, "table1_multiseed")
    seeds, partial, budgets, stale = _seeds(d), False, [b], _stale(d, cur)
    m = ms[ms.task.isin(TO_TASKS) & (ms["T"] == 10)] if not ms.empty else ms
    if not m.empty:
        parts = []
        for task, g in m.groupby("task"):
            n, k = g["seed"].nunique(), int(g.solved.sum())
            txt = f"{_task(task)} solved by {k} of {n} seeds"
            if k < n:
                partial = True
                rest = g[~g.solved].best_accuracy * 100
                txt += f" (the other {n - k} reach {rest.min():.2f}–{rest.max():.2f} %)"
            parts.append(txt)
        ev.append(f"{NAMES['table1_multiseed']} ({_runs(m, bm)}): " + "; ".join(parts) + ".")
        seeds, budgets, stale = max(seeds, _seeds(m)), budgets + [bm], stale + _stale(m, cur)
    solved = set(cells[cells.solved].task)
    if not m.empty:
        ev.insert(0, f"The Table I grid solves {len(solved)} of {len(TO_TASKS)} tasks at T = 10; "
                  f"re-seeded, its best configuration solves " + "; ".join(
                      f"{_task(t)} in {int(g.solved.sum())} of {g['seed'].nunique()} seeds"
                      for t, g in m.groupby("task")) + ".")
    if solved >= set(TO_TASKS):
        verdict = "partly" if partial else "reproduced"
        if partial:
            ev.append("The grid solves both tasks, but not every seed of its best configuration "
                      "does.")
    else:
        verdict = "partly" if solved else "not reproduced"
    control, cb = _controls(res, [(r.task, 10, r.solved, r.accuracy) for r in cells.itertuples()],
                            own=[(NAMES["table1"], d)])
    needed = len(_published_cells("table1", TO_TASKS, [10]))
    return _record("C1a", tests, verdict, ev, budgets + cb, seeds,
                   d.groupby(["task", "K"]).ngroups, needed, stale, control)


def _published_cells(table, tasks, lengths):
    p = published(table)
    return p[p.task.isin(tasks) & p["T"].isin(lengths)]


def _c1_longer(res):
    tests = "does not solve them at T > 10"
    cur = _current()
    ev, budgets, any_solved, seeds, stale, cells = [], [], set(), 0, 0, set()
    for exp in ("table1", "table5_lra"):
        df, b = _load(res, exp)
        d = df[df.task.isin(TO_TASKS) & (df["T"] > 10)] if not df.empty else df
        if d.empty:
            continue
        best = best_per_cell(d, ["task", "T"])
        ev.append(f"{NAMES[exp]} ({_runs(d, b)}): " + "; ".join(
            f"{_task(r.task)} at T = {r.T} {_res(r.solved, r.accuracy)}"
            for r in best.itertuples()) + ".")
        any_solved |= set(best[best.solved].task)
        budgets.append(b)
        seeds = max(seeds, _seeds(d))
        stale += _stale(d, cur)
        cells |= {(r.task, r.T, r.K) for r in d.itertuples()}
    if not ev:
        return _not_tested("C1b", tests, "temporal order or 3-bit temporal order at T > 10")
    if not any_solved:
        verdict = "reproduced"
        ev.insert(0, "No run solves temporal order or 3-bit temporal order at T > 10.")
    else:
        verdict = "partly" if len(any_solved) < len(TO_TASKS) else "not reproduced"
        ev.insert(0, "Solved at T > 10: " + ", ".join(_task(t) for t in sorted(any_solved)) + ".")
    needed = len(_published_cells("table1", TO_TASKS, [20, 30]))
    return _record("C1b", tests, verdict, ev, budgets, seeds, len(cells), needed, stale)


# ------------------------------------------------------------------------------ C2
# unmodified RNN-LRA-diff, random permutation, T = 10
RP10 = ("table1", "table1_multiseed", "fig2", "fig2_seeds")


def _rp10(res):
    """Per source: (experiment, budget, rows) of random permutation at T = 10."""
    out = []
    for exp in RP10:
        df, b = _load(res, exp)
        d = df[(df.task == "random_permutation") & (df["T"] == 10)] if not df.empty else df
        if not d.empty:
            out.append((exp, b, d))
    return out


def c2(res) -> list[Verdict]:
    src = _rp10(res)
    cur = _current()
    needed = len(_published_cells("table1", ["random_permutation"], [10]))
    tests_a = "cannot solve random permutation at T = 10"
    tests_b = "reaches ~51 % (chance) on random permutation at T = 10"
    if not src:
        what = "random permutation at T = 10"
        return [_not_tested("C2a", tests_a, what), _not_tested("C2b", tests_b, what)]
    budgets = [b for _, b, _ in src]
    seeds = max(_seeds(d) for _, _, d in src)
    stale = sum(_stale(d, cur) for _, _, d in src)
    t1 = [d for e, _, d in src if e == "table1"]
    cells = t1[0].K.nunique() if t1 else 1
    per = [f"{NAMES[e]} ({_runs(d, b)}): {int(d.solved.sum())} of {len(d)} runs solved, best "
           f"{_pct(d.best_accuracy.max() * 100)}" for e, b, d in src]
    n_solved = sum(int(d.solved.sum()) for _, _, d in src)
    n_runs = sum(len(d) for _, _, d in src)
    a = _record("C2a", tests_a, "reproduced" if n_solved == 0 else "not reproduced",
                [f"{n_solved} of {n_runs} runs of unmodified RNN-LRA-diff solve random "
                 f"permutation at T = 10."] + [p + "." for p in per],
                budgets, seeds, cells, needed, stale)

    best = max(d.best_accuracy.max() * 100 for _, _, d in src)
    low = min(d.best_accuracy.min() * 100 for _, _, d in src)
    pub = _published_cells("table1", ["random_permutation"], [10])
    plo, phi = pub.accuracy.min(), pub.accuracy.max()
    close = plo - TOL < best < phi + TOL
    ev = [f"Best accuracies {low:.2f}–{best:.2f} % over {n_runs} runs; the paper reports "
          f"{plo:.2f}–{phi:.2f} % (K ∈ {_set(pub.K)})."]
    if not close:
        gap = best - phi if best > phi else plo - best
        ev.append(f"Our best is {gap:.2f} points {'above' if best > phi else 'below'} the "
                  f"paper's, beyond the {TOL:g}-point tolerance"
                  + (", although no run solves the task (C2a): what does not reproduce is the "
                     "paper's accuracy, not its failure to solve." if n_solved == 0 else "."))
    control, cb = _controls(res, [("random_permutation", 10, False, best)],
                            own=[(NAMES[e], d) for e, _, d in src]) if not close else NO_CONTROL
    b_ = _record("C2b", tests_b, "reproduced" if close else "not reproduced", ev,
                 budgets + cb, seeds, cells, needed, stale, control)
    return [a, b_]


# ------------------------------------------------------------------------------ C3
def c3(res) -> list[Verdict]:
    tests = "the number of inner steps K changes the best accuracy by less than the tolerance"
    df, b = _load(res, "table1")
    if df.empty or df.K.nunique() < 2:
        what = "Table I with more than one K" + (
            f" (the stored {b}-budget rows have K ∈ {_set(df.K)} only)" if not df.empty else "")
        return [_not_tested("C3", tests, what)]
    cells = best_per_cell(df, ["task", "T", "K"])
    rows, marginal = [], 0
    for (task, T), g in cells.groupby(["task", "T"]):
        if g.K.nunique() < 2:
            continue
        same = g.solved.nunique() == 1 and (g.solved.all() or g.accuracy.max() - g.accuracy.min()
                                           < TOL)
        marginal += same
        rows.append(f"{_task(task)} T = {T}: " + ", ".join(
            f"K = {k:g} {_res(s, a)}" for k, s, a in zip(g.K, g.solved, g.accuracy)))
    n = len(rows)
    verdict = "reproduced" if marginal == n else ("partly" if marginal else "not reproduced")
    ev = [f"In {marginal} of {n} (task, T) cells the best result varies by less than {TOL:g} {_pts(TOL)} "
          f"across K ∈ {_set(df.K)} ({_runs(df, b)})."] + [r + "." for r in rows]
    solved_all = cells.groupby(["task", "T"]).solved.all()
    if marginal == n and solved_all.all():
        ev.append("Every cell is solved for every K: these cells cannot separate the values of K.")
    ctl = cells.groupby(["task", "T"]).agg(solved=("solved", "any"), acc=("accuracy", "max"))
    control, cb = _controls(res, [(t, T, r.solved, r.acc) for (t, T), r in ctl.iterrows()],
                            own=[(NAMES["table1"], df)])
    return [_record("C3", tests, verdict, ev, [b] + cb, _seeds(df), n,
                    published("table1").groupby(["task", "T"]).ngroups,
                    _stale(df, _current()), control)]


# ------------------------------------------------------------------------------ C4, C5
def _variants(res, part, tests, base, other, names, pub_table, pub_col, pub_values):
    """Two variants cell by cell (task, T, K): agreement, and whether the cells can tell them
    apart at all (both solved; a difference below the tolerance; or within the seeds' spread).
    Where both variants store predictions for two or more seeds, the paired test decides a cell:
    it differs only if one variant is better in every paired seed at p < 0.05."""
    b = _common(res, [base, other])
    if b is None:
        return _not_tested(part, tests, f"both the {NAMES[base]} and the {NAMES[other]} at one "
                                        "budget")
    A, B = res.rows(base, b), res.rows(other, b)
    keys = ["task", "T", "K"]
    m = best_per_cell(A, keys).merge(best_per_cell(B, keys), on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return _not_tested(part, tests, f"cells run in both the {NAMES[base]} and the "
                                        f"{NAMES[other]}")
    ceiling, below, spread_cells, differ, listing = 0, [], [], 0, []
    pairs, not_shown = [], 0
    for r in m.itertuples():
        diff = abs(r.accuracy_a - r.accuracy_b)
        listing.append(f"{_task(r.task)} T = {r.T}, K = {r.K:g}: {_res(r.solved_a, r.accuracy_a)} "
                       f"vs {_res(r.solved_b, r.accuracy_b)}")
        sp = _seed_spread(res, r.task, r.T, r.K, b)
        pair = pair_methods(*(d[(d.task == r.task) & (d["T"] == r.T) & (d.K == r.K)]
                              for d in (A, B)), f"{names[0]} at K = {r.K:g}", names[1])
        pairs.append(pair)
        if r.solved_a and r.solved_b:
            ceiling += 1
        elif pair.missing is None:        # a paired multi-seed test decides
            if pair.a_better_everywhere or pair.b_better_everywhere:
                differ += 1
            else:
                not_shown += 1
        elif r.solved_a != r.solved_b:
            differ += 1
        elif diff < TOL:
            below.append(diff)
            if sp and sp[2] - sp[1] > diff:
                spread_cells.append((diff, sp))
        elif sp and sp[2] - sp[1] >= diff:
            spread_cells.append((diff, sp))
        else:
            differ += 1
    n = len(m)
    verdict = "reproduced" if differ == 0 else ("partly" if differ < n else "not reproduced")
    Ts = _set(m["T"])
    agree = (f"both solve, or within {TOL:g} {_pts(TOL)}" if not not_shown and not any(
        p.missing is None for p in pairs) else f"both solve; or, paired over seeds, neither is "
        f"better in every seed at p < 0.05; or, without a paired test, within {TOL:g} {_pts(TOL)}")
    ev = [f"{n - differ} of {n} cells agree between {names[0]} and {names[1]} ({agree}); "
          f"{b} budget, {_per_config(_seeds(A))}, T ∈ {Ts}."]
    ev.append("Cells: " + "; ".join(listing) + "." if n <= 9 else
              f"Cells: {n} (task, T, K) combinations over {m.task.nunique()} tasks.")
    tested = [p for p in pairs if p.tested]
    if tested and n <= 9:
        ev.extend(p.sentence() for p in tested)
    elif tested:
        ev.append(f"Paired tests (exact McNemar per seed) in {len(tested)} of {n} cells; one "
                  "variant is better in every paired seed in "
                  f"{sum(p.a_better_everywhere or p.b_better_everywhere for p in tested)}.")
    refused = [p for p in pairs if not p.tested]
    if refused:
        ev.append(f"No paired test of the variants in {len(refused)} of {n} cells: "
                  + "; ".join(sorted({REFUSALS[p.refusal] for p in refused})) + ".")
    lacking = [p.reason for p in pairs if p.missing]
    unpaired = [f"no paired multi-seed test of the variants in {len(lacking)} of {n} cells ("
                + "; ".join(sorted(set(lacking))) + ")"] if lacking else []
    if differ == 0 or spread_cells or not_shown:
        why = []
        if ceiling:
            why.append(f"both variants solve the task in {ceiling} of {n} cells, so no difference "
                       "can show there")
        if below:
            why.append(f"the difference is below the {TOL:g}-point tolerance in "
                       f"{_count(len(below), 'cell')} "
                       f"(largest {max(below):.2f} points)")
        if spread_cells:
            d, sp = max(spread_cells, key=lambda x: x[0])
            why.append(f"in {_count(len(spread_cells), 'cell')} the spread across seeds of "
                       "Table I's best "
                       f"configuration ({sp[1]:.2f}–{sp[2]:.2f} % over {sp[0]} seeds) is larger "
                       f"than the difference ({d:.2f} points)")
        if not_shown:
            why.append(f"in {_count(not_shown, 'cell')} neither variant is better in every "
                       "paired seed at p < 0.05")
        ev.append("Why: " + "; ".join(why) + ".")
        if differ == 0:
            ev[0] = ev[0][:-1] + "; the available cells cannot separate the two variants."
    # the paper's own table, for what the claim rests on
    pub = published(pub_table)
    pa = pub[pub[pub_col] == pub_values[0]].merge(pub[pub[pub_col] == pub_values[1]],
                                                  on=["task", "K", "T"])
    pdiff = (pa.solved_x != pa.solved_y) | (~pa.solved_x & ((pa.accuracy_x - pa.accuracy_y).abs()
                                                            >= TOL))
    if pdiff.any():
        ev.append(f"In the paper's own {ROMAN[pub_table]}, {int(pdiff.sum())} "
                  f"of {len(pa)} cells differ by {TOL:g} {_pts(TOL)} or more between the variants "
                  f"(at T ∈ {_set(pa[pdiff]['T'])}).")
    cells = m.groupby(["task", "T"]).agg(solved=("solved_a", "any"), acc=("accuracy_a", "max"))
    control, cb = _controls(res, [(t, T, r.solved, r.acc) for (t, T), r in cells.iterrows()],
                            own=[(NAMES[base], A)])
    stale = _stale(A, _current()) + _stale(B, _current())
    return _record(part, tests, verdict, ev, [b] + cb, min(_seeds(A), _seeds(B)), n, len(pa),
                   stale, control, unpaired)


def c4(res) -> list[Verdict]:
    return [_variants(res, "C4", "MSE and the log-penalty local loss give the same results",
                      "table1", "table2", ("MSE (Table I)", "the log-penalty (Table II)"),
                      "table2", "loss", ("mse", "log_penalty"))]


def c5(res) -> list[Verdict]:
    return [_variants(res, "C5a", "normalisation (c0 = c1 = 1) and none (c0 = c1 = 0) give the "
                      "same results (Table III)", "table1", "table3",
                      ("normalisation (Table I)", "none (Table III)"), "table3", "normalisation",
                      ("normalised", "none")), _c5_table4(res)]


def _c5_table4(res):
    tests = "the clipping thresholds c0, c1 do not change temporal order at T = 20 (Table IV)"
    df, b = _load(res, "table4")
    if df.empty:
        return _not_tested("C5b", tests, "Table IV")
    per, same = [], 0
    for (task, T, K), g in df.groupby(["task", "T", "K"]):
        s = g.groupby(["c0", "c1"]).agg(acc=("best_accuracy", "max"), solved=("solved", "any"))
        acc = s.acc * 100
        ok = s.solved.nunique() == 1 and (s.solved.all() or acc.max() - acc.min() < TOL)
        same += ok
        per.append(f"K = {K:g}: {len(s)} (c0, c1) settings from c0 ∈ {_set(g.c0)}, c1 ∈ "
                   f"{_set(g.c1)}, best accuracies {acc.min():.2f}–{acc.max():.2f} %, "
                   f"{int(s.solved.sum())} solved")
    n = len(per)
    verdict = "reproduced" if same == n else ("partly" if same else "not reproduced")
    ev = [f"In {same} of {n} K values the (c0, c1) settings agree within {TOL:g} {_pts(TOL)} "
          f"({NAMES['table4']}, {_runs(df, b)})."] + [p + "." for p in per]
    if same == n:
        ev.append("The available settings cannot separate the thresholds: every difference is "
                  f"below the {TOL:g}-point tolerance.")
    pub = published("table4")
    ev.append(f"The paper reports only the best setting: {_pct(pub.accuracy.max())} at "
              f"c0 ∈ {_set(pub.c0)}, c1 ∈ {_set(pub.c1)}.")
    best = df.groupby(["task", "T"]).agg(solved=("solved", "any"), acc=("best_accuracy", "max"))
    control, cb = _controls(res, [(t, T, r.solved, r.acc * 100) for (t, T), r in best.iterrows()],
                            own=[(NAMES["table4"], df)])
    g = EXPERIMENTS["table4"].grid
    needed = len(g["K"]) * len(g["c0"]) * len(g["c1"])
    cells = df.groupby(["K", "c0", "c1"]).ngroups
    return _record("C5b", tests, verdict, ev, [b] + cb, _seeds(df), cells, needed,
                   _stale(df, _current()), control)


# ------------------------------------------------------------------------------ probes (C6-C8)
def _probe_array(res, experiment, budget, quantity):
    """(n_probes, T) array of one probed quantity of the experiment's first run, and that run."""
    df, _ = _load(res, experiment, budget)
    if df.empty:
        return None, None
    row = df.iloc[0]
    p = res.probes(experiment, budget, row["key"])
    if not p:
        return None, row
    return np.array([q[quantity] for q in p], dtype=float), row


def _flow(res, experiment, budget):
    """Probes in which W_hh's gradient reaches layer 1, and the median lowest layer it reaches."""
    g, row = _probe_array(res, experiment, budget, "dW_hh_norm")
    if g is None:
        return None
    finite = np.isfinite(g).all(axis=1)
    reach = (g[finite] > 0)
    lowest = [int(np.argmax(r[1:])) + 1 if r[1:].any() else g.shape[1] for r in reach]
    return dict(n=int(len(g)), finite=int(finite.sum()), at1=int(reach[:, 1].sum()),
                lowest=float(np.median(lowest)) if lowest else float("nan"), row=row,
                T=g.shape[1])


def _flow_text(name, budget, f):
    txt = (f"{name} ({budget} budget, {int(f['row']['iterations']):,} iterations): W_hh's "
           f"gradient is non-zero at layer 1 in {f['at1']} of {f['n']} probes; the lowest layer "
           f"it reaches is {f['lowest']:g} (median over probes)")
    if f["finite"] < f["n"]:
        txt += f"; {f['n'] - f['finite']} probes are not finite"
    return txt + "."


def c6(res) -> list[Verdict]:
    tests_a = "the local loss vanishes (is exactly zero) a few steps below the top"
    tests_b = "the local loss falls about twelve orders of magnitude over the top two steps"
    df, b = _load(res, "fig2")
    L, row = _probe_array(res, "fig2", b, "local_loss") if b else (None, None)
    if L is None:
        return [_not_tested("C6a", tests_a, "Figure 2 probes"),
                _not_tested("C6b", tests_b, "Figure 2 probes")]
    n, T = L.shape
    stale = _stale(df, _current())
    run = f"{NAMES['fig2']}, {b} budget, {int(row['iterations']):,} iterations, one seed"
    zero = (L == 0).sum(axis=0)                    # per layer: probes with an exact zero
    vanished = [t for t in range(1, T) if zero[t] > n / 2]
    at_paper = int(zero[T - 1 - PAPER_STEPS])
    if vanished:
        top0 = max(vanished)
        steps = T - 1 - top0
        below = int((L[:, 1:top0 + 1] == 0).all(axis=1).sum())
        va = "reproduced" if steps == PAPER_STEPS else "partly"
        ev = [f"The local loss is exactly zero at layer {top0}, {steps} steps below the top, in "
              f"{int(zero[top0])} of {n} probes, and at every layer from 1 to {top0} in {below} of "
              f"{n} probes; at layer {T - 1 - PAPER_STEPS} ({PAPER_STEPS} steps below the top, "
              f"the paper's) in {at_paper} of {n} ({run})."]
    else:
        va = "not reproduced"
        ev = [f"At no layer is the local loss exactly zero in more than half of the {n} probes "
              f"(most: {int(zero[1:].max())} of {n}; {run})."]
    a = _record("C6a", tests_a, va, ev, [b], _seeds(df), 1, 1, stale)
    ok = (L[:, T - 3] > 0) & (L[:, T - 1] > 0) & np.isfinite(L).all(axis=1)
    if not ok.any():
        vb, ev = "not tested", [f"No probe has a non-zero local loss at layer {T - 3} ({run})."]
    else:
        drop = float(np.median(np.log10(L[ok, T - 1] / L[ok, T - 3])))
        vb = ("reproduced" if abs(drop - PAPER_ORDERS) <= ORDERS_TOL else
              "partly" if drop >= 3 else "not reproduced")
        ev = [f"The local loss falls {drop:.1f} orders of magnitude from layer {T - 1} to layer "
              f"{T - 3} (median over the {int(ok.sum())} of {n} probes where both are non-zero; "
              f"{run}); the paper reads {PAPER_ORDERS:g} off its Figure 2."]
    return [a, _record("C6b", tests_b, vb, ev, [b], _seeds(df), 1, 1, stale)]


# ------------------------------------------------------------------------------ C7
# Figure 3's two readings: the paper forces the normalisation of Δh (fig3_dh: Δh alone, the
# text's reading); fig3 also forces the weight gradients (the variant the book ran first).
FIG3_READINGS = (("fig3_dh_seeds", "fig3_dh"), ("fig3_seeds", "fig3"))
FIG3_WHAT = {FIG3_READINGS[0]: "Δh forced alone",
             FIG3_READINGS[1]: "Δh and the weight gradients forced"}


def _span(values) -> str:
    lo, hi = int(min(values)), int(max(values))
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def _fig3(res, budget, names):
    """The rows of one reading of Figure 3 at a budget: the multi-seed runs where stored, else
    the single run; and the experiment whose run carries probes."""
    many, one = names
    rows = res.rows(many, budget)
    if rows.empty:
        rows = res.rows(one, budget)
    return rows, one


def c7(res) -> list[Verdict]:
    tests_a = "forced normalisation restores gradient flow to the first layers"
    tests_b = "but not learning: it does no better than the unmodified algorithm"
    reading = next((r for r in FIG3_READINGS if _common(res, ["fig2", r[1]])), FIG3_READINGS[0])
    b = _common(res, ["fig2", reading[1]])
    if b is None:
        what = "the Figure 2 and Figure 3 runs at one budget"
        return [_not_tested("C7a", tests_a, what), _not_tested("C7b", tests_b, what)]
    what = ("Δh forced alone, as the paper describes" if reading is FIG3_READINGS[0] else
            "Δh and the weight gradients forced")
    f2 = res.rows("fig2", b)
    f3, probed = _fig3(res, b, reading)
    # the unmodified side over seeds where stored (fig2_seeds), else the single Figure 2 run
    f2s = res.rows("fig2_seeds", b)
    plain = f2s if not f2s.empty else f2
    stale = _stale(plain, _current()) + _stale(f3, _current())
    seeds = min(_seeds(plain), _seeds(f3))
    fl3, fl2 = _flow(res, probed, b), _flow(res, "fig2", b)
    if fl3 is None or fl2 is None:
        a = _not_tested("C7a", tests_a, f"Figure 2 and Figure 3 probes at the {b} budget")
    else:
        ok = fl3["finite"] - fl3["at1"]
        va = ("reproduced" if fl3["at1"] and ok == 0 and fl2["at1"] < fl2["n"] else
              "partly" if fl3["at1"] > fl2["at1"] else "not reproduced")
        a = _record("C7a", tests_a, va, [_flow_text(NAMES["fig3"] + f" ({what})", b, fl3),
                                         _flow_text(NAMES["fig2"] + ", unmodified", b, fl2)],
                    [b], _seeds(res.rows(probed, b)), 1, 1, stale)
    solved = f3[f3.solved]
    s3, a3 = bool(len(solved)), f3.best_accuracy.max() * 100
    s2, a2 = bool(plain.solved.any()), plain.best_accuracy.max() * 100
    per_seed = f3.groupby("seed").solved.any()
    r3 = (f"solves random permutation at T = 10 in {int(per_seed.sum())} of "
          f"{_count(len(per_seed), 'seed')} ({_span(solved.iterations)} iterations)" if s3 else
          f"reaches {_pct(a3)}, not solved ({_count(len(per_seed), 'seed')})")
    if f2s.empty:
        r2 = (f"the unmodified {NAMES['fig2']} "
              f"{'solves it' if s2 else 'reaches ' + _pct(a2) + ', not solved'}")
    else:
        p2 = plain.groupby("seed").agg(ok=("solved", "any"), acc=("best_accuracy", "max"))
        r2 = (f"the unmodified configuration (Figure 2's, {_count(len(p2), 'seed')}) solves it in "
              f"{int(p2.ok.sum())} of {len(p2)}, best accuracy {_pct(p2.acc.min() * 100)}–"
              f"{_pct(p2.acc.max() * 100)}")
    ev = [f"With forced normalisation ({what}) the {NAMES['fig3']} {r3}; {r2} "
          f"({b} budget, one configuration)."]
    # paired per seed (lra.analysis.paired): forced vs unmodified, and the two readings of Figure 3
    forced = f"forced normalisation ({FIG3_WHAT[reading]})"
    vs_plain = pair_methods(f3, plain, forced, "unmodified RNN-LRA-diff (the Figure 2 run)"
                            if f2s.empty else "unmodified RNN-LRA-diff (Figure 2's configuration)")
    ev.append(vs_plain.sentence())
    unpaired = [f"no paired multi-seed test of forced vs unmodified ({vs_plain.reason})"
                ] if vs_plain.missing else []
    other = FIG3_READINGS[1] if reading is FIG3_READINGS[0] else None
    if other is not None:
        o, _ = _fig3(res, b, other)
        if not o.empty:
            os_ = o.groupby("seed").solved.any()
            ev.append(f"Forcing the weight gradients as well (the variant) solves it in "
                      f"{int(os_.sum())} of {_count(len(os_), 'seed')}"
                      + (f" ({_span(o[o.solved].iterations)} iterations)." if os_.any()
                         else "."))
            readings = pair_methods(f3, o, FIG3_WHAT[reading], FIG3_WHAT[other])
            ev.append(readings.sentence())
            if readings.missing:
                unpaired.append("no paired multi-seed test of Figure 3's two readings "
                                f"({readings.reason})")
    better = (s3 and not s2) or (not s3 and not s2 and a3 - a2 >= TOL)
    if vs_plain.missing is None:           # a paired multi-seed test decides the direction
        better = vs_plain.a_better_everywhere
    vb = "not reproduced" if better else "reproduced"
    control, cb = _controls(res, [("random_permutation", 10, s3, a3)],
                            own=[(f"Figure 3's runs, {FIG3_WHAT[reading]}", f3)],
                            reseeded=False) if better else NO_CONTROL
    return [a, _record("C7b", tests_b, vb, ev, [b] + cb, seeds, 1, 1, stale, control, unpaired)]


# ------------------------------------------------------------------------------ C8
def c8(res) -> list[Verdict]:
    return [_c8_flow(res), _c8_length(res, "C8b", "temporal_order"),
            _c8_length(res, "C8c", "random_permutation")]


def _c8_flow(res):
    tests = "regularisation restores gradient flow to the first layers (Figure 4)"
    b = _common(res, ["fig2", "fig4"])
    fl4 = _flow(res, "fig4", b) if b else None
    fl2 = _flow(res, "fig2", b) if b else None
    if fl4 is None or fl2 is None:
        return _not_tested("C8a", tests, "Figure 2 and Figure 4 probes at one budget")
    f2, f4 = res.rows("fig2", b), res.rows("fig4", b)
    if fl4["at1"] and fl4["at1"] == fl4["finite"]:
        v = "reproduced"
    elif fl4["at1"] > fl2["at1"] or fl4["lowest"] < fl2["lowest"]:
        v = "partly"
    else:
        v = "not reproduced"
    ev = [_flow_text(NAMES["fig4"] + f", regularised (λ = {_set(f4.lam)[1:-1]})", b, fl4),
          _flow_text(NAMES["fig2"] + ", unmodified", b, fl2)]
    stale = _stale(f2, _current()) + _stale(f4, _current())
    return _record("C8a", tests, v, ev, [b], min(_seeds(f2), _seeds(f4)), 1, 1, stale)


def _paper_max_T(task, method):
    p = published("table5")
    r = p[(p.task == task) & (p.method == method)]
    v = r.max_T.iloc[0] if len(r) else np.nan
    return None if pd.isna(v) else int(v)


def _T(v):
    return "none (T = 10 not solved)" if v is None else f"T = {v}"


def _c8_length(res, part, task):
    paper_reg = _paper_max_T(task, "lra_diff_regularised")
    paper_plain = _paper_max_T(task, "lra_diff")
    tests = (f"regularisation extends the longest {_task(task)} solved from "
             f"{paper_plain or 'none'} to {paper_reg} (Table V)")
    b = _common(res, ["table5_lra", "table5_lra_reg"])
    if b is None:
        return _not_tested(part, tests, "both Table V curricula (with and without regularisation) "
                                        "at one budget")
    plain, reg = res.rows("table5_lra", b), res.rows("table5_lra_reg", b)
    cp, cr = curriculum_max_T(plain).get(task), curriculum_max_T(reg).get(task)
    if cp is None or cr is None:
        return _not_tested(part, tests, f"{_task(task)} in both Table V curricula")
    mp, mr = cp["max_T"], cr["max_T"]
    if mr is not None and paper_reg is not None and mr >= paper_reg and (mp or 0) < mr:
        v = "reproduced"
    elif (mr or 0) > (mp or 0):
        v = "partly"
    else:
        v = "not reproduced"
    ev = [f"Longest {_task(task)} solved: {_T(mp)} without and {_T(mr)} with regularisation "
          f"({NAMES['table5_lra']}, {_runs(plain[plain.task == task], b)}); the paper: "
          f"{_T(paper_plain)} → T = {paper_reg}."]
    if not cr["complete"]:
        ev.append(f"The regularised curriculum stopped at T = {cr['last_T']} while still solving.")
    budgets = [b]
    # the baselines at the same budget: if they fall short of their quoted lengths too, the
    # budget, not the learning rule, limits the length
    short = []
    for exp, method in (("table5_bptt", "bptt"), ("table5_tptt", "tptt")):
        d = res.rows(exp, b)
        c = curriculum_max_T(d).get(task) if not d.empty else None
        if c is None:
            continue
        quoted = _paper_max_T(task, method)
        short.append((method.upper(), c["max_T"], quoted))
    if short:
        txt = "; ".join(f"{m} {_T(t)} (quoted by the paper: T = {q})" for m, t, q in short)
        fail = [s for s in short if (s[1] or 0) < (s[2] or 0)]
        ev.append(f"Baselines at the {b} budget: {txt}."
                  + (" The baselines fall short of their published lengths too: this budget "
                     "cannot separate the learning rules." if len(fail) == len(short) else ""))
    # Figure 4 at the paper's budget is one regularised configuration at T = 10
    f4, b4 = _load(res, "fig4", "paper")
    if not f4.empty and task in set(f4.task):
        d = f4[f4.task == task]
        r = d.iloc[0]
        res4 = (f"solves T = {r['T']} in {int(r.iterations):,} iterations" if d.solved.any() else
                f"does not solve T = {r['T']}: best {_pct(d.best_accuracy.max() * 100)} after "
                f"{int(d.iterations.max()):,} iterations")
        ev.append(f"At the paper's budget, the {NAMES['fig4']} (regularised, one configuration: "
                  f"α = {r.alpha:g}, γ = {r.gamma:g}, K = {r.K:g}, λ = {r.lam:g}; one seed) "
                  f"{res4}.")
        budgets.append(b4)
    Tc = mr if mr is not None else 10
    rr = reg[(reg.task == task) & (reg["T"] == Tc)]
    control, cb = _controls(res, [(task, Tc, bool(rr.solved.any()),
                                   rr.best_accuracy.max() * 100)],
                            own=[(NAMES["table5_lra_reg"], reg)], reseeded=False) \
        if len(rr) else NO_CONTROL
    stale = _stale(plain, _current()) + _stale(reg, _current())
    return _record(part, tests, v, ev, budgets + cb, min(_seeds(plain), _seeds(reg)), 1, 1,
                   stale, control)


# ------------------------------------------------------------------------------ C9
def c9(res) -> list[Verdict]:
    tests = "the smallest λ gives the best accuracy, task by task"
    df, b = _load(res, "fig5")
    if df.empty or df.lam.nunique() < 2:
        return [_not_tested("C9", tests, "Figure 5 with more than one λ")]
    agree, cannot, per, paired, lacking, decided = [], [], [], [], [], 0
    for task, d in df.groupby("task"):
        s = d.groupby("lam").agg(acc=("best_accuracy", "max"), solved=("solved", "any"))
        score = np.where(s.solved, np.inf, s.acc * 100)     # solved beats any accuracy
        lo = score[0]
        rest = score[1:]
        # the smallest λ paired per seed with each other λ (lra.analysis.paired)
        pairs = [pair_methods(d[d.lam == s.index[0]], d[d.lam == lam], f"λ = {s.index[0]:g}",
                              f"λ = {lam:g}") for lam in s.index[1:]] \
            if d["T"].nunique() == 1 else []                # one cell per task in Figure 5
        paired += [p.sentence() for p in pairs if p.tested]
        lacking += [p.reason for p in pairs if p.missing]
        if pairs and all(p.missing is None for p in pairs):  # paired multi-seed tests decide
            decided += 1
            if all(p.a_better_everywhere for p in pairs):
                agree.append(task)
            elif not any(p.a_better_everywhere or p.b_better_everywhere for p in pairs):
                cannot.append(task)
        elif (s.solved.all()) or np.all(np.abs(rest - lo) < TOL):
            cannot.append(task)
        elif np.all(lo > rest) and np.all((lo - rest) >= TOL):
            agree.append(task)
        per.append(f"{_task(task)} (T = {int(d['T'].iloc[0])}): " + ", ".join(
            f"λ = {l:g} {_res(sv, a * 100)}" for l, sv, a in zip(s.index, s.solved, s.acc)))
    n = len(per)
    verdict = "reproduced" if len(agree) == n else ("partly" if agree else "not reproduced")
    by = (f"by {TOL:g} {_pts(TOL)} or more" if not decided else
          f"better than every other λ in every paired seed at p < 0.05, or, without a paired "
          f"test, by {TOL:g} {_pts(TOL)} or more")
    ev = [f"The smallest λ is best ({by}) in {len(agree)} of {n} tasks "
          f"({NAMES['fig5']}, {_runs(df, b)})."] + [p + "." for p in per] + paired
    if lacking:
        ev.append(f"No paired multi-seed test in {_count(len(lacking), 'comparison')} of the "
                  "smallest λ with another: " + "; ".join(sorted(set(lacking))) + ".")
    if cannot:
        ev.append("Cannot separate the values of λ (differences below the tolerance, all "
                  "solved, or no paired seed significant): " + ", ".join(_task(t) for t in cannot)
                  + ".")
    unpaired = [f"no paired multi-seed test in {_count(len(lacking), 'comparison')} of λ values "
                f"({'; '.join(sorted(set(lacking)))})"] if lacking else []
    g = EXPERIMENTS["fig5"]
    needed = len(g.tasks) * len(g.grid["lam"])
    return [_record("C9", tests, verdict, ev, [b], _seeds(df), df.groupby(["task", "lam"]).ngroups,
                    needed, _stale(df, _current()), unpaired=unpaired)]


# ------------------------------------------------------------------------------ C10
def _agree(sa, aa, sb, ab):
    return (sa and sb) or (sa == sb and abs(aa - ab) < TOL)


def c10(res) -> list[Verdict]:
    return [_c10_ours(res), _c10_paper(res)]


def _c10_ours(res):
    tests = "K = 1 with a tuned γ matches our runs with K > 1 (same code, same budget)"
    k1, b = _load(res, "conjecture_k1")
    if k1.empty:
        return _not_tested("C10a", tests, "the K = 1 grid")
    t1 = res.rows("table1", b)
    t1 = t1[t1.K > 1] if not t1.empty else t1
    keys = ["task", "T"]
    m = best_per_cell(k1, keys).merge(best_per_cell(t1, keys), on=keys,
                                      suffixes=("_k1", "_k")) if not t1.empty else pd.DataFrame()
    if m.empty:
        return _not_tested("C10a", tests, f"Table I runs with K > 1 at the {b} budget in the "
                                          "cells of the K = 1 grid")
    same = [_agree(r.solved_k1, r.accuracy_k1, r.solved_k, r.accuracy_k) for r in m.itertuples()]
    n, k = len(m), sum(same)
    verdict = "reproduced" if k == n else ("partly" if k else "not reproduced")
    ev = [f"K = 1 (γ ∈ {_set(k1.gamma)}) agrees with K ∈ {_set(t1.K)} (Table I) in {k} of {n} "
          f"cells ({b} budget, {_per_config(_seeds(k1))})."]
    ev.append("Cells: " + "; ".join(
        f"{_task(r.task)} T = {r.T}: {_res(r.solved_k1, r.accuracy_k1)} vs "
        f"{_res(r.solved_k, r.accuracy_k)}" for r in m.itertuples()) + ".")
    ev.extend(_gamma_note(k1))
    control, cb = _controls(res, [(r.task, r.T, r.solved_k1, r.accuracy_k1)
                                  for r in m.itertuples()],
                            own=[(NAMES["conjecture_k1"], k1)], reseeded=False)
    stale = _stale(k1, _current()) + _stale(t1, _current())
    needed = len(EXPERIMENTS["conjecture_k1"].tasks) * len(EXPERIMENTS["conjecture_k1"].lengths)
    return _record("C10a", tests, verdict, ev, [b] + cb, _seeds(k1), n, needed, stale, control)


def _gamma_note(k1):
    """Whether the choice of γ mattered at K = 1 in the cells run."""
    by = k1.groupby(["task", "T", "gamma"]).agg(s=("solved", "any"), a=("best_accuracy", "max"))
    flat = 0
    cells = by.groupby(level=[0, 1])
    for _, g in cells:
        flat += g.s.all() or (g.s.nunique() == 1 and (g.a.max() - g.a.min()) * 100 < TOL)
    if k1.gamma.nunique() < 2:
        return [f"Only γ = {_set(k1.gamma)[1:-1]} was run: the tuning of γ is not tested."]
    return [f"Every γ gives the same result (within {TOL:g} {_pts(TOL)}, or all solved) in {flat} of "
            f"{cells.ngroups} cells" + (": the tuning of γ is not shown to matter there."
                                        if flat == cells.ngroups else ".")]


def _c10_paper(res):
    tests = ("K = 1 with a tuned γ does at least as well as the paper's published "
             f"K ∈ {_set(published('table1').K)}")
    k1, b = _load(res, "conjecture_k1")
    if k1.empty:
        return _not_tested("C10b", tests, "the K = 1 grid")
    pub = published("table1")
    pub = pub.assign(acc=pub.accuracy.fillna(100.0)).groupby(["task", "T"]).agg(
        solved=("solved", "any"), acc=("acc", "max")).reset_index()
    m = best_per_cell(k1, ["task", "T"]).merge(pub, on=["task", "T"])
    if m.empty:
        return _not_tested("C10b", tests, "K = 1 runs in the cells of the paper's Table I")
    ok = [(s or not ps) and (s or a >= pa - TOL)
          for s, a, ps, pa in zip(m.solved_x, m.accuracy, m.solved_y, m.acc)]
    n, k = len(m), sum(ok)
    verdict = "reproduced" if k == n else ("partly" if k else "not reproduced")
    ev = [f"K = 1 (γ ∈ {_set(k1.gamma)}) does at least as well as the paper's best over "
          f"K ∈ {_set(published('table1').K)} in {k} of {n} cells ({b} budget, "
          f"{_per_config(_seeds(k1))})."]
    ev.append("Cells: " + "; ".join(
        f"{_task(r.task)} T = {r.T}: {_res(r.solved_x, r.accuracy)} vs paper "
        f"{'solved' if r.solved_y else _pct(r.acc)}" for r in m.itertuples()) + ".")
    control, cb = _controls(res, [(r.task, r.T, r.solved_x, r.accuracy) for r in m.itertuples()],
                            own=[(NAMES["conjecture_k1"], k1)], reseeded=False)
    needed = len(EXPERIMENTS["conjecture_k1"].tasks) * len(EXPERIMENTS["conjecture_k1"].lengths)
    return _record("C10b", tests, verdict, ev, [b] + cb, _seeds(k1), n, needed,
                   _stale(k1, _current()), control)


# ------------------------------------------------------------------------------ all of them
CHECKS = (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)


def verdicts(results=None) -> list[Verdict]:
    """Every claim's parts, in the paper's order."""
    res = as_source(results)
    return [v for check in CHECKS for v in check(res)]


def all_verdicts(results=None) -> pd.DataFrame:
    """One row per claim part (the records as a table)."""
    return pd.DataFrame([v.as_dict() for v in verdicts(results)])


def summary(results=None) -> list[dict]:
    """Per claim part, for a findings page: claim, verdict, strength, one-line evidence."""
    return [dict(claim=v.part, statement=v.quote, tests=v.tests, verdict=v.verdict,
                 strength=v.strength, evidence=v.headline, control=v.control_summary)
            for v in verdicts(results)]


def budgets_used(vs: list[Verdict]) -> str:
    """Which budget each verdict rests on, with what the budget is (markdown)."""
    by = {}
    for v in vs:
        for b in v.budgets:
            by.setdefault(b, []).append(v.part)
    if not by:
        return "Budgets used: none (no stored results)."
    lines = [f"* **{b}** ({BUDGETS[b].description if b in BUDGETS else b}): "
             f"{', '.join(parts)}" for b, parts in
             sorted(by.items(), key=lambda kv: (kv[0] != "paper", kv[0]))]
    return "Budgets used, and the verdicts that rest on each:\n\n" + "\n".join(lines)


# ------------------------------------------------------------------------------ display
def verdict_table(vs: list[Verdict]) -> pd.DataFrame:
    """The reader-facing table: claim part | evidence (one line) | verdict | strength."""
    return pd.DataFrame([{"Claim": f"{v.part}: {v.tests}",
                          "Evidence": " ".join(x for x in (v.headline, v.control_summary) if x),
                          "Verdict": v.verdict, "Strength": v.strength} for v in vs])


def claim_markdown(vs: list[Verdict], claim: str) -> str:
    """One claim's section: the paper's words, then each part's verdict, evidence and control."""
    out = [f"> {CLAIMS[claim]}", ""]
    for v in (v for v in vs if v.claim == claim):
        why = f" ({'; '.join(v.why_indicative)})" if v.why_indicative else ""
        out += [f"**{v.part}: {v.tests}** — *{v.verdict}*, {v.strength}{why}.", ""]
        out += [f"* {e}" for e in v.evidence]
        if v.controls:
            out += ["", "Readout-only control:", ""] + [f"* {c}" for c in v.controls]
        out.append("")
    return "\n".join(out)
