"""Context rows, paired tests and weight motion of lra.analysis.controls (issue 10, point 5)."""
import math

import pytest
import torch

from lra.analysis.controls import (best_constant_accuracy, chance_level, class_probabilities,
                          context_table, expected_best_of_chance, mcnemar, paired_seeds,
                          relative_motion, simulated_best_of_chance)
from lra.model import init_population
from lra.tasks import generate_symbols, make_generator


def test_chance_levels():
    levels = {t: chance_level(t) for t in ("temporal_order", "temporal_order_3bit",
                                           "random_permutation")}
    print(levels)
    assert levels == {"temporal_order": 0.25, "temporal_order_3bit": 0.125,
                      "random_permutation": 0.5}


@pytest.mark.parametrize("task", ["temporal_order", "temporal_order_3bit", "random_permutation"])
def test_class_distribution_matches_the_generator(task):
    """The stated class distribution against 40,000 generated labels: each class frequency
    within 5 standard errors of its probability (a wrong class count or skew fails)."""
    _, y = generate_symbols(task, 10, 40_000, make_generator(task, 10, 0, "test"))
    probs = class_probabilities(task)
    counts = torch.bincount(y, minlength=len(probs))
    print(task, counts.tolist())
    assert len(counts) == len(probs)          # no label outside the stated classes
    for c, p in zip(counts.tolist(), probs):
        se = math.sqrt(p * (1 - p) / len(y))
        assert abs(c / len(y) - p) < 5 * se


def test_best_constant_accuracy():
    assert best_constant_accuracy([0, 1, 1, 2, 1]) == 0.6
    assert best_constant_accuracy(torch.tensor([3, 3, 3, 3])) == 1.0


def test_expected_best_of_chance_exact_cases():
    # one configuration: the mean, p
    assert abs(expected_best_of_chance(1000, 1, 0.5) - 0.5) < 1e-12
    # n = 1, m = 2: max of two Bernoulli(p) = 1 - (1 - p)^2
    assert abs(expected_best_of_chance(1, 2, 0.25) - (1 - 0.75 ** 2)) < 1e-12
    # n = 2, m = 2, p = 1/2: enumerate the 16 outcomes of (X1, X2), X ~ Bin(2, 1/2)
    pmf = {0: .25, 1: .5, 2: .25}
    exact = sum(pmf[a] * pmf[b] * max(a, b) for a in pmf for b in pmf) / 2
    assert abs(expected_best_of_chance(2, 2, 0.5) - exact) < 1e-12
    # more configurations, higher expected best; more samples, closer to chance
    assert expected_best_of_chance(500, 45, 0.5) > expected_best_of_chance(500, 15, 0.5) > 0.5
    assert expected_best_of_chance(10_000, 45, 0.5) < expected_best_of_chance(500, 45, 0.5)


@pytest.mark.parametrize("n,m,p", [(500, 45, 0.5), (10_000, 15, 0.25), (500, 3, 0.125)])
def test_expected_best_of_chance_against_simulation(n, m, p):
    """Formula vs Monte Carlo (fixed seed, 20,000 trials): the max of m binomials has a standard
    deviation of at most sqrt(n p (1 - p)) / n, so the simulated mean is within 5 of its
    standard errors (sd / sqrt(trials)) of the exact value."""
    exact = expected_best_of_chance(n, m, p)
    sim = simulated_best_of_chance(n, m, p, trials=20_000, seed=1)
    tol = 5 * math.sqrt(p * (1 - p) / n) / math.sqrt(20_000)
    print(f"n={n} m={m} p={p}: exact {exact:.5f}, simulated {sim:.5f}, tolerance {tol:.1e}")
    assert abs(exact - sim) < tol


def test_context_table():
    labels = {"random_permutation": [torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1])]}
    t = context_table({"Table I cell": 15}, {"toy": 4, "paper": 10_000}, labels)
    print(t.to_string())
    assert list(t["chance (%)"]) == ["50.0", "50.0"]
    # the constant predictor is shown only for the size of the label sets given
    assert list(t["best constant predictor (%)"]) == ["50.00–75.00", "–"]
    assert t.iloc[1, -1] == f"{100 * expected_best_of_chance(10_000, 15, 0.5):.2f}"


def test_mcnemar_on_hand_made_predictions():
    # 10 samples: A right on 8, B right on 3; discordant: only A on 6, only B on 1
    a = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    b = [1, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    r = mcnemar(a, b)
    print(r)
    assert (r["only_a"], r["only_b"]) == (6, 1)
    assert abs(r["diff"] - 0.5) < 1e-12
    # exact two-sided: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128
    assert abs(r["p"] - 16 / 128) < 1e-12
    # symmetric, and identical predictions give no evidence
    assert abs(mcnemar(b, a)["p"] - r["p"]) < 1e-12 and mcnemar(b, a)["diff"] == -r["diff"]
    assert mcnemar(a, a)["p"] == 1.0
    # a large one-sided discordance is significant
    big = mcnemar([1] * 30 + [0] * 70, [0] * 30 + [0] * 70)
    assert big["p"] < 1e-8
    with pytest.raises(ValueError):
        mcnemar([1, 0], [1, 0, 1])


def test_paired_seeds_counts_seeds_not_one_number():
    strong = [1] * 30 + [0] * 70
    none = [0] * 100
    correct = {"lra": {0: strong, 1: strong, 2: none},
               "readout": {0: none, 1: none, 2: none, 3: none}}
    s = paired_seeds(correct, "lra", "readout")
    print({k: v for k, v in s.items() if k != "per_seed"})
    assert s["seeds"] == 3                   # only seeds with both methods
    assert s["a_better"] == 2 and s["b_better"] == 0
    assert s["max_p"] == 1.0                 # seed 2: no difference
    assert abs(s["diff_min"]) < 1e-12 and abs(s["diff_max"] - 0.3) < 1e-12
    with pytest.raises(ValueError):
        paired_seeds({"a": {0: none}, "b": {1: none}}, "a", "b")


def test_relative_motion():
    init = init_population([0, 1], 6, 4)
    final = init.clone()
    final.W_hh[0] = final.W_hh[0] * 1.5          # member 0: W_hh moved by half its norm
    final.W_hy[1] = final.W_hy[1] + 0.0          # member 1: nothing moved
    m = relative_motion(init, final)
    print(m)
    assert abs(m["W_hh"][0] - 0.5) < 1e-6 and m["W_hh"][1] == 0.0
    assert m["W_xh"] == [0.0, 0.0] and m["W_hy"] == [0.0, 0.0]


def test_reading_the_reservoir_records():
    """motion_frame / correctness_by_cell / paired_table on a hand-made store of three runs."""
    import pandas as pd
    from lra.analysis.controls import correctness_by_cell, motion_frame, paired_table
    rows = pd.DataFrame([
        dict(key="a0", algorithm="lra_diff", task="temporal_order", T=10, seed=0, iterations=300),
        dict(key="r0", algorithm="readout_only", task="temporal_order", T=10, seed=0,
             iterations=300),
        dict(key="x0", algorithm="bptt", task="temporal_order", T=10, seed=0, iterations=50)])
    motion = {"W_hh": 0.01, "W_xh": 0.002, "W_hy": 1.0}
    records = {"a0": {"motion": motion, "correct": "1" * 30 + "0" * 70},
               "r0": {"motion": {"W_hh": 0.0, "W_xh": 0.0, "W_hy": 0.5}, "correct": "0" * 100},
               "x0": None}                            # a run without a record is skipped
    m = motion_frame(rows, records)
    print(m.to_string())
    assert list(m["algorithm"]) == ["lra_diff", "readout_only"] and m["W_hh"].iloc[0] == 0.01
    c = correctness_by_cell(rows, records)
    assert set(c) == {("temporal_order", 10)} and int(c[("temporal_order", 10)]["lra_diff"][0].sum()) == 30
    t = paired_table(c, [("lra_diff", "readout_only"), ("bptt", "readout_only")],
                     {"lra_diff": "LRA", "readout_only": "RO"})
    print(t.to_string())
    assert len(t) == 1 and t.loc[0, "comparison"] == "LRA − RO"     # no bptt record: no row
    assert t.loc[0, "seeds better (p < 0.05)"] == "1/1" and bool(t.loc[0, "better in every seed"])
    assert t.loc[0, "final accuracy difference, points: mean (min–max)"] == "+30.0 (+30.0 to +30.0)"


def test_readout_lengths_beside_table_v():
    """Per task: the longest length the readout-only control solves in any seed (and in how many),
    and its best accuracy at the first length no seed solves; rows from several experiments."""
    import pandas as pd
    from lra.analysis.controls import readout_lengths
    rows = []
    for seed in range(3):
        for T, solved, acc in ((10, True, 1.0), (20, seed == 0, 1.0 if seed == 0 else 0.9),
                               (30, False, 0.7 + 0.01 * seed)):
            rows.append(dict(task="temporal_order", T=T, seed=seed, solved=solved,
                             best_accuracy=acc))
    rows.append(dict(task="random_permutation", T=10, seed=0, solved="False", best_accuracy=0.98))
    df = readout_lengths(pd.DataFrame(rows))
    print(df.to_string())
    to = df.set_index("task").loc["temporal_order"]
    assert (to["lengths run"], to["longest T solved"], to["seeds solving it"]) == \
        ("10, 20, 30", 20, "1 of 3")
    assert (to["first T not solved"], to["best accuracy there (%)"]) == (30, "72.00")
    rp = df.set_index("task").loc["random_permutation"]
    assert (rp["longest T solved"], rp["first T not solved"], rp["best accuracy there (%)"]) == \
        ("—", 10, "98.00")
