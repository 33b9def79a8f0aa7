"""Tables and figures regenerated from the results store, beside the published numbers.

Nothing here computes a result: every number comes from ``results/`` (our runs, with provenance) or
from ``lra/analysis/published/`` (the paper's tables, labelled "paper").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lra.campaign.store import (ResultsStore, code_version, current_versions, row_versions, solved_flags,
                                stale_rows)
from lra.analysis import tables
from lra.analysis.budgets import budget_description, reproduce_line
from lra.analysis.labels import column_header, humanise
# Defined below this module (lra.analysis.budgets, .labels, .tables) and importable from here too,
# where the chapters and lra.analysis.verdicts find them.
from lra.analysis.budgets import AGREE_POINTS  # noqa: F401
from lra.analysis.labels import TASK_LABELS  # noqa: F401
from lra.analysis.tables import best_per_cell, curriculum_max_T  # noqa: F401

PUBLISHED = Path(__file__).parent / "published"


def published(table: str) -> pd.DataFrame:
    """A published table (``table1`` ... ``table5``) as data."""
    df = pd.read_csv(PUBLISHED / f"{table}.csv")
    if "solved" in df:
        df["solved"] = solved_flags(df["solved"])
    return df


def pick_budget(experiment: str, budget: str = "auto", store=None) -> str:
    """"auto": the paper budget if it has rows, else smoke."""
    store = store or ResultsStore()
    if budget != "auto":
        return budget
    for b in ("paper", "smoke"):
        if not store.load(experiment, b).empty:
            return b
    return "smoke"


def load(experiment: str, budget: str = "auto", store=None) -> tuple[pd.DataFrame, str]:
    store = store or ResultsStore()
    b = pick_budget(experiment, budget, store)
    df = store.load(experiment, b)
    if not df.empty:
        df["solved"] = df["solved"].astype(str).str.lower() == "true"
    return df, b


# One provenance section per page (issue 23: a two-line provenance paragraph and a rerun
# command under every table were noise). While a chapter runs (lra.notebook.setup names the page),
# the note under a table or figure says the budget, warns at once when rows are stale, and links
# to the page's "Provenance" section; how many rows, computed where, by which commit, and the
# command that recomputes them are collected here and printed once, by
# lra.notebook.provenance_footer at the page's end. Outside a chapter (no page named) the note
# carries everything itself.
_PAGE: dict = {"name": None, "entries": {}, "stale": False}


def start_page(name: str | None) -> None:
    """Name the page whose notes are being written (``None``: notes carry their provenance)."""
    _PAGE["name"], _PAGE["entries"], _PAGE["stale"] = name, {}, False


def current_page() -> str | None:
    return _PAGE["name"]


def provenance_anchor(page: str) -> str:
    """The HTML id of a page's provenance section (its label ``(provenance-<page>)=``)."""
    return "provenance-" + page.replace("_", "-")


def page_provenance() -> list[str]:
    """What the notes of the current page collected, one entry per group of rows, then (when
    some rows are stale) :data:`STALE_HELP` once; emptied."""
    out = list(_PAGE["entries"].values())
    if _PAGE.get("stale"):
        out.append(STALE_HELP)
    _PAGE["entries"], _PAGE["stale"] = {}, False
    return out


def budget_note(budget: str, df: pd.DataFrame | None = None, reproduce: bool = True) -> str:
    """What budget the rows shown were computed with and, given the rows, how many, where and by
    what code, and (``reproduce``) the command that computes them. On a named page
    (:func:`start_page`) the rows' provenance and the command go to the page's provenance section
    (:func:`page_provenance`) and the note links there; a warning about stale rows stays here."""
    experiments = []
    if df is not None and not df.empty and "experiment" in df:
        experiments = list(dict.fromkeys(df["experiment"].astype(str)))
    desc = budget_description(budget, experiments[0] if len(experiments) == 1 else None)
    note = f"Budget used: **{budget}** — {desc}."
    if df is None or df.empty:
        return note
    command = ""
    if reproduce and experiments:
        from lra.campaign.experiments import EXPERIMENTS
        known = [e for e in experiments if e in EXPERIMENTS]
        if known:
            command = " " + reproduce_line(known, budget, _seeds_beyond_spec(df, known))
    return note + " " + rows_provenance(df, budget, command.strip())


def rows_provenance(df: pd.DataFrame, budget: str, reproduce: str = "") -> str:
    """The rows' provenance (:func:`provenance_note`) and ``reproduce`` (a sentence with the
    command that recomputes them). On a named page (:func:`start_page`) they are kept for the
    page's provenance section and this returns a link to it, preceded by the warning about stale
    rows if there are any; otherwise it returns them."""
    if _PAGE["name"] is None:
        return provenance_note(df) + (" " + reproduce if reproduce else "")
    where = provenance_note(df, short=True)
    experiments = list(dict.fromkeys(df["experiment"].astype(str))) if "experiment" in df else []
    label = ", ".join(f"`{e}`" for e in experiments) or "rows"
    key = (tuple(experiments), budget, len(df))      # the same rows shown twice: one entry,
    if reproduce or key not in _PAGE["entries"]:     # with the command if either note has it
        _PAGE["entries"][key] = (f"{label} at budget **{budget}**: {where}"
                                 + (" " + reproduce if reproduce else ""))
    stale = staleness_note(df, short=True)
    warn = ""
    if not stale.startswith("All rows"):
        warn, _PAGE["stale"] = stale + " ", True
    return (f'{warn}<a href="#{provenance_anchor(_PAGE["name"])}">Provenance, and the command '
            "that recomputes these rows</a>: at the end of the page.")


def provenance_note(df: pd.DataFrame, short: bool = False) -> str:
    """How many rows, computed where and by what code (and whether by the current code;
    ``short``: see :func:`staleness_note`)."""
    devices = ", ".join(sorted(set(df["device"].astype(str))))
    commits = ", ".join(sorted(set(df["commit"].astype(str))))
    runs = "1 run" if len(df) == 1 else f"{len(df)} runs"
    return f"{runs} on {devices}, code at commit {commits}. " + staleness_note(df, short)


def _seeds_beyond_spec(df: pd.DataFrame, experiments: list[str]) -> int | None:
    """``--seeds N`` when the rows hold more seeds than the experiments' specs run by default."""
    from lra.campaign.experiments import get_experiment
    if "seed" not in df:
        return None
    n = int(pd.to_numeric(df["seed"], errors="coerce").max()) + 1
    return n if n > max(get_experiment(e).seeds for e in experiments) else None


STALE_HELP = ("Rows computed by other code may not reproduce at this commit; `lra status` lists "
              "them; to recompute, move the table away and rerun the experiment.")


def staleness_note(df: pd.DataFrame, short: bool = False) -> str:
    """Whether the rows were computed by the current code (store.code_version), said plainly
    (``short``: without :data:`STALE_HELP`, which a page's provenance section says once)."""
    current = code_version()
    stale = int(stale_rows(df, current).sum())
    if not stale:
        return f"All rows computed by the current code (version {current})."
    same = current_versions(current)
    versions = ", ".join(v for v in row_versions(df) if v not in same)
    head = (f"**⚠ {stale} of {len(df)} row(s) were computed by other code (version {versions}; "
            f"current {current})**")
    if short:
        return head + "."
    return (head + ": they may not reproduce at this commit; `lra status` lists them; to "
            "recompute, move the table away and rerun the experiment.")


def cell_text(solved, accuracy) -> str:
    """A cell as "✓" (solved) or its accuracy; the tables say "✓ 0/N" instead
    (:func:`lra.analysis.tables.result_text`: solved on how many validation samples)."""
    if solved is None or (isinstance(accuracy, float) and np.isnan(accuracy) and not solved):
        return "—"
    return "✓" if bool(solved) else f"{accuracy:.2f}"


def compare(ours: pd.DataFrame, paper: pd.DataFrame, keys: list[str],
            budget: str = "paper") -> pd.DataFrame:
    """Side by side: ours | paper | agreement mark per cell, ours computed at ``budget`` (its
    validation size decides whether "both solved" is "=" or "≈"; :func:`lra.analysis.tables.mark`).

    Marks: "=", "≈", "≠", "Δ" as in :func:`lra.analysis.tables.mark`, and "?" for a cell not run.
    The book's chapters use :func:`lra.analysis.tables.compare`, which also keeps a ``ran`` column."""
    comp = tables.compare(ours, paper, keys, budget)
    comp["match"] = [m if ran else "?" for m, ran in zip(comp["match"], comp["ran"])]
    return comp.drop(columns=["ran"])


def wide(comp: pd.DataFrame, index: list[str], column: str) -> pd.DataFrame:
    """Pivot a comparison to the paper's layout: one row per index, 'ours │ paper mark' cells,
    human headers ("T = 10") and task names."""
    if comp.empty:
        return comp
    c = comp.copy()
    c["cell"] = c["ours"] + " │ " + c["paper"] + " " + c["match"]
    out = c.pivot_table(index=index, columns=column, values="cell", aggfunc="first")
    out.columns = [column_header(column, v) for v in out.columns]
    return humanise(out.reset_index())


def agreement_counts(comp: pd.DataFrame) -> dict:
    """Cells per mark of :func:`compare` ("?": not run)."""
    return {k: int((comp["match"] == k).sum()) for k in ("=", "≈", "≠", "Δ", "?")}


# two-sided 95 % Student-t quantiles by degrees of freedom (a statistical constant, not a result)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t975(dof: int) -> float:
    keys = [k for k in sorted(T975) if k <= dof]
    return T975[keys[-1]] if keys else float("nan")


def multiseed_summary(df: pd.DataFrame, cell=("task", "K", "T")) -> pd.DataFrame:
    """Per cell: seeds, success rate, mean best accuracy (%) with its 95 % confidence interval."""
    rows = []
    for key, d in df.groupby(list(cell)):
        acc = d["best_accuracy"].to_numpy() * 100
        n = len(acc)
        half = t975(n - 1) * acc.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        r = d.iloc[0]
        rows.append({**dict(zip(cell, key)), "α, γ": f"{r.alpha:g}, {r.gamma:g}", "seeds": n,
                     "solved": f"{int(d['solved'].sum())}/{n}",
                     "accuracy (%)": f"{acc.mean():.2f} ± {half:.2f}" if n > 1 else f"{acc[0]:.2f}"})
    return pd.DataFrame(rows)
