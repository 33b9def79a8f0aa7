"""The names the reader sees: tasks, grid keys and their values, as every table and figure shows them.

One mapping per kind of name, used by :mod:`lra.analysis.tables`, :mod:`lra.analysis.report`,
:mod:`lra.analysis.figures` and the chapters: ``temporal_order`` is "Temporal order",
``lam`` is "λ", ``log_penalty`` is "log-penalty", wherever it is shown.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TASK_LABELS = {"temporal_order": "Temporal order", "temporal_order_3bit": "3-bit temporal order",
               "random_permutation": "Random permutation"}

# Human names of the columns and of the categorical values the tables show.
COLUMN_LABELS = {"lam": "λ", "alpha": "α", "gamma": "γ", "c0": "c₀", "c1": "c₁",
                 "loss": "local loss", "normalisation": "normalisation", "lr_i": "α_i",
                 "lr_f": "α_f", "best_accuracy": "best accuracy (%)", "method": "method"}
LOSS_LABELS = {"mse": "MSE", "log_penalty": "log-penalty"}
NORMALISATION_LABELS = {"none": "c₀ = c₁ = 0", "normalised": "c₀ = c₁ = 1"}
METHOD_LABELS = {"tptt": "TPTT", "bptt": "BPTT", "lra_diff": "RNN-LRA-diff",
                 "lra_diff_regularised": "RNN-LRA-diff, regularised"}
VALUE_LABELS = {"task": TASK_LABELS, "loss": LOSS_LABELS, "normalisation": NORMALISATION_LABELS,
                "method": METHOD_LABELS}


def task_label(task) -> str:
    """The human name of a task, whether given as ``temporal_order`` or ``temporal order``."""
    t = str(task)
    return TASK_LABELS.get(t) or TASK_LABELS.get(t.replace(" ", "_")) or t


def value_label(key: str, value) -> str:
    """A value of a grid key as the reader sees it (task and loss names, integral numbers)."""
    if key == "task":
        return task_label(value)
    if key in VALUE_LABELS:
        return VALUE_LABELS[key].get(value, str(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def column_header(keys, values) -> str:
    """The header of a pivoted column: ``T = 10``, ``log-penalty, T = 10``,
    ``c₀ = c₁ = 0, T = 10``."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    values = values if isinstance(values, tuple) else (values,)
    parts = []
    for k, v in zip(keys, values):
        if k in VALUE_LABELS:
            parts.append(value_label(k, v))
        else:
            parts.append(f"{COLUMN_LABELS.get(k, k)} = {value_label(k, v)}")
    return ", ".join(parts)


def humanise(df: pd.DataFrame) -> pd.DataFrame:
    """Human headers (``lam`` -> ``λ``) and task, loss and method names, for any table shown."""
    out = df.copy()
    for key in VALUE_LABELS:
        if key in out.columns:
            out[key] = [value_label(key, v) for v in out[key]]
    return out.rename(columns={c: COLUMN_LABELS[c] for c in out.columns if c in COLUMN_LABELS})
