"""Findings from the evidence plan's runs at the paper's protocol (chapter "Findings"; the plan:
:mod:`lra.campaign.evidence`): five seeds per method, each seed's run chosen on validation and
judged on its own held-out test set, paired seed by seed. Each function takes a
:class:`lra.campaign.store.ResultsStore` and returns a :class:`lra.analysis.finding.Finding`, or
``None`` until the rows it needs are all stored.
"""
from __future__ import annotations

import pandas as pd

from lra.analysis.finding import Finding, _paired_control, _per_seed_solved, _solved
from lra.analysis.labels import TASK_LABELS
from lra.analysis.report import load, published
from lra.campaign.store import ResultsStore


def length_20_at_protocol(store: ResultsStore, T: int = 20) -> Finding | None:
    """The evidence plan's T = 20 entries at the paper's protocol (claims C1b, C8b): per task with
    five seeds of RNN-LRA-diff stored, how many seeds it solves, its regularised form, BPTT (the
    positive control) and the readout-only control, the paper's Table I cell, and the paired test
    of RNN-LRA-diff against the control on the held-out test set."""
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS
    lra = load("ev_t20_lra", "paper", store)[0]
    if lra.empty:
        return None
    others = {"its regularised form (λ = 0.1)": (load("ev_t20_reg", "paper", store)[0], None),
              "BPTT (the positive control)": (load("ev_t20_bptt", "paper", store)[0], "bptt"),
              "training only the readout": (load("ev_readout", "paper", store)[0],
                                            "readout_only")}
    pub = published("table1")
    parts, heads = [], []
    for task, label in TASK_LABELS.items():
        own = _per_seed_solved(lra, task, T)
        if own is None or own[1] < MIN_SEEDS:
            continue
        name = label[0].lower() + label[1:]
        cell = pub[(pub.task == task) & (pub["T"] == T)]
        paper = (f"the paper's Table I: {cell.accuracy.max():.2f} %, not solved" if not
                 cell.empty and not cell.solved.any() else "the paper's Table I: solved"
                 if not cell.empty else "not in the paper's Table I")
        said = [f"RNN-LRA-diff {own[0]} of {own[1]}"]
        for what, (df, algorithm) in others.items():
            k = _per_seed_solved(df, task, T, algorithm)
            if k is not None:
                said.append(f"{what} {k[0]} of {k[1]}")
        p = _paired_control(store, task, T)
        if p is not None and p.tested and p.budget == "paper" and p.missing is None:
            st = p.stats
            verdict = ("better in every paired seed" if p.a_better_everywhere else
                       "not better in every paired seed, so the learning rule is not shown to "
                       "matter here")
            said.append(f"paired on the held-out test set, RNN-LRA-diff is better than the "
                        f"readout-only control in {st['a_better']} and worse in {st['b_better']} "
                        f"of {st['seeds']} seeds ({100 * st['diff_mean']:+.2f} points on "
                        f"average): {verdict}")
        parts.append(f"{label} ({paper}): seeds solved — " + "; ".join(said))
        if own[0]:
            heads.append(name)
    if not parts:
        return None
    head = (f"At the paper's protocol, RNN-LRA-diff solves {' and '.join(heads)} at T = {T} in "
            "some seeds, where the paper reports it unsolved" if heads else
            f"At the paper's protocol, RNN-LRA-diff solves no task at T = {T}")
    return Finding(f"**{head}** (evidence plan, five seeds, one configuration per task, each "
                   "seed's run chosen on validation): " + ". ".join(parts) + ".",
                   "verdicts", ("paper",), "vrd-plan")


def regularised_curriculum(store: ResultsStore) -> Finding | None:
    """Claim C8c at the paper's protocol: the evidence plan's regularised curriculum on random
    permutation (Table V's rule from T = 10, Figure 4's configuration, five seeds), once it has
    ended (its last stored stage unsolved); None while it climbs or before it ran."""
    from lra.analysis.tables import curriculum_max_T
    df = load("ev_t5_reg_rp", "paper", store)[0]
    task = "random_permutation"
    d = df[df.task == task] if not df.empty else df
    if d.empty:
        return None
    last = int(d["T"].max())
    if bool(_solved(d[d["T"] == last]).any()):
        return None                                   # still climbing
    mr = curriculum_max_T(d.assign(solved=_solved(d)))[task]["max_T"]
    pub = published("table5")
    paper = pub[(pub.task == task) & (pub.method == "lra_diff_regularised")].max_T
    paper_T = int(paper.iloc[0]) if len(paper) and pd.notna(paper.iloc[0]) else None
    g = d[d["T"] == last]
    k, n = _per_seed_solved(g, task, last)
    acc = g.groupby("seed").best_accuracy.max() * 100
    reached = (f"solves random permutation up to T = {mr}" if mr else
               "does not solve random permutation even at T = 10")
    text = (f"**Regularised RNN-LRA-diff {reached} at the paper's protocol, where the paper's "
            f"Table V reports T = {paper_T}** (Table V's curriculum from T = 10, five seeds, "
            f"Figure 4's configuration with λ = 0.1: one configuration of the paper's grid, whose "
            f"others might do better): its stage T = {last} is solved by {k} of {n} seeds (best "
            f"validation accuracy {acc.min():.2f}–{acc.max():.2f} %).")
    bptt = _per_seed_solved(load("ev_t10_bptt" if last == 10 else "ev_t20_bptt", "paper",
                                 store)[0], task, last, "bptt")
    if bptt is not None:
        text += f" BPTT solves that length in {bptt[0]} of {bptt[1]} seeds."
    return Finding(text, "verdicts", ("paper",), "vrd-c8")


def regulariser_at_t20(store: ResultsStore, T: int = 20) -> Finding | None:
    """Claim C8 beyond solving: the evidence plan's T = 20 runs with and without the regulariser
    (the same configuration but λ = 0.1, five seeds each, each seed's run chosen on validation),
    paired on the held-out test set. Said for the tasks where the regularised form is better in
    every paired seed (an effect on learning the verdicts, which ask what is solved, do not show);
    None where it is nowhere."""
    from lra.analysis.paired import pair_methods, reported_per_seed
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS, _range_pct
    plain_all, reg_all = (load(e, "paper", store)[0] for e in ("ev_t20_lra", "ev_t20_reg"))
    if plain_all.empty or reg_all.empty:
        return None

    def cell(df, task):
        return df[(df.task == task) & (df["T"] == T)] if not df.empty else df

    def test_range(df):
        picks = pd.DataFrame(list(reported_per_seed(df).values()))
        return _range_pct(pd.to_numeric(picks["best_test_accuracy"], errors="coerce") * 100)
    parts, heads = [], []
    TASK_KEYS = {label[0].lower() + label[1:]: task for task, label in TASK_LABELS.items()}
    for task, label in TASK_LABELS.items():
        plain, reg = cell(plain_all, task), cell(reg_all, task)
        if min(plain["seed"].nunique(), reg["seed"].nunique()) < MIN_SEEDS:
            continue
        p = pair_methods(reg, plain, "regularised", "unregularised")
        if not p.tested or p.missing is not None or not p.a_better_everywhere:
            continue
        st = p.stats
        name = label[0].lower() + label[1:]
        k = _per_seed_solved(reg, task, T)
        said = [f"RNN-LRA-diff {test_range(plain)}, regularised {test_range(reg)} on the held-out "
                f"test set, better in {st['a_better']} of {st['seeds']} paired seeds "
                f"({100 * st['diff_mean']:+.2f} points on average); seeds solved: regularised "
                f"{k[0]} of {k[1]}, unregularised "
                f"{'{} of {}'.format(*_per_seed_solved(plain, task, T))}"]
        ro = cell(load("ev_readout", "paper", store)[0], task)
        if not ro.empty:
            said.append(f"training only the readout {test_range(ro)}")
        bptt = _per_seed_solved(load("ev_t20_bptt", "paper", store)[0], task, T, "bptt")
        if bptt is not None:
            said.append(f"BPTT (the positive control) solves it in {bptt[0]} of {bptt[1]} seeds")
        parts.append(f"{label}: " + "; ".join(said))
        heads.append((name, test_range(plain), test_range(reg), k))
    if not heads:
        return None
    name, lo, hi, (k, n) = heads[0]
    solved = "in none" if not k else f"in {k} of {n}"
    pub = published("table5")
    longest = pub[(pub.task == TASK_KEYS[name]) & (pub.method == "lra_diff_regularised")].max_T
    paper = (f" The paper's Table V has the regularised form solve {name} up to "
             f"T = {int(longest.iloc[0])}." if len(longest) and pd.notna(longest.iloc[0]) else "")
    return Finding(
        f"**Regularisation (λ = 0.1) lifts {name} at T = {T} from {lo} to {hi} on held-out data, "
        f"in every seed, but solves it {solved}** (evidence plan, paper protocol, five seeds, "
        f"the same configuration with and without the regulariser, each seed's run chosen on "
        f"validation): " + ". ".join(parts) + "." + paper, "verdicts", ("paper",), "vrd-c8")


def one_inner_step(store: ResultsStore) -> Finding | None:
    """Claim C10 (the paper's conjecture that a tuned γ can replace the inner loop) at the
    paper's protocol: the evidence plan's K = 1 runs (γ = 10) against its K = 10 runs (Figure 2's
    configuration) on random permutation at T = 10, five seeds each, paired on the held-out test
    set; None until both have five seeds."""
    from lra.analysis.paired import pair_methods, reported_per_seed
    from lra.analysis.verdicts.vocabulary import MIN_SEEDS, _range_pct
    task, T = "random_permutation", 10
    k1, k10 = (load(e, "paper", store)[0] for e in ("ev_k1", "ev_fig2"))
    if k1.empty or k10.empty:
        return None
    k1, k10 = (d[(d.task == task) & (d["T"] == T)] for d in (k1, k10))
    if min(k1["seed"].nunique(), k10["seed"].nunique()) < MIN_SEEDS:
        return None
    gamma = ", ".join(f"{g:g}" for g in sorted(k1.gamma.astype(float).unique()))
    p = pair_methods(k1, k10, "K = 1", "K = 10")
    if not p.tested or p.missing is not None:
        return None
    st = p.stats

    def picks(d):                 # each seed's reported run, chosen on validation
        return pd.DataFrame(list(reported_per_seed(d).values()))

    def line(d, name):
        test = pd.to_numeric(picks(d).get("best_test_accuracy"), errors="coerce") * 100
        return f"{name} {_range_pct(test)} on the held-out test set"
    solved = {n: int(_solved(picks(d)).sum()) for n, d in (("K = 1", k1), ("K = 10", k10))}
    if p.a_better_everywhere:
        head = (f"One inner step with γ = {gamma} does better than ten inner steps on random "
                f"permutation at T = 10, in every seed")
        reading = "the paper's conjecture (C10) holds in this cell"
    elif p.b_better_everywhere:
        head = "One inner step does worse than ten on random permutation at T = 10, in every seed"
        reading = "the paper's conjecture (C10) fails in this cell"
    else:
        head = "One inner step does as well as ten on random permutation at T = 10"
        reading = "the paper's conjecture (C10) holds in this cell"
    return Finding(
        f"**{head}** (evidence plan, paper protocol, five seeds each, each seed's run chosen on "
        f"validation): {line(k1, f'K = 1 (γ = {gamma})')}; {line(k10, 'K = 10 (Figure 2)')}; "
        f"paired on the held-out test set, K = 1 is better in {st['a_better']} and worse in "
        f"{st['b_better']} of {st['seeds']} seeds ({100 * st['diff_mean']:+.2f} points on "
        f"average): {reading}, which the paper states but does not test. "
        + ("Neither solves the task." if not any(solved.values()) else
           "Seeds solved: " + ", ".join(f"{n}: {k} of {MIN_SEEDS}" for n, k in solved.items())
           + "."), "verdicts", ("paper",), "vrd-c10")
