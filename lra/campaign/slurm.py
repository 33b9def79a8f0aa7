"""What ``lra campaign --executor slurm`` asks Slurm for, and what it reads back (issue 24).

Kept apart from :mod:`lra.campaign.executor` (the rounds of jobs) so that each piece is a pure
function a test can call without a cluster: the sbatch parameters of a shard job
(:func:`slurm_parameters`), site options (:func:`parse_site_options`), the jobs' states as
``squeue`` reports them (:func:`parse_squeue`, :func:`query_jobs`), and which pending reasons
will not clear by waiting (:func:`stuck_reason`).

No accounting is assumed: many clusters (and the test cluster) have no ``sacct``, and submitit
then never learns that a job ended without a result. ``squeue --states=all`` still lists a job
for ``MinJobAge`` seconds (300 by default) after it ends, and a job it no longer lists has ended.
"""
from __future__ import annotations

import re
import shutil
import subprocess

# Job states after which a job writes nothing more (squeue's long names). A job being requeued
# (REQUEUED, REQUEUE_HOLD, REQUEUE_FED), completing or suspended is not finished.
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
         "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}

# Pending reasons no amount of waiting clears: the job asks for more than the partition or the
# nodes allow, names nodes, a QOS or an account it may not use, or the nodes it needs are down.
STUCK = {
    "PartitionConfig": "the job asks for more than the partition's configuration allows "
                       "(CPUs, memory, GPUs or nodes)",
    "PartitionNodeLimit": "the job asks for more nodes than the partition allows",
    "PartitionTimeLimit": "the job's time limit (--job-time) exceeds the partition's",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "ReqNodeNotAvail": "a node the job needs is not available (down, drained or reserved)",
    "BadConstraints": "no node has the constraints the job asks for",
    "InvalidAccount": "the account is not valid",
    "InvalidQOS": "the QOS is not valid",
    "QOSMaxCpuPerJobLimit": "the job asks for more CPUs than its QOS allows",
    "QOSMaxGRESPerJob": "the job asks for more GPUs than its QOS allows",
    "QOSMaxWallDurationPerJobLimit": "the job's time limit exceeds its QOS's",
    "AssocMaxWallDurationPerJobLimit": "the job's time limit exceeds its account's",
    "AssocMaxCpuPerJobLimit": "the job asks for more CPUs than its account allows",
    "NodeDown": "a node the job needs is down",
}


def slurm_parameters(*, gpus: int, cpus: int, minutes: int, partition: str | None = None,
                     site: dict | None = None) -> dict:
    """submitit's parameters for one Slurm shard job (AutoExecutor names; ``slurm_`` = Slurm
    only). ``cpus`` becomes ``--cpus-per-task`` (the job's ``--threads``); ``gpus`` > 0 asks
    for that many GPUs as a generic resource (``--gres=gpu:N``, known to every Slurm version);
    0 asks for none. ``site``: further sbatch options (``--slurm-option``), verbatim."""
    params = dict(name="lra-campaign", timeout_min=minutes, cpus_per_task=cpus,
                  tasks_per_node=1, nodes=1,
                  # the requeue signal (USR2) two minutes before the time limit
                  slurm_signal_delay_s=120)
    if gpus:
        params["slurm_gres"] = f"gpu:{gpus}"
    if partition:
        params["slurm_partition"] = partition
    if site:
        params["slurm_additional_parameters"] = dict(site)
    return params


OPTION = re.compile(r"--?([A-Za-z][A-Za-z0-9_-]*)(?:=(.*))?")


def parse_site_options(options: list[str] | None) -> dict:
    """``--slurm-option account=xyz`` (repeatable; ``--account=xyz`` and a bare flag such as
    ``exclusive`` also read) as submitit's ``slurm_additional_parameters``: {"account": "xyz",
    "exclusive": True}. Raises ValueError (one line) on a malformed option or one the executor
    sets itself."""
    own = {"cpus-per-task": "--threads", "gres": "--device cuda (one GPU per job)",
           "gpus": "--device cuda (one GPU per job)", "partition": "--partition",
           "time": "--job-time", "output": "--executor-folder", "error": "--executor-folder",
           "job-name": "(the executor names its jobs)", "signal": "(the requeue signal)",
           "ntasks-per-node": "(one task per job)", "nodes": "(one node per job)"}
    out: dict = {}
    for raw in options or []:
        m = OPTION.fullmatch(raw.strip() if raw.strip().startswith("-") else "--" + raw.strip())
        if not m:
            raise ValueError(f"--slurm-option {raw!r}: give NAME=VALUE (e.g. account=xyz) or a "
                             "bare sbatch flag (e.g. exclusive)")
        name = m.group(1).replace("_", "-")
        if name in own:
            raise ValueError(f"--slurm-option {raw!r}: the executor sets --{name} itself; use "
                             f"{own[name]}")
        out[name.replace("-", "_")] = True if m.group(2) is None else m.group(2)
    return out


def parse_squeue(text: str) -> dict[str, dict]:
    """``squeue -h -t all -o '%i|%T|%r|%C'`` lines as {job id: dict(state, reason, cpus)}."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        cpus = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
        out[parts[0]] = dict(state=parts[1].split()[0] if parts[1] else "", reason=parts[2],
                             cpus=cpus)
    return out


def query_jobs(job_ids: list[str]) -> dict[str, dict] | None:
    """The jobs' states as squeue reports them now; None when squeue cannot be asked (then
    nothing is concluded from it). A job missing from the answer has ended and been purged."""
    if not job_ids or shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids),
                              "-o", "%i|%T|%r|%C"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # squeue refuses a list of which one id is already purged ("Invalid job id"): ask one
        # at a time, a refused one being ended
        if "Invalid job id" not in out.stderr or len(job_ids) == 1:
            return {} if "Invalid job id" in out.stderr else None
        merged: dict = {}
        for j in job_ids:
            one = query_jobs([j])
            if one is None:
                return None
            merged.update(one)
        return merged
    return parse_squeue(out.stdout)


def node_cpus(partition: str | None = None) -> int | None:
    """The most CPUs of any node in the partition (sinfo), or None if sinfo cannot say."""
    if shutil.which("sinfo") is None:
        return None
    argv = ["sinfo", "-h", "-o", "%c"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    counts = [int(x.rstrip("+")) for x in out.stdout.split() if x.rstrip("+").isdigit()]
    return max(counts) if out.returncode == 0 and counts else None


def stuck_reason(reason: str, cpus: int | None = None, max_node_cpus: int | None = None):
    """Why a pending job will never start, in words (None: the reason may clear, e.g. a busy
    cluster's ``Resources`` or ``Priority``). ``Resources`` is stuck when the job asks for more
    CPUs than the largest node has."""
    reason = (reason or "").strip()
    name = reason.split(",")[0].strip()        # "ReqNodeNotAvail, UnavailableNodes:n1"
    if name in STUCK:
        size = (f" (it asks for {cpus} CPUs; the largest node has {max_node_cpus})"
                if cpus and max_node_cpus and cpus > max_node_cpus else "")
        return f"{name}: {STUCK[name]}{size}"
    if reason == "Resources" and cpus and max_node_cpus and cpus > max_node_cpus:
        return (f"Resources: the job asks for {cpus} CPUs and the largest node has "
                f"{max_node_cpus}")
    return None
