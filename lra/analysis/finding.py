"""One finding of the findings page (chapter "Findings") and what the findings share: a
:class:`Finding` is a sentence computed from stored results, with the chapter section that shows
its evidence and the budgets it was computed at (:mod:`lra.analysis.findings` gathers them;
:mod:`lra.analysis.plan_findings` holds those of the evidence plan's runs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lra.campaign.store import ResultsStore, solved_flags


@dataclass
class Finding:
    """One sentence for the findings page: ``text`` (Markdown), the chapter (``doc``) that shows
    the evidence, and the budgets the evidence was computed at."""
    text: str
    doc: str
    budgets: tuple[str, ...]
    anchor: str = ""          # the label of the section of ``doc`` that shows the evidence

    @property
    def headline(self) -> str:
        """The finding's first, bold sentence, without the detail."""
        m = re.match(r"\*\*(.+?)\*\*", self.text)
        return m.group(1) if m else self.text

    def link(self, text: str = "") -> str:
        """A link to the section that shows the evidence (the chapter where it has no label);
        without ``text``, titled by the section's (or chapter's) own heading."""
        target = self.anchor or self.doc
        role = "ref" if self.anchor else "doc"
        return f"{{{role}}}`{text} <{target}>`" if text else f"{{{role}}}`{target}`"

    def markdown(self) -> str:
        budgets = ", ".join(self.budgets)
        return f"{self.text} *(budget: {budgets}; see {self.link()})*"


def _solved(df: pd.DataFrame) -> pd.Series:
    return solved_flags(df["solved"])


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def _per_seed_solved(df: pd.DataFrame, task: str, T: int, algorithm: str | None = None):
    """(seeds solved, seeds) of a cell, each seed solved if any of its runs is (a readout-only
    seed: any of its learning rates), or None where the cell has no rows."""
    d = df[(df.task == task) & (df["T"] == T)] if not df.empty else df
    if algorithm is not None and not d.empty:
        d = d[d.algorithm == algorithm]
    if d.empty:
        return None
    s = d.assign(ok=_solved(d)).groupby("seed").ok.any()
    return int(s.sum()), len(s)


def _paired_control(store: ResultsStore, task: str, T: int):
    """The paired multi-seed test of unmodified RNN-LRA-diff against the readout-only control at
    (task, T), with the runs the verdicts use (:func:`lra.analysis.verdicts.control_pair`: the most
    shared seeds, the paper's budget first); None where no run shares a budget and a seed."""
    from lra.analysis.verdicts import StoredResults, control_pair
    return control_pair(StoredResults(store), task, T)
