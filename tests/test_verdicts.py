"""Verdicts follow the stored rows (synthetic stores), and say which budget they rest on."""
import json

import pandas as pd

from lra.report import compare, curriculum_max_T, published
from lra.store import CONFIG_COLUMNS, ResultsStore
from lra.verdicts import all_verdicts, c1, c2


def rows(experiment, budget, specs):
    """specs: (task, T, K, best_accuracy, solved) -> full rows keyed like real runs."""
    out = []
    for i, (task, T, K, acc, solved) in enumerate(specs):
        out.append(dict(key=f"{experiment}-{i}", experiment=experiment, budget=budget,
                        algorithm="lra_diff", variant="", switches="", task=task, T=T, seed=0,
                        **{c: None for c in CONFIG_COLUMNS}, solved=solved, diverged=False,
                        stop_reason="solved" if solved else "cap", iterations=100,
                        best_accuracy=acc, final_accuracy=acc, wall_seconds=1.0, population=1,
                        device="test", commit="test", curve=json.dumps([])) | {"K": K})
    return out


PROV = dict(commit="test", dirty=False, device="test", torch="x", python="x", date="x",
            budget="paper", command="test")


def test_c2_follows_the_data(tmp_path):
    chance = ResultsStore(tmp_path / "a")
    chance.append("table1", "paper", rows("table1", "paper",
                                          [("random_permutation", 10, 10, 0.509, False)]), PROV)
    v = c2(chance)
    assert v["verdict"] == "reproduced" and v["budget"] == "paper"
    learnt = ResultsStore(tmp_path / "b")
    learnt.append("table1", "smoke", rows("table1", "smoke",
                                          [("random_permutation", 10, 10, 0.97, False)]), PROV)
    v = c2(learnt)
    assert v["verdict"] == "not reproduced (indicative: smoke budget)"


def test_c1_needs_longer_lengths_for_a_full_verdict(tmp_path):
    store = ResultsStore(tmp_path)
    base = [("temporal_order", 10, 10, 1.0, True), ("temporal_order_3bit", 10, 10, 1.0, True)]
    store.append("table1", "paper", rows("table1", "paper", base), PROV)
    assert c1(store)["verdict"] == "partly"
    longer = rows("table1", "paper", [("temporal_order", 20, 10, 0.99, False),
                                      ("temporal_order_3bit", 20, 10, 0.98, False)])
    store.append("table1", "paper", [dict(r, key=r["key"] + "-T20") for r in longer], PROV)
    assert c1(store)["verdict"] == "reproduced"


def test_no_results_means_no_evidence(tmp_path):
    v = all_verdicts(ResultsStore(tmp_path))
    assert len(v) == 10 and (v.verdict == "no evidence yet").all()


def test_compare_marks_and_curriculum():
    pub = published("table1")
    ours = pd.DataFrame([dict(task="random_permutation", K=10, T=10, accuracy=97.0, solved=False,
                              runs=1),
                         dict(task="temporal_order", K=10, T=10, accuracy=100.0, solved=True,
                              runs=1),
                         dict(task="temporal_order", K=10, T=20, accuracy=100.0, solved=True,
                              runs=1)])
    c = compare(ours, pub, ["task", "K", "T"]).set_index(["task", "K", "T"])
    assert c.loc[("random_permutation", 10, 10), "match"] == "Δ"
    assert c.loc[("temporal_order", 10, 10), "match"] == "="
    assert c.loc[("temporal_order", 10, 20), "match"] == "≠"
    assert c.loc[("temporal_order", 20, 10), "match"] == "?"
    d = pd.DataFrame(dict(task=["t"] * 4, T=[10, 20, 30, 40], solved=[True, True, False, True]))
    assert curriculum_max_T(d)["t"]["max_T"] == 20
