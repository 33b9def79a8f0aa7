"""Notebook parameters: one schema shared by the ``lra`` command and the notebooks themselves.

Every experiment chapter starts with a papermill ``parameters`` cell holding some of these names;
its next cell calls :func:`validate` so a bad value fails before any compute, whether the notebook
was started by ``lra run``, by papermill directly, or by hand.
"""
from __future__ import annotations

import math
import re

from lra.campaign.experiments import BUDGETS, EXPERIMENTS
from lra.tasks import MIN_LENGTH, TASKS


class ParameterError(ValueError):
    pass


# Upper limits: far above anything the paper or this book uses, low enough that a typo (an extra
# zero or three) is refused instead of filling the memory or running for years.
MAX_SEEDS = 1000
MAX_LENGTH = 10_000            # the curriculum's highest T (experiments.Budget.max_length)
MAX_K = 1000
MAX_ITERATIONS = 10_000_000    # 100x the paper's cap of 100,000


def _device(v):
    if not isinstance(v, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
        raise ParameterError(f"device must be one of auto, cpu, cuda, cuda:N; got {v!r}")
    return v


def _budget(v):
    if v not in (*BUDGETS, "auto"):
        raise ParameterError(f"unknown budget {v!r}; valid budgets: auto, {', '.join(BUDGETS)}")
    return v


def _positive_int(name, minimum=1, maximum=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ParameterError(f"{name} must be an integer >= {minimum}; got {v!r}")
        if maximum is not None and v > maximum:
            raise ParameterError(f"{name} must be an integer <= {maximum}; got {v!r}")
        return v
    return check


def _optional(check):
    return lambda v: None if v is None else check(v)


def _bool(name):
    def check(v):
        if not isinstance(v, bool):
            raise ParameterError(f"{name} must be True or False; got {v!r}")
        return v
    return check


def _non_negative(name):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or \
                not math.isfinite(v):
            raise ParameterError(f"{name} must be a finite non-negative number; got {v!r}")
        return float(v)
    return check


def _task(v):
    if v not in TASKS:
        raise ParameterError(f"unknown task {v!r}; valid tasks: {', '.join(TASKS)}")
    return v


def _experiment(v):
    if v not in EXPERIMENTS:
        raise ParameterError(f"unknown experiment {v!r}; valid experiments: "
                             f"{', '.join(EXPERIMENTS)}")
    return v


SCHEMA = {
    "budget": _budget,
    "device": _device,
    "seeds": _positive_int("seeds", 1, MAX_SEEDS),
    "replay": _bool("replay"),
    "train": _bool("train"),
    "max_iterations": _optional(_positive_int("max_iterations", 1, MAX_ITERATIONS)),
    "T": _positive_int("T", MIN_LENGTH, MAX_LENGTH),
    "K": _positive_int("K", 1, MAX_K),
    "alpha": _non_negative("alpha"),
    "gamma": _non_negative("gamma"),
    "lam": _non_negative("lam"),
    "task": _task,
    "experiment": _experiment,
}


def validate(**params) -> dict:
    """Check every known parameter; unknown names are an error naming the valid ones."""
    out = {}
    for name, value in params.items():
        if name not in SCHEMA:
            raise ParameterError(f"unknown parameter {name!r}; valid: {', '.join(SCHEMA)}")
        out[name] = SCHEMA[name](value)
    return out


def parse_value(text: str, inferred: str | None):
    """Turn a command-line string into the type of the notebook's default value."""
    low = text.strip().lower()
    if inferred == "bool":
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ParameterError(f"expected True or False, got {text!r}")
    if low in ("none", "null"):
        return None
    if inferred == "int" or (inferred in (None, "None") and re.fullmatch(r"-?\d+", low)):
        try:
            return int(text)
        except ValueError:
            raise ParameterError(f"expected an integer, got {text!r}") from None
    if inferred == "float":
        try:
            return float(text)
        except ValueError:
            raise ParameterError(f"expected a number, got {text!r}") from None
    return text
