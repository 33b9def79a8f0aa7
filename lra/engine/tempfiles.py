"""Temporary files of atomic writes: named by their writer, removed only when provably orphaned.

Every file the project writes goes first to ``NAME.tmp.<host>.<ns>.<pid>.<token>`` (renamed into
place when complete): ``host`` is this machine's name, ``ns`` a hash of its boot and PID namespace
(two containers, or a job and a login node with one hostname, differ in it), ``pid`` the writer's
process id there and ``token`` random. A results folder may be shared (NFS, a volume mounted by
several containers, a Slurm cluster), so a PID means something only to the writer's own host and
namespace: a temporary file is removed when its owner is this host and namespace and its PID no
longer runs, or, whoever wrote it, when it has not been touched for :data:`MAX_AGE` seconds (no
write takes that long; it also clears the ``NAME.tmp.PID`` files of older versions). A failed
write removes its own temporary file, so a full disk or a read-only folder leaves nothing
half-written.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import socket
import time
from pathlib import Path

# A day: far beyond the longest write (a checkpoint, seconds), and beyond any clock skew between
# the hosts that share a folder.
MAX_AGE = 24 * 3600
TEMP = re.compile(r"\.tmp\.(?:([A-Za-z0-9-]+)\.([0-9a-f]{8})\.(\d+)\.[0-9a-f]{8}|(\d+))$")


@functools.lru_cache(maxsize=None)
def owner() -> str:
    """``<host>.<ns>``: this machine's name (letters, digits, '-') and 8 hex digits of its boot
    id and PID namespace; what a temporary file's name says about who may judge its PID."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
    ident = [host]
    for probe in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                  lambda: os.readlink("/proc/self/ns/pid")):
        try:
            ident.append(probe())
        except OSError:      # not Linux: the host name alone (and the age rule) must do
            ident.append("?")
    return f"{host}.{hashlib.sha256(chr(0).join(ident).encode()).hexdigest()[:8]}"


def temp_path(path: str | Path) -> Path:
    """Where a write of ``path`` goes first (same folder, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f"{path.name}.tmp.{owner()}.{os.getpid()}.{secrets.token_hex(4)}")


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True           # exists (someone else's) or cannot tell: leave its file alone
    return True


def orphaned(path: Path, now: float | None = None) -> bool:
    """Whether ``path``, a temporary file, may be removed: its writer is ours and dead, or it is
    older than :data:`MAX_AGE`. Anything not named as a temporary file is never orphaned."""
    m = TEMP.search(path.name)
    if not m:
        return False
    host, ns, pid = m.group(1), m.group(2), m.group(3)
    if pid is not None and f"{host}.{ns}" == owner() and not pid_alive(int(pid)):
        return True
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age > MAX_AGE


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove the orphaned temporary files in ``folder`` (see :func:`orphaned`)."""
    removed = []
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return removed
    for f in entries:
        try:
            if f.is_file() and orphaned(f):
                f.unlink()
                removed.append(f)
        except OSError:
            pass
    return removed


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(fh)`` on a temporary file, fsync, rename it to ``path``: a reader never sees
    half a file; on any failure the temporary file is removed and the error raised."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))
