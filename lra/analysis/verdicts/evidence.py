"""Where every verdict's rows come from (book chapter "Verdicts"; used by every claim C1-C10).

The results come from a *source* with two methods, ``rows(experiment, budget)`` and
``probes(experiment, budget, key)``: :class:`StoredResults` reads ``results/``; tests pass
:class:`FrameResults` built from hand-made tables with the columns of ``runs.csv``. A verdict
reads the paper's budget where stored, else smoke (:data:`BUDGET_ORDER`).
"""
from __future__ import annotations

import pandas as pd

from lra.analysis.labels import TASK_LABELS
from lra.campaign.store import ResultsStore, solved_flags

BUDGET_ORDER = ("paper", "smoke")   # the paper's budget where stored, else smoke


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


# ------------------------------------------------------------------------------ positive control
# BPTT, the positive control of a part about failing at a length (lra.analysis.verdicts.vocabulary
# .decide): its curriculum (Table V), the reservoir chapter's BPTT runs and the evidence plan's
# BPTT at T = 20 and on random permutation at T = 10 (paper protocol, five seeds).
POSITIVE_SOURCES = ("table5_bptt", "reservoir", "ev_t20_bptt", "ev_t10_bptt")


def positive_control(res, task: str, T: int, budget: str | None) -> tuple[bool | None, str]:
    """Whether BPTT solves (task, T) at ``budget`` in some stored run (None: no BPTT run of that
    cell at that budget), and the sentence that says so. A BPTT curriculum that stopped before T
    counts as failing at T (its last stage was not solved)."""
    runs, solved, reached = 0, 0, []
    for e in POSITIVE_SOURCES:
        d = res.rows(e, budget) if budget else pd.DataFrame()
        if d.empty:
            continue
        d = d[(d.task == task) & (d.algorithm == "bptt")] if "algorithm" in d else d[
            d.task == task]
        if d.empty:
            continue
        at = d[d["T"] == T]
        if e == "table5_bptt" and at.empty and d["T"].max() < T:
            reached.append(int(d["T"].max()))       # the curriculum never got to T
            runs += 1
            continue
        runs += at["seed"].nunique()
        solved += int(at.groupby("seed").solved.any().sum()) if not at.empty else 0
    label = TASK_LABELS.get(task, task)
    where = f"{label[0].lower() + label[1:]} at T = {T}"
    if not runs:
        return None, f"No BPTT run (the positive control) at {where} at the {budget} budget."
    said = (f"BPTT (the positive control) solves {where} in {solved} of {runs} "
            f"run{'s' if runs != 1 else ''} at the {budget} budget")
    if reached:
        said += (f" (one of them its curriculum, counted as failing: it stopped at "
                 f"T = {max(reached)} and never reached T = {T})")
    return solved > 0, said + "."
