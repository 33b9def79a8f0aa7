"""The device slice's cache (lra.campaign.device_cache, issue 22 item 3): the GPU self-test's
verdict is cached per (code version, device kind) and a different code version, device, self-test
source or torch misses; a cached failure blocks training (what scripts/device_campaign.sh reads,
through the shell assignments of `gate`); the benchmark counts as present only when it is of the
current code version. Hand-made reports and benchmarks; nothing is trained."""
import json
import subprocess

import pytest

from lra.campaign import device_cache as dc

GPU = "NVIDIA Test GPU"
V = dict(torch="2.11.0+cu130", triton="3.6.0")
PASS = [["capture safety (meta device, every algorithm and switch set)", True, ""],
        ["lra_diff paper", True, ""], ["lra_diff paper + kernel r16", True, ""],
        ["bptt", True, ""],
        ["concurrent populations (threads + streams) == sequential, bit for bit", True, ""]]


def report(tmp_path, failing=(), **extra):
    rep = [[label, label not in failing, ""] for label, _, _ in PASS]
    path = tmp_path / "selftest.json"
    path.write_text(json.dumps(dict(device=GPU, ok=not failing, report=rep,
                                    kernel_variants=["r16"], **extra)))
    return path


def record(tmp_path, failing=(), version="aaaaaaaaaaaa", device=GPU, harness="h1", versions=V):
    return dc.record_selftest(report(tmp_path, failing), device, results_root=tmp_path / "r",
                              version=version, harness=harness, versions=versions)


def look(tmp_path, version="aaaaaaaaaaaa", device=GPU, harness="h1", versions=V):
    return dc.lookup_selftest(device, results_root=tmp_path / "r", version=version,
                              harness=harness, versions=versions)


def test_the_verdict_is_keyed_by_code_version_and_device_kind(tmp_path):
    path = record(tmp_path)
    assert path.parent == tmp_path / "r" / "_device"
    assert path.name == "selftest-nvidia-test-gpu-aaaaaaaaaaaa.json"
    entry, why = look(tmp_path)
    assert entry["verdict"] == "pass" and entry["device"] == GPU and "cached" in why
    assert entry["report"] and entry["date"] and "commit" in entry and entry["mode"] == "fast"
    # another code version, another device: a miss (the slice runs the self-test)
    assert look(tmp_path, version="bbbbbbbbbbbb")[0] is None
    assert look(tmp_path, device="NVIDIA Other GPU")[0] is None
    # the same file name but other self-test sources, torch or Triton: a miss too
    assert "harness" in look(tmp_path, harness="h2")[1]
    assert look(tmp_path, versions=dict(V, torch="2.12.0"))[0] is None
    assert look(tmp_path, versions=dict(V, triton="3.7.0"))[0] is None
    assert look(tmp_path, versions={})[0] is not None      # planning elsewhere: not compared


def test_verdicts_of_reports():
    assert dc.verdict_of(None) == "missing" and dc.verdict_of([]) == "missing"
    assert dc.verdict_of(PASS) == "pass"
    bad = lambda label: [[l, l != label, ""] for l, _, _ in PASS]  # noqa: E731
    assert dc.verdict_of(bad("bptt")) == "other"
    assert dc.verdict_of(bad("capture safety (meta device, every algorithm and switch set)")) \
        == "other"
    assert dc.verdict_of(bad("lra_diff paper + kernel r16")) == "kernel"
    assert dc.verdict_of(bad(PASS[-1][0])) == "pass+serial"


@pytest.mark.parametrize("failing,campaign,chain,serial", [
    ((), 1, "", 0),
    (("bptt",), 0, "", 0),                                  # an algorithm failed: no training
    (("lra_diff paper + kernel r16",), 1, "pytorch", 0),   # the kernel failed: PyTorch chain
    ((PASS[-1][0],), 1, "", 1),                             # concurrency failed: one at a time
])
def test_a_cached_failure_blocks_training(tmp_path, failing, campaign, chain, serial):
    record(tmp_path, failing)
    g = dc.gate(GPU, results_root=tmp_path / "r", version="aaaaaaaaaaaa", harness="h1",
                versions=V, benchmarks=tmp_path / "no-benchmarks")
    assert (g["cached"], g["campaign"], g["chain"], g["serial"]) == (1, campaign, chain, serial)


def test_no_report_is_not_cached_and_no_verdict_trains_nothing(tmp_path):
    assert dc.record_selftest(tmp_path / "absent.json", GPU, results_root=tmp_path / "r") is None
    g = dc.gate(GPU, results_root=tmp_path / "r", version="aaaaaaaaaaaa", harness="h1",
                versions=V)
    assert g["cached"] == 0 and g["campaign"] == 0 and g["verdict"] == "none"


def test_the_slice_script_reads_the_gate_as_shell_assignments(tmp_path, monkeypatch, capsys):
    """What device_campaign.sh evals: a cached failure gives selftest_campaign=0."""
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path / "r"))
    record(tmp_path, ("bptt",), version=dc.code_version(), harness=dc.harness_version(),
           versions=dc._versions())
    assert dc.main(["gate", "--device", GPU]) == 0
    out = capsys.readouterr().out
    sh = subprocess.run(["bash", "-c", out + '\necho "$selftest_cached $selftest_campaign '
                         '$selftest_verdict"'], capture_output=True, text=True, timeout=10)
    assert sh.stdout.split() == ["1", "0", "other"], (out, sh.stderr)


def test_a_kernel_variant_the_self_test_did_not_check_is_not_taken(tmp_path):
    bdir = tmp_path / "bench"
    bdir.mkdir()
    rows = [dict(T=10, K=10, P=15, method=m, rate=r, status="ok")
            for m, r in (("graph+torch", 100.0), ("graph+kernel:r32", 300.0))]
    (bdir / "b.json").write_text(json.dumps(dict(meta=dict(device=GPU, device_type="cuda",
                                                           date="2026-12-07"), rows=rows)))
    assert dc.engine_variant(GPU, bdir) == "r32"
    record(tmp_path)                                # checked: r16 only
    g = dc.gate(GPU, results_root=tmp_path / "r", version="aaaaaaaaaaaa", harness="h1",
                versions=V, benchmarks=bdir)
    assert g["campaign"] == 1 and g["chain"] == "pytorch" and "r32 was not checked" in g["why"]


def test_the_benchmark_counts_only_when_of_the_current_code_version(tmp_path):
    bdir = tmp_path / "bench"
    bdir.mkdir()
    rows = [dict(T=10, K=10, P=15, method="graph+torch", rate=100.0, status="ok")]

    def bench(**meta):
        (bdir / "b.json").write_text(json.dumps(dict(
            meta=dict(device=GPU, device_type="cuda", date="2026-12-07", **meta), rows=rows)))

    assert dc.benchmark_is_current(GPU, bdir, "aaaaaaaaaaaa")[0] is False   # none at all
    bench(code_version="aaaaaaaaaaaa")
    assert dc.benchmark_is_current(GPU, bdir, "aaaaaaaaaaaa")[0] is True
    assert dc.benchmark_is_current(GPU, bdir, "bbbbbbbbbbbb")[0] is False
    assert dc.benchmark_is_current("NVIDIA Other GPU", bdir, "aaaaaaaaaaaa")[0] is False
    bench(commit="unknown")                         # from before the field: unknown, not current
    ok, why = dc.benchmark_is_current(GPU, bdir, "aaaaaaaaaaaa")
    assert ok is False and "names no code version" in why
