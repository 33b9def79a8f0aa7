"""Which population checkpoints a campaign resumes, discards, sets aside or removes.

Book chapter "The engine and its performance". A checkpoint resumes a population exactly
(:mod:`lra.engine.checkpoints`), but with the numbers of the code that wrote it: resumed by other
code, a run would store rows that no code computes, stamped with the current code's version. So
a checkpoint is resumed only when the code that wrote it is the current code (or code recorded in
:mod:`lra.campaign.lineage` as computing the same numbers), as :func:`written_by` establishes it:

* a checkpoint written by this code or later says so (``code_version``, set by the runner) or was
  stamped by hand with the evidence (``stamp``: ``tools/stamp_checkpoint.py``);
* an older one (no ``code_version``) records the commit of each training segment that ended
  cleanly (time limit, interrupt, end): its code version is the hash of that commit's
  :data:`lra.campaign.store.CODE_MODULES` (``git show``), hashed as ``code_version`` hashes them.
  It is known only when the segments cover every iteration from the first to the checkpoint's,
  from clean commits of this repository; iterations after the last segment (a process killed
  between its periodic saves) were run by code nothing names.

A checkpoint of other code is discarded (deleted, one line saying why) and its population starts
afresh. One whose code cannot be established is set aside (renamed ``<population>.pt.unverified``,
one line saying why and how to stamp it) and its population starts afresh: it may be hours of
training, and whoever knows which code wrote it can stamp it and move it back. A checkpoint whose
rows are all stored (a process killed between storing them and removing it) is removed by the
next campaign's :func:`sweep`, so that recomputing rows (the README's recipe for stale rows:
move their table away and rerun) recomputes them.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from lra.campaign.store import (CODE_MODULES, CorruptResults, code_version, current_versions,
                                release, repo_root, try_lease)
from lra.engine.checkpoints import CheckpointError, read

SET_ASIDE = ".unverified"           # suffix of a checkpoint whose code cannot be established
_COMMIT = re.compile(r"[0-9a-f]{7,40}")


def rows_fed(pop) -> dict[str, list[str]]:
    """The rows a population's checkpoint feeds: ``{experiment: [row keys]}``."""
    return {e: [r.key for _, r in pop.runs_of(e)] for e in pop.experiment_names()}


@functools.lru_cache(maxsize=64)
def commit_code_version(commit: str, root: str | None = None) -> str | None:
    """The code version of ``lra/`` at ``commit`` of the repository at ``root`` (default: this
    checkout): :func:`lra.campaign.store.code_version` of that commit's sources. None when git
    cannot show them (no such commit, no ``.git`` as on a device copy, no git)."""
    if not _COMMIT.fullmatch(commit):
        return None
    h = hashlib.sha256()
    for name in CODE_MODULES:
        try:
            out = subprocess.run(["git", "show", f"{commit}:lra/{name}"], cwd=root or repo_root(),
                                 capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode:
            return None
        # exactly code_version's hashing (lra.campaign.store): name, NUL, source, NUL
        h.update(name.encode() + b"\0" + out.stdout + b"\0")
    return h.hexdigest()[:12]


def written_by(ck: dict, root: str | None = None) -> tuple[set[str] | None, str]:
    """(the code versions that trained the checked checkpoint ``ck``, how that is known); the
    versions are None when they cannot be established (the text then says why)."""
    if ck.get("code_version"):
        how = f"stamped: {ck['stamp']}" if ck.get("stamp") else "recorded by the code"
        return {ck["code_version"]}, how
    segments = ck.get("segments") or []
    if not segments:
        return None, ("it records no code version and no training segment (saved by a process "
                      "that never ended a segment: killed, or older code)")
    after = 0
    for seg in segments:
        span = seg.get("iterations")
        if not (isinstance(span, list) and len(span) == 2 and span[0] == after + 1
                and isinstance(span[1], int) and span[1] >= span[0]):
            return None, f"its segments do not cover its iterations from {after + 1} on"
        after = span[1]
    if after != ck["iteration"]:
        return None, (f"iterations {after + 1}-{ck['iteration']} were run by a process that "
                      "recorded no commit (killed before its segment ended)")
    versions, commits = set(), []
    for seg in segments:
        commit = str(seg.get("commit", ""))
        if commit.endswith("+dirty") or not _COMMIT.fullmatch(commit):
            return None, f"a segment ran uncommitted code ({commit or 'no commit'})"
        v = commit_code_version(commit, root)
        if v is None:
            return None, f"git cannot show commit {commit} of its segments here"
        versions.add(v)
        commits.append(commit)
    return versions, f"its segments' commits {', '.join(dict.fromkeys(commits))}"


def _say(log, line: str) -> None:
    (log or (lambda s: print(s, file=sys.stderr, flush=True)))(line)


def vet(path: Path, *, log=None, root: str | None = None) -> bool:
    """Leave at ``path`` only a checkpoint the current code may resume; True when one is there.

    One of other code is deleted, one whose code cannot be established renamed to
    ``path`` + :data:`SET_ASIDE`, each with one line to ``log`` (default: stderr). An unreadable
    file is left for the engine, which refuses it in one line. The caller holds the population's
    lease."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        ck = read(path)
    except CheckpointError:
        return True
    versions, how = written_by(ck, root)
    now = code_version()
    if versions is not None and versions <= current_versions(now):
        if not ck.get("code_version"):
            _say(log, f"checkpoint {path}: code version {now} ({how}): resumed")
        return True
    if versions is not None:
        path.unlink()
        _say(log, f"checkpoint {path}: written by code version {', '.join(sorted(versions))} "
                  f"({how}), not this code's {now}: discarded, its population starts afresh")
        return False
    aside = path.with_name(path.name + SET_ASIDE)
    os.replace(path, aside)
    _say(log, f"checkpoint {path}: its code version is unknown ({how}): set aside as "
              f"{aside.name}, its population starts afresh (if you know the code that wrote it: "
              f"tools/stamp_checkpoint.py {aside} --code-version V --evidence '...', then move it "
              "back)")
    return False


def stored_rows(ck: dict, store, budget: str) -> int | None:
    """How many rows the checkpoint feeds, when every one is stored; None otherwise (or when it
    does not name them: older code's)."""
    rows = ck.get("rows")
    if not rows:
        return None
    try:
        if all(set(keys) <= store.done_keys(exp, budget) for exp, keys in rows.items()):
            return sum(len(keys) for keys in rows.values())
    except CorruptResults:          # reported where that table is read for the campaign
        return None
    return None


def sweep(folder: Path, store, budget: str, *, log=None, root: str | None = None) -> None:
    """Before a campaign: remove the checkpoints in ``folder`` whose rows are all stored, and
    :func:`vet` the others. A checkpoint whose population another process holds (it is training
    it) is left alone; a store this process cannot write is left as it is."""
    folder = Path(folder)
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else ():
        lock = path.with_suffix(".lock")
        try:
            lease = try_lease(lock)
        except OSError:
            continue
        if lease is None:
            continue
        try:
            if not path.exists():
                continue
            try:
                ck = read(path)
            except CheckpointError:
                continue            # refused in one line where it would be resumed
            n = stored_rows(ck, store, budget)
            if n is not None:
                path.unlink()
                lock.unlink(missing_ok=True)
                _say(log, f"checkpoint {path}: all {n} row(s) it fed are stored: removed")
                continue
            vet(path, log=log, root=root)
        except OSError:
            continue
        finally:
            release(lease)


def trained_iterations(folder: Path, *, root: str | None = None) -> dict[str, int]:
    """``{row key: iterations}`` that the checkpoints in ``folder`` have already trained for the
    rows they feed, counting only checkpoints the current code would resume (:func:`written_by`
    names the current code's versions): what a campaign's next stretch does not have to train
    again, for pricing what is left (``lra campaign --plan evidence --dry-run``). Read-only: an
    unreadable checkpoint, one of other code, or one whose code cannot be established counts
    nothing (the campaign would start its population afresh)."""
    folder = Path(folder)
    done: dict[str, int] = {}
    now = current_versions(code_version())
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else ():
        try:
            ck = read(path)
        except (CheckpointError, OSError):
            continue
        versions, _ = written_by(ck, root)
        if versions is None or not versions <= now:
            continue
        for keys in (ck.get("rows") or {}).values():
            for key in keys:
                done[key] = max(done.get(key, 0), int(ck["iteration"]))
    return done
