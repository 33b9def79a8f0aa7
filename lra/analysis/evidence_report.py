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

METHOD_NAMES = {"ev_t20_lra": "RNN-LRA-diff", "ev_t10_lra": "RNN-LRA-diff", "ev_t20_reg": "RNN-LRA-diff, regularised",
                "ev_t20_bptt": "BPTT", "ev_t10_bptt": "BPTT", "ev_readout": "readout only",
                "fig2_seeds": "RNN-LRA-diff (Figure 2)", "fig3_seeds": "forced (Δh and weights)",
                "fig3_dh_seeds": "forced (Δh alone)", "ev_fig2": "RNN-LRA-diff (Figure 2)",
                "ev_k": "RNN-LRA-diff", "ev_log_penalty": "log-penalty local loss",
                "ev_no_norm": "no normalisation (c0 = c1 = 0)",
                "ev_k1": "K = 1, gamma = 10", "ev_fig3": "forced (Δh and weights)",
                "ev_fig3_dh": "forced (Δh alone)", "ev_lambda": "RNN-LRA-diff, regularised",
                "ev_table4_norm": "c0 = c1 = 1", "ev_table4_none": "c0 = c1 = 0",
                "ev_t5_reg_rp": "RNN-LRA-diff, regularised (Table V's curriculum)",
                "ev_readout_rp_long": "readout only"}
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
    table = pd.DataFrame(out)
    ceiling = "linear-readout ceiling (test), %"
    if ceiling in table:        # a ceiling is a readout's: other methods' cells are left blank
        table[ceiling] = table[ceiling].fillna("")
    return table


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
    """One row per entry: its parts, cells, and how many of its paper-budget rows are stored.

    The rows an entry plans are those the campaign would run (:func:`entry_runs`): a control the
    stored rows make pointless is not counted (the long readout control once the curriculum it
    controls has stopped), and a curriculum counts its first stage and the stages it has run."""
    from lra.campaign.evidence import entry_runs, in_flight
    from lra.campaign.experiments import get_experiment
    store = store or ResultsStore()
    done = in_flight(store)
    rows = []
    for i, e in enumerate(ENTRIES, 1):
        planned, stored, tested = 0, 0, 0
        for name, runs in entry_runs(e, store).items():
            keys = {r.key for r in runs}
            df = store.load(name, PAPER)
            if get_experiment(name).curriculum and not df.empty:
                keys |= {k for k, t, T in zip(df["key"], df["task"], df["T"].astype(int))
                         if (t, T) in set(e.cells)}
            planned += len(keys)
            df = df[df["key"].isin(keys)] if not df.empty else df
            stored += len(df)
            tested += int((df["best_test_correct"].fillna("").astype(str) != "").sum())
        rows.append({"#": i, "parts": " ".join(e.parts), "comparison": e.question,
                     "cells": ", ".join(f"{task_label(t)} T = {T}" for t, T in e.cells[:3])
                     + (f" … ({len(e.cells)} cells)" if len(e.cells) > 3 else ""),
                     "rows stored": f"{stored}/{planned}" if e.ready else "not yet declared",
                     "with the test set": f"{tested}/{planned}" if e.ready else "—",
                     "left to run (upper bound)": _left(e, store, done) if e.ready else "—"})
    return pd.DataFrame(rows)


def _left(entry: Entry, store: ResultsStore, done: dict) -> str:
    """What is left of an entry and its projected time, every member to the cap (members in
    flight from their checkpoint's iteration): on one core of the CPU the plan runs on, and on an
    H100 (lra.campaign.projection's committed benchmarks)."""
    from lra.campaign.evidence import entry_cost
    cpu = entry_cost(entry, store, "cpu", done)
    if not cpu["missing"]:
        return "nothing"
    gpu = entry_cost(entry, store, "NVIDIA H100 80GB HBM3", done)
    hours = lambda s: ("n/a" if s != s else f"{s / 60:.0f} min" if s < 3600       # noqa: E731
                       else f"{s / 3600:.1f} h")
    flight = f", {cpu['resumed']} in flight" if cpu["resumed"] else ""
    return (f"{cpu['missing']} runs{flight}: ≤ {hours(cpu['seconds'])} on one CPU core, "
            f"≤ {hours(gpu['seconds'])} on an H100")


# ------------------------------------------------------------------- beside the published tables
# The plan's runs of unregularised RNN-LRA-diff, by the published table whose cells they share:
# Table I (MSE, c0 = c1 = 1), II (the log-penalty), III (c0 = c1 = 0), IV (temporal order at
# T = 20, Table IV's clipping settings). Rows of another variant of the same experiment (Table
# IV's configuration of ev_t20_lra on temporal order is c0 = 0, c1 = 0.1) go to the table they
# match, by :func:`_table_of`.
PLAN_TABLES = {"table1": ("ev_t10_lra", "ev_fig2", "ev_k", "ev_t20_lra"),
               "table2": ("ev_log_penalty",),
               "table3": ("ev_no_norm",),
               "table4": ("ev_t20_lra", "ev_table4_norm", "ev_table4_none")}
SYMBOL = {"alpha": "α", "gamma": "γ"}
LOSS_WORDS = {"mse": "MSE", "log_penalty": "log-penalty"}
ROMAN = {"table1": "Table I", "table2": "Table II", "table3": "Table III", "table4": "Table IV"}


def _table_of(r) -> str | None:
    """Which of Tables I-IV a plan row of unregularised RNN-LRA-diff stands beside."""
    if r["algorithm"] != "lra_diff" or float(r.get("lam") or 0) > 0:
        return None
    c0, c1, loss = float(r["c0"]), float(r["c1"]), str(r["loss"])
    if r["task"] == "temporal_order" and int(r["T"]) == 20 and (c0, c1) != (1.0, 1.0) or \
            r["experiment"] in ("ev_table4_norm", "ev_table4_none"):
        return "table4"
    if loss == "log_penalty":
        return "table2"
    if c0 == c1 == 0.0:
        return "table3"
    if c0 == c1 == 1.0 and loss == "mse":
        return "table1"
    return None


def _paper_cell(table: str, task: str, K: int, T: int) -> str:
    from lra.analysis.controls import PAPER_VARIANT
    from lra.analysis.report import published
    from lra.analysis.tables import paper_text
    pub = published(table)
    for col, value in PAPER_VARIANT.get(table, {}).items():
        pub = pub[pub[col] == value]
    hit = pub[(pub.task == task) & (pub["T"] == T) & (pub.K == K)]
    if hit.empty:
        return "—"
    r = hit.iloc[0]
    said = paper_text(bool(r.solved), r.accuracy)
    if table == "table4":
        said += f" (c0 = {r.c0:g}, c1 = {r.c1:g})"
    return said


def _readout_test(ctrl: pd.DataFrame, task: str, T: int) -> str:
    """The plan's readout-only control at (task, T): each seed's learning rate chosen on
    validation, its held-out test accuracy, mean (range) over seeds."""
    if ctrl.empty:
        return "not run"
    d = ctrl[(ctrl.task == task) & (ctrl["T"].astype(int) == T)]
    if d.empty:
        return "not run"
    p = pd.DataFrame([pick_ours(s) for _, s in d.groupby("seed", sort=True)])
    return _span(pd.to_numeric(p.get("best_test_accuracy"), errors="coerce"))


def plan_rows(table: str, store: ResultsStore | None = None) -> pd.DataFrame:
    """The plan's paper-budget rows that stand beside one of Tables I-IV (:func:`_table_of`)."""
    store = store or ResultsStore()
    frames = [store.load(e, PAPER) for e in PLAN_TABLES.get(table, ())]
    df = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
        not f.empty for f in frames) else pd.DataFrame()
    if not df.empty:
        df = df[[_table_of(r) == table for _, r in df.iterrows()]]
    return df


def plan_cells(table: str, store: ResultsStore | None = None) -> int:
    """How many of the table's (task, K, T) cells the plan has run at the paper's protocol."""
    df = plan_rows(table, store)
    return 0 if df.empty else df.groupby(["task", "K", "T"]).ngroups


def beside_published(table: str, store: ResultsStore | None = None) -> dict:
    """The plan's paper-protocol runs that share a cell with ``table`` (one configuration per
    cell, five seeds) beside the paper's cell (one seed, the best of its grid). Returns
    ``coverage`` (a sentence) and ``table`` (per cell and configuration: seeds, solved, best
    validation and held-out test accuracy, mean and range over seeds, the plan's readout-only
    control on the same cell, and the paper's cell)."""
    from lra.analysis.report import published
    store = store or ResultsStore()
    df = plan_rows(table, store)
    n_pub = published(table).groupby(["task", "K", "T"]).ngroups
    name = ROMAN[table]
    if df.empty:
        return dict(coverage=f"The evidence plan has run none of {name}'s {n_pub} cells at the "
                             "paper's protocol yet.", table=pd.DataFrame())
    ctrl = store.load("ev_readout", PAPER)
    out = []
    conf = ["alpha", "gamma", "c0", "c1", "loss"]
    for (task, K, T, *cfg), g in df.groupby(["task", "K", "T"] + conf, sort=True):
        p = pd.DataFrame([pick_ours(s) for _, s in g.groupby("seed", sort=True)])
        test = pd.to_numeric(p.get("best_test_accuracy"), errors="coerce")
        out.append({"cell": f"{task_label(task)}, K = {int(K)}, T = {int(T)}",
                    "configuration": ", ".join(
                        f"{LOSS_WORDS.get(str(v), str(v))} local loss" if k == "loss" else
                        f"{SYMBOL.get(k, k)} = {float(v):g}" for k, v in zip(conf, cfg)),
                    "seeds": len(p),
                    "solved": f"{int(solved_flags(p['solved']).sum())}/{len(p)}",
                    "validation best, %": _span(p["best_accuracy"]),
                    "test at that check, %": _span(test),
                    "readout only, test %": _readout_test(ctrl, task, int(T)),
                    "paper (best of its grid, one run)": _paper_cell(table, task, int(K), int(T))})
    t = pd.DataFrame(out)
    cells = df.groupby(["task", "K", "T"]).ngroups
    seeds = sorted({int(n) for n in t["seeds"]})
    coverage = (f"**The evidence plan at the paper's protocol: {cells} of {name}'s {n_pub} "
                f"cells**, one configuration each (fixed by the plan's rule before its rows "
                f"existed), {'–'.join(map(str, seeds[::max(1, len(seeds) - 1)]))} seeds; "
                "100,000-iteration cap, validation on 10,000 samples every 100 iterations, each "
                "seed's run selected on validation and judged on its own 10,000-sample test set. "
                "The paper's cell is one run, the best of its whole grid: a plan row is one "
                "configuration, not a grid search.")
    return dict(coverage=coverage, table=t)


def entry_verdicts(entry: Entry, verdicts) -> str:
    """One line: the verdict of each claim part the entry can decide, and whether the plan's
    paper-protocol rows gave it or it still rests on other runs (``verdicts``: the records of
    :func:`lra.analysis.verdicts.verdicts`)."""
    by_part = {v.part: v for v in verdicts}
    said = []
    for part in entry.parts:
        v = by_part.get(part)
        if v is None:
            continue
        own = v.own_budgets or []
        if v.headline.startswith("At the paper's protocol (evidence plan"):
            where = "from the plan's paper-protocol rows"
        elif not own:
            where = "no stored rows decide it yet"
        elif own == ["paper"]:
            where = "from paper-budget rows"
        else:
            where = f"for now from {' and '.join(own)}-budget rows"
        said.append(f"{part} *{v.verdict}* ({where})")
    return "Verdicts: " + "; ".join(said) + "." if said else ""


def regularised_against_plain(store: ResultsStore | None = None, T: int = 20) -> list[str]:
    """The plan's T = 20 runs with and without the regulariser (the same configuration but
    λ = 0.1, five seeds each), paired seed by seed on the held-out test set, one sentence per task
    where both sides have five seeds (chapter "Regularisation")."""
    from lra.analysis.paired import pair_methods
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS
    store = store or ResultsStore()
    reg_all, plain_all = (store.load(e, PAPER) for e in ("ev_t20_reg", "ev_t20_lra"))
    out = []
    for task in dict.fromkeys(reg_all["task"]) if not reg_all.empty else ():
        reg, plain = (d[(d.task == task) & (d["T"].astype(int) == T)] for d in (reg_all, plain_all))
        if reg.empty or plain.empty or min(reg["seed"].nunique(),
                                           plain["seed"].nunique()) < MIN_SEEDS:
            continue
        out.append(pair_methods(reg, plain, "regularised (λ = 0.1)", "unregularised").sentence())
    return out
