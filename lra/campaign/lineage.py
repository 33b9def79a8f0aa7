"""Code versions that compute the same numbers as a later one, with the evidence that showed it.

A stored row carries the :func:`lra.campaign.store.code_version` of the code that computed it, a
hash of the source of the modules that determine numbers. A change to those modules that alters
no number -- code moved (a package layout, a class split into several), or the same operations on
the same values done faster (a result reused rather than computed again, an operation done in
place) -- gives a new hash for the same numbers. Rather than call every stored row stale, or recompute hours of runs to
say so, such a change is recorded here *with the recomputation that showed it*: the rows the new
code computed again and found equal, number for number. A row whose version is recorded as
computing the same numbers as the current code is not stale (:func:`lra.campaign.store.stale_rows`).

An entry is never added by hand for a change that alters numbers; a change that alters numbers
makes every earlier row stale until it is recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SameNumbers:
    """Rows of code version ``old`` are reproduced exactly by code version ``new``."""
    old: str
    new: str
    change: str       # what changed in the code (commit and words)
    evidence: str     # what was recomputed and compared, and where the comparison is stored


LINEAGE: tuple[SameNumbers, ...] = (
    SameNumbers(
        old="660c2ef29c00", new="b557d63e6b15",
        change="the package laid out in wings (commits 229f141..fc4f3b3): modules moved with git "
               "mv, imports made absolute, PopulationTrainer split into the engine's modules; no "
               "operation changed",
        evidence="the whole smoke budget (30 tables, every experiment) run by both versions on one "
                 "machine, 1 thread, and compared number for number by tools/compare_rows.py: "
                 "every row equal (results/lineage/660c2ef29c00-b557d63e6b15.txt)"),
    SameNumbers(
        old="471e17a07746", new="b82e6a48b0a1",
        change="a faster CPU engine with the same operations on the same values (commits aecc126, "
               "65bad93): the target chain reuses the tanh the previous inner step computed and "
               "skips an unused loss value; validation and test evaluation gather rows of "
               "W_xh + b_h into two buffers, baddbmm_/tanh_ in place; layer gradients without "
               "'0 +'; the trainer's stop at a curriculum stage's first solve, off for every run "
               "but a stage's (whose runs have new keys)",
        evidence="the whole smoke budget run by the new version on this machine (AMD EPYC, 1 "
                 "thread) and compared number for number by tools/compare_rows.py, test-set "
                 "numbers included: every row of the 26 tables stored by the old version equal; "
                 "the evidence plan's 14 experiments (145 rows: RNN-LRA-diff, BPTT, readout only) "
                 "run by both versions, every row equal "
                 "(results/lineage/471e17a07746-b82e6a48b0a1.txt)"),
    SameNumbers(
        old="b82e6a48b0a1", new="7a0a303d3a10",
        change="a new module joins CODE_MODULES (commit 0b10eb6): "
               "lra/algorithms/released_population.py, the released script's step for a "
               "population (algorithm 'lra_released', issue 23 item 3), reached only by runs of "
               "that algorithm (new keys, new experiments); none of the 13 modules hashed before "
               "changed",
        evidence="the whole smoke budget (the 30 experiments with stored smoke rows, 186 rows) "
                 "run by the new version on this machine (AMD EPYC, 1 thread) and compared "
                 "number for number by tools/compare_rows.py, test-set numbers included: every "
                 "row equal; the evidence plan's 16 experiments (160 rows: RNN-LRA-diff, BPTT, "
                 "readout only) run by both versions at the smoke budget, every row equal "
                 "(results/lineage/b82e6a48b0a1-7a0a303d3a10.txt)"),
)


def same_numbers_as(version: str, lineage=LINEAGE) -> set[str]:
    """``version`` and every earlier version recorded as computing the same numbers, following
    the records back (a chain of moves keeps old rows current)."""
    out, frontier = {version}, [version]
    while frontier:
        v = frontier.pop()
        for e in lineage:
            if e.new == v and e.old not in out:
                out.add(e.old)
                frontier.append(e.old)
    return out
