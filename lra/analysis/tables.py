"""The book's comparison tables (Tables I-V and their companions): what was run, beside the paper.

Nothing here computes a result. Given our cells (:func:`best_per_cell` of stored rows) and a
published table (:func:`lra.analysis.report.published`), this module lays them side by side and
says plainly what the comparison rests on:

* only what exists is tabulated: rows and columns of the paper's grid in which nothing was run at
  the budget shown are left out of the table (and named), cells not run inside a shown row or
  column are greyed, and the paper's full grid follows in a folded block;
* one coverage line per table: how many of the paper's cells were run, at which budget;
* human headers and task names (:mod:`lra.analysis.labels`, the one mapping);
* a solved cell says on how many validation samples it was solved ("✓ 0/500": zero errors on
  500 samples); the paper's protocol (Section IV-A) validates on 10,000;
* the agreement mark of each cell follows :func:`mark`, with the tolerance of the verdicts
  (:data:`lra.analysis.budgets.AGREE_POINTS`), and the counts name the cells not run;
* under each table the ``lra`` command that regenerates its rows
  (:func:`lra.analysis.budgets.reproduce_line`).
"""
from __future__ import annotations

import html

import pandas as pd

from lra.campaign.experiments import BUDGETS, get_experiment
from lra.analysis.budgets import (AGREE_POINTS, PAPER_VALIDATION, budget_description, budget_phrase,
                                  reproduce_line, split_budget, validation_size)
from lra.analysis.labels import (COLUMN_LABELS, METHOD_LABELS, TASK_LABELS, column_header,
                                 task_label, value_label)

# Agreement marks of a compared cell (see :func:`mark`).
AGREE, SMALLER_VALIDATION, SOLVED_DIFFERS, ACCURACY_DIFFERS = "=", "≈", "≠", "Δ"
NOT_RUN = "not run"


# ------------------------------------------------------------------------ cells from stored rows
def best_per_cell(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The grid search's answer per cell: best validation accuracy (%) and whether any run solved."""
    if df.empty:
        return pd.DataFrame(columns=by + ["accuracy", "solved", "runs"])
    g = df.groupby(by, dropna=False)
    out = g.agg(accuracy=("best_accuracy", "max"), solved=("solved", "any"),
                runs=("key", "count")).reset_index()
    out["accuracy"] = out["accuracy"] * 100
    return out


def curriculum_max_T(df: pd.DataFrame, first: int = 10) -> dict:
    """Highest T solved in an unbroken run of stages from T = ``first`` (None if that failed)."""
    out = {}
    if df.empty:
        return out
    for task, d in df.groupby("task"):
        best, T = None, first
        solved = d.groupby("T")["solved"].any()
        while T in solved.index and solved[T]:
            best, T = T, T + 10
        out[task] = dict(max_T=best, last_T=int(d["T"].max()),
                         complete=bool(T not in solved.index or not solved.get(T, False)))
    return out


# --------------------------------------------------------------------------------- cells and marks
def solved_text(n_validation: int) -> str:
    """A solved cell: zero errors on ``n_validation`` samples, e.g. ``✓ 0/500`` (a no-break
    space keeps the mark with its count when a narrow column wraps)."""
    return f"✓\u00a00/{n_validation:,}"


def result_text(solved, accuracy, n_validation: int) -> str:
    """One of our cells: ``✓ 0/N`` when solved, else the best accuracy (%), ``—`` when empty."""
    if solved is None or (pd.isna(accuracy) and not bool(solved)):
        return "—"
    return solved_text(n_validation) if bool(solved) else f"{accuracy:.2f}"


def paper_text(solved, accuracy) -> str:
    """One of the paper's cells; its protocol validates on 10,000 samples."""
    return result_text(solved, accuracy, PAPER_VALIDATION)


def mark(ran: bool, ours_solved, ours_accuracy, paper_solved, paper_accuracy,
         ours_validation: int, paper_validation: int = PAPER_VALIDATION) -> str:
    """The agreement mark of one cell.

    ``=``  same verdict on comparable evidence: both unsolved and less than ``AGREE_POINTS``
           apart (the verdicts' tolerance), or both solved on validation sets of the same size;
    ``≈``  both solved, ours on a smaller validation set (zero errors on 500 samples does not
           show zero errors on 10,000): agreement only at our validation size;
    ``≠``  one solved, the other not;
    ``Δ``  both unsolved, ``AGREE_POINTS`` or more apart;
    ``""`` not run.
    """
    if not ran:
        return ""
    if bool(ours_solved) != bool(paper_solved):
        return SOLVED_DIFFERS
    if bool(ours_solved):
        return AGREE if ours_validation >= paper_validation else SMALLER_VALIDATION
    return AGREE if abs(ours_accuracy - paper_accuracy) < AGREE_POINTS else ACCURACY_DIFFERS


def compare(ours: pd.DataFrame, paper: pd.DataFrame, keys: list[str], budget: str) -> pd.DataFrame:
    """One row per published cell: keys, ``ran``, our and the paper's text, and the mark.

    ``ours`` holds :func:`best_per_cell` rows computed at ``budget``; its validation size is
    the budget's."""
    n = validation_size(budget)
    m = paper.merge(ours, on=keys, how="left", suffixes=("_paper", "_ours"))
    rows = []
    for _, r in m.iterrows():
        ran = not pd.isna(r.get("runs"))
        rows.append({**{k: r[k] for k in keys}, "ran": ran,
                     "ours": result_text(r["solved_ours"], r["accuracy_ours"], n) if ran
                     else NOT_RUN,
                     "paper": paper_text(r["solved_paper"], r["accuracy_paper"]),
                     "match": mark(ran, r.get("solved_ours"), r.get("accuracy_ours"),
                                   r["solved_paper"], r["accuracy_paper"], n)})
    return pd.DataFrame(rows, columns=keys + ["ran", "ours", "paper", "match"])


# --------------------------------------------------------------------------- coverage and counts
def agreement_counts(comp: pd.DataFrame) -> dict:
    """Cells per mark, and the cells not run (key ``not run``) and published (``cells``)."""
    out = {k: int(((comp["match"] == k) & comp["ran"]).sum())
           for k in (AGREE, SMALLER_VALIDATION, SOLVED_DIFFERS, ACCURACY_DIFFERS)}
    out[NOT_RUN] = int((~comp["ran"]).sum())
    out["cells"] = len(comp)
    return out


def coverage_line(comp: pd.DataFrame, budget: str, what: str = "cells") -> str:
    """``3 of 27 cells run, at the smoke budget (300-iteration cap, ...).``"""
    ran = int(comp["ran"].sum())
    return f"**{ran} of {len(comp)} {what} run**, at {budget_phrase(budget)}."


def agreement_line(comp: pd.DataFrame, budget: str) -> str:
    """``0 agree (=), 2 solved on both sides but ours on 500 validation samples only (≈),
    1 differ (0 ≠, 1 Δ), 24 not run — of 27 published cells``."""
    c = agreement_counts(comp)
    differ = c[SOLVED_DIFFERS] + c[ACCURACY_DIFFERS]
    parts = [f"{c[AGREE]} agree (=)"]
    if c[SMALLER_VALIDATION] or validation_size(budget) < PAPER_VALIDATION:
        parts.append(f"{c[SMALLER_VALIDATION]} solved on both sides but ours on "
                     f"{validation_size(budget):,} validation samples only (≈)")
    parts.append(f"{differ} differ ({c[SOLVED_DIFFERS]} ≠, {c[ACCURACY_DIFFERS]} Δ)")
    parts.append(f"{c[NOT_RUN]} not run")
    return "**Agreement:** " + ", ".join(parts) + f" — of {c['cells']} published cells."


def mark_legend() -> str:
    """What each agreement mark means (the rule of :func:`mark`)."""
    return (f"= agree (both unsolved and within {AGREE_POINTS:g} points, the verdicts' "
            "tolerance, or both solved on validation sets of one size); ≈ both solved, but ours "
            "on a smaller validation set, which shows less; ≠ one solved and the other not; "
            f"Δ both unsolved, {AGREE_POINTS:g} points or more apart.")


def legend(budget: str) -> str:
    """What a cell and its mark mean, with the validation sizes of this budget."""
    n = validation_size(budget)
    return (f"Cells read *ours │ paper mark*: the best validation accuracy (%) over the grid, or "
            f"{solved_text(n)} when a run made zero errors on our {n:,} validation samples (the "
            f"paper's {solved_text(PAPER_VALIDATION)}: zero errors on its {PAPER_VALIDATION:,}); "
            "greyed: not run at this budget. " + mark_legend())


def spec_cells(experiment: str, keys=("task", "T")) -> list[tuple]:
    """The cells (values of ``keys``) of an experiment's full grid, the paper's protocol."""
    exp = get_experiment(experiment)
    cells = []
    for r in exp.runs(BUDGETS["paper"], seeds=1):
        values = {"task": r.task, "T": r.T, **dict(r.config)}
        cell = tuple(values[k] for k in keys)
        if cell not in cells:
            cells.append(cell)
    return cells


def run_coverage(cells: pd.DataFrame, experiment: str, budget: str,
                 keys=("task", "T")) -> str:
    """Coverage of a table of our cells without published counterparts: how many of the
    experiment's full-grid cells have a run, at which budget."""
    full = spec_cells(experiment, keys)
    ran = {tuple(v) for v in cells[list(keys)].itertuples(index=False)} & set(full)
    names = [COLUMN_LABELS.get(k, k) for k in keys]
    what = "(" + ", ".join(names) + ") cells" if len(keys) > 1 else f"{names[0]} values"
    return f"**{len(ran)} of {len(full)} {what} run**, at {budget_phrase(budget)}."


# ------------------------------------------------------------------------------------- layout
def greyed(text: str) -> str:
    """A cell not run, greyed in the book (``.lra-notrun`` in book/_static/tables.css)."""
    return f'<span class="lra-notrun">{html.escape(text)}</span>'


def _cell(r) -> str:
    if not r["ran"]:
        return greyed(f"{NOT_RUN} │ {r['paper']}")
    return f"{r['ours']} │ {r['paper']} {r['match']}".rstrip()


def grid(comp: pd.DataFrame, index: list[str], columns: list[str],
         collapse: bool = True) -> tuple[pd.DataFrame, str]:
    """The paper's layout, one row per ``index``, one column per ``columns`` value, with human
    headers. With ``collapse``, rows and columns in which nothing was run are left out, and the
    second value says which (empty when none was)."""
    if comp.empty:
        return pd.DataFrame(columns=[COLUMN_LABELS.get(k, k) for k in index]), ""
    c = comp.copy()
    c["cell"] = [_cell(r) for _, r in c.iterrows()]
    c["_col"] = list(zip(*(c[k] for k in columns)))
    order_cols = list(dict.fromkeys(c["_col"]))
    order_rows = list(dict.fromkeys(zip(*(c[k] for k in index))))
    ran_rows = {r for r, ok in zip(zip(*(c[k] for k in index)), c["ran"]) if ok}
    ran_cols = {col for col, ok in zip(c["_col"], c["ran"]) if ok}
    hidden = ""
    if collapse and ran_rows and len(ran_rows) + len(ran_cols) < len(order_rows) + len(order_cols):
        gone = {k: [v for v in dict.fromkeys(c[k]) if not c.loc[c[k] == v, "ran"].any()]
                for k in index + columns}
        named = "; ".join(f"{COLUMN_LABELS.get(k, k)} = " +
                          ", ".join(value_label(k, v) for v in vs)
                          for k, vs in gone.items() if vs)
        n_hidden = int((~c["ran"]).sum() - sum(
            1 for _, r in c.iterrows() if not r["ran"]
            and tuple(r[k] for k in index) in ran_rows and r["_col"] in ran_cols))
        hidden = (f"Not shown: {n_hidden} cells in rows or columns where nothing was run at this "
                  "budget" + (f" (nothing at {named})" if named else "") + ".")
        order_rows = [r for r in order_rows if r in ran_rows]
        order_cols = [col for col in order_cols if col in ran_cols]
    cells = {(tuple(r[k] for k in index), r["_col"]): r["cell"] for _, r in c.iterrows()}
    rows = []
    for ri in order_rows:
        row = {COLUMN_LABELS.get(k, k): value_label(k, v) for k, v in zip(index, ri)}
        for col in order_cols:
            row[column_header(columns, col)] = cells.get((ri, col), "")
        rows.append(row)
    return pd.DataFrame(rows), hidden


def markdown_table(df: pd.DataFrame) -> str:
    """A Markdown (MyST) table of the frame as it is; cells may carry inline HTML."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def comparison_markdown(comp: pd.DataFrame, index: list[str], columns: list[str], budget: str,
                        experiments, title: str, note: str = "") -> str:
    """A whole comparison block: coverage, the table of what was run, agreement counts, what was
    left out, the legend, the command that regenerates the rows, and the paper's full grid in a
    folded block (only when something was left out)."""
    shown, hidden = grid(comp, index, columns, collapse=True)
    parts = [coverage_line(comp, budget) + (" " + note if note else ""), markdown_table(shown),
             agreement_line(comp, budget)]
    if hidden:
        parts.append(hidden + f" The paper's whole {title} follows, folded.")
    parts += [legend(budget), reproduce_line(experiments, budget)]
    if hidden:
        full, _ = grid(comp, index, columns, collapse=False)
        parts.append(f":::{{dropdown}} {title}: all {len(comp)} published cells, ours where run\n"
                     + markdown_table(full) + "\n:::")
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------- Table V
def curriculum_text(result: dict | None, budget: str) -> str:
    """Our Table V cell: the highest T solved in an unbroken run from T = 10 (``—``: not even
    T = 10), saying when the budget's highest length, not a failure, stopped the curriculum
    (``≥ 30 (budget's limit)``) or when the next stage has not been run yet."""
    if result is None:
        return NOT_RUN
    best = result["max_T"]
    if best is None:
        return "—"
    base, _ = split_budget(budget)
    limit = BUDGETS[base].max_length if base in BUDGETS else None
    if limit is not None and best >= limit:
        return f"≥ {best} (budget's limit)"
    if best >= result.get("last_T", best):
        return f"≥ {best} (T = {best + 10} not run yet)"
    return str(best)


def curriculum_coverage(cells: pd.DataFrame, budget: str) -> str:
    """Coverage of Table V: (task, method) cells with any stored run, and the budget."""
    ran = int((cells["ours"] != NOT_RUN).sum())
    base, _ = split_budget(budget)
    limit = BUDGETS[base].max_length if base in BUDGETS else None
    return (f"**{ran} of {len(cells)} (task, method) cells run**, at {budget_phrase(budget)}"
            + (f"; the curriculum stops at T = {limit}" if limit else "") + ".")


def curriculum_table(results: dict, published: pd.DataFrame, methods: dict,
                     max_T=None) -> dict:
    """Table V: per task (rows) and method (columns) "ours │ paper", the highest T solved.

    ``results`` maps each experiment to its ``(rows, budget)``, ``methods`` each experiment to
    the method of the published table, ``max_T`` computes the curriculum's outcome per task
    (:func:`curriculum_max_T`). Returns ``coverage`` (a line), ``table`` (methods
    with nothing run left out), ``note`` (what a cell means, what was left out, the budgets)
    and ``reproduce`` (one line per budget)."""
    max_T = max_T or curriculum_max_T
    cells, used_by = [], {}
    for exp, method in methods.items():
        rows, budget = results[exp]
        used_by.setdefault(budget, []).append(exp)
        got = max_T(rows) if not rows.empty else {}
        for task in TASK_LABELS:
            p = published[(published.task == task) & (published.method == method)]
            paper = "—" if p.empty or pd.isna(p.max_T.iloc[0]) else str(int(p.max_T.iloc[0]))
            cells.append({"task": task, "method": method, "paper": paper,
                          "ours": curriculum_text(got.get(task), budget)})
    cells = pd.DataFrame(cells)
    budgets = list(used_by)
    ran = cells.ours != NOT_RUN
    coverage = (curriculum_coverage(cells, budgets[0]) if len(budgets) == 1 else
                f"**{int(ran.sum())} of {len(cells)} (task, method) cells run**, at budgets "
                + "; ".join(f"{b} ({', '.join(e)})" for b, e in used_by.items()) + ".")
    shown_methods = [m for m in methods.values() if ran[cells.method == m].any()]
    table = pd.DataFrame([{"task": task_label(task),
                           **{f"{METHOD_LABELS[m]}: ours │ paper":
                              " │ ".join(cells.loc[(cells.task == task) & (cells.method == m),
                                                    ["ours", "paper"]].iloc[0])
                              for m in shown_methods}} for task in TASK_LABELS])
    hidden = [METHOD_LABELS[m] for m in methods.values() if m not in shown_methods]
    sizes = " or ".join(f"{n:,}" for n in sorted({validation_size(b) for b in budgets}))
    note = (("Not run at this budget: " + ", ".join(hidden) + ". " if hidden else "")
            + "Cells: the highest T solved in an unbroken run of stages from T = 10 (—: not even "
            f"T = 10); a length counts as solved at zero errors on {sizes} validation samples "
            f"(the paper's protocol: {PAPER_VALIDATION:,}). "
            + " ".join(f"Budget used: **{b}** — {budget_description(b)}." for b in budgets))
    return dict(coverage=coverage, table=table, note=note,
                reproduce=[reproduce_line(e, b) for b, e in used_by.items()])


def best_beside_published(rows: pd.DataFrame, published: pd.DataFrame, budget: str,
                          by: str = "K", config=("alpha", "gamma", "c0", "c1")) -> dict:
    """Table IV: per value of ``by``, our best run (solved first, then accuracy) and its
    configuration beside the paper's best configuration, with the mark of :func:`mark`.
    Returns ``coverage``, ``table`` (values of ``by`` not run left out) and ``note``."""
    n = validation_size(budget)
    names = ", ".join(COLUMN_LABELS.get(c, c) for c in config)
    out, not_run = [], []
    for p in published.itertuples():
        d = rows[rows[by] == getattr(p, by)] if not rows.empty else rows
        if d.empty:
            not_run.append(f"{by} = {getattr(p, by)} (paper: {paper_text(p.solved, p.accuracy)})")
            continue
        best = d.sort_values(["solved", "best_accuracy"], ascending=False).iloc[0]
        out.append({by: getattr(p, by),
                    f"ours: {names}": ", ".join(f"{best[c]:g}" for c in config),
                    "ours": result_text(best.solved, best.best_accuracy * 100, n),
                    f"paper: {names}": ", ".join(f"{getattr(p, c):g}" for c in config),
                    "paper": paper_text(p.solved, p.accuracy),
                    "mark": mark(True, best.solved, best.best_accuracy * 100, p.solved,
                                 p.accuracy, n)})
    coverage = f"**{len(out)} of {len(published)} {by} values run**, at {budget_phrase(budget)}."
    note = (("Not run at this budget: " + "; ".join(not_run) + ". " if not_run else "")
            + f"Ours: the best of our {len(rows)} runs per {by}, {solved_text(n)} when it made "
            f"zero errors on {n:,} validation samples (the paper's protocol: "
            f"{PAPER_VALIDATION:,}). " + mark_legend())
    return dict(coverage=coverage, table=pd.DataFrame(out), note=note)


def best_over_grid(rows: pd.DataFrame, by: list[str], budget: str, experiment: str) -> dict:
    """Our best run per cell ``by`` (e.g. task, T, λ for Figure 5) over the rest of the grid:
    ``✓ 0/N`` when any run solved, else the best validation accuracy (%), with a coverage line
    against the experiment's full grid. Returns ``coverage`` and ``table``."""
    cells = best_per_cell(rows, by)
    n = validation_size(budget)
    cells["best over the grid"] = [result_text(s, a, n)
                                   for s, a in zip(cells.solved, cells.accuracy)]
    return dict(coverage=run_coverage(cells, experiment, budget, keys=tuple(by)),
                table=cells[by + ["best over the grid", "runs"]])
