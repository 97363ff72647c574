"""The page on whether the intervals hold (``notebooks/coverage``): its figure and its sentences, from the coverage
report the laws artifact carries (:mod:`energy_nb.evaluation.coverage`). Units: shares in %, widths as high over low.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..laws.levels import LEVELS, QUANTITIES
from . import style

#: One colour per quantity, the same in every panel.
COLOURS = dict(net="#1f77b4", gross="#ff7f0e", time="#2ca02c")


def figure(report: pd.DataFrame, target: float = 90.0):
    """Two panels: the share of held-out rows inside the 95% interval per level and quantity with its Clopper-Pearson
    interval (target dashed), and the median width (high over low)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(style.WIDTH_IN, 3.8))
    levels = [lv for lv in LEVELS if lv in set(report["level"])]
    x = np.arange(len(levels))
    for i, q in enumerate(QUANTITIES):
        t = report[report["quantity"] == q].set_index("level").reindex(levels)
        pos = x + (i - 1) * 0.25
        ok = t["rows_inside_pct"].notna().to_numpy()
        err = np.vstack([t["rows_inside_pct"] - t["rows_ci_low_pct"], t["rows_ci_high_pct"] - t["rows_inside_pct"]])
        left.errorbar(pos[ok], t["rows_inside_pct"][ok], yerr=err[:, ok], fmt="o", color=COLOURS[q], label=q, ms=5,
                      capsize=3)
        right.bar(pos[ok], t["median_hi_lo"][ok], width=0.24, color=COLOURS[q], label=q)
    left.axhline(target, ls="--", color="k", lw=0.8, label=f"target {target:.0f}%")
    left.axhline(95, ls=":", color="grey", lw=0.8, label="nominal 95%")
    right.axhline(2, ls="--", color="k", lw=0.8, label="target 2x")
    for ax, ylabel in ((left, "held-out rows inside (%)"), (right, "median width, high / low (x)")):
        ax.set_xticks(x, levels)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("level held out")
        ax.legend(fontsize=8, loc="lower left" if ax is left else "upper left")
    left.set_ylim(min(50.0, float(report["rows_ci_low_pct"].min()) - 5), 101)
    fig.tight_layout()
    return fig


def _span(v: pd.Series) -> str:
    lo, hi = f"{v.min():.0f}", f"{v.max():.0f}"
    return lo if lo == hi else f"{lo}-{hi}"


def finding(report: pd.DataFrame, target: float = 90.0, width: float = 2.0, error: float = 10.0) -> str:
    """The page's finding: per level that can be judged, whether it meets the targets (rows inside, median width, mean
    gross error) and where it falls short; then the levels too few groups allow no 95% verdict on."""
    t = report.assign(meets=(report["rows_inside_pct"] >= target) & (report["median_hi_lo"] <= width))
    firm, ranges = t[~t["is_range"]], t[t["is_range"]]
    good, short = [], []
    for lv, g in firm.groupby("level", sort=False):
        what = (f"{lv} ({int(g['groups'].max())} groups: {_span(g['rows_inside_pct'])}% of held-out rows inside, "
                "median width up to "
                f"{g['median_hi_lo'].max():.2f}x")
        gross = g.loc[g["quantity"] == "gross", "mean_error_pct"]
        misses = [f"{r.quantity} {r.rows_inside_pct:.0f}% inside at {r.median_hi_lo:.2f}x" for r in g.itertuples()
                  if not r.meets]
        if len(gross) and float(gross.iloc[0]) > error:
            misses.append(f"mean gross error {float(gross.iloc[0]):.1f}%")
        (short if misses else good).append(what + (": " + "; ".join(misses) if misses else "") + ")")
    lines = []
    if good:
        lines.append(f"Meeting the targets (at least {target:.0f}% of held-out rows inside, median width at most "
                     f"{width:g}x, mean gross error at most {error:g}%): " + ", ".join(good) + ".")
    if short:
        lines.append("Short of them: " + ", ".join(short) + ".")
    if len(ranges):
        names = ", ".join(f"{lv} {'/'.join(g['quantity'])} ({int(g['groups'].max())} groups)"
                          for lv, g in ranges.groupby("level", sort=False))
        lines.append(f"Too few groups for a 95% verdict: {names}. Their rows fall inside "
                     f"{_span(ranges['rows_inside_pct'])}% of the time, but "
                     f"the share of groups covered has Clopper-Pearson intervals as wide as "
                     f"{ranges['groups_ci_low_pct'].min():.0f}-{ranges['groups_ci_high_pct'].max():.0f}%: whether a "
                     "new GPU, lab or architecture on several GPUs is covered 95% of the time the data cannot say, so "
                     "answers that cross these levels call their interval a range, bounded by the hierarchical prior.")
    net_only = sorted(set(t.loc[t["quantity"] == "net", "level"]) - set(t.loc[t["quantity"] == "gross", "level"]))
    for lv in net_only:
        r = t[(t["level"] == lv) & (t["quantity"] == "net")].iloc[0]
        lines.append(f"The {lv} level has net errors only (the rows it holds out have no time): "
                     f"{r['mean_error_pct']:.1f}% on average, {r['worst_error_pct']:.0f}% at worst.")
    return " ".join(lines)
