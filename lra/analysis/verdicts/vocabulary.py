"""The words of the verdicts and the record of each claim part (book chapter "Verdicts"):
shared by every claim C1-C10.

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
# The paper ran one seed per configuration; one seed shows no spread, so a verdict is
# "supported" only with more than one.
MIN_SEEDS = 2
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

NAMES = {"table1": "Table I grid", "table1_multiseed": "Table I's best configuration, re-seeded",
         "table2": "Table II grid", "table3": "Table III grid", "table4": "Table IV grid",
         "fig2": "Figure 2 run", "fig3": "Figure 3 run", "fig4": "Figure 4 run",
         "fig2_seeds": "Figure 2's configuration, re-seeded",
         "fig5": "Figure 5 grid", "conjecture_k1": "K = 1 grid", "table5_lra": "Table V curriculum",
         "table5_lra_reg": "Table V curriculum (regularised)", "table5_bptt": "BPTT curriculum",
         "table5_tptt": "TPTT curriculum", "readout_only": "readout-only control",
         "reservoir": "the reservoir chapter's runs"}


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


def tolerance_text() -> str:
    """The tolerance in words, with its unit: "2 points"."""
    return f"{TOL:g} {_pts(TOL)}"


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
