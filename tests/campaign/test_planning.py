"""Campaign planning: one population per (algorithm, task, T, switches, probes) across experiments
and K; shared runs trained once and stored in every experiment that asked for them."""
from dataclasses import replace

from lra.campaign.experiments import get_budget, get_experiment
from lra.campaign.planning import merge, population_key
from lra.campaign.runner import dry_run, format_dry_run, missing_by_experiment, run_experiments
from lra.campaign.store import ResultsStore

PAPER_TABLES = ["table1", "table2", "table3", "table4"]


def test_paper_tables_merge_into_few_populations(tmp_path):
    store = ResultsStore(tmp_path)
    missing = missing_by_experiment(PAPER_TABLES, get_budget("paper"), store)
    pops = merge(missing, 2048)
    sizes = [len(p.runs) for p in pops]
    print(f"{len(pops)} populations for {sum(len(v) for v in missing.values())} runs: {sizes}")
    assert len(pops) <= 40
    assert sum(sizes) == len({r.key for v in missing.values() for r in v})
    for p in pops:
        assert len({population_key(r) for r in p.runs}) == 1
        assert p.K_values == sorted(p.K_values, reverse=True)       # prefix order for inner steps
    # temporal order at T = 20 holds Tables I-III and IV in one population
    to20 = [p for p in pops if p.head.task == "temporal_order" and p.head.T == 20]
    assert len(to20) == 1 and set(to20[0].experiment_names()) == set(PAPER_TABLES)


def test_a_run_asked_for_by_two_experiments_is_trained_once():
    budget = get_budget("paper")
    t1 = [r for r in get_experiment("table1").runs(budget) if r.T == 10 and r.task == "temporal_order"]
    k10 = [r for r in t1 if dict(r.config)["K"] == 10]
    curriculum = [replace(r, experiment="table5_lra") for r in k10]
    pops = merge({"table1": t1, "table5_lra": curriculum}, 2048)
    assert len(pops) == 1 and len(pops[0].runs) == len(t1)
    shared = [k for k, exps in pops[0].experiments.items() if len(exps) == 2]
    assert len(shared) == len(k10)
    assert len(pops[0].runs_of("table5_lra")) == len(k10)


def test_population_limit_splits_by_K():
    runs = [r for r in get_experiment("table1").runs(get_budget("paper"))
            if r.T == 10 and r.task == "random_permutation"]
    pops = merge({"table1": runs}, 20)
    assert [len(p.runs) for p in pops] == [20, 20, 5]
    assert all(max(p.K_values) >= min(q.K_values) for p, q in zip(pops, pops[1:]))


def test_merged_campaign_stores_rows_in_each_experiment(tmp_path):
    """fig2 and fig2's released reading differ in switches (two populations); the smoke tables
    I-III share task, T and switches, so they train as one population per task."""
    store = ResultsStore(tmp_path)
    logs = []
    res = run_experiments(["table1", "table2"], "smoke", device="cpu", store=store,
                          max_iterations=20, log=logs.append)
    print("\n".join(logs))
    assert res["finished"] and res["plans_run"] == 3          # one per task
    t1, t2 = store.load("table1", "smoke-cap20"), store.load("table2", "smoke-cap20")
    assert len(t1) == len(t2) == 6 and set(t1["loss"]) == {"mse"} and set(t2["loss"]) == {"log_penalty"}
    assert set(t1["population"]) == {4}                         # 2 configs x 2 tables per task


def test_dry_run_lists_populations(tmp_path):
    plan = dry_run(PAPER_TABLES, "paper", device="cpu", store=ResultsStore(tmp_path),
                   max_members=2048)
    text = format_dry_run(plan)
    print(text)
    assert len(plan["populations"]) <= 40 and "population(s)" in text
    assert all(p["members"] > 0 and p["K_mix"] for p in plan["populations"])


def test_concurrent_campaign_equals_sequential(tmp_path):
    """Two populations at once (threads) store the same rows as one after the other; so do two
    of them at once and the others after them (a slice's latency-bound group: concurrent_ids)."""
    from lra.campaign.runner import budget_named, plan_campaign
    cols = ["key", "experiment", "solved", "stop_reason", "iterations", "best_accuracy",
            "final_accuracy", "curve"]
    tables = []
    for n, workers, group in (("seq", 1, False), ("par", 3, False), ("grp", 3, True)):
        store = ResultsStore(tmp_path / n)
        ids = None
        if group:
            pops = plan_campaign(["table1", "table2"], budget_named("smoke-cap20"), store, 64)
            assert len(pops) > 2
            ids = {p.id for p in pops[:2]}
        res = run_experiments(["table1", "table2"], "smoke", device="cpu", store=store,
                              max_iterations=20, log=lambda s: None, concurrent=workers,
                              concurrent_ids=ids)
        assert res["finished"]
        tables.append([store.load(e, "smoke-cap20").sort_values("key")[cols].reset_index(drop=True)
                       for e in ("table1", "table2")])
    for a, *others in zip(*tables):
        print(a[["key", "stop_reason", "best_accuracy"]].to_string())
        assert all(a.equals(b) for b in others)


def test_curriculum_stages_have_their_own_runs():
    """Issue 22 item 4: a curriculum's run names its stage (its experiment), so it is never the
    same row as a full run of the same configuration (it may stop at another member's solve),
    trains in a population of its stage alone, with the trainer's stop at the first solve; the
    keys of every other run are those they always had (the stored rows keep their identity)."""
    import hashlib
    import json
    from lra.campaign.runner import population_trainer
    smoke = get_budget("smoke")
    table1 = {(r.task, r.T, r.config, r.seed): r for r in get_experiment("table1").runs(smoke)}
    stage = [r for r in get_experiment("table5_lra").runs(smoke) if r.task == "temporal_order"]
    assert stage and all(r.stage == "table5_lra" for r in stage)
    for r in stage:
        twin = table1[(r.task, r.T, r.config, r.seed)]
        assert twin.stage == "" and twin.key != r.key
        assert population_key(twin) != population_key(r)
        old = json.dumps([twin.algorithm, twin.task, twin.T, twin.seed, list(twin.config),
                          list(twin.switches), twin.variant, twin.probe_every])
        assert twin.key == hashlib.sha256(old.encode()).hexdigest()[:16]
    pops = merge({"table1": list(table1.values()), "table5_lra": stage}, 64)
    for pop in pops:
        assert len({r.stage for r in pop.runs}) == 1
        t = population_trainer(pop.runs, smoke, "cpu")
        print(pop.describe(), "stage:", pop.head.stage or "-", "stops at first solve:",
              t.stop_when_one_solves)
        assert t.stop_when_one_solves == bool(pop.head.stage)


def test_evidence_curriculum_starts_at_T10_and_moves_on_after_a_solve():
    """The evidence plan's C8c curriculum (ev_t5_reg_rp): Figure 4's configuration, five seeds,
    first stage T = 10 as Table V starts (a stage of its own), the next stage only once a member
    solved it, none after an unsolved stage."""
    import pandas as pd
    from lra.campaign.evidence import get_entry
    from lra.campaign.runner import curriculum_runs, lengths_of
    exp, paper = get_experiment("ev_t5_reg_rp"), get_budget("paper")
    assert get_entry("table5_reg_rp").ready

    class Rows:                              # a store holding only the given rows
        def __init__(self, df):
            self.df = df

        def load(self, experiment, budget):
            return self.df

    first = curriculum_runs(exp, paper, Rows(pd.DataFrame(columns=["task", "T", "key", "solved"])),
                            exp.seeds)
    cfg = dict(first[0].config)
    print("first stage:", sorted({r.T for r in first}), len(first), "runs;", cfg)
    assert {r.T for r in first} == {10} and len(first) == 5 and {r.seed for r in first} == set(
        range(5))
    assert all(r.stage == "ev_t5_reg_rp" and r.variant == "regularised" for r in first)
    assert (cfg["alpha"], cfg["gamma"], cfg["K"], cfg["lam"]) == (0.01, 1.0, 10, 0.1)
    assert min(lengths_of(exp, paper)) == 10

    def stage_rows(solved):
        return pd.DataFrame({"task": [r.task for r in first], "T": [10] * 5,
                             "key": [r.key for r in first],
                             "solved": [solved and r.seed == 3 for r in first]})
    after_solve = curriculum_runs(exp, paper, Rows(stage_rows(True)), exp.seeds)
    after_fail = curriculum_runs(exp, paper, Rows(stage_rows(False)), exp.seeds)
    print("after a solve:", sorted({r.T for r in after_solve}), "after a failure:", after_fail)
    assert {r.T for r in after_solve} == {20} and len(after_solve) == 5
    assert after_fail == []
