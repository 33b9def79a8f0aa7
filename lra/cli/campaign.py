"""``lra campaign``: compute the missing rows of experiments, here or as submitit jobs, and
optionally pack them into a bundle (see :mod:`lra.cli` for the command line)."""
from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import time
from pathlib import Path

from lra.campaign.store import repo_root
from lra.cli.common import (UsageError, check_checkpoints, check_device, default_threads,
                            parse_duration, physical_cores)


def cmd_campaign(args, entry):
    """``lra campaign``; ``entry`` is the command's own ``main`` (:func:`lra.cli.main`), which each
    job of ``--executor`` runs."""
    from lra.campaign.experiments import EXPERIMENTS, get_budget, get_experiment
    from lra.campaign.params import MAX_ITERATIONS, MAX_SEEDS
    names = args.experiments or list(EXPERIMENTS)
    plan_lengths = None
    if getattr(args, "plan", None) == "evidence":
        if args.experiments:
            raise UsageError("--plan evidence names its own experiments; drop --experiments")
        from lra.campaign.evidence import campaign_experiments
        from lra.campaign.store import ResultsStore
        plan = campaign_experiments(ResultsStore())     # controls the stored rows made moot: out
        names = [n for n, _ in plan]
        plan_lengths = {T for _, Ts in plan for T in Ts}
    for n in names:
        if n not in EXPERIMENTS:
            raise UsageError(f"unknown experiment {n!r}; valid experiments: "
                             f"{', '.join(EXPERIMENTS)}")
    try:
        budget = get_budget(args.budget)
    except ValueError as e:
        raise UsageError(str(e)) from None
    limit = parse_duration(args.time_limit) if args.time_limit is not None else None
    slice_seconds = None
    if getattr(args, "slice", None) is not None:
        if args.time_limit is not None:
            raise UsageError("--slice sets the time limit (the slice's training seconds); drop "
                             "--time-limit")
        if args.executor or args.shard is not None:
            raise UsageError("--slice packs one process's slice; drop --executor / --shard")
        slice_seconds = parse_duration(args.slice)
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds must be >= 1 and <= {MAX_SEEDS}, got {args.seeds}")
    if args.max_iterations is not None and not 1 <= args.max_iterations <= MAX_ITERATIONS:
        raise UsageError(f"--max-iterations must be >= 1 and <= {MAX_ITERATIONS}, got "
                         f"{args.max_iterations}")
    if args.population is not None and args.population < 1:
        raise UsageError(f"--population must be >= 1 (members per population), got "
                         f"{args.population}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    shard = None
    if args.shard is not None:
        m = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if not m or not int(m.group(1)) < int(m.group(2)):
            raise UsageError(f"--shard must be I/N with 0 <= I < N, got {args.shard!r}")
        shard = (int(m.group(1)), int(m.group(2)))
        if args.shard_plan:
            shard += (read_shard_plan(args.shard_plan),)
    elif args.shard_plan:
        raise UsageError("--shard-plan goes with --shard I/N")
    if not 1 <= args.concurrent <= 64:
        raise UsageError(f"--concurrent must be between 1 and 64, got {args.concurrent}")
    lengths = None
    if args.lengths:
        bad = [T for T in args.lengths if T < 10]
        if bad:
            raise UsageError(f"--lengths must be sequence lengths >= 10, got {bad}")
        lengths = set(args.lengths)
    if plan_lengths is not None:
        lengths = plan_lengths & lengths if lengths else plan_lengths
    if lengths is not None:
        check_lengths_plan_something(names, budget, lengths, args)
    # a Slurm campaign's jobs train elsewhere: here only the name is checked (the jobs check
    # that their PyTorch sees the GPU they were given)
    check_device(args.device, here=args.executor != "slurm")
    bundle_out = check_bundle_output(args)
    if args.executor:
        if args.dry_run:
            raise UsageError("--executor submits jobs; with --dry-run there is nothing to submit")
        if args.shard is not None:
            raise UsageError("--executor makes its own shards (--jobs N); drop --shard")
        if args.jobs < 1:
            raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
        from lra.campaign.executor import ExecutorUnavailable, check_available
        try:
            check_available(args.executor)
        except ExecutorUnavailable as e:
            raise UsageError(str(e)) from None
    if args.slurm_option and args.executor != "slurm":
        raise UsageError("--slurm-option is for --executor slurm")
    from lra.campaign.slurm import parse_site_options
    try:
        site = parse_site_options(args.slurm_option)
    except ValueError as e:
        raise UsageError(str(e)) from None
    from lra.campaign.runner import budget_with_cap, missing_runs, run_experiments
    from lra.campaign.store import ResultsStore
    journal = os.environ.get("LRA_BUNDLE_JOURNAL")     # set for the jobs of --executor
    if bundle_out is not None and not journal:
        journal = bundle_journal(ResultsStore().root, bundle_out)
    if journal:
        from lra.campaign.bundle import RecordingStore
        store = RecordingStore(journal=journal)
    else:
        store = ResultsStore()
    capped = budget_with_cap(budget, args.max_iterations)
    from lra.campaign.runner import populations_dir
    check_checkpoints(populations_dir(store, capped))
    for n in names:                       # a broken store is reported before any compute
        store.load(n, capped.name)
        check_checkpoints(store.checkpoint_dir(n, capped.name))
        src = get_experiment(n).derived_from
        if src:
            store.load(src, capped.name)
            if src not in names and missing_runs(get_experiment(src), capped, store):
                raise UsageError(f"{n} repeats the best configurations of {src}, which has "
                                 f"missing rows at budget {capped.name}: add {src} to "
                                 "--experiments (or run it first)")
    if not args.dry_run:
        # a read-only or full store: said before any compute (after the checks of the input,
        # which write nothing)
        store.check_writable()
        from lra.campaign.rescue import recover
        recover(store, lambda s: print(s, file=sys.stderr, flush=True))
        if bundle_out is not None and not os.environ.get("LRA_BUNDLE_JOURNAL"):
            announce_journal(store, bundle_out)
    packing = None
    if slice_seconds is not None:
        packing = slice_packing(args, names, capped, store, lengths, slice_seconds)
        if args.dry_run:
            return 0
        limit = packing.budget
        if not packing.order():
            print(f"campaign {capped.name}: nothing fits in the slice's {limit:.0f} training "
                  "seconds; nothing trained", flush=True)
            return 1
    if args.dry_run:
        if plan_lengths is not None:
            from lra.campaign.evidence import format_plan
            print(format_plan(store) + "\n")
        from lra.campaign.runner import dry_run, format_dry_run
        print(format_dry_run(dry_run(names, args.budget, device=args.device, seeds=args.seeds,
                                     max_iterations=args.max_iterations, store=store,
                                     max_members=args.population, lengths=lengths,
                                     device_name_for_projection=args.projection_device)))
        return 0
    if args.executor:
        return campaign_with_executor(args, names, capped, lengths, store, bundle_out, entry,
                                      site)
    from lra.engine.trainer import resolve_device
    if resolve_device(args.device).type == "cpu":
        import torch
        if args.threads is not None:
            n_threads, why = args.threads, "--threads"
        else:
            n_threads, why = default_threads()
        torch.set_num_threads(n_threads)
        print(f"using {n_threads} CPU thread(s) ({why})", file=sys.stderr, flush=True)
    start = time.monotonic()
    res = run_experiments(names, args.budget, device=args.device, seeds=args.seeds,
                          max_iterations=args.max_iterations, time_limit=limit,
                          max_members=args.population, progress=args.progress, store=store,
                          log=lambda s: print(s, file=sys.stderr, flush=True), lengths=lengths,
                          concurrent=args.concurrent, shard=shard,
                          only=packing.order() if packing else None,
                          concurrent_ids=set(packing.concurrent) if packing else None)
    took = done_here(res, time.monotonic() - start)
    if hasattr(store, "record_stopped"):
        store.record_stopped(res.get("stopped", []))
    if bundle_out is not None:
        write_campaign_bundle(bundle_out, store, capped, args.device)
    if res.get("busy"):
        print(f"campaign {res['budget']}: incomplete; {res['busy']} population(s) being trained "
              f"by another process (run again once it is done); {took}")
        return 1
    if not res["finished"]:
        missing = sum(res["rows_missing"].values())
        print(f"campaign {res['budget']}: stopped at the time limit with {missing} row(s) "
              f"missing (run again to resume); {took}")
        return 1
    if shard is not None:
        print(f"campaign {res['budget']}: shard {shard[0]}/{shard[1]} complete "
              f"(other shards' populations are left to them); {took}")
        return 0
    left = {}
    for n in names:
        exp = get_experiment(n)
        m = len([r for r in missing_runs(exp, capped, store, args.seeds)
                 if lengths is None or r.T in lengths])
        if exp.derived_from and missing_runs(get_experiment(exp.derived_from), capped, store):
            left[n] = f"waits for {exp.derived_from}"
        elif m:
            left[n] = f"{m} row(s) missing"
    if left:
        why = "; ".join(f"{k}: {v}" for k, v in left.items())
        print(f"campaign {res['budget']}: incomplete ({why}); {took}")
        return 1
    print(f"campaign {res['budget']}: complete; {took}")
    return 0


def slice_packing(args, names, budget, store, lengths, slice_seconds: float):
    """``--slice``: the packing (:mod:`lra.campaign.slices`), printed; priced on
    ``--projection-device`` or the device in use. With ``--dry-run`` a slice still to start
    (its self-test and benchmark counted where not cached); without, the time left of a slice
    under way (they are behind it)."""
    from lra.campaign.projection import BenchmarkNotFound
    from lra.campaign.slices import format_packing, plan_slice
    from lra.engine.trainer import resolve_device
    from lra.campaign.store import device_name
    if args.projection_device:
        target = args.projection_device
    else:
        dev = resolve_device(args.device)
        target = device_name(dev) if dev.type == "cuda" else "cpu"
    try:
        packing, info = plan_slice(names, budget, store, slice_seconds=slice_seconds,
                                   device_name=target, plan=getattr(args, "plan", None),
                                   max_members=args.population, seeds=args.seeds,
                                   lengths=lengths, ahead=bool(args.dry_run))
    except BenchmarkNotFound as e:
        raise UsageError(f"--slice prices populations from the device's benchmark: {e}") \
            from None
    print(format_packing(packing, info, budget.name), flush=True)
    return packing


def read_shard_plan(path: str) -> dict:
    """``--shard-plan FILE``: {population id: shard}, written by the executor for its jobs."""
    import json
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--shard-plan {path}: unreadable ({e})") from None
    if not isinstance(plan, dict) or not all(isinstance(v, int) for v in plan.values()):
        raise UsageError(f"--shard-plan {path}: not a {{population id: shard}} mapping")
    return plan


def done_here(res: dict, seconds: float) -> str:
    """What this process did: the populations it trained and the rows it stored (not those
    stored before it started, nor those another process finished)."""
    out = (f"this process trained {res['plans_run']} population(s) and stored "
           f"{res['rows_stored']} row(s) in {seconds:.1f} s")
    if res.get("elsewhere"):
        out += f"; {res['elsewhere']} planned population(s) were finished by another process"
    return out


def check_lengths_plan_something(names, budget, lengths: set, args) -> None:
    """A length selection that leaves no run of any selected experiment is bad input (exit 2),
    not a campaign that is "complete" with nothing computed."""
    from lra.campaign.experiments import get_experiment
    from lra.campaign.runner import lengths_of
    have = {n: lengths_of(get_experiment(n), budget) for n in names}
    if any(have[n] & lengths for n in names):
        return
    asked = (f"--lengths {' '.join(map(str, sorted(set(args.lengths))))}" if args.lengths
             else "the plan's lengths")
    if getattr(args, "plan", None) == "evidence" and args.lengths:
        asked += " with --plan evidence"
    have = sorted(set().union(*have.values()))
    shown = ", ".join(map(str, have)) if len(have) <= 8 else \
        f"{', '.join(map(str, have[:4]))}, ..., {have[-1]}"
    raise UsageError(f"{asked}: no selected experiment has runs of that length at budget "
                     f"{budget.name}, nothing to plan (their lengths: {shown})")


def check_bundle_output(args) -> Path | None:
    """The bundle file a campaign will write (refused under the project's own folders)."""
    if args.bundle is None:
        return None
    if args.dry_run:
        raise UsageError("--bundle packs the rows a campaign computes; --dry-run computes none")
    out = Path(args.bundle).expanduser()
    if not out.name.endswith((".tgz", ".tar.gz")):
        raise UsageError(f"--bundle {args.bundle}: give a file name ending in .tgz")
    if out.is_dir():
        raise UsageError(f"--bundle {args.bundle}: is a directory")
    root = repo_root().resolve()
    target = out.resolve()
    for protected in ("book", "results", "lra", "tests"):
        d = root / protected
        if d in target.parents:
            raise UsageError(f"--bundle {args.bundle}: refusing to write under {protected}/")
    try:        # unwritable (read-only, no permission, full): said before any compute
        target.parent.mkdir(parents=True, exist_ok=True)
        from lra.engine.tempfiles import temp_path
        probe = temp_path(target)
        try:
            with open(probe, "wb") as fh:
                fh.write(b"lra")
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            probe.unlink(missing_ok=True)
    except OSError as e:
        raise UsageError(f"--bundle {args.bundle}: cannot write there ({e.strerror or e}); "
                         "nothing was trained") from None
    return target


def bundle_journal(results_root: Path, out: Path) -> Path:
    """The journal of the rows bound for bundle ``out``: in the results folder, beside the rows
    (a full or lost bundle destination loses neither), until the bundle is written."""
    digest = hashlib.sha256(str(out).encode()).hexdigest()[:12]
    return Path(results_root) / "_bundles" / f"{out.name}.{digest}.journal"


def announce_journal(store, out: Path) -> None:
    """Say so when rows of an earlier campaign, whose bundle was never written, will be packed."""
    rows = journaled_rows(store.entries())
    if rows:
        print(f"bundle {out}: {rows} row(s) computed by an earlier run whose bundle was not "
              f"written (listed in {store.journal}) will be packed too", file=sys.stderr,
              flush=True)


def journaled_rows(entries) -> int:
    """The rows a bundle journal names (each once: a write is journaled before and after)."""
    return len({(e["experiment"], e["budget"], k) for e in entries for k in e.get("keys", [])})


def write_campaign_bundle(out: Path, store, budget, device: str) -> None:
    from lra.campaign.bundle import write_bundle
    from lra.engine.trainer import resolve_device
    from lra.campaign.store import provenance
    entries = store.entries()
    if out.exists() and not any(e.get("keys") or "checkpoint" in e for e in entries):
        # the same command run again after it completed: an empty bundle must not replace the
        # one that carries the rows (found by tools/trust_probes.py)
        print(f"bundle {out}: left as it is (this campaign computed no row and stopped no "
              "population; the file is an earlier campaign's bundle)")
        drop_journal(store)
        return
    try:
        manifest = write_bundle(out, store, entries,
                                provenance(resolve_device(device), budget.name))
    except ValueError as e:   # rows of several machines: the rows are stored, the bundle not
        raise UsageError(f"no bundle written: {e}") from None
    except OSError as e:      # full or vanished destination: the rows stay stored and journaled
        rows = journaled_rows(entries)
        raise UsageError(f"no bundle written: cannot write {out} ({e.strerror or e}); its {rows} "
                         f"row(s) are stored in {store.root} and listed in {store.journal}: "
                         "make room and run the same command again to pack them") from None
    rows = sum(len(t["rows"]) for t in manifest["tables"])
    print(f"bundle {out}: {rows} row(s) in {len(manifest['tables'])} table(s), "
          f"{len(manifest['checkpoints'])} checkpoint(s) of populations in flight; commit "
          f"{manifest['commit'][:12]}{' (DIRTY: lra ingest will refuse it)' if manifest['dirty'] else ''}"
          f", {manifest['device']}, torch {manifest['torch']}")
    drop_journal(store)


def drop_journal(store) -> None:
    """The bundle is written (or left as it was): its journal goes."""
    if store.journal is not None:
        store.journal.unlink(missing_ok=True)
        store.journal.with_name(store.journal.name + ".lock").unlink(missing_ok=True)


def job_device(args) -> tuple[str, int]:
    """The device a Slurm job trains on and the GPUs it asks for: one GPU (``--gres=gpu:1``)
    only for CUDA; ``auto`` means CUDA when this PyTorch build has it (the jobs run the same
    installation), else the CPU. A job given a GPU refuses to train on the CPU (``--device
    cuda`` in the job: exit 2 where its PyTorch sees no GPU)."""
    if args.device == "cpu":
        return "cpu", 0
    if args.device.startswith("cuda"):
        return "cuda", 1                   # the job's one GPU, whatever index was named here
    import torch
    return ("cuda", 1) if torch.version.cuda is not None else ("cpu", 0)


def campaign_with_executor(args, names, capped, lengths, store, bundle_out, entry,
                           site: dict) -> int:
    """Submit the campaign as ``--jobs`` shard jobs through submitit, round after round."""
    from lra.campaign.executor import (NO_RESULT, SchedulerError, job_env, job_error,
                                       plan_costs, run_sharded, shard_argv)
    from lra.campaign.runner import default_population_size, missing_by_experiment
    import torch
    log = lambda s: print(s, file=sys.stderr, flush=True)    # noqa: E731
    threads = args.threads
    local_gpus = []                                 # local jobs: one of these each, in turn
    if args.executor == "slurm":
        device, gpus = job_device(args)
        if threads is None:
            threads = 4
        log(f"each Slurm job asks for --cpus-per-task={threads} (its --threads; "
            f"{'given' if args.threads else 'default 4, set --threads to change'}) and "
            + ("one GPU (--gres=gpu:1), training on --device cuda" if gpus else
               "no GPU, training on --device cpu")
            + (f"; site options {site}" if site else ""))
    else:
        gpus, device = 0, args.device
        if threads is None:
            # the cores shared out, every job the same (and so one device name in all their rows)
            threads = max(1, physical_cores() // args.jobs)
        if args.device != "cpu":
            local_gpus = ([int(args.device.split(":")[1])] if args.device.startswith("cuda:")
                          else list(range(torch.cuda.device_count())))
        if local_gpus:
            device = "cuda"                         # the one GPU a local job sees
        elif args.device == "auto":
            device = "cpu"
    population = args.population or default_population_size(torch.device(device))
    journal = None
    if bundle_out is not None:
        journal = store.journal                   # kept from a run whose bundle was not written
    folder = Path(args.executor_folder or repo_root() / "runs" / "submitit")

    def missing():
        return sum(len(v) for v in missing_by_experiment(names, capped, store, args.seeds,
                                                          lengths).values())

    def stored():
        return sum(len(store.load(n, capped.name)) for n in names)

    def plan():
        return plan_costs(names, capped, store, population, args.seeds, lengths,
                          args.projection_device)

    argv = shard_argv(args, names, threads, device=device, population=population,
                      lengths=lengths)
    start = time.monotonic()
    try:
        rounds, done = run_sharded(
            args.executor, argv, args.jobs, job_env(store.root, journal), folder, entry=entry,
            gpus=gpus, local_gpus=local_gpus, cpus=threads,
            minutes=math.ceil(parse_duration(args.job_time) / 60) if args.job_time else 24 * 60,
            partition=args.partition, site=site, missing=missing, stored=stored, plan=plan,
            time_limit=parse_duration(args.time_limit) if args.time_limit else None, log=log)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    statuses = [s for _, s in done]
    refused = [(j, job_error(j)) for j, s in done if s == 2]
    if refused:
        job, why = refused[0]
        raise UsageError(f"job {job.job_id} refused to run: "
                         f"{(why or 'exit status 2').removeprefix('lra: error: ')} "
                         + ("(a job given a GPU does not train on the CPU instead) " if gpus
                            else "") + f"(log: {job.paths.stderr})")
    if bundle_out is not None:
        write_campaign_bundle(bundle_out, store, capped, args.device)
    left = missing()
    took = f"{rounds} round(s) of at most {args.jobs} job(s) in {time.monotonic() - start:.1f} s"
    if left == 0:
        print(f"campaign {capped.name}: complete; {took}")
        return 0
    lost = [j.job_id for j, s in done if s == NO_RESULT]
    why = (f"job(s) {', '.join(lost)} ended without a result (cancelled or killed)" if lost
           else f"job exit statuses {statuses}")
    print(f"campaign {capped.name}: incomplete ({left} row(s) missing; {why}); {took}")
    return 1
