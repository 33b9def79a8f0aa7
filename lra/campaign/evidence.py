"""The evidence plan: for every part of the paper's claims, the comparison that can decide it at the
paper's protocol, on this CPU, in resumable stretches (book chapter "Verdicts", section "The
evidence plan").

The full grids of Tables I-V need about eight GPU-hours; the verdicts should not wait for them.
Each *entry* below names the claim parts it can decide, the methods compared, the (task, T) cells,
the configuration and the rule that fixed it, the seeds (five), and its controls: the readout-only
network (a frozen reservoir: a number it reaches says nothing about a learning rule) and, where the
claim is about learning at a length, BPTT (the positive control: the length can be learnt). The
protocol is the paper's (IV-A): 100,000-iteration cap, 10,000-sample validation every 100
iterations, solved = no mistake; every run is also judged on its own 10,000-sample test set.

Entries are listed in the order they run: those that can change a verdict first. A configuration
is fixed by its rule *before* any paper-budget row of its cell exists: the paper's own published
configuration where it names one (Table IV; Figures 2-4), otherwise the best of a cheaper stage
(the smoke budget) by the tables' selection rule. :func:`cheaper_stage_best` reads rows through
:class:`CheaperRows`, which refuses the paper-budget rows of the cell being configured.

    lra campaign --plan evidence --dry-run     every entry, its parts, cost (this CPU, an H100)
    lra campaign --plan evidence --threads 1 --time-limit 2h    run it, resumable
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lra.campaign.experiments import (EV_BPTT_ALPHA, EV_LAMBDA, EV_SEEDS, EV_T10_LRA, EV_T20_LRA,
                                      get_budget, get_experiment)
from lra.campaign.store import ResultsStore, solved_flags

PAPER = "paper"


@dataclass(frozen=True)
class Entry:
    """One decisive comparison: ``experiments`` (restricted to ``lengths``) at the paper budget."""
    name: str
    parts: tuple            # claim parts it can decide, e.g. ("C1b", "C8b")
    question: str
    experiments: tuple      # experiment names whose rows the comparison needs
    cells: tuple            # (task, T) pairs
    configuration: str      # the configuration and the rule that fixed it
    controls: str
    lengths: tuple = ()     # keep only these T of the experiments (empty: all of them)
    ready: bool = True      # False: declared, its experiment not written yet
    note: str = ""


TO, TO3, RP = "temporal_order", "temporal_order_3bit", "random_permutation"
READOUT = "readout only (frozen reservoir), 3 learning rates x 5 seeds, selected on validation"
BPTT = f"BPTT (alpha = {EV_BPTT_ALPHA:g}: the positive control, can the length be learnt?)"


def _t20(task: str) -> Entry:
    cfg = EV_T20_LRA[task]
    rule = {TO: "Table IV (the paper's published configuration for this cell)",
            RP: "Figures 2-4 (the paper's one configuration on this task)",
            TO3: "none published: the best of Table I's smoke grid at T = 10 (tables' rule)"}[task]
    conf = (", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                      for k, v in cfg.items()) + f"; regularised: the same with lambda = "
            f"{EV_LAMBDA:g} (Figure 4); rule: {rule}")
    parts = {TO: ("C1b", "C8b"), RP: ("C8c",), TO3: ("C1b",)}[task]
    q = {TO: "Is temporal order at T = 20 solved by RNN-LRA-diff, by its regularised form, by BPTT, "
             "by a frozen reservoir?",
         RP: "Beyond T = 10: does either form of RNN-LRA-diff learn random permutation at T = 20 "
             "more than a frozen reservoir does?",
         TO3: "Is 3-bit temporal order at T = 20 solved by either form, by BPTT, by a reservoir?"}
    return Entry(f"t20_{task}", parts, q[task], ("ev_t20_lra", "ev_t20_reg", "ev_t20_bptt",
                                                   "ev_readout"),
                 ((task, 20),), conf, f"{READOUT}; {BPTT}", lengths=(20,))


ENTRIES: tuple[Entry, ...] = (
    Entry("readout", ("C1a", "C1b", "C2a", "C2b", "C8b", "C8c"),
          "What does a frozen reservoir with a trained readout reach on each cell of Tables I-III?",
          ("ev_readout",), tuple((t, T) for t in (TO, TO3, RP) for T in (10, 20, 30)),
          "alpha in {0.1, 0.01, 0.001} (Table V's BPTT grid), selected per seed on validation",
          "this is the control; the linear-readout ceiling (logistic regression on the reservoir's "
          "states) bounds what any readout can reach"),
    _t20(TO), _t20(RP), _t20(TO3),
    Entry("t10_temporal", ("C1a",),
          "Does RNN-LRA-diff solve temporal order and 3-bit temporal order at T = 10 (Table I) in "
          "every seed, and more than a frozen reservoir does?", ("ev_t10_lra", "ev_readout"),
          ((TO, 10), (TO3, 10)),
          "; ".join(f"{ {TO: 'temporal order', TO3: '3-bit temporal order'}[t]}: " + ", ".join(
              f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
              for k, v in EV_T10_LRA[t].items()) for t in (TO, TO3))
          + "; rule: none published at T = 10: the best of Table I's smoke grid per task "
          "(tables' rule)", READOUT, lengths=(10,)),
    Entry("t10_random_permutation", ("C2a", "C2b"),
          "Does unmodified RNN-LRA-diff fail random permutation at T = 10 where BPTT solves it, "
          "and at what accuracy (Table I: about 51 %)?",
          ("ev_fig2", "ev_k", "ev_t10_bptt", "ev_readout"), ((RP, 10),),
          "Figure 2's configuration (alpha = 0.01, gamma = 1, c0 = c1 = 1, MSE) with K = 10 "
          "(ev_fig2), 20 and 30 (ev_k): Table I's three K; rule: the paper's own configuration on "
          "this cell", f"{READOUT}; {BPTT}", lengths=(10,)),
    Entry("table5_reg_rp", ("C8c",),
          "Does regularisation carry random permutation to T = 80 (Table V) where nothing else "
          "gets?", ("ev_readout_rp_long", "ev_t5_reg_rp"),
          tuple((RP, T) for T in range(10, 90, 10)),
          f"Figure 4's (alpha = 0.01, gamma = 1, K = 10, lambda = {EV_LAMBDA:g}); stage by stage "
          "from T = 10 as Table V starts, each stage ending as soon as one member solves it, the "
          "first unsolved stage ending the curriculum",
          f"{READOUT} at the same lengths (T = 10, 20, 30: ev_readout); {BPTT}"),
    Entry("k", ("C3",), "Does K change anything where the control does not already solve the task?",
          ("ev_fig2", "ev_k"), ((RP, 10),),
          "Figure 2's configuration (alpha = 0.01, gamma = 1, K = 10, c0 = c1 = 1, MSE) with "
          "K = 10 (ev_fig2), 20 and 30; rule: the paper's own configuration on this cell",
          READOUT),
    Entry("local_loss", ("C4",), "MSE against the log-penalty local loss, paired per seed",
          ("ev_fig2", "ev_log_penalty"), ((RP, 10),),
          "Figure 2's configuration, loss = MSE (ev_fig2) and log-penalty", READOUT),
    Entry("normalisation", ("C5a",), "c0 = c1 = 1 against c0 = c1 = 0, paired per seed",
          ("ev_fig2", "ev_no_norm"), ((RP, 10),),
          "Figure 2's configuration, c0 = c1 = 1 (ev_fig2) and c0 = c1 = 0", READOUT),
    Entry("k1", ("C10a", "C10b"), "Can K = 1 with a tuned gamma replace the inner loop?",
          ("ev_fig2", "ev_k1"), ((RP, 10),),
          "Figure 2's configuration with K = 1 and gamma = 10: the best gamma of the K = 1 smoke "
          "grid on this cell (tables' rule)", READOUT),
    Entry("table4", ("C5b",), "Do Table IV's (c0, c1) settings agree at T = 20 on temporal order, "
          "paired per seed?", ("ev_t20_lra", "ev_table4_norm", "ev_table4_none"), ((TO, 20),),
          "Table IV's alpha = 0.1, gamma = 0.01, K = 10 with (c0, c1) = (0, 0.1) (ev_t20_lra), "
          "(1, 1) and (0, 0)", f"{READOUT}; {BPTT}", lengths=(20,)),
    Entry("lambda", ("C9",), "Is a lower lambda better, paired per seed (Figure 5's T = 20 cells)?",
          ("ev_t20_reg", "ev_lambda"), ((TO, 20), (RP, 20)),
          "the plan's T = 20 configuration of each task with lambda = 0.1 (ev_t20_reg), 1 and 2",
          READOUT, lengths=(20,)),
    Entry("forced", ("C7b",), "Forced normalisation against the unmodified algorithm, paired per "
          "seed", ("ev_fig2", "ev_fig3", "ev_fig3_dh"), ((RP, 10),),
          "Figures 2 and 3 (both readings of forced normalisation); fig2_seeds, fig3_seeds and "
          "fig3_dh_seeds hold the same runs from code before the test set", READOUT),
    Entry("probes", ("C6a", "C6b", "C7a", "C8a"),
          "Where does the local loss vanish, and do forced normalisation and regularisation bring "
          "the update back (Figures 2-4)?", ("fig2", "fig3", "fig3_dh", "fig4"), ((RP, 10),),
          "the paper's own (Figures 2-4)", "the gradient-flow probes of one seed each",
          note="stored at the paper's budget; decided by the probes, not by accuracy"),
)


def get_entry(name: str) -> Entry:
    for e in ENTRIES:
        if e.name == name:
            return e
    raise ValueError(f"unknown evidence entry {name!r}; entries: "
                     f"{', '.join(e.name for e in ENTRIES)}")


def runnable() -> list[Entry]:
    """The entries whose experiments exist, in the plan's order."""
    return [e for e in ENTRIES if e.ready]


# The readout-only control beyond ev_readout's lengths is needed only where the plan's regularised
# curriculum gets: at the stages it has stored (the one it failed included), and the next one while
# it still climbs. Before the curriculum has a stage, every length is kept.
GATED = {"ev_readout_rp_long": ("ev_t5_reg_rp", RP)}


def gated_lengths(name: str, lengths, store: ResultsStore | None) -> tuple:
    """``lengths`` of experiment ``name`` that the stored rows still make worth running."""
    if name not in GATED or store is None:
        return tuple(lengths)
    curriculum, task = GATED[name]
    df = store.load(curriculum, PAPER)
    d = df[df["task"] == task] if not df.empty else df
    if d.empty:
        return tuple(lengths)
    solved = d.assign(ok=solved_flags(d["solved"])).groupby(d["T"].astype(int)).ok.any()
    last = int(solved.index.max())
    reach = last + 10 if bool(solved[last]) else last
    return tuple(T for T in lengths if T <= reach)


def campaign_experiments(store: ResultsStore | None = None) -> list[tuple[str, tuple]]:
    """(experiment, lengths) in the order a campaign runs them, each experiment at its lengths
    once (an experiment shared by several entries runs with the union of their lengths). With
    ``store``, a control whose need depends on stored rows (:data:`GATED`) keeps only the lengths
    still needed, and is left out when none is."""
    out: dict[str, set] = {}
    for e in runnable():
        for name in e.experiments:
            out.setdefault(name, set()).update(e.lengths or {T for _, T in e.cells})
    plan = []
    for name, Ts in out.items():
        own = set(get_experiment(name).lengths)      # empty: a curriculum (its stages)
        plan.append((name, gated_lengths(name, sorted(Ts & own if own else Ts), store)))
    return [(name, Ts) for name, Ts in plan if Ts]


# ------------------------------------------------------------------------------ configuration rules
class CheaperRows:
    """A read-only view of the store for a configuration rule: it may read any budget but the
    paper's rows of the cells being configured (so no rule can peek at the answer)."""

    def __init__(self, store: ResultsStore, forbidden_cells):
        self.store, self.forbidden = store, {(t, int(T)) for t, T in forbidden_cells}

    def load(self, experiment: str, budget: str) -> pd.DataFrame:
        df = self.store.load(experiment, budget)
        if budget.split("-cap")[0] == PAPER and not df.empty:
            cells = set(zip(df["task"].astype(str), df["T"].astype(int)))
            if cells & self.forbidden:
                raise PermissionError(
                    f"a configuration rule may not read the {budget}-budget rows of "
                    f"{sorted(cells & self.forbidden)} (the cells it configures)")
        return df


def cheaper_stage_best(rows: CheaperRows, experiment: str, budget: str, task: str, T: int,
                       keys=("alpha", "gamma", "K")) -> dict:
    """The configuration of the best run of ``experiment``'s (task, T) cell at ``budget`` by the
    tables' selection rule (solved first, then accuracy, then fewer iterations, then key)."""
    df = rows.load(experiment, budget)
    df = df[(df["task"] == task) & (df["T"].astype(int) == int(T))]
    if df.empty:
        raise LookupError(f"no {budget} rows of {experiment} at ({task}, T = {T})")
    df = df.assign(solved=solved_flags(df["solved"])).sort_values(
        ["solved", "best_accuracy", "iterations", "key"], ascending=[False, False, True, True],
        kind="stable")
    best = df.iloc[0]
    return {k: (float(best[k]) if k != "K" else int(best[k])) for k in keys}


# ------------------------------------------------------------------------------ cost and printing
def entry_runs(entry: Entry, store: ResultsStore | None) -> dict[str, list]:
    """``{experiment: [Run]}``: the paper-budget runs an entry plans in its cells, at the lengths
    the stored rows still make worth running (:func:`gated_lengths`); a curriculum's first stage
    (its later stages exist once the stage before is solved). Experiments not written yet are
    left out."""
    budget = get_budget(PAPER)
    cells = set(entry.cells)
    out = {}
    for name in entry.experiments:
        try:
            exp = get_experiment(name)
        except ValueError:
            continue
        keep = set(gated_lengths(name, sorted({T for _, T in cells}), store))
        out[name] = [r for r in exp.runs(budget, None) if (r.task, r.T) in cells and r.T in keep]
    return out


def entry_cost(entry: Entry, store: ResultsStore, device_name: str,
               done: dict | None = None) -> dict:
    """Projected seconds of the rows still missing for an entry (every member to the cap: an upper
    bound), and how many of its runs are stored / missing. ``done``: ``{row key: iterations}`` the
    checkpoints in flight have trained (:func:`in_flight`); those members are priced for what they
    have left."""
    from lra.campaign.planning import merge
    from lra.campaign.projection import BenchmarkNotFound, project_populations
    from lra.campaign.runner import missing_runs
    budget = get_budget(PAPER)
    missing, total = {}, 0
    for name, runs in entry_runs(entry, store).items():
        total += len(runs)
        todo = {r.key for r in missing_runs(get_experiment(name), budget, store)}
        missing[name] = [r for r in runs if r.key in todo]
    n_missing = sum(len(v) for v in missing.values())
    try:
        pops = merge(missing, 64)
        seconds = project_populations([p.runs for p in pops], budget, device_name,
                                      done=done)["seconds"]
    except (BenchmarkNotFound, ValueError):
        seconds = float("nan")
    resumed = sum(1 for runs in missing.values() for r in runs if (done or {}).get(r.key))
    return dict(runs=total, missing=n_missing, seconds=seconds, resumed=resumed)


def in_flight(store: ResultsStore) -> dict[str, int]:
    """``{row key: iterations}`` the paper-budget checkpoints in flight have trained (those the
    current code resumes): the next stretch starts there, so the plan prices only the rest."""
    from lra.campaign.population_checkpoints import trained_iterations
    return trained_iterations(Path(store.root) / "_populations" / PAPER)


def _hours(s: float) -> str:
    return "n/a" if s != s else f"{s / 3600:.1f} h"


def format_plan(store: ResultsStore | None = None, cpu: str = "cpu",
                gpu: str = "NVIDIA H100 80GB HBM3") -> str:
    """The plan as text: one block per entry, in the order it runs, with its projected cost."""
    store = store or ResultsStore()
    done = in_flight(store)
    lines = []
    for i, e in enumerate(ENTRIES, 1):
        c_cpu, c_gpu = entry_cost(e, store, cpu, done), entry_cost(e, store, gpu, done)
        cells = ", ".join(f"{t.replace('_', ' ')} T={T}" for t, T in e.cells)
        state = "ready" if e.ready else "declared (experiment not written yet)"
        lines += [f"{i}. [{' '.join(e.parts)}] {e.name}: {e.question}",
                  f"   cells: {cells}",
                  f"   configuration: {e.configuration}",
                  f"   controls: {e.controls}",
                  f"   experiments: {', '.join(e.experiments)}; seeds: {EV_SEEDS}; {state}",
                  f"   rows: {c_cpu['runs']} planned, {c_cpu['missing']} missing (some shared with "
                  f"other entries)"
                  + (f", {c_cpu['resumed']} of them in flight (a checkpoint resumes them)"
                     if c_cpu['resumed'] else "")
                  + f"; projected (every member to the cap): {_hours(c_cpu['seconds'])} on this "
                  f"CPU (1 thread benchmark), {_hours(c_gpu['seconds'])} on an H100"
                  + (f"\n   note: {e.note}" if e.note else "")]
    parts = sorted({p for e in ENTRIES for p in e.parts}, key=lambda p: (int(p[1:].rstrip("abc")),
                                                                         p))
    lines.append(f"\nclaim parts covered: {', '.join(parts)}")
    # entries share experiments (ev_fig2 is the unmodified side of five comparisons): the total
    # prices every missing row once
    every = Entry("all", (), "", tuple(n for n, _ in campaign_experiments(store)),
                  tuple(sorted({c for e in runnable() for c in e.cells})), "", "")
    tot_cpu, tot_gpu = entry_cost(every, store, cpu, done), entry_cost(every, store, gpu, done)
    lines.append(f"ready entries, missing rows ({tot_cpu['missing']}, each counted once): "
                 f"{_hours(tot_cpu['seconds'])} on this CPU, {_hours(tot_gpu['seconds'])} on an "
                 "H100 (upper bounds: solved members stop early)")
    if done:
        lines.append(f"in flight: {tot_cpu['resumed']} of the missing rows have a checkpoint "
                     f"(results/_populations/{PAPER}/); each is priced from its checkpoint's "
                     "iteration to the cap")
    return "\n".join(lines)
