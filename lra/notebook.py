"""Helpers the book's chapters share: parameters, replay or compute, and display.

Every experiment chapter has a papermill ``parameters`` cell (budget, device, seeds, replay,
max_iterations) followed by ``ctx = setup([...], ...)``. ``replay=True`` (the default, and what
the book build uses) only reads ``results/``; ``replay=False`` first computes the missing rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lra.engine.trainer import resolve_device
from lra.campaign.experiments import get_budget, get_experiment
from lra.campaign.params import validate
from lra.analysis.report import load
from lra.campaign.runner import budget_with_cap, run_experiments
from lra.analysis.tables import markdown_table


@dataclass
class Context:
    experiments: list
    budget: str
    notebook: str

    def results(self, experiment: str) -> tuple[pd.DataFrame, str]:
        return load(experiment, self.budget)

    def rerun_command(self, budget: str | None = None) -> str:
        b = budget or ("paper" if self.budget in ("auto", "paper") else self.budget)
        return f"lra run {self.notebook} -p replay False -p budget {b}"


def setup(experiments: list[str], notebook: str, budget="auto", device="auto", seeds=1,
          replay=True, max_iterations=None) -> Context:
    validate(budget=budget, device=device, seeds=seeds, replay=replay,
             max_iterations=max_iterations)
    for e in experiments:
        get_experiment(e)
    if not replay:
        b = budget if budget != "auto" else (
            "paper" if resolve_device(device).type == "cuda" else "smoke")
        if resolve_device(device).type == "cpu":    # as `lra campaign`: never oversubscribe
            import torch

            from lra.cli import default_threads
            n, why = default_threads()
            torch.set_num_threads(n)
            print(f"using {n} CPU thread(s) ({why})")
        run_experiments(experiments, b, device=device, seeds=seeds,
                        max_iterations=max_iterations)
        budget = budget_with_cap(get_budget(b), max_iterations).name
    elif max_iterations is not None and budget != "auto":
        budget = budget_with_cap(get_budget(budget), max_iterations).name
    return Context(list(experiments), budget, notebook)


def show(df: pd.DataFrame) -> None:
    """A table in the book, with human headers and task names (:func:`lra.analysis.labels.humanise`)."""
    from IPython.display import Markdown, display

    from lra.analysis.labels import humanise
    display(Markdown(markdown_table(humanise(df))))


def say(text: str) -> None:
    from IPython.display import Markdown, display
    display(Markdown(text))


def missing(ctx: Context, experiment: str) -> bool:
    """Say plainly when an experiment has no stored rows, with the command that computes them."""
    df, b = ctx.results(experiment)
    if df.empty:
        say(f":::{{warning}}\nNo stored results for **{experiment}** at budget **{b}**. "
            f"Compute them with\n\n`{ctx.rerun_command()}`\n\n(or `lra campaign --budget "
            f"paper --experiments {experiment}`).\n:::")
        return True
    return False


def glue_text(name: str, value) -> None:
    from myst_nb import glue
    glue(name, value, display=False)


def check_against_reference(params, x, y, configs, rho_min: float = 1e6) -> list[str]:
    """The book's check of Algorithm 1/2 (a population) against ``lra.algorithms.reference`` (one network at
    a time), in float64, each update within the bound set by its conditioning (tests/
    test_algorithms.py derives it): every step's term carries the rounding of a chain of
    n = T (K + 1) H operations plus C / rho_t, the relative rounding of its error signal
    z_t - z_hat_t (rho_t = ||z_t - z_hat_t|| / (u ||h_t||), C = 4); the hidden updates are sums
    over t of those terms. A member whose update is invariant to the scale of the signal
    (lambda > 0, or forced normalisation) must have its signal above rounding (rho_t >= rho_min)
    wherever that invariance enters. Returns the failures, each a full line (none: it passed)."""
    import torch

    from lra.algorithms import reference
    from lra.algorithms.lra_diff import Hyper, lra_diff_grads
    from lra.model import input_projection, unroll

    u = torch.finfo(torch.float64).eps / 2
    T, B, H = x.shape[1], x.shape[2], params.W_hh.shape[-1]
    grads, stats = lra_diff_grads(params, x, y, Hyper(configs), probe=True)
    h, _, _ = unroll(params, input_projection(params, x))
    rho = (stats["local_loss"] * B * H).sqrt() / (u * h.flatten(2).norm(dim=-1))
    f32 = lambda v: float(torch.tensor(v, dtype=torch.float32))  # as Hyper holds them
    per_step = {"W_hh": "dW_hh_norm", "W_xh": "dW_xh_norm", "b_h": "db_h_norm"}
    failures = []
    for p, c in enumerate(configs):
        forced = c.norm in ("forced", "forced_dh")      # both readings force Delta h
        first = 0 if forced else 1                      # Omega_t enters from t = 1
        if (c.lam > 0 or forced) and not rho[p, first:].min() >= rho_min:
            failures.append(f"member {p} ({c}): error signal at rounding level (min rho = "
                            f"{float(rho[p, first:].min()):.1e}); its update is not determined")
            continue
        ref = reference.lra_diff_single({k: v[p] for k, v in params.items()}, x[p], y[p],
                                        gamma=f32(c.gamma), K=c.K, c0=f32(c.c0), c1=f32(c.c1),
                                        lam=f32(c.lam), loss=c.loss, norm=c.norm)
        n = T * (c.K + 1) * H
        for k, v in ref.items():
            err = float((getattr(grads, k)[p] - v).norm() / v.norm())
            if k in per_step:
                terms = stats[per_step[k]][p] * (n * u + 4 / rho[p].clamp_min(1.0))
                bound = float(terms.sum() / v.norm()) + n * u
            else:
                bound = n * u
            if not err <= bound:
                failures.append(f"member {p} ({c}), update of {k}: relative error {err:.2e} "
                                f"> bound {bound:.2e}")
    return failures
