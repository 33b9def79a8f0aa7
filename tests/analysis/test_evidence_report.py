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
    row = table[table["#"] == 2].iloc[0]      # t20_temporal_order, the second entry
    assert row["rows stored"] == "3/30" and row["with the test set"] == "3/30"
    left = row["left to run (upper bound)"]
    assert left.startswith("27 runs: ≤ ") and "on one CPU core" in left and "on an H100" in left
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


def _plan_rows(experiment, task, T, accs, **over):
    """Paper-budget rows of a plan experiment at (task, T), one per seed (accuracy ``accs[s]``,
    also its test accuracy minus half a point), with the experiment's own configuration."""
    runs = [r for r in get_experiment(experiment).runs(BUDGETS["paper"])
            if r.task == task and r.T == T]
    out = []
    for r in runs[:len(accs)]:
        a = accs[r.seed]
        out.append(dict(key=r.key, experiment=experiment, budget="paper",
                        algorithm=dict(r.config).get("algorithm", r.algorithm), variant="",
                        switches="", task=r.task, T=r.T, seed=r.seed,
                        **{c: dict(r.config).get(c) for c in CONFIG_COLUMNS},
                        solved=a >= 1.0, diverged=False, stop_reason="cap", iterations=100,
                        best_accuracy=a, final_accuracy=a, wall_seconds=1.0, population=5,
                        device="test", commit="test", curve="[]",
                        **({"best_test_accuracy": a - 0.005} | over)))
    return out


def test_the_plans_rows_stand_beside_the_published_cell_they_share(tmp_path):
    """Table I's chapter shows the plan's Figure 2 runs (random permutation, K = 10, T = 10) with
    their spread over seeds, the plan's readout-only control and the paper's cell; Table II's
    shows the log-penalty's; a table with no plan rows says so; Table IV's configuration of the
    temporal-order T = 20 runs (c0 = 0, c1 = 0.1) goes to Table IV, not Table I."""
    store = ResultsStore(tmp_path)
    rp = "random_permutation"
    store.append("ev_fig2", "paper", _plan_rows("ev_fig2", rp, 10, [0.98, 0.99, 0.985]), PROV)
    store.append("ev_t20_lra", "paper",
                 _plan_rows("ev_t20_lra", "temporal_order", 20, [0.999, 1.0]), PROV)
    ro = [r for r in get_experiment("ev_readout").runs(BUDGETS["paper"])
          if r.task == rp and r.T == 10]
    store.append("ev_readout", "paper", [
        dict(key=r.key, experiment="ev_readout", budget="paper", algorithm="readout_only",
             variant="", switches="", task=r.task, T=r.T, seed=r.seed,
             **{c: dict(r.config).get(c) for c in CONFIG_COLUMNS}, solved=False, diverged=False,
             stop_reason="cap", iterations=100, best_accuracy=0.97 + 0.001 * i,
             final_accuracy=0.9, wall_seconds=1.0, population=15, device="test", commit="test",
             curve="[]", best_test_accuracy=0.96) for i, r in enumerate(ro)], PROV)
    t1 = er.beside_published("table1", store)
    print(t1["coverage"])
    print(t1["table"].to_string())
    (row,) = t1["table"].to_dict("records")
    assert t1["coverage"].startswith("**The evidence plan at the paper's protocol: 1 of Table "
                                     "I's 27 cells**")
    assert row["cell"] == "Random permutation, K = 10, T = 10"
    assert row["configuration"] == "α = 0.01, γ = 1, c0 = 1, c1 = 1, MSE local loss"
    assert row["seeds"] == 3 and row["solved"] == "0/3"
    assert row["validation best, %"] == "98.50 (98.00–99.00)"
    assert row["test at that check, %"] == "98.00 (97.50–98.50)"
    assert row["readout only, test %"] == "96.00 (96.00–96.00)"
    assert row["paper (best of its grid, one run)"] == "50.90"
    t4 = er.beside_published("table4", store)
    print(t4["table"].to_string())
    (row,) = t4["table"].to_dict("records")
    assert row["cell"] == "Temporal order, K = 10, T = 20" and row["solved"] == "1/2"
    assert row["configuration"] == "α = 0.1, γ = 0.01, c0 = 0, c1 = 0.1, MSE local loss"
    assert row["paper (best of its grid, one run)"].startswith("99.84 (c0 = 0, c1 = 0.1)")
    store.append("ev_log_penalty", "paper",
                 _plan_rows("ev_log_penalty", rp, 10, [0.98, 0.99]), PROV)
    t2 = er.beside_published("table2", store)
    print(t2["table"].to_string())
    (row,) = t2["table"].to_dict("records")
    print("checks: Table II's row names its local loss, the log-penalty")
    assert row["configuration"] == "α = 0.01, γ = 1, c0 = 1, c1 = 1, log-penalty local loss"
    t3 = er.beside_published("table3", store)
    assert t3["table"].empty and "none of Table III's 27 cells" in t3["coverage"]


def test_each_entry_names_its_parts_verdicts_and_where_they_come_from():
    """An entry's line gives each part's label and whether the plan's paper-protocol rows, other
    paper-budget rows or cheaper rows gave it."""
    from lra.analysis.verdicts import Verdict
    vs = [Verdict("C4", "C4", "t", "inconclusive at this budget", "indicative",
                  ["At the paper's protocol (evidence plan, entry “local_loss”; ...)."],
                  own_budgets=["paper"]),
          Verdict("C7b", "C7", "t", "not reproduced", "indicative", ["x"], own_budgets=["paper"]),
          Verdict("C9", "C9", "t", "partly", "indicative", ["x"], own_budgets=["smoke"]),
          Verdict("C3", "C3", "t", "not tested", "—", ["x"])]
    lines = {e: er.entry_verdicts(get_entry(e), vs)
             for e in ("local_loss", "forced", "lambda", "k")}
    print(lines)
    assert lines["local_loss"] == ("Verdicts: C4 *inconclusive at this budget* (from the plan's "
                                   "paper-protocol rows).")
    assert lines["forced"] == "Verdicts: C7b *not reproduced* (from paper-budget rows)."
    assert lines["lambda"] == "Verdicts: C9 *partly* (for now from smoke-budget rows)."
    assert lines["k"] == "Verdicts: C3 *not tested* (no stored rows decide it yet)."


def test_an_ended_curriculum_counts_only_the_stages_it_ran(tmp_path):
    """Entry 7 (Table V's regularised curriculum): before any row it plans the first stage (5
    runs) and the long readout control (T = 40-80, 75 runs); once the curriculum fails its first
    stage, the control is pointless (the campaign drops it) and the entry is complete: 5/5."""
    store = ResultsStore(tmp_path)
    n = lambda: er.plan_table(store).set_index("#").loc[7, "rows stored"]
    print("before any row:", n())
    assert n() == "0/80"
    runs = get_experiment("ev_t5_reg_rp").runs(BUDGETS["paper"])
    assert {r.T for r in runs} == {10} and len(runs) == 5
    store.append("ev_t5_reg_rp", "paper", [
        dict(key=r.key, experiment="ev_t5_reg_rp", budget="paper", algorithm="lra_diff",
             variant="", switches="", task=r.task, T=r.T, seed=r.seed,
             **{c: dict(r.config).get(c) for c in CONFIG_COLUMNS}, solved=False, diverged=False,
             stop_reason="cap", iterations=100, best_accuracy=0.99, final_accuracy=0.99,
             wall_seconds=1.0, population=5, device="test", commit="test", curve="[]")
        for r in runs], PROV)
    print("after the first stage failed:", n())
    assert n() == "5/5"
    assert er.plan_table(store).set_index("#").loc[7, "left to run (upper bound)"] == "nothing"


def test_only_the_readout_row_of_an_entry_shows_a_ceiling(tmp_path):
    """Entry 6 (random permutation, T = 10) with the plan's Figure 2 runs and the readout-only
    control: the ceiling column is the readout's; the other method's cell is blank, not 'nan'."""
    store = ResultsStore(tmp_path)
    rp = "random_permutation"
    store.append("ev_fig2", "paper", _plan_rows("ev_fig2", rp, 10, [0.98, 0.99]), PROV)
    store.append("ev_readout", "paper", _plan_rows("ev_readout", rp, 10, [0.97, 0.975]), PROV)
    s = er.summary(get_entry("t10_random_permutation"), store).set_index("method")
    print(s.to_string())
    col = "linear-readout ceiling (test), %"
    assert s.loc["RNN-LRA-diff (Figure 2)", col] == ""
    assert s.loc["readout only", col] == "not computed yet"


def test_the_regulariser_is_paired_with_the_same_configuration_without_it(tmp_path):
    """Chapter Regularisation: one paired sentence per task where the plan's T = 20 runs with and
    without λ = 0.1 both have five seeds; none while a side has fewer."""
    store = ResultsStore(tmp_path)
    rp = "random_permutation"

    def bits(acc, n=100):
        v = np.ones(n, dtype=bool)
        v[:round(n * (1 - acc))] = False
        return dict(best_correct=pack(v), best_test_correct=pack(v), best_test_accuracy=acc)
    store.append("ev_t20_lra", "paper",
                 _plan_rows("ev_t20_lra", rp, 20, [0.84] * 5, **bits(0.84)), PROV)
    reg = _plan_rows("ev_t20_reg", rp, 20, [0.95] * 5, **bits(0.95))
    store.append("ev_t20_reg", "paper", reg[:4], PROV)
    assert er.regularised_against_plain(store) == []
    store.append("ev_t20_reg", "paper", reg[4:], PROV)
    (said,) = er.regularised_against_plain(store)
    print(said)
    assert said.startswith("Paired test, random permutation at T = 20, paper budget")
    assert "regularised (λ = 0.1) against unregularised on 5 seeds" in said
    assert "regularised (λ = 0.1) is better in every paired seed (5 of 5)" in said
