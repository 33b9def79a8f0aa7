"""Claims C8, C9 and C10 (book chapter "Verdicts"): what regularisation does — restores flow and
extends the solved length (C8, Figure 4 and Table V), lower λ is better (C9, Figure 5) — and the
conjecture that a tuned γ can replace the inner loop (C10, K = 1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lra.analysis.paired import pair_methods
from lra.analysis.report import best_per_cell, curriculum_max_T, published
from lra.campaign.experiments import EXPERIMENTS
from lra.analysis.verdicts.evidence import _common, _load, positive_control
from lra.analysis.verdicts.gradients import _flow, _flow_text
from lra.analysis.verdicts.protocol import length_with_protocol, with_protocol
from lra.analysis.verdicts.readout_control import NO_CONTROL, _controls
from lra.analysis.verdicts.vocabulary import (NAMES, TOL, Verdict, _count, _current, _identical,
                                              _not_tested,
                                              _pct, _per_config, _pts, _record, _res, _runs,
                                              _seeds, _set, _in, _stale, _task)


# ------------------------------------------------------------------------------ C8
def c8(res) -> list[Verdict]:
    return [_c8_flow(res),
            length_with_protocol(res, "C8b", _c8_length(res, "C8b", "temporal_order")),
            _c8c_with_protocol(res, _c8_length(res, "C8c", "random_permutation"))]


# C8c at the paper's protocol: the evidence plan's regularised curriculum (Table V's rule, from
# T = 10, five seeds, each stage ending when one seed solves it, the first unsolved stage ending
# it) against the unregularised form's stages from the plan's runs (T = 10: Figure 2's
# configuration; T = 20: the plan's T = 20 runs), BPTT at the first unsolved length the positive
# control.
C8C_ENTRY, C8C_REG, C8C_TASK = "table5_reg_rp", "ev_t5_reg_rp", "random_permutation"
PLAIN_STAGES = (("ev_fig2", 10), ("ev_t20_lra", 20))


def _stage_line(d: pd.DataFrame, T: int) -> str:
    g = d[d["T"] == T]
    k, n = int(g.groupby("seed").solved.any().sum()), int(g["seed"].nunique())
    acc = g.groupby("seed").best_accuracy.max() * 100
    test = pd.to_numeric(g.get("best_test_accuracy"), errors="coerce").dropna() * 100
    held = (f", held-out test {test.min():.2f}–{test.max():.2f} %" if len(test) else "")
    return (f"T = {T}: solved by {k} of {n} seeds" + (" (the stage ends at the first solve)"
                                                      if k else "")
            + f"; best validation {acc.min():.2f}–{acc.max():.2f} %{held}")


def c8c_at_protocol(res, tests: str) -> Verdict | None:
    """C8c from the plan's curriculum once it has ended (a stage unsolved, or the paper's length
    reached) and the unregularised form's T = 10 cell has five seeds; None until then."""
    from lra.analysis.verdicts.protocol import entry_label, full_grid_line
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS
    task = C8C_TASK
    reg = res.rows(C8C_REG, "paper")
    d = reg[reg.task == task] if not reg.empty else reg
    plain = [res.rows(e, "paper") for e, _ in PLAIN_STAGES]
    plain = pd.concat([p[(p.task == task) & (p["T"] == T)] for p, (_, T) in zip(plain, PLAIN_STAGES)
                       if not p.empty] or [pd.DataFrame(columns=["task", "T", "seed", "solved"])])
    p10 = plain[plain["T"] == 10] if not plain.empty else plain
    if d.empty or p10.empty or p10["seed"].nunique() < MIN_SEEDS:
        return None
    paper_reg, paper_plain = _paper_max_T(task, "lra_diff_regularised"), _paper_max_T(task, "lra_diff")
    mr = curriculum_max_T(d)[task]["max_T"]
    last = int(d["T"].max())
    if bool(d[d["T"] == last].solved.any()) and not (paper_reg and mr and mr >= paper_reg):
        return None                                  # still climbing
    mp = curriculum_max_T(plain)[task]["max_T"]
    v = _length_reading(mp, mr, paper_reg)
    ev = [f"At the paper's protocol (evidence plan, {entry_label(C8C_ENTRY)}: Figure 4's "
          f"configuration, {MIN_SEEDS} seeds, Table V's curriculum from T = 10): longest "
          f"{_task(task)} solved {_T(mr)} with regularisation and {_T(mp)} without (Figure 2's "
          f"configuration, {MIN_SEEDS} seeds); the paper: {_T(paper_plain)} → T = {paper_reg}.",
          "Regularised, stage by stage: " + "; ".join(
              _stage_line(d, int(T)) for T in sorted(d["T"].unique())) + ".",
          "Unregularised: " + "; ".join(_stage_line(plain, int(T))
                                        for T in sorted(plain["T"].unique())) + "."]
    failed_at = (mr or 0) + 10
    positive, said = positive_control(res, task, failed_at, "paper")
    ev.append(said + (" So this budget cannot separate the learning rules at that length."
                      if positive is False else ""))
    ev.extend(_t20_pair_line(res, task))
    ev.append(full_grid_line("table5_lra_reg", 1).replace(
        "at one configuration per method", "at one configuration"))
    g = d[d["T"] == last]
    control = _controls(res, [(task, last, bool(g.solved.any()), g.best_accuracy.max() * 100)],
                        own=[("the evidence plan's regularised curriculum", d)], reseeded=False)
    seeds = int(min(g["seed"].nunique(), p10["seed"].nunique()))
    # a failure at one configuration does not show that none of the paper's grid would pass
    scope = []
    if v != "reproduced":
        from lra.campaign.experiments import get_budget, get_experiment
        grid = sum(r.task == task for r in get_experiment("table5_lra_reg").runs(
            get_budget("paper"), None))
        scope = [f"one configuration (Figure 4's) of the {grid} in the paper's regularised grid "
                 f"(α, γ, λ): another might pass the stage this one fails"]
    return _record("C8c", tests, v, ev, ["paper"], seeds, 1, 1,
                   _stale(pd.concat([d, plain]), _current()), control,
                   scope + ([] if positive is not None else [f"no positive control (BPTT) at "
                                                             f"T = {failed_at}"]),
                   positive=positive if v != "reproduced" else None)


def _t20_pair_line(res, task: str, T: int = 20) -> list[str]:
    """The plan's T = 20 entry of ``task`` (the same configuration with and without λ = 0.1, five
    seeds each), paired on the held-out test set: what the regulariser does to learning at a
    length neither form may solve. Empty until both sides have five seeds."""
    from lra.analysis.verdicts.protocol import entry_label
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS
    sides = []
    for e in ("ev_t20_reg", "ev_t20_lra"):
        df = res.rows(e, "paper")
        df = df[(df.task == task) & (df["T"] == T)] if not df.empty else df
        if df.empty or df["seed"].nunique() < MIN_SEEDS:
            return []
        sides.append(df)
    entry = {"random_permutation": "t20_random_permutation",
             "temporal_order": "t20_temporal_order"}.get(task, "t20_temporal_order_3bit")
    pair = pair_methods(sides[0], sides[1], "RNN-LRA-diff, regularised", "RNN-LRA-diff")
    k = [int(d.assign(ok=d.solved.astype(bool)).groupby("seed").ok.any().sum()) for d in sides]
    solved = ("neither form solving it in any seed" if not any(k) else
              f"seeds solved: regularised {k[0]}, unregularised {k[1]}, of {MIN_SEEDS} each")
    return [f"Beyond the curriculum, at T = {T} ({entry_label(entry)}: the plan's T = {T} "
            f"configuration with and without λ = 0.1, {solved}): " + pair.sentence()]


def _c8c_with_protocol(res, smoke: Verdict) -> Verdict:
    """The plan's verdict on C8c once its curriculum has ended, the smoke curricula's reading then
    one line; until then ``smoke`` with the curriculum's progress."""
    from lra.analysis.verdicts.protocol import entry_label
    v = c8c_at_protocol(res, smoke.tests)
    if v is None:
        reg = res.rows(C8C_REG, "paper")
        d = reg[reg.task == C8C_TASK] if not reg.empty else reg
        stages = sorted(int(T) for T in d["T"].unique()) if not d.empty else []
        smoke.evidence.append(
            f"The evidence plan's regularised curriculum at the paper's protocol "
            f"({entry_label(C8C_ENTRY)}) has "
            + (f"stored the stages T = {', '.join(map(str, stages))}" if stages else
               "stored no stage yet")
            + "; it decides this part once a stage is unsolved or it reaches the paper's length.")
        return smoke
    if smoke.evidence and smoke.verdict != "not tested":
        v.evidence.append(f"Before the plan's rows, the {', '.join(smoke.own_budgets) or 'smoke'}"
                          f"-budget curricula read “{smoke.verdict}”: {smoke.headline}")
    return v


def _c8_flow(res):
    tests = "regularisation restores gradient flow to the first layers (Figure 4)"
    b = _common(res, ["fig2", "fig4"])
    fl4 = _flow(res, "fig4", b) if b else None
    fl2 = _flow(res, "fig2", b) if b else None
    if fl4 is None or fl2 is None:
        return _not_tested("C8a", tests, "Figure 2 and Figure 4 probes at one budget")
    f2, f4 = res.rows("fig2", b), res.rows("fig4", b)
    if fl4["at1"] and fl4["at1"] == fl4["finite"]:
        v = "reproduced"
    elif fl4["at1"] > fl2["at1"] or fl4["lowest"] < fl2["lowest"]:
        v = "partly"
    else:
        v = "not reproduced"
    ev = [_flow_text(NAMES["fig4"] + f", regularised (λ = {_set(f4.lam)[1:-1]})", b, fl4),
          _flow_text(NAMES["fig2"] + ", unmodified", b, fl2)]
    stale = _stale(f2, _current()) + _stale(f4, _current())
    return _record("C8a", tests, v, ev, [b], min(_seeds(f2), _seeds(f4)), 1, 1, stale)


def _paper_max_T(task, method):
    p = published("table5")
    r = p[(p.task == task) & (p.method == method)]
    v = r.max_T.iloc[0] if len(r) else np.nan
    return None if pd.isna(v) else int(v)


def _length_reading(mp, mr, paper_reg) -> str:
    """Table V's claim from the longest T solved without (mp) and with (mr) regularisation:
    reproduced when the regularised form reaches the paper's length and the plain one less."""
    if mr is not None and paper_reg is not None and mr >= paper_reg and (mp or 0) < mr:
        return "reproduced"
    return "partly" if (mr or 0) > (mp or 0) else "not reproduced"


def _T(v):
    return "none (T = 10 not solved)" if v is None else f"T = {v}"


def _c8_length(res, part, task):
    paper_reg = _paper_max_T(task, "lra_diff_regularised")
    paper_plain = _paper_max_T(task, "lra_diff")
    tests = (f"regularisation extends the longest {_task(task)} solved from "
             f"{paper_plain or 'none'} to {paper_reg} (Table V)")
    b = _common(res, ["table5_lra", "table5_lra_reg"])
    if b is None:
        return _not_tested(part, tests, "both Table V curricula (with and without regularisation) "
                                        "at one budget")
    plain, reg = res.rows("table5_lra", b), res.rows("table5_lra_reg", b)
    cp, cr = curriculum_max_T(plain).get(task), curriculum_max_T(reg).get(task)
    if cp is None or cr is None:
        return _not_tested(part, tests, f"{_task(task)} in both Table V curricula")
    mp, mr = cp["max_T"], cr["max_T"]
    v = _length_reading(mp, mr, paper_reg)
    ev = [f"Longest {_task(task)} solved: {_T(mp)} without and {_T(mr)} with regularisation "
          f"({NAMES['table5_lra']}, {_runs(plain[plain.task == task], b)}); the paper: "
          f"{_T(paper_plain)} → T = {paper_reg}."]
    if not cr["complete"]:
        ev.append(f"The regularised curriculum stopped at T = {cr['last_T']} while still solving.")
    budgets = [b]
    # the positive control at the length the claim is about: where BPTT does not reach it at
    # this budget either, the budget, not the learning rule, limits the length
    target = paper_reg if paper_reg is not None else 10
    positive, said = positive_control(res, task, target, b)
    ev.append(said + (" This budget cannot separate the learning rules at that length."
                      if positive is False else ""))
    tptt = res.rows("table5_tptt", b)
    c = curriculum_max_T(tptt).get(task) if not tptt.empty else None
    if c is not None:
        ev.append(f"TPTT's curriculum at the {b} budget: longest solved {_T(c['max_T'])} (quoted "
                  f"by the paper: T = {_paper_max_T(task, 'tptt')}).")
    no_pos = [] if positive is not None else [f"no positive control (BPTT) at T = {target}"]
    # Figure 4 at the paper's budget is one regularised configuration at T = 10
    f4, b4 = _load(res, "fig4", "paper")
    if not f4.empty and task in set(f4.task):
        d = f4[f4.task == task]
        r = d.iloc[0]
        res4 = (f"solves T = {r['T']} in {int(r.iterations):,} iterations" if d.solved.any() else
                f"does not solve T = {r['T']}: best {_pct(d.best_accuracy.max() * 100)} after "
                f"{int(d.iterations.max()):,} iterations")
        ev.append(f"At the paper's budget, the {NAMES['fig4']} (regularised, one configuration: "
                  f"α = {r.alpha:g}, γ = {r.gamma:g}, K = {r.K:g}, λ = {r.lam:g}; one seed) "
                  f"{res4}.")
        budgets.append(b4)
    Tc = mr if mr is not None else 10
    rr = reg[(reg.task == task) & (reg["T"] == Tc)]
    control = _controls(res, [(task, Tc, bool(rr.solved.any()),
                                   rr.best_accuracy.max() * 100)],
                            own=[(NAMES["table5_lra_reg"], reg)], reseeded=False) \
        if len(rr) else NO_CONTROL
    stale = _stale(plain, _current()) + _stale(reg, _current())
    return _record(part, tests, v, ev, budgets, min(_seeds(plain), _seeds(reg)), 1, 1,
                   stale, control, no_pos,
                   positive=positive if v != "reproduced" else None)   # a failure only


# ------------------------------------------------------------------------------ C9
def c9(res) -> list[Verdict]:
    return [with_protocol(res, "C9", _c9_grid(res))]


def _c9_grid(res) -> Verdict:
    tests = "the smallest λ gives the best accuracy, task by task"
    df, b = _load(res, "fig5")
    if df.empty or df.lam.nunique() < 2:
        return _not_tested("C9", tests, "Figure 5 with more than one λ")
    agree, cannot, per, paired, lacking, decided = [], [], [], [], [], 0
    for task, d in df.groupby("task"):
        s = d.groupby("lam").agg(acc=("best_accuracy", "max"), solved=("solved", "any"))
        score = np.where(s.solved, np.inf, s.acc * 100)     # solved beats any accuracy
        lo = score[0]
        rest = score[1:]
        # the smallest λ paired per seed with each other λ (lra.analysis.paired)
        pairs = [pair_methods(d[d.lam == s.index[0]], d[d.lam == lam], f"λ = {s.index[0]:g}",
                              f"λ = {lam:g}") for lam in s.index[1:]] \
            if d["T"].nunique() == 1 else []                # one cell per task in Figure 5
        paired += [p.sentence() for p in pairs if p.tested]
        lacking += [p.reason for p in pairs if p.missing]
        if pairs and all(p.missing is None for p in pairs):  # paired multi-seed tests decide
            decided += 1
            if all(p.a_better_everywhere for p in pairs):
                agree.append(task)
            # neither better in every seed: the paired test had the power to tell and did not
            # show the claim, which counts against it (not as undecided)
        elif (s.solved.all()) or np.all(np.abs(rest - lo) < TOL):
            cannot.append(task)
        elif np.all(lo > rest) and np.all((lo - rest) >= TOL):
            agree.append(task)
        per.append(f"{_task(task)} (T = {int(d['T'].iloc[0])}): " + ", ".join(
            f"λ = {l:g} {_res(sv, a * 100)}" for l, sv, a in zip(s.index, s.solved, s.acc)))
    # tasks whose values of λ the cells cannot tell apart do not count either way; with none
    # left, the part is inconclusive (decide: identical)
    n = len(per) - len(cannot)
    verdict = "reproduced" if n and len(agree) == n else ("partly" if agree else "not reproduced")
    by = (f"solved where the others are not, or by {TOL:g} {_pts(TOL)} or more" if not decided
          else f"better than every other λ in every paired seed at p < 0.05, or, without a "
          f"paired test, solved where the others are not or by {TOL:g} {_pts(TOL)} or more")
    ev = [f"The smallest λ is best ({by}) in {len(agree)} of the {n} tasks whose cells tell the "
          f"values of λ apart "
          f"({NAMES['fig5']}, {_runs(df, b)})."] + [p + "." for p in per] + paired
    if lacking:
        ev.append(f"No paired multi-seed test in {_count(len(lacking), 'comparison')} of the "
                  "smallest λ with another: " + "; ".join(sorted(set(lacking))) + ".")
    if cannot:
        ev.append("Not counted, the values of λ giving the same result there (differences below "
                  "the tolerance, or all solved): "
                  + ", ".join(_task(t) for t in cannot) + "."
                  + (" These cells cannot separate the values of λ." if not n else ""))
    unpaired = [f"no paired multi-seed test in {_count(len(lacking), 'comparison')} of λ values "
                f"({'; '.join(sorted(set(lacking)))})"] if lacking else []
    g = EXPERIMENTS["fig5"]
    needed = len(g.tasks) * len(g.grid["lam"])
    return _record("C9", tests, verdict, ev, [b], _seeds(df), df.groupby(["task", "lam"]).ngroups,
                   needed, _stale(df, _current()), unpaired=unpaired, identical=not n)


# ------------------------------------------------------------------------------ C10
def _agree(sa, aa, sb, ab):
    return (sa and sb) or (sa == sb and abs(aa - ab) < TOL)


def c10(res) -> list[Verdict]:
    from lra.analysis.verdicts.protocol import c10b_with_protocol
    return [with_protocol(res, "C10a", _c10_ours(res)), c10b_with_protocol(res, _c10_paper(res))]


def _c10_ours(res):
    tests = "K = 1 with a tuned γ matches our runs with K > 1 (same code, same budget)"
    k1, b = _load(res, "conjecture_k1")
    if k1.empty:
        return _not_tested("C10a", tests, "the K = 1 grid")
    t1 = res.rows("table1", b)
    t1 = t1[t1.K > 1] if not t1.empty else t1
    keys = ["task", "T"]
    m = best_per_cell(k1, keys).merge(best_per_cell(t1, keys), on=keys,
                                      suffixes=("_k1", "_k")) if not t1.empty else pd.DataFrame()
    if m.empty:
        return _not_tested("C10a", tests, f"Table I runs with K > 1 at the {b} budget in the "
                                          "cells of the K = 1 grid")
    same = [_agree(r.solved_k1, r.accuracy_k1, r.solved_k, r.accuracy_k) for r in m.itertuples()]
    identical = all(_identical((r.solved_k1, r.solved_k), (r.accuracy_k1, r.accuracy_k))
                    for r in m.itertuples())
    n, k = len(m), sum(same)
    verdict = "reproduced" if k == n else ("partly" if k else "not reproduced")
    ev = [f"K = 1 ({_in('γ', k1.gamma)}) agrees with {_in('K', t1.K)} (Table I) in {k} of {n} "
          f"cells ({b} budget, {_per_config(_seeds(k1))})."]
    ev.append("Cells: " + "; ".join(
        f"{_task(r.task)} T = {r.T}: {_res(r.solved_k1, r.accuracy_k1)} vs "
        f"{_res(r.solved_k, r.accuracy_k)}" for r in m.itertuples()) + ".")
    if identical:
        ev.append("K = 1 gives the identical result to K > 1 in every cell: these cells cannot "
                  "separate them.")
    ev.extend(_gamma_note(k1))
    control = _controls(res, [(r.task, r.T, r.solved_k1, r.accuracy_k1)
                                  for r in m.itertuples()],
                            own=[(NAMES["conjecture_k1"], k1)], reseeded=False)
    stale = _stale(k1, _current()) + _stale(t1, _current())
    needed = len(EXPERIMENTS["conjecture_k1"].tasks) * len(EXPERIMENTS["conjecture_k1"].lengths)
    return _record("C10a", tests, verdict, ev, [b], _seeds(k1), n, needed, stale, control,
                   identical=identical)


def _gamma_note(k1):
    """Whether the choice of γ mattered at K = 1 in the cells run."""
    by = k1.groupby(["task", "T", "gamma"]).agg(s=("solved", "any"), a=("best_accuracy", "max"))
    flat = 0
    cells = by.groupby(level=[0, 1])
    for _, g in cells:
        flat += g.s.all() or (g.s.nunique() == 1 and (g.a.max() - g.a.min()) * 100 < TOL)
    if k1.gamma.nunique() < 2:
        return [f"Only γ = {_set(k1.gamma)[1:-1]} was run: the tuning of γ is not tested."]
    return [f"Every γ gives the same result (within {TOL:g} {_pts(TOL)}, or all solved) in {flat} of "
            f"{cells.ngroups} cells" + (": the tuning of γ is not shown to matter there."
                                        if flat == cells.ngroups else ".")]


def _c10_paper(res):
    tests = ("K = 1 with a tuned γ does at least as well as the paper's published "
             f"{_in('K', published('table1').K)}")
    k1, b = _load(res, "conjecture_k1")
    if k1.empty:
        return _not_tested("C10b", tests, "the K = 1 grid")
    pub = published("table1")
    pub = pub.assign(acc=pub.accuracy.fillna(100.0)).groupby(["task", "T"]).agg(
        solved=("solved", "any"), acc=("acc", "max")).reset_index()
    m = best_per_cell(k1, ["task", "T"]).merge(pub, on=["task", "T"])
    if m.empty:
        return _not_tested("C10b", tests, "K = 1 runs in the cells of the paper's Table I")
    ok = [(s or not ps) and (s or a >= pa - TOL)
          for s, a, ps, pa in zip(m.solved_x, m.accuracy, m.solved_y, m.acc)]
    n, k = len(m), sum(ok)
    verdict = "reproduced" if k == n else ("partly" if k else "not reproduced")
    ev = [f"K = 1 ({_in('γ', k1.gamma)}) does at least as well as the paper's best over "
          f"{_in('K', published('table1').K)} in {k} of {n} cells ({b} budget, "
          f"{_per_config(_seeds(k1))})."]
    ev.append("Cells: " + "; ".join(
        f"{_task(r.task)} T = {r.T}: {_res(r.solved_x, r.accuracy)} vs paper "
        f"{'solved' if r.solved_y else _pct(r.acc)}" for r in m.itertuples()) + ".")
    control = _controls(res, [(r.task, r.T, r.solved_x, r.accuracy) for r in m.itertuples()],
                            own=[(NAMES["conjecture_k1"], k1)], reseeded=False)
    needed = len(EXPERIMENTS["conjecture_k1"].tasks) * len(EXPERIMENTS["conjecture_k1"].lengths)
    return _record("C10b", tests, verdict, ev, [b], _seeds(k1), n, needed,
                   _stale(k1, _current()), control)
