"""Claims C3, C4 and C5 (book chapter "Verdicts"): the variants of the algorithm that make no
difference — the number of inner steps K (C3), the local loss (C4), normalisation and its clipping
thresholds (C5).
"""
from __future__ import annotations

from lra.analysis.paired import REFUSALS, pair_methods
from lra.analysis.report import best_per_cell, published
from lra.campaign.experiments import EXPERIMENTS
from lra.analysis.verdicts.evidence import _common, _load
from lra.analysis.verdicts.protocol import with_protocol
from lra.analysis.verdicts.readout_control import _controls
from lra.analysis.verdicts.vocabulary import (NAMES, TOL, Verdict, _count, _current, _identical,
                                              _not_tested,
                                              _pct, _per_config, _pts, _record, _res, _runs,
                                              _seeds, _set, _in, _range_pct, _stale, _task)

ROMAN = {"table1": "Table I", "table2": "Table II", "table3": "Table III", "table4": "Table IV",
         "table5": "Table V"}


def _seed_spread(res, task, T, K=None, budget=None):
    """(seeds, lowest %, highest %, solved seeds) of the re-seeded Table I cell, or None."""
    df, _ = _load(res, "table1_multiseed", budget)
    if df.empty:
        return None
    d = df[(df.task == task) & (df["T"] == T)]
    if K is not None and "K" in d:
        d = d[d.K == K]
    if d["seed"].nunique() < 2:
        return None
    acc = d.best_accuracy * 100
    return int(d["seed"].nunique()), float(acc.min()), float(acc.max()), int(d.solved.sum())



# ------------------------------------------------------------------------------ C3
def c3(res) -> list[Verdict]:
    return [with_protocol(res, "C3", _c3_grid(res))]


def _c3_grid(res) -> Verdict:
    tests = "the number of inner steps K changes the best accuracy by less than the tolerance"
    df, b = _load(res, "table1")
    if df.empty or df.K.nunique() < 2:
        what = "Table I with more than one K" + (
            f" (the stored {b}-budget rows have {_in('K', df.K)} only)" if not df.empty else "")
        return _not_tested("C3", tests, what)
    cells = best_per_cell(df, ["task", "T", "K"])
    rows, marginal, identical = [], 0, True
    for (task, T), g in cells.groupby(["task", "T"]):
        if g.K.nunique() < 2:
            continue
        same = g.solved.nunique() == 1 and (g.solved.all() or g.accuracy.max() - g.accuracy.min()
                                           < TOL)
        marginal += same
        identical &= _identical(g.solved, g.accuracy)
        rows.append(f"{_task(task)} T = {T}: " + ", ".join(
            f"K = {k:g} {_res(s, a)}" for k, s, a in zip(g.K, g.solved, g.accuracy)))
    n = len(rows)
    verdict = "reproduced" if marginal == n else ("partly" if marginal else "not reproduced")
    ev = [f"In {marginal} of {n} (task, T) cells the best result varies by less than {TOL:g} {_pts(TOL)} "
          f"across {_in('K', df.K)} ({_runs(df, b)})."] + [r + "." for r in rows]
    solved_all = cells.groupby(["task", "T"]).solved.all()
    if n and identical:
        ev.append("Every value of K gives the identical result in every cell"
                  + (" (every cell solved)" if solved_all.all() else "")
                  + ": these cells cannot separate the values of K.")
    ctl = cells.groupby(["task", "T"]).agg(solved=("solved", "any"), acc=("accuracy", "max"))
    control = _controls(res, [(t, T, r.solved, r.acc) for (t, T), r in ctl.iterrows()],
                            own=[(NAMES["table1"], df)])
    return _record("C3", tests, verdict, ev, [b], _seeds(df), n,
                   published("table1").groupby(["task", "T"]).ngroups,
                   _stale(df, _current()), control, identical=bool(n) and identical)


# ------------------------------------------------------------------------------ C4, C5
def _variants(res, part, tests, base, other, names, pub_table, pub_col, pub_values):
    """Two variants cell by cell (task, T, K): agreement, and whether the cells can tell them
    apart at all (both solved; a difference below the tolerance; or within the seeds' spread).
    Where both variants store predictions for two or more seeds, the paired test decides a cell:
    it differs only if one variant is better in every paired seed at p < 0.05."""
    b = _common(res, [base, other])
    if b is None:
        return _not_tested(part, tests, f"both the {NAMES[base]} and the {NAMES[other]} at one "
                                        "budget")
    A, B = res.rows(base, b), res.rows(other, b)
    keys = ["task", "T", "K"]
    m = best_per_cell(A, keys).merge(best_per_cell(B, keys), on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return _not_tested(part, tests, f"cells run in both the {NAMES[base]} and the "
                                        f"{NAMES[other]}")
    ceiling, below, spread_cells, differ, listing = 0, [], [], 0, []
    pairs, not_shown, identical = [], 0, True
    for r in m.itertuples():
        identical &= _identical((r.solved_a, r.solved_b), (r.accuracy_a, r.accuracy_b))
        diff = abs(r.accuracy_a - r.accuracy_b)
        listing.append(f"{_task(r.task)} T = {r.T}, K = {r.K:g}: {_res(r.solved_a, r.accuracy_a)} "
                       f"vs {_res(r.solved_b, r.accuracy_b)}")
        sp = _seed_spread(res, r.task, r.T, r.K, b)
        pair = pair_methods(*(d[(d.task == r.task) & (d["T"] == r.T) & (d.K == r.K)]
                              for d in (A, B)), f"{names[0]} at K = {r.K:g}", names[1])
        pairs.append(pair)
        if r.solved_a and r.solved_b:
            ceiling += 1
        elif pair.missing is None:        # a paired multi-seed test decides
            if pair.a_better_everywhere or pair.b_better_everywhere:
                differ += 1
            else:
                not_shown += 1
        elif r.solved_a != r.solved_b:
            differ += 1
        elif diff < TOL:
            below.append(diff)
            if sp and sp[2] - sp[1] > diff:
                spread_cells.append((diff, sp))
        elif sp and sp[2] - sp[1] >= diff:
            spread_cells.append((diff, sp))
        else:
            differ += 1
    n = len(m)
    verdict = "reproduced" if differ == 0 else ("partly" if differ < n else "not reproduced")
    Ts = _set(m["T"])
    agree = (f"both solve, or within {TOL:g} {_pts(TOL)}" if not not_shown and not any(
        p.missing is None for p in pairs) else f"both solve; or, paired over seeds, neither is "
        f"better in every seed at p < 0.05; or, without a paired test, within {TOL:g} {_pts(TOL)}")
    ev = [f"{n - differ} of {n} cells agree between {names[0]} and {names[1]} ({agree}); "
          f"{b} budget, {_per_config(_seeds(A))}, T ∈ {Ts}."]
    ev.append("Cells: " + "; ".join(listing) + "." if n <= 9 else
              f"Cells: {n} (task, T, K) combinations over {m.task.nunique()} tasks.")
    tested = [p for p in pairs if p.tested]
    if tested and n <= 9:
        ev.extend(p.sentence() for p in tested)
    elif tested:
        ev.append(f"Paired tests (exact McNemar per seed) in {len(tested)} of {n} cells; one "
                  "variant is better in every paired seed in "
                  f"{sum(p.a_better_everywhere or p.b_better_everywhere for p in tested)}.")
    refused = [p for p in pairs if not p.tested]
    if refused:
        ev.append(f"No paired test of the variants in {len(refused)} of {n} cells: "
                  + "; ".join(sorted({REFUSALS[p.refusal] for p in refused})) + ".")
    lacking = [p.reason for p in pairs if p.missing]
    unpaired = [f"no paired multi-seed test of the variants in {len(lacking)} of {n} cells ("
                + "; ".join(sorted(set(lacking))) + ")"] if lacking else []
    if differ == 0 or spread_cells or not_shown:
        why = []
        if ceiling:
            why.append(f"both variants solve the task in {ceiling} of {n} cells, so no difference "
                       "can show there")
        if below:
            why.append(f"the difference is below the {TOL:g}-point tolerance in "
                       f"{_count(len(below), 'cell')} "
                       f"(largest {max(below):.2f} points)")
        if spread_cells:
            d, sp = max(spread_cells, key=lambda x: x[0])
            why.append(f"in {_count(len(spread_cells), 'cell')} the spread across seeds of "
                       "Table I's best "
                       f"configuration ({sp[1]:.2f}–{sp[2]:.2f} % over {sp[0]} seeds) is larger "
                       f"than the difference ({d:.2f} points)")
        if not_shown:
            why.append(f"in {_count(not_shown, 'cell')} neither variant is better in every "
                       "paired seed at p < 0.05")
        ev.append("Why: " + "; ".join(why) + ".")
    if identical:
        ev[0] = ev[0][:-1] + ("; the two variants give identical results in every cell, so these "
                              "cells cannot separate them.")
    # the paper's own table, for what the claim rests on
    pub = published(pub_table)
    pa = pub[pub[pub_col] == pub_values[0]].merge(pub[pub[pub_col] == pub_values[1]],
                                                  on=["task", "K", "T"])
    pdiff = (pa.solved_x != pa.solved_y) | (~pa.solved_x & ((pa.accuracy_x - pa.accuracy_y).abs()
                                                            >= TOL))
    if pdiff.any():
        ev.append(f"In the paper's own {ROMAN[pub_table]}, {int(pdiff.sum())} "
                  f"of {len(pa)} cells differ by {TOL:g} {_pts(TOL)} or more between the variants "
                  f"(at {_in('T', pa[pdiff]['T'])}).")
    cells = m.groupby(["task", "T"]).agg(solved=("solved_a", "any"), acc=("accuracy_a", "max"))
    control = _controls(res, [(t, T, r.solved, r.acc) for (t, T), r in cells.iterrows()],
                            own=[(NAMES[base], A)])
    stale = _stale(A, _current()) + _stale(B, _current())
    return _record(part, tests, verdict, ev, [b], min(_seeds(A), _seeds(B)), n, len(pa),
                   stale, control, unpaired, identical=identical)


def c4(res) -> list[Verdict]:
    v = _variants(res, "C4", "MSE and the log-penalty local loss give the same results",
                  "table1", "table2", ("MSE (Table I)", "the log-penalty (Table II)"),
                  "table2", "loss", ("mse", "log_penalty"))
    v = with_protocol(res, "C4", v)
    why = _small_displacements(res)
    if why and v.verdict != "not tested":
        v.evidence.append(why)
    return [v]


def _small_displacements(res) -> str | None:
    """Why the two local losses can hardly differ here: the log-penalty log(1 + d^2) has the
    gradient 2d / (1 + d^2), MSE's d^2 has 2d, so on a displacement d = z - target they differ by
    the factor 1 / (1 + d^2). The Figure 2 run's probes record the MSE local loss of every layer,
    the mean of d^2 over the batch and the units: its largest value over all probes and layers
    bounds the typical d^2 (one element can exceed the mean)."""
    import numpy as np
    from lra.analysis.verdicts.gradients import _probe_array
    df, b = _load(res, "fig2")
    if df.empty:
        return None
    L, row = _probe_array(res, "fig2", b, "local_loss")
    if L is None or not np.isfinite(L).any():
        return None
    m = float(np.nanmax(L))
    return (f"Why the two can hardly differ: the log-penalty's gradient is MSE's times "
            f"1 / (1 + d²) for a displacement d = z − target, and in the Figure 2 run "
            f"({b} budget, {int(row['iterations']):,} iterations, {len(L)} probes) the mean d² "
            f"of any layer in any probe is at most {m:.1e}: on such displacements the two losses "
            f"give updates that differ, on average, by a factor of about 1 − {m:.0e}.")


def c5(res) -> list[Verdict]:
    a = _variants(res, "C5a", "normalisation (c0 = c1 = 1) and none (c0 = c1 = 0) give the "
                  "same results (Table III)", "table1", "table3",
                  ("normalisation (Table I)", "none (Table III)"), "table3", "normalisation",
                  ("normalised", "none"))
    a = with_protocol(res, "C5a", a)
    why = _below_the_threshold(res)
    if why and a.verdict != "not tested":
        a.evidence.append(why)
    return [a, with_protocol(res, "C5b", _c5_table4(res))]


def _below_the_threshold(res) -> str | None:
    """Why normalised and unnormalised runs can be the same computation: Normalize (Algorithm 1,
    line 29) rescales only a displacement or gradient whose norm reaches its constant c. The
    Figure 2 run's probes record ||Delta h|| after normalisation at the first inner step (exactly
    c where it acted) and the weight gradients' norms: where every one stays below c, normalising
    changed nothing at the probed iterations."""
    import numpy as np
    from lra.analysis.verdicts.gradients import _probe_array
    df, b = _load(res, "fig2")
    if df.empty:
        return None
    dh, row = _probe_array(res, "fig2", b, "dh_norm")
    if dh is None or not np.isfinite(dh).any():
        return None
    dw = []
    for q in ("dW_hh_norm", "dW_xh_norm", "db_h_norm"):
        try:
            a = _probe_array(res, "fig2", b, q)[0]
        except KeyError:                  # probes written before that quantity was recorded
            continue
        if a is not None:
            dw.append(a)
    c0, c1 = float(row.get("c0", 1.0)), float(row.get("c1", 1.0))
    dh_max = float(np.nanmax(dh))
    dw_max = max((float(np.nanmax(a)) for a in dw), default=float("nan"))
    acted = dh_max >= c1 or (dw and dw_max >= c0)
    where = (f"in the Figure 2 run (γ = {row['gamma']:g}, α = {row['alpha']:g}; {b} budget; "
             f"{len(dh)} probes, first inner step) the largest ‖Δh‖ of any layer is "
             f"{dh_max:.2g}" + (f" and the largest weight-gradient norm {dw_max:.2g}" if dw else ""))
    if acted:
        return (f"Normalisation acts on a norm that reaches its constant (c1 = {c1:g} for Δh, "
                f"c0 = {c0:g} for the weight gradients): {where}, so there it did act.")
    return (f"Why they can be the same computation: normalisation acts only on a norm that "
            f"reaches its constant (c1 = {c1:g} for Δh, c0 = {c0:g} for the weight gradients), "
            f"and {where}: at that configuration, wherever it was probed, normalising changed "
            f"nothing (a larger γ gives larger displacements, so this does not extend to the "
            f"whole grid).")


def _c5_table4(res):
    tests = "the clipping thresholds c0, c1 do not change temporal order at T = 20 (Table IV)"
    df, b = _load(res, "table4")
    if df.empty:
        return _not_tested("C5b", tests, "Table IV")
    per, same, identical = [], 0, True
    for (task, T, K), g in df.groupby(["task", "T", "K"]):
        s = g.groupby(["c0", "c1"]).agg(acc=("best_accuracy", "max"), solved=("solved", "any"))
        acc = s.acc * 100
        ok = s.solved.nunique() == 1 and (s.solved.all() or acc.max() - acc.min() < TOL)
        same += ok
        identical &= len(s) > 1 and _identical(s.solved, acc)
        per.append(f"K = {K:g}: {len(s)} (c0, c1) settings from {_in('c0', g.c0)}, "
                   f"{_in('c1', g.c1)}, best accuracies {_range_pct(acc)}, "
                   f"{int(s.solved.sum())} solved")
    n = len(per)
    verdict = "reproduced" if same == n else ("partly" if same else "not reproduced")
    ev = [f"In {same} of {n} K values the (c0, c1) settings agree within {TOL:g} {_pts(TOL)} "
          f"({NAMES['table4']}, {_runs(df, b)})."] + [p + "." for p in per]
    if identical:
        ev.append("Every (c0, c1) setting gives the identical result: these cells cannot "
                  "separate the thresholds.")
    elif same == n:
        ev.append(f"Every difference between the settings is below the {TOL:g}-point tolerance.")
    pub = published("table4")
    ev.append(f"The paper reports only the best setting: {_pct(pub.accuracy.max())} at "
              f"{_in('c0', pub.c0)}, {_in('c1', pub.c1)}.")
    best = df.groupby(["task", "T"]).agg(solved=("solved", "any"), acc=("best_accuracy", "max"))
    control = _controls(res, [(t, T, r.solved, r.acc * 100) for (t, T), r in best.iterrows()],
                            own=[(NAMES["table4"], df)], reseeded=False)
    # Table IV's cells are its K values (each the best over a (c0, c1) grid, as the Findings'
    # scope table counts them); the (c0, c1) settings run per cell are in the evidence above
    needed = len(EXPERIMENTS["table4"].grid["K"])
    cells = df["K"].nunique()
    return _record("C5b", tests, verdict, ev, [b], _seeds(df), cells, needed,
                   _stale(df, _current()), control, identical=identical)
