"""Paired multi-seed comparison of two methods from their stored rows (issue 10, point 5; book
chapter "Verdicts", section "How to read a verdict").

Two runs of the same (task, T, seed) at the same validation size share one validation set
(:func:`lra.tasks.validation_symbols`), and every stored row keeps which of its samples the run
got right at its best check (:mod:`lra.engine.predictions`, column ``best_correct``). So two methods can
be compared sample by sample, seed by seed: per seed, each method's *reported* run (the tables'
selection, :func:`lra.analysis.controls.pick_ours`: solved first, then the best accuracy), an exact
McNemar test between the two, and the seeds' spread of the accuracy difference
(:func:`lra.analysis.controls.paired_seeds`). A claim that one method is better needs *every* paired seed
to favour it at p < :data:`LEVEL`, not a threshold on one number.

:func:`pair_methods` refuses to pair, and says why, when the two methods share no seed, when a
row stores no per-sample predictions (rows computed before the column existed), when the two
sides' validation sets differ in size, or when the stored bits do not imply the row's best
accuracy. A refused or single-seed pairing is no paired multi-seed test (:attr:`Paired.missing`).

Each run is *selected* on its validation set (its best check), so comparing two runs sample by
sample on that same set favours whichever overfitted it. Every run since the held-out test set
existed also stores which test samples the network of its best check got right (column
``best_test_correct``): where both sides store them, the pairing uses the test set; where either
side does not (rows computed before it existed), it falls back to the validation bits and says
so, and that is no decisive paired test either (:attr:`Paired.missing`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from lra.analysis.controls import paired_seeds, pick_ours
from lra.engine.predictions import COLUMN, unpack
from lra.analysis.labels import TASK_LABELS

LEVEL = 0.05          # the McNemar level a seed must reach to count as favouring a method
MIN_PAIRED_SEEDS = 2  # one seed shows no spread: a paired *multi-seed* test needs two or more
# Why a pairing was refused, in words that hold for every cell (the sentence gives the detail).
REFUSALS = {"no shared seed": "the two sides share no seed",
            "no predictions": "the rows store no per-sample predictions",
            "sizes differ": "the validation sets differ in size",
            "bits disagree": "the stored predictions do not give the best accuracy"}
ONE_SEED = "one seed paired, so no spread over seeds"
# (no parentheses: it is quoted inside parentheses, as the reason of an indicative strength)
ON_VALIDATION = ("paired on the validation set that selected the runs, for want of stored "
                 "held-out test predictions")
TEST_COLUMN = "best_test_correct"


@dataclass
class Paired:
    """The paired comparison of method ``a`` with method ``b`` at one (task, T)."""
    a: str                      # the methods' names, as the sentence prints them
    b: str
    task: str
    T: int
    budget: str                 # the rows' budget(s), e.g. "paper" or "smoke and paper"
    seeds: list = field(default_factory=list)   # the seeds paired
    n: int | None = None        # validation samples per seed
    stats: dict | None = None   # lra.analysis.controls.paired_seeds' result, None when refused
    refused: str | None = None  # why no paired test was possible (detail)
    refusal: str | None = None  # the kind of refusal, a key of REFUSALS
    level: float = LEVEL
    sample_set: str = "validation"   # the held-out set the bits come from: "test" or "validation"

    @property
    def tested(self) -> bool:
        return self.stats is not None

    @property
    def a_better_everywhere(self) -> bool:
        """Every paired seed favours ``a`` at p < level (False when nothing was paired)."""
        return self.tested and self.stats["a_better"] == self.stats["seeds"]

    @property
    def b_better_everywhere(self) -> bool:
        return self.tested and self.stats["b_better"] == self.stats["seeds"]

    @property
    def no_seed_differs(self) -> bool:
        return self.tested and self.stats["a_better"] == self.stats["b_better"] == 0

    @property
    def missing(self) -> str | None:
        """Why this is no paired multi-seed test (None when it is one)."""
        if not self.tested:
            return f"no paired test: {REFUSALS[self.refusal]}"
        if len(self.seeds) < MIN_PAIRED_SEEDS:
            return ONE_SEED
        if self.sample_set != "test":
            return ON_VALIDATION
        return None

    @property
    def reason(self) -> str | None:
        """:attr:`missing` without its "no paired test: " (for lists of several comparisons)."""
        m = self.missing
        return None if m is None else m.removeprefix("no paired test: ")

    def conclusion(self) -> str:
        """The direction the seeds show, in words."""
        s = self.stats
        k = s["seeds"]
        if self.a_better_everywhere:
            return f"{self.a} is better in every paired seed ({k} of {k})"
        if self.b_better_everywhere:
            return f"{self.b} is better in every paired seed ({k} of {k})"
        if self.no_seed_differs:
            return f"no seed shows a difference at p < {self.level:g}"
        if s["a_better"] and s["b_better"]:
            return "the seeds disagree"
        return (f"only {s['a_better'] + s['b_better']} of {k} seeds show a difference at "
                f"p < {self.level:g}")

    def sentence(self) -> str:
        """The evidence sentence: seeds paired; in how many seeds ``a`` is better and worse at
        p < level (exact McNemar); the accuracy difference's mean and range over seeds in points;
        the largest p; the budget. Or, refused, why no paired test was possible."""
        where = f"{_label(self.task)} at T = {self.T}, {self.budget} budget"
        if not self.tested:
            return f"No paired test, {where}, of {self.a} and {self.b}: {self.refused}."
        s = self.stats
        k = s["seeds"]
        seeds = ", ".join(str(x) for x in self.seeds)
        n = f"{self.n:,}" if self.n else "its seed's"
        on = ("held-out test samples" if self.sample_set == "test" else
              "validation samples (the set that selected the runs)")
        return (f"Paired test, {where}, {n} {on} per seed, exact McNemar per "
                f"seed: {self.a} against {self.b} on {k} seed{'s' if k != 1 else ''} ({seeds}): "
                f"{self.a} is better in {s['a_better']} of {k} and worse in {s['b_better']} of "
                f"{k} at p < {self.level:g}; accuracy difference (the first minus the second) "
                f"{100 * s['diff_mean']:+.2f} "
                f"points on average ({100 * s['diff_min']:+.2f} to {100 * s['diff_max']:+.2f} "
                f"over seeds); largest p {s['max_p']:.2g}: {self.conclusion()}.")


def _label(task: str) -> str:
    label = TASK_LABELS.get(task, str(task).replace("_", " "))
    return label[0].lower() + label[1:]


def reported_per_seed(rows: pd.DataFrame) -> dict:
    """{seed: the reported run (pick_ours) among that seed's rows}."""
    return {int(s): pick_ours(g) for s, g in rows.groupby("seed", sort=True)}


def _one(rows: pd.DataFrame, col: str, side: str):
    values = rows[col].unique()
    if len(values) != 1:
        raise ValueError(f"{side}: rows of one ({col}) expected, got {sorted(values)}")
    return values[0]


def pair_methods(rows_a: pd.DataFrame, rows_b: pd.DataFrame, a: str = "A", b: str = "B",
                 level: float = LEVEL) -> Paired:
    """Pair two methods' rows of one (task, T): per seed both have, each side's reported run
    and its stored ``best_correct``; McNemar per seed and the seeds' spread
    (:func:`lra.analysis.controls.paired_seeds`). Refuses (``refused`` says why) when the sides share no
    seed, when a reported run stores no predictions, when the validation sets differ in size, or
    when a run's bits do not give its best accuracy. Raises ValueError when either side mixes
    tasks or lengths, or the two sides are of different cells (a caller's error)."""
    if rows_a.empty or rows_b.empty:
        raise ValueError("pair_methods needs rows of both methods")
    if a == b:
        raise ValueError(f"the two methods need different names, got {a!r} twice")
    task, T = _one(rows_a, "task", a), int(_one(rows_a, "T", a))
    if _one(rows_b, "task", b) != task or int(_one(rows_b, "T", b)) != T:
        raise ValueError(f"{a} and {b} are rows of different cells")
    budgets = sorted({str(x) for x in pd.concat([rows_a["budget"], rows_b["budget"]])},
                     key=lambda x: (x != "paper", x))
    out = Paired(a, b, task, T, " and ".join(budgets), level=level)
    picks = {a: reported_per_seed(rows_a), b: reported_per_seed(rows_b)}
    shared = sorted(set(picks[a]) & set(picks[b]))
    if not shared:
        out.refusal = "no shared seed"
        out.refused = (f"no seed was run by both ({a}: seeds {sorted(picks[a])}; {b}: seeds "
                       f"{sorted(picks[b])})")
        return out
    # the held-out test set where every reported run on both sides stores it
    on_test = all(unpack(picks[m][s].get(TEST_COLUMN)) is not None
                  and unpack(picks[m][s].get(TEST_COLUMN)).size for m in (a, b) for s in shared)
    column, accuracy = ((TEST_COLUMN, "best_test_accuracy") if on_test
                        else (COLUMN, "best_accuracy"))
    out.sample_set = "test" if on_test else "validation"
    bits = {m: {s: unpack(picks[m][s].get(column)) for s in shared} for m in (a, b)}
    lacking = {m: [s for s in shared if bits[m][s] is None] for m in (a, b)}
    if any(lacking.values()):
        out.refusal = "no predictions"
        if all(len(v) == len(shared) for v in lacking.values()):
            out.refused = ("neither side's rows store per-sample predictions (column best_correct; "
                           "rows computed before it existed have none)")
        else:
            out.refused = ("the rows store no per-sample predictions (column best_correct) for "
                           + " and ".join(f"{m} at seed{'s' if len(v) > 1 else ''} "
                                          + ", ".join(map(str, v))
                                          for m, v in lacking.items() if v))
        return out
    for s in shared:
        if bits[a][s].size != bits[b][s].size:
            out.refusal = "sizes differ"
            out.refused = (f"the validation sets differ: {a} has {bits[a][s].size:,} samples and "
                           f"{b} {bits[b][s].size:,} at seed {s}, so the samples cannot be paired")
            return out
    for m in (a, b):
        for s in shared:
            v, acc = bits[m][s], float(picks[m][s][accuracy])
            if v.size == 0 or abs(v.mean() - acc) > 0.5 / v.size:
                out.refusal = "bits disagree"
                out.refused = (f"the stored predictions of {m} at seed {s} give "
                               f"{100 * v.mean() if v.size else 0:.2f} % but its best "
                               f"{'test ' if on_test else ''}accuracy is {100 * acc:.2f} %")
                return out
    stats = paired_seeds({"a": bits[a], "b": bits[b]}, "a", "b", level)
    sizes = {v.size for v in bits[a].values()}
    out.seeds, out.stats = shared, stats
    out.n = sizes.pop() if len(sizes) == 1 else None
    return out


def frame(pairs: list[Paired]) -> pd.DataFrame:
    """One reader-facing row per paired comparison (differences in points, first minus second)."""
    rows = []
    for p in pairs:
        s = p.stats
        k = s["seeds"] if s else 0
        rows.append({
            "task": p.task, "T": p.T, "budget": p.budget, "compared": f"{p.a} − {p.b}",
            "seeds paired": ", ".join(map(str, p.seeds)) if s else "—",
            "samples per seed": (f"{p.n:,} ({'test' if p.sample_set == 'test' else 'validation'})"
                                 if s and p.n else "—"),
            f"first better (p < {p.level:g})": f"{s['a_better']}/{k}" if s else "—",
            f"second better (p < {p.level:g})": f"{s['b_better']}/{k}" if s else "—",
            "difference, points: mean (range)":
                f"{100 * s['diff_mean']:+.2f} ({100 * s['diff_min']:+.2f} to "
                f"{100 * s['diff_max']:+.2f})" if s else "—",
            "largest p": f"{s['max_p']:.2g}" if s else "—",
            "reading": (p.conclusion() + ("" if p.missing is None else f" ({p.missing})"))
                       if s else p.missing})
    return pd.DataFrame(rows)


def pair_cells(rows: pd.DataFrame, pairs, names: dict | None = None) -> list[Paired]:
    """The paired test of every pair of algorithms (``pairs``: (a, b) values of the ``algorithm``
    column) at every (task, T) of ``rows`` where both ran, by :func:`pair_methods`: the one
    paired test of the book (each seed's reported run at its best check; the held-out test set
    where both sides store it, else the validation set, said so). ``names``: how to print an
    algorithm. For chapters whose runs hold several methods in one experiment (the reservoir
    chapter); the verdicts and chapter "RNN-LRA-diff" pair through the same function."""
    names = names or {}
    out = []
    for (task, T), cell in rows.groupby(["task", "T"], sort=True):
        for a, b in pairs:
            ra, rb = cell[cell.algorithm == a], cell[cell.algorithm == b]
            if not ra.empty and not rb.empty:
                out.append(pair_methods(ra, rb, names.get(a, a), names.get(b, b)))
    return out
