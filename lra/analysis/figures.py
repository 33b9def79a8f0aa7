"""The book's figures, drawn to be read at the page width.

Each function regenerates one of the paper's figures (named in its docstring) from stored data
(``results/``: our runs, with provenance) and returns a matplotlib figure; nothing here computes a
result. Every figure follows the page's rules (:mod:`lra.analysis.page`: 7.5 in wide at 100 dpi,
every text at 10 pt or more, an axis label on every axis that shows numbers, a labelled colour bar
for every colour scale and legends outside the data), which
:func:`lra.analysis.page.glue_figure` checks before handing a figure to the book, so an illegible
figure fails the build.

The one exception is :func:`plot_gradient_flow_grid` (the paper's own layout of Figures 2-4, one
panel per layer and quantity): it is legible at its full size (≈ 1,900 px) and the book shows it
inside a collapsed block, linked to the full-size image.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lra.analysis.labels import TASK_LABELS
from lra.analysis.page import glue_figure, glue_markdown, new_figure, no_data, style

# (probe key, panel title, colour-bar label, symbol for the grid's row label)
FLOW_QUANTITIES = [
    ("local_loss", "local loss", r"$L(z_t, \hat z_t)$", r"$L(z_t,\hat z_t)$"),
    ("dh_norm", "target displacement", r"$\Vert\Delta h_t\Vert$", r"$\Vert\Delta h_t\Vert$"),
    ("dW_hh_norm", r"update of $W_{hh}$ at step $t$", r"$\Vert\nabla^t W_{hh}\Vert$",
     r"$\Vert\nabla^t W_{hh}\Vert$"),
    ("dW_xh_norm", r"update of $W_{xh}$ at step $t$", r"$\Vert\nabla^t W_{xh}\Vert$",
     r"$\Vert\nabla^t W_{xh}\Vert$"),
]
ZERO_COLOUR = "0.82"        # exactly zero: the layer received no signal at all
NONFINITE_COLOUR = "tab:red"

# the norm modes (lra.algorithms.lra_diff.NORM_RULES) as a reader reads them
NORM_WORDS = {"standard": "standard (Algorithm 1)", "off": "off",
              "forced": "forced (Δh and the weight gradients)", "forced_dh": "forced on Δh alone"}


def _iteration_axis(ax, iterations) -> None:
    """Training iterations on x: thousands written as 'k' so five ticks fit a narrow panel."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    if np.max(iterations) >= 10_000:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v else "0"))
    ax.set_xlabel("training iteration")


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges for pcolormesh around increasing centres (a single centre gets width 1)."""
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _decades(values: np.ndarray) -> tuple[float, float]:
    """A log colour range covering the values, widened to whole decades (at least one), so
    that a nearly constant quantity (e.g. a forced norm of 1) gets readable ticks."""
    if not values.size:
        return 0.1, 1.0
    lo, hi = np.floor(np.log10(values.min())), np.ceil(np.log10(values.max()))
    return 10.0 ** lo, 10.0 ** max(hi, lo + 1)


def _probe_array(probes: list[dict], key: str) -> np.ndarray:
    return np.array([p[key] for p in probes], dtype=float)      # (probes, T)


# ------------------------------------------------------------------------ Figures 2, 3 and 4
def plot_gradient_flow(probes: list[dict], title: str | None = None):
    """Paper Figures 2, 3 and 4 (gradient flow through the unrolled RNN), one heatmap per quantity.

    ``probes`` are the engine's gradient-flow probes of one run (``ResultsStore.probes``): per
    probe, the iteration, the global loss and, per time step t ("layer"), the local loss
    L(z_t, ẑ_t), the target displacement ‖Δh_t‖ and the norms of the per-step updates of W_hh and
    W_xh. Each heatmap has time step t on y (the top layer, t = T-1, at the top), training iteration
    on x and the value on a log colour scale; exact zeros (no signal reached that layer) are grey
    and non-finite values red. The bottom panel is the global loss E against iteration.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    its = np.array([p["iteration"] for p in probes], dtype=float)
    T = len(probes[0]["local_loss"])
    with style():
        fig = new_figure(7.6)
        gs = fig.add_gridspec(3, 2, height_ratios=[1, 1, 0.8])
        x_edges, t_edges = _edges(its), np.arange(T + 1) - 0.5
        first = None
        any_zero = any_nonfinite = False
        for i, (key, what, symbol, _) in enumerate(FLOW_QUANTITIES):
            ax = fig.add_subplot(gs[i // 2, i % 2], sharex=first)
            first = first or ax
            v = _probe_array(probes, key)
            finite = np.isfinite(v)
            positive = finite & (v > 0)
            any_zero |= bool((finite & (v <= 0)).any())
            any_nonfinite |= bool((~finite).any())
            lo, hi = _decades(v[positive])
            ax.set_facecolor(ZERO_COLOUR)       # cells left empty below are exact zeros
            mesh = ax.pcolormesh(x_edges, t_edges, np.ma.masked_where(~positive, v).T,
                                 norm=LogNorm(lo, hi), cmap="viridis", rasterized=True)
            if (~finite).any():
                ax.pcolormesh(x_edges, t_edges, np.ma.masked_where(finite, np.ones_like(v)).T,
                              cmap=plt.matplotlib.colors.ListedColormap([NONFINITE_COLOUR]),
                              rasterized=True)
            ax.set_title(f"{what} {symbol}")
            ax.set_ylabel("time step t (layer)")
            ax.set_yticks(range(0, T, max(1, T // 5)) if T > 10 else range(T))
            _iteration_axis(ax, its)
            fig.colorbar(mesh, ax=ax, label=f"{symbol} (log scale)")
        ax = fig.add_subplot(gs[2, :], sharex=first)
        g = np.array([p["global_loss"] for p in probes], dtype=float)
        ax.semilogy(its, np.where(g > 0, g, np.nan), color="k", lw=1)
        ax.set_title("global loss at the output (cross-entropy on the training mini-batch)")
        ax.set_ylabel(r"global loss $E$ (nats)")
        _iteration_axis(ax, its)
        handles = [Patch(color=ZERO_COLOUR, label="exactly 0 (no signal)")] if any_zero else []
        if any_nonfinite:
            handles.append(Patch(color=NONFINITE_COLOUR, label="non-finite (diverged)"))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                       frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def plot_gradient_flow_grid(probes: list[dict], title: str | None = None):
    """Paper Figures 2, 3 and 4 in the paper's own layout: one panel per (quantity, layer).

    Rows: local loss, ‖Δh_t‖, ‖∇W_hh^t‖, ‖∇W_xh^t‖; columns: time steps t = 0 … T-1 and the
    global loss; each panel the value against training iteration on a log scale, exact zeros
    drawn as grey ticks on the bottom edge. Legible at its full size (≈ 1,900 px for T = 10), not
    at the page width: the book shows it collapsed and linked to the full-size image.
    """
    from matplotlib.lines import Line2D

    its = np.array([p["iteration"] for p in probes], dtype=float)
    T = len(probes[0]["local_loss"])
    rows = len(FLOW_QUANTITIES)
    with style():
        fig = new_figure(1.55 * rows + 0.9, 1.6 * (T + 1) + 1.4)
        gs = fig.add_gridspec(rows, T + 1)
        first_col = []
        for i, (key, _, _, row_label) in enumerate(FLOW_QUANTITIES):
            v = _probe_array(probes, key)
            positive = np.isfinite(v) & (v > 0)
            lo = v[positive].min() / 10 if positive.any() else 1e-30
            hi = v[positive].max() * 10 if positive.any() else 1.0
            for t in range(T):
                ax = fig.add_subplot(gs[i, t], sharex=first_col[0] if first_col else None,
                                     sharey=first_col[i] if t else None)
                if t == 0:
                    first_col.append(ax)
                vt = v[:, t]
                ax.semilogy(its, np.where(positive[:, t], vt, np.nan), lw=0.9, color="C0")
                zero = ~positive[:, t]
                if zero.any():
                    ax.plot(its[zero], np.full(zero.sum(), lo), ls="none", marker="|",
                            ms=6, color="0.55", clip_on=False)
                ax.set_ylim(lo, hi)
                if i == 0:
                    ax.set_title(f"t = {t}")
                if t == 0:
                    ax.set_ylabel(row_label)
                else:
                    ax.tick_params(labelleft=False)
                if i == rows - 1:
                    _iteration_axis(ax, its)
                    ax.set_xlabel("iteration")
                else:
                    ax.tick_params(labelbottom=False)
        ax = fig.add_subplot(gs[0, T], sharex=first_col[0])
        ax.semilogy(its, [p["global_loss"] for p in probes], color="k", lw=0.9)
        ax.set_title("global loss")
        ax.set_ylabel(r"$E$ (nats)")
        _iteration_axis(ax, its)
        ax.set_xlabel("iteration")
        ax.tick_params(labelbottom=True)
        fig.legend(handles=[Line2D([], [], ls="none", marker="|", ms=8, color="0.55",
                                   label="exactly 0 (drawn at the bottom edge)")],
                   loc="outside lower center", frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def gradient_flow_summary(probes: list[dict]) -> dict:
    """Numbers behind the reading of Figures 2-4, from the probes of one run."""
    loss = _probe_array(probes, "local_loss")
    T = loss.shape[1]
    finite = np.isfinite(loss)
    zero_frac = ((loss == 0) & finite).mean(axis=0)             # per layer
    dead = [t for t in range(T) if zero_frac[t] == 1.0]
    reached = [t for t in range(T) if ((loss[:, t] > 0) & finite[:, t]).any()]

    def median_nonzero(t):
        m = (loss[:, t] > 0) & finite[:, t]
        return float(np.median(loss[m, t])) if m.any() else 0.0

    return dict(T=T, probes=len(probes), first_iteration=int(probes[0]["iteration"]),
                last_iteration=int(probes[-1]["iteration"]), dead_layers=dead,
                lowest_reached=min(reached) if reached else None,
                zero_fraction=zero_frac.tolist(),
                median_nonzero=[median_nonzero(t) for t in range(T)],
                nonfinite_probes=int((~finite).any(axis=1).sum()))


def describe_gradient_flow(probes: list[dict]) -> str:
    """One sentence reading Figures 2-4 off the probes: how far down the local loss reaches."""
    s = gradient_flow_summary(probes)
    T, top, low = s["T"], s["T"] - 1, s["lowest_reached"]
    med, zero = s["median_nonzero"], s["zero_fraction"]
    span = (f"{s['probes']:,} probes, iterations {s['first_iteration']:,}–"
            f"{s['last_iteration']:,}")
    if low is None:
        text = f"The local loss is exactly zero in every layer at every probe ({span})."
    else:
        text = f"Over {span}, the median non-zero local loss is {med[top]:.1e} at the top layer"
        text += f" (t = {top})"
        if low < top:
            text += f" and {med[low]:.1e} at the lowest layer it reaches (t = {low}"
            if med[low] > 0 and med[top] > 0:
                ratio = np.log10(med[top] / med[low])
                text += (f", {abs(ratio):.0f} orders of magnitude "
                         f"{'lower' if ratio >= 0 else 'higher'}")
            text += ")"
        if low > 0:
            text += (f"; layers t = 0–{low - 1} ({low} of {T}) receive exactly zero local loss "
                     f"at every probe")
            if 0 < zero[low] < 1:
                text += f", and t = {low} at {zero[low]:.0%} of them"
        else:
            text += "; every layer receives a non-zero local loss"
        text += "."
    if s["nonfinite_probes"]:
        text += (f" {s['nonfinite_probes']} of the probes hold non-finite values (the run "
                 "diverged; red in the figure).")
    return text


# --------------------------------------------------------------------------------- Figure 5
def plot_lambda_sensitivity(df: pd.DataFrame, title: str | None = None):
    """Paper Figure 5 (sensitivity to the regularisation coefficient λ): per task, the best
    validation accuracy over the (α, γ) grid against λ (log scale), with the legend below the axes.

    ``df``: the stored rows of experiment ``fig5`` (columns task, T, lam, best_accuracy)."""
    with style():
        fig = new_figure(4.2)
        ax = fig.add_subplot()
        lams = sorted(df["lam"].unique())
        for task, d in df.groupby("task", sort=False):
            best = d.groupby("lam")["best_accuracy"].max() * 100
            T = int(d["T"].iloc[0])
            ax.plot(best.index, best.values, marker="o", ms=7, lw=1.5,
                    label=f"{TASK_LABELS.get(task, task)}, T = {T}")
        ax.set_xscale("log")
        ax.set_xticks(lams, [f"{v:g}" for v in lams])
        ax.minorticks_off()
        ax.set_xlabel(r"regularisation coefficient $\lambda$ (log scale)")
        ax.set_ylabel("best validation accuracy (%)")
        ax.grid(alpha=0.3)
        fig.legend(loc="outside lower center", ncols=min(3, df["task"].nunique()),
                   frameon=False)
        if title:
            fig.suptitle(title)
    return fig


def lambda_sensitivity_summary(df: pd.DataFrame) -> list[dict]:
    """Per task: best accuracy (%) at the smallest and largest λ run, and which is higher."""
    out = []
    for task, d in df.groupby("task", sort=False):
        best = d.groupby("lam")["best_accuracy"].max() * 100
        lo, hi = best.index.min(), best.index.max()
        out.append(dict(task=task, T=int(d["T"].iloc[0]), lam_low=float(lo), lam_high=float(hi),
                        acc_low=float(best[lo]), acc_high=float(best[hi])))
    return out


def describe_lambda_sensitivity(df: pd.DataFrame) -> str:
    """One sentence reading Figure 5 off the rows: on how many tasks the smaller λ did better."""
    rows = [r for r in lambda_sensitivity_summary(df) if r["lam_low"] < r["lam_high"]]
    if not rows:
        return "Only one value of λ has been run, so the figure cannot compare λ yet."
    better = sum(r["acc_low"] > r["acc_high"] for r in rows)
    worse = sum(r["acc_low"] < r["acc_high"] for r in rows)
    parts = "; ".join(f"{TASK_LABELS.get(r['task'], r['task'])} (T = {r['T']}): "
                      f"{r['acc_low']:.1f} % at λ = {r['lam_low']:g} against {r['acc_high']:.1f} % "
                      f"at λ = {r['lam_high']:g}" for r in rows)
    return (f"The smallest λ gave the higher best accuracy on {better} of {len(rows)} task(s) "
            f"and the lower on {worse} ({parts}).")


# --------------------------------------------------------------------------------- Figure 1
def draw_lra_diff():
    """Paper Figure 1 (LRA-diff in an unrolled RNN): forward states z_t (black), targets ẑ_t
    built backwards from the top, K steps of size γ per layer (red), and the local losses
    L(z_t, ẑ_t) (blue) whose gradients train W_hh and W_xh at every step."""
    import matplotlib.pyplot as plt
    with style():
        fig = new_figure(3.9)
        ax = fig.add_subplot()
        ax.axis("off")
        labels = ["0", "1", None, "T-2", "T-1"]          # None: the steps left out
        dx, r, y_hat, y_x = 1.6, 0.42, 1.7, -1.3
        ax.text(-0.7, y_hat, "targets", ha="right", va="center", color="tab:red")
        ax.text(-0.7, 0, "states", ha="right", va="center")
        ax.text(-0.7, y_x, "inputs", ha="right", va="center")
        for i, lab in enumerate(labels):
            x = dx * i
            if lab is None:
                for y, c in ((y_hat, "tab:red"), (0, "k"), (y_x, "k")):
                    ax.text(x, y, r"$\cdots$", ha="center", va="center", fontsize=14, color=c)
            else:
                ax.add_patch(plt.Circle((x, 0), r, fill=False, lw=1.2))
                ax.text(x, 0, f"$z_{{{lab}}}$", ha="center", va="center", fontsize=12)
                ax.add_patch(plt.Circle((x, y_hat), r, fill=False, ls="--", lw=1.2,
                                        color="tab:red"))
                ax.text(x, y_hat, f"$\\hat z_{{{lab}}}$", ha="center", va="center",
                        fontsize=12, color="tab:red")
                ax.text(x, y_x, f"$x_{{{lab}}}$", ha="center", va="center", fontsize=12)
                ax.annotate("", (x, -r), (x, y_x + 0.25), arrowprops=dict(arrowstyle="->", lw=1))
                ax.plot([x, x], [r, y_hat - r], color="tab:blue", lw=1.4, ls=":")
                ax.text(x + 0.08, y_hat / 2, "$L$", color="tab:blue", va="center", fontsize=12)
            if i < len(labels) - 1:
                ax.annotate("", (x + dx - r, 0), (x + r, 0), arrowprops=dict(arrowstyle="->", lw=1))
                ax.text(x + dx / 2, 0.1, "$W_{hh}$", ha="center", va="bottom")
                ax.annotate("", (x + r, y_hat), (x + dx - r, y_hat),
                            arrowprops=dict(arrowstyle="->", color="tab:red", lw=1))
                ax.text(x + dx / 2, y_hat + 0.1, r"$K{\times}\gamma$", ha="center",
                        va="bottom", color="tab:red")
        x_top = dx * (len(labels) - 1)
        ax.annotate("", (x_top + 1.1, 0), (x_top + r, 0), arrowprops=dict(arrowstyle="->", lw=1))
        ax.text(x_top + 1.15, 0, r"$\hat y \rightarrow E$", va="center", fontsize=12)
        ax.annotate("", (x_top + r * 0.8, y_hat - r * 0.7), (x_top + 1.3, 0.3),
                    arrowprops=dict(arrowstyle="->", color="tab:red", lw=1))
        ax.text(x_top + 1.05, 1.05, "$K$ steps\ndown $\\partial E$", color="tab:red",
                va="center")
        ax.set_xlim(-1.9, x_top + 2.3)
        ax.set_ylim(y_x - 0.4, y_hat + 0.6)
        ax.set_aspect("equal")
    return fig


# ---------------------------------------------------------------------- the tasks' chapter
PLANTED_COLOUR = "tab:red"


def plot_task_examples(examples: list[tuple[str, np.ndarray, int]]):
    """One input sequence of each task (the paper's Section IV tasks) as an image: time step on x,
    input symbol on y; the symbols that decide the label (0 and 1) red and ringed, distractors
    black.

    ``examples``: (task name, one-hot inputs of shape (T, n_in), label) per task."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch
    with style():
        fig = new_figure(3.7)
        axes = np.atleast_1d(fig.subplots(1, len(examples)))
        for ax, (name, x, label) in zip(axes, examples):
            x = np.asarray(x)
            T, n_in = x.shape
            rgb = np.ones((n_in, T, 3))
            on = x.T > 0
            rgb[on] = to_rgb("black")
            rgb[:2][on[:2]] = to_rgb(PLANTED_COLOUR)
            ax.imshow(rgb, aspect="auto", interpolation="nearest", origin="lower",
                      extent=(-0.5, T - 0.5, -0.5, n_in - 0.5))
            t_planted, s_planted = np.nonzero(x[:, :2] > 0)     # rings: visible among 100 rows
            ax.plot(t_planted, s_planted, ls="none", marker="o", ms=11, mfc="none", mew=1.5,
                    mec=PLANTED_COLOUR, clip_on=False)
            ax.set_title(f"{TASK_LABELS.get(name, name)}\nT = {T}, label {label}")
            ax.set_xlabel("time step t")
            ax.set_ylabel("input symbol")
        fig.legend(handles=[Patch(color=PLANTED_COLOUR, label="symbol 0 or 1 (sets the label)"),
                            Patch(color="black", label="distractor")],
                   loc="outside lower center", ncols=2, frameon=False)
    return fig


def describe_task_examples(examples: list[tuple[str, np.ndarray, int]]) -> str:
    """Where the label-setting symbols (0 and 1) sit in each example of the tasks' figure."""
    parts = []
    for name, x, _ in examples:
        sym = np.asarray(x).argmax(axis=1)
        at = ", ".join(str(t) for t in np.flatnonzero(sym < 2))
        parts.append(f"{TASK_LABELS.get(name, name).lower()} at t = {at}")
    return ("In these examples the symbols that set the label sit at: " + "; ".join(parts)
            + "; every other step is a distractor.")


# -------------------------------------------------------------------------------- captions
def campaign_command(experiments: str | list[str], budget: str) -> str:
    """The exact command that recomputes a figure's rows at a (possibly capped) budget."""
    exps = " ".join([experiments] if isinstance(experiments, str) else experiments)
    base, _, cap = budget.partition("-cap")
    cmd = f"lra campaign --experiments {exps} --budget {base}"
    return cmd + (f" --max-iterations {cap}" if cap else "")


# ------------------------------------------------------------------------------ glued figures
def glue_gradient_flow(name: str, experiment: str, budget: str = "auto", store=None):
    """Glue the gradient-flow figure (paper Figures 2-4) of an experiment's stored run for the book:
    ``name`` (:func:`plot_gradient_flow`), ``name``_grid (:func:`plot_gradient_flow_grid`, legible
    at full size), ``name``_budget (the budget, for the caption) and ``name``_reading (the
    reading, the run's configuration and provenance, and the command that recomputes it).
    Returns the probes, or None when nothing is stored (the figures then say so)."""
    from lra.analysis.report import budget_note, load, rows_provenance
    from lra.campaign.store import ResultsStore
    from lra.analysis.probes import padding, recorded
    store = store or ResultsStore()
    df, used = load(experiment, budget, store)
    stored = store.probes(experiment, used, df.iloc[0]["key"]) if not df.empty else None
    # probes scheduled after the run stopped are NaN padding, not divergence: drawn, they would
    # paint a solved run red ("non-finite (diverged)")
    probes = recorded(stored, df.iloc[0]["iterations"]) if stored else None
    pad = padding(stored, df.iloc[0]["iterations"]) if stored else 0
    command = campaign_command(experiment, used)
    glue_markdown(f"{name}_budget", budget_note(used))
    if not probes:
        why = (f"No stored {'probes' if not df.empty else 'run'} for {experiment} at budget "
               f"{used}: run `{command}`")
        glue_figure(name, no_data(why.replace("`", "")))
        glue_figure(f"{name}_grid", no_data(why.replace("`", "")))
        glue_markdown(f"{name}_reading", why + ".")
        return None
    row = df.iloc[0]
    config = (f"α = {row.alpha:g}, γ = {row.gamma:g}, K = {row.K:g}, c0 = {row.c0:g}, "
              f"c1 = {row.c1:g}, λ = {row.lam:g}, "
              f"normalisation {NORM_WORDS.get(row.norm, row.norm)}")
    provenance = rows_provenance(df, used, f"*Reproduce this figure's run:* `{command}`")
    glue_figure(name, plot_gradient_flow(probes))
    glue_figure(f"{name}_grid", plot_gradient_flow_grid(probes), page_width_px=None)
    stopped = (f" The run stopped at iteration {row.iterations:,} ({row.stop_reason}); the "
               f"{pad:,} probes scheduled after that hold no measurement and are not shown."
               if pad else "")
    glue_markdown(f"{name}_reading",
                  f"{describe_gradient_flow(probes)}{stopped} The run: {config}; best validation "
                  f"accuracy "
                  f"{row.best_accuracy * 100:.2f} % after {row.iterations:,} iterations. "
                  f"{provenance}")
    return probes


def glue_lambda_sensitivity(name: str, experiment: str = "fig5", budget: str = "auto",
                            store=None):
    """Glue paper Figure 5 from an experiment's stored rows for the book: ``name``
    (:func:`plot_lambda_sensitivity`), ``name``_budget (for the caption) and ``name``_reading
    (the reading, provenance and the command that recomputes it). Returns the rows."""
    from lra.analysis.report import budget_note, load, rows_provenance
    df, used = load(experiment, budget, store)
    command = campaign_command(experiment, used)
    glue_markdown(f"{name}_budget", budget_note(used))
    if df.empty:
        why = f"No stored runs for {experiment} at budget {used}: run `{command}`"
        glue_figure(name, no_data(why.replace("`", "")))
        glue_markdown(f"{name}_reading", why + ".")
        return df
    provenance = rows_provenance(df, used, f"*Reproduce this figure's runs:* `{command}`")
    glue_figure(name, plot_lambda_sensitivity(df))
    glue_markdown(f"{name}_reading", f"{describe_lambda_sensitivity(df)} {provenance}")
    return df
