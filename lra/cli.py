"""The ``lra`` command: list, run, campaign, status.

    lra list                                   notebooks, their parameters, the experiments
    lra run NOTEBOOK [-p NAME VALUE]... [-o OUT]   execute one chapter with papermill
    lra campaign --budget paper --time-limit 12m [--experiments ...]   compute missing rows
    lra status [--budget B]                    done / missing rows per experiment and budget

Bad input (unknown notebook, experiment, parameter, budget; wrong type; out-of-range value) is a
one-line error naming the valid choices, exit status 2, before any compute.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from .store import repo_root

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
    """'90s', '12m', '1h30m', '2h', or plain seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", t)
    if not t or not m or not any(m.groups()):
        raise UsageError(f"bad duration {text!r}; use e.g. 90s, 12m, 1h30m")
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


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
    from .experiments import BUDGETS, EXPERIMENTS
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
    from .params import ParameterError, parse_value, validate
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
    out = Path(args.output) if args.output else repo_root() / "runs" / f"{path.stem}.ipynb"
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
    from .experiments import EXPERIMENTS, get_budget
    from .runner import run_experiments
    names = args.experiments or list(EXPERIMENTS)
    for n in names:
        if n not in EXPERIMENTS:
            raise UsageError(f"unknown experiment {n!r}; valid experiments: "
                             f"{', '.join(EXPERIMENTS)}")
    try:
        get_budget(args.budget)
    except ValueError as e:
        raise UsageError(str(e)) from None
    limit = parse_duration(args.time_limit) if args.time_limit else None
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if args.max_iterations is not None and args.max_iterations < 1:
        raise UsageError(f"--max-iterations must be >= 1, got {args.max_iterations}")
    from .params import ParameterError, validate
    try:
        validate(device=args.device)
    except ParameterError as e:
        raise UsageError(str(e)) from None
    if not 1 <= args.concurrent <= 64:
        raise UsageError(f"--concurrent must be between 1 and 64, got {args.concurrent}")
    lengths = None
    if args.lengths:
        bad = [T for T in args.lengths if T < 10]
        if bad:
            raise UsageError(f"--lengths must be sequence lengths >= 10, got {bad}")
        lengths = set(args.lengths)
    if args.dry_run:
        from .runner import dry_run, format_dry_run
        print(format_dry_run(dry_run(names, args.budget, device=args.device, seeds=args.seeds,
                                     max_iterations=args.max_iterations,
                                     max_members=args.population, lengths=lengths,
                                     device_name_for_projection=args.projection_device)))
        return 0
    start = time.monotonic()
    res = run_experiments(names, args.budget, device=args.device, seeds=args.seeds,
                          max_iterations=args.max_iterations, time_limit=limit,
                          max_members=args.population, progress=args.progress,
                          log=lambda s: print(s, file=sys.stderr, flush=True), lengths=lengths,
                          concurrent=args.concurrent)
    state = "complete" if res["finished"] else "stopped at the time limit (run again to resume)"
    print(f"campaign {res['budget']}: {state}; {res['plans_run']} population(s) run in "
          f"{time.monotonic() - start:.1f} s")
    return 0


def cmd_status(args):
    from .experiments import get_budget
    from .runner import status
    budgets = None
    if args.budget:
        try:
            get_budget(args.budget)
        except ValueError as e:
            raise UsageError(str(e)) from None
        budgets = [args.budget]
    rows = status(budgets=budgets)
    w = max(len(r["experiment"]) for r in rows)
    print(f"{'experiment':{w}s} {'backs':32s} {'budget':7s} {'done':>6s} {'missing':>8s}  state")
    for r in rows:
        print(f"{r['experiment']:{w}s} {r['backs']:32s} {r['budget']:7s} {r['done']:6d} "
              f"{r['missing']:8d}  {r['state']}")
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
    c.add_argument("--progress", action="store_true", default=None)
    c.add_argument("--concurrent", type=int, default=1,
                   help="train this many populations at once (threads; on CUDA one stream each)")
    c.add_argument("--lengths", type=int, nargs="+", default=None,
                   help="only these sequence lengths T (e.g. --lengths 10)")
    c.add_argument("--dry-run", action="store_true",
                   help="print the populations it would train and their projected time; train "
                        "nothing")
    c.add_argument("--projection-device", default=None,
                   help="with --dry-run: project on this device's committed benchmark "
                        "(e.g. 'NVIDIA H100 80GB HBM3'; default: the device in use)")
    s = sub.add_parser("status", help="done / missing rows per experiment and budget")
    s.add_argument("--budget", default=None)
    return p


def main(argv=None) -> int:
    from .store import CorruptResults
    try:
        args = build_parser().parse_args(argv)
        fn = {"list": cmd_list, "run": cmd_run, "campaign": cmd_campaign,
              "status": cmd_status}[args.command]
        return fn(args) or 0
    except UsageError as e:
        print(f"lra: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CorruptResults as e:
        print(f"lra: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lra: interrupted; progress is checkpointed, run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
