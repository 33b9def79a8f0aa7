"""The `lra` command: bad input is a one-line error with exit status 2 before any compute."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lra import cli
from lra.cli import main, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def git_state():
    """Tracked and untracked files of the checkout with their contents' status (what -o must not
    touch): `git status --porcelain` plus the hash of every modified file."""
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    return out


CLEAN = git_state()

BAD = [
    (["campaign", "--budget", "huge"], "unknown budget 'huge'; valid budgets: smoke, paper"),
    (["campaign", "--experiments", "table9"], "unknown experiment 'table9'; valid experiments: table1"),
    (["campaign", "--time-limit", "5x"], "bad duration"),
    (["campaign", "--seeds", "0"], "--seeds must be >= 1"),
    (["campaign", "--seeds", "two"], "invalid int value"),
    (["campaign", "--max-iterations", "0"], "--max-iterations must be >= 1"),
    (["campaign", "--device", "tpu"], "device must be one of auto, cpu, cuda"),
    (["status", "--budget", "huge"], "unknown budget"),
    (["status", "--budget", ""], "unknown budget ''"),      # (found by tools/trust_probes.py)
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
    (["run", "explore", "-p", "alpha", "-0.1"], "alpha must be a finite non-negative number"),
    (["run", "explore", "-p", "gamma", "-1"], "gamma must be a finite non-negative number"),
    (["run", "explore", "-p", "lam", "-2"], "lam must be a finite non-negative number"),
    (["run", "explore", "-p", "alpha", "inf"], "alpha must be a finite non-negative number"),
    (["run", "explore", "-p", "gamma", "1e400"], "gamma must be a finite non-negative number"),
    (["run", "explore", "-p", "lam", "nan"], "lam must be a finite non-negative number"),
    (["run", "explore", "-p", "T", "1e23"], "parameter T: expected an integer"),
    (["run", "explore", "-p", "T", "1" + "0" * 23], "T must be an integer <= 10000"),
    (["run", "explore", "-p", "K", "1000000"], "K must be an integer <= 1000"),
    (["run", "explore", "-p", "seeds", "100000000"], "seeds must be an integer <= 1000"),
    (["run", "lra_diff", "--kernel", "bogus"], "unknown Jupyter kernel 'bogus'; installed"),
    (["run", "lra_diff", "-o", "book/explore.ipynb"], "refusing to write under book/"),
    (["run", "explore", "-o", "book/lra_diff.ipynb"], "refusing to write under book/"),
    (["run", "lra_diff", "-o", "results/table1/smoke/runs.csv"],
     "refusing to write under results/"),
    (["run", "lra_diff", "-o", "README.md"], "refusing to overwrite a file tracked by git"),
    (["run", "lra_diff", "-o", "lra"], "is a directory"),
    # found by tools/trust_probes.py: a file where the output's folder would be was a traceback
    (["run", "lra_diff", "-o", "/dev/null/x.ipynb"], "cannot create its folder /dev/null"),
    (["campaign", "--population", "0"], "--population must be >= 1"),
    (["campaign", "--population", "-1"], "--population must be >= 1"),
    (["campaign", "--time-limit", "0"], "the time limit must be positive"),
    (["campaign", "--time-limit", "0m"], "the time limit must be positive"),
    (["campaign", "--time-limit", ""], "bad duration ''"),
    (["campaign", "--seeds", "100000000"], "--seeds must be >= 1 and <= 1000"),
    (["campaign", "--max-iterations", "10000000000"], "--max-iterations must be >= 1 and <="),
    (["campaign", "--threads", "0"], "--threads must be >= 1"),
    (["campaign", "--shard-plan", "plan.json"], "--shard-plan goes with --shard I/N"),
    (["campaign", "--shard", "0/2", "--shard-plan", "no-such-plan.json"], "unreadable"),
    (["campaign", "--slurm-option", "account=xyz"], "--slurm-option is for --executor slurm"),
    (["campaign", "--slice", "12m", "--time-limit", "1h"], "--slice sets the time limit"),
    (["campaign", "--slice", "0"], "the time limit must be positive"),
    (["campaign", "--slice", "12m", "--shard", "0/2"], "--slice packs one process's slice"),
    (["campaign", "--experiments", "table1_multiseed"],
     "table1_multiseed repeats the best configurations of table1, which has missing rows"),
    # a selection that plans nothing is not a campaign "complete" with nothing computed
    (["campaign", "--experiments", "fig2", "--lengths", "20"],
     "--lengths 20: no selected experiment has runs of that length at budget smoke, nothing to "
     "plan (their lengths: 10)"),
    (["campaign", "--lengths", "999"], "--lengths 999: no selected experiment has runs"),
    (["campaign", "--plan", "evidence", "--lengths", "50", "--dry-run"],
     "--lengths 50 with --plan evidence: no selected experiment has runs"),
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
    assert git_state() == CLEAN, "bad input changed files of the checkout"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [["campaign", "--device", "cuda"],
                                  ["campaign", "--device", "cuda:1"],
                                  ["run", "lra_diff", "-p", "device", "cuda"]])
def test_cuda_on_a_cpu_only_build_is_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path / "results"))
    monkeypatch.chdir(ROOT)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "requested but this PyTorch build has no CUDA" in err or \
        "no CUDA device is visible" in err, err
    assert not (tmp_path / "results").exists()


def test_durations():
    assert parse_duration("12m") == 720 and parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90 and parse_duration("45") == 45


def test_default_threads_never_oversubscribe(monkeypatch):
    cores = cli.physical_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    for load, expected in ((0.0, min(4, cores)), (cores + 5.0, 1), (cores - 1.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        n, why = cli.default_threads()
        print(f"load {load}: {n} thread(s) ({why})")
        assert n == expected and 1 <= n <= min(4, cores)


def test_list_into_a_closed_pipe_has_no_traceback():
    # `true` exits without reading, so every write of `lra list` meets a closed pipe
    r = subprocess.run(f"{sys.executable} -m lra list | true", shell=True, cwd=ROOT,
                       capture_output=True, text=True, executable="/bin/bash")
    assert r.stderr == "", r.stderr


def test_list_and_status(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lra_diff" in out and "table1" in out and "budget=\"auto\"" in out
    assert main(["status", "--budget", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "table1" in out and "empty" in out


# ~15-20 s: two `lra run` processes, each starting a Jupyter kernel that imports PyTorch and
# executes a chapter (papermill)
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


def test_campaign_says_how_many_threads_and_complete_only_when_rows_exist(tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    base = ["campaign", "--experiments", "fig2", "--max-iterations", "20", "--device", "cpu"]
    assert main(base + ["--threads", "1"]) == 0
    out, err = capsys.readouterr()
    assert "using 1 CPU thread(s) (--threads)" in err, err
    assert "campaign smoke-cap20: complete; this process trained 1 population(s) and stored " \
        "1 row(s)" in out, out
    assert main(base) == 0                       # nothing left: complete, nothing run
    out, err = capsys.readouterr()
    # the default depends on the machine's load at that moment: check its form and range
    import re
    m = re.search(r"using (\d+) CPU thread\(s\) \((\d+) physical core\(s\), load \d+\)", err)
    assert m and 1 <= int(m.group(1)) <= min(4, int(m.group(2))), err
    assert "complete; this process trained 0 population(s) and stored 0 row(s)" in out, out


def test_verdicts_prints_each_part_with_its_rule(capsys):
    """`lra verdicts` (what the README points to): every claim part, its verdict and the rule that
    gave it, computed from results/."""
    from lra.analysis import verdicts as V
    assert main(["verdicts"]) == 0
    out = capsys.readouterr().out
    print(out[:800])
    parts = [v.part for v in V.verdicts()]
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == parts
    assert out.count("\n  rule: ") == len(parts)


def test_rerunning_a_completed_bundle_campaign_keeps_its_bundle(tmp_path, monkeypatch, capsys):
    """The same `--bundle` command run again computes nothing: it must not replace the bundle
    that carries the rows with an empty one (found by tools/trust_probes.py)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path / "results"))
    out = tmp_path / "run.tgz"
    argv = ["campaign", "--experiments", "fig2", "--max-iterations", "20", "--device", "cpu",
            "--threads", "1", "--bundle", str(out)]
    assert main(argv) == 0
    first = out.read_bytes()
    assert "1 row(s) in 1 table(s)" in capsys.readouterr().out
    assert main(argv) == 0
    said = capsys.readouterr().out
    print(said)
    assert f"bundle {out}: left as it is" in said and out.read_bytes() == first
    assert not list((tmp_path / "results" / "_bundles").glob("*.journal"))


def test_a_time_limit_stop_with_rows_missing_is_exit_1(tmp_path, monkeypatch, capsys):
    """Stopped at the time limit, the campaign is not done: exit 1 (resumable), and it says how
    many rows are missing and what this process did."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    code = main(["campaign", "--experiments", "fig2", "--device", "cpu", "--threads", "1",
                 "--time-limit", "1s"])
    out = capsys.readouterr().out
    print(code, out)
    assert code == 1
    assert "campaign smoke: stopped at the time limit with 1 row(s) missing (run again to " \
        "resume); this process trained 1 population(s) and stored 0 row(s)" in out, out


def test_counts_say_what_this_process_trained(tmp_path, monkeypatch, capsys):
    """A population another process finished after this one planned it is not counted as run
    here."""
    import lra.campaign.runner as runner
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    argv = ["campaign", "--experiments", "fig2", "--max-iterations", "20", "--device", "cpu",
            "--threads", "1"]
    real = runner.plan_campaign
    stale_plan = real(["fig2"], runner.budget_named("smoke-cap20"), runner.ResultsStore(tmp_path),
                      64)
    assert main(argv) == 0                  # "another process": every row is stored now
    capsys.readouterr()
    plans = iter([stale_plan])              # this process planned before they were stored
    monkeypatch.setattr(runner, "plan_campaign",
                        lambda *a, **k: next(plans, None) or real(*a, **k))
    assert main(argv) == 0
    out = capsys.readouterr().out
    print(out)
    assert "complete; this process trained 0 population(s) and stored 0 row(s)" in out, out
    assert "1 planned population(s) were finished by another process" in out, out


def test_a_slice_prints_its_packing_and_trains_only_what_it_packed(tmp_path, monkeypatch,
                                                                    capsys):
    """`lra campaign --slice` (issue 22, item 3): with --dry-run the packing and the share of the
    slice spent training, nothing trained; without, the packed population trained to the end."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    base = ["campaign", "--experiments", "fig2", "--max-iterations", "20", "--device", "cpu",
            "--threads", "1", "--slice", "5m"]
    assert main(base + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Slice packing: 5.0 min slice on CPU" in out, out
    assert "packed: finishes in this slice" in out and "checkpointed across slices: none" in out
    assert "self-test     0 s  (a CPU slice runs neither)" in out, out
    assert "training    230 s" in out and "every missing population is packed" in out
    assert not any(tmp_path.rglob("runs.csv"))
    # 2 s of training left (72 s less 70 s of fixed costs): the population (to its cap at the
    # smoke budget) does not fit, and 2 s are too few to start it: nothing is trained, exit 1
    assert main(base[:2] + ["fig2", "--device", "cpu", "--threads", "1", "--slice", "72s"]) == 1
    out = capsys.readouterr().out
    assert "later slice" in out and "campaign smoke: nothing fits in the slice's 2 training " \
        "seconds; nothing trained" in out, out
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "campaign smoke-cap20: complete; this process trained 1 population(s) and stored " \
        "1 row(s)" in out, out
