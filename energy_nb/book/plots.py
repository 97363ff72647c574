"""Figures of the book. Each function draws on a given (or new) matplotlib Axes and returns it.

Every model is drawn in its registry colour and named by its registry label
(:func:`energy_nb.models.display.display`), so every figure handles every registry model.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..evaluation.metrics import metrics
from ..models.display import colour, display, label
from . import style
from .ticks import log_ticks


def _style(color_by: str, key) -> tuple[str, str | None]:
    """(legend label, colour) of one group: a model's registry label and colour, else the value itself."""
    if color_by == "model":
        return display(str(key))
    return str(key), None


def actual_vs_predicted(pred: pd.DataFrame, ax=None, title: str = "", color_by: str = "model",
                        interval: bool = False, legend: bool = True):
    """Log-log scatter of measured vs predicted energy (J) with the identity line and R^2 / MAPE; the legend in the
    empty corner above the identity line (``legend=False`` in a grid: one :func:`.style.legend_below` for all)."""
    ax = ax or plt.subplots(figsize=(4.2, 4))[1]
    for key, part in pred.groupby(color_by):
        name, shade = _style(color_by, key)
        ax.scatter(part["energy_j"], part["energy_pred_j"], s=14, alpha=0.8, label=name, color=shade)
        if interval:
            ax.vlines(part["energy_j"], part["pi_low_j"], part["pi_high_j"], alpha=0.25, color=shade)
    lo = min(pred["energy_j"].min(), pred["energy_pred_j"].min()) / 1.5
    hi = max(pred["energy_j"].max(), pred["energy_pred_j"].max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured energy (J)",
           ylabel="predicted energy (J)")
    log_ticks(ax)
    m = metrics(pred["energy_j"], pred["energy_pred_j"])
    ax.set_title(f"{title}\n$R^2_{{log}}$={m['r2_log']:.3f}  MAPE={m['mape_pct']:.1f}%", fontsize=9)
    if legend:
        ax.legend(fontsize=8, loc="upper left")
    return ax


def flop_decomposition(df: pd.DataFrame, steps: int = 10, ax=None):
    """Fig. 1: denoising FLOPs over ``steps`` vs text encoding + decoding, per model and resolution (log), as
    horizontal bars so that every model's name is written out in full."""
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 0.42 * len(df) + 1.0))[1]
    labels = [f"{label(r.model)}, {r.height}²" for r in df.itertuples()]
    y = np.arange(len(df))[::-1]
    ax.barh(y + 0.2, df["denoise_per_step"] * steps / 1e9, height=0.4, label=f"denoising ({steps} steps)")
    ax.barh(y - 0.2, (df["text"] + df["decode"]) / 1e9, height=0.4, label="text encoding + decoding", hatch="//",
            edgecolor="white")
    ax.set_xscale("log")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("GFLOPs per image")
    style.legend_below(ax.figure, ncol=2)
    return ax


def relative_energy(df: pd.DataFrame, model: str, ax=None):
    """Fig. 6: energy of each configuration relative to the cheapest, one line per hyperparameter sweep."""
    d = df[(df["model"] == model)].copy()
    base = d["energy_j"].min()
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 3.6))[1]
    for (dtype, cfg), part in d.groupby(["dtype", "cfg"]):
        for res, sub in part.groupby("height"):
            sub = sub.sort_values("steps")
            ax.plot(sub["steps"], sub["energy_j"] / base, marker="o", ms=3,
                    label=f"{res}², {dtype}, CFG {'on' if cfg else 'off'}")
    ax.set(yscale="log", xlabel="denoising steps T", ylabel="energy / cheapest configuration",
           title=f"{label(model)}: energy relative to the cheapest configuration")
    style.legend_below(ax.figure, ncol=3)
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
                   marker="o" if meter != "nvml" else "^", color=colour(str(model)),
                   label=f"{label(str(model))} ({meter})")
    ax.set(xscale="log", yscale="log", xlabel="denoising GFLOPs per image (x2 with CFG)",
           ylabel="net energy per image (J)", title=title)
    ax.legend(fontsize=8)
    return ax


def meter_comparison(pairs: pd.DataFrame, a: str = "codecarbon", b: str = "nvml", ax=None):
    """Net energy of the same windows by two meters, log-log, with the identity line."""
    ax = ax or plt.subplots(figsize=(4.2, 4))[1]
    x, y = pairs[f"energy_j_{b}"], pairs[f"energy_j_{a}"]
    for model, part in pairs.groupby("model"):
        ax.scatter(part[f"energy_j_{b}"], part[f"energy_j_{a}"], s=16, color=colour(str(model)),
                   label=label(str(model)))
    lo, hi = min(x.min(), y.min()) / 1.5, max(x.max(), y.max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=f"{b} net energy (J)",
           ylabel=f"{a} net energy (J)", title=f"median {a}/{b} = {pairs['ratio'].median():.3f}")
    ax.legend(fontsize=8)
    return ax


def energy_surface(surface: pd.DataFrame, axes=None, title: str = ""):
    """Predicted Wh per image against steps, one line per resolution (with PI band), one panel per model."""
    models = list(dict.fromkeys(surface["model"]))
    if axes is None:
        _, axes = style.panels(len(models), ncols=2, aspect=0.8)
    for ax, m in zip(axes, models):
        part = surface[surface["model"] == m]
        for res, sub in part.groupby("resolution"):
            sub = sub.sort_values("steps")
            line, = ax.plot(sub["steps"], sub["wh_per_image"], marker="o", ms=3, label=f"{res}²")
            ax.fill_between(sub["steps"], sub["wh_low"], sub["wh_high"], color=line.get_color(), alpha=0.15)
        ax.set(yscale="log", xlabel="denoising steps T", title=label(m))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("Wh per image")
    axes[0].legend(fontsize=8, title="resolution", title_fontsize=8)
    if title:
        axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes


def alternatives_bars(cmp: pd.DataFrame, ax=None):
    """Yearly energy (MWh) of the base and each alternative with its interval, least first."""
    d = cmp.dropna(subset=["mwh_per_year"]).iloc[::-1]
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 0.45 * len(d) + 1.2))[1]
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
    log-log, one colour per model, one marker per GPU, fp32 runs hollow (the band above the rest: the same work at
    several times the energy) (``d`` from :func:`energy_nb.data.measurements.per_image`)."""
    from matplotlib.lines import Line2D

    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 4.6))[1]
    models = sorted(d["model"].astype(str).unique())
    markers = {"A100": "o", "H100": "^"}
    fp32 = d["dtype"].astype(str).eq("fp32") if "dtype" in d else pd.Series(False, index=d.index)
    for m in models:
        for (g, hollow), part in d[d["model"].astype(str) == m].groupby([d["gpu"], fp32]):
            ax.scatter(part["gflops_per_image"], part["per_image_j"], s=14, alpha=0.75, marker=markers.get(str(g), "s"),
                       facecolors="none" if hollow else colour(m), edgecolors=colour(m))
    ax.set(xscale="log", yscale="log", xlabel="GFLOPs per image (counted on the architecture, x2 with CFG)",
           ylabel="net GPU energy per image (J)", title=title)
    ax.grid(True, which="major", lw=0.3, alpha=0.6)
    handles = [Line2D([], [], ls="", marker="o", color=colour(m), label=label(m)) for m in models]
    handles += [Line2D([], [], ls="", marker=markers.get(str(g), "s"), color="0.3", label=str(g))
                for g in sorted(d["gpu"].astype(str).unique())]
    if fp32.any():
        handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="none", color="0.3", label="fp32 (hollow)"))
    style.legend_below(ax.figure, handles=handles, labels=[h.get_label() for h in handles], ncol=4)
    return ax


# ---------------------------------------------------------------------------------------------------
# The independent check (page B.2)
# ---------------------------------------------------------------------------------------------------
def static_power_slopes(static: pd.DataFrame, slopes: pd.DataFrame):
    """Per GPU, the slope of energy against time per image of each configuration (W, 95% CI) against the pooled
    static power, published idle power (bare and with a CUDA context) and the power limit. Returns the figure."""
    fig, axes = plt.subplots(1, len(static), figsize=(style.WIDTH_IN, 3.6), sharex=False)
    for ax, row in zip(np.atleast_1d(axes), static.itertuples()):
        s = slopes[slopes.gpu == row.gpu].sort_values("slope_w")
        y = np.arange(len(s))
        ax.errorbar(s.slope_w, y, xerr=[s.slope_w - s.ci_low_w, s.ci_high_w - s.slope_w], fmt="o", color="tab:blue",
                    label="slope of one configuration")
        ax.set_yticks(y, [c.split(" ")[0].split("/")[-1][:28] for c in s.config], fontsize=8)
        ax.axvspan(row.ci_low_w, row.ci_high_w, color="tab:blue", alpha=0.15, label="pooled static power (95% CI)")
        ax.axvline(row.idle_w, color="tab:green", ls="--", label="published idle")
        if row.idle_context_w == row.idle_context_w:
            ax.axvline(row.idle_context_w, color="tab:olive", ls=":", label="idle with a CUDA context")
        ax.axvline(row.power_limit_w, color="tab:red", lw=0.8, label="power limit")
        ax.set_title(row.gpu)
        ax.set_xlabel("W")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def law_check(check: pd.DataFrame, model: str, gpu: str, ax=None):
    """Measured energy per image (gross, minus idle x time, minus static x time) per batch size against the
    paper's law with its interval and the paper's own rows (``check``:
    :func:`energy_nb.evaluation.crosscheck.paper_law_vs_measured`)."""
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 3.6))[1]
    x = np.arange(len(check))
    for off, col, name, color in ((-0.3, "gross_j", "ML.ENERGY gross", "0.6"),
                                  (-0.1, "net_idle_j", "minus idle x time", "tab:green"),
                                  (0.1, "net_static_j", "minus static x time", "tab:blue")):
        ax.bar(x + off, check[col], width=0.2, label=name, color=color)
    ax.errorbar(x + 0.3, check.predicted_j,
                yerr=[check.predicted_j - check.pi_low_j, check.pi_high_j - check.predicted_j],
                fmt="s", color="tab:red", label="paper's law (95% PI)")
    if check.paper_rows_j.notna().all():
        ax.axhline(check.paper_rows_j.iloc[0], color="k", ls=":", label="paper's rows, interpolated")
    ax.set_xticks(x, [f"batch {b}" for b in check.batch_size])
    ax.set_ylabel("J per image")
    lo, hi = check.attrs["law"].domain["height"]
    ax.set_title(f"{label(model)} on {gpu}: {int(lo)}-{int(hi)} px law at the measured configuration")
    ax.legend(fontsize=8, ncol=2)
    ax.figure.tight_layout()
    return ax


def gpu_ratio_curves(ratios: pd.DataFrame):
    """H100 / A100 ratio of energy (left) and time (right) per image against batch size, one line per model
    (``ratios``: :func:`energy_nb.evaluation.crosscheck.gpu_ratios`). Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(style.WIDTH_IN, 3.6), sharey=True)
    for ax, col, title in ((axes[0], "energy_ratio", "energy per image, H100 / A100"),
                           (axes[1], "time_ratio", "time per image, H100 / A100")):
        for m, part in ratios.groupby("model"):
            ax.plot(part.batch_size, part[col], "o-", label=label(m), color=colour(m))
        ax.axhline(1, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_title(title)
    axes[0].set_ylabel("ratio")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def batch_curves(curves: pd.DataFrame, gpus: Sequence[str] = ("A100", "H100")):
    """Energy per image relative to batch 1 against batch size, one panel per GPU and one line per model
    (``curves``: :func:`energy_nb.evaluation.crosscheck.batch_curves`). Returns the figure."""
    fig, axes = plt.subplots(1, len(gpus), figsize=(style.WIDTH_IN, 3.8), sharey=True)
    for ax, g in zip(np.atleast_1d(axes), gpus):
        for m, part in curves[curves.gpu == g].groupby("model"):
            ax.plot(part.batch_size, part.energy_rel, "o-", label=label(m), color=colour(m))
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_title(f"{g}: energy per image / batch 1")
        ax.axhline(1, color="k", lw=0.8)
    np.atleast_1d(axes)[0].set_ylabel("relative energy per image")
    np.atleast_1d(axes)[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# Beyond the four models (page B.3)
# ---------------------------------------------------------------------------------------------------
def flops_against_parameters(flops: pd.DataFrame, column: str, ax=None):
    """Denoiser TFLOPs per step (``column`` of :func:`energy_nb.compute.flop_tables.flops_table`) against
    denoiser parameters, log-log, one labelled point per model in its colour."""
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 4.2))[1]
    x, y = flops["denoiser params (B)"].to_numpy(float), flops[column].to_numpy(float)
    ax.scatter(x, y, color=[colour(m) for m in flops["model"]])
    # models on (nearly) the same point share one label: the same denoiser (FLUX.1-dev and -schnell)
    groups: list[list[int]] = []
    for i in np.argsort(-y):
        near = next((g for g in groups if abs(np.log(x[g[0]] / x[i])) < 0.05 and abs(np.log(y[g[0]] / y[i])) < 0.05),
                    None)
        (near.append(i) if near is not None else groups.append([i]))
    placed: list[int] = []
    for g in groups:  # from the top down; a label that would run into the one above goes under its point
        i = g[0]
        crowded = any(abs(np.log10(x[j] / x[i])) < 0.5 and np.log10(y[j] / y[i]) < 0.12 for j in placed)
        ax.annotate(" / ".join(label(flops["model"].iloc[k]) for k in g), (x[i], y[i]), fontsize=8,
                    xytext=(4, -11 if crowded else 3), textcoords="offset points")
        placed.append(i)
    ax.set(xscale="log", yscale="log", xlabel="denoiser parameters (billions)",
           ylabel=column.replace("TFLOPs/step at", "denoiser TFLOPs per step at"),
           title="Denoiser work per step against size")
    ax.set_xlim(x.min() / 1.3, x.max() * 2.2)
    ax.set_ylim(y.min() / 1.3, y.max() * 1.4)
    log_ticks(ax)
    return ax


def default_energy(pred: pd.DataFrame, gpu: str, law_name: str, ax=None):
    """Predicted Wh per image (95% interval, log scale) of every model at its default configuration
    (:func:`energy_nb.evaluation.registry_report.default_predictions`), the paper's models highlighted."""
    from ..models.registry import PAPER_MODELS

    order = pred.sort_values("Wh/image")
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 4.8))[1]
    y = np.arange(len(order))
    ax.barh(y, order["Wh/image"], xerr=[order["Wh/image"] - order["low"], order["high"] - order["Wh/image"]],
            color=["C1" if m in PAPER_MODELS else "C0" for m in order.model], capsize=2)
    ax.set_yticks(y, [f"{label(r.model)} ({r.resolution}, {r.steps} steps{', CFG' if r.CFG else ''})"
                      for r in order.itertuples()], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"predicted GPU energy per image on the {gpu} (Wh, net of idle; 95% interval)")
    ax.set_title(f"Law {law_name}: the paper's models (orange) and the others (blue)")
    return ax


def held_out_by_gpu(lomo: pd.DataFrame, law_name: str, ax=None):
    """Held-out prediction against measurement (J per image, log-log) of each model left out, circles on the
    A100 and squares on the H100 (``lomo``: :func:`energy_nb.evaluation.registry_report.leave_one_model_out`)."""
    ax = ax or plt.subplots(figsize=(6.2, 5))[1]
    for m, part in lomo.groupby("model"):
        named = False
        for g, marker in (("A100", "o"), ("H100", "s")):
            p = part[part.gpu == g]
            if p.empty:
                continue
            ax.scatter(p["measured J/image"], p["predicted J/image"], marker=marker, color=colour(m),
                       label=None if named else label(m))
            named = True
    both = lomo[["measured J/image", "predicted J/image"]]
    lim = [both.min().min() * 0.7, both.max().max() * 1.4]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="ML.ENERGY measured J per image (net of idle)",
           ylabel=f"{law_name}, held-out prediction (J)", title="Leave one model out (circles: A100, squares: H100)")
    ax.legend(fontsize=8, ncol=2)
    return ax


def interval_bars(frame: pd.DataFrame, by: str, title: str = "", ax=None):
    """Per-image net energy (J) with its prediction interval, one bar per value of ``by``, labelled with the law
    that answered (``frame``: rows of :meth:`energy_nb.laws.prediction.Prediction.to_frame`)."""
    ax = ax or plt.subplots(figsize=(style.WIDTH_IN, 3.4))[1]
    x = np.arange(len(frame))
    j = frame["per_image_j"].to_numpy(float)
    ax.bar(x, j, yerr=[j - frame["per_image_j_low"].to_numpy(float), frame["per_image_j_high"].to_numpy(float) - j],
           color=[colour(m) for m in frame["model"]], capsize=3)
    ax.set_xticks(x, [f"{v}\n{law}" for v, law in zip(frame[by], frame["law"])], fontsize=8)
    ax.set_ylabel("net energy per image (J, 95% interval)")
    ax.set_title(title, fontsize=9)
    return ax


def coverage_vs_nominal(curve: pd.DataFrame, ax=None):
    """Held-out coverage (%) against the nominal level (%) per model (registry colours), with the diagonal an
    honest interval follows."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.2))
    for m, part in curve.groupby("model"):
        name, col = _style("model", m)
        ax.plot(100 * part["level"], part["coverage_pct"], "o-", color=col, label=name, ms=4, lw=1)
    lo = 100 * curve["level"].min() - 5
    ax.plot([lo, 100], [lo, 100], "k--", lw=0.8, label="nominal")
    ax.set_xlabel("nominal level (%)")
    ax.set_ylabel("held-out coverage (%)")
    ax.legend(fontsize=8, loc="lower right")
    return ax
