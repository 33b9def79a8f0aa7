"""The ``lra`` command: list, run, campaign, status.

    lra list                                   notebooks, their parameters, the experiments
    lra run NOTEBOOK [-p NAME VALUE]... [-o OUT]   execute one chapter with papermill
    lra campaign --budget paper --time-limit 12m [--experiments ...]   compute missing rows
    lra campaign ... --bundle OUT.tgz          ... and pack the rows it computed, with provenance
    lra campaign ... --executor local|slurm --jobs N   one submitit job per shard
    lra ingest BUNDLE...                       verify bundles, then merge them into results/
    lra status [--budget B]                    done / missing rows per experiment and budget,
                                               and the machines (device, commit) of the rows

Bad input (unknown notebook, experiment, parameter, budget, kernel or device; wrong type;
out-of-range value; an output path that would overwrite the project's files) and a broken results
store or checkpoint are a one-line error naming the valid choices or the fix, exit status 2,
before any compute and without writing anything. ``lra status`` exits 2 when a table is corrupt.
A campaign says "complete" only when every requested row exists; rows waiting on another
experiment, or missing, make it say so and exit 1.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from lra.campaign.store import repo_root

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(message)


def book_dir() -> Path:
    return repo_root() / "book"


def notebooks() -> dict[str, Path]:
    return {p.stem: p for p in sorted(book_dir().glob("*.ipynb"))}


def resolve_notebook(name: str) -> Path:
    nbs = notebooks()
    stem = Path(name).stem
    if stem not in nbs:
        raise UsageError(f"unknown notebook {name!r}; valid notebooks: {', '.join(nbs)}")
    return nbs[stem]


def parse_duration(text: str) -> float:
    """'90s', '12m', '1h30m', '2h', or plain seconds; must be positive."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        value = float(t)
    else:
        m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", t)
        if not t or not m or not any(m.groups()):
            raise UsageError(f"bad duration {text!r}; use e.g. 90s, 12m, 1h30m")
        h, mi, s = (int(g or 0) for g in m.groups())
        value = h * 3600 + mi * 60 + s
    if not value > 0:
        raise UsageError(f"bad duration {text!r}: the time limit must be positive")
    return value


def check_device(device: str) -> None:
    """A syntactically valid device that this machine's PyTorch can also use."""
    from lra.campaign.params import ParameterError, validate
    try:
        validate(device=device)
    except ParameterError as e:
        raise UsageError(str(e)) from None
    if device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA device is visible")
            raise UsageError(f"device {device!r} requested but {why}; use --device cpu or auto")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} requested but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")


def check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    if name not in specs:
        raise UsageError(f"unknown Jupyter kernel {name!r}; installed kernels: "
                         f"{', '.join(sorted(specs)) or '(none)'}")


def check_output_path(out: Path, notebook: Path) -> Path:
    """Refuse to write the executed notebook over the project's own files."""
    root = repo_root().resolve()
    target = out.expanduser().resolve()
    if target.is_dir():
        raise UsageError(f"-o {out}: is a directory; give a file name ending in .ipynb")
    if target == notebook.resolve():
        raise UsageError(f"-o {out}: would overwrite the chapter itself")
    for protected in ("book", "results", "lra", "tests"):
        d = root / protected
        if target == d or d in target.parents:
            raise UsageError(f"-o {out}: refusing to write under {protected}/ (the project's "
                             "files); write to runs/ (the default) or outside the checkout")
    if root in target.parents and target.exists():
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(target)], cwd=root,
                                 capture_output=True, text=True)
        if tracked.returncode == 0:
            raise UsageError(f"-o {out}: refusing to overwrite a file tracked by git")
    return target


def check_checkpoints(folder: Path) -> None:
    """Every in-flight checkpoint must load (a torn one is reported before anything runs)."""
    if not folder.is_dir():
        return
    import torch
    for ck in sorted(folder.glob("*.pt")):
        try:
            torch.load(ck, map_location="cpu", weights_only=False)
        except Exception as e:
            raise UsageError(f"checkpoint {ck} is unreadable ({_one_line(e)[:200]}); delete it "
                             "to start that population afresh") from None


def physical_cores() -> int:
    """Physical cores this process may use (logical CPUs when the topology is unknown)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    cores = set()
    try:
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                phys = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                cores.add((phys, core))
    except OSError:
        pass
    return max(1, min(usable, len(cores) if cores else usable))


def default_threads(cap: int = 4) -> tuple[int, str]:
    """min(physical cores, 4), less the cores other processes keep busy (1-minute load
    average), at least 1: more threads than free cores makes PyTorch much slower, not faster."""
    cores = physical_cores()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):
        busy = 0
    n = max(1, min(cap, cores, cores - busy))
    return n, f"{cores} physical core(s), load {busy}"



def notebook_parameters(path: Path) -> dict:
    import papermill as pm
    return pm.inspect_notebook(str(path))


def default_type(param: dict) -> str | None:
    """The type of a parameter's default value in the notebook ("int", "bool", ...)."""
    import ast
    inferred = param.get("inferred_type_name")
    if inferred and inferred != "None":
        return inferred
    try:
        value = ast.literal_eval(param.get("default", ""))
    except (ValueError, SyntaxError):
        return None
    return None if value is None else type(value).__name__


def cmd_list(args):
    from lra.campaign.experiments import BUDGETS, EXPERIMENTS
    print("Notebooks (lra run NAME -p PARAM VALUE ...):")
    for name, path in notebooks().items():
        params = notebook_parameters(path)
        desc = ", ".join(f"{k}={v['default']}" for k, v in params.items()) or "(no parameters)"
        print(f"  {name:22s} {desc}")
    print("\nExperiments (lra campaign --experiments NAME ...):")
    for e in EXPERIMENTS.values():
        print(f"  {e.name:38s} {e.backs:32s} {e.title}  [notebook: {e.notebook}]")
    print("\nBudgets:")
    for b in BUDGETS.values():
        print(f"  {b.name:6s} {b.description}")


def cmd_run(args):
    from lra.campaign.params import ParameterError, parse_value, validate
    path = resolve_notebook(args.notebook)
    declared = notebook_parameters(path)
    values = {}
    for name, text in args.parameters or []:
        if name not in declared:
            raise UsageError(f"notebook {path.stem!r} has no parameter {name!r}; valid: "
                             f"{', '.join(declared) or '(none)'}")
        try:
            values[name] = parse_value(text, default_type(declared[name]))
        except ParameterError as e:
            raise UsageError(f"parameter {name}: {e}") from None
    try:
        validate(**values)
    except ParameterError as e:
        raise UsageError(str(e)) from None
    if "device" in values:
        check_device(values["device"])
    check_kernel(args.kernel)
    if args.output is not None:
        if not args.output.strip():
            raise UsageError("-o needs a file name")
        out = check_output_path(Path(args.output), path)
    else:
        out = repo_root() / "runs" / f"{path.stem}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    import papermill as pm
    print(f"running {path.relative_to(repo_root())} with {values or 'defaults'} -> {out}",
          file=sys.stderr)
    try:
        pm.execute_notebook(str(path), str(out), parameters=values, progress_bar=True,
                            cwd=str(path.parent), kernel_name=args.kernel)
    except pm.PapermillExecutionError as e:
        print(f"lra: error: {path.stem} failed in cell {e.exec_count}: {e.ename}: {e.evalue}; "
              f"the executed notebook with the error is {out}", file=sys.stderr)
        return 1
    print(f"executed notebook: {out}", file=sys.stderr)
    return 0


def cmd_campaign(args):
    from lra.campaign.experiments import EXPERIMENTS, get_budget, get_experiment
    from lra.campaign.params import MAX_ITERATIONS, MAX_SEEDS
    names = args.experiments or list(EXPERIMENTS)
    for n in names:
        if n not in EXPERIMENTS:
            raise UsageError(f"unknown experiment {n!r}; valid experiments: "
                             f"{', '.join(EXPERIMENTS)}")
    try:
        budget = get_budget(args.budget)
    except ValueError as e:
        raise UsageError(str(e)) from None
    limit = parse_duration(args.time_limit) if args.time_limit is not None else None
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
    if not 1 <= args.concurrent <= 64:
        raise UsageError(f"--concurrent must be between 1 and 64, got {args.concurrent}")
    lengths = None
    if args.lengths:
        bad = [T for T in args.lengths if T < 10]
        if bad:
            raise UsageError(f"--lengths must be sequence lengths >= 10, got {bad}")
        lengths = set(args.lengths)
    check_device(args.device)
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
    from lra.campaign.runner import budget_with_cap, missing_runs, run_experiments
    from lra.campaign.store import ResultsStore
    journal = os.environ.get("LRA_BUNDLE_JOURNAL")
    if bundle_out is not None or journal:
        from lra.campaign.bundle import RecordingStore
        store = RecordingStore(journal=journal or None)
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
    if args.dry_run:
        from lra.campaign.runner import dry_run, format_dry_run
        print(format_dry_run(dry_run(names, args.budget, device=args.device, seeds=args.seeds,
                                     max_iterations=args.max_iterations, store=store,
                                     max_members=args.population, lengths=lengths,
                                     device_name_for_projection=args.projection_device)))
        return 0
    if args.executor:
        return campaign_with_executor(args, names, capped, lengths, store, bundle_out)
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
                          concurrent=args.concurrent, shard=shard)
    took = f"{res['plans_run']} population(s) run in {time.monotonic() - start:.1f} s"
    if hasattr(store, "record_stopped"):
        store.record_stopped(res.get("stopped", []))
    if bundle_out is not None:
        write_campaign_bundle(bundle_out, store, capped, args.device)
    if res.get("busy"):
        print(f"campaign {res['budget']}: incomplete; {res['busy']} population(s) being trained "
              f"by another process (run again once it is done); {took}")
        return 1
    if not res["finished"]:
        print(f"campaign {res['budget']}: stopped at the time limit (run again to resume); {took}")
        return 0
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
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_campaign_bundle(out: Path, store, budget, device: str) -> None:
    from lra.campaign.bundle import write_bundle
    from lra.engine.trainer import resolve_device
    from lra.campaign.store import provenance
    entries = store.entries()
    try:
        manifest = write_bundle(out, store, entries,
                                provenance(resolve_device(device), budget.name))
    except ValueError as e:   # rows of several machines: the rows are stored, the bundle not
        raise UsageError(f"no bundle written: {e}") from None
    rows = sum(len(t["rows"]) for t in manifest["tables"])
    print(f"bundle {out}: {rows} row(s) in {len(manifest['tables'])} table(s), "
          f"{len(manifest['checkpoints'])} checkpoint(s) of populations in flight; commit "
          f"{manifest['commit'][:12]}{' (DIRTY: lra ingest will refuse it)' if manifest['dirty'] else ''}"
          f", {manifest['device']}, torch {manifest['torch']}")
    if store.journal is not None:
        store.journal.unlink(missing_ok=True)
        store.journal.with_name(store.journal.name + ".lock").unlink(missing_ok=True)


def campaign_with_executor(args, names, capped, lengths, store, bundle_out) -> int:
    """Submit the campaign as ``--jobs`` shard jobs through submitit, round after round."""
    from lra.campaign.executor import job_env, run_sharded, shard_argv
    from lra.campaign.runner import missing_by_experiment
    threads = args.threads
    if threads is None and args.executor == "local":
        # the cores shared out, every job the same (and so one device name in all their rows)
        threads = max(1, physical_cores() // args.jobs)
    journal = None
    if bundle_out is not None:
        journal = bundle_out.with_name(bundle_out.name + ".journal")
        journal.unlink(missing_ok=True)
        from lra.campaign.bundle import RecordingStore
        store = RecordingStore(store.root, journal=journal)
    folder = Path(args.executor_folder or repo_root() / "runs" / "submitit")

    def missing():
        return sum(len(v) for v in missing_by_experiment(names, capped, store, args.seeds,
                                                          lengths).values())

    def stored():
        return sum(len(store.load(n, capped.name)) for n in names)

    gpus = 0 if args.device == "cpu" else 1       # per Slurm job
    local_gpus = []                                 # local jobs: one of these each, in turn
    if args.executor == "local" and args.device != "cpu":
        import torch
        local_gpus = ([int(args.device.split(":")[1])] if args.device.startswith("cuda:")
                      else list(range(torch.cuda.device_count())))
    argv = shard_argv(args, names, threads)
    if local_gpus and args.device.startswith("cuda"):
        argv[argv.index("--device") + 1] = "cuda"   # the one GPU a local job sees
    start = time.monotonic()
    rounds, statuses = run_sharded(
        args.executor, argv, args.jobs, job_env(store.root, journal), folder, entry=main, gpus=gpus,
        local_gpus=local_gpus, cpus=threads or 4,
        minutes=math.ceil(parse_duration(args.job_time) / 60) if args.job_time else 24 * 60,
        partition=args.partition, missing=missing, stored=stored,
        time_limit=parse_duration(args.time_limit) if args.time_limit else None,
        log=lambda s: print(s, file=sys.stderr, flush=True))
    if bundle_out is not None:
        write_campaign_bundle(bundle_out, store, capped, args.device)
    left = missing()
    took = f"{rounds} round(s) of {args.jobs} job(s) in {time.monotonic() - start:.1f} s"
    if left == 0:
        print(f"campaign {capped.name}: complete; {took}")
        return 0
    print(f"campaign {capped.name}: incomplete ({left} row(s) missing; job exit statuses "
          f"{statuses}); {took}")
    return 1


def cmd_ingest(args):
    from lra.campaign.bundle import BundleRefused, ingest
    try:
        report = ingest(args.bundles)
    except BundleRefused as e:
        raise UsageError(str(e)) from None
    for line in report.verified:
        print(line)
    for (exp, budget), n in sorted(report.added.items()):
        print(f"{exp}/{budget}: {n} row(s) added")
    print(f"ingested {len(args.bundles)} bundle(s): {sum(report.added.values())} row(s) added, "
          f"{report.skipped} identical duplicate(s) skipped, {len(report.checkpoints)} "
          f"checkpoint(s) of populations in flight written"
          + (f", {len(report.kept)} kept (the local one is as far along)" if report.kept else ""))
    return 0


def cmd_status(args):
    from lra.campaign.runner import budget_named, status
    from lra.campaign.store import code_version
    budgets = None
    if args.budget:
        try:
            budget_named(args.budget)
        except ValueError as e:
            raise UsageError(str(e)) from None
        budgets = [args.budget]
    rows = status(budgets=budgets)
    w = max(len(r["experiment"]) for r in rows)
    bw = max(7, *(len(r["budget"]) for r in rows))
    print(f"{'experiment':{w}s} {'backs':32s} {'budget':{bw}s} {'done':>6s} {'missing':>8s} "
          f"{'stale':>6s}  state")
    for r in rows:
        print(f"{r['experiment']:{w}s} {r['backs']:32s} {r['budget']:{bw}s} {r['done']:6d} "
              f"{r['missing']:8d} {r['stale']:6d}  {r['state']}")
        for m in r.get("machines", []):
            print(f"{'':{w}s}   {m['rows']:5d} row(s) from {m['device']} @ {m['commit']}")
    stale = sum(r["stale"] for r in rows)
    from lra.campaign.store import CODE_MODULES
    modules = ",".join(m[:-3] for m in CODE_MODULES)
    print(f"\ncode version {code_version()} (hash of lra/{{{modules}}}.py); stale = rows "
          f"computed by other code or of unknown version"
          + (f": {stale} row(s); move their tables away and rerun to reproduce them"
             if stale else ""))
    errors = [r for r in rows if r["error"]]
    if errors:
        print(f"lra: error: {len(errors)} corrupt table(s): " + " | ".join(
            r["error"] for r in errors), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lra", description="Rerun the LRA-RNN reproduction's experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="notebooks, their parameters, experiments and budgets")
    r = sub.add_parser("run", help="execute one notebook with papermill")
    r.add_argument("notebook")
    r.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                   metavar=("NAME", "VALUE"))
    r.add_argument("-o", "--output", help="where to save the executed notebook")
    r.add_argument("--kernel", default="python3")
    c = sub.add_parser("campaign", help="compute the missing rows of experiments")
    c.add_argument("--budget", default="smoke")
    c.add_argument("--time-limit", default=None, help="e.g. 12m; stop cleanly, resumable")
    c.add_argument("--experiments", nargs="+")
    c.add_argument("--device", default="auto")
    c.add_argument("--seeds", type=int, default=None)
    c.add_argument("--max-iterations", type=int, default=None,
                   help="override the cap (stored under its own budget name)")
    c.add_argument("--population", type=int, default=None, help="members per population")
    c.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: min(physical cores, 4) less the busy ones)")
    c.add_argument("--progress", action="store_true", default=None)
    c.add_argument("--shard", default=None, metavar="I/N",
                   help="train only shard I of N (0 <= I < N): a deterministic share of the "
                        "populations, for several machines on one results directory")
    c.add_argument("--concurrent", type=int, default=1,
                   help="train this many populations at once (threads; on CUDA one stream each; "
                        "experimental: default 1)")
    c.add_argument("--lengths", type=int, nargs="+", default=None,
                   help="only these sequence lengths T (e.g. --lengths 10)")
    c.add_argument("--dry-run", action="store_true",
                   help="print the populations it would train and their projected time; train "
                        "nothing")
    c.add_argument("--projection-device", default=None,
                   help="with --dry-run: project on this device's committed benchmark "
                        "(e.g. 'NVIDIA H100 80GB HBM3'; default: the device in use)")
    c.add_argument("--bundle", default=None, metavar="OUT.tgz",
                   help="pack the rows this campaign computes (and checkpoints of populations "
                        "it stops) with their provenance, for `lra ingest` elsewhere")
    c.add_argument("--executor", choices=("local", "slurm"), default=None,
                   help="submit one job per shard through submitit (pip install "
                        "'lra-book[cluster]'): local subprocesses or Slurm jobs")
    c.add_argument("--jobs", type=int, default=2, help="with --executor: shards (jobs) per round")
    c.add_argument("--job-time", default=None,
                   help="with --executor: each job's time limit (e.g. 4h; default 24h); a job "
                        "stopped at it is requeued and resumes from its checkpoint")
    c.add_argument("--partition", default=None, help="with --executor slurm: the partition")
    c.add_argument("--executor-folder", default=None,
                   help="with --executor: where submitit keeps job files and logs (default "
                        "runs/submitit; on Slurm it must be on a shared filesystem)")
    i = sub.add_parser("ingest", help="verify result bundles and merge them into results/")
    i.add_argument("bundles", nargs="+", metavar="BUNDLE")
    s = sub.add_parser("status", help="done / missing rows per experiment and budget")
    s.add_argument("--budget", default=None)
    return p


def _one_line(e) -> str:
    return " ".join(str(e).split())


def main(argv=None) -> int:
    from lra.campaign.store import CorruptResults
    try:
        args = build_parser().parse_args(argv)
        fn = {"list": cmd_list, "run": cmd_run, "campaign": cmd_campaign,
              "ingest": cmd_ingest, "status": cmd_status}[args.command]
        code = fn(args) or 0
        sys.stdout.flush()
        return code
    except UsageError as e:
        print(f"lra: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CorruptResults as e:
        print(f"lra: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as e:
        if str(e).startswith("checkpoint "):     # lra.engine.trainer: unreadable or foreign checkpoint
            print(f"lra: error: {_one_line(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
    except BrokenPipeError:
        # the reader went away (`lra list | head`): no traceback; silence the final flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("lra: interrupted; progress is checkpointed, run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
