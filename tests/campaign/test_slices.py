"""The slice packer (lra.campaign.slices, issue 22 item 3): it never schedules past the slice, it
takes populations in order of value (the evidence plan's order) on a hand-made plan, it counts
as fixed costs only what is not cached, and a campaign given a packing trains only what was
packed, in the packing's order. Hand-made items, plans and benchmarks; nothing is trained."""
import json
import random
from types import SimpleNamespace

import pytest

from lra.campaign import slices
from lra.campaign.evidence import Entry
from lra.campaign.slices import Item, pack, plan_values
from lra.campaign.store import code_version


def item(name, seconds, value, latency=False):
    return Item(name, name, 10, float(seconds), value, latency_bound=latency)


def test_the_packer_never_schedules_past_the_slice():
    """Random populations, slices and fixed costs: what is trained (the packed populations to
    the end, the spanning one for what is left) fits in the slice less its fixed costs; every
    population is packed, spans or waits exactly once; a population left for later did not fit
    in what was left when its turn came."""
    rng = random.Random(22)
    for _ in range(2000):
        items = [item(f"p{i}", rng.choice([rng.uniform(1, 900), rng.uniform(1, 60)]),
                      (rng.randrange(5), 0), rng.random() < 0.3) for i in range(rng.randrange(9))]
        slice_s = rng.uniform(0, 1500)
        fixed = {k: rng.uniform(0, 200) for k in ("self-test", "benchmark", "startup")}
        p = pack(items, slice_s, fixed)
        budget = max(0.0, slice_s - sum(fixed.values()))
        assert p.budget == pytest.approx(budget)
        assert p.training_seconds <= budget + 1e-9
        assert p.training_seconds <= slice_s + 1e-9 and 0 <= p.share <= 1 + 1e-12
        ids = [i.id for i in p.packed] + ([p.spanning.id] if p.spanning else []) + \
            [i.id for i in p.left_out]
        assert sorted(ids) == sorted(i.id for i in items)
        left = budget
        for it in slices.ordered(items):        # replay: greedy in value order
            if it in p.packed:
                assert it.seconds <= left + 1e-9
                left -= it.seconds
            else:
                assert it.seconds > left
        if p.spanning:
            assert p.spanning_seconds == pytest.approx(left) and left >= slices.MIN_SPAN_SECONDS
            assert p.spanning_seconds < p.spanning.seconds
        assert set(p.concurrent) <= {i.id for i in p.packed if i.latency_bound}
        assert p.order() == [i.id for i in p.packed] + ([p.spanning.id] if p.spanning else [])


def test_nothing_is_packed_when_the_fixed_costs_fill_the_slice():
    p = pack([item("a", 10, (0, 0))], 100, {"self-test": 60, "benchmark": 50})
    assert p.budget == 0 and not p.packed and p.spanning is None and p.share == 0


def pop(pid, task, T, *experiments):
    return SimpleNamespace(id=pid, head=SimpleNamespace(task=task, T=T),
                           experiment_names=lambda: sorted(experiments))


PLAN = (   # a hand-made evidence plan, in the order it runs (what decides a verdict first)
    Entry("decisive", ("C1a", "C2a"), "", ("exp_a",), (("temporal_order", 20),), "", ""),
    Entry("next", ("C3",), "", ("exp_b", "exp_c"), (("random_permutation", 10),), "", ""),
    Entry("also_a", ("C4", "C5a", "C6a"), "", ("exp_a",), (("temporal_order", 30),), "", ""),
    Entry("last", ("C9",), "", ("exp_d",), (("temporal_order", 20),), "", ""),
)


def test_populations_are_taken_in_the_order_of_the_plans_value(monkeypatch):
    import lra.campaign.evidence as evidence
    monkeypatch.setattr(evidence, "ENTRIES", PLAN)
    pops = [pop("last", "temporal_order", 20, "exp_d"),
            pop("next", "random_permutation", 10, "exp_c"),
            pop("a30", "temporal_order", 30, "exp_a"),
            pop("a20", "temporal_order", 20, "exp_a", "exp_d"),     # serves entries 1 and 4
            pop("none", "temporal_order", 10, "exp_x")]
    values = plan_values(pops, [], "evidence")
    assert values["a20"][0] == (0, -3)       # entry 1; decides C1a C2a (entry 1) and C9 (4)
    assert values["a20"][1] == "entry 1 decisive; decides C1a C2a C9"
    assert values["next"][0][0] == 1 and values["a30"][0][0] == 2 and values["last"][0][0] == 3
    assert values["none"][0][0] == len(PLAN)
    # cost does not outrank value: the most valuable population is the most expensive here
    cost = {"a20": 400, "next": 100, "a30": 50, "last": 10, "none": 5}
    items = [item(p.id, cost[p.id], values[p.id][0]) for p in pops]
    assert [i.id for i in slices.ordered(items)] == ["a20", "next", "a30", "last", "none"]
    p = pack(items, 600, {"startup": 30, "reserve": 40})          # 530 s of training
    assert [i.id for i in p.packed] == ["a20", "next", "last", "none"]   # a30 waits: 15 s left
    assert p.spanning is None and [i.id for i in p.left_out] == ["a30"]
    p = pack(items, 620, {"startup": 30, "reserve": 40})          # 550 s: a30 fits, then 0 left
    assert [i.id for i in p.packed] == ["a20", "next", "a30"] and p.spanning is None
    p = pack(items, 540, {"startup": 30, "reserve": 40})          # 470 s: a20 fits, 70 s left
    assert [i.id for i in p.packed] == ["a20", "a30", "last", "none"]
    assert p.spanning is None
    p = pack(items, 500, {"startup": 30, "reserve": 40})          # 430 s
    assert [i.id for i in p.packed][0] == "a20"
    p = pack(items, 400, {"startup": 30, "reserve": 40})          # 330 s: a20 does not fit
    assert [i.id for i in p.packed] == ["next", "a30", "last", "none"]
    assert p.spanning.id == "a20" and p.spanning_seconds == pytest.approx(330 - 165)


def test_without_a_plan_the_experiments_order_is_the_value():
    pops = [pop("x", "temporal_order", 10, "table2", "table3"),
            pop("y", "temporal_order", 10, "table1_released")]
    values = plan_values(pops, ["table1_released", "table2", "table3"], None)
    assert values["y"][0] < values["x"][0]
    assert values["x"][1] == "experiment 2 table2"


def write_bench(folder, device="NVIDIA Test GPU", device_type="cuda", **meta):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [dict(T=10, K=k, P=p, method="graph+torch", rate=100.0 * p, status="ok")
            for k in (1, 10) for p in (15, 132)]
    path = folder / "test.json"
    path.write_text(json.dumps(dict(meta=dict(device=device, device_type=device_type,
                                              date="2026-12-07", peak={"tflops": 50.0}, **meta),
                                    rows=rows)))
    return path


def test_fixed_costs_are_what_is_not_cached(tmp_path):
    """A self-test verdict cached for this code version and device, and a benchmark of the
    current code version, cost the slice nothing; otherwise their budgets are counted; a CPU
    slice runs neither."""
    from lra.campaign import device_cache
    from lra.campaign.projection import load_benchmark
    bdir, results = tmp_path / "bench", tmp_path / "results"
    write_bench(bdir, code_version="0123456789ab")
    bench = load_benchmark("NVIDIA Test GPU", bdir)
    cost, why = slices.fixed_costs(bench, results)
    assert cost["self-test"] == slices.SELFTEST_SECONDS
    assert cost["benchmark"] == slices.BENCH_SECONDS
    assert "no cached verdict" in why["self-test"] and "0123456789ab" in why["benchmark"]
    # the campaign of a slice under way: its self-test and benchmark are behind it
    assert set(slices.fixed_costs(bench, results, ahead=False)[0]) == {"startup", "reserve"}
    write_bench(bdir, code_version=code_version())
    report = tmp_path / "selftest.json"
    report.write_text(json.dumps(dict(ok=True, report=[["bptt", True, ""]])))
    assert device_cache.record_selftest(report, "NVIDIA Test GPU", results_root=results)
    cost, why = slices.fixed_costs(load_benchmark("NVIDIA Test GPU", bdir), results)
    assert set(cost) == {"startup", "reserve"}, why
    assert why["self-test"].startswith("verdict pass cached")
    write_bench(bdir, device="CPU (test)", device_type="cpu")
    cost, why = slices.fixed_costs(load_benchmark("CPU (test)", bdir), results)
    assert set(cost) == {"startup", "reserve"} and "CPU slice runs neither" in why["benchmark"]


def test_a_campaign_plans_only_the_packed_populations_in_their_order(tmp_path):
    from lra.campaign.runner import budget_named, plan_campaign
    from lra.campaign.store import ResultsStore
    store, budget = ResultsStore(tmp_path), budget_named("smoke-cap20")
    names = ["fig2", "fig3", "fig4"]
    every = plan_campaign(names, budget, store, 1)          # one member each: 3 populations
    assert len(every) == 3
    ids = [every[2].id, every[0].id]
    assert [p.id for p in plan_campaign(names, budget, store, 1, only=ids)] == ids
    assert plan_campaign(names, budget, store, 1, only=[]) == []
