"""benchmarks/engine_throughput.py: CPU time beside wall time, the released script as a baseline
(``--released PATH``, a checkout outside the repository, imported at run time) and the ratio section
with the issue's targets. The released code itself is not needed: a stand-in ``lra2_reg.py`` with
the same ``run_experiment`` signature is written to a temporary folder; one test uses a real export
at /tmp/lra-rnn when there is one."""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch

import lra
from lra.campaign import projection as pj

ROOT = Path(lra.__file__).resolve().parent.parent
RELEASED_MODULES = ("lra2_reg", "tempOrder", "addition", "permutation", "tempOrder3bit")
REAL_EXPORT = Path("/tmp/lra-rnn")

FAKE = '''
import sys, time
class Unbuffered:                       # the released module rewraps sys.stdout at import
    def __init__(self, stream): self.stream = stream
    def write(self, data): self.stream.write(data)
    def __getattr__(self, attr): return getattr(self.stream, attr)
sys.stdout = Unbuffered(sys.stdout)
CALLS = []
def run_experiment(seed, init, task_name, n_hid, seq, batch_size, opt, lr, glr, k_steps, alpha,
                   grad_norm, maxiter, chk_iter, local_loss, plot=False):
    CALLS.append((task_name, seq, k_steps, maxiter, chk_iter, lr, glr))
    print("Starting val loss: noise that must not reach the benchmark's stdout")
    end = time.process_time() + 0.01 + 0.002 * maxiter     # setup + 2 ms per iteration, busy
    while time.process_time() < end:
        pass
    return 0.5, maxiter + 1
'''


def _script():
    path = ROOT / "benchmarks" / "engine_throughput.py"
    spec = importlib.util.spec_from_file_location("engine_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def bench():
    return _script()


@pytest.fixture
def clean_released(monkeypatch):
    """Whatever lra2_reg (and its task modules) a test imports is gone afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = {k: sys.modules.pop(k) for k in RELEASED_MODULES if k in sys.modules}
    yield
    for k in RELEASED_MODULES:
        sys.modules.pop(k, None)
    sys.modules.update(saved)


@pytest.fixture
def fake_checkout(tmp_path):
    d = tmp_path / "lra-rnn"
    d.mkdir()
    (d / "lra2_reg.py").write_text(FAKE)
    return d


# ----------------------------------------------------------------------------- --released refused
def test_released_inside_the_repository_exits_2(bench, capsys):
    for inside in (ROOT, ROOT / "results" / "released_script"):
        with pytest.raises(SystemExit) as e:
            bench.main(["--device", "cpu", "--released", str(inside)])
        assert e.value.code == 2
        assert "inside this repository" in capsys.readouterr().err


def test_released_inside_a_repository_is_refused_even_with_the_script(bench, tmp_path):
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "lra2_reg.py").write_text("")
    with pytest.raises(ValueError, match="inside this repository"):
        bench.check_released_dir(tmp_path / "copy", root=tmp_path)
    assert bench.check_released_dir(tmp_path / "copy", root=tmp_path / "elsewhere") == \
        (tmp_path / "copy").resolve()


def test_released_without_the_script_exits_2(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--device", "cpu", "--released", str(tmp_path)])
    assert e.value.code == 2
    assert "no lra2_reg.py" in capsys.readouterr().err


def test_method_released_needs_the_checkout(bench, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--device", "cpu", "--methods", "released"])
    assert e.value.code == 2 and "--released PATH" in capsys.readouterr().err


# ----------------------------------------------------------------------------- timing
def test_measure_returns_cpu_seconds(bench):
    r = bench.measure(lambda: sum(range(20000)), torch.device("cpu"), 0.03, warmup=1)
    assert r["iterations"] >= 1 and r["seconds"] >= 0.03
    assert 0 < r["cpu_seconds"] <= r["seconds"] * torch.get_num_threads() + 0.05


def test_released_timing_differences_two_calls_so_setup_cancels(bench):
    setup, per = 0.5, 0.01          # seconds: setup (data, model, validation) and per iteration
    seen = []

    def call(mod, T, K, n):
        seen.append(n)
        return dict(maxiter=n, seconds=setup + per * n, cpu_seconds=0.9 * (setup + per * n))

    r = bench.measure_released(None, 10, 10, 0.2, call=call)
    assert seen[:3] == [1, 1, 3]                       # warm-up, n1, probe
    assert r["iterations"] == seen[-1] - 1 >= 20
    assert r["seconds"] / r["iterations"] == pytest.approx(per)
    assert r["cpu_seconds"] / r["iterations"] == pytest.approx(0.9 * per)
    assert r["setup_estimate_seconds"] == pytest.approx(setup)


def test_released_timing_measures_again_when_the_probe_overestimated(bench):
    calls = {"n": 0}

    def call(mod, T, K, n):         # the probe (the third call) is slow: noise
        calls["n"] += 1
        t = 0.1 + 0.01 * n + (0.5 if calls["n"] == 3 else 0.0)
        return dict(maxiter=n, seconds=t, cpu_seconds=t)

    r = bench.measure_released(None, 10, 10, 0.2, call=call)
    assert len(r["calls"]) == 4 and r["seconds"] >= 0.7 * 0.2
    assert r["seconds"] / r["iterations"] == pytest.approx(0.01)


# ----------------------------------------------------------------------------- ratios and targets
def _rows(released=10.0, naive=20.0, eager=150.0, P=15):
    rows = [dict(T=10, K=10, P=1, method="naive", status="ok", rate=naive, cpu_rate=naive),
            dict(T=10, K=10, P=P, method="eager", status="ok", rate=eager, cpu_rate=eager),
            dict(T=10, K=10, P=132, method="eager", status="ok", rate=eager, cpu_rate=eager / 2)]
    if released is not None:
        rows.append(dict(T=10, K=10, P=1, method="released", status="ok", rate=released,
                         cpu_rate=released))
    return rows


def test_comparison_ratios_per_cpu_second(bench):
    rows = _rows()
    for r in rows:    # the wall rates must not be used
        r["rate"] *= 3
    (c,) = bench.comparison(rows)
    assert (c["T"], c["K"], c["released"], c["naive"]) == (10, 10, 10.0, 20.0)
    assert [(e["P"], e["vs_released"], e["vs_naive"]) for e in c["eager"]] == [
        (15, pytest.approx(15.0), pytest.approx(7.5)), (132, pytest.approx(7.5),
                                                        pytest.approx(3.75))]


def test_target_met_not_met_and_not_measured(bench):
    (t,) = bench.target_verdicts(_rows(eager=150.0), threads=1)
    assert t["verdict"] == "met" and t["measured"] == pytest.approx(15.0)
    (t,) = bench.target_verdicts(_rows(eager=80.0), threads=1)
    assert t["verdict"] == "not met: 8.0x"
    (t,) = bench.target_verdicts(_rows(eager=100.0), threads=1)      # exactly 10x
    assert t["verdict"] == "met"
    (t,) = bench.target_verdicts(_rows(released=None), threads=1)
    assert t["verdict"] == "not measured (no released row: run with --released PATH)"
    (t,) = bench.target_verdicts(_rows(P=16), threads=1)
    assert t["verdict"] == "not measured (no eager row at P = 15)"
    (t,) = bench.target_verdicts(_rows(), threads=2)
    assert t["verdict"].startswith("not applicable") and "2 torch threads" in t["verdict"]


def test_comparison_section_and_load_line(bench):
    meta = dict(threads=1, device_type="cpu", released=None)
    text = "\n".join(bench.comparison_section(meta, _rows(eager=80.0)))
    assert "## Engine vs the released script and the naive loop (per CPU second)" in text
    assert "≥ 10x the released script" in text and "**not met: 8.0x**" in text
    assert "| 10/10 | 10.00 | 20.0 | 15 | 80.0 | 8.0x | 4.0x |" in text
    pointer = "The CPU engine: where its time goes"
    assert pointer in text             # a missed target points to the profile that explains it
    met = "\n".join(bench.comparison_section(meta, _rows(eager=120.0)))
    assert "**met**" in met and pointer not in met
    line = bench.load_line(dict(start=[2.1, 2, 2], end=[2.3, 2, 2], cpus=2), threads=1)
    assert line == ("Load average 2.1 at start, 2.3 at end on 2 CPUs: the machine was shared; "
                    "CPU-time rates are the comparable numbers.")
    assert "quiet" in bench.load_line(dict(start=[0.1] * 3, end=[1.1] * 3, cpus=2), threads=1)


def test_fastest_ignores_the_baselines(bench):
    rows = _rows() + [dict(T=10, K=10, P=1, method="naive", status="ok", rate=1e9)]
    rows[-2]["rate"] = 1e9   # released, absurdly fast
    assert bench.fastest({}, rows) == "eager"
    b = pj.Benchmark(Path("x"), {}, [dict(T=r["T"], K=r["K"], P=r["P"], method=r["method"],
                                          rate=r["rate"]) for r in rows])
    assert b.methods() == ["eager"] and b.fastest_method() == "eager"


# ----------------------------------------------------------------------------- a whole run
def test_run_with_a_stand_in_released_checkout(bench, fake_checkout, clean_released, tmp_path,
                                               capsys):
    out = tmp_path / "cpu.md"
    stdout = sys.stdout
    meta, rows = bench.main(["--device", "cpu", "--shapes", "10/1", "--populations", "2",
                             "--seconds", "0.05", "--peak-seconds", "0.01",
                             "--released", str(fake_checkout), "--out", str(out)])
    assert sys.stdout is stdout                       # the module's stdout wrapper did not stay
    printed = capsys.readouterr().out
    assert "noise" not in printed and "per CPU second" in printed
    assert [(r["method"], r["status"]) for r in rows] == [
        ("naive", "ok"), ("released", "ok"), ("eager", "ok")]
    rel = rows[1]
    assert rel["P"] == 1 and rel["cpu_rate"] > 0 and rel["threads"] == torch.get_num_threads()
    assert rel["seconds"] / rel["iterations"] == pytest.approx(0.002, rel=0.5)
    fake = sys.modules["lra2_reg"]
    assert Path(fake.__file__).resolve().parent == fake_checkout.resolve()
    task, T, K, n, chk, lr, glr = fake.CALLS[-1]
    assert (task, T, K, lr, glr) == ("temp", 10, 1, 0.1, 1.0) and chk > n
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["released"]["path"] == str(fake_checkout.resolve())
    assert data["meta"]["load"]["cpus"] == meta["load"]["cpus"] and data["meta"]["load"]["end"]
    assert data["meta"]["fastest"] == "eager"
    assert data["rows"][2]["cpu_vs_released"] == pytest.approx(
        data["rows"][2]["cpu_rate"] / rel["cpu_rate"])
    md = out.read_text()
    assert "## Engine vs the released script and the naive loop (per CPU second)" in md
    assert "member-it/CPU-s" in md and "Load average" in md
    b = pj.load_benchmark(meta["device"], tmp_path)
    assert b.fastest_method() == "eager" and b.rate(10, 1, 2) == pytest.approx(rows[2]["rate"])


@pytest.mark.skipif(not (REAL_EXPORT / "lra2_reg.py").is_file(),
                    reason="no export of nmanchev/lra-rnn at /tmp/lra-rnn")
def test_the_real_released_script_runs_silently(bench, clean_released, capsys):
    mod = bench.import_released(bench.check_released_dir(REAL_EXPORT))
    t0 = time.perf_counter()
    r = bench.released_call(mod, 10, 1, 2)
    assert r["maxiter"] == 2 and 0 < r["seconds"] <= time.perf_counter() - t0
    assert capsys.readouterr().out == ""
