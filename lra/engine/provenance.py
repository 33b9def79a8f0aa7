"""Which code and which machine trained something: the checkout's commit and the device's name.

The engine records them per training segment (a population checkpointed on one machine may be
finished on another); :mod:`lra.campaign.store` records them per stored write. They live here, in
the engine's wing, because the engine must not import the campaign wing above it. Nothing here
computes a number of a run (``lra.campaign.store.NOT_NUMERIC_MODULES``).
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def repo_root() -> Path:
    """The project checkout: the nearest folder above the working directory holding ``_toc.yml``
    (so a non-editable install still finds ``results/`` and ``book/``), else the package's parent."""
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "_toc.yml").exists() and (d / "book").is_dir():
            return d
    return Path(__file__).resolve().parents[2]      # lra/engine/provenance.py -> the checkout


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
