"""Readable axes for the book's figures: log axes whose tick labels do not collide in a small panel."""
from __future__ import annotations

import numpy as np


def log_ticks(ax) -> None:
    """Readable log axes: no labels on minor ticks (they collide on a narrow range); an axis spanning under two
    decades gets major ticks at 1, 2 and 5 (under one decade) or 1 and 3 times each power of ten, written short."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or lo <= 0:
            continue
        axis.set_minor_formatter(NullFormatter())
        span = np.log10(hi / lo)
        if span < 2:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if span < 1 else (1.0, 3.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))


def _compact(v: float) -> str:
    """3, 20, 500, 5k, 20k, 3M: tick labels short enough for a small panel."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"
