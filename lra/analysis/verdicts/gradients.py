"""Claims C6 and C7 (book chapter "Verdicts"): gradient flow in unmodified RNN-LRA-diff — the
local loss vanishes a few steps below the top (C6, Figure 2), and forced normalisation restores
the flow but not learning (C7, Figure 3); with the probe readings C8 uses too.
"""
from __future__ import annotations

import numpy as np

from lra.analysis.paired import pair_methods
from lra.analysis.probes import recorded
from lra.analysis.verdicts.evidence import _common, _load
from lra.analysis.verdicts.readout_control import NO_CONTROL, _controls
from lra.analysis.verdicts.vocabulary import (NAMES, TOL, Verdict, _count, _current, _not_tested,
                                              _pct, _record, _seeds, _stale)

# Figure 2's caption in the paper: "local loss falls from L9 to L7 by twelve orders of magnitude".
PAPER_ORDERS = 12.0
PAPER_STEPS = 3      # "... it is zero three steps below the top" (Figure 2)
ORDERS_TOL = 1.0     # read off a log-scale plot: one order of magnitude is its resolution


# ------------------------------------------------------------------------------ probes (C6-C8)
def _probe_array(res, experiment, budget, quantity):
    """(n_probes, T) array of one probed quantity of the experiment's first run, and that run."""
    df, _ = _load(res, experiment, budget)
    if df.empty:
        return None, None
    row = df.iloc[0]
    # only the probes taken while the run trained: later slots are NaN padding (lra.analysis.probes)
    p = recorded(res.probes(experiment, budget, row["key"]), row["iterations"])
    if not p:
        return None, row
    return np.array([q[quantity] for q in p], dtype=float), row


def _flow(res, experiment, budget):
    """Probes in which W_hh's gradient reaches layer 1, and the median lowest layer it reaches."""
    g, row = _probe_array(res, experiment, budget, "dW_hh_norm")
    if g is None:
        return None
    finite = np.isfinite(g).all(axis=1)
    reach = (g[finite] > 0)
    lowest = [int(np.argmax(r[1:])) + 1 if r[1:].any() else g.shape[1] for r in reach]
    return dict(n=int(len(g)), finite=int(finite.sum()), at1=int(reach[:, 1].sum()),
                lowest=float(np.median(lowest)) if lowest else float("nan"), row=row,
                T=g.shape[1])


def _flow_text(name, budget, f):
    txt = (f"{name} ({budget} budget, {int(f['row']['iterations']):,} iterations): W_hh's "
           f"gradient is non-zero at layer 1 in {f['at1']} of the {f['n']} probes taken while it "
           f"trained; the lowest layer "
           f"it reaches is {f['lowest']:g} (median over probes)")
    if f["finite"] < f["n"]:
        txt += f"; {f['n'] - f['finite']} probes are not finite (the run diverged there)"
    return txt + "."


def c6(res) -> list[Verdict]:
    tests_a = "the local loss vanishes (is exactly zero) a few steps below the top"
    tests_b = "the local loss falls about twelve orders of magnitude over the top two steps"
    df, b = _load(res, "fig2")
    L, row = _probe_array(res, "fig2", b, "local_loss") if b else (None, None)
    if L is None:
        return [_not_tested("C6a", tests_a, "Figure 2 probes"),
                _not_tested("C6b", tests_b, "Figure 2 probes")]
    n, T = L.shape
    stale = _stale(df, _current())
    run = f"{NAMES['fig2']}, {b} budget, {int(row['iterations']):,} iterations, one seed"
    zero = (L == 0).sum(axis=0)                    # per layer: probes with an exact zero
    vanished = [t for t in range(1, T) if zero[t] > n / 2]
    at_paper = int(zero[T - 1 - PAPER_STEPS])
    if vanished:
        top0 = max(vanished)
        steps = T - 1 - top0
        below = int((L[:, 1:top0 + 1] == 0).all(axis=1).sum())
        va = "reproduced" if steps == PAPER_STEPS else "partly"
        ev = [f"The local loss is exactly zero at layer {top0}, {steps} steps below the top, in "
              f"{int(zero[top0])} of {n} probes, and at every layer from 1 to {top0} in {below} of "
              f"{n} probes; at layer {T - 1 - PAPER_STEPS} ({PAPER_STEPS} steps below the top, "
              f"the paper's) in {at_paper} of {n} ({run})."]
    else:
        va = "not reproduced"
        ev = [f"At no layer is the local loss exactly zero in more than half of the {n} probes "
              f"(most: {int(zero[1:].max())} of {n}; {run})."]
    a = _record("C6a", tests_a, va, ev, [b], _seeds(df), 1, 1, stale)
    ok = (L[:, T - 3] > 0) & (L[:, T - 1] > 0) & np.isfinite(L).all(axis=1)
    if not ok.any():
        vb, ev = "not tested", [f"No probe has a non-zero local loss at layer {T - 3} ({run})."]
    else:
        drop = float(np.median(np.log10(L[ok, T - 1] / L[ok, T - 3])))
        vb = ("reproduced" if abs(drop - PAPER_ORDERS) <= ORDERS_TOL else
              "partly" if drop >= 3 else "not reproduced")
        ev = [f"The local loss falls {drop:.1f} orders of magnitude from layer {T - 1} to layer "
              f"{T - 3} (median over the {int(ok.sum())} of {n} probes where both are non-zero; "
              f"{run}); the paper reads {PAPER_ORDERS:g} off its Figure 2."]
    return [a, _record("C6b", tests_b, vb, ev, [b], _seeds(df), 1, 1, stale)]


# ------------------------------------------------------------------------------ C7
# Figure 3's two readings: the paper forces the normalisation of Δh (fig3_dh: Δh alone, the
# text's reading); fig3 also forces the weight gradients (the variant the book ran first).
FIG3_READINGS = (("fig3_dh_seeds", "fig3_dh"), ("fig3_seeds", "fig3"))
FIG3_WHAT = {FIG3_READINGS[0]: "Δh forced alone",
             FIG3_READINGS[1]: "Δh and the weight gradients forced"}


def _span(values) -> str:
    lo, hi = int(min(values)), int(max(values))
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


# the evidence plan recomputes the multi-seed runs of Figures 2 and 3 (same configurations and
# seeds) with the held-out test set: where its rows are stored they stand for the older ones
RECOMPUTED = {"fig3_dh_seeds": "ev_fig3_dh", "fig3_seeds": "ev_fig3", "fig2_seeds": "ev_fig2"}


def _seeded(res, name, budget):
    """The multi-seed rows ``name`` at a budget, or the plan's recomputation of them where
    stored (:data:`RECOMPUTED`)."""
    newer = res.rows(RECOMPUTED[name], budget) if name in RECOMPUTED else None
    return newer if newer is not None and not newer.empty else res.rows(name, budget)


def _fig3(res, budget, names):
    """The rows of one reading of Figure 3 at a budget: the multi-seed runs where stored (the
    plan's recomputation first), else the single run; and the experiment whose run carries
    probes."""
    many, one = names
    rows = _seeded(res, many, budget)
    if rows.empty:
        rows = res.rows(one, budget)
    return rows, one


def c7(res) -> list[Verdict]:
    tests_a = "forced normalisation restores gradient flow to the first layers"
    tests_b = "but not learning: it does no better than the unmodified algorithm"
    reading = next((r for r in FIG3_READINGS if _common(res, ["fig2", r[1]])), FIG3_READINGS[0])
    b = _common(res, ["fig2", reading[1]])
    if b is None:
        what = "the Figure 2 and Figure 3 runs at one budget"
        return [_not_tested("C7a", tests_a, what), _not_tested("C7b", tests_b, what)]
    what = ("Δh forced alone, as the paper describes" if reading is FIG3_READINGS[0] else
            "Δh and the weight gradients forced")
    f2 = res.rows("fig2", b)
    f3, probed = _fig3(res, b, reading)
    # the unmodified side over seeds where stored (fig2_seeds), else the single Figure 2 run
    f2s = _seeded(res, "fig2_seeds", b)
    plain = f2s if not f2s.empty else f2
    stale = _stale(plain, _current()) + _stale(f3, _current())
    seeds = min(_seeds(plain), _seeds(f3))
    fl3, fl2 = _flow(res, probed, b), _flow(res, "fig2", b)
    if fl3 is None or fl2 is None:
        a = _not_tested("C7a", tests_a, f"Figure 2 and Figure 3 probes at the {b} budget")
    else:
        ok = fl3["finite"] - fl3["at1"]
        va = ("reproduced" if fl3["at1"] and ok == 0 and fl2["at1"] < fl2["n"] else
              "partly" if fl3["at1"] > fl2["at1"] else "not reproduced")
        a = _record("C7a", tests_a, va, [_flow_text(NAMES["fig3"] + f" ({what})", b, fl3),
                                         _flow_text(NAMES["fig2"] + ", unmodified", b, fl2)],
                    [b], _seeds(res.rows(probed, b)), 1, 1, stale)
    solved = f3[f3.solved]
    s3, a3 = bool(len(solved)), f3.best_accuracy.max() * 100
    s2, a2 = bool(plain.solved.any()), plain.best_accuracy.max() * 100
    per_seed = f3.groupby("seed").solved.any()
    r3 = (f"solves random permutation at T = 10 in {int(per_seed.sum())} of "
          f"{_count(len(per_seed), 'seed')} ({_span(solved.iterations)} iterations)" if s3 else
          f"reaches {_pct(a3)}, not solved ({_count(len(per_seed), 'seed')})")
    if f2s.empty:
        r2 = (f"the unmodified {NAMES['fig2']} "
              f"{'solves it' if s2 else 'reaches ' + _pct(a2) + ', not solved'}")
    else:
        p2 = plain.groupby("seed").agg(ok=("solved", "any"), acc=("best_accuracy", "max"))
        r2 = (f"the unmodified configuration (Figure 2's, {_count(len(p2), 'seed')}) solves it in "
              f"{int(p2.ok.sum())} of {len(p2)}, best accuracy {_pct(p2.acc.min() * 100)}–"
              f"{_pct(p2.acc.max() * 100)}")
    # name the rows read: the plan's recomputation, the older re-seeded runs, or the one run
    src3 = str(f3["experiment"].iloc[0]) if "experiment" in f3 and len(f3) else reading[1]
    runs3 = ("the evidence plan's runs of Figure 3's configuration" if src3.startswith("ev_")
             else "Figure 3's configuration, re-seeded," if src3.endswith("_seeds")
             else f"the {NAMES['fig3']}")
    if not runs3.startswith("the " + NAMES["fig3"]):      # several runs: a plural verb
        r3 = r3.replace("solves", "solve", 1).replace("reaches", "reach", 1)
    ev = [f"With forced normalisation ({what}) {runs3} {r3}; {r2} "
          f"({b} budget, one configuration)."]
    # paired per seed (lra.analysis.paired): forced vs unmodified, and the two readings of Figure 3
    forced = f"forced normalisation ({FIG3_WHAT[reading]})"
    vs_plain = pair_methods(f3, plain, forced, "unmodified RNN-LRA-diff (the Figure 2 run)"
                            if f2s.empty else "unmodified RNN-LRA-diff (Figure 2's configuration)")
    ev.append(vs_plain.sentence())
    unpaired = [f"no paired multi-seed test of forced vs unmodified ({vs_plain.reason})"
                ] if vs_plain.missing else []
    other = FIG3_READINGS[1] if reading is FIG3_READINGS[0] else None
    if other is not None:
        o, _ = _fig3(res, b, other)
        if not o.empty:
            os_ = o.groupby("seed").solved.any()
            ev.append(f"Forcing the weight gradients as well (the variant) solves it in "
                      f"{int(os_.sum())} of {_count(len(os_), 'seed')}"
                      + (f" ({_span(o[o.solved].iterations)} iterations)." if os_.any()
                         else "."))
            readings = pair_methods(f3, o, FIG3_WHAT[reading], FIG3_WHAT[other])
            ev.append(readings.sentence())
            if readings.missing:
                unpaired.append("no paired multi-seed test of Figure 3's two readings "
                                f"({readings.reason})")
    better = (s3 and not s2) or (not s3 and not s2 and a3 - a2 >= TOL)
    if vs_plain.missing is None:           # a paired multi-seed test decides the direction
        better = vs_plain.a_better_everywhere
    vb = "not reproduced" if better else "reproduced"
    control = _controls(res, [("random_permutation", 10, s3, a3)],
                            own=[(f"Figure 3's runs, {FIG3_WHAT[reading]}", f3)],
                            reseeded=False) if better else NO_CONTROL
    return [a, _record("C7b", tests_b, vb, ev, [b], seeds, 1, 1, stale, control, unpaired)]
