"""The readout-only control of the verdicts that credit the learning rule (book chapter
"Verdicts"; used by C1-C5, C7, C8 and C10), and the paired test that decides it.

Two *methods* are compared by a paired multi-seed test where the rows store per-sample
predictions (:mod:`lra.analysis.paired`): per seed, each method's reported run on the seed's shared
validation set, an exact McNemar test, and the seeds' spread of the accuracy difference; one
method is better only if every paired seed favours it at p < 0.05. Where a verdict credits the
learning rule, the record says whether it beats the readout-only control
(:mod:`lra.algorithms.readout`: recurrent weights frozen at initialisation, only the readout
trained), with that control's spread over seeds, by that paired test (:func:`control_pair` says
which runs stand for the learning rule). Paired tests also decide C7 (forced normalisation vs the
unmodified run; Figure 3's two readings) and the cells of C4/C5a (two variants). Where no paired
multi-seed test is possible — rows without predictions (stored before the column existed), one
seed, no shared seed, validation sets of different sizes — the record says so, keeps the
threshold reading, and is indicative.
"""
from __future__ import annotations

import pandas as pd

from lra.analysis.controls import readout_summary
from lra.analysis.paired import MIN_PAIRED_SEEDS, TEST_COLUMN, Paired, pair_methods
from lra.analysis.verdicts.evidence import BUDGET_ORDER, as_source
from lra.analysis.verdicts.vocabulary import NAMES, NOT_SHOWN, TOL, _pct, _pts, _task

# The learning rule's side of the paired control test, for verdicts on unmodified RNN-LRA-diff:
# Table I's best configuration re-seeded, Figure 2's configuration re-seeded (and the evidence
# plan's recomputation of it, with a held-out test set), and the reservoir chapter's runs (one
# configuration, five seeds each). The control's side: the evidence plan's readout-only
# runs (held-out test bits stored), else the readout-only experiment, else the reservoir chapter's
# readout-only runs.
RESEEDED_RULE = ("table1_multiseed", "fig2_seeds", "ev_fig2", "ev_t10_lra", "ev_t20_lra",
                 "reservoir")
CONTROL_SOURCES = ("ev_readout", "readout_only", "reservoir")
CONTROL_NAME = "the readout-only control"


def _cell_rows(df: pd.DataFrame, task, T, algorithm=None) -> pd.DataFrame:
    if df.empty:
        return df
    d = df[(df.task == task) & (df["T"] == T)]
    if algorithm is not None and "algorithm" in d:
        d = d[d.algorithm == algorithm]
    return d


def control_pair(res, task, T, own=(), reseeded=True) -> Paired | None:
    """The paired test (:func:`lra.analysis.paired.pair_methods`) of the learning rule against the
    readout-only control at (task, T), or None when no run of the rule shares a budget with the
    control there.

    Which rows represent the learning rule: the verdict's own runs (``own``: (name, rows) pairs,
    e.g. Figure 3's five seeds for C7) and, where the verdict is about unmodified RNN-LRA-diff
    (``reseeded``), the re-seeded runs of :data:`RESEEDED_RULE`. Of these, at each budget where
    the control has the cell, the one sharing the most seeds with the control is paired, with
    preference for two or more shared seeds, then for the paper's budget, then for rows that store
    the held-out test bits, then for more seeds (ties: the order above)."""
    best = None
    for b in BUDGET_ORDER:
        ctrl = next((d for d in (_cell_rows(res.rows(e, b), task, T, "readout_only")
                                 for e in CONTROL_SOURCES) if not d.empty), None)
        if ctrl is None:
            continue
        cands = [(name, _cell_rows(rows[rows.budget == b], task, T)) for name, rows in own
                 if not rows.empty]
        if reseeded:
            cands += [(NAMES[e], _cell_rows(res.rows(e, b), task, T, "lra_diff"))
                      for e in RESEEDED_RULE]
        for name, d in cands:
            if d.empty:
                continue
            shared = len(set(d["seed"]) & set(ctrl["seed"]))
            tested = TEST_COLUMN in d and bool(d[TEST_COLUMN].fillna("").astype(str).ne("").all())
            score = (shared >= MIN_PAIRED_SEEDS, b == "paper", tested, shared)
            if shared and (best is None or score > best[0]):
                best = (score, name, d, ctrl)
    if best is None:
        return None
    _, name, d, ctrl = best
    return pair_methods(d, ctrl, f"RNN-LRA-diff ({name})", CONTROL_NAME)


def control_pairs(results=None) -> list[Paired]:
    """The paired test of unmodified RNN-LRA-diff against the readout-only control at every
    (task, T) where the control was run, the runs chosen as the verdicts choose them
    (:func:`control_pair`); for the table in chapter "RNN-LRA-diff", section "Control: readout
    only"."""
    res = as_source(results)
    cells = set()
    for b in BUDGET_ORDER:
        for e in CONTROL_SOURCES:
            d = res.rows(e, b)
            if not d.empty:
                d = d[d.algorithm == "readout_only"]
                cells |= {(t, int(T)) for t, T in zip(d.task, d["T"])}
    pairs = [control_pair(res, task, T) for task, T in sorted(cells)]
    return [p for p in pairs if p is not None]


def _control_rows(res, task, T, prefer=None) -> tuple[pd.DataFrame, str | None]:
    """The readout-only control's rows at (task, T) and their budget: from the first of
    :data:`CONTROL_SOURCES` that has the cell, at ``prefer`` (the budget of the paired runs) where
    it has rows there, else the paper's budget, else smoke."""
    for b in ([prefer] if prefer else []) + [b for b in BUDGET_ORDER if b != prefer]:
        for e in CONTROL_SOURCES:
            d = _cell_rows(res.rows(e, b), task, T, "readout_only")
            if not d.empty:
                return d, b
    return pd.DataFrame(), None


def _decides(pair: Paired | None) -> bool:
    """A paired test decides the label when it paired two or more seeds (on the held-out test
    set, or on the validation set: the latter leaves the part indicative,
    :attr:`Paired.missing`)."""
    return pair is not None and pair.tested and len(pair.seeds) >= MIN_PAIRED_SEEDS


def _control_cell(res, task, T, solved, acc, own=(), reseeded=True):
    """Sentences comparing the learning rule at (task, T) with the readout-only control:
    (text, whether the rule is shown to matter — None: no control there —, budgets, and
    (cell, why the comparison has no paired multi-seed test on held-out data) or None).

    Where a paired test pairs two or more seeds it decides (:func:`control_pair`): the rule
    beats the control only if every paired seed favours it at p < 0.05 (exact McNemar); on the
    validation set rather than the held-out test set it still decides, and the part is
    indicative. Otherwise, the threshold reading: the rule's best result (``solved``, ``acc`` in
    %) vs the control's best seed within :data:`TOL` points — and the part is indicative."""
    pair = control_pair(res, task, T, own, reseeded)
    prefer = pair.budget.split(" and ")[-1] if pair is not None else None
    df, b = _control_rows(res, task, T, prefer)
    s = readout_summary(df) if not df.empty else pd.DataFrame()
    r = s[(s.task == task) & (s["T"] == T)] if not s.empty else s
    where = f"{_task(task)} at T = {T}"
    if r.empty:
        # no control: the part cannot be more than indicative (the rule's share is unmeasured)
        return (f"No readout-only control was run on {where}: the learning rule's share is not "
                "measured."), None, [b], (where, "no readout-only control was run there")
    r = r.iloc[0]
    n, k = int(r.seeds), int(r.readout_solved)
    spread = (f"best accuracy {_pct(r.readout_mean)} on average, {r.readout_min:.2f}–"
              f"{r.readout_max:.2f} % over {n} seeds, solved in {k} of {n} seeds; {b} budget")
    head = f"Readout-only control, {where} (recurrent weights frozen; {spread})"
    if _decides(pair):                                     # a paired multi-seed test decides
        m = pair.stats["seeds"]
        if pair.a_better_everywhere:
            said = f"The learning rule beats the control in {m} of {m} paired seeds."
        else:
            said = (f"The learning rule beats the control in {pair.stats['a_better']} of {m} "
                    f"paired seeds, not in every one, so {NOT_SHOWN}.")
        why = None if pair.missing is None else (where, pair.reason)
        return (f"{head}. {pair.sentence()} {said}", pair.a_better_everywhere,
                [b] + pair.budget.split(" and "), why)
    # no paired multi-seed test: the threshold reading, and why there is no paired test
    if pair is None:
        reason = "no run of the learning rule shares a budget and a seed with the control here"
        unpaired = f"No paired test against the control on {where}: {reason}."
    else:
        reason, unpaired = pair.reason, pair.sentence()
    why = (where, reason)
    budgets = [b] + ([] if pair is None else pair.budget.split(" and "))
    if solved:
        if k > 0:
            return f"{head}: it solves the task too, so {NOT_SHOWN}. {unpaired}", False, \
                budgets, why
        return (f"{head}: the learning rule solves what the readout alone does not. {unpaired}",
                True, budgets, why)
    if acc - r.readout_max < TOL:
        return (f"{head}: RNN-LRA-diff's {_pct(acc)} is within {TOL:g} {_pts(TOL)} of the "
                f"control's best seed or below it, so {NOT_SHOWN}. {unpaired}"), False, budgets, why
    return (f"{head}: RNN-LRA-diff's {_pct(acc)} beats the control's best seed by "
            f"{acc - r.readout_max:.2f} points. {unpaired}"), True, budgets, why


def _controls(res, cells, own=(), reseeded=True) -> tuple:
    """The control for several (task, T, solved, accuracy) cells: (sentences, whether the rule
    is shown to matter per cell, why each comparison lacks a paired test, the budgets used).
    ``own``, ``reseeded``: which runs represent the learning rule (:func:`control_pair`)."""
    texts, flags, lacking, budgets = [], [], {}, []
    for task, T, solved, acc in cells:
        t, f, b, w = _control_cell(res, task, int(T), bool(solved), float(acc), own, reseeded)
        texts.append(t)
        flags.append(f)
        budgets.extend(b)
        if w:                                      # (cell, why no paired test)
            lacking.setdefault(w[1], []).append(w[0])
    whys = [f"no paired multi-seed test against the readout-only control on {', '.join(where)} "
            f"({reason})" for reason, where in lacking.items()]
    return texts, flags, whys, budgets


NO_CONTROL = ([], [], [], [])
