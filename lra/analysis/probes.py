"""Which gradient-flow probes a run actually recorded (Figures 2-4; claims C6-C8).

A population trains its members in lock-step and probes them on one schedule (every
``probe_every`` iterations to the cap). A member that stops early — solved, out of patience —
still has a slot at every later scheduled probe, filled with NaN: *padding*, not a measurement.
Counting those slots as "non-finite" reads a solved run as diverged, and counting them as "no
flow at layer 1" reads a restored flow as missing. Every reading of the probes (the figures, their
captions, the verdicts, the findings, the chapters' tables) goes through :func:`recorded` first,
so that only probes taken while the member was training are read; a non-finite value *inside*
that span is a real divergence and is kept.
"""
from __future__ import annotations

import numpy as np


def recorded(probes: list[dict] | None, iterations: int | None = None) -> list[dict]:
    """The probes taken while the run was training: those at or before its last iteration
    (``iterations``, the row's ``iterations``). Without ``iterations``, the trailing probes whose
    every value is NaN are taken for padding (a run that diverged writes ±inf or NaN into some
    quantities while it still records its iteration and global loss)."""
    if not probes:
        return []
    if iterations is not None:
        # a probe without its iteration (hand-made ones) is kept: nothing says it is padding
        return [p for p in probes if p.get("iteration") is None
                or int(p["iteration"]) <= int(iterations)]
    keep = len(probes)
    while keep and _all_nan(probes[keep - 1]):
        keep -= 1
    return list(probes[:keep])


def padding(probes: list[dict] | None, iterations: int | None = None) -> int:
    """How many of the probes are padding (scheduled after the run stopped)."""
    return len(probes or []) - len(recorded(probes, iterations))


def _all_nan(p: dict) -> bool:
    vals = [np.asarray(v, dtype=float).ravel() for k, v in p.items() if k != "iteration"
            and v is not None]
    return bool(vals) and all(np.isnan(v).all() for v in vals)


def flow_share(probes: list[dict], key: str = "dh_norm", layer: int = 1) -> float:
    """The share of the recorded probes in which ``key`` is non-zero (and finite) at ``layer``:
    the "flow reaches layer 1" reading. NaN when no probe was recorded."""
    if not probes:
        return float("nan")
    v = np.array([p[key] for p in probes], dtype=float)[:, layer]
    return float((np.isfinite(v) & (v > 0)).mean())
