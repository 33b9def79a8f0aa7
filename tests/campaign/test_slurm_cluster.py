"""The README's Slurm recipe on a real Slurm (issue 24, item 2): Debian's slurm-wlm 22.05 and munge,
one node on loopback with this machine's CPUs, no accounting (tests/campaign/slurm_cluster.py).

Checked: the recipe at the smoke budget (Table I, iterations capped at 20, --device cpu
--threads 1, two jobs) stores exactly the rows of a local sequential campaign; a job that pends
for good (more CPUs than the node has) is warned about, and once cancelled gives a clear
failure, not a wait; sbatch's refusal of a site option is one line and exit 2; a job given a GPU
whose PyTorch has none refuses to train on the CPU (one line, exit 2).

Skipped, with one line, where the cluster cannot run (not root, no apt-get, packages not
installable, a daemon that does not start). Deselect with ``-m "not slurm"``. Every daemon the
fixture started is stopped at the end, whatever happened.

Why it takes ~2 minutes (packages installed; 2 cores): the cluster is up in ~2 s; every
``lra campaign`` process (the parent, each job, the sequential run) imports PyTorch and plans the
campaign, ~5-10 s each on a shared core, and the equality run trains Table I's three smoke
populations twice (sequentially, and in two Slurm jobs beside it). The failure cases train
nothing: each costs one parent and at most one job start, plus 15 s during which a cancelled
job's result could still appear (the executor's grace for a shared filesystem).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

import slurm_cluster
from lra.campaign.store import ResultsStore

pytestmark = pytest.mark.slurm
pytest.importorskip("submitit")

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ["campaign", "--budget", "smoke", "--max-iterations", "20", "--experiments", "table1"]
BUDGET = "smoke-cap20"
VOLATILE = ["wall_seconds", "device", "commit", "population"]


@pytest.fixture(scope="module")
def cluster():
    if sys.platform != "linux":
        pytest.skip("the test Slurm cluster needs Linux (Debian's slurm-wlm and munge)")
    # a short path of its own: munged's socket path must stay under 108 characters
    root = Path(tempfile.mkdtemp(prefix="lra-slurm-"))
    try:
        c = slurm_cluster.start(root)
    except slurm_cluster.Unavailable as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"no test Slurm cluster: {e}")
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def env(cluster, results):
    # the jobs inherit this environment through sbatch (same python, same PYTHONPATH)
    return {**os.environ, **cluster.client_env(), "LRA_RESULTS": str(results),
            "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def lra(cluster, results, *extra, wait=True):
    argv = ["nice", "-n", "5", sys.executable, "-m", "lra", *RECIPE, *extra]
    if not wait:
        return subprocess.Popen(argv, env=env(cluster, results), cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(argv, env=env(cluster, results), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def table(results):
    return (ResultsStore(results).load("table1", BUDGET).drop(columns=VOLATILE)
            .sort_values("key").reset_index(drop=True))


# ~35 s: the Slurm campaign (parent + two jobs, each importing PyTorch) and the sequential run
# beside it, each training Table I's three smoke populations to 20 iterations
def test_recipe_on_slurm_equals_a_local_sequential_run(cluster, tmp_path):
    jobs = tmp_path / "jobs"
    started = time.monotonic()
    par = lra(cluster, tmp_path / "slurm", "--device", "cpu", "--threads", "1",
              "--executor", "slurm", "--jobs", "2", "--executor-folder", str(jobs), wait=False)
    seq = lra(cluster, tmp_path / "seq", "--device", "cpu", "--threads", "1")
    out, err = par.communicate(timeout=300)
    print(out, err, f"slurm campaign: {time.monotonic() - started:.0f} s", sep="\n")
    assert seq.returncode == 0, seq.stderr[-2000:]
    assert par.returncode == 0 and "complete" in out, err[-3000:] + cluster.log_tail()
    assert "--cpus-per-task=1" in err and "no GPU" in err
    assert "job(s) submitted (slurm)" in err
    a, b = table(tmp_path / "seq"), table(tmp_path / "slurm")
    print(f"table1: sequential {len(a)} rows, Slurm {len(b)} rows")
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


# ~35 s: the parent's start (~10 s), then the executor's 15 s grace after the cancel
def test_a_job_that_cannot_start_is_warned_about_and_cancelling_it_ends_the_campaign(
        cluster, tmp_path):
    """More CPUs per job than the node has: Slurm keeps it pending (PartitionConfig) for
    ever; the command says so, and once the job is cancelled (before any result) it stops
    with the reason instead of waiting."""
    threads = cluster.cpus + 1
    p = lra(cluster, tmp_path / "r", "--device", "cpu", "--threads", str(threads),
            "--executor", "slurm", "--jobs", "1", "--executor-folder", str(tmp_path / "jobs"),
            wait=False)
    deadline = time.monotonic() + 120
    queued = ""
    while time.monotonic() < deadline and p.poll() is None:
        queued = subprocess.run(["squeue", "-h", "-o", "%i %T %r"], env=env(cluster, tmp_path),
                                capture_output=True, text=True).stdout
        if "PartitionConfig" in queued:
            break
        time.sleep(1)
    print("squeue:", queued)
    assert "PartitionConfig" in queued, cluster.log_tail()
    time.sleep(3)           # the command's first look at the queue (its warning)
    subprocess.run(["scancel", queued.split()[0]], env=env(cluster, tmp_path), check=True)
    out, err = p.communicate(timeout=120)
    print(out, err, sep="\n")
    assert f"--cpus-per-task={threads}" in err
    assert "pends and will not start" in err and "PartitionConfig" in err
    assert "ended (CANCELLED) without a result" in err
    assert p.returncode == 1 and "incomplete" in out and "ended without a result" in out


def test_a_refused_submission_is_one_line(cluster, tmp_path):
    """A site option passed through to sbatch, which refuses it: one line, exit 2."""
    out = lra(cluster, tmp_path / "r", "--device", "cpu", "--threads", "1", "--executor", "slurm",
              "--slurm-option", "constraint=no-such-feature", "--executor-folder",
              str(tmp_path / "jobs"))
    print(out.stderr)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("lra: error:")]
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert errors == [out.stderr.splitlines()[-1]] and "scheduler refused" in errors[0]
    assert "Invalid feature specification" in errors[0]


# ~20 s: the parent's start and one job's (PyTorch imported twice)
def test_a_job_given_a_gpu_refuses_to_train_on_the_cpu(cluster, tmp_path):
    """The node's one (pretend) GPU is allocated; the job's PyTorch has no CUDA: the job stops
    with one line (exit 2) instead of training on the CPU, and the command says why."""
    import torch
    if torch.cuda.is_available():
        pytest.skip("this PyTorch sees a GPU: the job would train on it")
    out = lra(cluster, tmp_path / "r", "--device", "cuda", "--threads", "1",
              "--executor", "slurm", "--jobs", "1", "--executor-folder", str(tmp_path / "jobs"))
    print(out.stderr)
    assert "--gres=gpu:1" in out.stderr
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.splitlines()[-1]
    assert last.startswith("lra: error: job ") and "refused to run" in last
    assert "CUDA" in last
    assert not ResultsStore(tmp_path / "r").load("table1", BUDGET).shape[0]
