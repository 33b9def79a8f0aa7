"""Verdicts on the paper's claims C1-C10 (its "Claims" list), computed from stored results
(book chapter "Verdicts"): each claim's parts, each a :class:`Verdict` with its evidence, verdict
and strength.

By claim family: :mod:`.lengths` (C1, C2), :mod:`.variants` (C3-C5), :mod:`.gradients` (C6, C7),
:mod:`.regularisation` (C8-C10); beneath them :mod:`.readout_control` (the readout-only control and
its paired test), :mod:`.evidence` (the results sources) and :mod:`.vocabulary` (the words, the
record and its strength); above them :mod:`.overview` (all claims in order, the chapter's tables).
Every name below is re-exported so that ``from lra.analysis import verdicts as V; V.<name>`` works.
"""
from lra.analysis.verdicts.vocabulary import (CLAIMS, CONTROL_NOT_BEATEN, IDENTICAL, INCONCLUSIVE,
                                              MIN_SEEDS, NAMES, NOT_REPRODUCED, NOT_SHOWN,
                                              NOT_TESTED, PARTLY, POSITIVE_FAILS, REPRODUCED,
                                              RULES, STRENGTHS, TOL, VERDICTS, Verdict, decide,
                                              tolerance_text)
from lra.analysis.verdicts.evidence import (BUDGET_ORDER, FrameResults, StoredResults, as_source,
                                            positive_control)
from lra.analysis.verdicts.readout_control import (CONTROL_NAME, CONTROL_SOURCES, NO_CONTROL,
                                                   RESEEDED_RULE, control_pair, control_pairs)
from lra.analysis.verdicts.lengths import RP10, TO_TASKS, c1, c2
from lra.analysis.verdicts.variants import ROMAN, c3, c4, c5
from lra.analysis.verdicts.gradients import (FIG3_READINGS, FIG3_WHAT, ORDERS_TOL, PAPER_ORDERS,
                                             PAPER_STEPS, c6, c7)
from lra.analysis.verdicts.regularisation import c8, c9, c10
from lra.analysis.verdicts.overview import (CHECKS, all_verdicts, budgets_used, claim_markdown,
                                            summary, verdict_table, verdicts)

__all__ = ["CLAIMS", "CONTROL_NOT_BEATEN", "IDENTICAL", "INCONCLUSIVE", "MIN_SEEDS", "NAMES",
           "NOT_REPRODUCED", "NOT_SHOWN", "NOT_TESTED", "PARTLY", "POSITIVE_FAILS", "REPRODUCED",
           "RULES", "STRENGTHS", "TOL", "VERDICTS", "Verdict", "decide", "tolerance_text",
           "BUDGET_ORDER", "FrameResults", "StoredResults", "as_source", "positive_control",
           "CONTROL_NAME", "CONTROL_SOURCES", "NO_CONTROL", "RESEEDED_RULE", "control_pair",
           "control_pairs", "RP10", "TO_TASKS", "c1", "c2", "ROMAN", "c3", "c4", "c5",
           "FIG3_READINGS", "FIG3_WHAT", "ORDERS_TOL", "PAPER_ORDERS", "PAPER_STEPS", "c6", "c7",
           "c8", "c9", "c10", "CHECKS", "all_verdicts", "budgets_used", "claim_markdown", "summary",
           "verdict_table", "verdicts"]
