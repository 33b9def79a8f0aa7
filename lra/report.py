"""Tables and figures regenerated from the results store, beside the published numbers.

Nothing here computes a result: every number comes from ``results/`` (our runs, with provenance) or
from ``lra/published/`` (the paper's tables, labelled "paper").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import BUDGETS
from .store import ResultsStore, code_version, row_versions, solved_flags, stale_rows

PUBLISHED = Path(__file__).parent / "published"
TASK_LABELS = {"temporal_order": "Temporal order", "temporal_order_3bit": "3-bit temporal order",
               "random_permutation": "Random permutation"}
AGREE_POINTS = 1.0   # accuracy differences below one point count as agreement


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


def budget_note(budget: str, df: pd.DataFrame | None = None) -> str:
    """What budget the rows shown were computed with and, given the rows, where and by what code."""
    base = budget.split("-cap")[0]
    desc = BUDGETS[base].description if base in BUDGETS else budget
    if budget != base:
        desc += f" (cap overridden: {budget})"
    note = f"Budget used: **{budget}** — {desc}."
    if df is not None and not df.empty:
        devices = ", ".join(sorted(set(df["device"].astype(str))))
        commits = ", ".join(sorted(set(df["commit"].astype(str))))
        note += f" {len(df)} run(s) on {devices}, code at commit {commits}."
        note += " " + staleness_note(df)
    return note


def staleness_note(df: pd.DataFrame) -> str:
    """Whether the rows were computed by the current code (store.code_version), said plainly."""
    current = code_version()
    stale = int(stale_rows(df, current).sum())
    if not stale:
        return f"All rows computed by the current code (version {current})."
    versions = ", ".join(v for v in row_versions(df) if v != current)
    return (f"**⚠ {stale} of {len(df)} row(s) were computed by other code (version {versions}; "
            f"current {current})**: they may not reproduce at this commit; `lra status` lists "
            "them; to recompute, move the table away and rerun the experiment.")


def best_per_cell(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The grid search's answer per cell: best validation accuracy (%) and whether any run solved."""
    if df.empty:
        return pd.DataFrame(columns=by + ["accuracy", "solved", "runs"])
    g = df.groupby(by, dropna=False)
    out = g.agg(accuracy=("best_accuracy", "max"), solved=("solved", "any"),
                runs=("key", "count")).reset_index()
    out["accuracy"] = out["accuracy"] * 100
    return out


def cell_text(solved, accuracy) -> str:
    if solved is None or (isinstance(accuracy, float) and np.isnan(accuracy) and not solved):
        return "—"
    return "✓" if bool(solved) else f"{accuracy:.2f}"


def compare(ours: pd.DataFrame, paper: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Side by side: ours | paper | agreement mark per cell.

    Marks: "=" same verdict (both solved, or accuracies within one point), "≠" different solved
    verdict, "Δ" both unsolved but more than one point apart, "?" not run yet.
    """
    m = paper.merge(ours, on=keys, how="left", suffixes=("_paper", "_ours"))
    rows = []
    for _, r in m.iterrows():
        ran = not pd.isna(r.get("runs"))
        ours_txt = cell_text(r["solved_ours"], r["accuracy_ours"]) if ran else "not run"
        paper_txt = cell_text(r["solved_paper"], r["accuracy_paper"])
        if not ran:
            mark = "?"
        elif bool(r["solved_ours"]) != bool(r["solved_paper"]):
            mark = "≠"
        elif bool(r["solved_ours"]) or abs(r["accuracy_ours"] - r["accuracy_paper"]) < AGREE_POINTS:
            mark = "="
        else:
            mark = "Δ"
        rows.append({**{k: r[k] for k in keys}, "ours": ours_txt, "paper": paper_txt,
                     "match": mark})
    return pd.DataFrame(rows)


def wide(comp: pd.DataFrame, index: list[str], column: str) -> pd.DataFrame:
    """Pivot a comparison to the paper's layout: one row per index, 'ours / paper mark' cells."""
    if comp.empty:
        return comp
    c = comp.copy()
    c["cell"] = c["ours"] + " │ " + c["paper"] + " " + c["match"]
    out = c.pivot_table(index=index, columns=column, values="cell", aggfunc="first")
    out.columns = [f"{column}={v}" for v in out.columns]
    out = out.reset_index()
    if "task" in out:
        out["task"] = out["task"].map(TASK_LABELS).fillna(out["task"])
    return out


def agreement_counts(comp: pd.DataFrame) -> dict:
    return {k: int((comp["match"] == k).sum()) for k in ("=", "≠", "Δ", "?")}


def curriculum_max_T(df: pd.DataFrame) -> dict:
    """Highest T solved in an unbroken run of stages from T = 10 (None if T = 10 failed)."""
    out = {}
    if df.empty:
        return out
    for task, d in df.groupby("task"):
        best, T = None, 10
        solved = d.groupby("T")["solved"].any()
        while T in solved.index and solved[T]:
            best, T = T, T + 10
        out[task] = dict(max_T=best, last_T=int(d["T"].max()),
                         complete=bool(T not in solved.index or not solved.get(T, False)))
    return out


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
