"""Rows computed but not stored: saved when a table write fails, added by the next campaign.

A campaign on a borrowed machine may find its results folder full or read-only only when a
population has finished; its rows then exist only in memory. :func:`save` writes them, with their
provenance and probes, as one JSON file: in ``<results>/_rescued/`` if that can be written, else
in the system's temporary folder (``$TMPDIR/lra-rescued/``, where it names the results folder it
belongs to). :func:`recover` (run by ``lra campaign`` before it plans) appends every such file of
its results folder through the store's ordinary append, logs one line per file and removes it. A
file's name is a hash of its rows' keys, so saving the same rows again (a recovery that fails in
turn) rewrites it rather than adding another.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from lra.engine.tempfiles import atomic_write_bytes

FORMAT = "lra-rescued-rows/1"


def places(root) -> list[Path]:
    """Where rescued rows of the results folder ``root`` are written, first choice first."""
    return [Path(root) / "_rescued", Path(tempfile.gettempdir()) / "lra-rescued"]


def _plain(v):
    """numpy and torch scalars as the Python numbers the table would have written."""
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def save(root, experiment: str, budget: str, rows: list[dict], prov: dict,
         probes: dict | None) -> Path | None:
    """Write the rows to the first place that takes them; the file, or None if none did."""
    root_id = str(Path(root).resolve())
    keys = sorted(str(r["key"]) for r in rows)
    digest = hashlib.sha256(json.dumps([root_id, experiment, budget, keys]).encode()).hexdigest()
    data = json.dumps(dict(format=FORMAT, root=root_id, experiment=experiment, budget=budget,
                           rows=rows, prov=prov, probes=probes or {}), default=_plain).encode()
    for folder in places(root):
        path = folder / f"{experiment}__{budget}__{digest[:16]}.json"
        try:
            atomic_write_bytes(path, data)
            return path
        except OSError:
            continue
    return None


def pending(root) -> list[tuple[Path, dict]]:
    """The rescued rows waiting for the results folder ``root``: [(file, record)]. In the shared
    temporary folder only this user's files count (another user's could plant rows)."""
    root_id = str(Path(root).resolve())
    out = []
    for i, folder in enumerate(places(root)):
        try:
            files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        except OSError:
            continue
        for f in files:
            try:
                if i > 0 and hasattr(os, "getuid") and f.stat().st_uid != os.getuid():
                    continue
                rec = json.loads(f.read_bytes())
            except (OSError, ValueError):
                continue      # half a file cannot be: written atomically; unreadable: not ours
            if isinstance(rec, dict) and rec.get("format") == FORMAT and \
                    rec.get("root") == root_id and isinstance(rec.get("rows"), list):
                out.append((f, rec))
    return out


def recover(store, log) -> int:
    """Append every rescued file of ``store`` (a ResultsStore) and remove it; one ``log`` line
    each. Returns the rows added. A write that fails again raises the store's ResultsWriteError
    and keeps the file."""
    added = 0
    for f, rec in pending(store.root):
        exp, budget = rec["experiment"], rec["budget"]
        n = store.append(exp, budget, rec["rows"], rec["prov"], rec.get("probes") or None)
        try:
            f.unlink()
        except OSError:
            pass              # a second recovery adds nothing: the rows are stored by key
        added += n
        since = f"; {len(rec['rows']) - n} stored meanwhile" if n < len(rec["rows"]) else ""
        log(f"recovered {len(rec['rows'])} row(s) of {exp}/{budget} computed by an earlier run "
            f"whose table write failed (from {f}{since})")
    return added
