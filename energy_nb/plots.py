"""Figures of the book. Each function draws on a given (or new) matplotlib Axes and returns it."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .validate import metrics

MODEL_LABELS = {"flux": "Flux.1-dev", "sd35": "SD 3.5 Large", "qwen": "Qwen-Image", "sd2": "SD 2"}
MODEL_COLORS = {"flux": "tab:blue", "sd35": "tab:orange", "qwen": "tab:green", "sd2": "tab:red"}


def actual_vs_predicted(pred: pd.DataFrame, ax=None, title: str = "", color_by: str = "model",
                        interval: bool = False):
    """Log-log scatter of measured vs predicted energy (J) with the identity line and R^2 / MAPE."""
    ax = ax or plt.subplots(figsize=(4.2, 4))[1]
    for key, part in pred.groupby(color_by):
        ax.scatter(part["energy_j"], part["energy_pred_j"], s=14, alpha=0.8,
                   label=MODEL_LABELS.get(str(key), str(key)), color=MODEL_COLORS.get(str(key)))
        if interval:
            ax.vlines(part["energy_j"], part["pi_low_j"], part["pi_high_j"], alpha=0.25,
                      color=MODEL_COLORS.get(str(key)))
    lo = min(pred["energy_j"].min(), pred["energy_pred_j"].min()) / 1.5
    hi = max(pred["energy_j"].max(), pred["energy_pred_j"].max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured energy (J)",
           ylabel="predicted energy (J)")
    m = metrics(pred["energy_j"], pred["energy_pred_j"])
    ax.set_title(f"{title}\n$R^2_{{log}}$={m['r2_log']:.3f}  MAPE={m['mape_pct']:.1f}%", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return ax


def grid(n: int, ncols: int = 3, size: float = 3.6):
    """A row-major grid of n axes."""
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def flop_decomposition(df: pd.DataFrame, steps: int = 10, ax=None):
    """Fig. 1: denoising FLOPs over ``steps`` vs text encoding + decoding, per model and resolution (log)."""
    ax = ax or plt.subplots(figsize=(9, 3.8))[1]
    labels = [f"{MODEL_LABELS[r.model]}\n{r.height}²" for r in df.itertuples()]
    x = np.arange(len(df))
    ax.bar(x - 0.2, df["denoise_per_step"] * steps / 1e9, width=0.4, label=f"denoising ({steps} steps)")
    ax.bar(x + 0.2, (df["text"] + df["decode"]) / 1e9, width=0.4, label="text encoding + decoding")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("GFLOPs per image")
    ax.legend(fontsize=8)
    return ax


def relative_energy(df: pd.DataFrame, model: str, ax=None):
    """Fig. 6: energy of each configuration relative to the cheapest, one line per hyperparameter sweep."""
    d = df[(df["model"] == model)].copy()
    base = d["energy_j"].min()
    ax = ax or plt.subplots(figsize=(8, 3.6))[1]
    for (dtype, cfg), part in d.groupby(["dtype", "cfg"]):
        for res, sub in part.groupby("height"):
            sub = sub.sort_values("steps")
            ax.plot(sub["steps"], sub["energy_j"] / base, marker="o", ms=3,
                    label=f"{res}², {dtype}, CFG {'on' if cfg else 'off'}")
    ax.set(yscale="log", xlabel="denoising steps T", ylabel="energy / cheapest configuration",
           title=f"{MODEL_LABELS.get(model, model)}: energy relative to the cheapest configuration")
    ax.legend(fontsize=6, ncol=4, loc="upper left")
    return ax


def bars(values: pd.Series, ax=None, ylabel: str = "", log: bool = False, labels: Sequence[str] | None = None):
    ax = ax or plt.subplots(figsize=(6, 3))[1]
    ax.bar(range(len(values)), values.to_numpy())
    ax.set_xticks(range(len(values)), labels or [str(i) for i in values.index], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    return ax


def coverage_heatmap(cov: pd.DataFrame, ax=None):
    """Measured configurations per (GPU, size, meter, model) row and resolution column, as a heatmap."""
    ax = ax or plt.subplots(figsize=(4.5 + 0.9 * cov.shape[1], 1.2 + 0.38 * cov.shape[0]))[1]
    im = ax.imshow(cov.to_numpy(), cmap="Blues", aspect="auto", vmin=0)
    for (i, j), v in np.ndenumerate(cov.to_numpy()):
        ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=8,
                color="white" if v > cov.to_numpy().max() / 2 else "black")
    ax.set_xticks(range(cov.shape[1]), list(cov.columns), fontsize=8)
    ax.set_yticks(range(cov.shape[0]), [" / ".join(map(str, k)) for k in cov.index], fontsize=8)
    ax.set_xlabel("resolution")
    ax.set_title("ok configurations measured (GPU / size / meter / model)", fontsize=9)
    plt.colorbar(im, ax=ax, fraction=0.04)
    return ax


def energy_vs_flops(d: pd.DataFrame, ax=None, title: str = ""):
    """Per-image net energy (J) against per-image denoising GFLOPs (x2 with CFG), log-log, by model."""
    ax = ax or plt.subplots(figsize=(5, 3.8))[1]
    for (model, meter), part in d.groupby(["model", "meter"]):
        ax.scatter(part["gflops_per_image"], part["per_image_j"], s=16, alpha=0.8,
                   marker="o" if meter != "nvml" else "^", color=MODEL_COLORS.get(str(model)),
                   label=f"{MODEL_LABELS.get(str(model), model)} ({meter})")
    ax.set(xscale="log", yscale="log", xlabel="denoising GFLOPs per image (x2 with CFG)",
           ylabel="net energy per image (J)", title=title)
    ax.legend(fontsize=7)
    return ax


def meter_comparison(pairs: pd.DataFrame, a: str = "codecarbon", b: str = "nvml", ax=None):
    """Net energy of the same windows by two meters, log-log, with the identity line."""
    ax = ax or plt.subplots(figsize=(4.2, 4))[1]
    x, y = pairs[f"energy_j_{b}"], pairs[f"energy_j_{a}"]
    for model, part in pairs.groupby("model"):
        ax.scatter(part[f"energy_j_{b}"], part[f"energy_j_{a}"], s=16, color=MODEL_COLORS.get(str(model)),
                   label=MODEL_LABELS.get(str(model), model))
    lo, hi = min(x.min(), y.min()) / 1.5, max(x.max(), y.max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"{b} net energy (J)",
           ylabel=f"{a} net energy (J)", title=f"median {a}/{b} = {pairs['ratio'].median():.3f}")
    ax.legend(fontsize=7)
    return ax


def energy_surface(surface: pd.DataFrame, axes=None, title: str = ""):
    """Predicted Wh per image against steps, one line per resolution (with PI band), one panel per model."""
    models = list(dict.fromkeys(surface["model"]))
    if axes is None:
        _, axes = grid(len(models), ncols=min(2, len(models)), size=4.2)
    for ax, m in zip(axes, models):
        part = surface[surface["model"] == m]
        for res, sub in part.groupby("resolution"):
            sub = sub.sort_values("steps")
            line, = ax.plot(sub["steps"], sub["wh_per_image"], marker="o", ms=3, label=f"{res}²")
            ax.fill_between(sub["steps"], sub["wh_low"], sub["wh_high"], color=line.get_color(), alpha=0.15)
        ax.set(yscale="log", xlabel="denoising steps T", title=MODEL_LABELS.get(m, m))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("Wh per image")
    axes[0].legend(fontsize=7, title="resolution", title_fontsize=7)
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def alternatives_bars(cmp: pd.DataFrame, ax=None):
    """Yearly energy (MWh) of the base and each alternative with its interval, least first."""
    d = cmp.dropna(subset=["mwh_per_year"]).iloc[::-1]
    ax = ax or plt.subplots(figsize=(7.5, 0.45 * len(d) + 1.2))[1]
    colors = ["tab:gray" if c == "(base)" else ("tab:green" if s > 0 else "tab:red")
              for c, s in zip(d["change"], d["saving_pct"])]
    y = np.arange(len(d))
    ax.barh(y, d["mwh_per_year"], color=colors,
            xerr=[d["mwh_per_year"] - d["mwh_per_year_low"], d["mwh_per_year_high"] - d["mwh_per_year"]],
            error_kw=dict(lw=0.8, capsize=2))
    ax.set_yticks(y, [f"{c}  ({s:+.0f}%)" if c != "(base)" else "base configuration"
                      for c, s in zip(d["change"], d["saving_pct"])], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("MWh per year (95% interval); saving vs base in brackets")
    return ax


def carbon_bars(regions: pd.DataFrame, ax=None):
    """Yearly tCO2e of one workload on several grids, with the energy interval carried through."""
    ax = ax or plt.subplots(figsize=(5.5, 3.2))[1]
    x = np.arange(len(regions))
    ax.bar(x, regions["t_co2e_per_year"], color="tab:brown",
           yerr=[regions["t_co2e_per_year"] - regions["t_co2e_per_year_low"],
                 regions["t_co2e_per_year_high"] - regions["t_co2e_per_year"]], capsize=3)
    ax.set_xticks(x, [f"{n}\n{g:.0f} g/kWh" for n, g in zip(regions["name"], regions["g_per_kwh"])], fontsize=8)
    ax.set_ylabel("tCO2e per year")
    return ax


def energy_vs_compute(d: pd.DataFrame, ax=None, title: str = ""):
    """The front page's figure: per-image net energy (J) against per-image GFLOPs (counted, x2 with CFG),
    log-log, one colour per model and one marker per GPU (``d`` from :func:`energy_nb.report.per_image`)."""
    ax = ax or plt.subplots(figsize=(8, 4.6))[1]
    models = sorted(d["model"].astype(str).unique())
    cmap = plt.get_cmap("tab10")
    markers = {"A100": "o", "H100": "^"}
    for i, m in enumerate(models):
        for g, part in d[d["model"].astype(str) == m].groupby("gpu"):
            ax.scatter(part["gflops_per_image"], part["per_image_j"], s=14, alpha=0.75, color=cmap(i % 10),
                       marker=markers.get(str(g), "s"), label=f"{MODEL_LABELS.get(m, m)}, {g}")
    ax.set(xscale="log", yscale="log", xlabel="GFLOPs per image (counted on the architecture, x2 with CFG)",
           ylabel="net GPU energy per image (J)", title=title)
    ax.grid(True, which="major", lw=0.3, alpha=0.6)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
