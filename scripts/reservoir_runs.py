"""The reservoir chapter's runs (book/reservoir.ipynb): readout only, RNN-LRA-diff and BPTT on
every task at T = 10, 20, 30, five seeds, one configuration each, at a stated budget (default the
smoke budget: a CPU can run it in minutes).

Besides each run's ordinary row, the store keeps (as the run's probe record) what the chapter
needs and the ordinary campaign does not record: how far training moved each weight matrix,
||W_final - W_init|| / ||W_init|| per layer role (lra.analysis.controls.relative_motion), and the final
network's per-sample correctness on its seed's validation set (for paired McNemar tests between
methods that share that set: lra.analysis.controls.paired_seeds). Rows already stored are not recomputed.

    PYTHONPATH=. python scripts/reservoir_runs.py [--budget smoke] [--lengths 10 20 30]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lra.analysis.controls import relative_motion                      # noqa: E402
from lra.engine.trainer import PopulationTrainer, last_state         # noqa: E402
from lra.campaign.experiments import ALL_TASKS, Run, full_config, get_budget  # noqa: E402
from lra.campaign.runner import make_algorithm                         # noqa: E402
from lra.campaign.store import CONFIG_COLUMNS, ResultsStore, provenance  # noqa: E402

EXPERIMENT = "reservoir"
# One configuration per method: the smoke grid's corner that Table I's smoke rows and the
# readout-only control found best at T = 10 (alpha = 0.1; LRA-diff gamma = 1, K = 10, c0 = c1 = 1).
METHODS = {
    "readout_only": dict(alpha=0.1),
    "lra_diff": dict(alpha=0.1, gamma=1.0, K=10, c0=1.0, c1=1.0, loss="mse"),
    "bptt": dict(alpha=0.1),
}
SEEDS = 5


def runs_of(algorithm: str, task: str, T: int) -> list[Run]:
    cfg = full_config(algorithm, METHODS[algorithm])
    return [Run(EXPERIMENT, algorithm, task, T, s, cfg) for s in range(SEEDS)]


@torch.no_grad()
def final_correct(trainer: PopulationTrainer) -> torch.Tensor:
    """(P, N) bool: each member's final network right or wrong on its seed's validation set."""
    params = trainer.full_params()
    sym, lab = trainer.validation_data()
    streams = trainer.stream_of_member.to(trainer.device)
    z = last_state(params, sym[streams], trainer.validation_h0_quirk)
    logits = torch.baddbmm(params.b_y.unsqueeze(1), z, params.W_hy)
    return logits.argmax(-1) == lab[streams]


def train(runs: list[Run], budget, store: ResultsStore, command: str) -> int:
    r0 = runs[0]
    trainer = PopulationTrainer(make_algorithm(runs, "cpu"), r0.task, r0.T,
                                [r.seed for r in runs], device="cpu",
                                max_iterations=budget.max_iterations,
                                check_every=budget.check_every,
                                validation_size=budget.validation_size, progress=False)
    init = trainer.params.clone()
    results = trainer.run()
    motion = relative_motion(init, trainer.full_params())
    correct = final_correct(trainer)
    prov = provenance(trainer.device, budget.name, command)
    rows, probes = [], {}
    for m, (run, res) in enumerate(zip(runs, results)):
        acc = float(correct[m].float().mean())
        # the stored predictions are those of the network whose final accuracy the row reports
        assert abs(acc - res.final_accuracy) < 1e-6, (acc, res.final_accuracy)
        cfg = dict(run.config)
        rows.append(dict(
            key=run.key, experiment=EXPERIMENT, budget=budget.name, algorithm=run.algorithm,
            variant="", switches="", task=run.task, T=run.T, seed=run.seed,
            **{c: cfg.get(c) for c in CONFIG_COLUMNS}, solved=res.solved,
            diverged=res.diverged, stop_reason=res.stop_reason, iterations=res.iterations,
            best_accuracy=res.best_accuracy, final_accuracy=res.final_accuracy,
            wall_seconds=res.wall_seconds,
            population=len(runs), device=prov["device"],
            commit=prov["commit"][:12] + ("+dirty" if prov["dirty"] else ""),
            curve=json.dumps(res.curve), best_correct=res.best_correct))
        probes[run.key] = [{"iteration": res.iterations,
                            "motion": {k: v[m] for k, v in motion.items()},
                            "correct": "".join("1" if c else "0" for c in correct[m].tolist())}]
    return store.append(EXPERIMENT, budget.name, rows, prov, probes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="smoke")
    ap.add_argument("--lengths", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    args = ap.parse_args(argv)
    budget = get_budget(args.budget)
    store = ResultsStore()
    command = "python scripts/reservoir_runs.py " + " ".join(argv or sys.argv[1:])
    for algorithm in args.methods:
        for T in args.lengths:
            for task in ALL_TASKS:
                runs = runs_of(algorithm, task, T)
                done = store.done_keys(EXPERIMENT, budget.name)
                if all(r.key in done for r in runs):
                    continue
                t0 = time.monotonic()
                n = train(runs, budget, store, command)
                print(f"{algorithm} {task} T={T}: {n} rows in {time.monotonic() - t0:.1f} s",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
