"""A budget in words, and the two constants every comparison with the paper rests on.

A budget's name (``smoke``, ``paper``, ``smoke-cap1000``: :data:`lra.campaign.experiments.BUDGETS`,
a cap overridden by ``--max-iterations``) says what its rows were computed with: an iteration
cap, a validation set, how much of an experiment's grid. This module says it in the book's words
(:func:`budget_phrase`, :func:`budget_description`) and gives the ``lra campaign`` command that
computes the rows (:func:`reproduce_command`, :func:`reproduce_line`). The paper's validation size
(:data:`PAPER_VALIDATION`) and the agreement tolerance (:data:`AGREE_POINTS`) are the constants
of the tables' marks (:mod:`lra.analysis.tables`) and of the verdicts (:mod:`lra.analysis.verdicts`).
"""
from __future__ import annotations

from lra.campaign.experiments import BUDGETS, get_experiment

PAPER_VALIDATION = BUDGETS["paper"].validation_size   # the paper's validation set (IV-A): 10,000
AGREE_POINTS = 2.0
"""Tolerance (percentage points of validation accuracy) below which two unsolved cells count as
agreeing: the agreement marks of the tables (:func:`lra.analysis.tables.mark`) and the verdicts
(:mod:`lra.analysis.verdicts`) use this one constant."""


def split_budget(budget: str) -> tuple[str, int | None]:
    """``smoke-cap1000`` -> (``smoke``, 1000); ``paper`` -> (``paper``, None)."""
    base, _, cap = budget.partition("-cap")
    return base, (int(cap) if cap else None)


def validation_size(budget: str) -> int:
    """Samples in the validation set of a budget: a solved run made no error on that many."""
    base, _ = split_budget(budget)
    return BUDGETS[base].validation_size if base in BUDGETS else PAPER_VALIDATION


def iteration_cap(budget: str) -> int | None:
    """The iteration cap of a budget, an overridden cap (``-capN``) included."""
    base, cap = split_budget(budget)
    return cap if cap is not None else (BUDGETS[base].max_iterations if base in BUDGETS else None)


def budget_phrase(budget: str) -> str:
    """``the smoke budget (300-iteration cap, 500-sample validation; not the paper's protocol)``."""
    base, _ = split_budget(budget)
    cap, n = iteration_cap(budget), validation_size(budget)
    what = f"{cap:,}-iteration cap, {n:,}-sample validation" if cap else "unknown budget"
    if base == "paper" and budget == base:
        return f"the paper's protocol ({what})"
    return f"the {budget} budget ({what}; not the paper's protocol)"


def budget_description(budget: str, experiment: str | None = None) -> str:
    """What a budget runs, in words: cap, validation set, checks and, given the experiment, how
    much of its grid ("a single configuration" where the experiment has one, not "the full
    grid"); ends by saying whether this is the paper's protocol."""
    base, cap = split_budget(budget)
    if base not in BUDGETS:
        return budget
    b = BUDGETS[base]
    what = (f"{iteration_cap(budget):,}-iteration cap"
            + (f" (overridden: {budget})" if cap is not None else "")
            + f", {validation_size(budget):,}-sample validation every {b.check_every} iterations")
    grid = "the full grid" if b.full_grid else "a corner of the grid"
    if experiment is not None:
        try:
            exp = get_experiment(experiment)
        except ValueError:
            exp = None
        if exp is not None and exp.derived_from:
            grid = (f"the best configuration of each `{exp.derived_from}` cell, re-run with "
                    f"{exp.seeds} seeds")
        elif exp is not None:
            n, full = len(exp.configs(b)), len(exp.configs(BUDGETS["paper"]))
            grid = ("a single configuration" if n == 1 else
                    f"the full grid ({n} configurations)" if n == full else
                    f"a corner of the grid ({n} of {full} configurations)")
            if exp.curriculum:
                grid += f", curriculum up to T = {b.max_length}"
    label = "the paper's protocol" if base == "paper" and cap is None else f"{base} budget"
    tail = "" if base == "paper" and cap is None else "; NOT the paper's protocol"
    return f"{label}: {what}, {grid}{tail}"


def reproduce_command(experiments, budget: str, seeds: int | None = None) -> str:
    """The ``lra campaign`` command that computes the rows of these experiments at this budget
    (a derived experiment's source first: it re-runs that experiment's best configurations)."""
    names = []
    for e in experiments:
        src = get_experiment(e).derived_from
        for n in ([src] if src else []) + [e]:
            if n not in names:
                names.append(n)
    base, cap = split_budget(budget)
    cmd = f"lra campaign --budget {base}"
    if cap is not None:
        cmd += f" --max-iterations {cap}"
    if seeds is not None:
        cmd += f" --seeds {seeds}"
    return cmd + " --experiments " + " ".join(names)


def reproduce_line(experiments, budget: str, seeds: int | None = None) -> str:
    """One line for under a table or figure: the command, and what it does with existing rows."""
    dirs = (", ".join(f"`results/{e}/{budget}/`" for e in experiments) if len(experiments) <= 2
            else f"`results/<experiment>/{budget}/` of each")
    return (f"*Reproduce this:* `{reproduce_command(experiments, budget, seeds)}` (trains the rows "
            f"missing from {dirs}; move a folder away first to recompute its rows).")
