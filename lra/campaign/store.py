"""The results store: one tidy table per (experiment, budget), with provenance.

Layout (under ``results/`` at the repository root by default)::

    results/<experiment>/<budget>/runs.csv        one row per run (see COLUMNS): the run's
                                                  configuration, solved / diverged / stop reason,
                                                  iterations, best and final validation accuracy,
                                                  its curve (JSON), the seconds until it
                                                  stopped, the size, device and code commit of
                                                  its population, which validation samples
                                                  it got right at its best check
                                                  (lra.engine.predictions), and its accuracy and
                                                  per-sample bits on the held-out test set, at
                                                  its best check and at its end
    results/<experiment>/<budget>/meta.json       provenance of every write + the table's checksum
    results/<experiment>/<budget>/probes/<key>.json   gradient-flow probes (Figures 2-4)
    results/<experiment>/<budget>/checkpoints/    in-flight populations (not committed)

Every write goes to a temporary file that is renamed into place, so a reader (or a killed writer)
never sees half a table; the temporary file is named by its host and a random token, and removed
the next time the folder is opened only when it is provably orphaned (:mod:`lra.engine.tempfiles`:
its writer was a process of this host that no longer runs, or it is a day old; never because a PID
means nothing here, as on a folder shared with other machines). ``meta.json`` records the SHA-256
of ``runs.csv``: a truncated, edited or deleted table is reported as corrupted, never silently
overwritten or recomputed.

Readers take a shared lock on the table's ``.lock`` (writers an exclusive one) where they can, and
in any case read a consistent snapshot: a table that does not match the checksum read just before
it is read again if ``meta.json`` changed meanwhile (a write went past), so a reader never reports
a concurrent append as corruption.

A write that fails (full disk, read-only or vanished folder) raises :class:`ResultsWriteError`,
one line, after saving the rows it could not store (:mod:`lra.campaign.rescue`): the next
campaign adds them, and says so.

An append is a small journal: meta.json first announces the new table's checksum *together with
its provenance entry*, then the table is replaced, then the entry is made permanent. A reader that
finds the announced table in place counts the announced entry as written, so no kill loses a
write's provenance and none leaves a table without one.

Each row records ``code_version``, a hash of the source of the modules that determine its numbers
(:data:`CODE_MODULES`); :func:`stale_rows` finds rows computed by other code (or by code from
before the column existed: "unknown").
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import torch

# The checkout, its commit and the device's name are the engine's (it records them per training
# segment, and must not import this wing); imported here for this module and its callers.
from lra.engine.provenance import device_name, git_state, repo_root  # noqa: F401
# Temporary files and atomic writes are the engine's (its checkpoints are written the same way).
from lra.engine.tempfiles import atomic_write_bytes, clean_stale_temps, temp_path  # noqa: F401

try:  # POSIX advisory locks; elsewhere writers are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

CONFIG_COLUMNS = ["alpha", "gamma", "K", "c0", "c1", "lam", "loss", "norm", "lr_i", "lr_f",
                  "lr_g", "noise", "optimiser"]
COLUMNS = (["key", "experiment", "budget", "algorithm", "variant", "switches", "task", "T", "seed"]
           + CONFIG_COLUMNS
           + ["solved", "diverged", "stop_reason", "iterations", "best_accuracy",
              "final_accuracy", "wall_seconds", "population", "device", "commit", "curve",
              "code_version", "best_correct", "best_test_accuracy", "final_test_accuracy",
              "best_test_correct", "final_test_correct"])
# Columns a table written by older code may lack (filled in on reading: "" = unknown).
OPTIONAL_COLUMNS = {"code_version": "", "best_correct": "", "best_test_accuracy": "",
                    "final_test_accuracy": "", "best_test_correct": "", "final_test_correct": ""}

# The modules whose source determines a row's numbers (paths under lra/); their hash is the
# row's code_version. Every module of the ground, the algorithms and the engine is here or in
# NOT_NUMERIC_MODULES (tests/test_store.py checks), so a new module cannot be forgotten.
CODE_MODULES = ("tasks.py", "model.py", "algorithms/bptt.py", "algorithms/tptt.py",
                "algorithms/lra_diff.py", "algorithms/optim.py", "engine/trainer.py",
                "algorithms/chain_kernel.py", "algorithms/readout.py", "engine/predictions.py",
                "engine/results.py", "engine/validation.py", "engine/compaction.py",
                "algorithms/released_population.py")
# Modules of those wings that compute no stored number: the single-network references the tests
# compare against, the released script's step (its runs are stored by their own program), the
# CUDA-graph capture check, the commit and device names (provenance, not numbers: they lived in
# this module, never hashed, before the engine took them) and the wings' docstrings. Checkpoints
# and the CUDA graph's capture decide no number either: a resumed run ends exactly as an
# uninterrupted one (tests/engine/test_resume.py, test_compaction.py) and a replayed graph computes
# the eager step (scripts/gpu_selftest.py); how they are written and read (a safer loader, say)
# must not make every stored row stale.
NOT_NUMERIC_MODULES = ("__init__.py", "algorithms/__init__.py", "engine/__init__.py",
                       "algorithms/reference.py", "algorithms/released_script.py",
                       "engine/capture_check.py", "engine/provenance.py",
                       "engine/checkpoints.py", "engine/capture.py", "engine/tempfiles.py")
UNKNOWN_VERSION = "unknown"
# A reader that finds the table changed under it reads again; this many times at most (each retry
# needs a write to have gone past: more in a row than any writer makes in the meantime).
SNAPSHOT_TRIES = 50
_UNREAD = object()


def code_version(package_dir: Path | None = None, modules=CODE_MODULES) -> str:
    """SHA-256 (first 12 hex digits) of the source of :data:`CODE_MODULES`, in that order.

    ``package_dir`` is the ``lra`` folder (default: this installation's)."""
    h = hashlib.sha256()
    pkg = Path(package_dir) if package_dir else Path(__file__).resolve().parent.parent
    for name in modules:
        h.update(name.encode() + b"\0" + (pkg / name).read_bytes() + b"\0")
    return h.hexdigest()[:12]


def current_versions(current: str | None = None) -> set[str]:
    """The code versions whose rows count as the current code's: the current one and those
    :mod:`lra.campaign.lineage` records as computing the same numbers."""
    from lra.campaign.lineage import same_numbers_as
    current = current or code_version()
    return same_numbers_as(current)


def stale_rows(df: pd.DataFrame, current: str | None = None) -> pd.Series:
    """Boolean mask of the rows whose code_version is not the current code's (unknown included)."""
    versions_now = current_versions(current)
    if df.empty:
        return pd.Series([], dtype=bool, index=df.index)
    versions = df["code_version"] if "code_version" in df else pd.Series("", index=df.index)
    return ~versions.fillna("").astype(str).isin(versions_now)


def row_versions(df: pd.DataFrame) -> list[str]:
    """The distinct code versions of a table's rows ("unknown" for rows from before the column)."""
    if df.empty or "code_version" not in df:
        return [UNKNOWN_VERSION] if not df.empty else []
    v = df["code_version"].fillna("").astype(str).replace("", UNKNOWN_VERSION)
    return sorted(set(v))


def row_sources(df: pd.DataFrame) -> list[dict]:
    """Where a table's rows were computed: row counts per (device, commit), most rows first."""
    if df.empty:
        return []
    src = df[["device", "commit"]].fillna("unknown").astype(str)
    counts = src.groupby(["device", "commit"], sort=True).size()
    out = [dict(device=d, commit=c, rows=int(n)) for (d, c), n in counts.items()]
    return sorted(out, key=lambda m: (-m["rows"], m["device"], m["commit"]))


def solved_flags(column: pd.Series) -> pd.Series:
    """The ``solved`` column as booleans, however the CSV reader typed it."""
    return column.astype(str).str.lower() == "true"


class CorruptResults(RuntimeError):
    """A results file that cannot be trusted (truncated, edited, or not ours)."""


class ResultsWriteError(RuntimeError):
    """A results folder that cannot be written (full disk, read-only, no permission); the message
    says where the rows that could not be stored were saved."""


def default_root() -> Path:
    return Path(os.environ.get("LRA_RESULTS", repo_root() / "results"))


# The lock files each thread holds exclusively: its own reads inside them take no shared lock
# (flock locks belong to open files, so a second lock on the same file would wait for itself).
_HELD = threading.local()


def _held() -> set:
    if not hasattr(_HELD, "paths"):
        _HELD.paths = set()
    return _HELD.paths


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock (``flock``) held for the ``with`` block; blocks until free.
    Per open file, so it also orders threads of one process. A no-op where ``fcntl`` is absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        key = os.path.abspath(path)
        _held().add(key)
        try:
            yield
        finally:
            _held().discard(key)
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def read_lock(path: Path):
    """A shared advisory lock on ``path`` for the ``with`` block, where one can be had without
    writing: a missing lock file (no writer yet), a read-only store or no fcntl give no lock, and
    the reader relies on its snapshot check alone (ResultsStore._state)."""
    if fcntl is None or os.path.abspath(path) in _held():
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)          # closing the last descriptor releases the lock


def try_lease(path: Path):
    """Take an exclusive lease on ``path`` without waiting: the open file (keep it, then
    :func:`release`) or None when another process or thread holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    if fcntl is None:
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def release(lease) -> None:
    if lease is not None:
        if fcntl is not None:
            fcntl.flock(lease.fileno(), fcntl.LOCK_UN)
        lease.close()


def provenance(device: torch.device, budget: str, command: str | None = None) -> dict:
    commit, dirty = git_state()
    return dict(commit=commit, dirty=dirty, device=device_name(device), torch=torch.__version__,
                python=platform.python_version(), platform=platform.platform(),
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                budget=budget, command=command or " ".join(sys.argv))


class ResultsStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def dir(self, experiment: str, budget: str) -> Path:
        return self.root / experiment / budget

    def table_path(self, experiment: str, budget: str) -> Path:
        return self.dir(experiment, budget) / "runs.csv"

    def meta_path(self, experiment: str, budget: str) -> Path:
        return self.dir(experiment, budget) / "meta.json"

    def checkpoint_dir(self, experiment: str, budget: str) -> Path:
        d = self.dir(experiment, budget) / "checkpoints"
        clean_stale_temps(d)
        return d

    def clean(self, experiment: str, budget: str) -> None:
        """Remove temporary files left by killed writers in this table's folders."""
        d = self.dir(experiment, budget)
        for folder in (d, d / "probes", d / "checkpoints"):
            clean_stale_temps(folder)

    def probe_path(self, experiment: str, budget: str, key: str) -> Path:
        return self.dir(experiment, budget) / "probes" / f"{key}.json"

    # ------------------------------------------------------------------------- reading
    def _read(self, path: Path, what: str) -> bytes | None:
        """The bytes of a store file, None if absent; anything else unreadable is CorruptResults."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:   # a directory in its place, no permission, I/O error
            raise CorruptResults(f"{path} cannot be read as the {what} ({e.strerror or e}); "
                                 "restore it from git or move it away") from None

    def _raw_meta(self, experiment: str, budget: str, data=_UNREAD) -> dict:
        """meta.json as stored (``data``: its bytes already read, None if absent), pending write
        included."""
        path = self.meta_path(experiment, budget)
        if data is _UNREAD:
            data = self._read(path, "provenance file")
        if data is None:
            return {"writes": []}
        try:
            meta = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CorruptResults(f"{path} is not valid JSON ({e}); restore it from git") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("writes", []), list):
            raise CorruptResults(f"{path} is not a provenance record (a JSON object with a list "
                                 "of writes); restore it from git")
        meta.setdefault("writes", [])
        return meta

    def _state(self, experiment: str, budget: str):
        """(meta with any committed pending write promoted, table bytes or None): one consistent
        snapshot, read under a shared lock where one can be had (:func:`read_lock`)."""
        self.clean(experiment, budget)
        meta_path = self.meta_path(experiment, budget)
        with read_lock(self.dir(experiment, budget) / ".lock"):
            for attempt in range(SNAPSHOT_TRIES):
                meta_data = self._read(meta_path, "provenance file")
                data = self._read(self.table_path(experiment, budget), "results table")
                try:
                    return self._verified(experiment, budget, meta_data, data)
                except CorruptResults:
                    # Without the lock (read-only store, no lock file) a writer may have replaced
                    # the table between the two reads; it changed meta.json first, so an
                    # unchanged meta.json means the mismatch is real.
                    if attempt + 1 == SNAPSHOT_TRIES or \
                            self._read(meta_path, "provenance file") == meta_data:
                        raise
                    time.sleep(0.001 * attempt)

    def _verified(self, experiment, budget, meta_data, data):
        """_state of meta.json's bytes and the table's (None: absent); CorruptResults when they
        do not agree."""
        meta = self._raw_meta(experiment, budget, meta_data)
        path = self.table_path(experiment, budget)
        pending = meta.get("pending")
        if data is None:
            if meta.get("rows") or meta.get("sha256") or meta["writes"]:
                raise CorruptResults(
                    f"{path} is missing but {self.meta_path(experiment, budget)} records "
                    f"{meta.get('rows', '?')} row(s); restore it with `git checkout -- {path}` "
                    "(or remove the whole folder to recompute)")
            return meta, None
        digest = hashlib.sha256(data).hexdigest()
        if isinstance(pending, dict) and digest == pending.get("sha256") and \
                digest != meta.get("sha256"):
            # the announced table is in place: the write happened, with its provenance
            meta = {**meta, "writes": meta["writes"] + [pending["write"]],
                    "rows": pending.get("rows"), "sha256": digest}
        elif digest != meta.get("sha256") and digest != meta.get("pending_sha256"):
            # (pending_sha256: the journal of older versions, which carried no provenance)
            raise CorruptResults(
                f"{path} does not match the checksum recorded in meta.json (truncated, or edited "
                f"by hand?); restore it with `git checkout -- {path}` or move it away")
        meta.pop("pending", None)
        meta.pop("pending_sha256", None)
        return meta, data

    def meta(self, experiment: str, budget: str) -> dict:
        """The provenance record: every write (commit, device, versions, date, ...) and checksum."""
        return self._state(experiment, budget)[0]

    def load(self, experiment: str, budget: str) -> pd.DataFrame:
        """The table of (experiment, budget); empty when nothing has run. Raises CorruptResults."""
        _, data = self._state(experiment, budget)
        return self._parse(self.table_path(experiment, budget), data)

    def _parse(self, path: Path, data: bytes | None) -> pd.DataFrame:
        if data is None:
            return pd.DataFrame(columns=COLUMNS)
        try:
            # keys, commits and code versions are hex text: one in ~1,850 keys is all digits,
            # which type inference would turn into a number (never "done", then duplicated)
            df = pd.read_csv(io.BytesIO(data), keep_default_na=True,
                             dtype={"key": str, "commit": str, "code_version": str,
                                    "best_correct": str, "best_test_correct": str,
                                    "final_test_correct": str})
        except Exception as e:  # pandas raises many kinds
            raise CorruptResults(f"{path} cannot be parsed ({e})") from None
        for c, default in OPTIONAL_COLUMNS.items():
            if c not in df.columns:
                df[c] = default
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing or df["key"].isna().any() or df["key"].duplicated().any():
            raise CorruptResults(f"{path} is malformed (missing columns {missing} or bad keys)")
        return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]

    def done_keys(self, experiment: str, budget: str) -> set[str]:
        return set(self.load(experiment, budget)["key"])

    def probes(self, experiment: str, budget: str, key: str) -> list[dict] | None:
        path = self.probe_path(experiment, budget, key)
        data = self._read(path, "probe file")
        if data is None:
            return None
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CorruptResults(f"{path} is not valid JSON ({e}); restore it from git") from None

    # ------------------------------------------------------------------------- writing
    def check_writable(self) -> None:
        """Raise ResultsWriteError unless a file can be written in the store's root (read-only,
        full or unreachable folders are found before any compute)."""
        probe = temp_path(self.root / ".write-check")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as fh:
                fh.write(b"lra")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as e:
            raise ResultsWriteError(f"the results folder {self.root} cannot be written "
                                    f"({e.strerror or e}); nothing was trained") from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def append(self, experiment: str, budget: str, rows: list[dict], prov: dict,
               probes: dict[str, list] | None = None) -> int:
        """Add finished rows (those whose key is already stored are skipped). Returns the count.

        Rows lacking ``code_version`` are stamped with the current code's. Writers of one table
        take turns (an exclusive lock on its folder's ``.lock``), and each re-reads the table
        inside the lock, so concurrent campaigns never lose or duplicate rows. A write that fails
        leaves the store as it was, saves the rows (:func:`lra.campaign.rescue.save`) and raises
        ResultsWriteError."""
        try:
            with file_lock(self.dir(experiment, budget) / ".lock"):
                return self._append_locked(experiment, budget, rows, prov, probes)
        except OSError as e:
            from lra.campaign.rescue import save
            # stamped now: the code that computed them, whatever code later stores them
            version = code_version()
            rows = [{**r, "code_version": r.get("code_version") or version} for r in rows]
            saved = save(self.root, experiment, budget, rows, prov, probes)
            where = (f"the {len(rows)} computed row(s) are saved in {saved}: the next "
                     "`lra campaign` adds them" if saved else
                     f"the {len(rows)} computed row(s) could not be saved anywhere either: "
                     "the next `lra campaign` computes them again (from the population's "
                     "checkpoint, where one was written)")
            raise ResultsWriteError(f"cannot write {experiment}/{budget} in {self.root} "
                                    f"({e.strerror or e}); {where}") from None

    def _append_locked(self, experiment, budget, rows, prov, probes) -> int:
        meta, data = self._state(experiment, budget)        # also validates the files
        existing = self._parse(self.table_path(experiment, budget), data)
        have = set(existing["key"])
        new = [r for r in rows if r["key"] not in have]
        if not new:
            return 0
        version = code_version()
        new = [{**r, "code_version": r.get("code_version") or version} for r in new]
        for key, p in (probes or {}).items():
            if key in {r["key"] for r in new}:
                atomic_write_bytes(self.probe_path(experiment, budget, key),
                                   json.dumps(p).encode())
        df = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in new], columns=COLUMNS)
        table = df if existing.empty else pd.concat([existing[COLUMNS], df], ignore_index=True)
        table = table.sort_values(["task", "T", "key"], kind="stable")
        data = table.to_csv(index=False).encode()
        digest = hashlib.sha256(data).hexdigest()
        entry = {**prov, "rows_added": len(new), "code_version": version}
        # Three atomic steps, each leaving a store that verifies: announce the new table with its
        # provenance entry, replace the table, then make the entry permanent. A kill after the
        # second step loses nothing: readers promote the announced entry (see _state).
        self._write_meta(experiment, budget, {**meta, "pending": {
            "sha256": digest, "rows": len(table), "write": entry}})
        atomic_write_bytes(self.table_path(experiment, budget), data)
        meta = {**meta, "writes": meta["writes"] + [entry], "experiment": experiment,
                "budget": budget, "rows": len(table), "sha256": digest}
        self._write_meta(experiment, budget, meta)
        return len(new)

    def _write_meta(self, experiment, budget, meta):
        atomic_write_bytes(self.meta_path(experiment, budget), json.dumps(meta, indent=1).encode())
