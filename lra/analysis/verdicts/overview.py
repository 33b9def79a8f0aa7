"""Every claim C1-C10 in the paper's order, and the tables and sections of the book chapter
"Verdicts" (and the findings page's summary) built from their records.
"""
from __future__ import annotations

import pandas as pd

from lra.campaign.experiments import BUDGETS
from lra.analysis.verdicts.evidence import as_source
from lra.analysis.verdicts.gradients import c6, c7
from lra.analysis.verdicts.lengths import c1, c2
from lra.analysis.verdicts.regularisation import c8, c9, c10
from lra.analysis.verdicts.variants import c3, c4, c5
from lra.analysis.verdicts.vocabulary import CLAIMS, Verdict


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
