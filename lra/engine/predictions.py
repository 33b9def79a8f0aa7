"""Per-sample correctness on the validation set, stored with every run (book chapter "Control:
the reservoir argument", section "Paired tests"; issue 10, point 5).

A paired test of two methods (McNemar, :func:`lra.analysis.controls.mcnemar`) needs to know *which*
validation samples each got right, not only how many: two methods trained on the same seed share
that seed's validation set (:func:`lra.tasks.validation_symbols`), so their per-sample
correctness can be compared sample by sample. The engine records it at the check where a run
reached its best validation accuracy (the accuracy the tables report); the store keeps it in the
column ``best_correct`` as text:

    "<N>:<base64 of the N bits packed 8 to a byte, least significant bit first>"

(10,000 samples take 1,674 characters; 500 take 88). Rows computed before the column existed
read as "" (unknown).
"""
from __future__ import annotations

import base64

import numpy as np

COLUMN = "best_correct"


def pack(correct) -> str:
    """Bool vector (1 = sample classified right) -> ``"N:base64"``."""
    bits = np.asarray(correct, dtype=bool).reshape(-1)
    packed = np.packbits(bits, bitorder="little")
    return f"{bits.size}:{base64.b64encode(packed.tobytes()).decode('ascii')}"


def unpack(text) -> np.ndarray | None:
    """``"N:base64"`` -> bool vector of length N; ``None`` for a missing value ("" or NaN).

    Raises ValueError on a malformed value (wrong length, bits set past N, bad base64)."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text == "":
        return None
    try:
        n_text, payload = str(text).split(":", 1)
        n = int(n_text)
        raw = np.frombuffer(base64.b64decode(payload, validate=True), dtype=np.uint8)
    except Exception as e:
        raise ValueError(f"not a packed correctness vector ({e}): {str(text)[:40]!r}") from None
    if n < 0 or raw.size != (n + 7) // 8:
        raise ValueError(f"packed correctness vector: {raw.size} bytes cannot hold {n} bits")
    bits = np.unpackbits(raw, bitorder="little")
    if bits[n:].any():
        raise ValueError("packed correctness vector: bits set past its length")
    return bits[:n].astype(bool)


def accuracy(text) -> float | None:
    """The accuracy a stored vector implies (a row's best_accuracy must equal it)."""
    bits = unpack(text)
    return None if bits is None else float(bits.mean()) if bits.size else None
