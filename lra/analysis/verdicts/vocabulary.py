"""The words of the verdicts, the rule behind each, and the record of each claim part (book
chapter "Verdicts"): shared by every claim C1-C10.

Each claim is split into the parts that can be tested apart (C2: "cannot solve random permutation"
and "reaches ~51 %"). Each part is a :class:`Verdict` record: the claim quoted from the paper, what
the part tests, the evidence (every number and every list of cells computed from the results
passed in), the verdict and the one-line rule that gave it (:func:`decide`; :data:`RULES`), and
its strength.

Verdicts (:data:`VERDICTS`), decided in this order:

* ``not tested`` — no stored rows for the comparison;
* ``inconclusive at this budget`` — the rows exist but cannot decide: the positive control (BPTT)
  fails at the length in question too (parts about failing at a length: C1b, C2a, C8b, C8c), or
  the readout-only control is not beaten in any cell (parts that credit the learning rule or a
  variant with an achievement, or say two variants do equally well: C1a, C3-C5, C7b, C8b, C8c,
  C10), or the compared variants give identical results in every cell (C3-C5, C10a);
* ``reproduced`` / ``partly`` / ``not reproduced`` — otherwise, the claim's own comparison: all,
  some or none of what the part tests holds.

Strength (:data:`STRENGTHS`):

* ``supported`` only when every run behind it used the paper's protocol (budget "paper"), with at
  least :data:`MIN_SEEDS` seeds, on at least as many cells as the paper reports, all computed by
  the current code, and every comparison of two methods in it rests on a paired multi-seed test on
  the held-out test set;
* ``indicative`` otherwise, with why in one line (:attr:`Verdict.why_line`);
* ``—`` when nothing was tested.

Two results agree when both solve the task or their accuracies differ by less than
:data:`lra.analysis.report.AGREE_POINTS` (the tables' "=" mark). Also here: the text helpers every
claim's evidence is written with (counts, percentages, budgets and seeds) and the code version
rows are checked against (:func:`_current`, :func:`_stale`).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import pandas as pd

from lra.analysis.report import AGREE_POINTS, TASK_LABELS
from lra.campaign.store import code_version, stale_rows

TOL = AGREE_POINTS   # one tolerance: the tables' "=" mark
# The paper ran one seed per configuration; a verdict is "supported" only with a spread over
# enough seeds for a paired test to mean something (issue 23: five).
MIN_SEEDS = 5
REPRODUCED, PARTLY, NOT_REPRODUCED = "reproduced", "partly", "not reproduced"
INCONCLUSIVE, NOT_TESTED = "inconclusive at this budget", "not tested"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED)
# The rule behind each verdict, in words (the chapter prints them; :func:`decide` applies them).
RULES = {
    NOT_TESTED: "no stored rows for the comparison",
    INCONCLUSIVE: "the rows cannot decide: the positive control (BPTT) fails at the length in "
                  "question too, or the readout-only control is not beaten in any cell, or the "
                  "compared variants give identical results in every cell",
    REPRODUCED: "the cells can decide, and everything the part tests holds in them",
    PARTLY: "the cells can decide, and some of what the part tests holds, some does not",
    NOT_REPRODUCED: "the cells can decide, and what the part tests does not hold",
}
# Why a verdict is inconclusive: one line each (the record's ``rule``)
POSITIVE_FAILS = ("inconclusive: the positive control (BPTT) fails at this length too, so the "
                  "budget may be what limits it, not the learning rule")
CONTROL_NOT_BEATEN = ("inconclusive: the readout-only control is not beaten in any cell, so the "
                      "cells cannot show what the learning rule adds")
IDENTICAL = ("inconclusive: the compared variants give identical results in every cell, so "
             "these cells cannot separate them")
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

NAMES = {"table1": "Table I grid", "table1_multiseed": "Table I's best configuration, re-seeded",
         "table2": "Table II grid", "table3": "Table III grid", "table4": "Table IV grid",
         "fig2": "Figure 2 run", "fig3": "Figure 3 run", "fig4": "Figure 4 run",
         "fig2_seeds": "Figure 2's configuration, re-seeded",
         "fig5": "Figure 5 grid", "conjecture_k1": "K = 1 grid", "table5_lra": "Table V curriculum",
         "table5_lra_reg": "Table V curriculum (regularised)", "table5_bptt": "BPTT curriculum",
         "table5_tptt": "TPTT curriculum", "readout_only": "readout-only control",
         "reservoir": "the reservoir chapter's runs",
         "ev_fig2": "the evidence plan's runs of Figure 2's configuration",
         "ev_t20_lra": "the evidence plan's runs at T = 20",
         "ev_t10_lra": "the evidence plan's runs at T = 10",
         "ev_t20_bptt": "the evidence plan's BPTT runs at T = 20",
         "ev_k": "the evidence plan's runs of Figure 2's configuration with K = 20 and 30"}


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


def _in(name: str, values) -> str:
    """'K = 10' for one value, 'K ∈ {10, 20}' for several."""
    s = _set(values)
    return f"{name} = {s[1:-1]}" if "," not in s else f"{name} ∈ {s}"


def _range_pct(values) -> str:
    """'79.40 %' when every value is the same, '98.05–98.75 %' otherwise (values in %)."""
    lo, hi = min(values), max(values)
    return f"{lo:.2f} %" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f} %"


def _pts(v: float) -> str:
    return "point" if v == 1 else "points"


def tolerance_text() -> str:
    """The tolerance in words, with its unit: "2 points"."""
    return f"{TOL:g} {_pts(TOL)}"


def _identical(solved, accuracy) -> bool:
    """Whether results are identical: all solved, or none solved and the same best accuracy (to
    1e-6 of a point: the same number of samples right)."""
    solved = list(solved)
    return all(solved) or (not any(solved) and max(accuracy) - min(accuracy) < 1e-6)


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
    rule: str = ""            # the one-line rule that gave the verdict (decide)
    own_budgets: list = field(default_factory=list)   # of the part's own rows, not its controls

    @property
    def why_line(self) -> str:
        """Why the strength is not "supported", in one line ("" when it is)."""
        return "; ".join(self.why_indicative)

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
                 control=self.control, control_summary=self.control_summary,
                 why_line=self.why_line)
        return d


def _strength(budgets, seeds: int, cells: int, needed: int, stale: int,
              unpaired=()) -> tuple[str, list]:
    why = []
    off = sorted({b for b in budgets if b != "paper"})
    if off:
        why.append(f"{' and '.join(off)} budget, not the paper's protocol")
    if seeds < MIN_SEEDS:
        why.append(f"{_per_config(seeds)}, so no spread" if seeds < 2 else
                   f"{_per_config(seeds)}, fewer than {MIN_SEEDS}")
    if cells < needed:
        why.append(f"{cells} of the paper's {needed} cells")
    if stale:
        why.append(f"{_count(stale, 'row')} computed by other code")
    why.extend(u for u in unpaired if u)   # comparisons of two methods without a paired test
    return ("indicative" if why else "supported"), why


def decide(reading: str, positive: bool | None = None, beaten: bool | None = None,
           identical: bool = False) -> tuple[str, str]:
    """(verdict, one-line rule) from what a claim part's function computed from the rows.

    ``reading``: the claim's own comparison (reproduced / partly / not reproduced);
    ``positive``: False when the positive control fails at the length in question too (None: not
    run, or the part is not about failing at a length); ``beaten``: False when the readout-only
    control is beaten in no cell of a part that credits the learning rule (None: no control run,
    or not such a part); ``identical``: the compared variants give identical results in every
    cell. The first rule that holds decides (module docstring)."""
    if reading not in (REPRODUCED, PARTLY, NOT_REPRODUCED):
        raise ValueError(f"a reading is one of reproduced / partly / not reproduced: {reading!r}")
    if positive is False:
        return INCONCLUSIVE, POSITIVE_FAILS
    if identical:
        return INCONCLUSIVE, IDENTICAL
    if beaten is False:
        return INCONCLUSIVE, CONTROL_NOT_BEATEN
    return reading, f"{reading}: {RULES[reading]}"


def beaten_anywhere(flags) -> bool | None:
    """Whether the learning rule beats the readout-only control in some cell (flags per cell:
    True / False / None for no control there); None when no cell had a control."""
    ran = [f for f in flags if f is not None]
    return None if not ran else any(ran)


def _record(part, tests, reading, evidence, budgets, seeds, cells, needed, stale=0,
            control=((), (), (), ()), unpaired=(), positive=None, identical=False,
            credits_rule=True):
    """``reading``: the claim's own comparison, turned into the verdict by :func:`decide` with
    ``positive`` (the positive control at the length in question), ``identical`` and the readout-
    only control (``control``: (sentences, flags, reasons) of :func:`_controls`; it decides only
    where ``credits_rule``); ``unpaired``: why other comparisons of two methods in this part had
    no paired multi-seed test (each makes the part indicative)."""
    order = lambda bs: sorted({b for b in bs if b}, key=lambda b: (b != "paper", b))  # noqa: E731
    own = order(budgets)
    budgets = order(list(budgets) + (list(control[3]) if len(control) > 3 else []))
    reasons = list(control[2]) if len(control) > 2 else []
    flags = list(control[1]) if len(control) > 1 else []
    verdict, rule = decide(reading, positive, beaten_anywhere(flags) if credits_rule else None,
                           identical)
    strength, why = _strength(budgets, seeds, cells, needed, stale, reasons + list(unpaired))
    return Verdict(part, part.rstrip("abcd"), tests, verdict, strength, list(evidence), budgets,
                   why, list(control[0]), flags, rule, own)


def _not_tested(part, tests, what) -> Verdict:
    return Verdict(part, part.rstrip("abcd"), tests, NOT_TESTED, "—",
                   [f"No stored results for {what}."], rule=f"{NOT_TESTED}: {RULES[NOT_TESTED]}")
