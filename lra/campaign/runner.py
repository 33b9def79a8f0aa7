"""Compute the missing rows of experiments: plans -> populations -> results store.

The runs of every requested experiment are merged into populations (:mod:`lra.campaign.planning`).
Finished rows are never recomputed. An interrupted population resumes from its checkpoint
(written atomically every few checks, under ``results/_populations/<budget>/``); a population's
rows are written, into each experiment that asked for them, only once it has finished.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch

from lra.algorithms.bptt import BPTT
from lra.engine.trainer import PopulationTrainer, resolve_device
from lra.campaign.experiments import Budget, Experiment, Run, get_budget, get_experiment
from lra.algorithms.lra_diff import LRADiff, ReleasedCodeSwitches
from lra.campaign.planning import Population, merge, population_cost, population_key
from lra.campaign.projection import auto_chain_variant
from lra.algorithms.readout import ReadoutOnly
from lra.campaign.population_checkpoints import rows_fed, sweep, vet
from lra.campaign.store import (CONFIG_COLUMNS, ResultsStore, clean_stale_temps, code_version,
                                device_name, provenance, release, solved_flags, try_lease)
from lra.algorithms.tptt import TPTT


def default_population_size(device: torch.device) -> int:
    return 2048 if device.type == "cuda" else 64


def make_algorithm(runs: list[Run], device):
    algo = runs[0].algorithm
    configs = [r.make_config() for r in runs]
    if algo == "lra_diff":
        switches = ReleasedCodeSwitches(**{n: True for n in runs[0].switches})
        # on CUDA, the chain kernel the committed benchmark shows fastest, where it can run
        return LRADiff(configs, switches, device=device, fused="auto",
                       auto_variant=auto_chain_variant(device))
    if algo == "lra_released":
        # the released script's step (autograd reading): eager on every device
        from lra.algorithms.released_population import ReleasedAutograd
        switches = ReleasedCodeSwitches(**{n: True for n in runs[0].switches})
        return ReleasedAutograd(configs, switches, device=device)
    if algo == "bptt":
        return BPTT(configs, device=device)
    if algo == "readout_only":
        return ReadoutOnly(configs, device=device)
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


def budget_named(name: str) -> Budget:
    """A budget by its stored name: ``smoke``, ``paper``, or a capped one (``smoke-cap20``)."""
    base, sep, cap = name.partition("-cap")
    if sep and cap.isdigit() and int(cap) >= 1:
        return budget_with_cap(get_budget(base), int(cap))
    return get_budget(name)


def populations_dir(store: ResultsStore, budget: Budget) -> Path:
    """Where populations in flight keep their checkpoints: one folder per budget, shared by every
    experiment (a merged population belongs to several). Temporary files of killed writers
    there are removed."""
    d = Path(store.root) / "_populations" / budget.name
    clean_stale_temps(d)
    return d


def checkpoint_path(store: ResultsStore, budget: Budget, pop: Population) -> Path:
    return populations_dir(store, budget) / f"{pop.id}.pt"


def _count(tally: dict | None, **n) -> None:
    """Add to a campaign's counts of what this process did (threads share them)."""
    if tally is not None:
        with _TALLY_LOCK:
            for k, v in n.items():
                tally[k] = tally.get(k, 0) + v


def run_population(pop: Population, budget: Budget, store: ResultsStore, device, *,
                   stop_after_seconds=None, progress=None, log=None,
                   tally: dict | None = None) -> bool | None:
    """Train one merged population; store its rows (in every experiment that asked for them)
    when it finishes. Returns True when finished, False when stopped at the time limit, None when
    another process holds its lease (it is training it).

    ``tally`` counts what this process did: ``trained`` (populations it trained, finished or
    stopped), ``rows`` (rows it stored), ``elsewhere`` (populations another process finished
    after this one planned them). A checkpoint at the population's path is resumed only when
    :func:`lra.campaign.population_checkpoints.vet` says the current code wrote it."""
    ck = checkpoint_path(store, budget, pop)
    ck.parent.mkdir(parents=True, exist_ok=True)
    # A lease per population: another process (or thread) training it makes this one skip it.
    lock = ck.with_suffix(".lock")
    lease = try_lease(lock)
    if lease is None:
        return None
    finished = False
    try:
        if all(r.key in store.done_keys(exp, budget.name)
               for exp in pop.experiment_names() for _, r in pop.runs_of(exp)):
            finished = True   # finished by another process since this one planned it
            _count(tally, elsewhere=1)
            ck.unlink(missing_ok=True)    # (its rows are stored: a leftover is never resumed)
            return True
        vet(ck, log=log)
        if log is not None:
            log(f"[{budget.name}] {pop.describe()} members={len(pop.runs)} ({pop.K_mix()}) "
                f"for {', '.join(pop.experiment_names())} on {device_name(torch.device(device))}")
        finished = _train_population(pop, budget, store, device, ck, stop_after_seconds,
                                     progress, tally)
        _count(tally, trained=1)
        return finished
    finally:
        if finished:          # no litter: whoever comes later finds the rows stored
            lock.unlink(missing_ok=True)
        release(lease)


def population_trainer(runs: list[Run], budget: Budget, device, *, checkpoint_path=None,
                       progress=None, max_iterations: int | None = None) -> PopulationTrainer:
    """The trainer of one population of ``runs`` (one task and T) at ``budget``: what a campaign
    trains, and what :mod:`lra.campaign.recompute` retrains (``max_iterations``: stop earlier
    than the budget's cap; every number up to there is the campaign's)."""
    r0 = runs[0]
    return PopulationTrainer(
        make_algorithm(runs, device), r0.task, r0.T, [r.seed for r in runs],
        device=device, max_iterations=max_iterations or budget.max_iterations,
        check_every=budget.check_every, validation_size=budget.validation_size,
        test_size=budget.test_size, probe_every=r0.probe_every or None,
        checkpoint_path=checkpoint_path, checkpoint_every=budget.checkpoint_every,
        progress=progress, compact=True, stop_when_one_solves=bool(r0.stage))


def _train_population(pop, budget, store, device, ck, stop_after_seconds, progress,
                      tally=None) -> bool:
    trainer = population_trainer(pop.runs, budget, device, checkpoint_path=str(ck),
                                 progress=progress)
    # what its checkpoints carry beside the engine's state (lra.engine.checkpoints.save): the
    # code that wrote them and the rows they feed (the trainer's module is versioned, so these
    # are set here rather than passed to it)
    trainer.code_version = code_version()
    trainer.rows_fed = rows_fed(pop)
    results = trainer.run(stop_after_seconds=stop_after_seconds)
    if not trainer.finished:
        return False
    prov = provenance(trainer.device, budget.name)
    prov["chain"] = getattr(trainer.algorithm, "chain_name", "pytorch")
    prov["cuda_graph"] = trainer.use_graph
    prov["segments"] = trainer.segments     # more than one when resumed on another machine
    for exp in pop.experiment_names():
        rows, probes = [], {}
        for m, run in pop.runs_of(exp):
            res = results[m]
            cfg = dict(run.config)
            rows.append(dict(
                key=run.key, experiment=exp, budget=budget.name, algorithm=run.algorithm,
                variant=run.variant, switches="+".join(run.switches), task=run.task, T=run.T,
                seed=run.seed, **{c: cfg.get(c) for c in CONFIG_COLUMNS},
                solved=res.solved, diverged=res.diverged, stop_reason=res.stop_reason,
                iterations=res.iterations, best_accuracy=res.best_accuracy,
                final_accuracy=res.final_accuracy,
                # until this member stopped (a solved member does not wait for the slowest)
                wall_seconds=res.wall_seconds,
                population=len(pop.runs), device=prov["device"],
                commit=prov["commit"][:12] + ("+dirty" if prov["dirty"] else ""),
                curve=json.dumps(res.curve), best_correct=res.best_correct,
                best_test_accuracy=res.best_test_accuracy,
                final_test_accuracy=res.final_test_accuracy,
                best_test_correct=res.best_test_correct,
                final_test_correct=res.final_test_correct))
            if trainer.probes:
                probes[run.key] = [
                    {k: (v[m].tolist() if torch.is_tensor(v) else v) for k, v in p.items()}
                    for p in trainer.probes]
        with _STORE_LOCK:           # populations trained concurrently share the tables
            _count(tally, rows=store.append(exp, budget.name, rows, prov, probes))
    ck.unlink(missing_ok=True)
    return True


def curriculum_runs(exp: Experiment, budget: Budget, store: ResultsStore,
                    seeds: int) -> list[Run]:
    """Table V: the runs of each task's next stage (T = 10, 20, ... until the first failure; an
    experiment may start at a later ``first_length``)."""
    df = store.load(exp.name, budget.name)
    out = []
    for task in exp.tasks:
        T = exp.first_length
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


def lengths_of(exp: Experiment, budget: Budget) -> set[int]:
    """Every sequence length ``exp`` can have runs of at ``budget`` (stored or not): its tasks'
    lengths, a curriculum's stages (10, 20, ... up to the budget's longest), a derived
    experiment's source's."""
    if exp.derived_from:
        return lengths_of(get_experiment(exp.derived_from), budget)
    if exp.curriculum:
        return set(range(exp.first_length, budget.max_length + 1, 10))
    return {T for task in exp.tasks for T in exp.lengths_for(task, budget)}


def missing_by_experiment(names, budget: Budget, store: ResultsStore, seeds=None,
                          lengths=None) -> dict[str, list[Run]]:
    """The runs still to compute of each named experiment (``lengths``: keep only these T)."""
    out = {}
    for name in names:
        runs = missing_runs(get_experiment(name), budget, store, seeds)
        if lengths:
            runs = [r for r in runs if r.T in set(lengths)]
        out[name] = runs
    return out


def in_shard(pop: Population, shard: tuple | None) -> bool:
    """Shard i of n: a deterministic share of the populations, by a hash of what makes a
    population (algorithm, task, T, switches, probes), so every machine agrees on it.
    ``shard`` = (i, n, assignment): the populations named in ``assignment`` ({population id:
    shard}, the executor's packing by cost) go where it says; the others (unlocked since, e.g.
    a curriculum's next stage) by the hash."""
    if shard is None:
        return True
    i, n = shard[:2]
    assignment = shard[2] if len(shard) > 2 else None
    if assignment and pop.id in assignment:
        return assignment[pop.id] == i
    digest = hashlib.sha256(repr(population_key(pop.head)).encode()).digest()
    return int.from_bytes(digest[:8], "little") % n == i


def plan_campaign(names, budget: Budget, store: ResultsStore, max_members: int, seeds=None,
                  lengths=None, shard=None, only=None) -> list[Population]:
    """The populations a campaign would train now: in the order the experiments were named (a
    population goes with the first named experiment it serves), cheapest first within that.
    ``only``: population ids (a slice's packing, :mod:`lra.campaign.slices`): just these, in
    that order."""
    names = list(names)
    pops = merge(missing_by_experiment(names, budget, store, seeds, lengths), max_members)
    pops = [p for p in pops if in_shard(p, shard)]
    if only is not None:
        order = {pid: i for i, pid in enumerate(only)}
        return sorted((p for p in pops if p.id in order), key=lambda p: order[p.id])
    rank = lambda p: min(names.index(e) for e in p.experiment_names())
    return sorted(pops, key=lambda p: (rank(p), population_cost(p, budget.max_iterations), p.id))


def _campaign_setting(budget, max_iterations, device, store, max_members):
    """The budget (cap applied), device, store and population size a campaign runs with."""
    budget = budget_with_cap(get_budget(budget) if isinstance(budget, str) else budget,
                             max_iterations)
    device = resolve_device(device)
    if max_members is None:
        max_members = default_population_size(device)
    elif max_members < 1:
        raise ValueError(f"a population needs at least one member, got {max_members}")
    return budget, device, store or ResultsStore(), max_members


def dry_run(names, budget: str | Budget = "paper", *, device="auto", seeds=None,
            max_iterations=None, store=None, max_members=None, lengths=None,
            device_name_for_projection=None) -> dict:
    """What ``lra campaign`` would train, without training: the populations (members, T, K mix,
    experiments) and, where a benchmark of the device is committed, the projected time of each
    with every member run to the cap (an upper bound: solved members stop early)."""
    budget, device, store, max_members = _campaign_setting(budget, max_iterations, device, store,
                                                           max_members)
    pops = plan_campaign(names, budget, store, max_members, seeds, lengths)
    # a CPU's provenance name says its architecture and threads ("CPU (x86_64, 1 threads)"),
    # its benchmark the model it ran on ("CPU (AMD EPYC, 1 threads)"): priced as "cpu", the
    # committed CPU benchmark, as --slice does
    target = device_name_for_projection or (device_name(device) if device.type == "cuda"
                                            else "cpu")
    rows, total, note = [], 0.0, None
    for p in pops:
        seconds = None
        try:
            from lra.campaign.projection import project_population_seconds
            seconds = project_population_seconds(
                p.head.T, [max(k, 1) for k in p.K_values], budget.max_iterations, target,
                task=p.head.task, check_every=budget.check_every,
                validation_size=budget.validation_size, algorithm=p.head.algorithm,
                regularised=[dict(r.config).get("lam", 0) > 0 for r in p.runs])
            total += seconds
        except Exception as e:   # no benchmark of this device, or no projection module
            note = f"no projection: {e}"
        rows.append(dict(population=p.id, what=p.describe(), members=len(p.runs),
                         T=p.head.T, K_mix=p.K_mix(), experiments=p.experiment_names(),
                         projected_seconds=seconds))
    return dict(budget=budget.name, device=target, populations=rows,
                projected_seconds=total if note is None else None, note=note)


def format_dry_run(plan: dict) -> str:
    lines = [f"Campaign plan, budget {plan['budget']}, projected on {plan['device']} "
             f"(every member to the cap: an upper bound)", ""]
    for i, p in enumerate(plan["populations"], 1):
        proj = "?" if p["projected_seconds"] is None else f"{p['projected_seconds'] / 60:8.1f} min"
        lines.append(f"{i:3d}. {p['what']:52s} {p['members']:5d} members  {p['K_mix']:22s} "
                     f"{proj}  <- {', '.join(p['experiments'])}")
    total = plan["projected_seconds"]
    lines += ["", f"{len(plan['populations'])} population(s); projected total: "
              + ("unknown (" + plan["note"] + ")" if total is None else f"{total / 3600:.2f} h")]
    return "\n".join(lines)


_STORE_LOCK = threading.Lock()
_TALLY_LOCK = threading.Lock()


def run_concurrently(todo: list[Population], budget: Budget, store: ResultsStore, device,
                     workers: int, time_limit, progress, log, tally=None) -> list[bool]:
    """Train the populations ``todo`` with ``workers`` threads (one CUDA stream each); returns
    whether each finished (those not started before the time limit count as unfinished)."""
    from concurrent.futures import ThreadPoolExecutor
    start = time.monotonic()

    def one(pop):
        left = None if time_limit is None else time_limit - (time.monotonic() - start)
        if left is not None and left <= 0:
            return False
        if device.type == "cuda":
            with torch.cuda.stream(torch.cuda.Stream(device)):
                return run_population(pop, budget, store, device, stop_after_seconds=left,
                                      progress=progress, log=log, tally=tally)
        return run_population(pop, budget, store, device, stop_after_seconds=left,
                              progress=progress, log=log, tally=tally)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, todo))


def run_experiments(names, budget: str | Budget = "smoke", *, device="auto", seeds=None,
                    max_iterations=None, time_limit: float | None = None, store=None,
                    max_members=None, progress=None, log=print, lengths=None,
                    concurrent: int = 1, shard: tuple | None = None, only=None,
                    concurrent_ids=None) -> dict:
    """Compute the missing rows of the named experiments, as merged populations, in the order the
    experiments are named (cheapest first among the populations of one experiment).

    ``concurrent`` > 1 trains that many populations at once, each in its own thread (on CUDA, on
    its own stream: a population's step is a chain of small kernels that leaves most of the GPU
    idle, so several overlap); every member computes the same numbers either way.
    ``concurrent_ids``: only these populations (a slice's latency-bound ones) run concurrently,
    first; the others one at a time after them. ``only``: train just these population ids, in
    that order (a slice's packing).

    First the budget's checkpoints are swept (:func:`lra.campaign.population_checkpoints.sweep`):
    those whose rows are all stored are removed, those of other code discarded.
    Stops cleanly (checkpointing the population in flight) when ``time_limit`` seconds have passed;
    calling again with the same experiments resumes. Returns {"finished": bool, "plans_run": n
    (populations this process trained, finished or stopped), "rows_stored": n (rows this process
    stored), "elsewhere": n (planned populations another process finished first), "budget": name,
    "rows_missing": {experiment: n}, "stopped": [checkpoint paths of the populations this call
    stopped at the time limit]} (a bundle carries those checkpoints).
    """
    for n in names:
        get_experiment(n)
    budget, device, store, max_members = _campaign_setting(budget, max_iterations, device, store,
                                                           max_members)
    start, wall_start = time.monotonic(), time.time()
    tally = dict(trained=0, rows=0, elsewhere=0)
    sweep(populations_dir(store, budget), store, budget.name, log=log)

    def result(finished: bool, **extra) -> dict:
        return dict(finished=finished, plans_run=tally["trained"], rows_stored=tally["rows"],
                    elsewhere=tally["elsewhere"], budget=budget.name,
                    rows_missing={n: len(v) for n, v in missing_by_experiment(
                        names, budget, store, seeds, lengths).items()}, **extra)

    while True:
        todo = plan_campaign(names, budget, store, max_members, seeds, lengths, shard, only)
        if not todo:
            return result(True)
        group = todo if concurrent_ids is None else [p for p in todo if p.id in concurrent_ids]
        if concurrent > 1 and len(group) > (0 if concurrent_ids is None else 1):
            left = None if time_limit is None else time_limit - (time.monotonic() - start)
            if left is not None and left <= 0:
                return result(False)
            done = run_concurrently(group, budget, store, device, concurrent, left, progress,
                                    log, tally)
            busy = sum(d is None for d in done)
            if busy or not all(done):
                stopped = [str(checkpoint_path(store, budget, p)) for p, d in zip(group, done)
                           if d is False and checkpoint_path(store, budget, p).exists()
                           and checkpoint_path(store, budget, p).stat().st_mtime >= wall_start]
                return result(False, busy=busy, stopped=stopped)
            continue
        moved, busy = tally["trained"] + tally["elsewhere"], 0
        for pop in todo:
            left = None if time_limit is None else time_limit - (time.monotonic() - start)
            if left is not None and left <= 0:
                return result(False)
            finished = run_population(pop, budget, store, device, stop_after_seconds=left,
                                      progress=progress, log=log, tally=tally)
            if finished is None:       # another process is training it
                log(f"[{budget.name}] {pop.describe()}: being trained by another process")
                busy += 1
                continue
            if not finished:
                return result(False, stopped=[str(checkpoint_path(store, budget, pop))])
        if busy and tally["trained"] + tally["elsewhere"] == moved:
            # everything left is in training elsewhere: stop rather than wait
            return result(False, busy=busy)
        # curriculum stages unlock new runs, derived experiments their seeds: go round again


def status(store=None, budgets=None) -> list[dict]:
    """Done / missing rows per experiment and budget (curricula: of the stages unlocked so far).

    ``stale``: stored rows computed by other code than the current (store.code_version; rows
    from before the column count as unknown, hence stale). ``error``: the table's CorruptResults
    message (a corrupt table is reported, not skipped, and does not stop the others).
    ``machines``: where the rows were computed, row counts per (device, commit)."""
    from lra.campaign.experiments import BUDGETS, EXPERIMENTS
    from lra.campaign.store import CorruptResults, code_version, row_sources, stale_rows
    store = store or ResultsStore()
    current = code_version()
    out = []
    for name, exp in EXPERIMENTS.items():
        for b in budgets or BUDGETS:
            budget = budget_named(b)
            error, machines = None, []
            try:
                df = store.load(name, b)
                done, stale = len(df), int(stale_rows(df, current).sum())
                machines = row_sources(df)
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
                            state=state, backs=exp.backs, error=error, machines=machines))
    return out
