"""Compute the missing rows of experiments: plans -> populations -> results store.

Finished rows are never recomputed. An interrupted population resumes from its checkpoint
(written atomically every few checks); a population's rows are written only once it has finished.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace

import torch

from .bptt import BPTT
from .engine import PopulationTrainer, resolve_device
from .experiments import (Budget, Experiment, Run, get_budget, get_experiment, plans)
from .lra_diff import LRADiff, ReleasedCodeSwitches
from .store import CONFIG_COLUMNS, ResultsStore, device_name, provenance, solved_flags
from .tptt import TPTT


def default_population_size(device: torch.device) -> int:
    return 2048 if device.type == "cuda" else 45


def make_algorithm(runs: list[Run], device):
    algo = runs[0].algorithm
    configs = [r.make_config() for r in runs]
    if algo == "lra_diff":
        switches = ReleasedCodeSwitches(**{n: True for n in runs[0].switches})
        return LRADiff(configs, switches, device=device)
    if algo == "bptt":
        return BPTT(configs, device=device)
    return TPTT(configs, device=device)


def budget_with_cap(budget: Budget, max_iterations: int | None) -> Budget:
    """A budget whose cap was overridden is stored under its own name, never as the original."""
    if max_iterations is None or max_iterations == budget.max_iterations:
        return budget
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")
    return replace(budget, name=f"{budget.name}-cap{max_iterations}",
                   max_iterations=max_iterations,
                   description=f"{budget.description}; iteration cap overridden to "
                               f"{max_iterations}")


def plan_id(plan: list[Run]) -> str:
    return hashlib.sha256(json.dumps(sorted(r.key for r in plan)).encode()).hexdigest()[:16]


def estimated_cost(plan: list[Run], budget: Budget) -> float:
    """Relative cost of a plan (member-steps x inner steps), for ordering a campaign."""
    r = plan[0]
    K = dict(r.config).get("K", 1)
    return len(plan) * r.T * (K + 1) * budget.max_iterations


def run_plan(plan: list[Run], budget: Budget, store: ResultsStore, device, *,
             stop_after_seconds=None, progress=None) -> bool:
    """Train one population; store its rows when it finishes. Returns True when finished."""
    r0 = plan[0]
    ck_dir = store.checkpoint_dir(r0.experiment, budget.name)
    ck_dir.mkdir(parents=True, exist_ok=True)
    ck = ck_dir / f"{plan_id(plan)}.pt"
    trainer = PopulationTrainer(
        make_algorithm(plan, device), r0.task, r0.T, [r.seed for r in plan], device=device,
        max_iterations=budget.max_iterations, check_every=budget.check_every,
        validation_size=budget.validation_size, probe_every=r0.probe_every or None,
        checkpoint_path=str(ck), checkpoint_every=budget.checkpoint_every, progress=progress)
    start = time.monotonic()
    results = trainer.run(stop_after_seconds=stop_after_seconds)
    if not trainer.finished:
        return False
    wall = time.monotonic() - start
    prov = provenance(trainer.device, budget.name)
    rows, probes = [], {}
    for m, (run, res) in enumerate(zip(plan, results)):
        cfg = dict(run.config)
        row = dict(key=run.key, experiment=run.experiment, budget=budget.name,
                   algorithm=run.algorithm, variant=run.variant, switches="+".join(run.switches),
                   task=run.task, T=run.T, seed=run.seed,
                   **{c: cfg.get(c) for c in CONFIG_COLUMNS},
                   solved=res.solved, diverged=res.diverged, stop_reason=res.stop_reason,
                   iterations=res.iterations, best_accuracy=res.best_accuracy,
                   final_accuracy=res.final_accuracy, wall_seconds=round(wall, 3),
                   population=len(plan), device=prov["device"],
                   commit=prov["commit"][:12] + ("+dirty" if prov["dirty"] else ""),
                   curve=json.dumps(res.curve))
        rows.append(row)
        if trainer.probes:
            probes[run.key] = [
                {k: (v[m].tolist() if torch.is_tensor(v) else v) for k, v in p.items()}
                for p in trainer.probes]
    store.append(r0.experiment, budget.name, rows, prov, probes)
    ck.unlink(missing_ok=True)
    return True


def curriculum_runs(exp: Experiment, budget: Budget, store: ResultsStore,
                    seeds: int) -> list[Run]:
    """Table V: the runs of each task's next stage (T = 10, 20, ... until the first failure)."""
    df = store.load(exp.name, budget.name)
    out = []
    for task in exp.tasks:
        T = 10
        while T <= budget.max_length:
            stage = exp.runs(budget, seeds, lengths={task: (T,)})
            stage = [r for r in stage if r.task == task]
            done = df[(df["task"] == task) & (df["T"] == T)]
            if len(set(done["key"]) & {r.key for r in stage}) < len(stage):
                out += [r for r in stage if r.key not in set(done["key"])]
                break
            if not solved_flags(done["solved"]).any():
                break        # the first failure ends this task's curriculum
            T += 10
    return out


def best_configs(source: str, budget: Budget, store: ResultsStore, cell: tuple) -> list:
    """The best run of every cell of ``source``: solved first, then accuracy, then speed."""
    df = store.load(source, budget.name)
    if df.empty:
        return []
    df = df.assign(solved=solved_flags(df["solved"]))
    df = df.sort_values(["solved", "best_accuracy", "iterations", "key"],
                        ascending=[False, False, True, True], kind="stable")
    return [g.iloc[0] for _, g in df.groupby(list(cell), sort=True)]


def derived_runs(exp: Experiment, budget: Budget, store: ResultsStore, seeds: int) -> list[Run]:
    """Multi-seed study: every seed of the best configuration of each cell of the source."""
    source = get_experiment(exp.derived_from)
    if missing_runs(source, budget, store):
        return []             # the best configuration is known only once the source is complete
    by_key = {r.key: r for r in source.runs(budget)}
    out = []
    for row in best_configs(source.name, budget, store, exp.cell):
        base = by_key.get(row["key"])
        if base is None:      # a row of an older spec: skip rather than guess its configuration
            continue
        out += [replace(base, experiment=exp.name, seed=s) for s in range(seeds)]
    return out


def missing_runs(exp: Experiment, budget: Budget, store: ResultsStore,
                 seeds: int | None = None) -> list[Run]:
    seeds = exp.seeds if seeds is None else seeds
    if exp.curriculum:
        return curriculum_runs(exp, budget, store, seeds)
    if exp.derived_from:
        done = store.done_keys(exp.name, budget.name)
        return [r for r in derived_runs(exp, budget, store, seeds) if r.key not in done]
    done = store.done_keys(exp.name, budget.name)
    return [r for r in exp.runs(budget, seeds) if r.key not in done]


def run_experiments(names, budget: str | Budget = "smoke", *, device="auto", seeds=None,
                    max_iterations=None, time_limit: float | None = None, store=None,
                    max_members=None, progress=None, log=print) -> dict:
    """Compute the missing rows of the named experiments, cheapest plans first.

    Stops cleanly (checkpointing the population in flight) when ``time_limit`` seconds have passed;
    calling again resumes. Returns {"finished": bool, "plans_run": n, "rows_missing": {...}}.
    """
    exps = [get_experiment(n) for n in names]
    budget = budget_with_cap(get_budget(budget) if isinstance(budget, str) else budget,
                             max_iterations)
    device = resolve_device(device)
    store = store or ResultsStore()
    max_members = max_members or default_population_size(device)
    start = time.monotonic()
    plans_run = 0
    while True:
        todo = []
        for exp in exps:
            for plan in plans(missing_runs(exp, budget, store, seeds), max_members):
                todo.append((estimated_cost(plan, budget), exp.name, plan))
        if not todo:
            return dict(finished=True, plans_run=plans_run, budget=budget.name)
        todo.sort(key=lambda t: (t[0], t[1]))
        for cost, name, plan in todo:
            left = None if time_limit is None else time_limit - (time.monotonic() - start)
            if left is not None and left <= 0:
                return dict(finished=False, plans_run=plans_run, budget=budget.name)
            r = plan[0]
            log(f"[{name}/{budget.name}] {r.algorithm} {r.task} T={r.T} "
                f"members={len(plan)} on {device_name(device)}")
            finished = run_plan(plan, budget, store, device, stop_after_seconds=left,
                                progress=progress)
            plans_run += 1
            if not finished:
                return dict(finished=False, plans_run=plans_run, budget=budget.name)
        # curriculum stages unlock new runs: go round again


def status(store=None, budgets=None) -> list[dict]:
    """Done / missing rows per experiment and budget (curricula: of the stages unlocked so far).

    ``stale``: stored rows computed by other code than the current (store.code_version; rows
    from before the column count as unknown, hence stale). ``error``: the table's CorruptResults
    message (a corrupt table is reported, not skipped, and does not stop the others)."""
    from .experiments import BUDGETS, EXPERIMENTS
    from .store import CorruptResults, code_version, stale_rows
    store = store or ResultsStore()
    current = code_version()
    out = []
    for name, exp in EXPERIMENTS.items():
        for b in budgets or BUDGETS:
            budget = get_budget(b)
            error = None
            try:
                df = store.load(name, b)
                done, stale = len(df), int(stale_rows(df, current).sum())
                missing = len(missing_runs(exp, budget, store))
                state = "complete" if missing == 0 else ("partial" if done else "empty")
                if exp.derived_from and missing_runs(get_experiment(exp.derived_from), budget,
                                                     store):
                    state = f"waits for {exp.derived_from}"
                if stale:
                    state += f"; {stale} row(s) from other code"
            except CorruptResults as e:  # report, do not crash the whole status
                done, missing, stale, state, error = 0, 0, 0, "CORRUPT (see below)", str(e)
            out.append(dict(experiment=name, budget=b, done=done, missing=missing, stale=stale,
                            state=state, backs=exp.backs, error=error))
    return out
