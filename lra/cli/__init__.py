"""The ``lra`` command: list, run, campaign, status.

    lra list                                   notebooks, their parameters, the experiments
    lra run NOTEBOOK [-p NAME VALUE]... [-o OUT]   execute one chapter with papermill
    lra campaign --budget paper --time-limit 12m [--experiments ...]   compute missing rows
    lra campaign ... --bundle OUT.tgz          ... and pack the rows it computed, with provenance
    lra campaign ... --executor local|slurm --jobs N   one submitit job per shard
    lra campaign ... --slice 12m [--dry-run]   a device slice: the populations that fit, by value
    lra ingest BUNDLE... [--recompute N]       verify bundles (N rows recomputed here), then
                                               merge them into results/
    lra status [--budget B]                    done / missing rows per experiment and budget,
                                               and the machines (device, commit) of the rows

Bad input (unknown notebook, experiment, parameter, budget, kernel or device; wrong type;
out-of-range value; an output path that would overwrite the project's files) and a broken results
store or checkpoint are a one-line error naming the valid choices or the fix, exit status 2,
before any compute and without writing anything. ``lra status`` exits 2 when a table is corrupt.
A selection that plans nothing (``--lengths`` of which no selected experiment has runs) is bad
input too. A filesystem fault (full disk, read-only or forbidden folder) is one line and exit 2,
with nothing half-written; rows a failed table write could not store are saved for the next
campaign (:mod:`lra.campaign.rescue`). A campaign says "complete" only when every requested row
exists; rows waiting on another experiment, or missing (a stop at the time limit: run again to
resume), make it say so and exit 1. Its counts are what this process trained and stored.

``lra campaign`` is :mod:`lra.cli.campaign`; what the subcommands share (the usage error, the
checks of their input, the CPU threads) is :mod:`lra.cli.common`.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from lra.campaign.store import repo_root
from lra.cli.campaign import cmd_campaign
from lra.cli.common import (EXIT_BAD_INPUT, OneLineParser, UsageError, check_device, check_kernel,
                            check_output_path, default_type, notebook_parameters, notebooks,
                            one_line, resolve_notebook)
from lra.cli.common import default_threads, parse_duration, physical_cores  # noqa: F401  (lra.cli.X)


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
    try:        # a file in the way, a read-only or forbidden folder: one line, before any compute
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"-o {args.output or out}: cannot create its folder {out.parent} "
                         f"({e.strerror or e})") from None
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


def cmd_ingest(args):
    """Verify, vouch for (lra.campaign.recompute: consistency, recomputation of ``--recompute``
    rows, signature) and merge the bundles."""
    from lra.campaign import recompute, signatures
    from lra.campaign.bundle import BundleRefused, ingest
    if args.recompute < 0:
        raise UsageError(f"--recompute {args.recompute}: give the number of rows to recompute "
                         "(0: take the numbers unrecomputed)")
    check_device(args.recompute_device)
    allowed = Path(args.allowed_signers) if args.allowed_signers else \
        repo_root() / signatures.ALLOWED_SIGNERS

    def signature(bundle):
        return signatures.check(bundle, allowed, args.require_signature)

    def vouch(bundle):
        return recompute.vouch(bundle, args.recompute, args.recompute_device, log=print,
                               signature=signature)
    try:
        report = ingest(args.bundles, vouch=vouch)
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
    if args.budget is not None:             # (an empty name is bad input, not "every budget")
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


def cmd_verdicts(args) -> int:
    """Each claim part's verdict, strength and the rule that gave it, computed from results/
    (lra.analysis.verdicts): what the README points to instead of typing results in."""
    from lra.analysis import verdicts as V
    for v in V.verdicts():
        why = f" ({v.why_line})" if v.why_line else ""
        print(f"{v.part}: {v.verdict}; {v.strength}{why}\n  rule: {v.rule}\n  {v.headline}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="lra", description="Rerun the LRA-RNN reproduction's experiments.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
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
    c.add_argument("--slice", default=None, metavar="DURATION",
                   help="a device slice of this length (e.g. 12m): train only the populations "
                        "the slice packer fits, by value, with the slice's training seconds as "
                        "the time limit (lra.campaign.slices); with --dry-run, print the packing")
    c.add_argument("--experiments", nargs="+")
    c.add_argument("--plan", choices=["evidence"], default=None,
                   help="run a plan's experiments in its order (evidence: lra.campaign.evidence, "
                        "the comparisons that decide each claim); with --dry-run, print the plan")
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
    c.add_argument("--slurm-option", action="append", default=None, metavar="NAME=VALUE",
                   help="with --executor slurm: a further sbatch option for every job, e.g. "
                        "account=xyz, qos=normal, mem=16G, constraint=a100 (repeatable)")
    c.add_argument("--shard-plan", default=None, metavar="FILE",
                   help="with --shard: the populations of each shard ({population id: shard}, "
                        "as the executor writes it); others by --shard's hash")
    c.add_argument("--executor-folder", default=None,
                   help="with --executor: where submitit keeps job files and logs (default "
                        "runs/submitit; on Slurm it must be on a shared filesystem)")
    i = sub.add_parser("ingest", help="verify result bundles and merge them into results/")
    i.add_argument("bundles", nargs="+", metavar="BUNDLE")
    i.add_argument("--recompute", type=int, default=2, metavar="N",
                   help="retrain N randomly chosen rows of each bundle here for their first "
                        "checks and refuse the bundle unless their curves agree (default 2; "
                        "0: take the numbers unrecomputed)")
    i.add_argument("--recompute-device", default="cpu",
                   help="where to recompute (default cpu)")
    i.add_argument("--allowed-signers", default=None, metavar="FILE",
                   help="the SSH allowed-signers file naming who may sign bundles (default "
                        ".lra/allowed_signers; a bundle's signature is BUNDLE.sig)")
    i.add_argument("--require-signature", action="store_true",
                   help="refuse a bundle unless its signature is by an allowed signer")
    s = sub.add_parser("status", help="done / missing rows per experiment and budget")
    s.add_argument("--budget", default=None)
    sub.add_parser("verdicts", help="each claim part's verdict, strength and rule, from results/")
    return p


# Filesystem faults a user can fix (full disk, quota, read-only or forbidden folder, I/O error):
# one line and exit 2, not a traceback. Every write is atomic, so none leaves half a file.
FS_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
             errno.EFBIG)


def main(argv=None) -> int:
    from lra.campaign.store import CorruptResults, ResultsWriteError
    try:
        args = build_parser().parse_args(argv)
        fn = {"list": cmd_list, "run": cmd_run,
              "campaign": lambda a: cmd_campaign(a, entry=main),
              "ingest": cmd_ingest, "status": cmd_status, "verdicts": cmd_verdicts}[args.command]
        code = fn(args) or 0
        sys.stdout.flush()
        return code
    except UsageError as e:
        print(f"lra: error: {one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (CorruptResults, ResultsWriteError) as e:
        print(f"lra: error: {one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as e:
        if str(e).startswith("checkpoint "):     # lra.engine.trainer: unreadable or foreign checkpoint
            print(f"lra: error: {one_line(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
    except BrokenPipeError:
        # the reader went away (`lra list | head`): no traceback; silence the final flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in FS_FAULTS:
            raise
        print(f"lra: error: cannot write {e.filename or 'a file'} ({e.strerror or e}); nothing "
              "half-written is left: fix that and run the same command again (progress is "
              "checkpointed)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lra: interrupted; progress is checkpointed, run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
