"""The book's one figure style: sizes that fit the page, text a reader can read, lines told apart without colour.

A page's content is :data:`PAGE_PX` CSS pixels wide; a figure is drawn at :data:`DPI` and at most :data:`WIDTH_IN`
inches wide, so it is shown at (nearly) its own size and its text at its own point size. Text is never below
:data:`MIN_PT` (tick labels and legends included); grids have at most :data:`MAX_PER_ROW` panels per row. Lines cycle
through ten colours and, within each colour, four dash patterns (:data:`CYCLE`), so up to forty series stay distinct
in print and for readers who do not tell colours apart. :func:`energy_nb.book.present.figure` measures each figure's
smallest text and panels per row and writes them on the image, where the book's figure-size test reads them.
"""
from __future__ import annotations

from typing import Any

import matplotlib as mpl
from cycler import cycler

PAGE_PX = 672  #: width of the book's content column (CSS px, in a 1280 px wide window)
DPI = 100  #: pixels per inch of every figure
WIDTH_IN = 6.6  #: the widest figure (inches): PAGE_PX at DPI less a margin for the tight bounding box
MIN_PT = 8.0  #: the smallest text, as displayed (points)
MAX_PER_ROW = 3  #: panels per row at most

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
DASHES = ["-", "--", ":", "-."]
CYCLE = cycler(linestyle=DASHES) * cycler(color=COLOURS)

RC: dict[str, Any] = {
    "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.title_fontsize": 8,
    "figure.titlesize": 10, "axes.prop_cycle": CYCLE, "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "figure.constrained_layout.use": False,
}


def apply() -> None:
    """Make :data:`RC` matplotlib's defaults (a page calls it once, through :func:`energy_nb.book.present.page`)."""
    mpl.rcParams.update(RC)


def panels(n: int, ncols: int = 2, aspect: float = 0.9, width: float = WIDTH_IN):
    """A figure of ``n`` axes, ``ncols`` (at most :data:`MAX_PER_ROW`) per row, filling ``width`` inches; each panel
    ``aspect`` times as high as wide; the spare axes hidden. Returns ``(fig, axes)`` (row-major list)."""
    import matplotlib.pyplot as plt
    import numpy as np

    ncols = max(1, min(ncols, MAX_PER_ROW, n))
    nrows = int(np.ceil(n / ncols))
    side = width / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, side * aspect * nrows + 0.3), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def legend_below(fig, handles=None, labels=None, ncol: int = 3, **kw: Any):
    """One legend for the whole figure, centred below its panels (never over the data)."""
    if handles is None:
        seen: dict[str, Any] = {}
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(lab, h)
        labels, handles = list(seen), list(seen.values())
    if not handles:
        return None
    return fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, **kw)


def fit_width(fig, width: float = WIDTH_IN) -> None:
    """Narrow ``fig`` until what it draws (long tick labels and legends included) is at most ``width`` inches wide, so
    that the page shows it at its own size: text keeps its points, the axes give up the room."""
    for _ in range(3):
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        if box.width <= width + 0.02:
            return
        w, h = fig.get_size_inches()
        fig.set_size_inches(max(w - (box.width - width) - 0.05, 2.0), h)
        if not fig.get_constrained_layout():
            fig.tight_layout()


def measure(fig) -> dict[str, float]:
    """What the figure-size test checks, measured on a drawn figure: ``font_pt`` (its smallest visible text, points),
    ``per_row`` (most visible panels side by side: axes at the same height, twin axes counted once), ``dpi``,
    ``overlaps`` (:func:`overlapping_ticks`)."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and _shown(t)]
    rows: dict[float, set[float]] = {}
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        box = ax.get_position()
        if box.width < 0.05:  # a colour bar or a thin strip, not a panel
            continue
        rows.setdefault(round(box.y0, 2), set()).add(round(box.x0, 2))
    return dict(font_pt=min(sizes) if sizes else MIN_PT, per_row=max((len(v) for v in rows.values()), default=1),
                dpi=float(fig.dpi), overlaps=overlapping_ticks(fig))


def overlapping_ticks(fig) -> int:
    """How many pairs of neighbouring tick labels overlap, over every visible axis of a drawn figure (a label of a
    tick outside the view is not drawn and not counted)."""
    n = 0
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis, (lo, hi) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            boxes = [t.label1.get_window_extent() for t in axis.get_major_ticks()
                     if t.label1.get_visible() and t.label1.get_text().strip() and lo <= t.get_loc() <= hi]
            boxes.sort(key=lambda b: (b.x0, b.y0))
            n += sum(1 for a, b in zip(boxes, boxes[1:]) if a.overlaps(b) and a.intersection(a, b).width > 0.5
                     and a.intersection(a, b).height > 0.5)
    return n


def _shown(text) -> bool:
    """Whether a text artist is drawn: its axes (if any) visible, and a tick label's tick on."""
    ax = text.axes
    if ax is not None and not ax.get_visible():
        return False
    fig = text.figure
    if fig is None:
        return True
    box = text.get_window_extent()
    return box.width > 0 and box.height > 0
