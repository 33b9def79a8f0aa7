"""Verdicts on the paper's claims C1-C10, computed from the stored results (chapter "Verdicts").

Each verdict is one of "reproduced", "not reproduced", "partly", "no evidence yet", with the
evidence it rests on and the budget of that evidence. A verdict drawn from the smoke budget is
labelled indicative: smoke runs are far shorter than the paper's protocol.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .report import best_per_cell, curriculum_max_T, load
from .store import ResultsStore

CLAIMS = {
    "C1": "LRA-diff solves temporal order and 3-bit temporal order only at T = 10.",
    "C2": "LRA-diff cannot solve random permutation even at T = 10 (~51 %, chance).",
    "C3": "The number of inner steps K has a marginal effect.",
    "C4": "The local loss (MSE vs log-penalty) makes no noticeable difference.",
    "C5": "Normalisation (c0 = c1 = 1 vs 0) has no significant effect.",
    "C6": "LRA-diff suffers vanishing gradients: the local loss vanishes a few steps below the top.",
    "C7": "Forced normalisation restores gradient flow but not learning.",
    "C8": "Regularisation restores flow and extends the solved length (temporal order 20, "
          "random permutation 80).",
    "C9": "Lower λ is better.",
    "C10": "A tuned γ can replace the inner loop (K = 1) — a conjecture.",
}
POINTS = 2.0   # accuracy (percentage points) below which two cells count as the same


def _verdict(claim, verdict, evidence, budgets):
    budgets = sorted(set(budgets))
    label = verdict
    if verdict != "no evidence yet" and "paper" not in budgets:
        label += " (indicative: smoke budget)"
    return dict(claim=claim, statement=CLAIMS[claim], verdict=label,
                evidence=evidence, budget=", ".join(budgets) or "—")


def _none(claim, what):
    return _verdict(claim, "no evidence yet", f"no stored results for {what}", [])


def c1(store):
    df, b = load("table1", store=store)
    if df.empty:
        return _none("C1", "table1")
    cells = best_per_cell(df, ["task", "T"])
    ev, ok, full = [], True, True
    for task in ("temporal_order", "temporal_order_3bit"):
        d = cells[cells.task == task].set_index("T")
        at10 = bool(d["solved"].get(10, False))
        longer = d[d.index > 10]
        ok &= at10 and not longer["solved"].any()
        full &= len(longer) > 0
        ev.append(f"{task}: T=10 {'solved' if at10 else 'not solved'}"
                  + "".join(f", T={T} {'solved' if s else f'{a:.2f}%'}"
                            for T, s, a in zip(longer.index, longer.solved, longer.accuracy)))
    verdict = ("reproduced" if full else "partly") if ok else "not reproduced"
    return _verdict("C1", verdict, "; ".join(ev), [b])


def c2(store):
    """Random permutation, T = 10: Table I's grid, the multi-seed re-runs and the Figure 2 run."""
    parts, budgets, accs, solved_any = [], [], [], False
    for exp in ("table1", "table1_multiseed", "fig2"):
        df, b = load(exp, store=store)
        d = df[(df.task == "random_permutation") & (df["T"] == 10)] if not df.empty else df
        if d.empty:
            continue
        best = d.best_accuracy.max() * 100
        accs.append(best)
        solved_any |= bool(d.solved.any())
        budgets.append(b)
        parts.append(f"{exp} ({b}): best {best:.2f}% over {len(d)} run(s), "
                     f"{int(d.solved.sum())} solved")
    if not parts:
        return _none("C2", "random permutation at T=10")
    best = max(accs)
    chance = abs(best - 50) < 5
    verdict = "reproduced" if (not solved_any and chance) else (
        "not reproduced" if solved_any or best > 60 else "partly")
    return _verdict("C2", verdict, "; ".join(parts) + " (paper: 50.54-50.93%)", budgets)


def c3(store):
    df, b = load("table1", store=store)
    if df.empty or df.K.nunique() < 2:
        return _none("C3", "table1 with more than one K")
    cells = best_per_cell(df, ["task", "T", "K"])
    spread = cells.groupby(["task", "T"]).agg(lo=("accuracy", "min"), hi=("accuracy", "max"),
                                             ns=("solved", "nunique"))
    marginal = ((spread.hi - spread.lo) < POINTS) & (spread.ns == 1)
    verdict = "reproduced" if marginal.all() else ("partly" if marginal.any() else "not reproduced")
    return _verdict("C3", verdict, f"{int(marginal.sum())}/{len(marginal)} (task, T) cells vary "
                    f"by < {POINTS} points across K with the same solved verdict", [b])


def _same_cells(a_name, b_name, store, claim, vary):
    a, ba = load(a_name, store=store)
    b, bb = load(b_name, store=store)
    if a.empty or b.empty:
        return _none(claim, f"{a_name} and {b_name}")
    keys = ["task", "T", "K"]
    ca, cb = best_per_cell(a, keys), best_per_cell(b, keys)
    m = ca.merge(cb, on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return _none(claim, f"overlapping cells of {a_name} and {b_name}")
    same = (m.solved_a == m.solved_b) & ((m.solved_a & m.solved_b)
                                         | ((m.accuracy_a - m.accuracy_b).abs() < POINTS))
    verdict = "reproduced" if same.all() else ("partly" if same.mean() >= 0.5 else "not reproduced")
    return _verdict(claim, verdict, f"{int(same.sum())}/{len(same)} cells agree within {POINTS} "
                    f"points when only {vary} changes", [ba, bb])


def c4(store):
    return _same_cells("table1", "table2", store, "C4", "the local loss")


def c5(store):
    return _same_cells("table1", "table3", store, "C5", "the normalisation")


def _probe_array(store, experiment, key_name):
    df, b = load(experiment, store=store)
    if df.empty:
        return None, b
    p = store.probes(experiment, b, df.iloc[0]["key"])
    if not p:
        return None, b
    return np.array([q[key_name] for q in p]), b


def c6(store):
    loss, b = _probe_array(store, "fig2", "local_loss")
    if loss is None:
        return _none("C6", "fig2 probes")
    T = loss.shape[1]
    top = np.median(loss[:, T - 1])
    two_below = np.median(loss[:, T - 3])
    three_below_zero = float((loss[:, T - 4] == 0).mean())
    bottom_zero = float((loss[:, : max(1, T - 4)] == 0).mean())
    drop = np.log10(top / two_below) if two_below > 0 else np.inf
    ok = drop >= 6 and three_below_zero > 0.5
    verdict = "reproduced" if ok else ("partly" if drop >= 3 else "not reproduced")
    return _verdict("C6", verdict, f"median local loss falls {drop:.1f} orders of magnitude from "
                    f"layer {T - 1} to {T - 3}; exactly zero {three_below_zero:.0%} of the time "
                    f"three steps below the top and {bottom_zero:.0%} in the layers beneath "
                    "(paper: 12 orders, zero three steps below)", [b])


def c7(store):
    dh3, b3 = _probe_array(store, "fig3", "dh_norm")
    f2, b2 = load("fig2", store=store)
    f3, _ = load("fig3", store=store)
    if dh3 is None or f2.empty:
        return _none("C7", "fig2 and fig3")
    flows = float((dh3[:, 1] > 0).mean())
    gain = (f3.best_accuracy.max() - f2.best_accuracy.max()) * 100
    ok = flows > 0.9 and gain < POINTS and not f3.solved.any()
    verdict = "reproduced" if ok else ("partly" if flows > 0.9 else "not reproduced")
    solved = f"solved in {int(f3[f3.solved].iterations.min())} iterations" if f3.solved.any() \
        else "not solved"
    return _verdict("C7", verdict, f"forced normalisation: ‖Δh_1‖ > 0 in {flows:.0%} of probes; "
                    f"best accuracy {f3.best_accuracy.max() * 100:.2f}% ({solved}) vs "
                    f"{f2.best_accuracy.max() * 100:.2f}% unmodified", [b2, b3])


def c8(store):
    plain, b1 = load("table5_lra", store=store)
    reg, b2 = load("table5_lra_reg", store=store)
    if plain.empty or reg.empty:
        return _none("C8", "table5_lra and table5_lra_reg")
    a, r = curriculum_max_T(plain), curriculum_max_T(reg)
    ev, better = [], []
    for task in sorted(set(a) | set(r)):
        ta, tr = (a.get(task) or {}).get("max_T"), (r.get(task) or {}).get("max_T")
        ev.append(f"{task}: {ta or '—'} → {tr or '—'}")
        better.append((tr or 0) > (ta or 0))
    verdict = "reproduced" if all(better) else ("partly" if any(better) else "not reproduced")
    return _verdict("C8", verdict, "highest T solved, unregularised → regularised: " +
                    "; ".join(ev) + " (paper: temporal order 10 → 20, 3-bit 10 → 10, "
                    "random permutation never → 80)", [b1, b2])


def c9(store):
    df, b = load("fig5", store=store)
    if df.empty or df.lam.nunique() < 2:
        return _none("C9", "fig5 with more than one λ")
    ev, ok = [], []
    for task, d in df.groupby("task"):
        best = d.groupby("lam").best_accuracy.max() * 100
        ok.append(best.idxmax() == best.index.min() or best.max() - best.iloc[0] < POINTS)
        ev.append(f"{task}: " + ", ".join(f"λ={l:g}: {a:.1f}%" for l, a in best.items()))
    verdict = "reproduced" if all(ok) else ("partly" if any(ok) else "not reproduced")
    return _verdict("C9", verdict, "; ".join(ev), [b])


def c10(store):
    k1, b1 = load("conjecture_k1", store=store)
    t1, b2 = load("table1", store=store)
    if k1.empty or t1.empty:
        return _none("C10", "conjecture_k1 and table1")
    keys = ["task", "T"]
    a = best_per_cell(k1, keys)
    b = best_per_cell(t1, keys)
    m = a.merge(b, on=keys, suffixes=("_k1", "_grid"))
    same = (m.solved_k1 == m.solved_grid) & ((m.solved_k1 & m.solved_grid) |
                                             ((m.accuracy_k1 - m.accuracy_grid).abs() < POINTS))
    if m.empty:
        return _none("C10", "overlapping cells of conjecture_k1 and table1")
    verdict = "reproduced" if same.all() else ("partly" if same.any() else "not reproduced")
    return _verdict("C10", verdict, f"K = 1 with the best γ matches the K ∈ {{10,20,30}} grid in "
                    f"{int(same.sum())}/{len(same)} (task, T) cells", [b1, b2])


def all_verdicts(store=None) -> pd.DataFrame:
    store = store or ResultsStore()
    return pd.DataFrame([f(store) for f in (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)])
