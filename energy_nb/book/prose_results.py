"""Sentences of the Results pages (5.1 to 5.7), each made from the frame the page has just shown (Markdown).

Like :mod:`.prose`: the page computes its tables with the package and hands them here, so a sentence follows
the data when the page is rerun with other parameters (tests rerun two pages with altered data and check).

Units: as in the frames they read (J, Wh, %, x).
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..models.display import label


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
