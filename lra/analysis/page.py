"""The page the book shows a figure on: its size, its style, the legibility check, and the glue.

Every figure of the book is 7.5 in wide at 100 dpi (~760 px: the book's text column shows it at
660-772 px) with every text at 10 pt or more (≈ 14 px at full size, ≥ 12 px at 660 px), an axis
label on every axis that shows numbers, a labelled colour bar for every colour scale and legends
outside the data. :func:`style` and :func:`new_figure` make a figure so;
:func:`legibility_problems` checks those rules on a drawn figure; :func:`glue_figure` checks them
before handing a figure to the book (myst-nb's glue), so an illegible figure fails the build, and
:func:`glue_markdown` hands it text. Both also show what they glue, so a chapter run outside the
book (papermill, nbconvert, JupyterLab) shows its figures too. The paper's figures are drawn by :mod:`lra.analysis.figures`;
a chapter's own figures go through :func:`glue_figure` too.
"""
from __future__ import annotations

from contextlib import contextmanager

FIG_WIDTH_IN = 7.5          # at DPI: ~760 px once trimmed, shown unscaled in a wide window
DPI = 100
# The width a figure is shown at in the book's text column (sphinx-book-theme 1.3, measured in
# Chromium): 660 px in a 1280-px-wide window, the narrowest desktop layout (it grows to 727 px at
# 1024 px, where the sidebar folds away, and figures up to 772 px are shown unscaled from 1440 px).
PAGE_WIDTH_PX = 660
MAX_WIDTH_PX = 780          # a figure at most this wide is never scaled down on a wide screen
MIN_FONT_PT = 10.0          # smallest text size in points, at the figure's own size
MIN_TEXT_PX = 10.0          # smallest text height in pixels at the rendered width

STYLE = {"font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "legend.title_fontsize": 10,
         "figure.titlesize": 11, "figure.dpi": DPI, "savefig.dpi": DPI}


@contextmanager
def style():
    """The book's figure style (sizes in points, at DPI) for the figures made inside it.

    Leaving the context restores every rcParam but the interactive flag: in a Jupyter kernel the
    first figure loads the inline backend, which turns interactive mode on; restoring it would
    stop the kernel from showing any later figure inline."""
    import matplotlib
    import matplotlib.pyplot as plt
    with plt.rc_context(STYLE):
        yield
        interactive = matplotlib.is_interactive()
    matplotlib.interactive(interactive)


def new_figure(height_in: float, width_in: float = FIG_WIDTH_IN):
    """An empty figure of the book's width (constrained layout), at DPI."""
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


# ------------------------------------------------------------------------- legibility check
def rendered_width_px(fig) -> float:
    """Width of the PNG the book stores (bbox_inches='tight', 0.1 in padding), in pixels."""
    renderer = fig.canvas.get_renderer()
    return (fig.get_tightbbox(renderer).width + 0.2) * fig.dpi


def legibility_problems(fig, page_width_px: float | None = PAGE_WIDTH_PX) -> list[str]:
    """What makes a drawn figure hard to read, one line each (none: it passes).

    Rules: every visible text is at least MIN_FONT_PT and, shown at ``page_width_px`` (scaled
    down if the image is wider; None: at its full size), at least MIN_TEXT_PX high; every axis
    that shows tick labels has an axis label (a colour bar: its long axis); no legend overlaps
    the data area of any axes."""
    from matplotlib.text import Text
    # every artist laid out and placed (the layout engine runs), no pixels: the rules read sizes
    # and places, and the PNG is rendered once, by whoever shows the figure
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    problems = []
    width = rendered_width_px(fig)
    scale = min(1.0, page_width_px / width) if page_width_px else 1.0
    for t in fig.findobj(Text):
        if not (t.get_visible() and t.get_text().strip()):
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        pt = t.get_fontsize()
        px = pt * fig.dpi / 72 * scale
        if pt < MIN_FONT_PT or px < MIN_TEXT_PX:
            problems.append(f"text {t.get_text()!r} is {pt:g} pt = {px:.1f} px at "
                            f"{width * scale:.0f} px wide (minimum {MIN_FONT_PT:g} pt, "
                            f"{MIN_TEXT_PX:g} px)")
    for ax in fig.axes:
        if not (ax.get_visible() and ax.axison):
            continue
        name = ax.get_label() or ax.get_title() or "axes"
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            shows_numbers = any(lab.get_visible() and lab.get_text().strip()
                                for lab in axis.get_ticklabels())
            if shows_numbers and not axis.get_label_text().strip():
                problems.append(f"{name!r}: the {which} axis shows numbers but has no label")
    legends = [lg for lg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for lg in legends:
        box = lg.get_window_extent(renderer)
        for ax in fig.axes:
            if not (ax.get_visible() and ax.axison) or hasattr(ax, "_colorbar"):
                continue
            if box.overlaps(ax.get_window_extent(renderer)):
                problems.append(f"a legend ({', '.join(t.get_text() for t in lg.get_texts())}) "
                                f"overlaps the data area of {ax.get_title() or 'an axes'!r}")
    return problems


# ------------------------------------------------------------------------------------ the glue
def _glue_and_show(name: str, obj) -> None:
    """One output that is both shown and named: JupyterLab, nbconvert and papermill show it where
    the cell ran, and myst-nb's ``{glue:...}`` directives paste it in the book. The cell is
    tagged ``remove-output`` (tools/present_notebooks.py), so the book shows it once, where
    pasted. Without myst-nb (binder/, the jupyter extra) it is only shown."""
    try:
        from myst_nb import glue
    except ImportError:
        from IPython.display import display
        display(obj)
        return
    glue(name, obj, display=True)


def glue_figure(name: str, fig, page_width_px: float | None = PAGE_WIDTH_PX) -> None:
    """Check a figure's legibility (raising with every problem), show and glue it (for a
    ``{glue:figure}`` directive of the book), and close it so that matplotlib's inline backend
    does not show it a second time."""
    import matplotlib.pyplot as plt
    problems = legibility_problems(fig, page_width_px)
    assert not problems, f"figure {name!r} is not legible:\n" + "\n".join(problems)
    # The check laid the figure out; the PNG shows that layout, the one checked (a layout engine
    # would otherwise run again as the PNG is drawn: most of a many-panel figure's drawing time)
    engine = fig.get_layout_engine()
    if engine is not None:
        fig.set_layout_engine("none")
    try:
        _glue_and_show(name, fig)
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
    plt.close(fig)


def glue_markdown(name: str, text: str) -> None:
    """Show and glue Markdown (a caption's computed part, a reading) for ``{glue:md}``."""
    from IPython.display import Markdown
    _glue_and_show(name, Markdown(text))


def no_data(message: str):
    """A placeholder figure saying why a figure cannot be drawn (nothing stored yet)."""
    with style():
        fig = new_figure(1.0)
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig
