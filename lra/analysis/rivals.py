"""Rival explanations of the paper's random-permutation cells (~51 % in Tables I-III), tested.

Book chapters "Reservoir" (section "What the paper's ~51 % is consistent with") and "The paper
and its released code". Each rival explanation is turned into a prediction for every
random-permutation cell of Tables I-III, computed from what the paper's code actually used: the
released script's seeded validation stream (:func:`lra.algorithms.released_script.stream_batch`
after ``numpy.random.RandomState(seed)``, 10,000 samples drawn before any training batch), its
initial weights and its accuracy computation (:func:`~lra.algorithms.released_script.validate`:
argmax of the logits of the last step against the label, the mean over batches of 1,000 of the
batch means), and the released script's stored runs (``results/released_script/``).

The rivals (issue 23, item 2):

* **(a) best of a grid at chance** — the best of :data:`PAPER_GRID_CONFIGS` predictors guessing
  each sample at chance (1/2) on 10,000 samples: its expectation and central 95 % range. It does
  not depend on T or on the stream.
* **(b) learns, then collapses** — what the released script reports for a run that learnt the
  task and then collapsed (stored at T = 10): ``run_experiment`` returns the *highest* validation
  accuracy seen (reference-code notes, 11), and, had the paper reported the final network, the
  collapsed run's last check.
* **(c) one class** — a network that predicts the same class for every sample: its accuracy on
  the released validation stream at each T, for class 0 and class 1 (the only two labels).
* **(d) the released grid search's rule** (notes, 10): the longest run, or the most accurate if
  it reached the cap, reporting its highest accuracy — applied to the stored runs of the
  released script.
* **(e) the untrained network** — the released initial weights validated as the script validates:
  the floor of "the highest accuracy seen", since the script starts its record there.

Nothing here trains a network: the streams are drawn and the untrained network validated (a few
seconds); the runs are read from ``results/released_script/``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from lra.algorithms.released_script import (RunSpec, VALIDATION_BATCH, VALIDATION_SIZE,
                                            released_init, stream_batch, validate)
from lra.analysis.controls import best_of_chance_range, expected_best_of_chance
from lra.analysis.report import published

TASK = "random_permutation"
SEED = RunSpec.seed                   # the released script's seed (and gridsearch.py's)
PAPER_GRID_CONFIGS = 3 * 5            # alpha x gamma per cell of Tables I-III (paper IV-A)
PAPER_CAP = 100_000                   # the paper's iteration cap (the grid search's maxiter)
EXACT = 0.005                         # points: the paper prints two decimals of a percentage
LEVEL = 0.95
TABLES = {"table1": None, "table2": "loss", "table3": "normalisation"}
RIVALS = {
    "a": "(a) best of 15 at chance",
    "b_highest": "(b) learns, collapses: highest (released return)",
    "b_final": "(b) learns, collapses: final network",
    "c0": "(c) one class: class 0",
    "c1": "(c) one class: class 1",
    "d": "(d) released grid rule on stored runs",
    "e": "(e) untrained network",
}


# ----------------------------------------------------------------------------- the stream

@lru_cache(maxsize=None)
def released_validation(T: int, seed: int = SEED, task: str = TASK):
    """The released script's validation set at length T: the first draw of its stream."""
    return stream_batch(np.random.RandomState(seed), task, T, VALIDATION_SIZE)


def one_class_accuracy(labels, cls: int, batch: int = VALIDATION_BATCH) -> dict:
    """Accuracy of predicting ``cls`` for every sample, computed two ways: as the released
    ``validate`` computes it (the mean over consecutive batches of ``batch`` of the batch means)
    and pooled over samples. They differ only when the last batch is shorter."""
    y = np.asarray(labels)
    hits = (y == cls).astype(float)
    batch_means = [hits[i:i + batch].mean() for i in range(0, len(hits), batch)]
    return {"released": float(np.mean(batch_means)), "pooled": float(hits.mean())}


def untrained_accuracy(T: int, seed: int = SEED, task: str = TASK) -> float:
    """The released initial network's accuracy on the released validation set, validated as the
    script validates it (state x_0 W_xh + b_h before step 0)."""
    x, y = released_validation(T, seed, task)
    return 1.0 - validate(released_init(task, seed), x, y)[1]


# ----------------------------------------------------------------------------- stored runs

def stored_released_runs(T: int, folder=None) -> list[dict]:
    """The released script's own stored runs of random permutation at length T (its printed
    output; every stored run is at T = 10, so other lengths give none)."""
    from lra.campaign.released_runs import STORED, load_runs
    runs = [r for r in load_runs(folder or STORED)
            if r["reading"] == "released script" and r["task"] == TASK]
    return runs if T == 10 else []


def collapsed(run: dict, shares) -> bool:
    """A run collapsed when its last check scores what one class scores on its stream (within
    the printed rounding) after it had learnt (highest above 90 %)."""
    acc = run["curve"]["accuracy"]
    return bool(acc) and run["best_accuracy"] > 0.9 and \
        min(abs(acc[-1] - s) for s in shares) * 100 <= EXACT


def released_rule(runs: list[dict], cap: int = PAPER_CAP) -> dict | None:
    """The grid search's "best" (notes, 10): the run with the most iterations, or, if that one
    reached ``cap``, the most accurate; returns it (its highest accuracy is what is reported)."""
    if not runs:
        return None
    its = [r["curve"]["iteration"][-1] if r["curve"]["iteration"] else 0 for r in runs]
    i = int(np.argmax(its))
    if its[i] >= cap:
        i = int(np.argmax([r["best_accuracy"] for r in runs]))
    return runs[i]


# ----------------------------------------------------------------------------- predictions

def published_cells() -> pd.DataFrame:
    """Every random-permutation cell of Tables I-III, as published (from ``published/``)."""
    out = []
    for table, variant in TABLES.items():
        d = published(table)
        d = d[d.task == TASK]
        for r in d.itertuples():
            out.append({"table": table, "K": int(r.K),
                        "variant": getattr(r, variant) if variant else "",
                        "T": int(r.T), "paper": float(r.accuracy)})
    return pd.DataFrame(out)


def predictions(cells: pd.DataFrame | None = None, n: int = VALIDATION_SIZE,
                configs: int = PAPER_GRID_CONFIGS, seed: int = SEED, folder=None) -> pd.DataFrame:
    """Each rival's prediction (accuracy, %) beside each published cell (``paper``); NaN where a
    rival cannot be computed from stored data at that T (no stored run). Columns: the keys of
    :data:`RIVALS`, plus ``a_lo``/``a_hi`` (the central 95 % range of (a)) and ``d_lo``/``d_hi``
    (the lowest and highest "highest accuracy" of the stored runs, whatever the rule picks)."""
    cells = published_cells() if cells is None else cells.copy()
    p = 0.5                                               # two labels, equally likely
    a = 100 * expected_best_of_chance(n, configs, p)
    lo, hi = best_of_chance_range(n, configs, p, LEVEL)
    per_T = {}
    for T in sorted(cells["T"].unique()):
        _, y = released_validation(int(T), seed)
        c0 = one_class_accuracy(y.numpy(), 0)["released"]
        c1 = one_class_accuracy(y.numpy(), 1)["released"]
        runs = stored_released_runs(int(T), folder)
        coll = [r for r in runs if collapsed(r, (c0, c1))]
        pick = released_rule(runs)
        nan = float("nan")
        per_T[T] = {
            "a": a, "a_lo": 100 * lo, "a_hi": 100 * hi,
            "b_highest": 100 * max(r["best_accuracy"] for r in coll) if coll else nan,
            "b_final": 100 * coll[0]["curve"]["accuracy"][-1] if coll else nan,
            "c0": 100 * c0, "c1": 100 * c1,
            "d": 100 * pick["best_accuracy"] if pick else nan,
            "d_lo": 100 * min(r["best_accuracy"] for r in runs) if runs else nan,
            "d_hi": 100 * max(r["best_accuracy"] for r in runs) if runs else nan,
            "e": 100 * untrained_accuracy(int(T), seed),
            "stored_runs": len(runs), "collapsed_runs": len(coll)}
    return pd.concat([cells.reset_index(drop=True),
                      pd.DataFrame([per_T[T] for T in cells["T"]])], axis=1)


def exact_hit_probability(share: float, n: int = VALIDATION_SIZE,
                          configs: int = PAPER_GRID_CONFIGS) -> float:
    """Under (a): the probability that the best of ``configs`` chance guessers scores exactly
    ``share`` (one sample's resolution, as the paper prints): F(k)^m - F(k-1)^m."""
    from lra.analysis.controls import _binomial_cdf
    k = round(share * n)
    cdf = _binomial_cdf(n, 0.5)
    return cdf[k] ** configs - (cdf[k - 1] ** configs if k > 0 else 0.0)


def count_distribution(ps) -> list[float]:
    """The number of independent events, of probabilities ``ps``, that happen (Poisson-binomial):
    the list P(X = j), j = 0..len(ps)."""
    dist = [1.0]
    for p in ps:
        dist = [(dist[j] if j < len(dist) else 0.0) * (1 - p)
                + (dist[j - 1] * p if j > 0 else 0.0) for j in range(len(dist) + 1)]
    return dist


def fit(df: pd.DataFrame) -> pd.DataFrame:
    """How each rival fits the cells: per rival, the cells it was computed for, how many it
    predicts exactly (within the printed rounding) or, for (a), how many lie in its 95 % range,
    the mean and largest |paper - prediction| (points), and the cells it rules out (off by more
    than the book's agreement tolerance of 2 points)."""
    from lra.analysis.budgets import AGREE_POINTS
    rows = []
    for key, name in RIVALS.items():
        d = df[df[key].notna()]
        diff = (d["paper"] - d[key]).abs()
        inside = ((d["paper"] >= d["a_lo"]) & (d["paper"] <= d["a_hi"])) if key == "a" else \
            (diff <= EXACT)
        rows.append({"rival": name, "key": key, "cells": len(d), "of": len(df),
                     "exact_or_in_range": int(inside.sum()),
                     "mean_abs_diff": float(diff.mean()) if len(d) else float("nan"),
                     "max_abs_diff": float(diff.max()) if len(d) else float("nan"),
                     "ruled_out_cells": int((diff > AGREE_POINTS).sum())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- for the page

_TABLE_NAMES = {"table1": "I", "table2": "II", "table3": "III"}
_NOT = "not computed"


def _fmt(v: float) -> str:
    return _NOT if pd.isna(v) else f"{v:.2f}"


def rival_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each rival's prediction (%) per length T, as the page shows it (one row per T)."""
    rows = []
    for T, g in df.groupby("T"):
        r = g.iloc[0]
        rows.append({
            "T": int(T),
            RIVALS["a"]: f"{r.a:.2f} ({r.a_lo:.2f}–{r.a_hi:.2f})",
            RIVALS["b_highest"]: _fmt(r.b_highest), RIVALS["b_final"]: _fmt(r.b_final),
            RIVALS["c0"]: _fmt(r.c0), RIVALS["c1"]: _fmt(r.c1),
            RIVALS["d"]: _NOT if pd.isna(r.d) else
            f"{r.d:.2f} (any pick: {r.d_lo:.2f}–{r.d_hi:.2f})",
            RIVALS["e"]: _fmt(r.e)})
    return pd.DataFrame(rows)


def _variant(table: str, variant: str) -> str:
    """A table's variant as the reader sees it: " (log-penalty)", " (c0 = c1 = 0)", ..."""
    from lra.analysis.labels import value_label
    return f" ({value_label(TABLES[table], variant)})" if variant else ""


def cell_table(df: pd.DataFrame) -> pd.DataFrame:
    """The published cells grouped by (T, value): which cells print it (table (variant): K), its
    distance from (c)'s class-0 share and whether it lies in (a)'s 95 % range."""
    rows = []
    for (T, v), g in df.groupby(["T", "paper"]):
        names = "; ".join(f"{_TABLE_NAMES[r.table]}{_variant(r.table, r.variant)}: K = {r.K}"
                          for r in g.itertuples())
        r = g.iloc[0]
        rows.append({"T": int(T), "paper (%)": f"{v:.2f}", "cells": names,
                     "paper − (c) class 0 (points)": f"{v - r.c0:+.2f}",
                     "in (a)'s 95 % range": "yes" if r.a_lo <= v <= r.a_hi else "no"})
    return pd.DataFrame(rows)


def coincidences(df: pd.DataFrame, level: float = 0.05) -> dict:
    """The cells that equal class 0's share exactly (all; ``k`` of Table I's ``n1``, whose cells
    are separate grid searches), the cells below it, the probability ``p_k`` of ``k`` or more
    such hits in Table I under (a), and the reading they give, computed: "consistent with" a
    one-class network only where some cell hits, none lies below and (a) makes the hits
    improbable (``p_k < level``)."""
    hit = (df["paper"] - df["c0"]).abs() <= EXACT
    t1 = df[df.table == "table1"]
    k = int(((t1["paper"] - t1["c0"]).abs() <= EXACT).sum())
    below = int((df["paper"] < df["c0"] - EXACT).sum())
    p_k = sum(count_distribution([exact_hit_probability(c / 100) for c in t1["c0"]])[k:])
    if k and not below and p_k < level:
        verdict = ("The cells are consistent with networks that end up predicting one class "
                   "on the released stream, not proven to be.")
    elif not int(hit.sum()):
        verdict = "No cell equals the share: a one-class network does not account for them."
    else:
        verdict = (f"The coincidences do not single out a one-class network ({below} cells "
                   f"below the share; under (a) their probability is {p_k:.1e}).")
    return {"hits": int(hit.sum()), "k": k, "n1": len(t1), "below": below, "p_k": p_k,
            "consistent": bool(k and not below and p_k < level), "verdict": verdict}


def summary(df: pd.DataFrame | None = None) -> str:
    """Two sentences for Findings: which rival the cells are consistent with and which the
    released script's own reporting rules out, computed as :func:`sentences` computes them."""
    from lra.analysis.budgets import AGREE_POINTS
    df = predictions() if df is None else df
    f = fit(df).set_index("key")
    co = coincidences(df)
    text = (f"{co['hits']} of the paper's {len(df)} random-permutation cells (Tables I–III) "
            f"equal exactly the share of class 0 in the released script's own validation "
            f"stream ({_per_T(df, 'c0')}), what a network that predicts one class scores; "
            f"{co['below'] or 'none'} lie{'s' if co['below'] in (0, 1) else ''} below it. "
            f"The other reading, that each cell is the best of {PAPER_GRID_CONFIGS} "
            f"configurations that all learn nothing (expected best {_pct(df['a'].iloc[0])} at "
            f"every T), holds {f.loc['a', 'exact_or_in_range']} of the {len(df)} cells in its "
            f"95 % range, but makes {co['k']} or more exact hits among Table I's {co['n1']} "
            f"cells improbable (probability {co['p_k']:.1e}). " + co["verdict"])
    b = df[df["d"].notna()]
    if len(b) and f.loc["d", "ruled_out_cells"] == f.loc["d", "cells"]:
        text += (f" What the released script reports for its stored runs that learnt "
                 f"({_pct(b['d_lo'].iloc[0])}–{_pct(b['d_hi'].iloc[0])} at T = "
                 f"{', '.join(str(T) for T in sorted(b['T'].unique()))}, the highest accuracy "
                 f"seen, the collapsed run included) is {_gap(b):.0f} points or more above the "
                 f"paper's cells there: the paper's cells are not the script's own reports of runs "
                 f"that learnt.")
    return text


# ----------------------------------------------------------------------------- in words

def _gap(b: pd.DataFrame) -> float:
    """Points between the lowest accuracy the released script reports for its runs that learnt
    and the highest of the paper's cells at the same T (both in %)."""
    return float((b["d_lo"] - b["paper"]).min())


def _pct(v: float) -> str:
    return f"{v:.2f} %"


def _per_T(df: pd.DataFrame, key: str) -> str:
    by = df.groupby("T")[key].first()
    return ", ".join(f"{_pct(v)} at T = {T}" for T, v in by.items())


def collapse_checks(folder=None) -> dict:
    """In the stored run of the released script that learnt and collapsed (T = 10): its checks
    after the collapse (the first check within the printed rounding of a one-class share) and how
    many of them score exactly class 0's share and class 1's share."""
    _, y = released_validation(10)
    c0 = one_class_accuracy(y.numpy(), 0)["released"]
    c1 = one_class_accuracy(y.numpy(), 1)["released"]
    runs = [r for r in stored_released_runs(10, folder) if collapsed(r, (c0, c1))]
    if not runs:
        return {}
    acc = np.array(runs[0]["curve"]["accuracy"])
    near = np.abs(acc[:, None] - np.array([c0, c1])[None]).min(1) * 100 <= EXACT
    after = acc[int(np.argmax(near)):]
    return {"checks": len(after), "class0": int((np.abs(after - c0) * 100 <= EXACT).sum()),
            "class1": int((np.abs(after - c1) * 100 <= EXACT).sum())}


def sentences(df: pd.DataFrame | None = None, folder=None) -> list[str]:
    """:func:`reading`'s sentences in order."""
    return list(reading(df, folder).values())


def reading(df: pd.DataFrame | None = None, folder=None) -> dict[str, str]:
    """What the predictions say, one sentence per rival (keys c, a, b, d, not_computed, e) and
    one on which fits (fit), each computed from :func:`predictions` and :func:`fit` ("consistent
    with", never "proven"); a key is absent where its rival has nothing computed."""
    from lra.analysis.budgets import AGREE_POINTS
    df = predictions(folder=folder) if df is None else df
    f = fit(df).set_index("key")
    n = len(df)
    out = {}
    # (c): the exact coincidences, per table and in Table I (whose 9 cells are 9 grid searches)
    hit = (df["paper"] - df["c0"]).abs() <= EXACT
    t1 = df[df.table == "table1"]
    hit1 = (t1["paper"] - t1["c0"]).abs() <= EXACT
    above = df.loc[~hit, "paper"] - df.loc[~hit, "c0"]
    below = int((df["paper"] < df["c0"] - EXACT).sum())
    hit_c1 = int(((df["paper"] - df["c1"]).abs() <= EXACT).sum())
    top = df[["c0", "c1"]].max(axis=1)[~hit]              # the most a one-class network scores
    beyond = bool((df.loc[~hit, "paper"] > top + EXACT).all())
    out["c"] = (
        f"(c) A network that predicts class 0 for every sample scores, on the released script's "
        f"validation stream, {_per_T(df, 'c0')}; {int(hit.sum())} of the {n} published "
        f"random-permutation cells of Tables I–III equal it exactly at their T "
        f"({int(hit1.sum())} of Table I's {len(t1)}), {below or 'none'} lie below it, and the "
        f"other {int((~hit).sum())} lie {above.min():.2f}–{above.max():.2f} points above it"
        + (", which no one-class network can score" if beyond else "") + ". Predicting class 1 "
        f"instead gives "
        f"{_per_T(df, 'c1')}: {hit_c1 or 'no'} cell{'' if hit_c1 == 1 else 's'} equal it.")
    # (a): in range, but blind to the stream
    ps = [exact_hit_probability(c / 100) for c in t1["c0"]]
    dist = count_distribution(ps)
    k = int(hit1.sum())
    p_k = sum(dist[k:])
    out["a"] = (
        f"(a) The best of {PAPER_GRID_CONFIGS} configurations guessing at chance on "
        f"{VALIDATION_SIZE:,} samples is expected to score {_pct(df['a'].iloc[0])} at every T "
        f"(95 % range {_pct(df['a_lo'].iloc[0])}–{_pct(df['a_hi'].iloc[0])}): "
        f"{f.loc['a', 'exact_or_in_range']} of the {n} cells lie in that range (mean distance "
        f"{f.loc['a', 'mean_abs_diff']:.2f} points, against {f.loc['c0', 'mean_abs_diff']:.2f} "
        f"for (c)), but (a) does not depend on the stream: under it a cell lands exactly on "
        f"class 0's share with probability {100 * min(ps):.1f}–{100 * max(ps):.1f} %, and "
        f"{k} or more of Table I's {len(t1)} cells doing so with probability {p_k:.1e}.")
    # (b) and (d): what the released script reports for stored runs
    b = df[df["b_highest"].notna()]
    d = df[df["d"].notna()]
    Ts = sorted(set(df["T"]) - set(b["T"]))
    cc = collapse_checks(folder)

    def off(key: str, why: str) -> str:
        # how far a rival lies from the cells it was computed for, and whether that rules it out
        diff = (df[key] - df["paper"]).dropna()
        side = "above" if diff.mean() > 0 else "below"
        ruled_out = f.loc[key, "ruled_out_cells"] == f.loc[key, "cells"] > 0
        return (f"{diff.abs().mean():.1f} points {side} the cells there ("
                + (f"ruled out{' ' + why if why else ''}" if ruled_out else
                   f"not ruled out: within {AGREE_POINTS:g} points of some cell") + ")")

    if len(b):
        out["b"] = (
            f"(b) The released script returns the highest validation accuracy seen: its stored run "
            f"that learnt and then collapsed reports {_pct(b['b_highest'].iloc[0])} at "
            f"T = {', '.join(str(T) for T in sorted(b['T'].unique()))}, "
            + off("b_highest", "as the script reports it, at that T")
            + ". Reported as the final network instead, it "
            f"gives what a network that predicts one class scores, (c): that run's last check "
            f"scores "
            f"{_pct(b['b_final'].iloc[0])}, and of its {cc.get('checks', 0)} checks after the "
            f"collapse {cc.get('class0', 0)} score class 0's share and {cc.get('class1', 0)} "
            f"class 1's, so (b) with the final network fits the cells only as far as (c) does.")
    if len(d):
        out["d"] = (
            f"(d) The released grid search's rule (the longest run, or the most accurate if it "
            f"reached the cap) applied to the {int(d['stored_runs'].iloc[0])} stored runs of the "
            f"released script reports {_pct(d['d'].iloc[0])}; whichever it picks, "
            f"{_pct(d['d_lo'].iloc[0])}–{_pct(d['d_hi'].iloc[0])} at T = "
            f"{', '.join(str(T) for T in sorted(d['T'].unique()))}: "
            + off("d", "for those configurations") + ".")
    if Ts:
        out["not_computed"] = (
            f"(b) and (d) are not computed at T = {', '.join(str(T) for T in Ts)}: no run of the "
            f"released script is stored there.")
    # (e) and the accuracy computation itself
    gap = max(abs(one_class_accuracy(released_validation(int(T))[1].numpy(), c)["released"]
                  - one_class_accuracy(released_validation(int(T))[1].numpy(), c)["pooled"])
              for T in df["T"].unique() for c in (0, 1))
    out["e"] = (
        f"(e) The released initial network, validated as the script validates, scores "
        f"{_per_T(df, 'e')}: the script's "
        f"record of the highest accuracy starts there, so an unchanged network would report "
        f"that: " + off("e", "") + ". The script's accuracy (the mean of ten batch means of "
        f"1,000) " + (f"equals the per-sample accuracy on these streams (largest difference "
                      f"{100 * gap:.2g} points): it explains nothing by itself." if gap < 1e-9
                      else f"differs from the per-sample accuracy by up to {100 * gap:.2g} "
                      f"points."))
    consistent = [RIVALS[k] for k in ("a", "c0") if f.loc[k, "ruled_out_cells"] == 0]
    ruled = [RIVALS[k] for k in RIVALS
             if f.loc[k, "cells"] and f.loc[k, "ruled_out_cells"] == f.loc[k, "cells"]]
    co = coincidences(df)
    out["fit"] = (
        f"Which fits: the cells are consistent with {' and with '.join(consistent)}; "
        + (f"only (c) predicts the {co['hits']} exact coincidences with the released stream, "
           f"which (a) makes improbable, so the cells are consistent with networks that end up "
           f"predicting class 0 on the stream the released script draws; the "
           f"{int((~hit).sum())} cells above class 0's share are not accounted for by (c) "
           f"alone." if co["consistent"] else co["verdict"])
        + f" Ruled out where computed (every computed cell off by more than {AGREE_POINTS:g} "
        f"points): {'; '.join(ruled) or 'none'}.")
    return out
