"""Each claim part's verdict without and with the evidence plan's rows (issue 21's closing table).

    python tools/plan_before_after.py            # Markdown table on stdout

"Without" hides every experiment of the plan (:func:`lra.campaign.evidence.campaign_experiments`:
the ``ev_*`` experiments) from the verdicts, so it is what the stored rows said before the plan
ran; "with" is the verdict the book shows now. Both are computed from ``results/``, never typed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lra.analysis.verdicts import StoredResults, verdicts  # noqa: E402
from lra.campaign.evidence import campaign_experiments  # noqa: E402

PLAN = {name for name, _ in campaign_experiments()} - {"fig2", "fig3", "fig3_dh", "fig4"}


class WithoutPlan(StoredResults):
    """The stored results with the plan's experiments hidden."""

    def rows(self, experiment: str, budget: str) -> pd.DataFrame:
        if experiment in PLAN:
            return pd.DataFrame()
        return super().rows(experiment, budget)


def _cell(v) -> str:
    return f"{v.verdict}; {v.strength}"


def table() -> str:
    before = {v.part: v for v in verdicts(WithoutPlan())}
    lines = ["| part | verdict without the plan's rows | verdict with them | evidence (with) |",
             "|---|---|---|---|"]
    for v in verdicts(StoredResults()):
        b = before[v.part]
        lines.append(f"| {v.part} | {_cell(b)} | {_cell(v)} | {v.headline} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print("plan experiments hidden for 'without':", ", ".join(sorted(PLAN)))
    print(table())
