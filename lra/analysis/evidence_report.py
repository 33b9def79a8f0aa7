"""The evidence plan's results, entry by entry, from stored rows (book chapter "Verdicts", section
"The evidence plan").

For each entry of :mod:`lra.campaign.evidence`: which of its rows are stored at the paper's budget,
and per method and cell the seeds run, how many solved, the best validation accuracy (what
selected each run) and the held-out test accuracy of that run (what judges it), each as a mean and
a range over seeds. Methods are told apart by experiment and variant; the readout-only control
reports, per seed, its learning rate chosen on validation.
"""
from __future__ import annotations

import pandas as pd

from lra.analysis.controls import pick_ours
from lra.analysis.labels import task_label
from lra.campaign.evidence import ENTRIES, PAPER, Entry
from lra.campaign.store import ResultsStore, solved_flags

METHOD_NAMES = {"ev_t20_lra": "RNN-LRA-diff", "ev_t20_reg": "RNN-LRA-diff, regularised",
                "ev_t20_bptt": "BPTT", "ev_readout": "readout only",
                "fig2_seeds": "RNN-LRA-diff (Figure 2)", "fig3_seeds": "forced (Δh and weights)",
                "fig3_dh_seeds": "forced (Δh alone)", "ev_fig2": "RNN-LRA-diff (Figure 2)",
                "ev_k": "RNN-LRA-diff", "ev_log_penalty": "log-penalty local loss",
                "ev_no_norm": "no normalisation (c0 = c1 = 0)",
                "ev_k1": "K = 1, gamma = 10", "ev_fig3": "forced (Δh and weights)",
                "ev_fig3_dh": "forced (Δh alone)", "ev_lambda": "RNN-LRA-diff, regularised",
                "ev_table4_norm": "c0 = c1 = 1", "ev_table4_none": "c0 = c1 = 0"}
# experiments whose rows differ in one setting: the method's name carries it
SPLIT_BY = {"ev_k": "K", "ev_lambda": "lam"}


def _span(values) -> str:
    v = [100 * float(x) for x in values if pd.notna(x)]
    if not v:
        return "—"
    return f"{sum(v) / len(v):.2f} ({min(v):.2f}–{max(v):.2f})" if len(v) > 1 else f"{v[0]:.2f}"


def entry_rows(entry: Entry, store: ResultsStore) -> pd.DataFrame:
    """The stored paper-budget rows of an entry's experiments in its cells (column ``method``)."""
    frames = []
    for name in entry.experiments:
        df = store.load(name, PAPER)
        if df.empty:
            continue
        df = df[[(t, int(T)) in set(entry.cells) for t, T in zip(df["task"], df["T"])]]
        base = METHOD_NAMES.get(name, name)
        if name in SPLIT_BY:
            key = SPLIT_BY[name]
            frames.append(df.assign(method=[f"{base}, {'lambda' if key == 'lam' else key} = {v:g}"
                                            for v in df[key].astype(float)]))
        else:
            frames.append(df.assign(method=base))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summary(entry: Entry, store: ResultsStore | None = None) -> pd.DataFrame:
    """Per method and cell: seeds, solved, validation and test accuracy (%) of each seed's
    reported run (the tables' selection on validation), mean (range) over seeds."""
    df = entry_rows(entry, store or ResultsStore())
    if df.empty:
        return pd.DataFrame()
    ceilings = _ceilings(store or ResultsStore())
    out = []
    for (method, task, T), g in df.groupby(["method", "task", "T"], sort=False):
        picks = [pick_ours(s) for _, s in g.groupby("seed", sort=True)]
        p = pd.DataFrame(picks)
        test = p["best_test_accuracy"] if "best_test_accuracy" in p else pd.Series(dtype=float)
        out.append({"method": method, "task": task_label(task), "T": int(T),
                    "seeds": len(p), "solved": f"{int(solved_flags(p['solved']).sum())}/{len(p)}",
                    "validation best, %": _span(p["best_accuracy"]),
                    "test at that check, %": _span(pd.to_numeric(test, errors="coerce")),
                    "runs": len(g)})
        if method == METHOD_NAMES["ev_readout"]:
            got = ceilings.get((task, int(T)), [])
            out[-1]["linear-readout ceiling (test), %"] = (
                f"{_span(got)} ({len(got)} seeds)" if got else "not computed yet")
    return pd.DataFrame(out)


def _ceilings(store: ResultsStore) -> dict:
    """(task, T) -> test accuracies of the linear-readout ceiling of each seed's reservoir
    (lra.campaign.ceiling: logistic regression fitted on a large sample of the frozen reservoir's
    last states, judged on the seed's test set): what any readout of that reservoir can reach."""
    from lra.campaign.ceiling import load
    out: dict = {}
    for r in load(store, PAPER):
        out.setdefault((r["task"], int(r["T"])), []).append(r["test_accuracy"])
    return out


def plan_table(store: ResultsStore | None = None) -> pd.DataFrame:
    """One row per entry: its parts, cells, and how many of its paper-budget rows are stored."""
    from lra.campaign.experiments import get_experiment, get_budget
    store = store or ResultsStore()
    budget = get_budget(PAPER)
    rows = []
    for i, e in enumerate(ENTRIES, 1):
        planned, stored, tested = 0, 0, 0
        for name in e.experiments:
            try:
                exp = get_experiment(name)
            except ValueError:
                continue
            keys = {r.key for r in exp.runs(budget) if (r.task, r.T) in set(e.cells)}
            planned += len(keys)
            df = store.load(name, PAPER)
            df = df[df["key"].isin(keys)]
            stored += len(df)
            tested += int((df["best_test_correct"].fillna("").astype(str) != "").sum())
        rows.append({"#": i, "parts": " ".join(e.parts), "entry": e.name,
                     "cells": ", ".join(f"{task_label(t)} T = {T}" for t, T in e.cells[:3])
                     + (f" … ({len(e.cells)} cells)" if len(e.cells) > 3 else ""),
                     "rows stored": f"{stored}/{planned}" if e.ready else "not yet declared",
                     "with the test set": f"{tested}/{planned}" if e.ready else "—"})
    return pd.DataFrame(rows)
