"""The figure of a run's time by kind of operation: where a model's seconds go, beside what was measured."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..evaluation.held_out import KINDS
from ..models.display import label
from . import style

#: One colour per kind (GPU kinds in blues and greens, memory-bound in oranges, the host in grey).
COLOURS = dict(gemm="#1f77b4", conv="#17becf", attention="#2ca02c", softmax="#98df8a", memory="#ff7f0e",
               kernels="#ffbb78", host="#7f7f7f")


def time_split(frame: pd.DataFrame, ax=None):
    """Horizontal bars per (model, GPU, batch) of :func:`energy_nb.evaluation.held_out.time_by_kind`: the GPU's busy
    seconds stacked by kind, the host's seconds beside them (hatched, they overlap the GPU's), the predicted wall time
    (black tick), the measured time (red dot) and the time predicted for the model held out (open diamond); log-free
    seconds per image, one row per configuration."""
    f = frame.sort_values(["model", "gpu", "batch_size"]).reset_index(drop=True)
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 0.32 * len(f) + 1.2))[1]
    y = np.arange(len(f))[::-1]
    left = np.zeros(len(f))
    for kind in KINDS[:-1]:
        ax.barh(y + 0.17, f[kind], left=left, height=0.32, color=COLOURS[kind], label=kind)
        left += f[kind].to_numpy(float)
    ax.barh(y - 0.17, f["host"], height=0.32, color=COLOURS["host"], alpha=0.5, hatch="//", label="host")
    ax.scatter(f["predicted_s"], y, marker="|", s=160, color="black", label="predicted wall time", zorder=3)
    ax.scatter(f["measured_s"], y, marker="o", s=22, color="#d62728", label="measured", zorder=4)
    ax.scatter(f["held_out_s"], y, marker="D", s=22, facecolors="none", edgecolors="black",
               label="predicted with the model held out", zorder=4)
    ax.set_yticks(y, [f"{label(r.model)}, {r.gpu}, {r.height}², batch {r.batch_size}" for r in f.itertuples()],
                  fontsize=8)
    ax.set_xlabel("seconds per image")
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.grid(axis="x", alpha=0.3)
    return ax
