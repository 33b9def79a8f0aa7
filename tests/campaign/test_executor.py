"""`lra campaign --executor local`: one submitit job per shard, in rounds (issue 14, item 3).

Two local jobs must compute exactly the rows of one sequential campaign (same keys, same
numbers), including a derived experiment that only becomes plannable once its source is
complete (a second round), and their bundle must hold every row they computed."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lra.campaign import bundle as B
from lra.campaign.store import ResultsStore

pytest.importorskip("submitit")

ROOT = Path(__file__).resolve().parents[2]
EXPS = ["table1", "table1_multiseed"]
ARGS = ["campaign", "--budget", "smoke", "--max-iterations", "20", "--threads", "1",
        "--device", "cpu", "--experiments", *EXPS]
BUDGET = "smoke-cap20"
VOLATILE = ["wall_seconds", "device", "commit", "population"]


def lra(root, *extra, path=None):
    env = {**os.environ, "LRA_RESULTS": str(root), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", **({"PATH": path} if path else {})}
    return subprocess.run([sys.executable, "-m", "lra", *ARGS, *extra], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def tables(root):
    store = ResultsStore(root)
    return {e: store.load(e, BUDGET).drop(columns=VOLATILE).sort_values("key")
            .reset_index(drop=True) for e in EXPS}


# ~25 s: the campaign once in a process, then through submitit's local executor (two rounds of
# two jobs, each a fresh process that imports torch)
def test_local_executor_two_jobs_equal_one_sequential_campaign(tmp_path):
    seq = lra(tmp_path / "seq")
    assert seq.returncode == 0, seq.stderr[-2000:]
    par = lra(tmp_path / "par", "--executor", "local", "--jobs", "2",
              "--executor-folder", str(tmp_path / "jobs"), "--bundle", str(tmp_path / "b.tgz"))
    print(par.stdout, par.stderr[-3000:])
    assert par.returncode == 0 and "complete" in par.stdout, par.stderr[-3000:]
    rounds = [line for line in par.stderr.splitlines() if "job(s) submitted (local)" in line]
    assert len(rounds) == 2          # the multi-seed rows wait for table1: a second round
    # table1's three populations packed by cost into the two jobs, none idle
    assert "3 population(s) over 2 job(s)" in par.stderr
    a, b = tables(tmp_path / "seq"), tables(tmp_path / "par")
    for e in EXPS:
        print(f"{e}: sequential {len(a[e])} rows, executor {len(b[e])} rows")
        assert len(a[e]) == len(b[e]) > 0
        pd.testing.assert_frame_equal(a[e], b[e], check_dtype=False)
    m = B.read_bundle(tmp_path / "b.tgz").manifest
    packed = {t["experiment"]: sorted(r["key"] for r in t["rows"]) for t in m["tables"]}
    assert packed == {e: sorted(b[e]["key"]) for e in EXPS}
    assert not (tmp_path / "b.tgz.journal").exists()


def test_slurm_without_slurm_is_one_clear_line(tmp_path):
    # a PATH without sbatch, also where CI has installed Slurm for tests/campaign/test_slurm_cluster.py
    out = lra(tmp_path, "--executor", "slurm", path=str(Path(sys.executable).parent))
    print(out.stderr)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--executor slurm needs Slurm" in out.stderr


def test_executor_without_submitit_is_one_clear_line(monkeypatch, capsys, tmp_path):
    import lra.campaign.executor
    from lra.cli import main
    monkeypatch.setattr(lra.campaign.executor, "submitit", None)
    monkeypatch.setenv("LRA_RESULTS", str(tmp_path))
    for kind in ("local", "slurm"):
        code = main([*ARGS[:1], "--budget", "smoke", "--experiments", "fig2", "--executor", kind])
        err = capsys.readouterr().err
        print(err)
        assert code == 2 and err.count("\n") == 1 and "needs submitit" in err
        assert "lra-book[cluster]" in err
    assert not any(tmp_path.iterdir())


def test_slurm_jobs_ask_for_one_gpu_and_a_requeue_signal():
    """What sbatch is asked for (no Slurm needed): one GPU per job as a generic resource, the
    time limit, and USR2 two minutes before it (submitit then requeues the Checkpointable job)."""
    from submitit.helpers import Checkpointable
    from lra.campaign.executor import CampaignJob, job_parameters
    p = job_parameters("slurm", gpus=1, cpus=8, minutes=240, partition="gpu")
    print(p)
    assert p["slurm_gres"] == "gpu:1" and "gpus_per_node" not in p
    assert p["timeout_min"] == 240 and p["slurm_signal_delay_s"] == 120
    assert p["slurm_partition"] == "gpu" and p["cpus_per_task"] == 8
    assert job_parameters("local", gpus=0, cpus=1, minutes=5)["gpus_per_node"] == 0
    from lra.cli import main
    job = CampaignJob(["campaign", "--shard", "0/2"], {"LRA_RESULTS": "/x"}, main)
    assert isinstance(job, Checkpointable)
    again = job.checkpoint()               # what submitit resubmits at the time limit
    assert again.function is job and again.function.argv == job.argv
    assert again.function.entry is main
