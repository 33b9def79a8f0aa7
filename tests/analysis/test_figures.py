"""The book's figures (lra.analysis.figures) are legible at the page width, on small hand-made data.

Each figure function is checked here directly — every visible text at least 10 pt, every axis that
shows numbers labelled, every colour bar labelled, no legend over the data — independently of
lra.analysis.page.legibility_problems (which the book uses to refuse an illegible figure); that checker
is itself tested on a figure made to break each rule. The readings under the figures are checked
against numbers built into the hand-made data.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from lra.analysis import figures, page  # noqa: E402

T = 6


def hand_made_probes(n=20, dead_below=2, nonfinite_from=None):
    """Probes of a run of T = 6 steps: the local loss is 10^-(3 (T-1-t)) at layers t >= dead_below
    (nine orders of magnitude from the top, t = 5, to t = 2) and exactly 0 below; the other
    quantities follow the same pattern; from probe ``nonfinite_from`` on, everything is NaN."""
    probes = []
    for i in range(n):
        row = {"iteration": 100 * (i + 1), "global_loss": 2.0 / (i + 1),
               "post_target_loss": 1.0 / (i + 1)}
        for key in ("local_loss", "dh_norm", "dW_hh_norm", "dW_xh_norm", "db_h_norm"):
            v = [10.0 ** (-3 * (T - 1 - t)) * (1 + 0.1 * np.sin(i)) if t >= dead_below else 0.0
                 for t in range(T)]
            if nonfinite_from is not None and i >= nonfinite_from:
                v = [float("nan")] * T
            row[key] = v
        probes.append(row)
    return probes


def hand_made_fig5():
    rows = []
    for task, T_, accs in (("random_permutation", 20, {0.1: 0.60, 1.0: 0.55, 2.0: 0.50}),
                           ("temporal_order", 20, {0.1: 0.90, 1.0: 0.95, 2.0: 0.97}),
                           ("temporal_order_3bit", 10, {0.1: 1.0, 1.0: 0.8, 2.0: 0.7})):
        for lam, acc in accs.items():
            for alpha, drop in ((0.1, 0.0), (0.01, 0.2)):        # the grid: best is kept
                rows.append(dict(task=task, T=T_, lam=lam, alpha=alpha,
                                 best_accuracy=acc - drop))
    return pd.DataFrame(rows)


def task_examples():
    rng = np.random.default_rng(0)
    out = []
    for name, n_in in (("temporal_order", 6), ("temporal_order_3bit", 6),
                       ("random_permutation", 100)):
        x = np.zeros((20, n_in))
        x[np.arange(20), rng.integers(0, n_in, 20)] = 1
        out.append((name, x, 1))
    return out


FIGURES = {
    "gradient_flow": lambda: figures.plot_gradient_flow(hand_made_probes()),
    "gradient_flow_titled": lambda: figures.plot_gradient_flow(hand_made_probes(), "a title"),
    "gradient_flow_diverged": lambda: figures.plot_gradient_flow(
        hand_made_probes(nonfinite_from=12)),
    "gradient_flow_grid": lambda: figures.plot_gradient_flow_grid(hand_made_probes()),
    "lambda_sensitivity": lambda: figures.plot_lambda_sensitivity(hand_made_fig5()),
    "lra_diff_diagram": figures.draw_lra_diff,
    "task_examples": lambda: figures.plot_task_examples(task_examples()),
}
FULL_SIZE_ONLY = {"gradient_flow_grid"}     # shown collapsed, linked to its full-size image


# drawn once for the four tests that read it (issue 25: the grid alone takes seconds to draw);
# they only read the figure (page.legibility_problems redraws it, which changes nothing)
@pytest.fixture(params=sorted(FIGURES), scope="module")
def drawn(request):
    fig = FIGURES[request.param]()
    fig.canvas.draw()
    yield request.param, fig
    plt.close(fig)


def visible_texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
            and (t.axes is None or t.axes.get_visible())]


def test_every_text_is_at_least_10_pt_and_10_px_at_the_page_width(drawn):
    name, fig = drawn
    texts = visible_texts(fig)
    assert len(texts) >= 5, (name, [t.get_text() for t in texts])
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 10]
    print(name, "smallest text:", min(t.get_fontsize() for t in texts), "pt")
    assert not small, (name, small)
    width_px = page.rendered_width_px(fig)
    scale = 1.0 if name in FULL_SIZE_ONLY else min(1.0, page.PAGE_WIDTH_PX / width_px)
    print(name, f"rendered {width_px:.0f} px wide, shown at scale {scale:.2f}")
    if name not in FULL_SIZE_ONLY:
        assert width_px <= page.MAX_WIDTH_PX, (name, width_px)
    tiny = [t.get_text() for t in texts if t.get_fontsize() * fig.dpi / 72 * scale < 10]
    assert not tiny, (name, tiny)


def test_every_axis_with_numbers_has_a_label(drawn):
    name, fig = drawn
    plotted = [ax for ax in fig.axes if ax.axison and ax.get_visible()]
    if name == "lra_diff_diagram":
        assert not plotted, "the diagram has no numeric axes"
        return
    assert plotted, name
    for ax in plotted:
        if hasattr(ax, "_colorbar"):          # a colour bar: its label on the long axis
            cb = ax._colorbar
            label = (ax.yaxis if cb.orientation == "vertical" else ax.xaxis).get_label_text()
            assert label.strip(), (name, "unlabelled colour bar")
            continue
        for axis in (ax.xaxis, ax.yaxis):
            numbers = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            if numbers or name not in FULL_SIZE_ONLY:       # the grid labels its outer panels
                assert axis.get_label_text().strip(), (name, ax.get_title(), axis.axis_name)


def test_colour_scales_have_a_labelled_colour_bar():
    fig = figures.plot_gradient_flow(hand_made_probes())
    bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
    assert len(bars) == len(figures.FLOW_QUANTITIES)
    assert all("log scale" in ax.get_ylabel() for ax in bars), [ax.get_ylabel() for ax in bars]
    plt.close(fig)


def test_legends_lie_outside_every_data_area(drawn):
    name, fig = drawn
    r = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    data = [ax for ax in fig.axes if ax.axison and not hasattr(ax, "_colorbar")]
    for lg in legends:
        box = lg.get_window_extent(r)
        for ax in data:
            assert not box.overlaps(ax.get_window_extent(r)), (name, ax.get_title())


def test_legends_name_what_is_drawn():
    fig = figures.plot_gradient_flow(hand_made_probes(nonfinite_from=12))
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any("exactly 0" in s for s in labels) and any("non-finite" in s for s in labels)
    plt.close(fig)
    fig = figures.plot_gradient_flow(hand_made_probes(dead_below=0))      # no zero, no NaN
    assert not fig.legends
    plt.close(fig)
    fig = figures.plot_lambda_sensitivity(hand_made_fig5())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["Random permutation, T = 20", "Temporal order, T = 20",
                      "3-bit temporal order, T = 10"], labels
    plt.close(fig)


def test_the_checker_accepts_every_book_figure(drawn):
    name, fig = drawn
    width = None if name in FULL_SIZE_ONLY else page.PAGE_WIDTH_PX
    assert page.legibility_problems(fig, width) == []


def test_the_checker_flags_each_broken_rule():
    """A figure breaking every rule (a 6-pt title, unlabelled axes, a legend over the data, too
    wide for the page) must be reported on each count."""
    fig, ax = plt.subplots(figsize=(16, 4), dpi=100)
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_title("tiny", fontsize=6)
    ax.legend(loc="center")
    problems = page.legibility_problems(fig)
    print("\n".join(problems))
    assert any("'tiny' is 6 pt" in p for p in problems)
    assert any("x axis shows numbers but has no label" in p for p in problems)
    assert any("y axis shows numbers but has no label" in p for p in problems)
    assert any("legend (a line) overlaps" in p for p in problems)
    # 10-pt tick labels on a 1,600-px figure shrink below 10 px at the page width
    assert any("px at 660 px wide" in p for p in problems if "tiny" not in p)
    assert page.legibility_problems(fig, page_width_px=None) != []     # still broken
    with pytest.raises(AssertionError, match="not legible"):
        page.glue_figure("broken", fig)
    plt.close(fig)


def test_gradient_flow_reading_is_computed_from_the_probes():
    text = figures.describe_gradient_flow(hand_made_probes())
    print(text)
    assert "20 probes, iterations 100–2,000" in text
    assert "at the top layer (t = 5)" in text
    assert "at the lowest layer it reaches (t = 2, 9 orders of magnitude lower)" in text
    assert "layers t = 0–1 (2 of 6) receive exactly zero local loss at every probe" in text
    assert "non-finite" not in text
    text = figures.describe_gradient_flow(hand_made_probes(dead_below=0, nonfinite_from=15))
    print(text)
    assert "every layer receives a non-zero local loss" in text
    assert "5 of the probes hold non-finite values" in text
    s = figures.gradient_flow_summary(hand_made_probes(dead_below=3))
    assert s["dead_layers"] == [0, 1, 2] and s["lowest_reached"] == 3


def test_lambda_reading_is_computed_from_the_rows():
    text = figures.describe_lambda_sensitivity(hand_made_fig5())
    print(text)
    assert text.startswith("The smallest λ gave the higher best accuracy on 2 of 3 task(s) "
                           "and the lower on 1")
    assert "Temporal order (T = 20): 90.0 % at λ = 0.1 against 97.0 % at λ = 2" in text
    one = hand_made_fig5()
    assert "Only one value" in figures.describe_lambda_sensitivity(one[one.lam == 1.0])


def test_the_style_leaves_interactive_mode_as_the_backend_set_it():
    """In a Jupyter kernel the inline backend loads inside the first figure's style() and turns
    interactive mode on; restoring the old flag on leaving would hide every later inline figure."""
    was = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        with page.style():
            matplotlib.interactive(True)          # what loading the inline backend does
            assert plt.rcParams["axes.titlesize"] == page.STYLE["axes.titlesize"]
        assert matplotlib.is_interactive()
        assert plt.rcParams["axes.titlesize"] != page.STYLE["axes.titlesize"]   # restored
    finally:
        matplotlib.interactive(was)


def test_campaign_command_names_the_budget_and_its_cap():
    assert figures.campaign_command("fig2", "paper") == "lra campaign --experiments fig2 --budget paper"
    assert (figures.campaign_command(["fig5", "fig4"], "smoke-cap500")
            == "lra campaign --experiments fig5 fig4 --budget smoke --max-iterations 500")


def test_a_figure_with_nothing_stored_says_so_and_how_to_compute_it(tmp_path, monkeypatch):
    from lra.campaign.store import ResultsStore
    glued = {}
    monkeypatch.setattr(figures, "glue_figure",
                        lambda name, fig, page_width_px=None: glued.__setitem__(name, fig))
    monkeypatch.setattr(figures, "glue_markdown", lambda name, text: glued.__setitem__(name, text))
    store = ResultsStore(tmp_path)
    assert figures.glue_gradient_flow("f2", "fig2", "auto", store) is None
    assert figures.glue_lambda_sensitivity("f5", "fig5", "auto", store).empty
    print(glued["f2_reading"], glued["f5_reading"], sep="\n")
    assert glued["f2_reading"] == ("No stored run for fig2 at budget smoke: run "
                                   "`lra campaign --experiments fig2 --budget smoke`.")
    assert "`lra campaign --experiments fig5 --budget smoke`" in glued["f5_reading"]
    assert "Budget used: **smoke**" in glued["f2_budget"]
    for name in ("f2", "f2_grid", "f5"):
        texts = [t.get_text() for t in visible_texts(glued[name])]
        assert any("lra campaign" in t for t in texts), texts
        assert page.legibility_problems(glued[name]) == []
        plt.close(glued[name])
