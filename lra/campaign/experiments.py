"""Experiments as data: one declarative spec per published table and figure.

A spec names the algorithm, tasks, lengths, hyperparameter grid and switches behind one result of
the paper; a *budget* says how much of it to run:

* ``smoke`` — seconds on a CPU, for CI and for trying things: a short iteration cap, a small
  validation set and a corner of the grid. Its numbers are *not* the paper's protocol and the book
  labels them so;
* ``paper`` — the paper's protocol (IV-A): 100,000-iteration cap, validation every 100 iterations
  on 10,000 samples, the full grid.

A spec expands into *runs* (one member each: task, T, seed, configuration); the campaign merges
the runs of every requested experiment into populations that share (algorithm, task, T, switches,
probe interval), every K included (:mod:`lra.campaign.planning`), so that one tensor program trains as many
members as fit.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field

from lra.algorithms.bptt import BPTTConfig
from lra.algorithms.lra_diff import LRADiffConfig, ReleasedCodeSwitches
from lra.algorithms.readout import ReadoutConfig
from lra.tasks import TASKS
from lra.algorithms.tptt import TPTTConfig

ALPHAS = (1e-1, 1e-2, 1e-3)
GAMMAS = (1e1, 1e0, 1e-1, 1e-2, 1e-3)
KS = (10, 20, 30)
LAMBDAS = (2.0, 1.0, 1e-1)
ALL_TASKS = tuple(TASKS)
# "lra_released": the released script's own step, autograd through the unrolled graph
# (lra.algorithms.released_population); "lra_diff" with switches is the local one-step reading
ALGORITHMS = ("lra_diff", "bptt", "tptt", "readout_only", "lra_released")


@dataclass(frozen=True)
class Budget:
    name: str
    max_iterations: int
    validation_size: int
    check_every: int
    full_grid: bool
    description: str
    max_length: int = 10_000   # curriculum: highest T attempted
    checkpoint_every: int = 1000  # iterations between checkpoints of a population in flight

    @property
    def test_size(self) -> int:
        """The held-out test set's size: the validation set's (lra.tasks.heldout_symbols)."""
        return self.validation_size


BUDGETS = {
    "smoke": Budget("smoke", max_iterations=300, validation_size=500, check_every=50,
                    full_grid=False, max_length=30, checkpoint_every=100,
                    description="CPU smoke test: 300-iteration cap, 500-sample validation every "
                                "50 iterations, a corner of the grid; NOT the paper's protocol"),
    "paper": Budget("paper", max_iterations=100_000, validation_size=10_000, check_every=100,
                    full_grid=True, max_length=300,
                    description="the paper's protocol: 100,000-iteration cap, 10,000-sample "
                                "validation every 100 iterations, the full grid"),
}


def get_budget(name: str) -> Budget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ValueError(f"unknown budget {name!r}; valid budgets: {', '.join(BUDGETS)}") from None


@dataclass(frozen=True)
class Run:
    """One member of one experiment: everything that determines its numbers."""
    experiment: str
    algorithm: str
    task: str
    T: int
    seed: int
    config: tuple           # sorted (name, value) pairs of the algorithm's config
    switches: tuple = ()    # names of the released-code switches that are on
    variant: str = ""       # e.g. "regularised", "released"
    probe_every: int = 0
    # The curriculum whose stage this run belongs to ("" for every other run): a stage ends as
    # soon as one of its members solves it (Table V reports the longest solved length, which
    # cannot change after that), so the others stop early ("stage_solved") -- a different
    # measurement from the same configuration trained to the cap, hence a different key.
    stage: str = ""

    @property
    def key(self) -> str:
        """Stable identity of the run (a row of the results table)."""
        parts = [self.algorithm, self.task, self.T, self.seed, list(self.config),
                 list(self.switches), self.variant, self.probe_every]
        if self.stage:       # (runs of no stage keep the keys they always had)
            parts.append(self.stage)
        desc = json.dumps(parts)
        return hashlib.sha256(desc.encode()).hexdigest()[:16]

    def make_config(self):
        return CONFIG_CLASSES[self.algorithm](**dict(self.config))



@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    backs: str                   # the table / figure of the paper
    algorithm: str
    tasks: tuple
    lengths: tuple
    grid: dict                   # config field -> values (full grid)
    smoke_grid: dict             # config field -> values (smoke budget)
    fixed: dict = field(default_factory=dict)
    switches: tuple = ()
    variant: str = ""
    # Table V: T = 10, 20, ... until the first failure; each stage ends at its first solve
    curriculum: bool = False
    first_length: int = 10       # a curriculum's first stage
    probe_every: dict = field(default_factory=dict)   # budget -> iterations between probes
    seeds: int = 1
    task_lengths: dict = field(default_factory=dict)  # per-task override of lengths
    notebook: str = ""
    # Derived experiments re-run the best configuration of every cell of another experiment
    # (at the same budget) with several seeds: the multi-seed study.
    derived_from: str = ""
    cell: tuple = ("task", "K", "T")
    # per-task configuration overriding ``fixed`` (the evidence plan fixes one per task)
    task_fixed: dict = field(default_factory=dict)

    def lengths_for(self, task: str, budget: Budget) -> tuple:
        lengths = self.task_lengths.get(task, self.lengths)
        if not budget.full_grid:
            lengths = tuple(T for T in lengths if T <= 10) or lengths[:1]
        return lengths

    def configs(self, budget: Budget, task: str | None = None) -> list[dict]:
        grid = self.grid if budget.full_grid else self.smoke_grid
        names = sorted(grid)
        fixed = {**self.fixed, **self.task_fixed.get(task, {})}
        return [{**fixed, **dict(zip(names, values))}
                for values in itertools.product(*(grid[n] for n in names))]

    def runs(self, budget: Budget, seeds: int | None = None, lengths: dict | None = None,
             max_iterations: int | None = None) -> list[Run]:
        """Expand into runs. ``lengths`` overrides the lengths per task (the curriculum's stages)."""
        seeds = self.seeds if seeds is None else seeds
        out = []
        for task in self.tasks:
            Ts = (lengths or {}).get(task, None)
            if Ts is None:
                Ts = (self.first_length,) if self.curriculum else self.lengths_for(task, budget)
            for T in Ts:
                for cfg in self.configs(budget, task):
                    for seed in range(seeds):
                        out.append(Run(self.name, self.algorithm, task, T, seed,
                                       full_config(self.algorithm, cfg), self.switches,
                                       self.variant,
                                       self.probe_every.get(budget.name.split("-cap")[0], 0),
                                       stage=self.name if self.curriculum else ""))
        return out


CONFIG_CLASSES = {"lra_diff": LRADiffConfig, "bptt": BPTTConfig, "tptt": TPTTConfig,
                  "readout_only": ReadoutConfig, "lra_released": LRADiffConfig}


def full_config(algorithm: str, values: dict) -> tuple:
    """Every field of the algorithm's config, defaults included (validated), as sorted pairs."""
    return tuple(sorted(asdict(CONFIG_CLASSES[algorithm](**values)).items()))


def _grid(**kw):
    return {k: tuple(v) for k, v in kw.items()}


SMOKE_LRA = _grid(alpha=(0.1,), gamma=(1.0, 0.1), K=(10,))
RELEASED = tuple(ReleasedCodeSwitches.names())

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    Experiment("table1", "RNN-LRA-diff, MSE, c0 = c1 = 1", "Table I", "lra_diff", ALL_TASKS,
               (10, 20, 30), _grid(alpha=ALPHAS, gamma=GAMMAS, K=KS), SMOKE_LRA,
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), notebook="lra_diff"),
    Experiment("table1_released", "Table I, T = 10, with every released-code switch on (local "
               "one-step reading)",
               "Table I (released-code reading)", "lra_diff", ALL_TASKS, (10,),
               _grid(alpha=ALPHAS, gamma=GAMMAS, K=KS), SMOKE_LRA,
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), switches=RELEASED, variant="released",
               notebook="released_code"),
    Experiment("table2", "RNN-LRA-diff with the log-penalty local loss", "Table II", "lra_diff",
               ALL_TASKS, (10, 20, 30), _grid(alpha=ALPHAS, gamma=GAMMAS, K=KS), SMOKE_LRA,
               fixed=dict(c0=1.0, c1=1.0, loss="log_penalty"), notebook="local_losses"),
    Experiment("table3", "RNN-LRA-diff without normalisation (c0 = c1 = 0)", "Table III",
               "lra_diff", ALL_TASKS, (10, 20, 30), _grid(alpha=ALPHAS, gamma=GAMMAS, K=KS),
               SMOKE_LRA, fixed=dict(c0=0.0, c1=0.0, loss="mse"), notebook="normalisation"),
    Experiment("table4", "Temporal order, T = 20, grid extended with c0 and c1", "Table IV",
               "lra_diff", ("temporal_order",), (20,),
               _grid(alpha=ALPHAS, gamma=GAMMAS, K=KS, c0=(0.0, 1e-2, 1e-1, 1.0),
                     c1=(0.0, 1e-2, 1e-1, 1.0)),
               _grid(alpha=(0.1,), gamma=(0.01,), K=(10,), c0=(0.0, 1.0), c1=(0.1, 1.0)),
               fixed=dict(loss="mse"), notebook="normalisation"),
    Experiment("fig2", "Gradient flow, random permutation, T = 10, unmodified", "Figure 2",
               "lra_diff", ("random_permutation",), (10,),
               _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)), _grid(alpha=(0.01,), gamma=(1.0,),
                                                                 K=(10,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse"),
               probe_every={"smoke": 10, "paper": 100}, notebook="vanishing_gradients"),
    Experiment("fig2_released", "Figure 2 with every released-code switch on (local one-step "
               "reading)",
               "Figure 2 (released-code reading)", "lra_diff", ("random_permutation",), (10,),
               _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)), _grid(alpha=(0.01,), gamma=(1.0,),
                                                                 K=(10,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), switches=RELEASED, variant="released",
               probe_every={"smoke": 10, "paper": 100}, notebook="vanishing_gradients"),
    # the variant, not the paper's reading (fig3_dh): its title says the weight gradients are
    # forced too, so that no page labels it as the Δh-only reading (issue 23)
    Experiment("fig3", "Gradient flow with Delta h and the weight gradients forced to norm c1 = 1 "
               "(a variant of Figure 3)", "Figure 3 (variant: weight gradients forced too)",
               "lra_diff", ("random_permutation",), (10,),
               _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)), _grid(alpha=(0.01,), gamma=(1.0,),
                                                                 K=(10,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse", norm="forced"),
               probe_every={"smoke": 10, "paper": 100}, notebook="vanishing_gradients"),
    Experiment("fig4", "Gradient flow, regularised (lambda = 0.1)", "Figure 4", "lra_diff",
               ("random_permutation",), (10,), _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
               _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse", lam=0.1), variant="regularised",
               probe_every={"smoke": 10, "paper": 100}, notebook="regularisation"),
    Experiment("fig5", "Sensitivity to the regularisation coefficient lambda", "Figure 5",
               "lra_diff", ("random_permutation", "temporal_order", "temporal_order_3bit"), (20,),
               _grid(alpha=ALPHAS, gamma=GAMMAS, K=(10,), lam=LAMBDAS),
               _grid(alpha=(0.1,), gamma=(1.0,), K=(10,), lam=(1.0, 0.1)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), variant="regularised",
               task_lengths={"temporal_order_3bit": (10,)}, notebook="sensitivity"),
    Experiment("conjecture_k1", "Beyond the paper: one inner step (K = 1) with a tuned gamma",
               "Claim C10 (conjecture)", "lra_diff", ALL_TASKS, (10, 20),
               _grid(alpha=ALPHAS, gamma=GAMMAS + (1e2,), K=(1,)),
               _grid(alpha=(0.1,), gamma=(1.0, 10.0), K=(1,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), notebook="lra_diff"),
    Experiment("table1_multiseed", "Table I's best configuration per cell, five seeds",
               "Table I (multi-seed)", "lra_diff", ALL_TASKS, (10, 20, 30), {}, {},
               seeds=5, derived_from="table1", notebook="lra_diff"),
    Experiment("table5_lra", "Curriculum: RNN-LRA-diff", "Table V", "lra_diff", ALL_TASKS, (),
               _grid(alpha=ALPHAS, gamma=GAMMAS, K=(10,)), SMOKE_LRA,
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), curriculum=True,
               notebook="regularisation"),
    Experiment("table5_lra_reg", "Curriculum: regularised RNN-LRA-diff", "Table V", "lra_diff",
               ALL_TASKS, (), _grid(alpha=ALPHAS, gamma=GAMMAS, K=(10,), lam=LAMBDAS),
               _grid(alpha=(0.1,), gamma=(1.0,), K=(10,), lam=(0.1,)),
               fixed=dict(c0=1.0, c1=1.0, loss="mse"), variant="regularised", curriculum=True,
               notebook="regularisation"),
    Experiment("table5_bptt", "Curriculum: BPTT", "Table V", "bptt", ALL_TASKS, (),
               _grid(alpha=(1e-1, 1e-2, 1e-3)), _grid(alpha=(0.1,)), curriculum=True,
               notebook="regularisation"),
    Experiment("readout_only", "Control: readout only (recurrent weights frozen at initialisation)",
               "Control for Tables I-III and V", "readout_only", ALL_TASKS,
               (10, 20, 30, 50, 80, 100, 150, 300), _grid(alpha=(1e-1, 1e-2, 1e-3)),
               _grid(alpha=(0.1, 0.01)), seeds=5, notebook="lra_diff"),
    Experiment("table5_tptt", "Curriculum: TPTT", "Table V", "tptt", ALL_TASKS, (),
               _grid(lr_i=(1e-1, 1e-2), lr_f=(1e-2, 1e-3)), _grid(lr_i=(0.1,), lr_f=(0.01,)),
               curriculum=True, notebook="regularisation"),
]}


# What each released-code switch does on its own: Table I's T = 10 column (K = 10), one switch on.
# Switch 5 changes only the regulariser, so it is measured with lambda = 0.1 against the paper
# reading with the same lambda (released_reference_regularised).
for _switch in ReleasedCodeSwitches.names() + ["reference_regularised"]:
    _lam = 0.1 if _switch in ("released_regularizer", "reference_regularised") else 0.0
    EXPERIMENTS[f"released_{_switch}"] = Experiment(
        f"released_{_switch}", f"Table I, T = 10, K = 10, lambda = {_lam:g}, with "
        + ("no switch" if _switch == "reference_regularised" else f"switch {_switch} alone")
        + " (local one-step reading)",
        "Released-code switch ablation", "lra_diff", ALL_TASKS, (10,),
        _grid(alpha=ALPHAS, gamma=GAMMAS, K=(10,)), SMOKE_LRA,
        fixed=dict(c0=1.0, c1=1.0, loss="mse", lam=_lam),
        switches=() if _switch == "reference_regularised" else (_switch,),
        variant="released", notebook="released_code")


# The released script's own computation (the autograd reading, issue 23 item 3): its step,
# lra.algorithms.released_population, trained by the campaign's protocol (the package's data
# streams, initialisation, validation and test sets, checks and cap), with every released-code
# switch named: the step is switches 1-4 (switch 5 changes nothing at lambda = 0), and the engine
# applies 6-8 (validation state, patience, reported loss). The experiments above with switches
# train the local one-step reading of the same departures (lra_diff), which never trains through
# the history; these train what the script computes. Figure 3's forced normalisation (claim C7)
# in both of the book's readings, under the released step.
_AUTOGRAD = dict(algorithm="lra_released", switches=RELEASED, variant="released_autograd",
                 notebook="released_code")
for _exp in [
        Experiment("table1_released_autograd", "Table I, T = 10, the released script's step "
                   "(autograd reading), the campaign's protocol",
                   "Table I (released-code reading, autograd)", tasks=ALL_TASKS, lengths=(10,),
                   grid=_grid(alpha=ALPHAS, gamma=GAMMAS, K=KS), smoke_grid=SMOKE_LRA,
                   fixed=dict(c0=1.0, c1=1.0, loss="mse"), **_AUTOGRAD),
        Experiment("fig2_released_autograd", "Figure 2's configuration, the released script's step "
                   "(autograd reading), the campaign's protocol",
                   "Figure 2 (released-code reading, autograd)", tasks=("random_permutation",),
                   lengths=(10,), grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   smoke_grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   fixed=dict(c0=1.0, c1=1.0, loss="mse"),
                   probe_every={"smoke": 10, "paper": 100}, **_AUTOGRAD),
        Experiment("fig3_released_autograd", "Figure 3's configuration, Delta h and the weight "
                   "gradients forced to norm c = 1, the released script's step (autograd reading)",
                   "Figure 3 (variant: weight gradients forced too; released-code reading, "
                   "autograd)", tasks=("random_permutation",), lengths=(10,),
                   grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   smoke_grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   fixed=dict(c0=1.0, c1=1.0, loss="mse", norm="forced"),
                   probe_every={"smoke": 10, "paper": 100}, **_AUTOGRAD),
        Experiment("fig3_dh_released_autograd", "Figure 3's configuration, Delta h alone forced to "
                   "norm c = 1 (weight gradients clipped), the released script's step (autograd "
                   "reading)", "Figure 3 (Delta h forced alone; released-code reading, autograd)",
                   tasks=("random_permutation",), lengths=(10,),
                   grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   smoke_grid=_grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
                   fixed=dict(c0=1.0, c1=1.0, loss="mse", norm="forced_dh"),
                   probe_every={"smoke": 10, "paper": 100}, **_AUTOGRAD)]:
    EXPERIMENTS[_exp.name] = _exp


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(f"unknown experiment {name!r}; valid experiments: "
                         f"{', '.join(EXPERIMENTS)}") from None


def runs_by_key(name: str, budget: Budget, seeds: int = 1) -> dict[str, Run]:
    """Every run the spec ``name`` can ask for at ``budget``, by key: seeds 0..seeds-1 (at least
    the spec's), every stage of a curriculum, a derived experiment's source's configurations. A
    stored row's key names its run here, so a row from elsewhere can be checked against the run
    it claims and retrained (:mod:`lra.campaign.bundle`, :mod:`lra.campaign.recompute`)."""
    exp = get_experiment(name)
    if exp.derived_from:
        return runs_by_key(exp.derived_from, budget, max(seeds, exp.seeds))
    lengths = None
    if exp.curriculum:
        stages = tuple(range(exp.first_length, budget.max_length + 1, 10))
        lengths = {t: stages for t in exp.tasks}
    return {r.key: r for r in exp.runs(budget, max(seeds, exp.seeds), lengths=lengths)}


def experiments_for_notebook(notebook: str) -> list[Experiment]:
    return [e for e in EXPERIMENTS.values() if e.notebook == notebook]


# Figure 3's second reading (issue 10, point 4): the paper forces "c1 = 1.0" on Delta h alone;
# ``fig3`` (norm="forced") also forces every layer's weight gradients to norm c0.
EXPERIMENTS["fig3_dh"] = Experiment(
    "fig3_dh", "Gradient flow with Delta h alone forced to norm c1 = 1 (weight gradients clipped)",
    "Figure 3 (Delta h forced alone)", "lra_diff", ("random_permutation",), (10,),
    _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)), _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
    fixed=dict(c0=1.0, c1=1.0, loss="mse", norm="forced_dh"),
    probe_every={"smoke": 10, "paper": 100}, notebook="vanishing_gradients")

# Figure 2's configuration (unmodified RNN-LRA-diff) over five seeds (no probes): the unmodified
# side of claim C7's paired test against Figure 3's seeds, and of the readout-only control (C2).
EXPERIMENTS["fig2_seeds"] = Experiment(
    "fig2_seeds", "Figure 2's configuration, unmodified, five seeds", "Figure 2 (seeds)",
    "lra_diff", ("random_permutation",), (10,), _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
    _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)), fixed=dict(c0=1.0, c1=1.0, loss="mse"), seeds=5,
    notebook="vanishing_gradients")

# Figure 3's two readings over five seeds (no probes): the seeds' spread behind claim C7.
for _name, _norm, _what in (("fig3_dh_seeds", "forced_dh", "Delta h forced alone"),
                            ("fig3_seeds", "forced", "Delta h and weight gradients forced")):
    EXPERIMENTS[_name] = Experiment(
        _name, f"Figure 3's configuration, {_what}, five seeds", "Figure 3 (seeds)", "lra_diff",
        ("random_permutation",), (10,), _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
        _grid(alpha=(0.01,), gamma=(1.0,), K=(10,)),
        fixed=dict(c0=1.0, c1=1.0, loss="mse", norm=_norm), seeds=5,
        notebook="vanishing_gradients")


# ------------------------------------------------------------------------------ the evidence plan
# The experiments of the evidence plan (lra.campaign.evidence): the paper's protocol on the cells
# that can decide a claim, five seeds. Each configuration was fixed by the plan's stated rule
# before any paper-budget row of its cell existed (tests/campaign/test_evidence.py derives each one
# again from the rows the rule may read).
EV_T20_LRA = {
    # Table IV: the paper's published configuration for temporal order at T = 20
    "temporal_order": dict(alpha=0.1, gamma=0.01, K=10, c0=0.0, c1=0.1, loss="mse"),
    # Figures 2-4: the paper's one configuration on random permutation (T = 10)
    "random_permutation": dict(alpha=0.01, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse"),
    # none published: the best of Table I's smoke grid at T = 10 by the tables' selection rule
    "temporal_order_3bit": dict(alpha=0.1, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse"),
}
EV_LAMBDA = 0.1          # Figure 4's regulariser
EV_BPTT_ALPHA = 0.1      # the best of the BPTT curriculum's smoke grid (its only alpha there)
EV_SEEDS = 5
for _name, _title, _extra, _variant in (
        ("ev_t20_lra", "Evidence: RNN-LRA-diff at T = 20, the plan's configuration per task", {},
         ""),
        ("ev_t20_reg", "Evidence: regularised RNN-LRA-diff (lambda = 0.1) at T = 20",
         dict(lam=EV_LAMBDA), "regularised")):
    EXPERIMENTS[_name] = Experiment(
        _name, _title, "Evidence plan (C1, C8)", "lra_diff", ALL_TASKS, (20,), {}, {},
        task_fixed={k: {**v, **_extra} for k, v in EV_T20_LRA.items()}, variant=_variant,
        seeds=EV_SEEDS, notebook="verdicts")
# C1a: Table I's T = 10 cells of temporal order and 3-bit temporal order. The paper names no
# configuration there, so each task takes the best of Table I's smoke grid at T = 10 by the tables'
# selection rule (derived again in tests/campaign/test_evidence.py); five seeds, with the held-out
# test set.
EV_T10_LRA = {
    "temporal_order": dict(alpha=0.1, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse"),
    "temporal_order_3bit": dict(alpha=0.1, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse"),
}
EXPERIMENTS["ev_t10_lra"] = Experiment(
    "ev_t10_lra", "Evidence: RNN-LRA-diff at T = 10, temporal order and 3-bit temporal order",
    "Evidence plan (C1a)", "lra_diff", tuple(EV_T10_LRA), (10,), {}, {}, task_fixed=EV_T10_LRA,
    seeds=EV_SEEDS, notebook="verdicts")
EXPERIMENTS["ev_t20_bptt"] = Experiment(
    "ev_t20_bptt", "Evidence: BPTT at T = 20 (the positive control)", "Evidence plan (C1, C8)",
    "bptt", ALL_TASKS, (20,), {}, {}, fixed=dict(alpha=EV_BPTT_ALPHA), seeds=EV_SEEDS,
    notebook="verdicts")
# C2a's positive control: BPTT on random permutation at T = 10 (can the cell be learnt at all at
# the paper's protocol, where unmodified RNN-LRA-diff does not solve it?).
EXPERIMENTS["ev_t10_bptt"] = Experiment(
    "ev_t10_bptt", "Evidence: BPTT on random permutation at T = 10 (the positive control)",
    "Evidence plan (C2)", "bptt", ("random_permutation",), (10,), {}, {},
    fixed=dict(alpha=EV_BPTT_ALPHA), seeds=EV_SEEDS, notebook="verdicts")
EXPERIMENTS["ev_readout"] = Experiment(
    "ev_readout", "Evidence: readout only (frozen reservoir) at T = 10, 20, 30",
    "Evidence plan (control for every claim)", "readout_only", ALL_TASKS, (10, 20, 30),
    _grid(alpha=(1e-1, 1e-2, 1e-3)), _grid(alpha=(0.1, 0.01)), seeds=EV_SEEDS,
    notebook="verdicts")

# Paired variants of Figure 2's configuration on its own cell (random permutation, T = 10), five
# seeds each, against ``ev_fig2`` (the unmodified side): C3 (K), C4 (local loss), C5a
# (normalisation), C7b (forced normalisation) and C10 (K = 1; gamma = 10, the best gamma of the K = 1 smoke grid on this cell
# by the tables' rule, derived again in tests/campaign/test_evidence.py).
EV_FIG2 = dict(alpha=0.01, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse")
EV_K1_GAMMA = 10.0
for _name, _title, _grid_kw, _over in (
        # the unmodified side again, at today's code: its rows carry the test-set bits that the
        # paired tests read (fig2_seeds' stored rows predate the test set)
        ("ev_fig2", "Evidence: Figure 2's configuration (unmodified), five seeds", {}, {}),
        ("ev_k", "Evidence: Figure 2's configuration with K = 20 and 30", dict(K=(20, 30)), {}),
        ("ev_log_penalty", "Evidence: Figure 2's configuration, log-penalty local loss", {},
         dict(loss="log_penalty")),
        ("ev_no_norm", "Evidence: Figure 2's configuration without normalisation (c0 = c1 = 0)",
         {}, dict(c0=0.0, c1=0.0)),
        ("ev_k1", "Evidence: Figure 2's configuration with one inner step (K = 1, gamma = 10)",
         {}, dict(K=1, gamma=EV_K1_GAMMA)),
        # C7b: Figure 3's two readings of forced normalisation, at today's code (test-set bits)
        ("ev_fig3", "Evidence: Figure 3's configuration, Delta h and weight gradients forced", {},
         dict(norm="forced")),
        ("ev_fig3_dh", "Evidence: Figure 3's configuration, Delta h forced alone", {},
         dict(norm="forced_dh"))):
    _fixed = {k: v for k, v in {**EV_FIG2, **_over}.items() if k not in _grid_kw}
    EXPERIMENTS[_name] = Experiment(
        _name, _title, "Evidence plan (C3, C4, C5a, C7b, C10)", "lra_diff", ("random_permutation",),
        (10,), _grid(**_grid_kw), _grid(**_grid_kw), fixed=_fixed, seeds=EV_SEEDS,
        notebook="verdicts")
# C9 (lower lambda is better): Figure 5's cells at T = 20 for temporal order and random
# permutation, the plan's T = 20 configuration with lambda = 2 and 1 (lambda = 0.1: ev_t20_reg).
EXPERIMENTS["ev_lambda"] = Experiment(
    "ev_lambda", "Evidence: regularised RNN-LRA-diff at T = 20 with lambda = 2 and 1",
    "Evidence plan (C9)", "lra_diff", ("temporal_order", "random_permutation"), (20,),
    _grid(lam=(2.0, 1.0)), _grid(lam=(2.0, 1.0)),
    task_fixed={k: EV_T20_LRA[k] for k in ("temporal_order", "random_permutation")},
    variant="regularised", seeds=EV_SEEDS, notebook="verdicts")
# C8c: Table V's regularised curriculum on random permutation (the paper: T = 80 solved with the
# regulariser, nothing without), Figure 4's configuration, five seeds, stage by stage from T = 10
# as Table V starts (ev_fig2's cell is the unregularised form; Figure 4's regularised run is one
# seed), each stage ending as soon as one member solves it, the first unsolved stage ending the
# curriculum; and the readout-only control at the lengths the curriculum can reach beyond
# ev_readout's.
EXPERIMENTS["ev_t5_reg_rp"] = Experiment(
    "ev_t5_reg_rp", "Evidence: regularised RNN-LRA-diff curriculum on random permutation from "
    "T = 10", "Evidence plan (C8c)", "lra_diff", ("random_permutation",), (), {}, {},
    fixed={**EV_FIG2, "lam": EV_LAMBDA}, variant="regularised", curriculum=True, first_length=10,
    seeds=EV_SEEDS, notebook="verdicts")
EXPERIMENTS["ev_readout_rp_long"] = Experiment(
    "ev_readout_rp_long", "Evidence: readout only (frozen reservoir), random permutation, "
    "T = 40 to 80", "Evidence plan (control for C8c)", "readout_only", ("random_permutation",),
    (40, 50, 60, 70, 80), _grid(alpha=(1e-1, 1e-2, 1e-3)), _grid(alpha=(0.1, 0.01)),
    seeds=EV_SEEDS, notebook="verdicts")
# C5b: Table IV's (c0, c1) rows at temporal order T = 20 against ev_t20_lra's (0, 0.1): the same
# alpha, gamma, K with (c0, c1) = (1, 1) and (0, 0), one experiment each (not their product).
for _name, _c in (("ev_table4_norm", 1.0), ("ev_table4_none", 0.0)):
    EXPERIMENTS[_name] = Experiment(
        _name, f"Evidence: Table IV's configuration with c0 = c1 = {_c:g}", "Evidence plan (C5b)",
        "lra_diff", ("temporal_order",), (20,), {}, {},
        task_fixed={"temporal_order": {**EV_T20_LRA["temporal_order"], "c0": _c, "c1": _c}},
        seeds=EV_SEEDS, notebook="verdicts")
