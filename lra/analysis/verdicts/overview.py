"""Every claim C1-C10 in the paper's order, and the tables and sections of the book chapter
"Verdicts" (and the findings page's summary) built from their records.
"""
from __future__ import annotations

import re

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
    """Which budget each verdict's own rows were run at, with what the budget is (markdown). A
    part listed under a budget has rows of the claim's own comparison there; a budget reached only
    through its readout-only or positive control is named as such, so that a part whose own rows
    are smoke-only is never listed under "paper"."""
    own, ctl = {}, {}
    for v in vs:
        for b in v.own_budgets:
            own.setdefault(b, []).append(v.part)
        for b in set(v.budgets) - set(v.own_budgets):
            ctl.setdefault(b, []).append(v.part)
    if not own:
        return "Budgets used: none (no stored results)."
    key = lambda kv: (kv[0] != "paper", kv[0])          # noqa: E731
    lines = [f"* **{b}** ({BUDGETS[b].description if b in BUDGETS else b}): "
             f"{', '.join(parts)}" for b, parts in sorted(own.items(), key=key)]
    lines += [f"* **{b}**, for the readout-only control only: {', '.join(parts)}"
              for b, parts in sorted(ctl.items(), key=key)]
    return ("Budgets used: the verdicts whose own runs were run at each (a part may use "
            "several):\n\n" + "\n".join(lines))


# ------------------------------------------------------------------------------ display
def verdict_table(vs: list[Verdict]) -> pd.DataFrame:
    """The reader-facing table: claim part | evidence (one line) | verdict | strength."""
    return pd.DataFrame([{"Claim": f"{v.part}: {v.tests}",
                          "Evidence": " ".join(x for x in (v.headline, v.control_summary) if x),
                          "Verdict": v.verdict, "Why this verdict": v.rule,
                          "Strength": v.strength + (f" ({v.why_line})" if v.why_line else "")}
                         for v in vs])


def _conclusion(text: str) -> str:
    """The last sentence of a computed paragraph (where its conclusion stands), or "" when the
    paragraph is one sentence."""
    parts = re.split(r"(?<=[.)])\s+(?=[A-Z])", text.strip())
    return parts[-1] if len(parts) > 1 else ""


def _once(text: str, part: str, shown: dict | None) -> str:
    """``text`` the first time the page shows it; afterwards its conclusion and a pointer to the
    part that showed it in full (several parts rest on one control comparison, whose paragraph
    names the cell, the control and the runs compared: the page writes it out once)."""
    if shown is None:
        return text
    if text not in shown:
        shown[text] = part
        return text
    last, where = _conclusion(text), f"shown in full under {shown[text]} above"
    return f"{last[:-1]} ({where})." if last.endswith(".") else f"{where[0].upper()}{where[1:]}."


def claim_markdown(vs: list[Verdict], claim: str, shown: dict | None = None) -> str:
    """One claim's section: the paper's words, then each part's verdict, evidence and control.

    ``shown``: one dict for the whole page (the control paragraphs already shown, and where); a
    control comparison shared by several parts is then written out once and pointed to
    afterwards."""
    out = [f"> {CLAIMS[claim]}", ""]
    for v in (v for v in vs if v.claim == claim):
        why = f" ({v.why_line})" if v.why_line else ""
        out += [f"**{v.part}: {v.tests}** — *{v.verdict}*, {v.strength}{why}.", "",
                f"Why this verdict: {v.rule}.", ""]
        # (evidence lines are not shortened: two parts' identical lines may describe different
        # comparisons, e.g. "97.60 % vs 97.60 %" for two different pairs of variants)
        out += [f"* {e}" for e in v.evidence]
        if v.controls:
            out += ["", "Readout-only control:", ""] + [f"* {_once(c, v.part, shown)}"
                                                        for c in v.controls]
        out.append("")
    return "\n".join(out)
