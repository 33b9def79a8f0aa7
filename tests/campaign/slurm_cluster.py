"""A throwaway single-node Slurm cluster on loopback, for tests/campaign/test_slurm_cluster.py.

Debian's ``slurm-wlm`` (22.05) and ``munge`` run as root here: munged on a key generated in a
temporary folder (its own socket, so the machine's munge, if any, is untouched), slurmctld and
slurmd in the foreground on free ports, all their state, logs and pid files in the same folder.
``ProctrackType=proctrack/linuxproc`` and ``TaskPlugin=task/none``: a container has no cgroup
tree of its own to give Slurm; ``select/cons_tres`` with one node of this machine's CPUs, so
a job asking for more CPUs than the node has is refused or pends as on a real cluster. No
accounting daemon (slurmdbd): ``sacct`` fails, as on the clusters where it is not set up, and
the executor must notice a cancelled job without it.

:func:`start` raises :class:`Unavailable` (one line) when the packages are missing and cannot
be installed, or a daemon does not come up; the caller turns that into a skip. :meth:`Cluster.stop`
ends every daemon it started (by the pid it holds), whatever happened before.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


class Unavailable(Exception):
    """Slurm cannot run here (the one-line reason a test skips with)."""


def _missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def ensure_packages(timeout: float = 120) -> None:
    """Install slurm-wlm and munge with apt-get unless already there (CI installs them in
    .ci/run ahead of the tests, so this is normally a no-op)."""
    if not _missing():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise Unavailable(f"Slurm is not installed ({', '.join(_missing())} missing) and "
                          "apt-get as root is not available to install slurm-wlm and munge")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        ok = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout).returncode == 0
        if not ok:   # a stale package list: update once, then try again
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=timeout)
            ok = subprocess.run(cmd, env=env, capture_output=True,
                                timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if not ok or _missing():
        raise Unavailable("apt-get could not install slurm-wlm and munge "
                          f"({', '.join(_missing()) or 'daemons'} missing)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path, cpus: int):
        self.root, self.cpus = Path(root), cpus
        self.procs: list[subprocess.Popen] = []
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # what the clients (sbatch, squeue, ...) need: the configuration file
    def client_env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _daemon(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.out", "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def log_tail(self, n: int = 15) -> str:
        out = []
        for f in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")):
            lines = f.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {f.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def start(self, timeout: float = 60) -> None:
        r = self.root
        m = r / "munge"
        m.mkdir(mode=0o700)
        key = m / "munge.key"
        if shutil.which("mungekey"):
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True,
                           capture_output=True, timeout=30)
        else:     # munge before 0.5.14 has no mungekey: any 1024 random bytes will do
            key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        # --force: the temporary folder's parents (/tmp) are world-writable, which munged
        # otherwise refuses; the key and socket directory themselves are root's, mode 0700
        self._daemon("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                                f"--socket={self.munge_socket}", f"--pid-file={m / 'munged.pid'}",
                                f"--seed-file={m / 'munged.seed'}",
                                f"--log-file={r / 'munged.log'}"])
        self._wait(lambda: self.munge_socket.exists(), "munged", timeout)
        for d in ("state", "spool"):
            (r / d).mkdir()
        host = socket.gethostname().split(".")[0]
        ctld, slurmd = _free_port(), _free_port()
        self.conf.write_text(f"""\
ClusterName=lratest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'slurmctld.log'}
SlurmdLogFile={r / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
MinJobAge=600
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        # one pretend GPU (a generic resource backed by /dev/null): jobs that ask for a GPU
        # start, and find that their PyTorch has none, as on a GPU node with a CPU-only build
        (r / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")
        # -i: ignore any saved state; -D: foreground, so the pid we hold is the daemon's
        self._daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._daemon("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", host])
        self._wait(self._node_idle, "the node (slurmctld + slurmd)", timeout)

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True,
                             text=True, timeout=10)
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def _wait(self, ready, what: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise Unavailable(f"{Path(dead[0].args[0]).name} exited with status "
                                  f"{dead[0].returncode} while starting "
                                  f"({self.log_tail(3).splitlines()[-1:]})")
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.5)
        raise Unavailable(f"{what} did not come up within {timeout:.0f} s")

    def stop(self) -> None:
        """End every daemon this cluster started (and the jobs' steps slurmd left), newest
        first: SIGTERM, then SIGKILL after 10 s."""
        if self.procs and all(p.poll() is None for p in self.procs):
            try:      # the jobs first, while slurmctld and slurmd can still end them
                subprocess.run(["scancel", "--full", "-u", "root"], env=self.env,
                               capture_output=True, timeout=10)
                time.sleep(1)
            except Exception:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        self.procs.clear()


def start(root: Path, cpus: int | None = None) -> Cluster:
    ensure_packages()
    c = Cluster(root, cpus or os.cpu_count() or 1)
    try:
        c.start()
    except Exception as e:
        c.stop()
        if isinstance(e, Unavailable):
            raise
        raise Unavailable(f"the test cluster did not start: {' '.join(str(e).split())[:200]}")
    return c
