"""Sentences the book's pages show, each made from the numbers it states (Markdown strings).

A page computes its tables with the package and hands them here; the sentence is then a function of the
data, tested like any other function, and follows the data when a reader reruns the page with other
parameters. One function per paragraph, named after what it says.

Units: as in the frames they read (J, W, s, %).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..models.display import label


def files_line(files: pd.DataFrame, entries: list[str], rows: int | None = None, prefix: str = "Source files") -> str:
    """``Source files: `data/x/` (N files, sha256 `...`); ...`` for provenance ``entries`` (``files``:
    :func:`energy_nb.core.provenance.table` indexed by file)."""
    text = f"{prefix}: " + "; ".join(f"`{f}` ({files.loc[f, 'files']} file{'s' * (int(files.loc[f, 'files']) != 1)}, "
                                      f"sha256 `{files.loc[f, 'sha256'][:12]}`)"
                                     for f in entries)
    return text + (f". {rows} rows, all `energy_scope = gross`." if rows is not None else ".")


# ---------------------------------------------------------------------------------------------------
# The independent check (page B.2)
# ---------------------------------------------------------------------------------------------------
def static_power(static: pd.DataFrame, slopes: pd.DataFrame) -> str:
    """The pooled static power per GPU against published idle power, and how much per-configuration slopes vary."""
    st = static.set_index("gpu")
    return (" ".join(
        f"On the **{g}** the pooled estimate is **{r.p_static_w:.0f} W** (95% CI {r.ci_low_w:.0f}-{r.ci_high_w:.0f}, "
        f"{int(r.rows)} rows, {int(r.configs)} configurations), against {r.idle_w:.0f} W published idle "
        f"({r.idle_context_w:.0f} W with a CUDA context)." for g, r in st.iterrows())
        + f" Per configuration the slope ranges from {slopes.slope_w.min():.0f} to {slopes.slope_w.max():.0f} W: "
        "the estimate assumes the energy of the arithmetic does not change with batch size, which holds for "
        "small, launch-bound models and fails for large compute-bound ones, whose slope approaches their "
        "average power because they run at the power limit whatever the batch.")


def law_check(check: pd.DataFrame, errors: pd.DataFrame) -> str:
    """The paper's law against ML.ENERGY's rows at batch 1 and over every batch size
    (:func:`energy_nb.evaluation.crosscheck.paper_law_vs_measured` and its ``error_summary``)."""
    e = errors.set_index("measured")
    b1 = check.iloc[0]
    return (
        f"At batch 1 the paper's law predicts **{b1.predicted_j:.0f} J** per image; ML.ENERGY measured "
        f"{b1.gross_j:.0f} J gross, **{b1.net_idle_j:.0f} J** after subtracting idle power and {b1.net_static_j:.0f} J "
        f"after subtracting the fitted static power. The paper's own rows, interpolated to this configuration, give "
        f"**{b1.paper_rows_j:.0f} J**: the two labs' measurements on the paper's footing differ by "
        f"{100 * (b1.net_idle_j / b1.paper_rows_j - 1):+.1f}%, while the law misses by "
        f"{100 * (b1.predicted_j / b1.net_idle_j - 1):+.1f}% (its SD2 fit, alpha "
        f"{check.attrs['law'].value('alpha'):.3f}, is the loosest of the four). Over all batch sizes its mean absolute "
        f"error is {e.loc['gross (counter total)', 'mape_pct']:.1f}% against gross, "
        f"{e.loc['minus published idle power x time', 'mape_pct']:.1f}% against the idle correction and "
        f"{e.loc['minus fitted static power x time', 'mape_pct']:.1f}% against the static correction: larger batches "
        "lower the energy per image and the law has no term for them.")


def gpu_ratios(rs: pd.DataFrame, hp: pd.DataFrame) -> str:
    """H100 over A100 energy and time at batch 1 (``rs``: :func:`~energy_nb.evaluation.crosscheck.ratio_summary`)
    and the H100 net of idle against the paper's A100 law (``hp``: ``h100_vs_paper``)."""
    return (
        f"H100 energy per image, gross, is {rs.energy_ratio_b1.min():.2f}-{rs.energy_ratio_b1.max():.2f} times the "
        f"A100's at batch 1 (median over batch sizes {rs.energy_ratio_median.min():.2f}-"
        f"{rs.energy_ratio_median.max():.2f}), while the time is {rs.time_ratio_b1.min():.2f}-"
        f"{rs.time_ratio_b1.max():.2f} times (batch 1): the H100 finishes much sooner at a higher power. "
        + " ".join(f"For {label(r.model)}, the H100 net of idle is {r.ratio_net:.2f} times the paper's A100 law."
                   for r in hp.itertuples()))


def largest_batch(curves: pd.DataFrame) -> str:
    """Energy and time per image at each model's largest batch, relative to batch 1
    (:func:`~energy_nb.evaluation.crosscheck.batch_curves`)."""
    largest = curves.loc[curves.groupby(["model", "gpu"]).batch_size.idxmax()]
    return (f"At the largest batch each model ran, energy per image falls to {largest.energy_rel.min():.2f}-"
            f"{largest.energy_rel.max():.2f} of batch 1 and time per image to {largest.time_rel.min():.2f}-"
            f"{largest.time_rel.max():.2f}.")


def extended_law(pred: Mapping[tuple[str, int], float]) -> str:
    """SD2's extended law at batch 1 and 16 on both GPUs (``pred[(gpu, batch)]``: J per image, net)."""
    return (f"For SD2 at 768², 25 steps with CFG the extended law gives {pred[('A100', 1)]:.0f} J (A100) and "
            f"{pred[('H100', 1)]:.0f} J (H100) per image at batch 1, and {pred[('A100', 16)]:.0f} / "
            f"{pred[('H100', 16)]:.0f} J at batch 16, net of idle power.")


def independent_conclusions(check: pd.DataFrame, static: pd.DataFrame, curves: pd.DataFrame, ext: pd.DataFrame,
                            rs: pd.DataFrame) -> str:
    """What the independent check says about the law, as four bullets."""
    b1 = check.iloc[0]
    st = static.set_index("gpu")
    largest = curves.loc[curves.groupby(["model", "gpu"]).batch_size.idxmax()]
    bb = ext[ext.parameter == "beta_batch"]
    return "\n".join([
        f"- **Measurements agree, the law less so.** On the paper's footing, another lab's A100 measures SD 2.1 "
        f"within {abs(100 * (b1.net_idle_j / b1.paper_rows_j - 1)):.0f}% of the paper's own rows, but the law fitted "
        f"to those rows misses by {100 * (b1.predicted_j / b1.net_idle_j - 1):+.0f}% there: the error is the law's "
        "shape, not the data.",
        f"- **Gross or net changes the answer by a static term.** Between gross and idle-subtracted energy lies "
        f"{st.loc['A100', 'idle_w']:.0f}-{st.loc['H100', 'idle_w']:.0f} W of idle power times the run time; the "
        f"fitted static power is larger ({st.loc['A100', 'p_static_w']:.0f} W on the A100, "
        f"{st.loc['H100', 'p_static_w']:.0f} W on the H100), so energy that scales with time rather than FLOPs "
        "remains in the paper's net numbers.",
        f"- **Batch size is a missing variable.** Per-image energy falls by up to "
        f"{100 * (1 - largest.energy_rel.min()):.0f}% with batching; fitted, beta_batch is {bb.value.min():.3f} to "
        f"{bb.value.max():.3f} per log batch size.",
        f"- **A GPU is not a constant factor on time.** The H100 is {rs.time_ratio_b1.min():.2f}-"
        f"{rs.time_ratio_b1.max():.2f}x the A100's time at batch 1 but {rs.energy_ratio_b1.min():.2f}-"
        f"{rs.energy_ratio_b1.max():.2f}x its energy: a GPU term on energy alone hides that power and time move in "
        "opposite directions.",
    ])


# ---------------------------------------------------------------------------------------------------
# Laws that transfer (page B.1)
# ---------------------------------------------------------------------------------------------------
def lomo_lines(table: pd.DataFrame, nested: Mapping[str, tuple[pd.DataFrame, Any]], mape: pd.DataFrame,
               target_pct: float) -> str:
    """Per held-out model: the paper's law, each nested selection rule (every model within the target?) and the
    best candidate in hindsight (``mape``: candidates by held-out model, sorted by the worst)."""
    paper = table[(table.law == "paper") & (table.convention == "paper")].set_index("held_out")["mape_pct"]
    best = mape.index[0]
    lines = ["- **paper's law** (paper FLOPs): " + ", ".join(f"{m} {v:.1f}%" for m, v in paper.items())]
    for rule, (sel, _) in nested.items():
        s = sel.set_index("held_out")
        lines.append(f"- **nested selection, {rule} rule**: " + ", ".join(
            f"{m} {r.mape_pct:.1f}% ({r.law})" for m, r in s.iterrows())
            + f"; every model within {target_pct:g}%: **{'yes' if (s.mape_pct <= target_pct).all() else 'no'}**")
    lines.append(f"- **best candidate in hindsight** ({best}, not an honest choice): "
                 + ", ".join(f"{m} {v:.1f}%" for m, v in mape.loc[best].drop('worst').items()))
    return "\n".join(lines)


def coefficients(law: Any, reading: pd.DataFrame, power_limit_w: float) -> str:
    """What the coefficients of ``roofline_tc_kernels`` mean beside the datasheet (``reading``:
    :func:`energy_nb.laws.physical.physical_reading`; ``power_limit_w`` of the GPU it reads against)."""
    c = law.coef
    r = reading.set_index("parameter")
    byte = (f"The weight-traffic coefficient is {c['e_byte']:.3g} J/GB: once kernels are priced, the data leave "
            "nothing for weight reads to explain." if c["e_byte"] < 1e-3 else
            f"Reading weights costs {c['e_byte']:.3g} J/GB ({r.loc['e_byte', 'implied_fraction']:.0%} of the "
            "bandwidth-at-power-limit ideal).")
    return (
        f"Half-precision arithmetic costs **{c['e_half']:.2f} pJ per FLOP** (J per TFLOP): "
        f"{r.loc['e_half', 'implied_fraction']:.0%} of the tensor cores' peak, if the card drew its full power limit. "
        f"An fp32 matrix product costs **{c['e_mm_fp32']:.1f} pJ per FLOP**, {c['e_mm_fp32'] / c['e_half']:.1f} times "
        "as much; the power limit over the fp32 CUDA-core peak is "
        f"{r.loc['e_mm_fp32', 'at_power_limit_and_peak']:.1f}. "
        f"Each kernel launched costs **{c['e_kernel']:.2f} mJ** (J per 1000 kernels), the energy of "
        f"{c['e_kernel'] / 1000 / power_limit_w * 1e6:.0f} µs at the power limit, and each "
        f"image **{c['c_img']:.1f} J** beyond its FLOPs. {byte} R² (log) on all {law.n_obs} rows: {law.r2:.4f}.")


def rows_scored(by_model: pd.DataFrame, by_gpu: pd.DataFrame) -> str:
    """Rows scored in each fold (the same for every law)."""
    counts = by_model.groupby("held_out")["rows"].first().to_dict() | {
        f"GPU {g}": n for g, n in by_gpu.groupby("held_out")["rows"].first().items()}
    return "Rows scored per fold: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."


def honest_transfer(nested_m: pd.DataFrame, nested_g: pd.DataFrame, paper_m: pd.DataFrame, honest: pd.DataFrame,
                    target_pct: float) -> str:
    """The nested selection's held-out errors by model and by GPU against the target and the paper's law."""
    over = honest[honest["mape_pct"] > target_pct]
    return (
        f"Every held-out model within {target_pct:g}%: "
        f"**{'yes' if (nested_m.mape_pct <= target_pct).all() else 'no'}** "
        f"(worst {nested_m.mape_pct.max():.1f}%, {nested_m.loc[nested_m.mape_pct.idxmax(), 'held_out']}; "
        f"mean {nested_m.mape_pct.mean():.1f}% against {paper_m.mape_pct.mean():.1f}% for the paper's law). "
        f"Every held-out GPU within {target_pct:g}%: **{'yes' if (nested_g.mape_pct <= target_pct).all() else 'no'}** ("
        + ", ".join(f"{r.held_out} {r.mape_pct:.1f}% with {r.law}" for r in nested_g.itertuples()) + "). "
        + ("Folds over the target: " + ", ".join(f"{r.held_out} by {r.mape_pct - target_pct:.1f} points"
                                                for r in over.itertuples()) + "." if len(over) else ""))


def datasheet_gap(ratios: pd.DataFrame, sheet: Mapping[str, float]) -> str:
    """Measured H100/A100 ratios of time and energy (``ratios``: energy, time per model) against what the
    datasheets promise (``sheet``: :func:`energy_nb.evaluation.crosscheck.datasheet_ratios`)."""
    return (
        f"Measured, an H100 image takes {ratios.time.min():.2f}-{ratios.time.max():.2f} times the A100's time and "
        f"{ratios.energy.min():.2f}-{ratios.energy.max():.2f} times its energy. The datasheet's compute peaks "
        f"promise {sheet['time if compute-bound']:.2f} and {sheet['energy if compute-bound (P/peak)']:.2f}; "
        f"the bandwidths {sheet['time if memory-bound']:.2f} and {sheet['energy if memory-bound (P/bandwidth)']:.2f}. "
        "The newer GPU reaches a smaller share of its tensor-core peak, so a law priced by the peaks under-predicts "
        "its energy, and a law fitted on one GPU learns nothing about how that share changes from one generation "
        "to the next. Energy per counted FLOP changes far less between the two GPUs than the datasheets suggest, "
        "which is why a law with a free factor per GPU, or none at all, transfers across GPUs better here.")


def datasheet_transfer(t: pd.DataFrame, chosen: str) -> str:
    """Leave-one-GPU-out of the datasheet-priced laws (``t``: :func:`energy_nb.evaluation.held_out.time_gross_errors`
    by GPU): the worst fold of each law in gross energy (net where a law has no time), and the ``chosen`` law's folds
    in net, gross and time."""
    worst = t.assign(v=t["gross_mape_pct"].fillna(t["mape_pct"])).groupby("law")["v"].max().sort_values()
    bits = ", ".join(f"`{law}` {v:.1f}%" for law, v in worst.items())
    out = f"Worst held-out GPU, mean error of gross energy per law (net for a law without time): {bits}."
    mine = t[t["law"] == chosen]
    if not mine.empty:
        folds = "; ".join(
            f"{r.held_out} held out: net {r.mape_pct:.1f}% on all {r.rows} rows, {r.same_method_mape_pct:.1f}% on the "
            f"{r.same_method_rows} measured like the other GPU's, time {r.time_mape_pct:.1f}%, gross "
            f"{r.gross_mape_pct:.1f}%" for r in mine.itertuples())
        out += (f" `{chosen}`, fitted on one GPU and asked about the other: {folds}. With one GPU in the training "
                "rows its cap exponent cannot be fitted and stays at its prior.")
    return out


def batch_summary(b: pd.DataFrame) -> str:
    """The batch effect of each law on models it never saw (``b``: :func:`..evaluation.held_out.batch_effect`): the
    error of the predicted energy ratio, and of the time ratio for a law that models time."""
    a = b.assign(e=b["error_pct"].abs(), t=b["time_error_pct"].abs())
    per = a.groupby("law")[["e", "t"]].agg(["mean", "max"]).sort_values(("e", "mean"))
    bits = "; ".join(f"`{law}` energy {r[('e', 'mean')]:.1f}% mean, {r[('e', 'max')]:.1f}% worst"
                     + (f", time {r[('t', 'mean')]:.1f}% mean, {r[('t', 'max')]:.1f}% worst"
                        if pd.notna(r[("t", "mean")]) else "") for law, r in per.iterrows())
    n = a["model"].nunique()
    rows = int(a.groupby("law").size().iloc[0])
    return (f"Over {rows} batch rows of {n} held-out models, the error of the predicted batch-b / batch-1 ratios: "
            f"{bits}.")


def datasheet_constants(fitted: Mapping[str, Any], specs: Mapping[str, Any]) -> str:
    """The datasheet-priced laws' fitted constants (``fitted``: name -> law) beside each GPU's ideal cost of a FLOP
    (``specs``: name -> GpuSpec)."""
    lines = [f"- **{gname}**: ideal {g.power_w / g.tflops_half:.2f} pJ/FLOP (power limit over peak)"
             for gname, g in specs.items()]
    if "ops" in fitted:
        c = fitted["ops"].coef
        lines.append("- `ops`, share of the tensor peak each kind reaches on the reference GPU: "
                     + ", ".join(f"{k} {100 / c[f'k_{k}']:.0f}%" for k in ("gemm", "conv", "attention"))
                     + f"; attention's softmax reaches {100 / c['k_softmax']:.0f}% of the special-function units' "
                     "exponential rate; memory-bound "
                     f"kernels reach {100 / c['k_memory']:.0f}% of the bandwidth; a newer GPU keeps "
                     f"{100 * (1 - c['cap_exponent']):.0f}% of its datasheet FLOPs-per-watt gain (cap exponent "
                     f"{c['cap_exponent']:.2f}); busy power {100 * c['p_tensor']:.0f}% of the limit on tensor-core "
                     f"work, {100 * c['p_memory']:.0f}% on memory-bound work, capped at {100 * c['p_cap']:.0f}% gross")
        lines.append(f"- host time per kernel launched: **{c['t_kernel_us']:.1f} µs** (`ops`), which is why a small "
                     "model at batch 1 takes about as long on either GPU: the CPU is the bottleneck.")
    return "\n".join(lines)


def law_that_answers(artifact) -> str:
    """Which laws the selection chose on all the data (the laws artifact): the shared law and the one for GPUs
    without data, with their scores and how their intervals were obtained."""
    sel = artifact.data["selections"]
    shared, sheet = sel["shared"], sel["datasheet"]
    score = {q: {s["candidate"]: s["score_pct"] for s in sel[q]["scores"]} for q in ("shared", "datasheet")}
    return (f"Chosen on all the data by leave one model out, among the laws that model time: **{shared['law']}** "
            f"({score['shared'][shared['law']]:.1f}% mean held-out error, net, gross and time together), the law for a "
            f"model without rows; by leave one GPU out: **{sheet['law']}** ({score['datasheet'][sheet['law']]:.1f}%), "
            "the law for a GPU without data. With two GPUs the second choice is made on the same folds as the table "
            "above, and GPUs held back from the project are the real test. These are the selection's outputs, not "
            "constants: `energy-nb laws build` makes them again from the data. The command line says which answered, "
            "e.g. `energy-nb predict --model pixart-sigma --height 1024 --width 1024 --steps 20 --cfg` or "
            "`--gpu L40S`.")


def kandinsky3(t: pd.DataFrame) -> str:
    """Kandinsky 3 in-sample (``t``: :func:`energy_nb.evaluation.held_out.in_sample`): its own law's errors, the
    shared law's, and the kinds of time the shared law prices furthest from what its rows taught."""
    own, shared = t.iloc[0], t.iloc[1]
    kinds = [k for k in ("gemm", "conv", "attention", "softmax", "memory", "kernels", "host") if shared[k] > 0]
    ratio = sorted(((own[k] / shared[k], k) for k in kinds if own[k] > 0.02 * own[kinds].sum()),
                   key=lambda x: -abs(np.log(x[0])))[:2]
    moved = " and ".join(f"its {k} time x{r:.2f}" for r, k in ratio)
    return (f"Kandinsky 3 in-sample, on its {int(own['rows'])} timed rows: `{own['law']}` within "
            f"{own['net_pct']:.1f}% net, {own['gross_pct']:.1f}% gross and {own['time_pct']:.1f}% time (mean); the "
            f"shared law {shared['net_pct']:.1f}%, {shared['gross_pct']:.1f}% and {shared['time_pct']:.1f}%. The "
            f"components the shared law misprices for it, as its own rows correct them: {moved} of the shared law's.")


def one_point_summary(one, target_pct: float = 5.0) -> str:
    """One-point calibration in a sentence per direction (:func:`energy_nb.evaluation.calibration.one_point`): the
    other rows' mean net-energy error over the choices of the calibration row, on the rows measured like the base
    GPU's and on every row."""
    from ..evaluation.calibration import SAME_METHOD

    parts = []
    for (b, t), g in one.groupby(["base", "target"], sort=False):
        same = g.loc[g["calibration_dataset"] == SAME_METHOD, "same_method_mape_pct"]
        parts.append(f"{b} to {t}: calibrated by one of {len(same)} {SAME_METHOD} rows, the other rows measured the "
                     f"same way are off by **{same.median():.1f}%** at the median ({same.min():.1f}% to "
                     f"{same.max():.1f}%; {100 * float((same <= target_pct).mean()):.0f}% of the choices within "
                     f"{target_pct:g}%); over all {len(g)} choices, every other row by {g['mape_pct'].median():.1f}%")
    return "; ".join(parts) + "."
