"""Sentences of the Results pages (5.1 to 5.8, B.1 to B.3) and page A.1, each made from the frame the page has just
(Markdown).

Like :mod:`.prose`: the page computes its tables with the package and hands them here, so a sentence follows
the data when the page is rerun with other parameters (tests rerun two pages with altered data and check).

Units: as in the frames they read (J, Wh, %, x).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..models.display import label
from ..models.registry import PARAMS_TOLERANCE_B, PARAMS_TOLERANCE_REL, get_model


def _range(values: pd.Series, fmt: str = ".1f", unit: str = "%") -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:{fmt}}{unit}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}{unit} to {hi:{fmt}}{unit}"


def refit_agreement(comparison: pd.DataFrame) -> str:
    """How our refit compares with the published table (``comparison``:
    :func:`energy_nb.evaluation.refit.refit_vs_published`)."""
    d = comparison.dropna(subset=["published", "ours"])
    diff = (d["ours"] - d["published"]).abs()
    par = d["parameter"]
    coef = diff[par.isin(["beta_dtype", "beta_res"])]
    alpha = d[par == "alpha"]
    r2 = diff[par == "r2"]
    below = int((alpha["ours"] < alpha["published"]).sum())
    side = ("all below" if below == len(alpha) else "all above" if below == 0
            else f"{below} of {len(alpha)} below")
    out = [f"Refitted on the published tables, the precision and resolution coefficients land within "
           f"**{coef.max():.3f}** of the published values" if len(coef) else "No published coefficient to compare",
           f"the exponents within **{diff[par == 'alpha'].max():.3f}** ({side} the published ones)"]
    if len(r2):
        out.append(f"and R² within {r2.max():.4f}")
    return ", ".join(out) + "; the intercepts move with the exponents (the two trade off along the range of FLOPs)."


def case_study(cs: pd.DataFrame, model: str, llm_wh: Mapping[str, float]) -> str:
    """Per-image energy of ``model``'s cheapest and costliest configuration beside LLM queries (``cs``:
    :func:`energy_nb.evaluation.refit.case_study`; ``llm_wh``: the per-query figures it compares with)."""
    lo, hi = cs["per_image_wh"].min(), cs["per_image_wh"].max()
    refs = "; ".join(f"{k}: {v:g} Wh" for k, v in llm_wh.items())
    ratio = hi / max(llm_wh.values())
    return (f"Per image, {label(model)} spans from **{lo:.3g} Wh** at its cheapest setting to **{hi:.3g} Wh** at its "
            f"costliest; the costliest is {ratio:.1f} times the larger of the per-query figures the paper cites for "
            f"LLM chat assistants ({refs}).")


def split_transfer(summary: pd.DataFrame) -> str:
    """Ranks and magnitudes of the held-out models of train/test splits (``summary``:
    :func:`energy_nb.evaluation.refit.scenarios`, its ``test`` rows are scored)."""
    t = summary[summary["part"] == "test"]
    worst = t.loc[t["mape_pct"].idxmax()]
    return (f"Ranks transfer: Spearman's ρ between measured and predicted energy is "
            f"{_range(t['spearman'], '.3f', '')} on the held-out models. Magnitudes transfer less well: their mean "
            f"error is {_range(t['mape_pct'])}, the largest in *{worst['scenario']}* ({worst['mape_pct']:.1f}%).")


def held_out_model(summary: pd.DataFrame, model: str) -> str:
    """The splits whose held-out side includes ``model`` and whose training side does not: their held-out error."""
    t = summary[summary["part"] == "test"]
    sides = t["scenario"].str.split(" -> ", n=1)
    mine = t[[model in test.split(" + ") and model not in train.split(" + ") for train, test in sides]]
    if mine.empty:
        return ""
    return (f"Where {label(model)} is held out, the law trained without it misses the held-out energies by "
            f"{_range(mine['mape_pct'])} (MAPE, {len(mine)} split{'s' if len(mine) > 1 else ''}).")


def factors(rows: pd.DataFrame, model: str) -> str:
    """One hyperparameter changed at a time (``rows``: :func:`energy_nb.evaluation.refit.one_change_factors`)."""
    parts = []
    for r in rows.to_dict("records"):
        p, a, b, f = r["parameter"], r["from"], r["to"], r["median_factor"]
        if p == "cfg":
            parts.append(f"CFG off to on x{f:.2f}")
        elif p == "height":
            parts.append(f"resolution {a}² to {b}² x{f:.2f} (the pixel ratio is {(float(b) / float(a)) ** 2:g})")
        elif p == "steps":
            parts.append(f"steps {a} to {b} x{f:.2f} (proportional would be x{float(b) / float(a):g})")
        else:
            parts.append(f"{p} {a} to {b} x{f:.2f}")
    big = rows.loc[rows["median_factor"].idxmax(), "parameter"]
    return (f"For {label(model)}, the median factor of each change, the others fixed: " + "; ".join(parts)
            + f". The largest single factor is {'precision' if big == 'dtype' else big}'s.")

def denoise_claim(share: pd.DataFrame, steps: int, params_b: Mapping[str, float], needed: Mapping[str, int | None],
                  threshold: float = 0.9) -> str:
    """Where the paper's claim (denoising is more than ``threshold`` of a generation's FLOPs at ``steps``) holds,
    where it fails, and why (``share``: model, height, denoise_share in the paper's convention; ``params_b``:
    denoiser parameters in billions; ``needed``: steps each failing model needs at every resolution)."""
    ok = share.groupby("model")["denoise_share"].min() >= threshold
    out = []
    if ok.any():
        out.append(f"The claim holds in every cell for {', '.join(label(m) for m in ok.index[ok])}.")
    for m in ok.index[~ok]:
        part = share[share["model"] == m]
        dec = 1 - part["denoise_share"]
        fails = int((part["denoise_share"] < threshold).sum())
        n = needed.get(m)
        out.append(f"It fails for {label(m)} at {fails} of {len(part)} resolutions: its denoiser is small "
                   f"({params_b[m]:.2f} B parameters) beside its decoder, so at {steps} steps decoding is "
                   f"{100 * dec.min():.0f}% to {100 * dec.max():.0f}% of its FLOPs"
                   + (f", and it needs {n} steps to pass {100 * threshold:.0f}% at every resolution." if n else "."))
    return " ".join(out)


def ratios_to_counted(den: pd.DataFrame, models: Sequence[str]) -> str:
    """One bullet per model of ``models`` at its largest resolution: the printed formula's and the bidirectional
    count's denoiser FLOPs per step as multiples of the counted FLOPs (``den``:
    :func:`energy_nb.compute.flop_tables.per_step_by_convention` of the paper, bidirectional and counted
    conventions; ratios dimensionless, resolutions in pixels)."""
    r = den.reset_index()
    lines = []
    for m in models:
        row = r[(r.model == m)].sort_values("height").iloc[-1]
        lines.append(f"- **{get_model(m).name}** at {int(row.height)}²: printed formula = "
                     f"{row['paper / counted']:.3f} x counted, bidirectional = "
                     f"{row['bidirectional / counted']:.4f} x counted.")
    return "\n".join(lines)


def counted_parameters_agree(params: pd.DataFrame) -> str:
    """How many denoisers' counted parameters agree with the published count, which do not and why, and SSD-1B's
    assumed components (``params``: :func:`energy_nb.compute.flop_tables.parameter_table`; billions of
    parameters, the tolerance of :func:`energy_nb.models.registry.params_agree` in billions and %)."""
    gaps = params[~params["agrees"]]
    ssd = params.set_index("model").loc["ssd1b"]
    return (f"{int(params['agrees'].sum())} of {len(params)} denoisers agree with the published count (within "
            f"{PARAMS_TOLERANCE_B:g} B or {100 * PARAMS_TOLERANCE_REL:g}%, whichever is larger). "
            + " ".join(f"**{r['model']}** does not: {r['known gap']}." for _, r in gaps.iterrows())
            + " Where a model's files were incomplete its registry file says what was assumed: SSD-1B takes SDXL's "
            f"second text encoder and VAE, and its total is then {ssd['total (B)']:.2f} B against the published "
            f"{ssd['published total (B)']:.1f} B.")


#: The pairs :func:`parameters_do_not_set_work` contrasts: a larger network that computes less per step, then one
#: that computes more.
WORK_PAIRS: tuple[tuple[str, str], ...] = (("kandinsky3", "sd2"), ("sana15-4.8b", "flux"))


def parameters_do_not_set_work(flops: pd.DataFrame, resolution: int,
                               pairs: Sequence[tuple[str, str]] = WORK_PAIRS) -> str:
    """Pairs of registry models whose denoiser parameters and work per step rank differently (``flops``:
    :func:`energy_nb.compute.flop_tables.flops_table` with ``resolution`` among its resolutions; parameters
    in billions, TFLOPs per denoiser call at ``resolution``² pixels, latent positions a count)."""
    f = flops.set_index("model")
    col = f"TFLOPs/step at {resolution}²"
    return ("Parameters alone do not set the work per step: "
            + " ".join(_contrast(f, col, resolution, a, b) for a, b in pairs)
            + " The laws therefore use counted FLOPs, kernels and weight bytes, not parameters.")


def _latent_positions(model: str, resolution: int) -> int:
    """Latent positions (tokens) one denoiser call sees on a ``resolution``² image."""
    return (resolution // get_model(model).multiple) ** 2


def _contrast(f: pd.DataFrame, col: str, resolution: int, a: str, b: str) -> str:
    params = "denoiser params (B)"
    return (f"**{a}** ({f.loc[a, params]:.2f} B parameters, {_latent_positions(a, resolution):,} latent positions per "
            f"denoiser call at {resolution}²) runs {f.loc[a, col]:.2f} TFLOPs per step; **{b}** "
            f"({f.loc[b, params]:.2f} B, {_latent_positions(b, resolution):,}) runs {f.loc[b, col]:.2f}.")
