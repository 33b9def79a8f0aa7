"""Filesystem faults are one line on stderr, exit 2, nothing half-written, and no computed row is
lost (issue 20, item 7): a read-only store and an unwritable bundle path are refused before any
training; a full disk at the table or bundle write keeps the rows, and the next run says so.

Full disks are small tmpfs mounts (needs root); where mounting is not permitted the disk is
simulated instead: every fsync of a file there raises ENOSPC (said in the test's output)."""
import contextlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lra.campaign.store import ResultsStore
from test_store import PROV, cli, fake_rows, one_line_exit_2, snapshot

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ["campaign", "--budget", "smoke", "--experiments", "fig2", "--max-iterations", "40",
            "--device", "cpu"]
BUDGET = "smoke-cap40"


@contextlib.contextmanager
def small_disk(path: Path, size="2m"):
    """A tmpfs of ``size`` at ``path``: yields "tmpfs", or "simulated" where mounting fails."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"no tmpfs ({r.stderr.strip()[:100]}): a full disk is simulated (fsync: ENOSPC)")
        yield "simulated"
        return
    try:
        yield "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def read_only(path: Path, kind: str) -> None:
    """Make ``path`` read-only: remount its tmpfs, or (not root) take the write permission."""
    if kind == "tmpfs":
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
    elif os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            if p.is_dir():
                p.chmod(0o555)
    else:
        pytest.skip("root ignores permissions and no tmpfs can be mounted: no read-only folder")


# Run `lra campaign` with the disk under ``full`` filled just before ``when`` ("module:name")
# runs: the store's append or the bundle's write, i.e. after every check made before training.
FILLED = """
import errno, os, sys, importlib
full, kind, when = sys.argv[1], sys.argv[2], sys.argv[3]
mod, _, attr = when.partition(":")
target = importlib.import_module(mod)
*parents, name = attr.split(".")
for p in parents:
    target = getattr(target, p)
real = getattr(target, name)
def fill():
    if kind == "tmpfs":
        with open(os.path.join(full, "filler"), "wb") as fh:
            try:
                while True:
                    fh.write(b"x" * 65536)
                    fh.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    else:
        fsync = os.fsync
        def no_space(fd):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(full):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            fsync(fd)
        os.fsync = no_space
def filled(*a, **k):
    fill()
    return real(*a, **k)
setattr(target, name, filled)
from lra.cli import main
sys.exit(main(sys.argv[4:]))
"""


def campaign_filling(full: Path, kind: str, when: str, args, results: Path, env=None):
    env = {**os.environ, "LRA_RESULTS": str(results), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-c", FILLED, str(full), kind, when, *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp.*")]


def test_read_only_store_is_one_line_exit_2_before_training(tmp_path):
    results = tmp_path / "results"
    with small_disk(results) as kind:
        ResultsStore(results).append("fig2", "smoke", fake_rows(2), PROV)
        read_only(results, kind)
        before = snapshot(results)
        r = cli(CAMPAIGN, results)
        print(kind, r.returncode, r.stderr.strip())
        one_line_exit_2(r, str(results), "cannot be written", "nothing was trained")
        assert snapshot(results) == before


def test_full_disk_at_the_table_write_keeps_the_rows_and_the_next_run_adds_them(tmp_path,
                                                                               monkeypatch):
    results, scratch = tmp_path / "results", tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))     # where rows go when the store takes none
    with small_disk(results) as kind:
        r = campaign_filling(results, kind, "lra.campaign.store:ResultsStore.append", CAMPAIGN,
                             results)
        print(kind, r.returncode, r.stderr.strip().splitlines()[-1:])
        error_line(r, "No space left on device", "saved in", "the next `lra campaign` adds")
        assert not temps(results), f"half-written files left: {temps(results)}"
        assert ResultsStore(results).load("fig2", BUDGET).empty       # consistent, no rows
        rescued = list(scratch.rglob("*.json"))
        assert len(rescued) == 1 and str(rescued[0]) in r.stderr
        (results / "filler").unlink(missing_ok=True)                  # room again
        again = cli(CAMPAIGN, results)
        print(again.returncode, again.stderr.strip(), again.stdout.strip())
        assert again.returncode == 0, again.stderr[-2000:]
        assert "recovered 1 row(s) of fig2/smoke-cap40" in again.stderr
        assert "this process trained 0 population(s)" in again.stdout  # not computed again
        assert len(ResultsStore(results).load("fig2", BUDGET)) == 1
        assert not list(scratch.rglob("*.json"))


def error_line(r, *needles) -> None:
    """Exit 2, no traceback, and one error line, the last (after a training run's progress)."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert [ln for ln in lines if ln.startswith("lra: error: ")] == lines[-1:], r.stderr
    for n in needles:
        assert n in lines[-1], lines[-1]


def test_unwritable_bundle_path_is_one_line_exit_2_before_training(tmp_path):
    results, dest = tmp_path / "results", tmp_path / "dest"
    with small_disk(dest) as kind:
        read_only(dest, kind)
        r = cli(CAMPAIGN + ["--bundle", str(dest / "out.tgz")], results)
        print(kind, r.returncode, r.stderr.strip())
        one_line_exit_2(r, "--bundle", "cannot write there", "nothing was trained")
        assert not (results / "fig2").exists()                       # no training, no row
    r = cli(CAMPAIGN + ["--bundle", "/dev/null/out.tgz"], results)   # a file in the way
    one_line_exit_2(r, "--bundle", "cannot write there")


def test_full_bundle_destination_keeps_the_rows_and_the_next_run_packs_them(tmp_path):
    results, dest = tmp_path / "results", tmp_path / "dest"
    with small_disk(dest, size="512k") as kind:
        out = dest / "out.tgz"
        args = CAMPAIGN + ["--bundle", str(out)]
        r = campaign_filling(dest, kind, "lra.cli.campaign:write_campaign_bundle", args, results)
        print(kind, r.returncode, r.stderr.strip().splitlines()[-1:])
        error_line(r, "no bundle written", "No space left on device", "1 row(s) are stored")
        assert not out.exists() and not temps(dest) and not temps(results)
        assert len(ResultsStore(results).load("fig2", BUDGET)) == 1   # the row is stored
        (dest / "filler").unlink(missing_ok=True)
        again = cli(args, results)
        print(again.returncode, again.stderr.strip(), again.stdout.strip())
        assert again.returncode == 0, again.stderr[-2000:]
        assert "1 row(s) computed by an earlier run whose bundle was not written" in again.stderr
        with tarfile.open(out) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        assert [len(t["rows"]) for t in manifest["tables"]] == [1]
        assert not list((results / "_bundles").glob("*.journal"))     # packed: journal gone


def test_rows_a_failed_write_could_not_store_are_saved_and_added_once(tmp_path, monkeypatch):
    """In-process and fast: the table write fails (ENOSPC); the rows are saved, stamped with the
    code that computed them, and the store is as before; a recovery that fails again keeps the
    same file (no second copy); one that succeeds adds them once and removes it."""
    import errno
    import lra.campaign.store as st
    from lra.campaign import rescue
    store = ResultsStore(tmp_path / "results")
    store.append("fig2", "smoke", fake_rows(2), PROV)
    before = snapshot(store.root)
    real = st.atomic_write_bytes

    def no_space(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr(st, "atomic_write_bytes", no_space)
    with pytest.raises(st.ResultsWriteError, match="No space left on device.*saved in") as e:
        store.append("fig2", "smoke", fake_rows(3, start=10), PROV)
    print(e.value)
    after = snapshot(store.root)
    assert {k: v for k, v in after.items() if not k.startswith("_rescued")} == before
    saved = rescue.pending(store.root)
    assert len(saved) == 1 and str(saved[0][0]) in str(e.value)
    assert {r["code_version"] for r in saved[0][1]["rows"]} == {st.code_version()}
    monkeypatch.setattr(st, "code_version", lambda *a, **k: "n3wc0d3n3wc0")   # code changed since
    with pytest.raises(st.ResultsWriteError):
        rescue.recover(store, print)                          # still full: the file stays, once
    assert [f for f, _ in rescue.pending(store.root)] == [saved[0][0]]
    monkeypatch.setattr(st, "atomic_write_bytes", real)
    lines = []
    assert rescue.recover(store, lines.append) == 3
    print(lines)
    assert lines and "recovered 3 row(s) of fig2/smoke" in lines[0]
    df = store.load("fig2", "smoke")
    assert len(df) == 5 and not rescue.pending(store.root)
    assert set(df[df["key"].isin([f"k{i:04d}" for i in (10, 11, 12)])]["code_version"]) == \
        {saved[0][1]["rows"][0]["code_version"]}             # the computing code's, not today's
    assert rescue.recover(store, lines.append) == 0


# SIGKILLed right after a write completed (the rows stored, the bundle journal not yet told):
# the second complete replacement of meta.json is the end of the campaign's one append
KILLED_AFTER_A_WRITE = """
import os, signal, sys
seen, real = [], os.replace
def replace(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if str(dst).endswith("meta.json"):
        seen.append(dst)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
from lra.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_right_after_a_write_loses_no_row_from_the_bundle(tmp_path):
    """Found by tools/trust_probes.py: rows stored by a process killed before it journaled them
    were in no bundle (the rerun computed nothing, so packed nothing); the journal now names a
    write before it happens too."""
    results, out = tmp_path / "results", tmp_path / "out.tgz"
    args = CAMPAIGN + ["--bundle", str(out)]
    env = {**os.environ, "LRA_RESULTS": str(results), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", KILLED_AFTER_A_WRITE, *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr[-2000:]
    assert len(ResultsStore(results).load("fig2", BUDGET)) == 1 and not out.exists()
    again = cli(args, results)
    print(again.stdout.strip(), again.stderr.strip()[-300:])
    assert again.returncode == 0 and "trained 0 population(s)" in again.stdout
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert [len(t["rows"]) for t in manifest["tables"]] == [1]
