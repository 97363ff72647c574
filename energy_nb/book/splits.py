"""Several GPUs per image on the page: energy against latency, measured and predicted (a Pareto figure), and the
sentence on what the fastest split costs."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..models.display import label
from . import style

#: One colour per GPU count.
COLOURS = {1: "#7f7f7f", 2: "#1f77b4", 4: "#2ca02c", 8: "#d62728"}


def _frontier(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both ``x`` and ``y`` (lower is better), by ``x``."""
    order = np.argsort(x, kind="stable")
    keep, best = [], np.inf
    for i in order:
        if y[i] < best:
            keep.append(i)
            best = y[i]
    return np.array(keep, dtype=int)


def pareto(frame: pd.DataFrame, axes=None):
    """One panel per model of :func:`energy_nb.evaluation.parallel.measured_and_predicted`: gross energy per image
    (kJ, summed over the GPUs) against batch latency (s, log), measured (filled) and predicted (open) for every GPU
    count, split and batch size, with the measured Pareto front (line) and its points' predictions joined to them."""
    models = list(dict.fromkeys(frame["model"]))
    if axes is None:
        _, axes = style.panels(len(models), ncols=2, aspect=0.9)
    for ax, m in zip(axes, models):
        d = frame[frame["model"] == m].reset_index(drop=True)
        for n, g in d.groupby("num_gpus"):
            c = COLOURS.get(int(n), "black")
            ax.scatter(g["latency_s"], g["gross_j"] / 1e3, s=22, color=c, label=f"{int(n)} GPU{'s' * (n > 1)}")
            ax.scatter(g["latency_pred_s"], g["gross_pred_j"] / 1e3, s=22, facecolors="none", edgecolors=c)
        f = _frontier(d["latency_s"].to_numpy(float), d["gross_j"].to_numpy(float))
        ax.plot(d.loc[f, "latency_s"], d.loc[f, "gross_j"] / 1e3, color="black", lw=1, label="measured Pareto front")
        for i in f:
            ax.plot([d.loc[i, "latency_s"], d.loc[i, "latency_pred_s"]],
                    [d.loc[i, "gross_j"] / 1e3, d.loc[i, "gross_pred_j"] / 1e3], color="black", lw=0.5, alpha=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("batch latency (s, log)")
        ax.set_ylabel("gross energy per image (kJ, all GPUs)")
        ax.set_title(f"{label(m)}: filled measured, open predicted", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return axes


def fastest_cost(frame: pd.DataFrame) -> str:
    """Per model: its fastest measured configuration (least batch latency) against its one-GPU run at the same batch
    size, measured and predicted -- how much faster, and how much more energy per image."""
    parts = []
    for m, d in frame.groupby("model", sort=True):
        f = d.loc[d["latency_s"].idxmin()]
        one = d[(d["num_gpus"] == 1) & (d["batch_size"] == f["batch_size"])].iloc[0]
        parts.append(
            f"{label(m)}'s fastest measured run splits each image over {int(f['num_gpus'])} GPUs (Ulysses "
            f"{int(f['ulysses'])} x Ring {int(f['ring'])}, batch {int(f['batch_size'])}): {f['latency_s']:.1f} s "
            f"against {one['latency_s']:.1f} s on one GPU ({one['latency_s'] / f['latency_s']:.1f}x faster) for "
            f"{f['gross_j'] / one['gross_j']:.2f}x the gross energy per image ({f['gross_j'] / 1e3:.1f} kJ against "
            f"{one['gross_j'] / 1e3:.1f} kJ); the law predicts {f['gross_pred_j'] / one['gross_pred_j']:.2f}x the "
            f"energy for {one['latency_pred_s'] / f['latency_pred_s']:.1f}x the speed.")
    return " ".join(parts)


def held_out_sentence(summaries: dict[str, pd.DataFrame], target_pct: float = 10.0) -> str:
    """The worst held-out errors of each fold (gross energy and time, over every model, GPU count and split) against
    the target."""
    out = []
    for name, s in summaries.items():
        g, t = s.loc[s["gross_worst_pct"].idxmax()], s.loc[s["time_worst_pct"].idxmax()]
        out.append(f"{name}: gross energy within {s['gross_worst_pct'].max():.1f}% of every row (worst "
                   f"{label(g['model'])} on {int(g['num_gpus'])} GPUs, {g['split']}), time within "
                   f"{s['time_worst_pct'].max():.1f}% (worst {label(t['model'])} on {int(t['num_gpus'])} GPUs, "
                   f"{t['split']}); {int((s['gross_worst_pct'] <= target_pct).sum())} of {len(s)} splits meet "
                   f"{target_pct:g}% on gross energy and {int((s['time_worst_pct'] <= target_pct).sum())} on time.")
    return " ".join(out)
