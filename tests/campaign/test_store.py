"""Results store and campaigns: provenance, no recomputation, corruption, SIGKILL and resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lra.campaign.experiments import get_budget, get_experiment
from lra.campaign.planning import merge, population_key
from lra.campaign.runner import budget_with_cap, missing_runs, run_experiments
from lra.campaign.store import COLUMNS, CorruptResults, ResultsStore

ROOT = Path(__file__).resolve().parents[2]
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
    groups = merge({"table1": t1}, 2048)
    assert all(len({population_key(r) for r in p.runs}) == 1 for p in groups)
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


# 120 iterations: past the smoke budget's first checkpoint (every 100) of a population in flight,
# and the BPTT curriculum still climbs T = 10, 20, 30 (random_permutation solves T = 20 at 100)
CAP = 120


def campaign_cmd(results):
    return ([sys.executable, "-m", "lra", "campaign", "--budget", "smoke", "--experiments",
             "table1", "table5_bptt", "--max-iterations", str(CAP), "--device", "cpu"],
            {**os.environ, "LRA_RESULTS": str(results), "OMP_NUM_THREADS": "1"})


def stable(df):
    return df.drop(columns=VOLATILE).sort_values("key").reset_index(drop=True)


def kill_when(cmd, env, ready, what, timeout=600):
    """Start the campaign and SIGKILL it as soon as ``ready()`` holds (polled every 20 ms): the
    point of the kill is what the campaign has done, not a time, whatever the machine's load."""
    p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert p.poll() is None, f"the campaign ended (exit {p.returncode}) before {what}"
            assert time.monotonic() < deadline, f"no {what} in {timeout} s"
            time.sleep(0.02)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


# ~40 s on an idle core: the campaign runs three times (uninterrupted, killed twice, resumed;
# its three LRA-diff populations at K = 10 most of it)
def test_sigkill_mid_campaign_then_resume_equals_uninterrupted(tmp_path):
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    cmd, env = campaign_cmd(ref_dir)
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    cmd, env = campaign_cmd(killed_dir)
    budget = f"smoke-cap{CAP}"
    # kill twice, at different points: right after the first rows are stored (between two
    # populations, or between the table write and its provenance entry), then in the middle of a
    # population, once it has written a checkpoint (the resume then starts from it)
    kill_when(cmd, env, (killed_dir / "table1" / budget / "runs.csv").exists, "a stored row")
    partial = ResultsStore(killed_dir).load("table1", budget)
    kill_when(cmd, env, lambda: any(killed_dir.glob("_populations/*/*.pt")), "a checkpoint")
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    for exp in ("table1", "table5_bptt"):
        ref = ResultsStore(ref_dir).load(exp, budget)
        got = ResultsStore(killed_dir).load(exp, budget)
        assert len(ref) > 0
        assert not got["key"].duplicated().any()
        pd.testing.assert_frame_equal(stable(ref), stable(got), check_dtype=False)
    assert 0 < len(partial) < len(ResultsStore(ref_dir).load("table1", budget))
    assert not any(killed_dir.glob("_populations/*/*.pt"))     # the resume finished every one


# ------------------------------------------------------------------ broken stores, kills, versions
def fake_rows(n, start=0, **extra):
    """Rows with every column, as the runner writes them (no training needed)."""
    rows = []
    for i in range(start, start + n):
        r = {c: None for c in COLUMNS if c != "code_version"}
        r.update(key=f"k{i:04d}", experiment="fig2", budget="smoke", algorithm="lra_diff",
                 variant="paper", switches="", task="random_permutation", T=10, seed=i,
                 solved=False, diverged=False, stop_reason="cap", iterations=40,
                 best_accuracy=0.5, final_accuracy=0.5, wall_seconds=1.0, population=1,
                 device="CPU", commit="abc", curve="[]", **extra)
        rows.append(r)
    return rows


PROV = dict(commit="abc", dirty=False, device="CPU", torch="x", python="x", platform="x",
            date="x", budget="smoke", command="test")


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def cli(args, results, **kw):
    env = {**os.environ, "LRA_RESULTS": str(results), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "lra", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=kw.get("timeout", 120))


def one_line_exit_2(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("lra: error: "), r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr


CORRUPTIONS = {
    "meta.json is a directory": lambda d: ((d / "meta.json").unlink(), (d / "meta.json").mkdir()),
    "runs.csv is a directory": lambda d: ((d / "runs.csv").unlink(), (d / "runs.csv").mkdir()),
    "meta.json holds null": lambda d: (d / "meta.json").write_text("null"),
    "meta.json holds a list": lambda d: (d / "meta.json").write_text("[1, 2]"),
    "meta.json truncated": lambda d: (d / "meta.json").write_bytes(
        (d / "meta.json").read_bytes()[:40]),
    "runs.csv truncated": lambda d: (d / "runs.csv").write_bytes(
        (d / "runs.csv").read_bytes()[:100]),
    "runs.csv deleted": lambda d: (d / "runs.csv").unlink(),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS))
@pytest.mark.parametrize("command", ["campaign", "status"])
def test_broken_store_is_one_line_exit_2_and_nothing_written(corrupt, command, tmp_path):
    budget = "smoke-cap40" if command == "campaign" else "smoke"
    store = ResultsStore(tmp_path)
    store.append("fig2", budget, fake_rows(2), PROV)
    CORRUPTIONS[corrupt](tmp_path / "fig2" / budget)
    before = snapshot(tmp_path)
    args = (["campaign", "--budget", "smoke", "--experiments", "fig2", "--max-iterations", "40",
             "--device", "cpu"] if command == "campaign" else ["status", "--budget", "smoke"])
    r = cli(args, tmp_path)
    one_line_exit_2(r, str(tmp_path / "fig2" / budget))
    assert "{path}" not in r.stderr
    assert snapshot(tmp_path) == before                       # nothing written, nothing removed
    with pytest.raises(CorruptResults):
        store.load("fig2", budget)


def test_deleted_table_whose_meta_records_rows_is_not_recomputed(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("fig2", "smoke", fake_rows(3), PROV)
    (tmp_path / "fig2" / "smoke" / "runs.csv").unlink()
    with pytest.raises(CorruptResults, match="is missing but .*records 3 row"):
        store.load("fig2", "smoke")
    with pytest.raises(CorruptResults):
        store.append("fig2", "smoke", fake_rows(1, start=9), PROV)
    assert not (tmp_path / "fig2" / "smoke" / "runs.csv").exists()


def test_truncated_checkpoint_is_one_line_exit_2(tmp_path):
    budget = "smoke-cap40"
    store = ResultsStore(tmp_path)
    ck = store.checkpoint_dir("fig2", budget)
    ck.mkdir(parents=True)
    (ck / "0123456789abcdef.pt").write_bytes(b"PK\x03\x04 torn")
    before = snapshot(tmp_path)
    r = cli(["campaign", "--budget", "smoke", "--experiments", "fig2", "--max-iterations", "40",
             "--device", "cpu"], tmp_path)
    one_line_exit_2(r, "checkpoint", "unreadable", "0123456789abcdef.pt")
    assert snapshot(tmp_path) == before


def _writer_killed_in(step: str, results: Path, rows: int):
    """Append in a child process that dies (os._exit: no cleanup, like SIGKILL) at ``step``:
    "table" = while the new runs.csv is being written (its temporary file open), "commit" =
    after the table was replaced, before meta.json's final write."""
    code = f"""
import os, sys
sys.path[:0] = [{str(ROOT / 'tests' / 'campaign')!r}, {str(ROOT / 'tests')!r}]
from test_store import fake_rows, PROV
import lra.campaign.store as st
store = st.ResultsStore({str(results)!r})
if {step!r} == "table":
    real = os.fsync
    def die(fd):
        if os.readlink(f"/proc/self/fd/{{fd}}").split("/")[-1].startswith("runs.csv.tmp."):
            os._exit(9)
        real(fd)
    st.os.fsync = die
else:
    calls = []
    real = st.ResultsStore._write_meta
    def die(self, *a):
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)
        real(self, *a)
    st.ResultsStore._write_meta = die
store.append("fig2", "smoke", fake_rows({rows}, start=100), PROV)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 9, r.stderr


def test_killed_write_leaves_no_litter(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("fig2", "smoke", fake_rows(2), PROV)
    d = tmp_path / "fig2" / "smoke"
    # killed while writing the table: the old table stands, with its one write
    _writer_killed_in("table", tmp_path, 1)
    assert list(d.glob("*.tmp.*")), "the kill should have left a temporary file"
    assert len(store.load("fig2", "smoke")) == 2
    assert [w["rows_added"] for w in store.meta("fig2", "smoke")["writes"]] == [2]
    assert not list(d.rglob("*.tmp.*")), "a dead writer's temporary file was not cleaned"


def test_kill_after_the_table_write_loses_no_provenance(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("fig2", "smoke", fake_rows(2), PROV)
    d = tmp_path / "fig2" / "smoke"
    # killed after replacing the table: the new rows stand, *with* their provenance entry
    _writer_killed_in("commit", tmp_path, 3)
    assert len(store.load("fig2", "smoke")) == 5
    assert [w["rows_added"] for w in store.meta("fig2", "smoke")["writes"]] == [2, 3]
    # ... and the next write keeps both
    store.append("fig2", "smoke", fake_rows(1, start=200), PROV)
    meta = json.loads((d / "meta.json").read_text())
    assert [w["rows_added"] for w in meta["writes"]] == [2, 3, 1] and "pending" not in meta
    assert meta["rows"] == 6 and not list(d.rglob("*.tmp.*"))


def test_temporary_files_of_live_writers_are_kept(tmp_path):
    from lra.engine.tempfiles import owner
    d = tmp_path / "fig2" / "smoke"
    (d / "checkpoints").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = d / f"runs.csv.tmp.{owner()}.{os.getpid()}.0123abcd"
    live.write_text("in progress")
    stale = [d / f"meta.json.tmp.{owner()}.{dead.pid}.0123abcd",
             d / "checkpoints" / f"x.pt.tmp.{owner()}.{dead.pid}.89abcdef"]
    for f in stale:
        f.write_text("orphan")
    ResultsStore(tmp_path).load("fig2", "smoke")
    assert live.exists() and not any(f.exists() for f in stale)


def test_rows_record_the_code_version_and_stale_rows_are_flagged(tmp_path, monkeypatch):
    import lra.campaign.store as st
    from lra.analysis import report
    from lra.campaign.runner import status
    store = ResultsStore(tmp_path)
    store.append("fig2", "smoke", fake_rows(2), PROV)
    store.append("fig2", "smoke", fake_rows(1, start=5, code_version="0ld0ld0ld0ld"), PROV)
    df = store.load("fig2", "smoke")
    current = st.code_version()
    assert sorted(df["code_version"]) == sorted([current, current, "0ld0ld0ld0ld"])
    assert store.meta("fig2", "smoke")["writes"][0]["code_version"] == current
    assert list(st.stale_rows(df)) == [v != current for v in df["code_version"]]
    row = {r["experiment"]: r for r in status(store, ["smoke"])}["fig2"]
    assert row["stale"] == 1 and "1 row(s) from other code" in row["state"]
    note = report.budget_note("smoke", df)
    assert "1 of 3 row(s) were computed by other code" in note and "0ld0ld0ld0ld" in note
    # a table from before the column: every row is of unknown version, hence stale
    old = tmp_path / "old"
    ResultsStore(old).append("fig2", "smoke", fake_rows(2), PROV)
    d = old / "fig2" / "smoke"
    table = pd.read_csv(d / "runs.csv").drop(columns=["code_version"])
    data = table.to_csv(index=False).encode()
    meta = json.loads((d / "meta.json").read_text())
    meta["sha256"] = __import__("hashlib").sha256(data).hexdigest()
    (d / "runs.csv").write_bytes(data)
    (d / "meta.json").write_text(json.dumps(meta))
    df_old = ResultsStore(old).load("fig2", "smoke")
    assert st.stale_rows(df_old).all() and st.row_versions(df_old) == ["unknown"]
    assert "version unknown" in report.budget_note("smoke", df_old)


def test_code_version_covers_every_module_that_determines_numbers(tmp_path):
    import shutil
    import lra.campaign.store as st
    assert set(st.CODE_MODULES) == {
        "tasks.py", "model.py", "algorithms/bptt.py", "algorithms/tptt.py",
        "algorithms/lra_diff.py", "algorithms/optim.py", "algorithms/chain_kernel.py",
        "algorithms/readout.py", "engine/trainer.py", "engine/predictions.py",
        "engine/results.py", "engine/validation.py", "engine/compaction.py",
        "algorithms/released_population.py"}
    pkg = Path(st.__file__).resolve().parent.parent          # lra/ (the store is lra/campaign/)
    # every module of the ground, the algorithms and the engine is classified, once: a new one
    # cannot silently stay out of the code version
    below = {"tasks.py", "model.py", "__init__.py"} | {
        p.relative_to(pkg).as_posix() for wing in ("algorithms", "engine")
        for p in (pkg / wing).glob("*.py")}
    assert not set(st.CODE_MODULES) & set(st.NOT_NUMERIC_MODULES)
    assert below == set(st.CODE_MODULES) | set(st.NOT_NUMERIC_MODULES), \
        below ^ (set(st.CODE_MODULES) | set(st.NOT_NUMERIC_MODULES))
    base = st.code_version()
    for name in st.CODE_MODULES:
        copy = tmp_path / name.replace(".py", "")
        shutil.copytree(pkg, copy / "lra")
        (copy / "lra" / name).write_text((pkg / name).read_text() + "\n# changed\n")
        assert st.code_version(copy / "lra") != base, name
    assert st.code_version(pkg) == base


def test_status_exits_nonzero_on_a_corrupt_table(tmp_path):
    store = ResultsStore(tmp_path)
    store.append("fig2", "smoke", fake_rows(2), PROV)
    (tmp_path / "fig2" / "smoke" / "runs.csv").write_text("key\nx\n")
    r = cli(["status", "--budget", "smoke"], tmp_path)
    one_line_exit_2(r, "1 corrupt table(s)", "checksum")
    assert "fig2" in r.stdout and "CORRUPT" in r.stdout


def test_all_digit_keys_stay_text(tmp_path):
    """A hex key (or commit) made only of digits is read back as text: the row counts as done and
    appending it again adds nothing (type inference made it an integer: recomputed, duplicated)."""
    from lra.campaign.store import COLUMNS, ResultsStore
    store = ResultsStore(tmp_path)
    row = {c: None for c in COLUMNS} | dict(
        key="0123456789012345", experiment="table1", budget="smoke", task="temporal_order", T=10,
        seed=0, solved=False, iterations=1, best_accuracy=0.5, commit="1234567", curve="[]")
    prov = dict(commit="1234567", dirty=False, device="test", torch="x", python="x", date="x",
                budget="smoke", command="test")
    assert store.append("table1", "smoke", [row], prov) == 1
    print(store.done_keys("table1", "smoke"))
    assert store.done_keys("table1", "smoke") == {"0123456789012345"}
    assert store.load("table1", "smoke")["commit"].tolist() == ["1234567"]
    assert store.append("table1", "smoke", [row], prov) == 0
