"""The landing page's first screen: "do the paper's claims hold?" in three sentences, each
computed from the stored results (never typed), each stating its budget and linking to the
section of the book that shows its evidence.

:func:`answer` returns the three :class:`Sentence` objects; :func:`first_screen` the Markdown the
landing page prints. Every function takes a :class:`lra.campaign.store.ResultsStore` (tests hand
it one filled with made-up rows), and the wording follows the numbers: change a row and the
sentence changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lra.analysis.budgets import AGREE_POINTS
from lra.analysis.findings import _lra_rows, _pct, _solved
from lra.analysis.labels import TASK_LABELS
from lra.analysis.report import load, published
from lra.campaign.store import ResultsStore

# the sections (MyST labels) that show each sentence's evidence
RIVALS_ANCHOR = "rsv-rivals"        # chapter Reservoir: what the paper's ~51 % is consistent with
READOUT_ANCHOR = "lra-readout"      # chapter RNN-LRA-diff: the readout-only control
VERDICTS_ANCHOR = "vrd-all"         # chapter Verdicts: every claim part's verdict
CSS_CLASS = "lra-answer"            # the browser test finds the sentences by it


@dataclass
class Sentence:
    """One sentence of the answer: Markdown text, the label of the section that shows it, the
    budgets of the rows it was computed from."""
    text: str
    anchor: str
    budgets: tuple[str, ...]

    def markdown(self) -> str:
        return f"{self.text} ({{ref}}`evidence <{self.anchor}>`)"


def _budgets(bs) -> str:
    bs = sorted(set(bs), key=lambda b: (b != "paper", b))
    return (" and ".join(bs) + " budget" + ("s" if len(bs) > 1 else "")) if bs else "no budget"


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f} %" if lo == hi else f"{lo:.2f}–{hi:.2f} %"


def rivals_sentence(store: ResultsStore, cells: pd.DataFrame | None = None) -> Sentence:
    """What the paper's random-permutation cells are consistent with
    (:mod:`lra.analysis.rivals`, on the released script's own validation stream) and what our
    runs of Algorithm 1 reach at T = 10. ``cells``: :func:`lra.analysis.rivals.predictions`
    (computed when None)."""
    from lra.analysis import rivals
    df = rivals.predictions() if cells is None else cells
    co = rivals.coincidences(df)
    hits, n = co["hits"], len(df)
    head = ("The paper's ~51 % on random permutation "
            + ("is consistent with" if co["consistent"] else "does not single out")
            + " a network that answers one class:")
    text = (f"{head} {hits or 'none'} of its {n} cells equal{'s' if hits == 1 else ''} exactly "
            f"class 0's share of the released script's validation stream")
    found = _lra_rows(store, "random_permutation", 10)
    budgets: tuple[str, ...] = ()
    if found:
        best = max(d.best_accuracy.max() for _, _, d in found)
        solved = sum(int(_solved(d).sum()) for _, _, d in found)
        runs = sum(len(d) for _, _, d in found)
        budgets = tuple(sorted({b for _, b, _ in found}))
        text += (f"; our runs reach {_pct(best)} at T = 10, {solved or 'none'} of {runs} "
                 f"solved ({_budgets(budgets)}).")
    else:
        text += "; none of our RNN-LRA-diff runs on it is stored yet."
    return Sentence(text, RIVALS_ANCHOR, budgets)


def _cells_paper_fails() -> pd.DataFrame:
    """Table I's cells (task, T) where no K solves, by the paper: its accuracy range there."""
    pub = published("table1")
    g = pub.assign(ok=pub.solved.astype(bool)).groupby(["task", "T"])
    out = g.agg(ok=("ok", "any"), lo=("accuracy", "min"), hi=("accuracy", "max")).reset_index()
    return out[~out.ok]


def readout_sentence(store: ResultsStore) -> Sentence:
    """On the cells where the paper says RNN-LRA-diff fails (Table I, no K solves), what training
    only the readout of the same frozen network reaches (experiment ``readout_only``), against
    the paper's numbers there."""
    ro, b = load("readout_only", store=store)
    rows = []
    for c in _cells_paper_fails().itertuples():
        r = ro[(ro.task == c.task) & (ro["T"] == c.T)] if not ro.empty else ro
        if r.empty:
            continue
        per_seed = r.assign(ok=_solved(r)).groupby("seed").agg(acc=("best_accuracy", "max"),
                                                               ok=("ok", "any"))
        rows.append(dict(task=c.task, T=c.T, lo=c.lo, hi=c.hi, acc=100 * per_seed.acc.mean(),
                         seeds=len(per_seed), ok=int(per_seed.ok.sum())))
    if not rows:
        return Sentence("No readout-only control is stored yet for the cells where the paper "
                        "says the learning rule fails.", READOUT_ANCHOR, ())
    d = pd.DataFrame(rows)
    where = "; ".join(f"{TASK_LABELS[t].lower()} at T = "
                      f"{', '.join(str(T) for T in sorted(g['T']))}"
                      for t, g in d.groupby("task", sort=False))
    above = d.acc > d.hi + AGREE_POINTS
    below = d.acc < d.lo - AGREE_POINTS
    seeds = int(d.seeds.min())
    text = (f"Where the paper says the rule fails ({where}), training only the readout of the "
            f"frozen network reaches {_span(d.acc)} (mean of {seeds} seed"
            f"{'s' if seeds != 1 else ''}, {b} budget) against the paper's "
            f"{_span(list(d.lo) + list(d.hi))}")
    if above.all():
        text += ": those cells can neither credit nor blame the learning rule."
    elif below.all():
        text += ": there the learning rule does better than a frozen network."
    elif not (above | below).any():
        text += ": there the learning rule adds nothing a frozen network lacks."
    else:
        text += (f": above the paper's number in {int(above.sum())} of {len(d)} cells, so "
                 f"those cells can neither credit nor blame the learning rule.")
    return Sentence(text, READOUT_ANCHOR, (b,))


def verdicts_sentence(store: ResultsStore) -> Sentence:
    """How many claim parts are reproduced, partly, not reproduced, inconclusive, not tested
    (:mod:`lra.analysis.verdicts`), at which budgets, and how strong."""
    from lra.analysis import verdicts as V
    vs = V.verdicts(V.StoredResults(store))
    counts = pd.Series([v.verdict for v in vs]).value_counts()
    said = [f"{int(counts[k])} {k.removesuffix(' at this budget')}" for k in V.VERDICTS
            if k in counts]
    budgets = tuple(sorted({b for v in vs for b in v.own_budgets}))
    tested = [v for v in vs if v.strength != "—"]
    sup = sum(v.strength == "supported" for v in tested)
    text = (f"Of {len(vs)} claim parts, " + ", ".join(said[:-1])
            + (" and " if len(said) > 1 else "") + said[-1]
            + (f" ({_budgets(budgets)})" if budgets else " (no stored runs)"))
    if not tested:
        text += "."
    elif sup == len(tested):
        text += f"; all {len(tested)} tested are supported at the paper's protocol."
    else:
        weak = [v for v in tested if v.strength != "supported"]
        head = (f"all {len(tested)} tested are only indicative" if sup == 0 else
                f"{sup} of the {len(tested)} tested are supported, the other {len(weak)} only "
                "indicative")
        text += f"; {head} ({_why_indicative(weak)})."
    return Sentence(text, VERDICTS_ANCHOR, budgets)


# Why a verdict is indicative, by its first reason (lra.analysis.verdicts.vocabulary._strength
# lists the budget first, then the seeds, then the cells): the words the sentence counts them by.
WHY_GROUPS = (("budget, not the paper's protocol", "the smoke budget"),
              ("so no spread", "one seed"), ("fewer than", "fewer than five seeds"),
              ("of the paper's", "part of the cells"),
              ("one configuration", "one configuration"),
              ("computed by other code", "older code"),
              ("no paired", "no paired test"))


def _why_indicative(weak) -> str:
    """'6 for the smoke budget, 4 for one seed, …': the indicative verdicts counted by their
    first reason (one group each)."""
    counts: dict[str, int] = {}
    for v in weak:
        first = v.why_indicative[0] if v.why_indicative else ""
        group = next((words for key, words in WHY_GROUPS if key in first), "other limits")
        counts[group] = counts.get(group, 0) + 1
    order = [w for _, w in WHY_GROUPS] + ["other limits"]
    return ", ".join(f"{counts[w]} for {w}" for w in order if w in counts)


def answer(store: ResultsStore | None = None, cells: pd.DataFrame | None = None
           ) -> list[Sentence]:
    """The three sentences, in order: the paper's ~51 %, the readout-only control, the
    verdicts."""
    store = store or ResultsStore()
    return [rivals_sentence(store, cells), readout_sentence(store), verdicts_sentence(store)]


def first_screen(store: ResultsStore | None = None, cells: pd.DataFrame | None = None) -> str:
    """The landing page's answer to "do the paper's claims hold?" (the question ends the
    abstract above it) as a numbered list in a container of class :data:`CSS_CLASS`."""
    items = "\n".join(f"{i}. {s.markdown()}" for i, s in enumerate(answer(store, cells), 1))
    return f":::{{container}} {CSS_CLASS}\n{items}\n:::"
