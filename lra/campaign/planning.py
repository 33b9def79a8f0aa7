"""Merged populations: the runs of every requested experiment, grouped into as few tensor programs
as possible (book chapter "The engine and its performance").

One population per (algorithm, task, T, released-code switches, probe interval) across *all*
requested experiments and every K: members with different K share it (sorted by K, largest first,
so inner step k runs on a prefix of the members, see :class:`lra.algorithms.lra_diff.Hyper`), and a run asked
for by several experiments (the same key) is trained once and stored in each. A population is
split only when it exceeds ``max_members``.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from lra.campaign.experiments import Run


def population_key(run: Run) -> tuple:
    """Runs with equal keys can train as one tensor program. A curriculum stage trains alone
    (its members stop together at its first solve)."""
    key = (run.algorithm, run.task, run.T, tuple(run.switches), run.probe_every)
    return key + (run.stage,) if run.stage else key


def _K(run: Run) -> int:
    return int(dict(run.config).get("K", 0))


@dataclass
class Population:
    """The members of one tensor program: ``runs`` (unique keys, K descending) and, for each run
    key, the experiments that asked for it (its rows are stored in each)."""
    runs: list[Run]
    experiments: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable identity (checkpoint name): a hash of the member keys in member order."""
        return hashlib.sha256(json.dumps([r.key for r in self.runs]).encode()).hexdigest()[:16]

    @property
    def head(self) -> Run:
        return self.runs[0]

    @property
    def K_values(self) -> list[int]:
        return [_K(r) for r in self.runs]

    def K_mix(self) -> str:
        c = Counter(self.K_values)
        return " ".join(f"K{k}x{n}" for k, n in sorted(c.items()))

    def experiment_names(self) -> list[str]:
        return sorted({e for names in self.experiments.values() for e in names})

    def runs_of(self, experiment: str) -> list[tuple[int, Run]]:
        """(member index, run) of the members whose rows belong to ``experiment``."""
        return [(m, r) for m, r in enumerate(self.runs) if experiment in self.experiments[r.key]]

    def describe(self) -> str:
        r = self.head
        sw = "+".join(r.switches) if r.switches else "paper"
        if len(r.switches) > 2:
            sw = f"{len(r.switches)} released switches"
        probe = f", probes every {r.probe_every}" if r.probe_every else ""
        return f"{r.algorithm} {r.task} T={r.T} [{sw}{probe}]"


def merge(missing: dict[str, list[Run]], max_members: int) -> list[Population]:
    """Group the missing runs of several experiments into populations of at most ``max_members``.

    ``missing`` maps an experiment name to its runs still to compute. Deterministic: the same
    request gives the same populations (and so the same checkpoint names) on every machine.
    """
    if max_members < 1:
        raise ValueError(f"a population needs at least one member, got max_members={max_members}")
    by_key: dict[str, Run] = {}
    wanted: dict[str, set] = {}
    for exp in sorted(missing):
        for run in missing[exp]:
            by_key.setdefault(run.key, run)
            wanted.setdefault(run.key, set()).add(exp)
    groups: dict[tuple, list[Run]] = {}
    for run in by_key.values():
        groups.setdefault(population_key(run), []).append(run)
    out = []
    for g in sorted(groups, key=repr):
        runs = sorted(groups[g], key=lambda r: (-_K(r), r.key))
        for i in range(0, len(runs), max_members):
            chunk = runs[i:i + max_members]
            out.append(Population(chunk, {r.key: sorted(wanted[r.key]) for r in chunk}))
    return out


def population_cost(pop: Population, max_iterations: int) -> float:
    """Relative cost (member-steps x inner steps to the cap), for ordering a campaign."""
    T = pop.head.T
    return sum(T * (K + 1) for K in pop.K_values) * max_iterations
