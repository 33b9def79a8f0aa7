"""Campaigns through an existing scheduler: one job per shard, submitted with ``submitit``.

``lra campaign --executor local --jobs N`` runs the N shards (``--shard i/N``, see
:func:`lra.campaign.runner.in_shard`) as N local subprocesses; ``--executor slurm`` submits them as N Slurm
jobs (one GPU each unless ``--device cpu``). Every job is an ordinary ``lra campaign`` on the
shared ``results/`` (populations leased, table writes under a lock, see :mod:`lra.campaign.store`), so the
rows are those one sequential campaign computes. A round ends when every job has; rows that only
then become plannable (the seeds of a derived experiment, a curriculum's next stage) are the next
round's, until nothing is missing or a round adds nothing.

A job is :class:`submitit.helpers.Checkpointable`: stopped at its Slurm time limit (or preempted)
it is requeued, and the population in flight resumes from its last checkpoint under
``results/_populations/`` (the engine writes one every ``checkpoint_every`` iterations).

submitit is an optional dependency (``pip install 'lra-book[cluster]'``).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # the optional extra is not installed
    submitit = None
    Checkpointable = object

MAX_ROUNDS = 20


class ExecutorUnavailable(Exception):
    """The requested executor cannot run here (one line: what to install or where to run)."""


class CampaignJob(Checkpointable):
    """One shard of a campaign: ``entry(ARGV)`` in the job's process, with ``env`` set. Its exit
    status is the job's result.

    ``entry`` is the command's own ``main`` (:func:`lra.cli.main`), handed in by the command: the
    campaign wing runs it without importing the faces above it. submitit pickles it by its
    qualified name, so the job imports the same function."""

    def __init__(self, argv: list[str], env: dict[str, str], entry):
        self.argv, self.env, self.entry = list(argv), dict(env), entry

    def __call__(self) -> int:
        os.environ.update(self.env)
        return self.entry(self.argv)

    def checkpoint(self, *args, **kwargs):
        """Requeue the same shard: the campaign resumes from its populations' checkpoints."""
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def check_available(kind: str) -> None:
    """Raise ExecutorUnavailable unless ``kind`` ("local" or "slurm") can submit from here."""
    if submitit is None:
        raise ExecutorUnavailable(
            f"--executor {kind} needs submitit: pip install 'lra-book[cluster]' (or "
            "pip install -c constraints.txt submitit)")
    if kind == "slurm" and (shutil.which("sbatch") is None
                            or submitit.AutoExecutor.which() != "slurm"):
        raise ExecutorUnavailable("--executor slurm needs Slurm (sbatch) on this machine; run it "
                                  "on the cluster's login node, or use --executor local")


def job_parameters(kind: str, *, gpus: int, cpus: int, minutes: int,
                   partition: str | None = None) -> dict:
    """submitit's parameters for one shard job (AutoExecutor names; ``slurm_`` = Slurm only)."""
    params = dict(name="lra-campaign", timeout_min=minutes, cpus_per_task=cpus,
                  tasks_per_node=1, nodes=1)
    if kind == "slurm":
        # one GPU per job as a generic resource (sbatch --gres=gpu:1, known to every Slurm
        # version), and the requeue signal (USR2) two minutes before the time limit
        if gpus:
            params["slurm_gres"] = f"gpu:{gpus}"
        params["slurm_signal_delay_s"] = 120
        if partition:
            params["slurm_partition"] = partition
    else:
        params["gpus_per_node"] = min(gpus, 1)    # 0 hides every GPU from a local job
    return params


def make_executor(kind: str, folder: Path, **job):
    check_available(kind)
    ex = submitit.AutoExecutor(folder=str(folder), cluster="local" if kind == "local" else None)
    ex.update_parameters(**job_parameters(kind, **job))
    return ex


def run_sharded(kind: str, argv: list[str], jobs: int, env: dict[str, str], folder: Path, *,
                entry, gpus: int, cpus: int, minutes: int, partition: str | None, missing, stored,
                local_gpus: list[int] = (), time_limit: float | None = None, log=print):
    """Submit ``jobs`` shards of ``lra campaign ARGV`` per round (``gpus``: per Slurm job;
    ``local_gpus``: this machine's GPUs, one to each local job in turn) until ``missing()`` (rows
    still to compute, counting those unlocked so far) is 0, a round adds no row to ``stored()``
    (rows in the tables; missing rows may grow as a finished source unlocks a derived
    experiment), or ``time_limit`` seconds have passed (each round's jobs get the time left as
    their --time-limit). ``entry`` runs one shard's arguments in its job (:class:`CampaignJob`).
    Returns (rounds, exit statuses of the last round)."""
    ex = make_executor(kind, folder, gpus=gpus if kind == "slurm" else len(local_gpus),
                       cpus=cpus, minutes=minutes, partition=partition)
    statuses: list[int] = []
    before, rows_before = missing(), stored()
    start = time.monotonic()
    for rnd in range(1, MAX_ROUNDS + 1):
        limit = []
        if time_limit is not None:
            left = time_limit - (time.monotonic() - start)
            if left < 1:
                return rnd - 1, statuses
            limit = ["--time-limit", f"{int(left)}s"]
        submitted = []
        for i in range(jobs):
            if kind == "local" and local_gpus:
                # local jobs see one GPU each, in turn (submitit hides the others)
                ex.update_parameters(gpus_per_node=1,
                                     visible_gpus=(local_gpus[i % len(local_gpus)],))
            submitted.append(ex.submit(CampaignJob([*argv, *limit, "--shard", f"{i}/{jobs}"],
                                                   env, entry)))
        log(f"round {rnd}: {jobs} job(s) submitted ({kind}): "
            f"{', '.join(j.job_id for j in submitted)}; logs in {folder}")
        statuses = []
        for i, job in enumerate(submitted):
            try:
                statuses.append(int(job.result()))
            except Exception as e:  # the job raised, or was killed: its log says why
                log(f"job {job.job_id} (shard {i}/{jobs}) failed: "
                    f"{' '.join(str(e).split())[:300]}; log: {job.paths.stderr}")
                statuses.append(1)
        now, rows_now = missing(), stored()
        log(f"round {rnd}: exit statuses {statuses}; rows stored {rows_before} -> {rows_now}, "
            f"missing {before} -> {now}")
        if now == 0 or rows_now <= rows_before or any(s not in (0, 1) for s in statuses):
            return rnd, statuses
        before, rows_before = now, rows_now
    return MAX_ROUNDS, statuses


def shard_argv(args, names: list[str], threads: int | None) -> list[str]:
    """The ``lra campaign`` arguments of one job: the parent's, without executor options and
    time limit (:func:`run_sharded` gives each round the time left)."""
    argv = ["campaign", "--budget", args.budget, "--device", args.device,
            "--experiments", *names]
    for flag, value in (("--seeds", args.seeds),
                        ("--max-iterations", args.max_iterations),
                        ("--population", args.population), ("--threads", threads)):
        if value is not None:
            argv += [flag, str(value)]
    if args.lengths:
        argv += ["--lengths", *map(str, args.lengths)]
    if args.concurrent != 1:
        argv += ["--concurrent", str(args.concurrent)]
    return argv


def job_env(results_root: Path, journal: Path | None) -> dict[str, str]:
    """What every job needs from the parent: the results folder, the bundle journal (if any),
    and the parent's commit override and chain choice where set. (A job imports lra as the
    parent does: from the installed package or the inherited PYTHONPATH.)"""
    env = {"LRA_RESULTS": str(results_root)}
    if journal is not None:
        env["LRA_BUNDLE_JOURNAL"] = str(journal)
    for k in ("LRA_GIT_COMMIT", "LRA_GIT_DIRTY", "LRA_CHAIN"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env

