"""What ``lra campaign --executor slurm`` asks Slurm for and makes of its answers (issue 24), without
a cluster: the sbatch parameters (CPUs from --threads, a GPU only for CUDA, site options), the
packing of populations into jobs by projected cost, the pending reasons that will not clear, a
job that ends without a result, and sbatch's refusal in one line. The real cluster is
tests/campaign/test_slurm_cluster.py."""
import sys
import types
from pathlib import Path

import pytest

from lra.campaign import executor as E
from lra.campaign import slurm as S
from lra.campaign.runner import budget_named, in_shard, plan_campaign
from lra.campaign.store import ResultsStore

PAPER_TABLES = ["table1", "table2", "table3", "table4"]


def test_cpus_come_from_threads_and_a_gpu_only_for_cuda():
    cpu = S.slurm_parameters(gpus=0, cpus=1, minutes=30)
    gpu = S.slurm_parameters(gpus=1, cpus=4, minutes=240, partition="gpu",
                             site={"account": "xyz"})
    print(cpu, gpu, sep="\n")
    assert cpu["cpus_per_task"] == 1 and "slurm_gres" not in cpu and "gpus_per_node" not in cpu
    assert gpu["cpus_per_task"] == 4 and gpu["slurm_gres"] == "gpu:1"
    assert gpu["slurm_partition"] == "gpu" and gpu["slurm_signal_delay_s"] == 120
    assert gpu["slurm_additional_parameters"] == {"account": "xyz"}


def test_the_job_script_carries_threads_gpu_and_site_options(tmp_path):
    """The #SBATCH lines submitit writes from those parameters (its own renderer)."""
    submitit = pytest.importorskip("submitit")
    from submitit.slurm.slurm import _make_sbatch_string
    ex = submitit.AutoExecutor(folder=str(tmp_path), cluster="slurm")
    for gpus, dev in ((0, "cpu"), (1, "cuda")):
        ex.update_parameters(**S.slurm_parameters(
            gpus=gpus, cpus=2, minutes=60,
            site=S.parse_site_options(["account=xyz", "qos=low", "exclusive"])))
        script = _make_sbatch_string(command="true", folder=tmp_path, **ex._executor.parameters)
        lines = [ln for ln in script.splitlines() if ln.startswith("#SBATCH")]
        print(dev, *lines, sep="\n  ")
        assert "#SBATCH --cpus-per-task=2" in lines
        assert "#SBATCH --account=xyz" in lines and "#SBATCH --qos=low" in lines
        assert "#SBATCH --exclusive" in lines
        assert ("#SBATCH --gres=gpu:1" in lines) == (dev == "cuda")


def test_job_device_asks_for_a_gpu_only_for_cuda(monkeypatch):
    import torch
    from lra.cli.campaign import job_device
    args = lambda d: types.SimpleNamespace(device=d)   # noqa: E731
    assert job_device(args("cpu")) == ("cpu", 0)
    assert job_device(args("cuda:3")) == ("cuda", 1)    # a job sees its one GPU as cuda
    monkeypatch.setattr(torch.version, "cuda", None)
    assert job_device(args("auto")) == ("cpu", 0)       # a CPU-only build: CPU jobs
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert job_device(args("auto")) == ("cuda", 1)


def test_site_options_pass_through_and_the_executors_own_are_refused():
    assert S.parse_site_options(["account=xyz", "--qos=normal", "mem=16G", "constraint=a100",
                                 "exclusive"]) == {
        "account": "xyz", "qos": "normal", "mem": "16G", "constraint": "a100", "exclusive": True}
    assert S.parse_site_options(None) == {}
    for bad, says in (("cpus-per-task=8", "--threads"), ("gres=gpu:2", "--device cuda"),
                      ("time=1:00:00", "--job-time"), ("=x", "NAME=VALUE")):
        with pytest.raises(ValueError) as e:
            S.parse_site_options([bad])
        print(e.value)
        assert says in str(e.value) and "\n" not in str(e.value)


def test_pending_reasons_that_will_not_clear():
    jobs = S.parse_squeue("11|PENDING|PartitionConfig|4\n12|PENDING|Resources|4\n"
                          "13|PENDING|Priority|1\n14|CANCELLED|None|1\n15|PENDING|ReqNodeNotAvail, "
                          "UnavailableNodes:n1|1\n")
    print(jobs)
    assert jobs["14"]["state"] == "CANCELLED" and jobs["11"]["cpus"] == 4
    stuck = {j: S.stuck_reason(v["reason"], v["cpus"], 2) for j, v in jobs.items()}
    print(stuck)
    assert "PartitionConfig" in stuck["11"]
    assert "asks for 4 CPUs" in stuck["12"] and "largest node has 2" in stuck["12"]
    assert stuck["13"] is None                     # a busy queue clears
    assert S.stuck_reason("Resources", 2, 2) is None and S.stuck_reason("Resources") is None
    assert "not available" in stuck["15"]


def test_populations_are_balanced_over_jobs_by_projected_cost(tmp_path):
    """Tables I-IV at the paper budget in GPU-sized populations, 8 jobs: the hash shards left
    two jobs idle while one held three; the packing gives every job work and the busiest
    job at most the optimum plus the longest population (greedy longest-first)."""
    store, budget = ResultsStore(tmp_path), budget_named("paper")
    costs = E.plan_costs(PAPER_TABLES, budget, store, 2048)
    shares = E.balance(costs, 8)
    cost = dict(costs)
    loads = [sum(cost[p] for p in s) for s in shares]
    hashed = [sum(in_shard(p, (i, 8)) for p in plan_campaign(PAPER_TABLES, budget, store, 2048))
              for i in range(8)]
    print(f"{len(costs)} populations; per job {[len(s) for s in shares]} (hash: {hashed}); "
          f"loads {[round(x) for x in loads]}")
    assert sorted(p for s in shares for p in s) == sorted(cost)
    assert len(shares) == 8 and all(shares)
    assert max(loads) <= max(sum(cost.values()) / 8, max(cost.values())) + max(cost.values())
    # fewer populations than jobs: one job each, none empty
    assert [len(s) for s in E.balance(costs[:3], 8)] == [1, 1, 1]
    assert E.balance([], 4) == []
    # each job trains exactly its share: in_shard reads the plan
    plan = {p: i for i, s in enumerate(shares) for p in s}
    pops = plan_campaign(PAPER_TABLES, budget, store, 2048)
    for i, s in enumerate(shares):
        assert sorted(p.id for p in pops if in_shard(p, (i, 8, plan))) == sorted(s)


class FakeJob:
    def __init__(self, tmp, job_id, result=None):
        self.job_id = job_id
        self.paths = types.SimpleNamespace(result_pickle=Path(tmp) / f"{job_id}.pkl",
                                           stderr=Path(tmp) / f"{job_id}.err")
        if result is not None:
            self.paths.result_pickle.write_text("x")
        self._result = result

    def done(self):
        return self.paths.result_pickle.exists()

    def result(self):
        return self._result


def test_a_cancelled_job_is_reported_not_waited_for(tmp_path, monkeypatch):
    """No accounting: squeue's answer decides. Job 1 has its result, job 2 was cancelled, job 3
    left squeue's list (ended and purged), job 4 pends for a reason that will not clear (warned
    once) and is then cancelled."""
    answers = iter([{"2": dict(state="CANCELLED", reason="None", cpus=1),
                     "4": dict(state="PENDING", reason="PartitionConfig", cpus=8)}] * 2
                   + [{"2": dict(state="CANCELLED", reason="None", cpus=1),
                       "4": dict(state="CANCELLED", reason="None", cpus=8)}] * 5)
    monkeypatch.setattr(E, "query_jobs", lambda ids: next(answers))
    monkeypatch.setattr(E, "node_cpus", lambda partition=None: 2)
    jobs = [FakeJob(tmp_path, "1", result=0), FakeJob(tmp_path, "2"), FakeJob(tmp_path, "3"),
            FakeJob(tmp_path, "4")]
    log = []
    statuses = E.wait_for("slurm", jobs, log.append, poll=0, grace=0)
    print(*log, sep="\n")
    assert statuses == [0, E.NO_RESULT, E.NO_RESULT, E.NO_RESULT]
    assert sum("pends and will not start" in line for line in log) == 1
    assert any("job 2 (shard 1/4) ended (CANCELLED) without a result" in line for line in log)
    assert any("job 3 (shard 2/4) ended (no longer listed by squeue)" in line for line in log)


def test_sbatch_refusal_is_one_line(capsys):
    """submitit prints sbatch's stderr and raises with it; the command shows one line."""
    class Refusing:
        def submit(self, job):
            print("sbatch: error: Batch job submission failed: Invalid account", file=sys.stderr)
            raise RuntimeError("sbatch: error: Batch job submission failed:\nInvalid account")
    with pytest.raises(E.SchedulerError) as e:
        E.submit(Refusing(), None)
    print(e.value)
    assert str(e.value) == ("the scheduler refused the job: sbatch: error: Batch job "
                            "submission failed: Invalid account")
    assert capsys.readouterr().err == ""


def test_a_jobs_own_error_line_is_found(tmp_path):
    job = FakeJob(tmp_path, "7")
    job.paths.stderr.write_text("submitit INFO starting\nlra: error: device 'cuda' requested but "
                                "this PyTorch build has no CUDA support; use --device cpu or "
                                "auto\nsubmitit INFO done\n")
    assert E.job_error(job).startswith("lra: error: device 'cuda' requested")
    assert E.job_error(FakeJob(tmp_path, "8")) is None


def test_a_job_gets_the_device_threads_population_and_lengths_the_parent_planned_with():
    args = types.SimpleNamespace(budget="paper", device="auto", seeds=None, max_iterations=None,
                                 population=None, lengths=None, concurrent=1)
    argv = E.shard_argv(args, ["table1"], 4, device="cuda", population=2048, lengths={20, 10})
    print(argv)
    flags = dict(zip(argv[::1], argv[1::1]))
    assert flags["--device"] == "cuda" and flags["--threads"] == "4"
    assert flags["--population"] == "2048"
    assert argv[argv.index("--lengths"):][:3] == ["--lengths", "10", "20"]
