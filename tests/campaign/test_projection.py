"""lra.campaign.projection: rates and population times from a benchmark JSON (synthetic ones here), and the
benchmark script writes what the projection reads."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

import lra
from lra.campaign import projection as pj
from lra.campaign.projection import flops_per_member_iteration as flops

H100 = "NVIDIA H100 80GB HBM3"
# graph+torch: iteration time ~ flat in P (launch-bound), so member-it/s grows with P
RATES = {  # (T, K) -> {P: member-it/s} for graph+torch; eager is 4x slower
    (10, 1): {15: 3000.0, 132: 25000.0, 2048: 200000.0},
    (10, 10): {15: 900.0, 132: 7000.0, 2048: 50000.0},
    (30, 30): {15: 90.0, 132: 700.0, 2048: 5000.0},
}


def _rows(scale=1.0, method="graph+torch"):
    return [dict(T=T, K=K, P=P, method=method, status="ok", rate=r * scale)
            for (T, K), by_p in RATES.items() for P, r in by_p.items()]


def write_bench(directory: Path, name: str, device: str, date: str, rows, peak=50.0):
    meta = dict(schema=2, device=device, date=date, task="temporal_order",
                peak=dict(tflops=peak, n=8192) if peak else None)
    (directory / f"{name}.json").write_text(json.dumps(dict(meta=meta, rows=rows)))


@pytest.fixture
def bench_dir(tmp_path):
    rows = _rows() + _rows(0.25, "eager") + [
        dict(T=10, K=10, P=1, method="naive", status="ok", rate=15.0),
        dict(T=10, K=10, P=2048, method="graph+kernel:tiled", status="failed", rate=None,
             error="boom"),
        dict(T=30, K=30, P=2048, method="eager", status="skipped", rate=None, reason="budget"),
    ]
    write_bench(tmp_path, "nvidia-h100-80gb-hbm3", H100, "2026-11-26T10:00:00+00:00", rows)
    # an older benchmark of the same device, ten times slower: must not be chosen
    write_bench(tmp_path, "a-old-h100", H100, "2026-11-20T10:00:00+00:00", _rows(0.1))
    write_bench(tmp_path, "nvidia-h200", "NVIDIA H200", "2026-11-26T09:00:00+00:00", _rows(1.3))
    (tmp_path / "notes.json").write_text("[1, 2]")           # not a benchmark: ignored
    return tmp_path


def test_load_newest_benchmark_by_exact_or_partial_name(bench_dir):
    b = pj.load_benchmark(H100, bench_dir)
    assert b.path.name == "nvidia-h100-80gb-hbm3.json"
    assert pj.load_benchmark("h100", bench_dir).path == b.path
    assert pj.load_benchmark("NVIDIA H200", bench_dir).device == "NVIDIA H200"
    assert [x.path.name for x in pj.list_benchmarks(bench_dir)] == [
        "nvidia-h100-80gb-hbm3.json", "nvidia-h200.json", "a-old-h100.json"]


def test_unknown_or_ambiguous_device_is_a_clear_error(bench_dir):
    with pytest.raises(pj.BenchmarkNotFound, match="A100.*available: .*NVIDIA H100 80GB HBM3"):
        pj.load_benchmark("NVIDIA A100-SXM4-80GB", bench_dir)
    with pytest.raises(pj.BenchmarkNotFound, match="ambiguous"):
        pj.load_benchmark("nvidia", bench_dir)
    with pytest.raises(pj.BenchmarkNotFound):
        pj.project_population_seconds(10, [10] * 15, 1000, "H1", directory=bench_dir)
    with pytest.raises(pj.BenchmarkNotFound):
        pj.load_benchmark("H100", bench_dir / "missing")


def test_rate_at_between_and_beyond_measured_populations(bench_dir):
    b = pj.load_benchmark(H100, bench_dir)
    assert b.rate(10, 10, 132, "graph+torch") == pytest.approx(7000.0)
    assert b.rate(30, 30, 2048, "eager") == pytest.approx(5000.0 * 0.25)
    mid = b.rate(10, 10, 500, "graph+torch")
    assert 7000 < mid < 50000
    # log-log interpolation
    w = math.log(500 / 132) / math.log(2048 / 132)
    assert mid == pytest.approx(7000 ** (1 - w) * 50000 ** w)
    # fewer members than measured: the iteration takes as long as with 15 members
    assert b.rate(10, 10, 1, "graph+torch") == pytest.approx(900.0 / 15)
    # more: member-iterations/s saturate
    assert b.rate(10, 10, 10_000, "graph+torch") == pytest.approx(50000.0)


def test_rate_across_shapes_follows_flops(bench_dir):
    b = pj.load_benchmark(H100, bench_dir)
    # between measured shapes: between their rates, decreasing in K and T
    r = [b.rate(20, K, 132, "graph+torch") for K in (1, 5, 10, 20, 30)]
    assert all(x > y for x, y in zip(r, r[1:]))
    assert 700 < b.rate(20, 20, 132, "graph+torch") < 7000
    # beyond the largest shape: cost in proportion to FLOPs
    assert b.rate(60, 30, 132, "graph+torch") == pytest.approx(
        700 * flops(30, 30) / flops(60, 30))
    # another task's FLOPs (random permutation: 100 inputs and classes) cost more
    assert b.rate(10, 10, 132, "graph+torch", task="random_permutation") < 7000


def test_fastest_method_and_engine_options(bench_dir):
    assert pj.fastest_method("H100", bench_dir) == "graph+torch"
    assert pj.rate(10, 10, 132, device_name="H100", directory=bench_dir) == pytest.approx(7000)
    rows = _rows(0.5) + [dict(T=T, K=K, P=P, method="graph+kernel:tiled", status="ok",
                              rate=r * 3) for (T, K), by in RATES.items() for P, r in by.items()]
    write_bench(bench_dir, "nvidia-h100-new", H100, "2026-11-27T00:00:00+00:00", rows)
    assert pj.fastest_method("H100", bench_dir) == "graph+kernel:tiled"
    assert pj.engine_options("graph+kernel:tiled") == dict(cuda_graph=True, fused="tiled")
    assert pj.engine_options("graph+kernel:default") == dict(cuda_graph=True, fused=True)
    assert pj.engine_options("graph+torch") == dict(cuda_graph=True, fused=False)
    assert pj.engine_options("eager") == dict(cuda_graph=False, fused=False)
    with pytest.raises(ValueError):
        pj.engine_options("naive")


def test_mixed_K_population_costs_between_uniform_ones(bench_dir):
    kw = dict(device_name="H100", directory=bench_dir, validation_size=0)
    K_mix = [10, 20, 30] * 45
    lo = pj.project_population_seconds(20, [10] * 135, 100_000, **kw)
    hi = pj.project_population_seconds(20, [30] * 135, 100_000, **kw)
    mixed = pj.project_population_seconds(20, K_mix, 100_000, **kw)
    # every member pays for the largest K in the population (the latency-bound chain)...
    assert lo < mixed <= hi
    # ... until the members with that K stop: then the rest is priced at the next K
    early = pj.project_population_seconds(20, K_mix, [1000 if k == 30 else 100_000
                                                      for k in K_mix], **kw)
    print(f"uniform K=10 {lo:.0f} s, mixed {mixed:.0f} s, mixed with K=30 stopping early "
          f"{early:.0f} s, uniform K=30 {hi:.0f} s")
    assert early < mixed
    # a uniform population: iterations x P / rate
    b = pj.load_benchmark("H100", bench_dir)
    assert pj.project_population_seconds(10, [10] * 132, 1000, **kw) == pytest.approx(
        1000 * 132 / b.rate(10, 10, 132))
    # members that stop early stop costing
    early = pj.project_population_seconds(20, K_mix, [50_000] * 67 + [100_000] * 68, **kw)
    assert early < mixed
    # validation costs time where the benchmark measured a peak
    with_val = pj.project_population_seconds(20, K_mix, 100_000, device_name="H100",
                                             directory=bench_dir)
    assert with_val > mixed
    info = b.project(20, K_mix, 100_000)
    assert info["validation_seconds"] > 0 and info["method"] == "graph+torch"
    # the regulariser costs more; BPTT is priced as LRA-diff with K = 1
    assert pj.project_population_seconds(20, K_mix, 100_000, regularised=True, **kw) > mixed
    assert pj.project_population_seconds(20, [0] * 135, 100_000, algorithm="bptt", **kw) == \
        pytest.approx(pj.project_population_seconds(20, [1] * 135, 100_000, **kw))
    with pytest.raises(ValueError):
        pj.project_population_seconds(20, [], 100, **kw)
    with pytest.raises(ValueError):
        pj.project_population_seconds(20, [10, 10], [100], **kw)


def test_first_benchmark_format_is_read(tmp_path):
    """benchmarks/results/cpu.json as written before the rewrite (no status, long labels)."""
    rows = [dict(T=10, K=10, method="naive loop (1 config, autograd)", P=1, rate=87.0),
            dict(T=10, K=10, method="population eager", P=45, rate=540.0),
            dict(T=30, K=30, method="population eager", P=45, rate=80.0)]
    (tmp_path / "cpu.json").write_text(json.dumps(dict(
        meta=dict(device="CPU (x86_64, 2 threads)", date="2026-11-25T21:23:36+00:00"),
        rows=rows)))
    b = pj.load_benchmark("cpu", tmp_path)
    assert b.methods() == ["eager"] and b.fastest_method() == "eager"
    assert b.rate(10, 10, 45) == pytest.approx(540.0)
    assert b.project(10, [10] * 45, 100)["validation_seconds"] == 0   # no peak measured


def test_results_found_from_the_package_location(monkeypatch, tmp_path):
    monkeypatch.delenv("LRA_BENCHMARK_RESULTS", raising=False)
    repo = Path(lra.__file__).resolve().parent.parent
    assert pj.results_dir() == repo / "benchmarks" / "results"
    assert pj.load_benchmark("cpu").path.parent == repo / "benchmarks" / "results"
    # a non-editable install (no checkout around the package) run from inside a checkout
    monkeypatch.setattr(pj, "__file__", str(tmp_path / "site-packages" / "lra" / "campaign" / "projection.py"))
    (tmp_path / "repo" / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "repo" / "book").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "book")
    assert pj.results_dir() == (tmp_path / "repo" / "benchmarks" / "results").resolve()
    monkeypatch.setenv("LRA_BENCHMARK_RESULTS", str(tmp_path))
    assert pj.results_dir() == tmp_path
    with pytest.raises(pj.BenchmarkNotFound, match="available: none"):
        pj.load_benchmark("cpu")


def _benchmark_script():
    path = Path(lra.__file__).resolve().parent.parent / "benchmarks" / "engine_throughput.py"
    spec = importlib.util.spec_from_file_location("engine_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_output_is_what_the_projection_reads(tmp_path):
    bench = _benchmark_script()
    out = tmp_path / "cpu.md"
    meta, rows = bench.main(["--device", "cpu", "--shapes", "10/1", "--populations", "2",
                             "--seconds", "0.02", "--peak-seconds", "0.02", "--out", str(out)])
    assert out.exists() and "| 10/1 | 2 |" in out.read_text()
    data = json.loads(out.with_suffix(".json").read_text())
    assert [(r["method"], r["status"]) for r in data["rows"]] == [("naive", "ok"), ("eager", "ok")]
    eager = data["rows"][1]
    assert eager["vs_naive"] > 0 and eager["vs_eager"] == pytest.approx(1.0)
    assert eager["tflops"] == pytest.approx(eager["rate"] * flops(10, 1) / 1e12)
    assert eager["pct_peak"] == pytest.approx(100 * eager["tflops"] / meta["peak"]["tflops"])
    b = pj.load_benchmark(meta["device"], tmp_path)
    assert b.fastest_method() == "eager" == data["meta"]["fastest"]
    assert b.rate(10, 1, 2) == pytest.approx(eager["rate"])


def test_benchmark_lists_cells_it_could_not_reach(tmp_path):
    bench = _benchmark_script()
    _, rows = bench.main(["--device", "cpu", "--shapes", "10/1", "10/10", "--populations", "2",
                          "3", "--seconds", "0.02", "--peak-seconds", "0.01",
                          "--total-seconds", "0"])
    assert len(rows) == 2 * (1 + 2)                         # every planned cell is reported
    assert all(r["status"] == "skipped" and "budget" in r["reason"] for r in rows)


def test_benchmark_reports_a_failing_cell_and_goes_on():
    """A CUDA-graph cell on the CPU fails (no CUDA); the cells after it are still measured."""
    import time

    import torch
    bench = _benchmark_script()
    table = {"graph+torch": dict(cuda_graph=True, fused=False),
             "eager": dict(cuda_graph=False, fused=False)}
    cells = bench.plan_cells([(10, 1)], [2], ["graph+torch", "eager"])
    rows = bench.run_cells(cells, torch.device("cpu"), table, 0.02, 60, 60, time.perf_counter(),
                           log=lambda s: None)
    assert [(r["method"], r["status"]) for r in rows] == [("graph+torch", "failed"),
                                                         ("eager", "ok")]
    assert rows[0]["error"] and rows[1]["rate"] > 0


def test_project_a_campaign_plan(bench_dir):
    from lra.campaign.experiments import BUDGETS, EXPERIMENTS
    budget = BUDGETS["paper"]
    runs = EXPERIMENTS["table1"].runs(budget)
    by_pop = {}
    for r in runs:
        by_pop.setdefault((r.task, r.T), []).append(r)
    plan = pj.project_populations(list(by_pop.values()), budget, "H100", directory=bench_dir)
    assert plan["method"] == "graph+torch" and len(plan["populations"]) == 9
    assert sum(p["members"] for p in plan["populations"]) == len(runs)
    assert plan["seconds"] == pytest.approx(sum(p["seconds"] for p in plan["populations"]))
    pop = plan["populations"][0]
    assert pop["K"] == [10, 20, 30] and pop["experiments"] == ["table1"]
    Ks = [dict(r.config)["K"] for r in by_pop[(pop["task"], pop["T"])]]
    assert pop["seconds"] == pytest.approx(pj.project_population_seconds(
        pop["T"], Ks, budget.max_iterations, "H100", task=pop["task"], directory=bench_dir))


def test_readout_only_is_priced_by_its_own_flops(bench_dir):
    """The readout-only control runs no target chain and no recurrent gradient, and computes its
    frozen validation/test states once: it is priced by its own FLOPs on the measured curve,
    below a K = 1 RNN-LRA-diff population (its old upper bound) and by the FLOP ratio beyond the
    measured shapes."""
    from lra.campaign.projection import readout_flops_per_member_iteration as ro_flops
    kw = dict(device_name="H100", directory=bench_dir, validation_size=0)
    readout = pj.project_population_seconds(20, [0] * 15, 100_000, algorithm="readout_only", **kw)
    k1 = pj.project_population_seconds(20, [1] * 15, 100_000, **kw)
    print(f"T=20, 15 members, 100,000 iterations: readout {readout:.0f} s, K=1 LRA-diff {k1:.0f} s; "
          f"FLOPs per member-iteration {ro_flops(20)} vs {flops(20, 1)}")
    assert ro_flops(20) < flops(20, 1) / 3
    assert readout < k1
    # beyond the largest measured shape the price is in proportion to FLOPs
    long = pj.project_population_seconds(3000, [0] * 15, 1000, algorithm="readout_only", **kw)
    b = pj.load_benchmark("H100", bench_dir)
    assert long == pytest.approx(1000 * 15 / b.rate(30, 30, 15) * ro_flops(3000) / flops(30, 30))
    # validation: the frozen states once per member, then one output-layer product per check
    with_val = b.project(20, [0] * 15, 100_000, algorithm="readout_only")
    lra_val = b.project(20, [1] * 15, 100_000)
    print(f"validation seconds: readout {with_val['validation_seconds']:.1f}, "
          f"LRA-diff {lra_val['validation_seconds']:.1f}")
    assert 0 < with_val["validation_seconds"] < lra_val["validation_seconds"] / 10


def test_released_step_is_priced_by_the_released_scripts_own_measurement(bench_dir, tmp_path):
    """lra_released (the released script's step as a population, CPU only) costs P times one
    network at the benchmark's measured rate of the released script (P = 1): an upper bound. A
    benchmark without that measurement (the GPUs') gives no price, and says why."""
    rows = _rows() + [dict(T=10, K=10, P=1, method="released", status="ok", rate=20.0)]
    write_bench(tmp_path, "cpu", "CPU (x86_64)", "2026-11-26T10:00:00+00:00", rows)
    s = pj.project_population_seconds(10, [10] * 3, 1000, device_name="CPU", directory=tmp_path,
                                      validation_size=0, algorithm="lra_released")
    print(f"3 members, K = 10, T = 10, 1,000 iterations at 20 it/s each: {s:.1f} s")
    assert s == pytest.approx(3 * 1000 / 20.0)
    with pytest.raises(ValueError, match="no price for lra_released on NVIDIA H100"):
        pj.project_population_seconds(10, [10] * 3, 1000, device_name="H100",
                                      directory=bench_dir, algorithm="lra_released")
