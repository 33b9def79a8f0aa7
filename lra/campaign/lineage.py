"""Code versions that compute the same numbers as a later one, with the evidence that showed it.

A stored row carries the :func:`lra.campaign.store.code_version` of the code that computed it, a
hash of the source of the modules that determine numbers. A change to those modules that moves
code without changing any operation (a package layout, a class split into several) gives a new
hash for the same numbers. Rather than call every stored row stale, or recompute hours of runs to
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
