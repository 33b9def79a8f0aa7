"""Campaigns through an existing scheduler: one job per shard, submitted with ``submitit``.

``lra campaign --executor local --jobs N`` runs the campaign's populations as at most N local
subprocesses, packed by projected cost (:func:`balance`; each job's share in a plan file, ``--shard
i/N --shard-plan FILE``, see :func:`lra.campaign.runner.in_shard`); ``--executor slurm`` submits
them as Slurm jobs (``--cpus-per-task`` from ``--threads``; one GPU each only for CUDA; what is
asked of Slurm and read back from it is :mod:`lra.campaign.slurm`). Every job is an ordinary ``lra campaign`` on the
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

import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path

from lra.campaign.slurm import ENDED, node_cpus, query_jobs, slurm_parameters, stuck_reason

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # the optional extra is not installed
    submitit = None
    Checkpointable = object

MAX_ROUNDS = 20
NO_RESULT = "no result"     # the status of a job that ended without writing one


class SchedulerError(Exception):
    """The scheduler refused a job (sbatch's error, in one line)."""


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
                   partition: str | None = None, site: dict | None = None) -> dict:
    """submitit's parameters for one shard job (AutoExecutor names; ``slurm_`` = Slurm only):
    on Slurm :func:`lra.campaign.slurm.slurm_parameters`."""
    if kind == "slurm":
        return slurm_parameters(gpus=gpus, cpus=cpus, minutes=minutes, partition=partition,
                                site=site)
    return dict(name="lra-campaign", timeout_min=minutes, cpus_per_task=cpus, tasks_per_node=1,
                nodes=1, gpus_per_node=min(gpus, 1))    # 0 hides every GPU from a local job


def make_executor(kind: str, folder: Path, **job):
    check_available(kind)
    ex = submitit.AutoExecutor(folder=str(folder), cluster="local" if kind == "local" else None)
    ex.update_parameters(**job_parameters(kind, **job))
    return ex


def balance(costs: list[tuple[str, float]], jobs: int) -> list[list[str]]:
    """Populations (id, projected cost) packed into at most ``jobs`` jobs, longest first, each
    to the least loaded job so far (greedy LPT: the busiest job is within the longest
    population of the best packing). Never an empty job: with fewer populations than jobs,
    one job each."""
    bins: list[list[str]] = [[] for _ in range(max(0, min(jobs, len(costs))))]
    loads = [0.0] * len(bins)
    for pid, cost in sorted(costs, key=lambda pc: (-pc[1], pc[0])):
        i = min(range(len(bins)), key=lambda b: (loads[b], b))
        bins[i].append(pid)
        loads[i] += cost
    return bins


def plan_costs(names, budget, store, max_members: int, seeds=None, lengths=None,
               device_name: str | None = None) -> list[tuple[str, float]]:
    """The populations a campaign would train now, each with its projected cost: seconds on
    the committed benchmark of ``device_name`` (default: this machine's device), each member to
    the cap; where no benchmark fits, the planner's relative cost (member-steps to the cap) for
    all of them. Only ratios matter: they decide the packing."""
    from lra.campaign.planning import population_cost
    from lra.campaign.runner import plan_campaign
    pops = plan_campaign(names, budget, store, max_members, seeds, lengths)
    try:
        from lra.campaign.projection import project_population_seconds
        return [(p.id, project_population_seconds(
            p.head.T, [max(k, 1) for k in p.K_values], budget.max_iterations, device_name,
            task=p.head.task, check_every=budget.check_every,
            validation_size=budget.validation_size, algorithm=p.head.algorithm,
            regularised=[dict(r.config).get("lam", 0) > 0 for r in p.runs])) for p in pops]
    except Exception:   # no benchmark of that device: the relative cost is enough to pack
        return [(p.id, float(population_cost(p, budget.max_iterations))) for p in pops]


def submit(ex, job: "CampaignJob"):
    """``ex.submit(job)``, a refusal by the scheduler (sbatch's error) raised as
    :class:`SchedulerError` in one line. submitit prints sbatch's stderr before raising; that
    copy is swallowed so the command's error stays one line."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return ex.submit(job)
    except Exception as e:
        text = " ".join((str(e) or err.getvalue() or type(e).__name__).split())
        if "gres" in text.lower():
            text += " (a cluster without GPUs: use --device cpu)"
        raise SchedulerError(f"the scheduler refused the job: {text[:400]}") from None


def job_error(job) -> str | None:
    """The job's own one-line error (``lra: error: ...``) from its log, if it wrote one."""
    try:
        lines = Path(job.paths.stderr).read_text(errors="replace").splitlines()
    except OSError:
        return None
    errors = [line.strip() for line in lines if line.strip().startswith("lra: error:")]
    return errors[-1] if errors else None


def outcome(job, shard: str, log) -> int:
    """A finished job's exit status (1 where it raised or was killed: its log says why)."""
    try:
        return int(job.result())
    except Exception as e:
        log(f"job {job.job_id} (shard {shard}) failed: {' '.join(str(e).split())[:300]}; "
            f"log: {job.paths.stderr}")
        return 1


def wait_for(kind: str, submitted: list, log, *, partition: str | None = None,
             poll: float = 15.0, grace: float = 15.0) -> list:
    """Each job's exit status, once every job has one. On Slurm also asks squeue (at most every
    ``poll`` seconds; no accounting needed): a job that has ended without a result for ``grace`` seconds (cancelled,
    killed, failed at start) is reported and counts as :data:`NO_RESULT`, and a job that pends
    for a reason that will not clear is warned about once."""
    n = len(submitted)
    statuses: list = [None] * n
    ended_at: dict[str, float] = {}
    warned: set[str] = set()
    most_cpus = node_cpus(partition) if kind == "slurm" else None
    # the result files are looked for every second (a stat; a short job's end is noticed at
    # once), squeue asked less and less often, at most every 15 s (a busy controller's courtesy)
    delay = min(1.0, poll)
    ask_every, next_ask = delay, 0.0
    while any(s is None for s in statuses):
        for i, job in enumerate(submitted):
            if statuses[i] is None and (job.paths.result_pickle.exists()
                                        or (kind != "slurm" and job.done())):
                statuses[i] = outcome(job, f"{i}/{n}", log)
        waiting = [(i, j) for i, j in enumerate(submitted) if statuses[i] is None]
        if not waiting:
            break
        states = None
        if kind == "slurm" and time.monotonic() >= next_ask:
            states = query_jobs([j.job_id for _, j in waiting])
            ask_every = min(poll, ask_every * 1.5)
            next_ask = time.monotonic() + ask_every
        for i, job in waiting if states is not None else ():
            s = states.get(job.job_id)
            if s is None or s["state"] in ENDED:
                first = ended_at.setdefault(job.job_id, time.monotonic())
                if time.monotonic() - first >= grace and not job.paths.result_pickle.exists():
                    how = s["state"] if s else "no longer listed by squeue"
                    log(f"job {job.job_id} (shard {i}/{n}) ended ({how}) without a result: "
                        f"cancelled, killed or failed before it finished; log: "
                        f"{job.paths.stderr}")
                    statuses[i] = NO_RESULT
                continue
            ended_at.pop(job.job_id, None)     # preempted, then requeued: waiting again
            if s["state"] == "PENDING" and job.job_id not in warned:
                why = stuck_reason(s["reason"], s["cpus"], most_cpus)
                if why:
                    warned.add(job.job_id)
                    log(f"warning: job {job.job_id} (shard {i}/{n}) pends and will not start "
                        f"by waiting: {why}. Cancel it (scancel {job.job_id}) and submit with "
                        "other options (--threads, --partition, --job-time, --slurm-option)")
        if any(s is None for s in statuses):
            time.sleep(delay)
    return statuses


def run_sharded(kind: str, argv: list[str], jobs: int, env: dict[str, str], folder: Path, *,
                entry, gpus: int, cpus: int, minutes: int, partition: str | None, missing, stored,
                plan, site: dict | None = None, local_gpus: list[int] = (),
                time_limit: float | None = None, log=print, poll: float = 15.0):
    """Submit the populations ``plan()`` lists (id, projected cost) as at most ``jobs`` shard
    jobs of ``lra campaign ARGV`` per round, balanced by cost (:func:`balance`; each job reads
    its share from a plan file, ``--shard-plan``), until ``missing()`` (rows still to compute,
    counting those unlocked so far) is 0, a round adds no row to ``stored()`` (rows in the
    tables; missing rows may grow as a finished source unlocks a derived experiment), a job
    ends without a result or refuses (status 2), or ``time_limit`` seconds have passed (each
    round's jobs get the time left as their --time-limit). ``gpus``: per Slurm job;
    ``local_gpus``: this machine's GPUs, one to each local job in turn. ``entry`` runs one
    shard's arguments in its job (:class:`CampaignJob`). Raises :class:`SchedulerError` when the
    scheduler refuses a job. Returns (rounds, [(job, exit status)] of the last round)."""
    ex = make_executor(kind, folder, gpus=gpus if kind == "slurm" else len(local_gpus),
                       cpus=cpus, minutes=minutes, partition=partition, site=site)
    done: list = []
    before, rows_before = missing(), stored()
    start = time.monotonic()
    for rnd in range(1, MAX_ROUNDS + 1):
        limit = []
        if time_limit is not None:
            left = time_limit - (time.monotonic() - start)
            if left < 1:
                return rnd - 1, done
            limit = ["--time-limit", f"{int(left)}s"]
        pops = list(plan())
        if not pops:
            return rnd - 1, done
        shares = balance(pops, jobs)
        n = len(shares)
        plan_file = Path(folder) / "plans" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-r{rnd}.json"
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        plan_file.write_text(json.dumps({p: i for i, share in enumerate(shares) for p in share}))
        cost = dict(pops)
        top = max(cost.values()) or 1.0
        log(f"round {rnd}: {len(pops)} population(s) over {n} job(s), balanced by projected "
            f"cost: populations per job {[len(s) for s in shares]}, relative load "
            f"{[round(sum(cost[p] for p in s) / top, 2) for s in shares]}")
        submitted = []
        for i in range(n):
            if kind == "local" and local_gpus:
                # local jobs see one GPU each, in turn (submitit hides the others)
                ex.update_parameters(gpus_per_node=1,
                                     visible_gpus=(local_gpus[i % len(local_gpus)],))
            shard = ["--shard", f"{i}/{n}", "--shard-plan", str(plan_file)]
            try:
                submitted.append(submit(ex, CampaignJob([*argv, *limit, *shard], env, entry)))
            except SchedulerError:
                for job in submitted:      # no half-submitted round left running
                    job.cancel(check=False)
                raise
        log(f"round {rnd}: {n} job(s) submitted ({kind}): "
            f"{', '.join(j.job_id for j in submitted)}; logs in {folder}")
        statuses = wait_for(kind, submitted, log, partition=partition, poll=poll)
        done = list(zip(submitted, statuses))
        now, rows_now = missing(), stored()
        log(f"round {rnd}: exit statuses {statuses}; rows stored {rows_before} -> {rows_now}, "
            f"missing {before} -> {now}")
        if now == 0 or rows_now <= rows_before or any(s not in (0, 1) for s in statuses):
            return rnd, done
        before, rows_before = now, rows_now
    return MAX_ROUNDS, done


def shard_argv(args, names: list[str], threads: int | None, *, device: str | None = None,
               population: int | None = None, lengths=None) -> list[str]:
    """The ``lra campaign`` arguments of one job: the parent's, without executor options and
    time limit (:func:`run_sharded` gives each round the time left and the job's share).
    ``device``, ``population``: the job's, where the parent settles them (the population
    size the parent planned with, so the job's populations are the plan's); ``lengths``: the
    lengths it planned (``--plan evidence`` narrows them), else ``--lengths``."""
    argv = ["campaign", "--budget", args.budget, "--device", device or args.device,
            "--experiments", *names]
    for flag, value in (("--seeds", args.seeds),
                        ("--max-iterations", args.max_iterations),
                        ("--population", population or args.population),
                        ("--threads", threads)):
        if value is not None:
            argv += [flag, str(value)]
    lengths = lengths or args.lengths
    if lengths:
        argv += ["--lengths", *map(str, sorted(lengths))]
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

