"""Are a bundle's numbers genuine? Checks by consistency and by recomputation (issue 20, item 2).

:mod:`lra.campaign.bundle` verifies that a bundle is undamaged, made by clean code of this
history and free of code. Its hashes cannot say that the numbers are genuine: whoever edits a
number can recompute every hash. :func:`vouch` (what ``lra ingest`` hands to
:func:`lra.campaign.bundle.ingest`) refuses a bundle, one line
(:class:`lra.campaign.tarball.BundleRefused`), unless

1. **every row follows from its curve and names its run** (:func:`check_row`): its algorithm,
   task, T, seed, switches, variant and configuration are those of the run its key names; its
   best and final accuracies are its curve's highest and last; ``solved`` holds exactly when the
   final accuracy is within the solved error; its validation bits give its best accuracy; its
   held-out test accuracies are in [0, 1] and its test bits give them. So a table's validation
   numbers can only be changed by changing the curve;
2. **N randomly chosen rows recompute** (:func:`recompute_row`): each is retrained here, from its
   seed, by the campaign's own trainer (:func:`lra.campaign.runner.population_trainer`, alone:
   a member computes the same numbers alone as in a population) for its first checks, at most
   :data:`PREFIX_ITERATIONS` iterations and :data:`SECONDS_PER_ROW` seconds (the trainer stops
   at its first check after that), and its validation-accuracy curve must have the bundle's
   checks with accuracies within :data:`ALLOWANCE` of the bundle's at each; where the
   recomputation is the row's whole run (every row of the smoke budget, or one that stopped
   within the prefix), its best and final test accuracies must be within the allowance too
   (:func:`compare_test`; tools/trust_probes.py found them unchecked). The rows are drawn
   by the operating system's randomness, so a bundle cannot choose which of its rows are looked
   at; a forger must get every row right to pass with certainty;
3. **a signature, where there is one, is good** (:mod:`lra.campaign.signatures`).

Recomputation is on for every bundle by default (N = 2), from another device kind or not: the
device is the bundle's own claim, so a check that depended on it could be turned off by naming
this machine's device. Rows of another code version than this checkout's cannot be expected to
recompute (the numbers are the code's), so such a bundle is refused unless recomputation is
turned off explicitly (``--recompute 0``: its numbers are then taken as the other machine's, and
``lra status`` counts them stale). What is not checked: the checks after the recomputed prefix
(a forger who leaves the first checks alone can change the later ones together with the summary
numbers, in rows not drawn), the test accuracies of a row whose run is longer than the prefix
(beyond their agreement with their bits), which samples stored bits mark right (only how many),
the loss column of the curve, the probes, and the weights of a checkpoint carried to resume.
"""
from __future__ import annotations

import json
import math
import random
import time

import pandas as pd
import torch

from lra.campaign.bundle import Bundle, known_budget
from lra.campaign.experiments import runs_by_key
from lra.campaign.runner import budget_named, population_trainer
from lra.campaign.store import CONFIG_COLUMNS, code_version, device_name
from lra.engine.predictions import accuracy as bits_accuracy
from lra.engine.results import SOLVED_ERROR

# The cross-device allowance: the largest difference of validation accuracy at one check that a
# recomputation may show. scripts/gpu_selftest.py allows max(3 x the CPU's own float32 noise,
# 0.02) between a device's curve and the CPU's; its committed H100 run
# (benchmarks/results/logs/2026-11-26-h100-594dec8/selftest.json, 200 iterations) measured gaps
# of at most 0.009 and noise of at most 0.004, so the allowance it applied was 0.02 in every
# case. The same allowance holds between two machines of one kind: the engine's numbers are
# bit-identical on one machine (tests/engine/test_engine.py), and an exact recomputation is
# reported as such, but a bundle's device name does not say which CPU rounded its products, and
# on a GPU the chain kernel is chosen by the population's size.
ALLOWANCE = 0.02
PREFIX_ITERATIONS = 500      # the first checks: 5 at the paper's budget, all 6 of the smoke's
SECONDS_PER_ROW = 60.0       # then the trainer stops at its next check
DEFAULT_ROWS = 2
STOP_REASONS = ("solved", "cap", "patience", "diverged", "spectral_radius", "stage_solved")


def _describe(row: dict) -> str:
    return (f"row {row['key']} ({row['experiment']}: {row['algorithm']} {row['task']} "
            f"T={row['T']} seed {row['seed']})")


def _same(text: str, value) -> bool:
    """A CSV cell ``text`` spells ``value`` (numbers compare as numbers, None as empty)."""
    if value is None:
        return text.lower() in ("", "nan", "none")
    if isinstance(value, str):
        return text == value
    try:
        return float(text) == float(value)
    except ValueError:
        return False


def parse_curve(b: Bundle, row: dict) -> list[tuple[int, float]]:
    """The row's curve as (iteration, validation accuracy) checks; refused unless it is a list of
    checks at increasing iterations from 0, with accuracies in [0, 1]."""
    try:
        curve = json.loads(row["curve"])
        checks = [(int(c[0]), float(c[1])) for c in curve]
        if any(int(c[0]) != c[0] for c in curve):
            raise ValueError("an iteration that is not a whole number")
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as e:
        b.refuse(f"{_describe(row)}: its curve is not a list of [iteration, accuracy, loss] "
                 f"checks ({type(e).__name__})")
    its = [it for it, _ in checks]
    if not checks or its[0] != 0 or any(x >= y for x, y in zip(its, its[1:])) or \
            not all(0.0 <= acc <= 1.0 for _, acc in checks):
        b.refuse(f"{_describe(row)}: its curve is not checks at increasing iterations from 0 "
                 "with accuracies in [0, 1]")
    return checks


def check_row(b: Bundle, row: dict, run, cap: int) -> None:
    """Refuse a row whose descriptive columns are not its key's run, or whose numbers do not
    follow from its curve (see the module's docstring)."""
    want = dict(algorithm=run.algorithm, task=run.task, T=run.T, seed=run.seed,
                switches="+".join(run.switches), variant=run.variant,
                **{c: dict(run.config).get(c) for c in CONFIG_COLUMNS})
    for column, value in want.items():
        if not _same(str(row.get(column, "")), value):
            b.refuse(f"{_describe(row)} says {column} = {row.get(column)!r}, but its key names "
                     f"the run with {column} = {value!r}")
    checks = parse_curve(b, row)
    accs = [acc for _, acc in checks]

    def number(column):
        try:
            return float(row[column])
        except ValueError:
            b.refuse(f"{_describe(row)}: {column} {row[column]!r} is not a number")

    best, final, iterations = number("best_accuracy"), number("final_accuracy"), \
        number("iterations")
    solved = str(row["solved"]).lower() == "true"
    why = None
    if abs(best - max(accs)) > 1e-9:
        why = f"best accuracy {best} is not its curve's highest, {max(accs)}"
    elif abs(final - accs[-1]) > 1e-9:
        why = f"final accuracy {final} is not its curve's last, {accs[-1]}"
    elif solved != (1 - final < SOLVED_ERROR) or solved != (row["stop_reason"] == "solved"):
        why = (f"solved = {row['solved']}, stop reason {row['stop_reason']!r} and final "
               f"accuracy {final} disagree")
    elif row["stop_reason"] not in STOP_REASONS:
        why = f"stop reason {row['stop_reason']!r} is none of the engine's {STOP_REASONS}"
    elif not checks[-1][0] <= iterations <= cap or (solved and iterations != checks[-1][0]):
        why = (f"{iterations:g} iterations do not fit its curve's last check at "
               f"{checks[-1][0]} and the cap {cap}")
    elif row.get("best_correct", ""):
        try:
            implied = bits_accuracy(row["best_correct"])
        except ValueError as e:
            implied, why = None, f"its validation bits are malformed ({e})"
        if implied is not None and abs(implied - best) > 1e-6:
            why = f"its validation bits give accuracy {implied}, not its best accuracy {best}"
    if why:
        b.refuse(f"{_describe(row)} does not follow from its curve: {why}")
    why = _test_numbers_why(row)
    if why:
        b.refuse(f"{_describe(row)}: {why}")


TEST_COLUMNS = (("best_test_accuracy", "best_test_correct"),
                ("final_test_accuracy", "final_test_correct"))


def _missing(text) -> bool:
    return str(text).lower() in ("", "nan", "none")


def _test_numbers_why(row: dict) -> str | None:
    """Why the row's held-out test numbers are inconsistent (None when they are not): each test
    accuracy is a number in [0, 1], and its stored test bits (which samples were right: what
    the paired tests read) give exactly that accuracy."""
    for acc_column, bits_column in TEST_COLUMNS:
        text, bits = row.get(acc_column, ""), row.get(bits_column, "")
        if _missing(text):
            if not _missing(bits):
                return f"it has {bits_column} but no {acc_column}"
            continue
        try:
            acc = float(text)
        except ValueError:
            return f"{acc_column} {text!r} is not a number"
        if not 0.0 <= acc <= 1.0:
            return f"{acc_column} {acc} is not in [0, 1]"
        if _missing(bits):
            continue
        try:
            implied = bits_accuracy(bits)
        except ValueError as e:
            return f"its {bits_column} is malformed ({e})"
        if implied is not None and abs(implied - acc) > 1e-6:
            return f"its {bits_column} gives test accuracy {implied}, not its {acc_column} {acc}"
    return None


def compare_test(row: dict, result) -> tuple[float, str | None] | None:
    """(largest gap, the column) between the row's test accuracies and those of its
    recomputation ``result`` (a :class:`lra.engine.results.MemberResult`), or None when the
    recomputation did not run the row's whole run (it stopped at the prefix, or at the time
    allowed): the test numbers are those of its best check and of its end, so only a whole run
    gives them. A missing stored accuracy the recomputation has is an infinite gap."""
    if result.stop_reason != row.get("stop_reason") or \
            not _same(str(row.get("iterations", "")), result.iterations):
        return None
    worst, at = 0.0, None
    for column, _ in TEST_COLUMNS:
        got = getattr(result, column, None)
        if got is None:
            continue
        text = row.get(column, "")
        gap = math.inf if _missing(text) else abs(float(text) - got)
        if at is None or gap > worst:
            worst, at = gap, column
    return (worst, at) if at is not None else None


def prefix_iterations(budget) -> int:
    """The iterations recomputed: the checks up to PREFIX_ITERATIONS (a whole number of check
    intervals, so that the last is a check of the stored curve too), or the whole capped run."""
    every = budget.check_every
    return min(budget.max_iterations, max(every, PREFIX_ITERATIONS // every * every))


def recompute_row(run, budget, device, seconds: float = SECONDS_PER_ROW):
    """Retrain ``run`` alone here for its first checks; its curve [(iteration, accuracy)], the
    seconds it took, and its result (:class:`lra.engine.results.MemberResult`)."""
    trainer = population_trainer([run], budget, device, max_iterations=prefix_iterations(budget),
                                 progress=False)
    start = time.monotonic()
    result = trainer.run(stop_after_seconds=seconds)[0]
    return [(int(c[0]), float(c[1])) for c in result.curve], time.monotonic() - start, result


def compare(stored, recomputed) -> tuple[int, float, int | None, str | None]:
    """(last iteration compared, largest gap, its iteration, why not comparable or None): the
    checks up to the earlier of the two curves' ends must be the same iterations."""
    last = min(stored[-1][0], recomputed[-1][0])
    s = {it: acc for it, acc in stored if it <= last}
    r = {it: acc for it, acc in recomputed if it <= last}
    if set(s) != set(r):
        return last, math.inf, None, (f"its curve has checks at iterations "
                                      f"{sorted(s)[:8]}, the recomputation at {sorted(r)[:8]}")
    worst = max(s, key=lambda it: abs(s[it] - r[it]))
    return last, abs(s[worst] - r[worst]), worst, None


def rows_and_runs(b: Bundle) -> list[tuple[dict, object, object]]:
    """Every row of ``b`` (:func:`check_row`: refused unless it follows from its curve and names
    its run), with its run and budget."""
    found = []
    for t in b.manifest.get("tables", []):
        df = b.table(t)
        seeds = int(pd.to_numeric(df["seed"]).max()) + 1 if len(df) else 1
        runs = runs_by_key(t["experiment"], known_budget(t["budget"]), seeds)
        budget = budget_named(t["budget"])
        for row in df.to_dict("records"):
            check_row(b, row, runs[row["key"]], budget.max_iterations)
            found.append((row, runs[row["key"]], budget))
    return found


def vouch(b: Bundle, rows: int = DEFAULT_ROWS, device="cpu", log=None,
          seconds: float = SECONDS_PER_ROW, signature=None) -> str:
    """Check that ``b``'s numbers are genuine (the module's docstring); refuse it (one line) or
    return what was checked. ``signature(b)`` checks its signature (returns a phrase or refuses).
    ``log`` gets a line per recomputed row."""
    log = log or (lambda line: None)
    try:
        found = rows_and_runs(b)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        b.refuse(f"malformed table ({type(e).__name__}: {' '.join(str(e).split())[:160]})")
    said = [f"{len(found)} row(s) follow from their curves"]
    if signature is not None:
        said.append(signature(b))
    if rows == 0 or not found:
        return "; ".join(said + ["not recomputed" + (" (--recompute 0)" if found else "")])
    ours = code_version()
    if b.manifest.get("code_version") != ours:
        b.refuse(f"its rows are of code version {b.manifest.get('code_version')}, this "
                 f"checkout's is {ours}: recomputing them here cannot reproduce them (ingest it "
                 f"in a checkout of commit {str(b.manifest.get('commit'))[:12]}, or pass "
                 "--recompute 0 to take its numbers unrecomputed)")
    chosen = random.SystemRandom().sample(found, min(rows, len(found)))
    here = device_name(torch.device(device))
    log(f"recomputing {len(chosen)} of {len(found)} row(s) of {b.path.name} on {here} (their "
        f"first checks: up to {PREFIX_ITERATIONS} iterations, about {seconds:g} s each at most)")
    worst, whole, worst_test = 0.0, 0, 0.0
    for row, run, budget in chosen:
        stored = parse_curve(b, row)
        curve, took, result = recompute_row(run, budget, device, seconds)
        last, gap, at, why = compare(stored, curve)
        if why:
            b.refuse(f"recomputation disagrees: {_describe(row)}: {why}")
        if gap > ALLOWANCE:
            s, r = dict(stored)[at], dict(curve)[at]
            b.refuse(f"recomputation disagrees: {_describe(row)} has validation accuracy "
                     f"{s:.4f} at iteration {at}; retrained here on {here} it has {r:.4f} (gap "
                     f"{gap:.4f}, allowed {ALLOWANCE}): not what its code computes")
        worst = max(worst, gap)
        test = compare_test(row, result)
        if test is not None:
            test_gap, column = test
            if test_gap > ALLOWANCE:
                stored_v = row.get(column, "")
                b.refuse(f"recomputation disagrees: {_describe(row)} has {column} "
                         f"{'(none)' if _missing(stored_v) else f'{float(stored_v):.4f}'}; "
                         f"retrained here on {here} (its whole run) it has "
                         f"{getattr(result, column):.4f} (allowed gap {ALLOWANCE}): not what its "
                         "code computes")
            whole += 1
            worst_test = max(worst_test, test_gap)
        n = sum(it <= last for it, _ in stored)
        log(f"  {_describe(row)}: {n} check(s) to iteration {last}, largest gap {gap:.4f}"
            f"{' (exact)' if gap == 0 else ''}"
            + (f"; its whole run: test accuracies' largest gap {test[0]:.4f}" if test else "")
            + f", {took:.1f} s")
    said.append(f"{len(chosen)} of them recomputed here from their seeds: first checks within "
                f"{ALLOWANCE} (largest gap {worst:.4f}{', exact' if worst == 0 else ''})"
                + (f", test accuracies of the {whole} whole run(s) among them within {ALLOWANCE} "
                   f"(largest gap {worst_test:.4f})" if whole else ""))
    return "; ".join(said)
