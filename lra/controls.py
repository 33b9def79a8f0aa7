"""Controls the paper lacks: does the learning rule beat a network whose recurrent weights never
learn? (book chapter "RNN-LRA-diff", section "Control: readout only"; :mod:`lra.readout`).
"""
from __future__ import annotations

import pandas as pd

from .report import published
from .store import solved_flags


def readout_summary(readout: pd.DataFrame) -> pd.DataFrame:
    """Per (task, T): for each seed the best learning rate's best validation accuracy, then the
    mean, minimum and maximum over seeds (%), and in how many seeds any learning rate solved."""
    if readout.empty:
        return pd.DataFrame(columns=["task", "T", "seeds", "readout_mean", "readout_min",
                                     "readout_max", "readout_solved"])
    df = readout.assign(solved=solved_flags(readout["solved"]))
    per_seed = df.groupby(["task", "T", "seed"]).agg(acc=("best_accuracy", "max"),
                                                     solved=("solved", "any")).reset_index()
    out = per_seed.groupby(["task", "T"]).agg(
        seeds=("seed", "count"), readout_mean=("acc", "mean"), readout_min=("acc", "min"),
        readout_max=("acc", "max"), readout_solved=("solved", "sum")).reset_index()
    for c in ("readout_mean", "readout_min", "readout_max"):
        out[c] = out[c] * 100
    return out


def beside_learning_rule(readout: pd.DataFrame, lra: pd.DataFrame,
                         table: str = "table1") -> pd.DataFrame:
    """The readout-only control beside the learning rule's best run per (task, T) (one seed,
    best over the grid) and the paper's best over K of the same table."""
    ctrl = readout_summary(readout)
    if lra.empty:
        ours = pd.DataFrame(columns=["task", "T", "lra_best", "lra_solved"])
    else:
        d = lra.assign(solved=solved_flags(lra["solved"]))
        ours = d.groupby(["task", "T"]).agg(lra_best=("best_accuracy", "max"),
                                           lra_solved=("solved", "any")).reset_index()
        ours["lra_best"] = ours["lra_best"] * 100
    pub = published(table)
    pub = pub.assign(paper=[100.0 if s else a for s, a in zip(pub["solved"], pub["accuracy"])])
    paper = pub.groupby(["task", "T"]).agg(paper_best=("paper", "max")).reset_index()
    out = ctrl.merge(ours, on=["task", "T"], how="outer").merge(paper, on=["task", "T"],
                                                               how="left")
    return out.sort_values(["task", "T"]).reset_index(drop=True)


def control_table(merged: pd.DataFrame) -> pd.DataFrame:
    """Reader-facing text table of :func:`beside_learning_rule`."""
    def pct(v):
        return "–" if pd.isna(v) else f"{v:.2f}"
    rows = []
    for r in merged.itertuples():
        ctrl = "not run" if pd.isna(r.readout_mean) else (
            f"{r.readout_mean:.2f} ({r.readout_min:.2f}–{r.readout_max:.2f}), "
            f"solved {int(r.readout_solved)}/{int(r.seeds)}")
        lra = "not run" if pd.isna(r.lra_best) else (
            "✓" if bool(r.lra_solved) else pct(r.lra_best))
        rows.append({"task": r.task.replace("_", " "), "T": int(r.T),
                     "readout only: mean (min–max) over seeds": ctrl,
                     "RNN-LRA-diff, best of grid": lra, "paper, best over K": pct(r.paper_best)})
    return pd.DataFrame(rows)
