"""The `lra` command: bad input is a one-line error with exit status 2 before any compute."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lra.cli import main, parse_duration

ROOT = Path(__file__).resolve().parent.parent

BAD = [
    (["campaign", "--budget", "huge"], "unknown budget 'huge'; valid budgets: smoke, paper"),
    (["campaign", "--experiments", "table9"], "unknown experiment 'table9'; valid experiments: table1"),
    (["campaign", "--time-limit", "5x"], "bad duration"),
    (["campaign", "--seeds", "0"], "--seeds must be >= 1"),
    (["campaign", "--seeds", "two"], "invalid int value"),
    (["campaign", "--max-iterations", "0"], "--max-iterations must be >= 1"),
    (["campaign", "--device", "tpu"], "device must be one of auto, cpu, cuda"),
    (["status", "--budget", "huge"], "unknown budget"),
    (["run", "chapter99"], "unknown notebook 'chapter99'; valid notebooks: engine"),
    (["run", "lra_diff", "-p", "gamma", "1"], "notebook 'lra_diff' has no parameter 'gamma'; valid: budget"),
    (["run", "lra_diff", "-p", "seeds", "two"], "parameter seeds: expected an integer"),
    (["run", "lra_diff", "-p", "seeds", "0"], "seeds must be an integer >= 1"),
    (["run", "lra_diff", "-p", "budget", "huge"], "unknown budget 'huge'"),
    (["run", "lra_diff", "-p", "replay", "maybe"], "expected True or False"),
    (["run", "lra_diff", "-p", "max_iterations", "-5"], "max_iterations must be an integer >= 1"),
    (["run", "lra_diff", "-p", "device", "tpu"], "device must be one of"),
    (["run", "explore", "-p", "T", "9"], "T must be an integer >= 10"),
    (["run", "explore", "-p", "K", "0"], "K must be an integer >= 1"),
    (["run", "explore", "-p", "alpha", "-0.1"], "alpha must be a non-negative number"),
    (["run", "explore", "-p", "gamma", "-1"], "gamma must be a non-negative number"),
    (["run", "explore", "-p", "lam", "-2"], "lam must be a non-negative number"),
    (["run", "explore", "-p", "alpha", "fast"], "parameter alpha: expected a number"),
    (["run", "explore", "-p", "task", "adding"], "unknown task 'adding'; valid tasks: temporal_order"),
    (["run", "lra_diff", "-p", "budget"], "expected 2 arguments"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(argv, message, tmp_path, monkeypatch,
                                                          capsys):
    results = tmp_path / "results"
    monkeypatch.setenv("LRA_RESULTS", str(results))
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lra: error: "), err
    assert message in err, err
    assert not results.exists()


def test_durations():
    assert parse_duration("12m") == 720 and parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90 and parse_duration("45") == 45


def test_list_and_status(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lra_diff" in out and "table1" in out and "budget=\"auto\"" in out
    assert main(["status", "--budget", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "table1" in out and "empty" in out


def test_run_executes_a_notebook_and_reports_failure(tmp_path):
    env = {**os.environ, "LRA_RESULTS": str(tmp_path / "results")}
    out = tmp_path / "explore.ipynb"
    ok = subprocess.run([sys.executable, "-m", "lra", "run", "explore", "-p", "T", "12", "-o",
                         str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    nb = json.loads(out.read_text())
    assert "T = 12" in "".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                               for c in nb["cells"])
    # a corrupted results table makes the chapter fail: papermill's error notebook, exit 1
    table = tmp_path / "results" / "table1" / "smoke" / "runs.csv"
    table.parent.mkdir(parents=True)
    table.write_text("key,experiment\nabc")
    bad = subprocess.run([sys.executable, "-m", "lra", "run", "lra_diff", "-p", "budget", "smoke",
                          "-o", str(tmp_path / "failed.ipynb")], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert "CorruptResults" in bad.stderr and (tmp_path / "failed.ipynb").exists()
    assert table.read_text() == "key,experiment\nabc"
