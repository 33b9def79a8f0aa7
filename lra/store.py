"""The results store: one tidy table per (experiment, budget), with provenance.

Layout (under ``results/`` at the repository root by default)::

    results/<experiment>/<budget>/runs.csv        one row per run (see COLUMNS): the run's
                                                  configuration, solved / diverged / stop reason,
                                                  iterations, best and final validation accuracy,
                                                  its curve (JSON), and the wall time, size,
                                                  device and code commit of its population
    results/<experiment>/<budget>/meta.json       provenance of every write + the table's checksum
    results/<experiment>/<budget>/probes/<key>.json   gradient-flow probes (Figures 2-4)
    results/<experiment>/<budget>/checkpoints/    in-flight populations (not committed)

Every write goes to a temporary file that is renamed into place, so a reader (or a killed writer)
never sees half a table. ``meta.json`` records the SHA-256 of ``runs.csv``: a truncated or edited
table is reported as corrupted, never silently overwritten.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

CONFIG_COLUMNS = ["alpha", "gamma", "K", "c0", "c1", "lam", "loss", "norm", "lr_i", "lr_f",
                  "lr_g", "noise", "optimiser"]
COLUMNS = (["key", "experiment", "budget", "algorithm", "variant", "switches", "task", "T", "seed"]
           + CONFIG_COLUMNS
           + ["solved", "diverged", "stop_reason", "iterations", "best_accuracy",
              "final_accuracy", "wall_seconds", "population", "device", "commit", "curve"])


def solved_flags(column: pd.Series) -> pd.Series:
    """The ``solved`` column as booleans, however the CSV reader typed it."""
    return column.astype(str).str.lower() == "true"


class CorruptResults(RuntimeError):
    """A results file that cannot be trusted (truncated, edited, or not ours)."""


def repo_root() -> Path:
    """The project checkout: the nearest folder above the working directory holding ``_toc.yml``
    (so a non-editable install still finds ``results/`` and ``book/``), else the package's parent."""
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "_toc.yml").exists() and (d / "book").is_dir():
            return d
    return Path(__file__).resolve().parent.parent


def default_root() -> Path:
    return Path(os.environ.get("LRA_RESULTS", repo_root() / "results"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def git_state() -> tuple[str, bool]:
    """(commit, dirty) of the code that produced a result.

    Where the checkout has no .git (a copy sent to a GPU machine), LRA_GIT_COMMIT names the
    commit the copy was made from; the copy is then reported clean only if LRA_GIT_DIRTY is 0.
    """
    if os.environ.get("LRA_GIT_COMMIT"):
        return os.environ["LRA_GIT_COMMIT"], os.environ.get("LRA_GIT_DIRTY", "1") != "0"
    root = repo_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "lra"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", True
    return commit, dirty


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


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
        return self.dir(experiment, budget) / "checkpoints"

    def probe_path(self, experiment: str, budget: str, key: str) -> Path:
        return self.dir(experiment, budget) / "probes" / f"{key}.json"

    # ------------------------------------------------------------------------- reading
    def meta(self, experiment: str, budget: str) -> dict:
        path = self.meta_path(experiment, budget)
        if not path.exists():
            return {"writes": []}
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CorruptResults(f"{path} is not valid JSON ({e}); restore it from git") from None

    def load(self, experiment: str, budget: str) -> pd.DataFrame:
        """The table of (experiment, budget); empty when nothing has run. Raises CorruptResults."""
        path = self.table_path(experiment, budget)
        if not path.exists():
            return pd.DataFrame(columns=COLUMNS)
        data = path.read_bytes()
        meta = self.meta(experiment, budget)
        digest = hashlib.sha256(data).hexdigest()
        if digest not in (meta.get("sha256"), meta.get("pending_sha256")):
            raise CorruptResults(
                f"{path} does not match the checksum recorded in meta.json (truncated, or edited "
                "by hand?); restore it with `git checkout -- {path}` or move it away")
        try:
            df = pd.read_csv(io.BytesIO(data), keep_default_na=True)
        except Exception as e:  # pandas raises many kinds
            raise CorruptResults(f"{path} cannot be parsed ({e})") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing or df["key"].isna().any() or df["key"].duplicated().any():
            raise CorruptResults(f"{path} is malformed (missing columns {missing} or bad keys)")
        return df

    def done_keys(self, experiment: str, budget: str) -> set[str]:
        return set(self.load(experiment, budget)["key"])

    def probes(self, experiment: str, budget: str, key: str) -> list[dict] | None:
        path = self.probe_path(experiment, budget, key)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    # ------------------------------------------------------------------------- writing
    def append(self, experiment: str, budget: str, rows: list[dict], prov: dict,
               probes: dict[str, list] | None = None) -> int:
        """Add finished rows (those whose key is already stored are skipped). Returns the count."""
        existing = self.load(experiment, budget)          # also validates the file
        have = set(existing["key"])
        new = [r for r in rows if r["key"] not in have]
        if not new:
            return 0
        for key, p in (probes or {}).items():
            if key in {r["key"] for r in new}:
                atomic_write_bytes(self.probe_path(experiment, budget, key),
                                   json.dumps(p).encode())
        df = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in new], columns=COLUMNS)
        table = df if existing.empty else pd.concat([existing, df], ignore_index=True)
        table = table.sort_values(["task", "T", "key"], kind="stable")
        data = table.to_csv(index=False).encode()
        digest = hashlib.sha256(data).hexdigest()
        meta = self.meta(experiment, budget)
        # Three atomic steps, each leaving a table that verifies: announce the new checksum,
        # replace the table, then make the new checksum the only one.
        meta["pending_sha256"] = digest
        self._write_meta(experiment, budget, meta)
        atomic_write_bytes(self.table_path(experiment, budget), data)
        meta.setdefault("writes", []).append({**prov, "rows_added": len(new)})
        meta.update(experiment=experiment, budget=budget, rows=len(table), sha256=digest)
        meta.pop("pending_sha256")
        self._write_meta(experiment, budget, meta)
        return len(new)

    def _write_meta(self, experiment, budget, meta):
        atomic_write_bytes(self.meta_path(experiment, budget), json.dumps(meta, indent=1).encode())
