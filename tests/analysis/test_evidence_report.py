"""The evidence plan's report (lra.analysis.evidence_report) on a hand-made store: rows counted per
entry, each seed's reported run summarised with its validation and test accuracy."""
import numpy as np

from lra.analysis import evidence_report as er
from lra.campaign.evidence import get_entry
from lra.campaign.experiments import BUDGETS, get_experiment
from lra.campaign.store import CONFIG_COLUMNS, ResultsStore
from lra.engine.predictions import pack

PROV = dict(commit="test", dirty=False, device="test", torch="x", python="x", date="x",
            budget="paper", command="test")


def test_rows_and_test_accuracy_per_method_and_seed(tmp_path):
    store = ResultsStore(tmp_path)
    runs = [r for r in get_experiment("ev_t20_bptt").runs(BUDGETS["paper"])
            if r.task == "temporal_order"]
    rows = []
    for r in runs[:3]:
        v = np.ones(100, dtype=bool)
        v[:r.seed] = False
        rows.append(dict(key=r.key, experiment="ev_t20_bptt", budget="paper", algorithm="bptt",
                         variant="", switches="", task=r.task, T=r.T, seed=r.seed,
                         **{c: dict(r.config).get(c) for c in CONFIG_COLUMNS},
                         solved=r.seed == 0, diverged=False, stop_reason="cap", iterations=100,
                         best_accuracy=1.0 - r.seed / 200, final_accuracy=0.5, wall_seconds=1.0,
                         population=5, device="test", commit="test", curve="[]",
                         best_test_accuracy=float(v.mean()), best_test_correct=pack(v)))
    store.append("ev_t20_bptt", "paper", rows, PROV)
    table = er.plan_table(store)
    print(table.to_string())
    row = table[table.entry == "t20_temporal_order"].iloc[0]
    assert row["rows stored"] == "3/30" and row["with the test set"] == "3/30"
    s = er.summary(get_entry("t20_temporal_order"), store)
    print(s.to_string())
    (bptt,) = s.to_dict("records")
    assert bptt["method"] == "BPTT" and bptt["seeds"] == 3 and bptt["solved"] == "1/3"
    assert bptt["validation best, %"] == "99.50 (99.00–100.00)"
    assert bptt["test at that check, %"] == "99.00 (98.00–100.00)"


def test_readout_rows_carry_the_linear_readout_ceiling_of_their_cell(tmp_path):
    """The readout entry's rows show the ceiling of the same (task, T) reservoirs (stored by
    lra.campaign.ceiling), and say so where it is not computed yet."""
    import json
    store = ResultsStore(tmp_path)
    runs = [r for r in get_experiment("ev_readout").runs(BUDGETS["paper"])
            if r.T == 10 and r.task in ("temporal_order", "random_permutation")][:20]
    rows = [dict(key=r.key, experiment="ev_readout", budget="paper", algorithm="readout_only",
                 variant="", switches="", task=r.task, T=r.T, seed=r.seed,
                 **{c: dict(r.config).get(c) for c in CONFIG_COLUMNS}, solved=False,
                 diverged=False, stop_reason="cap", iterations=100, best_accuracy=0.9,
                 final_accuracy=0.9, wall_seconds=1.0, population=15, device="test",
                 commit="test", curve="[]") for r in runs]
    store.append("ev_readout", "paper", rows, PROV)
    path = tmp_path / "readout_ceiling" / "paper" / "ceiling.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"records": [
        dict(task="temporal_order", T=10, seed=s, test_accuracy=a)
        for s, a in ((0, 0.98), (1, 1.0))]}))
    s = er.summary(get_entry("readout"), store).set_index("task")
    print(s.to_string())
    col = "linear-readout ceiling (test), %"
    assert s.loc["Temporal order", col] == "99.00 (98.00–100.00) (2 seeds)"
    assert s.loc["Random permutation", col] == "not computed yet"
