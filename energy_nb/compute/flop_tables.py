"""The FLOPs of several models, resolutions and conventions at once, as frames (what page A.1 shows), the fewest
denoising steps at which denoising dominates a generation's FLOPs, and every registry model's counted parameters
(against the published counts) and FLOPs (what page B.3 shows).

Every function here calls :mod:`.flops` (and :mod:`.features` for counted parameters and operators) and only
arranges the results: one row per model, resolution and convention, one column per quantity.

Units: FLOPs where a column says nothing else (a multiply-add counts 2), GFLOPs (1e9 FLOPs) where the name says
so, parameters in billions (``(B)``), resolutions in pixels per side (square images), steps as a count, shares and
ratios dimensionless.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..models.registry import MODEL_KEYS, get_model, params_agree
from . import features
from .flops import model_flops, unet_stages


def breakdown_table(models: Sequence[str], resolutions: Sequence[int], conventions: Sequence[str],
                    steps: int) -> pd.DataFrame:
    """One row per model, square resolution and convention (in that nesting order):
    :meth:`~energy_nb.compute.flops.FlopBreakdown.as_dict` at ``steps`` denoising steps without CFG.

    Columns: ``model``, ``height`` and ``width`` (pixels), ``convention``, ``text``, ``denoise_per_step`` (one step,
    one CFG branch), ``decode`` and ``total`` (Eq. 1 for one prompt), all in FLOPs; ``steps``, ``cfg`` (False)."""
    return pd.DataFrame([model_flops(m, r, r, c).as_dict(steps) for m in models for r in resolutions
                         for c in conventions])


def denoise_shares(table: pd.DataFrame, steps: int) -> pd.DataFrame:
    """``table`` (:func:`breakdown_table`) with ``denoise_share``: the fraction of Eq. 1's total FLOPs (without
    CFG) spent denoising at ``steps`` steps, per row (dimensionless, 0 to 1)."""
    return table.assign(denoise_share=[model_flops(r.model, r.height, r.width, r.convention).denoise_share(steps)
                                       for r in table.itertuples()])


def steps_to_dominate(model: str, resolutions: Sequence[int], threshold: float = 0.9, convention: str = "paper",
                      limit: int = 1000) -> int | None:
    """The fewest denoising steps ``T`` (a count, ``1 <= T < limit``) at which denoising is at least ``threshold``
    (a fraction of the FLOPs of one generation, Eq. 1 without CFG) at every square resolution of ``resolutions``
    (pixels per side) in ``convention``; None when no ``T`` below ``limit`` reaches it.

    The denoising share grows with ``T`` (text encoding and decoding run once), so the first such ``T`` is the
    answer; the search stops at ``limit``."""
    mf = [model_flops(model, r, r, convention) for r in resolutions]
    return next((t for t in range(1, limit) if all(f.denoise_share(t) >= threshold for f in mf)), None)


def per_step_by_convention(table: pd.DataFrame) -> pd.DataFrame:
    """Denoiser GFLOPs per step (one CFG branch) of ``table`` (:func:`breakdown_table`): one row per model and
    height, one column per convention (sorted by name); where ``counted`` is among them, one more column
    ``"<c> / counted"`` per other convention (in the order the table lists them): its ratio to the counted FLOPs
    (dimensionless)."""
    den = table.pivot_table(index=["model", "height"], columns="convention", values="denoise_per_step") / 1e9
    if "counted" in den:
        for c in [c for c in pd.unique(table["convention"]) if c != "counted"]:
            den[f"{c} / counted"] = den[c] / den["counted"]
    return den


def replica_table(models: Sequence[str]) -> pd.DataFrame:
    """Each model's denoiser: ``model`` (display name), ``denoiser class`` (diffusers), ``parameters (B)`` counted
    on the meta device and ``paper (B)`` as the paper gives it (billions), ``text tokens`` (a count) and ``pixels
    per token side`` (pixels)."""
    return pd.DataFrame([{"model": get_model(m).name, "denoiser class": get_model(m).component("denoiser").cls,
                          "parameters (B)": features.parameters(m) / 1e9, "paper (B)": get_model(m).denoiser_params_b,
                          "text tokens": get_model(m).text_tokens, "pixels per token side": get_model(m).multiple}
                         for m in models])


def operator_gflops(models: Sequence[str], resolution: int) -> pd.DataFrame:
    """Counted GFLOPs of one denoiser forward pass (batch 1, no CFG) at ``resolution``² pixels, by ATen operator
    (rows, index ``operator``) and model (columns, display names); 0 where a model does not call an operator."""
    ops = {get_model(m).name: features.component(m, "denoiser", resolution, resolution).ops for m in models}
    return (pd.DataFrame(ops).fillna(0) / 1e9).rename_axis("operator")


def unet_stage_table(height: int, width: int, convention: str = "paper") -> pd.DataFrame:
    """SD2's U-Net per stage (:func:`~energy_nb.compute.flops.unet_stages`), in the network's order: ``resolution``
    (the stage's first latent resolution, ``HxW`` in latent pixels), ``terms`` (a count) and ``gflops`` (GFLOPs of
    one forward pass at ``height`` x ``width`` pixels)."""
    stages = pd.DataFrame(unet_stages(height, width, convention))
    return stages.groupby("stage", sort=False).agg(resolution=("resolution", "first"), terms=("term", "count"),
                                                   gflops=("flops", _gflops))


def _gflops(flops: pd.Series) -> float:
    """FLOPs summed, in GFLOPs."""
    return flops.sum() / 1e9


def _total(model: str) -> int:
    return sum(features.parameters(model, r) for r in features.roles(model))


def parameter_table(models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model: denoiser and whole-pipeline parameters (counted on meta, billions) beside the published
    counts, the difference in percent, whether they agree (see ``architectures.params_agree``) and the source."""
    rows = []
    for m in models or MODEL_KEYS:
        s = get_model(m)
        den, tot = features.parameters(m, "denoiser"), _total(m)
        pub_d, pub_t = s.denoiser_params_b, s.total_params_b
        rows.append({
            "model": m, "name": s.name, "pipeline": s.pipeline, "denoiser class": s.component("denoiser").cls,
            "denoiser (B)": den / 1e9, "published denoiser (B)": pub_d,
            "denoiser diff (%)": 100 * (den / 1e9 / pub_d - 1) if pub_d else float("nan"),
            "total (B)": tot / 1e9, "published total (B)": pub_t,
            "total diff (%)": 100 * (tot / 1e9 / pub_t - 1) if pub_t else float("nan"),
            "agrees": bool(params_agree(den, pub_d)) if pub_d else None,
            "known gap": s.published_gap, "source": s.published_source})
    return pd.DataFrame(rows)


def flops_table(models: Sequence[str] | None = None, resolutions: Sequence[int] = (512, 1024)) -> pd.DataFrame:
    """Per model: parameters (B), denoiser TFLOPs per call at each square resolution, kernels per denoiser
    call and text-encoder / decoder TFLOPs at the largest resolution (counted; batch 1, no CFG)."""
    rows = []
    top = max(resolutions)
    for m in models or MODEL_KEYS:
        s = get_model(m)
        row = {"model": m, "name": s.name, "params (B)": _total(m) / 1e9,
               "denoiser params (B)": features.parameters(m, "denoiser") / 1e9}
        for r in resolutions:
            row[f"TFLOPs/step at {r}²"] = (features.component(m, "denoiser", r, r).flops / 1e12
                                           if r % s.multiple == 0 else float("nan"))
        row[f"kernels/call at {top}²"] = features.component(m, "denoiser", top, top).kernels
        row["text TFLOPs"] = sum(features.component(m, c.role, top, top).flops for c in s.text_encoders) / 1e12
        row[f"decode TFLOPs at {top}²"] = features.component(m, "vae", top, top).flops / 1e12
        rows.append(row)
    return pd.DataFrame(rows)
