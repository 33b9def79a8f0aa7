"""Results store and campaigns: provenance, no recomputation, corruption, SIGKILL and resume."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lra.experiments import get_budget, get_experiment, plans
from lra.runner import budget_with_cap, missing_runs, run_experiments
from lra.store import COLUMNS, CorruptResults, ResultsStore

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ["wall_seconds", "device", "commit"]


def quick(store, names=("fig2",), cap=40):
    return run_experiments(list(names), "smoke", device="cpu", max_iterations=cap, store=store,
                           log=lambda s: None)


def test_rows_have_provenance_and_are_never_recomputed(tmp_path):
    store = ResultsStore(tmp_path)
    res = quick(store)
    assert res["finished"] and res["budget"] == "smoke-cap40"
    df = store.load("fig2", "smoke-cap40")
    assert list(df.columns) == COLUMNS and len(df) == 1
    row = df.iloc[0]
    assert row.iterations == 40 and row.budget == "smoke-cap40" and row.device.startswith("CPU")
    meta = store.meta("fig2", "smoke-cap40")
    w = meta["writes"][0]
    for k in ("commit", "dirty", "device", "torch", "python", "date", "budget", "command"):
        assert k in w
    assert store.probes("fig2", "smoke-cap40", row.key)            # Figure 2 probes stored
    before = (tmp_path / "fig2" / "smoke-cap40" / "runs.csv").read_bytes()
    again = quick(store)
    assert again["plans_run"] == 0
    assert (tmp_path / "fig2" / "smoke-cap40" / "runs.csv").read_bytes() == before


def test_truncated_or_edited_table_is_reported_not_overwritten(tmp_path):
    store = ResultsStore(tmp_path)
    quick(store)
    path = tmp_path / "fig2" / "smoke-cap40" / "runs.csv"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                       # truncated
    with pytest.raises(CorruptResults, match="checksum"):
        store.load("fig2", "smoke-cap40")
    with pytest.raises(CorruptResults):
        quick(store, cap=40)
    assert path.read_bytes() == data[: len(data) // 2]
    (tmp_path / "fig2" / "smoke-cap40" / "meta.json").write_text("{not json")
    with pytest.raises(CorruptResults, match="not valid JSON"):
        store.load("fig2", "smoke-cap40")


def test_budget_cap_override_is_stored_under_its_own_name():
    b = budget_with_cap(get_budget("paper"), 500)
    assert b.name == "paper-cap500" and "overridden" in b.description
    assert budget_with_cap(get_budget("paper"), None).name == "paper"
    with pytest.raises(ValueError):
        get_budget("huge")


def test_specs_expand_to_the_paper_grid():
    t1 = get_experiment("table1").runs(get_budget("paper"))
    assert len(t1) == 3 * 3 * 3 * 5 * 3                           # tasks x T x alpha x gamma x K
    assert len({r.key for r in t1}) == len(t1)
    groups = plans(t1, 2048)
    assert all(len({r.group() for r in p}) == 1 for p in groups)
    assert len(get_experiment("table4").runs(get_budget("paper"))) == 45 * 16
    smoke = get_experiment("table1").runs(get_budget("smoke"))
    assert {r.T for r in smoke} == {10} and len(smoke) < len(t1)


def test_curriculum_unlocks_the_next_length_only_after_success(tmp_path):
    store = ResultsStore(tmp_path)
    exp, budget = get_experiment("table5_bptt"), get_budget("smoke")
    first = missing_runs(exp, budget, store)
    assert {r.T for r in first} == {10}
    run_experiments(["table5_bptt"], "smoke", device="cpu", store=store, log=lambda s: None)
    df = store.load("table5_bptt", "smoke")
    for task, d in df.groupby("task"):
        solved = d.groupby("T").solved.any()
        Ts = sorted(solved.index)
        assert Ts == list(range(10, 10 * len(Ts) + 1, 10))          # 10, 20, ... no gaps
        assert all(solved[T] for T in Ts[:-1])                      # every stage but the last solved
        assert not solved[Ts[-1]] or Ts[-1] == budget.max_length    # stopped at a failure or the top
    assert missing_runs(exp, budget, store) == []


def campaign_cmd(results):
    return ([sys.executable, "-m", "lra", "campaign", "--budget", "smoke", "--experiments",
             "table1", "table5_bptt", "--max-iterations", "250", "--device", "cpu"],
            {**os.environ, "LRA_RESULTS": str(results), "OMP_NUM_THREADS": "1"})


def stable(df):
    return df.drop(columns=VOLATILE).sort_values("key").reset_index(drop=True)


def test_sigkill_mid_campaign_then_resume_equals_uninterrupted(tmp_path):
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    cmd, env = campaign_cmd(ref_dir)
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    cmd, env = campaign_cmd(killed_dir)
    budget = "smoke-cap250"
    for delay in (3.0, 2.0):          # kill twice, at different points
        p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
    partial = ResultsStore(killed_dir).load("table1", budget) if (
        killed_dir / "table1" / budget / "runs.csv").exists() else pd.DataFrame()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    for exp in ("table1", "table5_bptt"):
        ref = ResultsStore(ref_dir).load(exp, budget)
        got = ResultsStore(killed_dir).load(exp, budget)
        assert len(ref) > 0
        assert not got["key"].duplicated().any()
        pd.testing.assert_frame_equal(stable(ref), stable(got), check_dtype=False)
    assert len(partial) < len(ResultsStore(ref_dir).load("table1", budget))
