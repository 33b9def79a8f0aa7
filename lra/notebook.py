"""Helpers the book's chapters share: parameters, replay or compute, and display.

Every chapter that reads results starts with a papermill ``parameters`` cell (its first code
cell; ``budget`` at least) followed by a cell that checks it: ``ctx = setup([...], ...)`` or
:func:`check_parameters`. ``replay=True`` (the default, and what the book build uses) only reads
``results/``; ``replay=False`` first computes the missing rows.

The check is the same whether the chapter runs in the book build, under ``lra run``, papermill,
nbconvert or JupyterLab: a name that is not one of the chapter's parameters (a misspelt ``-p
budgett smoke``, which papermill only warns about), a bad value, or ``device="cuda"`` where
PyTorch has no CUDA device is one line (:class:`ParameterError`), before anything is read or
computed.
"""
from __future__ import annotations

import ast
import difflib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lra.engine.trainer import resolve_device
from lra.campaign import params as _params
from lra.campaign.experiments import get_budget, get_experiment
from lra.analysis.report import load
from lra.campaign.runner import budget_with_cap, run_experiments
from lra.analysis.tables import markdown_table

BOOK = Path(__file__).resolve().parents[1] / "book"


class ParameterError(_params.ParameterError):
    """A chapter's bad parameter. IPython shows what ``_render_traceback_`` returns instead of a
    traceback, so JupyterLab and nbconvert show this one line; papermill reports it as the
    failing cell's error (``ParameterError: ...``)."""

    def _render_traceback_(self) -> list[str]:
        return [f"ParameterError: {self}"]


def _assigned_names(source: str) -> list[str] | None:
    """The names a parameters-shaped cell assigns (only ``name = literal`` lines and comments,
    as the chapters' parameters cells and papermill's injected cell are); None for any other."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for st in tree.body:
        if isinstance(st, ast.Assign) and all(isinstance(t, ast.Name) for t in st.targets):
            targets = [t.id for t in st.targets]
        elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value:
            targets = [st.target.id]
        else:
            return None
        try:
            ast.literal_eval(st.value)
        except Exception:
            return None
        names += targets
    return names


def declared_parameters(notebook: str) -> list[str] | None:
    """The names of a chapter's ``parameters`` cell, as ``lra run`` and papermill read them
    (None: the chapter is not beside the package, so there is nothing to check against)."""
    path = BOOK / f"{notebook}.ipynb"
    if not path.is_file():
        return None
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell["metadata"].get("tags", []):
            src = cell["source"]
            return _assigned_names("".join(src) if isinstance(src, list) else src) or []
    return []


def _just_assigned() -> list[str]:
    """The names assigned by the parameters-shaped cells the kernel ran just before this one:
    the chapter's parameters cell and, under papermill, its injected cell."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    history = [h for h in shell.user_ns.get("_ih") or [] if h.strip()]
    if history and _assigned_names(history[-1]) is None:
        history = history[:-1]     # this cell (it calls the check), where the kernel stores it
    names = []
    for source in reversed(history):
        got = _assigned_names(source)
        if got is None:
            break
        names += got
    return names


def _check_device(device: str) -> None:
    if not device.startswith("cuda"):
        return
    import torch
    if not torch.cuda.is_available():
        why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
               else "no CUDA device is visible")
        raise ParameterError(f"device={device!r} but {why} (torch {torch.__version__}); "
                             "use device=\"cpu\" or \"auto\"")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ParameterError(f"device={device!r} but only {torch.cuda.device_count()} CUDA "
                             "device(s) exist")


def check_parameters(notebook: str, **values) -> dict:
    """Check a chapter's parameters where its parameters cell has just run: every name assigned
    there (or injected by papermill) is one the chapter declares, every value is valid
    (:mod:`lra.campaign.params`), and a CUDA device exists if one is asked for. Raises
    :class:`ParameterError` (one line); returns the values as validated."""
    declared = declared_parameters(notebook)
    assigned = _just_assigned() if declared is not None else []
    if set(assigned) & set(declared or ()):     # only right after the chapter's parameters cell
        unknown = list(dict.fromkeys(n for n in assigned if n not in declared))
        if unknown:
            close = difflib.get_close_matches(unknown[0], declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(
                f"chapter {notebook!r} has no parameter {', '.join(map(repr, unknown))}{hint}; "
                f"its parameters: {', '.join(declared)}")
    try:
        checked = _params.validate(**values)
    except _params.ParameterError as e:
        raise ParameterError(f"chapter {notebook!r}: {e}") from None
    if "device" in values:
        _check_device(values["device"])
    return checked


def results_store(budget: str = "auto"):
    """The results a chapter that sums up several experiments reads: ``"auto"``, every stored
    budget (each part at the paper's budget where stored, else smoke); a budget's name, only
    that budget's rows (the others read as not run)."""
    from lra.campaign.store import ResultsStore
    if budget == "auto":
        return ResultsStore()

    class OneBudget(ResultsStore):
        def load(self, experiment: str, b: str) -> pd.DataFrame:
            df = super().load(experiment, b)
            return df if b == budget else df.iloc[0:0]

        def probes(self, experiment: str, b: str, key: str):
            return super().probes(experiment, b, key) if b == budget else None

    return OneBudget()


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
    check_parameters(notebook, budget=budget, device=device, seeds=seeds, replay=replay,
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
    from lra.analysis.report import current_page, start_page
    if current_page() != notebook:     # a chapter's second setup (its other experiments) keeps
        start_page(notebook)           # what its first collected
    return Context(list(experiments), budget, notebook)


def provenance_footer() -> None:
    """The page's provenance section (its last cell, under the heading labelled
    ``(provenance-<chapter>)=``): for each group of rows a table or figure of the page showed, how
    many, computed on which device, by which commit and code version, and the command that
    recomputes them (collected by :func:`lra.analysis.report.budget_note` and
    :func:`lra.analysis.report.rows_provenance`)."""
    from lra.analysis.report import page_provenance, start_page
    from lra.analysis.report import STALE_HELP
    entries = page_provenance()
    help_ = [e for e in entries if e == STALE_HELP]
    rows = [e for e in entries if e != STALE_HELP]
    say(("\n".join(f"* {e}" for e in rows) if rows else "This page shows no stored rows.")
        + ("\n\n" + help_[0] if help_ else ""))
    start_page(None)


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
    """A value for ``{glue:text}`` in the book's prose (nothing to show outside the book)."""
    try:
        from myst_nb import glue
    except ImportError:     # the chapter runs without the book's tools (binder/, the jupyter extra)
        return
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
