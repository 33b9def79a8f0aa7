"""Controls the paper lacks: does the learning rule beat a network whose recurrent weights never
learn? (book chapters "RNN-LRA-diff", section "Control: readout only", and "Control: the reservoir
argument"; :mod:`lra.algorithms.readout`): the readout-only control beside the tables, the released grid
search's selection rule, context rows (chance, best constant predictor, best-of-grid at chance),
paired McNemar tests between methods, and how far training moves each weight matrix.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from lra.analysis.report import published
from lra.campaign.store import solved_flags
from lra.tasks import get_task


# Tables II and III publish two variants side by side; ours is the one the experiment runs.
PAPER_VARIANT = {"table2": {"loss": "log_penalty"}, "table3": {"normalisation": "none"}}


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
    for col, value in PAPER_VARIANT.get(table, {}).items():   # the experiment's own variant
        pub = pub[pub[col] == value]
    pub = pub.assign(paper=[100.0 if s else a for s, a in zip(pub["solved"], pub["accuracy"])])
    paper = pub.groupby(["task", "T"]).agg(paper_best=("paper", "max"),
                                           paper_solved=("solved", "any")).reset_index()
    out = ctrl.merge(ours, on=["task", "T"], how="outer").merge(paper, on=["task", "T"],
                                                               how="left")
    return out.sort_values(["task", "T"]).reset_index(drop=True)


def readout_lengths(readout: pd.DataFrame) -> pd.DataFrame:
    """Beside Table V (the longest T a curriculum solves): per task, the lengths the readout-only
    control was run at, the longest it solves (in how many seeds) and its best accuracy at the
    shortest length it does not solve. ``readout``: readout-only rows of one budget, from any
    experiments (readout_only, reservoir); a seed solves T if any of its learning rates does."""
    cols = ["task", "lengths run", "longest T solved", "seeds solving it",
            "first T not solved", "best accuracy there (%)"]
    if readout.empty:
        return pd.DataFrame(columns=cols)
    df = readout.assign(solved=solved_flags(readout["solved"]), T=readout["T"].astype(int))
    rows = []
    for task, d in df.groupby("task", sort=True):
        per = d.groupby(["T", "seed"]).agg(solved=("solved", "any"),
                                           acc=("best_accuracy", "max")).reset_index()
        by_T = per.groupby("T").agg(solved=("solved", "sum"), seeds=("seed", "nunique"),
                                    acc=("acc", "max"))
        solved_T = [T for T in by_T.index if by_T.loc[T, "solved"] > 0]
        unsolved = [T for T in by_T.index if by_T.loc[T, "solved"] == 0]
        top = max(solved_T) if solved_T else None
        first = min(unsolved) if unsolved else None
        rows.append({"task": task, "lengths run": ", ".join(str(T) for T in by_T.index),
                     "longest T solved": "—" if top is None else top,
                     "seeds solving it": "—" if top is None else
                     f"{int(by_T.loc[top, 'solved'])} of {int(by_T.loc[top, 'seeds'])}",
                     "first T not solved": "—" if first is None else first,
                     "best accuracy there (%)": "—" if first is None else
                     f"{100 * by_T.loc[first, 'acc']:.2f}"})
    return pd.DataFrame(rows, columns=cols)


def control_table(merged: pd.DataFrame, budget: str | None = None) -> pd.DataFrame:
    """Reader-facing text table of :func:`beside_learning_rule`: human task names, solved cells
    as "✓ 0/N" with the validation size of the learning rule's ``budget`` (the paper's: 10,000)."""
    from lra.analysis.budgets import validation_size
    from lra.analysis.labels import TASK_LABELS
    from lra.analysis.tables import paper_text, result_text

    def pct(v):
        return "–" if pd.isna(v) else f"{v:.2f}"
    n = validation_size(budget) if budget else None
    rows = []
    for r in merged.itertuples():
        ctrl = "not run" if pd.isna(r.readout_mean) else (
            f"{r.readout_mean:.2f} ({r.readout_min:.2f}–{r.readout_max:.2f}), "
            f"solved {int(r.readout_solved)}/{int(r.seeds)}")
        if pd.isna(r.lra_best):
            lra = "not run"
        elif n:
            lra = result_text(bool(r.lra_solved), r.lra_best, n)
        else:
            lra = "✓" if bool(r.lra_solved) else pct(r.lra_best)
        paper = ("–" if pd.isna(r.paper_best) else
                 paper_text(bool(getattr(r, "paper_solved", False)), r.paper_best))
        rows.append({"task": TASK_LABELS.get(r.task, r.task), "T": int(r.T),
                     "readout only: mean (min–max) over seeds": ctrl,
                     "RNN-LRA-diff, best of grid": lra, "paper, best over K": paper})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Which run a grid search reports: our rule and the released grid search's
# (reference-code-notes, lra-rnn 10-11: ``best_idx = argmax(iterations)``, and only when that
# run reached the iteration cap ``argmax(accuracy)``, where accuracy is the best validation
# accuracy a run saw; numpy's argmax takes the first of equal values, here in grid order).

GRID_ORDER = ["alpha", "gamma", "K", "c0", "c1", "lam", "loss"]


def _grid_sorted(cell: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in GRID_ORDER if c in cell]
    return cell.sort_values(cols, ascending=[False] * len(cols), kind="stable")


def pick_ours(cell: pd.DataFrame) -> pd.Series:
    """Solved first, then the best accuracy, then the fewest iterations."""
    d = cell.assign(solved=solved_flags(cell["solved"]))
    return d.sort_values(["solved", "best_accuracy", "iterations", "key"],
                         ascending=[False, False, True, True], kind="stable").iloc[0]


def pick_released(cell: pd.DataFrame, cap: int) -> pd.Series:
    """The released grid search's rule: the longest run, or the most accurate if that one hit
    the cap."""
    d = _grid_sorted(cell).reset_index(drop=True)
    i = int(d["iterations"].values.argmax())
    if int(d["iterations"].iloc[i]) >= cap:
        i = int(d["best_accuracy"].values.argmax())
    return d.iloc[i]


def selection_rules(df: pd.DataFrame, cap: int, cell=("task", "K", "T")) -> pd.DataFrame:
    """Per cell: the configuration and accuracy each rule reports, and whether they agree."""
    rows = []
    for key, g in df.groupby(list(cell), sort=True):
        ours, rel = pick_ours(g), pick_released(g, cap)
        cfg = lambda r: ", ".join(f"{c}={r[c]:g}" for c in ("alpha", "gamma") if c in r)
        acc = lambda r: ("✓" if bool(solved_flags(pd.Series([r["solved"]])).iloc[0])
                         else f"{100 * r['best_accuracy']:.2f}")
        rows.append({**dict(zip(cell, key)), "runs": len(g),
                     "ours: picks": cfg(ours), "ours: reports": acc(ours),
                     "released rule: picks": cfg(rel), "released: reports": acc(rel),
                     "(iterations)": int(rel["iterations"]),
                     "same run": ours["key"] == rel["key"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Context rows (issue 10, point 5): what a network that learnt nothing would score.

def class_probabilities(task: str) -> list[float]:
    """The exact class distribution of a task's generator (book chapter "Tasks"): temporal order
    4 and 3-bit temporal order 8 equally likely classes (independent fair bits); random
    permutation 2 equally likely classes (the first bit) among its 100 outputs."""
    spec = get_task(task)
    n = 2 if spec.name == "random_permutation" else 2 ** len(spec.offsets)
    return [1.0 / n] * n


def chance_level(task: str) -> float:
    """Accuracy of a uniform guess among the classes the generator produces."""
    return 1.0 / len(class_probabilities(task))


def best_constant_accuracy(labels) -> float:
    """Accuracy on ``labels`` of the best constant prediction (the most frequent label): what
    the readout's bias alone can reach on that validation set."""
    labels = torch.as_tensor(labels)
    return float(torch.bincount(labels).max()) / len(labels)


def _binomial_cdf(n: int, p: float) -> list[float]:
    """P(X <= k), k = 0..n, for X ~ Binomial(n, p), from log-pmfs (exact to float64 rounding)."""
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p) for k in range(n + 1)]
    top = max(logs)
    pmf = [math.exp(v - top) for v in logs]
    total = sum(pmf)
    cdf, acc = [], 0.0
    for v in pmf:
        acc += v / total
        cdf.append(min(acc, 1.0))
    return cdf


def expected_best_of_chance(n_validation: int, n_configs: int, p: float) -> float:
    """E[max over n_configs runs] of the validation accuracy of predictors that guess at chance
    p, each independently on a validation set of n_validation samples (correct answers
    ~ Binomial(n, p) per run): E[max]/n = sum_{k>=1} P(max >= k)/n = sum_k (1 - F(k-1)^m)/n.
    A grid's best accuracy is above chance by this much even if nothing was learnt."""
    if n_validation < 1 or n_configs < 1 or not 0 < p < 1:
        raise ValueError("need n_validation >= 1, n_configs >= 1 and 0 < p < 1")
    cdf = _binomial_cdf(n_validation, p)
    return sum(1.0 - cdf[k - 1] ** n_configs for k in range(1, n_validation + 1)) / n_validation


def best_of_chance_range(n_validation: int, n_configs: int, p: float,
                         level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` range of the best validation accuracy over n_configs predictors
    guessing at chance p on n_validation samples (max of Binomial(n, p)/n, whose distribution
    function is F(k)^m): where such a grid's best lands in that share of draws."""
    cdf = _binomial_cdf(n_validation, p)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    lo = next(k for k in range(n_validation + 1) if cdf[k] ** n_configs >= lo_q)
    hi = next(k for k in range(n_validation + 1) if cdf[k] ** n_configs >= hi_q)
    return lo / n_validation, hi / n_validation


def simulated_best_of_chance(n_validation: int, n_configs: int, p: float, trials: int = 20_000,
                             seed: int = 0) -> float:
    """Monte Carlo of :func:`expected_best_of_chance` (fixed seed): the check of the formula."""
    g = torch.Generator().manual_seed(seed)
    count = torch.full((trials, n_configs), float(n_validation), dtype=torch.float64)
    hits = torch.binomial(count, torch.full_like(count, p), generator=g)
    return float(hits.max(1).values.mean()) / n_validation


def context_table(grid_sizes: dict, validation_sizes: dict, label_sets: dict) -> pd.DataFrame:
    """One row per task and validation size: chance, the best constant predictor on the given
    validation label sets (min–max over them; only for the size they have) and the expected
    best-of-grid accuracy at chance for each grid size (``{description: configurations}``);
    ``validation_sizes``: ``{budget: n}``."""
    rows = []
    for task, label_list in label_sets.items():
        p = chance_level(task)
        const = [best_constant_accuracy(y) for y in label_list]
        sizes = {len(y) for y in label_list}
        for budget, n in validation_sizes.items():
            row = {"task": task, "validation samples": f"{n:,} ({budget})",
                   "chance (%)": f"{100 * p:.1f}",
                   "best constant predictor (%)": (f"{100 * min(const):.2f}–{100 * max(const):.2f}"
                                                   if sizes == {n} else "–")}
            for name, m in grid_sizes.items():
                row[f"best of {m} at chance ({name}) (%)"] = \
                    f"{100 * expected_best_of_chance(n, m, p):.2f}"
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Paired comparison of two methods on the same validation set (issue 10, point 5).

def mcnemar(correct_a, correct_b) -> dict:
    """Exact McNemar test of two classifiers on the same samples: b = samples only A gets right,
    c = only B; under H0 (equal accuracy) b ~ Binomial(b + c, 1/2). Two-sided p-value
    min(1, 2 P(X <= min(b, c))). Returns b, c, the accuracy difference A - B and p."""
    a = torch.as_tensor(correct_a, dtype=torch.bool)
    b_ = torch.as_tensor(correct_b, dtype=torch.bool)
    if a.shape != b_.shape or a.dim() != 1:
        raise ValueError("correct_a and correct_b must be 1-D and of the same length")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    n, k = b + c, min(b, c)
    if n == 0:
        p = 1.0
    else:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
        p = min(1.0, 2 * tail)
    return {"only_a": b, "only_b": c, "diff": (b - c) / len(a), "p": p}


def paired_seeds(correct: dict, a: str, b: str, level: float = 0.05) -> dict:
    """Paired multi-seed comparison of methods ``a`` and ``b``: ``correct[method][seed]`` is the
    per-sample correctness on that seed's validation set (shared by both methods). McNemar per
    seed; the seeds' spread of the accuracy difference; how many seeds favour each method at
    ``level`` (a one-method-wins verdict should need every seed, not one number)."""
    seeds = sorted(set(correct[a]) & set(correct[b]))
    if not seeds:
        raise ValueError(f"no seed has predictions of both {a} and {b}")
    per = {s: mcnemar(correct[a][s], correct[b][s]) for s in seeds}
    diffs = [per[s]["diff"] for s in seeds]
    return {"seeds": len(seeds), "per_seed": per,
            "diff_mean": sum(diffs) / len(diffs), "diff_min": min(diffs), "diff_max": max(diffs),
            "a_better": sum(per[s]["p"] < level and per[s]["diff"] > 0 for s in seeds),
            "b_better": sum(per[s]["p"] < level and per[s]["diff"] < 0 for s in seeds),
            "max_p": max(per[s]["p"] for s in seeds)}


# --------------------------------------------------------------------------------------------
# How far training moves each weight matrix (issue 10, point 5).

MOTION_ROLES = ("W_hh", "W_xh", "W_hy")


def relative_motion(initial, final) -> dict:
    """||W_final - W_init||_F / ||W_init||_F per layer role, per member: (P, ...) tensors in,
    {role: list of P floats} out. A readout-only network has exactly 0 for W_hh and W_xh."""
    out = {}
    for role in MOTION_ROLES:
        w0, w1 = getattr(initial, role), getattr(final, role)
        num = torch.linalg.vector_norm((w1 - w0).flatten(1), dim=1)
        den = torch.linalg.vector_norm(w0.flatten(1), dim=1)
        out[role] = (num / den).tolist()
    return out


# --------------------------------------------------------------------------------------------
# Reading the reservoir runs' records (scripts/reservoir_runs.py stores, per run, the weight
# motion and the final network's per-sample correctness as its probe record).

def motion_frame(rows: pd.DataFrame, records: dict) -> pd.DataFrame:
    """One row per run with a record: algorithm, task, T, seed, iterations and the relative
    motion of each role in :data:`MOTION_ROLES`."""
    out = [{"algorithm": r.algorithm, "task": r.task, "T": int(r.T), "seed": int(r.seed),
            "iterations": int(r.iterations), **records[r.key]["motion"]}
           for r in rows.itertuples() if records.get(r.key) is not None]
    return pd.DataFrame(out, columns=["algorithm", "task", "T", "seed", "iterations",
                                      *MOTION_ROLES])


def correctness_by_cell(rows: pd.DataFrame, records: dict) -> dict:
    """{(task, T): {algorithm: {seed: bool array}}} from the stored per-sample correctness."""
    out = {}
    for r in rows.itertuples():
        rec = records.get(r.key)
        if rec is None:
            continue
        bits = torch.tensor([c == "1" for c in rec["correct"]])
        out.setdefault((r.task, int(r.T)), {}).setdefault(r.algorithm, {})[int(r.seed)] = bits
    return out


def paired_table(correct: dict, pairs, names: dict | None = None,
                 level: float = 0.05) -> pd.DataFrame:
    """Per (task, T) and pair (a, b) of :func:`correctness_by_cell`: the paired multi-seed
    comparison of :func:`paired_seeds` as one reader-facing row (differences in points)."""
    names = names or {}
    rows = []
    for (task, T), by_method in sorted(correct.items()):
        for a, b in pairs:
            if a not in by_method or b not in by_method:
                continue
            s = paired_seeds(by_method, a, b, level)
            rows.append({"task": task, "T": T,
                         "comparison": f"{names.get(a, a)} − {names.get(b, b)}",
                         "final accuracy difference, points: mean (min–max)":
                             f"{100 * s['diff_mean']:+.1f} ({100 * s['diff_min']:+.1f} to "
                             f"{100 * s['diff_max']:+.1f})",
                         f"seeds better (p < {level:g})": f"{s['a_better']}/{s['seeds']}",
                         f"seeds worse (p < {level:g})": f"{s['b_better']}/{s['seeds']}",
                         "largest p": f"{s['max_p']:.2g}",
                         "better in every seed": s["a_better"] == s["seeds"],
                         "better in no seed": s["a_better"] == 0})
    return pd.DataFrame(rows)
