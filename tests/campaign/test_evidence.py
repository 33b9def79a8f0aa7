"""The evidence plan (lra.campaign.evidence): every claim part has an entry; each configuration is
what its stated rule gives on the rows the rule may read, and a rule cannot read the paper-budget
rows of the cell it configures."""
from pathlib import Path

import pandas as pd
import pytest

from lra.campaign import evidence as ev
from lra.campaign.experiments import EV_BPTT_ALPHA, EV_T10_LRA, EV_T20_LRA, EXPERIMENTS
from lra.campaign.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["C1a", "C1b", "C2a", "C2b", "C3", "C4", "C5a", "C5b", "C6a", "C6b", "C7a", "C7b",
         "C8a", "C8b", "C8c", "C9", "C10a", "C10b"]
PROV = dict(commit="test", dirty=False, device="test", torch="x", python="x", date="x",
            budget="x", command="test")


def _row(key, task, T, budget, solved, acc, **cfg):
    return dict(key=key, experiment="table1", budget=budget, algorithm="lra_diff", variant="",
                switches="", task=task, T=T, seed=0, solved=solved, diverged=False,
                stop_reason="solved" if solved else "cap", iterations=100, best_accuracy=acc,
                final_accuracy=acc, wall_seconds=1.0, population=1, device="test",
                commit="test", curve="[]", **cfg)


def test_every_claim_part_has_an_entry_and_the_readout_control_runs_first():
    covered = {p for e in ev.ENTRIES for p in e.parts}
    print("covered:", sorted(covered), "missing:", sorted(set(PARTS) - covered))
    assert set(PARTS) <= covered
    order = [n for n, _ in ev.campaign_experiments()]
    print("campaign order:", order)
    assert order[0] == "ev_readout"
    for e in ev.runnable():
        for name in e.experiments:
            assert name in EXPERIMENTS, (e.name, name)


def test_a_rule_cannot_read_the_paper_rows_of_its_own_cell(tmp_path):
    """A hand-made store: smoke rows of two cells, paper rows of one of them. The rule reads the
    smoke rows; asked for the paper rows of the cell it configures, it is refused; the paper rows
    of another cell it may read."""
    store = ResultsStore(tmp_path)
    store.append("table1", "smoke", [
        _row("a", "temporal_order", 10, "smoke", True, 1.0, alpha=0.1, gamma=1.0, K=10),
        _row("b", "temporal_order", 10, "smoke", True, 1.0, alpha=0.1, gamma=0.1, K=10)], PROV)
    store.append("table1", "paper", [
        _row("c", "temporal_order", 20, "paper", False, 0.99, alpha=0.01, gamma=0.1, K=20)], PROV)
    rows = ev.CheaperRows(store, [("temporal_order", 20)])
    best = ev.cheaper_stage_best(rows, "table1", "smoke", "temporal_order", 10)
    print("best of the smoke stage:", best)
    assert best == {"alpha": 0.1, "gamma": 1.0, "K": 10}        # tie: the first key
    with pytest.raises(PermissionError, match="may not read"):
        ev.cheaper_stage_best(rows, "table1", "paper", "temporal_order", 20)
    other = ev.CheaperRows(store, [("random_permutation", 20)])
    assert ev.cheaper_stage_best(other, "table1", "paper", "temporal_order", 20)["K"] == 20


def test_each_configuration_is_what_its_rule_gives_on_the_committed_rows():
    """The plan's configurations were fixed from the committed smoke rows (never from a paper row
    of the cell): derive them again."""
    store = ResultsStore(ROOT / "results")
    cells = [c for e in ev.runnable() for c in e.cells if c[1] == 20]
    rows = ev.CheaperRows(store, cells)
    b3 = ev.cheaper_stage_best(rows, "table1", "smoke", "temporal_order_3bit", 10)
    print("3-bit, Table I smoke at T = 10:", b3, "plan:", EV_T20_LRA["temporal_order_3bit"])
    assert {k: EV_T20_LRA["temporal_order_3bit"][k] for k in b3} == b3
    # C1a's T = 10 cells: the same rule, forbidden to read the paper rows of those cells
    t10 = ev.CheaperRows(store, ev.get_entry("t10_temporal").cells)
    keys = ("alpha", "gamma", "K", "c0", "c1")
    for task, cfg in EV_T10_LRA.items():
        best = ev.cheaper_stage_best(t10, "table1", "smoke", task, 10, keys)
        print(f"{task}, Table I smoke at T = 10: {best}; plan: {cfg}")
        assert {k: cfg[k] for k in keys} == best
    bptt = ev.cheaper_stage_best(rows, "table5_bptt", "smoke", "temporal_order", 10, ("alpha",))
    assert bptt["alpha"] == EV_BPTT_ALPHA
    k1 = ev.cheaper_stage_best(rows, "conjecture_k1", "smoke", "random_permutation", 10)
    print("K = 1 grid:", k1)
    assert k1["gamma"] == 10.0 and k1["K"] == 1


def test_the_plan_prints_every_entry_with_its_parts_and_cost(tmp_path):
    text = ev.format_plan(ResultsStore(tmp_path))
    print(text)
    for e in ev.ENTRIES:
        assert f"] {e.name}:" in text
    assert "claim parts covered" in text and "on an H100" in text


def test_the_long_readout_control_runs_only_where_the_curriculum_gets(tmp_path):
    """ev_readout_rp_long (T = 40-80) controls the regularised curriculum's lengths: every length
    before the curriculum ran; none once it failed at T = 10; the next stage's while it climbs;
    the failed stage's once it stopped there. The plan leaves the experiment out when none is
    needed."""
    store = ResultsStore(tmp_path)
    L = (40, 50, 60, 70, 80)
    name = "ev_readout_rp_long"
    assert ev.gated_lengths(name, L, store) == L
    assert ev.gated_lengths("ev_readout", L, store) == L            # not gated
    rp = "random_permutation"

    def stage(T, solved):
        row = _row(f"s{T}", rp, T, "paper", solved, 1.0 if solved else 0.99)
        return [dict(row, experiment="ev_t5_reg_rp")]
    store.append("ev_t5_reg_rp", "paper", stage(10, False), PROV)
    print("T = 10 unsolved:", ev.gated_lengths(name, L, store))
    assert ev.gated_lengths(name, L, store) == ()
    assert name not in [n for n, _ in ev.campaign_experiments(store)]
    assert name in [n for n, _ in ev.campaign_experiments()]
    other = ResultsStore(tmp_path / "climbing")
    for T in (10, 20, 30):
        other.append("ev_t5_reg_rp", "paper", stage(T, True), PROV)
    print("solved to T = 30:", ev.gated_lengths(name, L, other))
    assert ev.gated_lengths(name, L, other) == (40,)
    other.append("ev_t5_reg_rp", "paper", stage(40, True), PROV)
    other.append("ev_t5_reg_rp", "paper", stage(50, False), PROV)
    print("solved to T = 40, failed at 50:", ev.gated_lengths(name, L, other))
    assert ev.gated_lengths(name, L, other) == (40, 50)


def test_members_in_flight_are_priced_for_the_iterations_they_have_left(tmp_path):
    """A checkpoint 75,000 iterations into a population leaves a quarter of its cost: the plan
    prices each member in flight from its checkpoint's iteration to the cap (validation, every
    100 iterations, scales the same way), and says how many are in flight."""
    from lra.campaign.experiments import get_budget, get_experiment
    store = ResultsStore(tmp_path)
    entry = ev.get_entry("t20_random_permutation")
    fresh = ev.entry_cost(entry, store, "cpu")
    keys = {r.key for name in entry.experiments for r in get_experiment(name).runs(
        get_budget("paper"), None)}
    resumed = ev.entry_cost(entry, store, "cpu", {k: 75_000 for k in keys})
    print(f"from scratch {fresh['seconds']:.0f} s for {fresh['missing']} rows; from 75,000 "
          f"iterations {resumed['seconds']:.0f} s, {resumed['resumed']} in flight")
    assert fresh["missing"] == resumed["missing"] == resumed["resumed"] > 0
    assert fresh["resumed"] == 0
    assert resumed["seconds"] == pytest.approx(fresh["seconds"] / 4, rel=0.02)
    done = ev.entry_cost(entry, store, "cpu", {k: 100_000 for k in keys})
    print(f"at the cap already: {done['seconds']:.1f} s (the first validation check)")
    assert done["seconds"] < fresh["seconds"] / 1000
