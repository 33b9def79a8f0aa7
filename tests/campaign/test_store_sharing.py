"""A results folder shared while it is written: readers never report a concurrent append as
corruption, and no reader removes a live writer's temporary file, whatever its PID namespace
(issue 20, items 4 and 5)."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lra.campaign.store import CorruptResults, ResultsStore
from test_store import PROV, fake_rows

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PRELUDE = f"""
import json, os, sys, time
from pathlib import Path
sys.path[:0] = [{str(HERE)!r}, {str(ROOT / 'tests')!r}]
from test_store import fake_rows, PROV
import lra.campaign.store as st
"""

def _reader(store, stop, least, out):
    """Read until ``stop`` is set and at least ``least`` times; count CorruptResults."""
    reads, false, messages = 0, 0, []
    while reads < least or not stop.is_set():
        try:
            # mostly meta (the checksum check, where a race shows); every tenth a full load
            if reads % 10:
                store.meta("fig2", "smoke")
            else:
                store.load("fig2", "smoke")
        except CorruptResults as e:
            false += 1
            messages.append(str(e)[:160])
        reads += 1
    out.append(dict(reads=reads, false=false, messages=messages[:2]))


# A writer appends 150 rows, three per append (50 replacements of the table and meta.json, each
# fsync'd), while two readers make at least 1,000 reads each. Threads of this process: no
# interpreter start-up (torch's import is most of a new process's time), and the file reads
# release the interpreter lock, so the reads fall between a writer's steps as they would across
# processes. "snapshot only" runs the readers without the shared lock, as on a read-only store or
# where no lock file can be opened. A few seconds each on an idle core; up to ~25 s on a loaded
# one (two cores shared by four processes).
@pytest.mark.parametrize("mode", ["shared lock", "snapshot only"])
def test_readers_never_report_false_corruption_while_a_writer_appends(mode, tmp_path,
                                                                      monkeypatch):
    import lra.campaign.store as st
    if mode == "snapshot only":
        monkeypatch.setattr(st, "read_lock", lambda path: contextlib.nullcontext(),
                            raising=False)
    rows, least = 150, 1000
    store = ResultsStore(tmp_path)
    stop, reports = threading.Event(), []
    readers = [threading.Thread(target=_reader, args=(store, stop, least, reports))
               for _ in range(2)]
    t0 = time.monotonic()
    for r in readers:
        r.start()
    try:
        for i in range(0, rows, 3):
            ResultsStore(tmp_path).append("fig2", "smoke", fake_rows(3, start=i), PROV)
    finally:
        stop.set()
        for r in readers:
            r.join()
    print(f"{mode}: {rows} rows in {rows // 3} appends, reads {[r['reads'] for r in reports]}, false corruption "
          f"reports {[r['false'] for r in reports]} in {time.monotonic() - t0:.1f} s; "
          f"{[m for r in reports for m in r['messages']][:2]}")
    assert all(r["reads"] >= least for r in reports)
    assert [r["false"] for r in reports] == [0, 0]
    assert len(store.load("fig2", "smoke")) == rows


def test_temporary_files_are_judged_by_owner_and_age(tmp_path):
    from lra.engine.tempfiles import MAX_AGE, clean_stale_temps, owner, temp_path
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temp_path(tmp_path / "runs.csv")
    assert mine.name.startswith(f"runs.csv.tmp.{owner()}.{os.getpid()}.")
    assert temp_path(tmp_path / "runs.csv") != mine                  # a random token each
    files = {
        "live, ours": (mine, True),
        "dead, ours": (tmp_path / f"meta.json.tmp.{owner()}.{dead.pid}.0123abcd", False),
        # another host's (or PID namespace's) writer: its PID means nothing here
        "dead PID, another host": (tmp_path / f"meta.json.tmp.node7.89abcdef.{dead.pid}.0a0b0c0d",
                                   True),
        "older version's name": (tmp_path / f"x.pt.tmp.{dead.pid}", True),
        "a day old, another host": (tmp_path / "y.pt.tmp.node7.89abcdef.12.0a0b0c0d", False),
        "a day old, older version": (tmp_path / "z.pt.tmp.12", False),
        "not a temporary file": (tmp_path / "runs.csv", True),
    }
    for name, (f, _) in files.items():
        f.write_text(name)
        if "a day old" in name:
            os.utime(f, (time.time() - MAX_AGE - 60,) * 2)
    clean_stale_temps(tmp_path)
    kept = {name: f.exists() for name, (f, _) in files.items()}
    print(kept)
    assert kept == {name: keep for name, (_, keep) in files.items()}


def _free_pid(lo=20000, hi=30000) -> int:
    """A PID no process has here (so a reader judging a foreign PID here calls it dead)."""
    for pid in range(lo, hi):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("no free PID in 20000..30000")


def _unshare_or_skip() -> list[str]:
    cmd = ["unshare", "--pid", "--fork", "--mount-proc"]
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed: no second PID namespace to test with")
    probe = subprocess.run(cmd + ["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"a second PID namespace is not permitted here (unshare: "
                    f"{probe.stderr.strip()[:120]}); needs root or CAP_SYS_ADMIN")
    return cmd


PAUSED_WRITER = PRELUDE + """
ready, go = Path(sys.argv[2]), Path(sys.argv[3])
real = os.replace
def paused(src, dst):          # the first rename waits: the temporary file stays, live
    if not ready.exists():
        ready.write_text(json.dumps(dict(pid=os.getpid(), temp=str(src))))
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    real(src, dst)
os.replace = paused
st.ResultsStore(sys.argv[1]).append("fig2", "smoke", fake_rows(3), PROV)
print("appended")
"""


def test_a_live_writer_in_another_pid_namespace_keeps_its_temporary_file(tmp_path):
    """The writer runs in its own PID namespace (as on another host sharing the folder, or in
    another container), under a PID that no process has in the reader's: the reader's cleanup
    must leave its temporary file alone, and the write must complete."""
    cmd = _unshare_or_skip()
    pid = _free_pid()
    results, ready, go = tmp_path / "results", tmp_path / "ready", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(PAUSED_WRITER)
    # in the new namespace, the next PID is `pid`: the writer's
    shell = (f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid; "
             f"{sys.executable} {script} {results} {ready} {go}; exit $?")
    writer = subprocess.Popen(cmd + ["sh", "-c", shell], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None, writer.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the writer never reached its first rename"
            time.sleep(0.01)
        time.sleep(0.05)                        # the ready file is complete
        info = json.loads(ready.read_text())
        temp = Path(info["temp"])
        print(f"writer PID {info['pid']} in its namespace; temporary file {temp.name}")
        assert info["pid"] == pid and temp.exists()
        # what every reader does first (a load would then wait for the writer's lock)
        ResultsStore(results).clean("fig2", "smoke")
        survived = temp.exists()
    finally:
        go.touch()
        out, err = writer.communicate(timeout=120)
    print(f"temporary file survived the reader's cleanup: {survived}; writer exit "
          f"{writer.returncode}")
    assert survived, "the reader removed a live writer's temporary file"
    assert writer.returncode == 0 and "appended" in out, err[-2000:]
    assert len(ResultsStore(results).load("fig2", "smoke")) == 3
