"""scripts/device_campaign.sh end to end on the CPU (issue 14, item 4): a copy of a clean commit
without .git (as the device tool sends it, with .git-commit) runs one tiny experiment at the smoke
budget, packed by the slice packer (issue 22, item 3), and returns a bundle; scripts/unpack_device_slice.sh ingests it into a fresh results folder
of a checkout that has the commit, and refuses it in one that does not."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_bundle import git, make_checkout

from lra.campaign.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]


def run(cmd, cwd, **env):
    e = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    for k in ("LRA_RESULTS", "LRA_GIT_COMMIT", "LRA_GIT_DIRTY", "PYTHONPATH",
              "PYTHONDONTWRITEBYTECODE"):
        if k not in env:
            e.pop(k, None)
    return subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=600)


# ~25 s: two git checkouts and a clone, the device script end to end (a campaign in a fresh
# process) and two unpacks, each a fresh process that imports torch
def test_device_script_on_cpu_bundle_ingested(tmp_path):
    # benchmarks/: the CPU benchmark the slice packer prices populations by
    home = make_checkout(tmp_path / "home", extra=("scripts", "benchmarks"))
    commit = git(home, "rev-parse", "HEAD")
    device = tmp_path / "device"                    # what the device tool carries: no .git
    shutil.copytree(home, device, ignore=shutil.ignore_patterns(".git"))
    (device / ".git-commit").write_text(commit + "\n")
    out = tmp_path / "out"
    res = run(["bash", "scripts/device_campaign.sh", "120"], device, CPU_ONLY="1",
              BUDGET="smoke", EXPERIMENTS="fig4", MAX_ITERATIONS="20", OUT=str(out))
    print(res.stdout[-3000:], res.stderr[-2000:])
    assert res.returncode == 0
    # the slice packer (lra campaign --slice, given the seconds left of the 120): a CPU slice
    # runs no self-test and no benchmark; the one population packed
    assert "min slice on CPU" in res.stdout and "(a CPU slice runs neither)" in res.stdout
    assert "packed: finishes in this slice" in res.stdout
    assert "bundle " in res.stdout and "1 row(s) in 1 table(s)" in res.stdout
    assert "campaign exit 0: complete" in res.stdout      # (exit 1: stopped at the time limit)
    assert (out / "bundle.tgz").exists() and (out / "commit.txt").read_text().strip() == commit

    clone = tmp_path / "clone"                      # home: a fresh results folder, same history
    git(tmp_path, "clone", "-q", str(home), str(clone))
    res = run(["bash", "scripts/unpack_device_slice.sh", str(out)], clone)
    print(res.stdout, res.stderr)
    assert res.returncode == 0 and "1 row(s) added" in res.stdout, res.stderr
    a = ResultsStore(device / "results").load("fig4", "smoke-cap20")
    b = ResultsStore(clone / "results").load("fig4", "smoke-cap20")
    assert list(a["key"]) == list(b["key"]) and list(b["commit"]) == [commit[:12]]
    assert list(a["best_accuracy"]) == list(b["best_accuracy"])

    stranger = make_checkout(tmp_path / "stranger", extra=("scripts",), message="other")
    res = run(["bash", "scripts/unpack_device_slice.sh", str(out)], stranger)
    print(res.stderr)
    assert res.returncode == 2 and "not in this repository's history" in res.stderr
    assert not (stranger / "results").exists()
