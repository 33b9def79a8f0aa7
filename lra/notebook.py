"""Helpers the book's chapters share: parameters, replay or compute, and display.

Every experiment chapter has a papermill ``parameters`` cell (budget, device, seeds, replay,
max_iterations) followed by ``ctx = setup([...], ...)``. ``replay=True`` (the default, and what
the book build uses) only reads ``results/``; ``replay=False`` first computes the missing rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .engine import resolve_device
from .experiments import get_budget, get_experiment
from .params import validate
from .report import load
from .runner import budget_with_cap, run_experiments


@dataclass
class Context:
    experiments: list
    budget: str
    notebook: str

    def results(self, experiment: str) -> tuple[pd.DataFrame, str]:
        return load(experiment, self.budget)

    def rerun_command(self, budget: str | None = None) -> str:
        b = budget or ("paper" if self.budget in ("auto", "paper") else self.budget)
        return f"lra run {self.notebook} -p replay False -p budget {b}"


def setup(experiments: list[str], notebook: str, budget="auto", device="auto", seeds=1,
          replay=True, max_iterations=None) -> Context:
    validate(budget=budget, device=device, seeds=seeds, replay=replay,
             max_iterations=max_iterations)
    for e in experiments:
        get_experiment(e)
    if not replay:
        b = budget if budget != "auto" else (
            "paper" if resolve_device(device).type == "cuda" else "smoke")
        run_experiments(experiments, b, device=device, seeds=seeds,
                        max_iterations=max_iterations)
        budget = budget_with_cap(get_budget(b), max_iterations).name
    elif max_iterations is not None and budget != "auto":
        budget = budget_with_cap(get_budget(budget), max_iterations).name
    return Context(list(experiments), budget, notebook)


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def show(df: pd.DataFrame) -> None:
    from IPython.display import Markdown, display
    display(Markdown(markdown_table(df)))


def say(text: str) -> None:
    from IPython.display import Markdown, display
    display(Markdown(text))


def missing(ctx: Context, experiment: str) -> bool:
    """Say plainly when an experiment has no stored rows, with the command that computes them."""
    df, b = ctx.results(experiment)
    if df.empty:
        say(f":::{{warning}}\nNo stored results for **{experiment}** at budget **{b}**. "
            f"Compute them with\n\n`{ctx.rerun_command()}`\n\n(or `lra campaign --budget "
            f"paper --experiments {experiment}`).\n:::")
        return True
    return False


def glue_text(name: str, value) -> None:
    from myst_nb import glue
    glue(name, value, display=False)
