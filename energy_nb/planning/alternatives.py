"""Cheaper alternatives to one configuration, ranked by yearly energy with their savings.

Units: Wh per image, MWh and tCO2e per year, % saved against the base configuration.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from ..core.units import HALF_DTYPES
from ..models.configuration import Configuration
from ..models.registry import PAPER_MODELS, get_model
from .planner import STANDARD_RESOLUTIONS, Options, Workload, plan


def alternatives(base: Configuration, models: Iterable[str] | None = None, gpus: Iterable[str] = (),
                 batch_sizes: Iterable[int] = ()) -> list[tuple[str, Configuration]]:
    """Cheaper-looking variants of ``base``: fewer steps, lower resolution, fp16, CFG off, other models,
    GPUs and batch sizes."""
    out: list[tuple[str, Configuration]] = []
    for s in sorted({max(1, base.steps // 2), max(1, round(base.steps * 2 / 3))} - {base.steps}):
        out.append((f"{s} steps instead of {base.steps}", base.replace(steps=s)))
    lower = [r for r in STANDARD_RESOLUTIONS if r < min(base.height, base.width)]
    if lower:
        r = lower[-1]
        out.append((f"{r}x{r} instead of {base.height}x{base.width}", base.replace(height=r, width=r)))
    other_dtype = "fp32" if base.dtype in HALF_DTYPES else "fp16"
    out.append((f"{other_dtype} instead of {base.dtype}", base.replace(dtype=other_dtype)))
    if base.cfg:
        out.append(("CFG off", base.replace(cfg=False)))
    for m in models if models is not None else PAPER_MODELS:
        if m != base.model:
            out.append((f"{get_model(m).name} instead of {get_model(base.model).name}", base.replace(model=m)))
    for g in gpus:
        if g != base.gpu:
            out.append((f"{g} instead of {base.gpu}", base.replace(gpu=g)))
    for b in batch_sizes:
        if b != base.batch_size:
            out.append((f"batch {b} instead of {base.batch_size}", base.replace(batch_size=b)))
    return out


def compare(base: Configuration, images_per_day: float, opts: Options | None = None,
            variants: Sequence[tuple[str, Configuration]] | None = None) -> pd.DataFrame:
    """The base configuration and its alternatives ranked by yearly energy, with savings vs the base.

    A variant the law cannot predict (e.g. fp32 for Qwen-Image, which has no fp32 data) is listed with
    the reason instead of numbers. ``saving_pct`` > 0 means less energy and carbon than the base.
    """
    opts = (opts or Options()).check()
    if variants is None:  # other GPUs and batch sizes where the model's law has data for them
        dom = getattr(opts.law_for(base.model, base.gpu), "domain", None) or {}
        batches = [8] if dom.get("batch_size", [1, 1])[1] >= 8 else []
        variants = alternatives(base, gpus=[g for g in dom.get("gpus", []) if g != base.gpu], batch_sizes=batches)
    variants = list(variants)
    bp = plan(Workload.single(base, images_per_day), opts).frame
    base_plan = bp.iloc[0]
    rows = [dict(change="(base)", configuration=base.label(), **_summary(base_plan),
                 extrapolation=base_plan["extrapolation"], saving_pct=0.0,
                 saved_mwh_per_year=0.0, saved_t_co2e_per_year=0.0, note="")]
    for change, cfg in variants:
        try:
            p = plan(Workload.single(cfg, images_per_day), opts).frame.iloc[0]
        except ValueError as exc:
            rows.append(dict(change=change, configuration=cfg.label(), note=f"not predicted: {exc}"))
            continue
        rows.append(dict(change=change, configuration=cfg.label(), **_summary(p), extrapolation=p["extrapolation"],
                         saving_pct=100.0 * (1 - p["mwh_per_year"] / base_plan["mwh_per_year"]),
                         saved_mwh_per_year=base_plan["mwh_per_year"] - p["mwh_per_year"],
                         saved_t_co2e_per_year=base_plan["t_co2e_per_year"] - p["t_co2e_per_year"], note=""))
    df = pd.DataFrame(rows)
    df = df.sort_values("mwh_per_year", na_position="last", kind="stable").reset_index(drop=True)
    df.attrs.update(bp.attrs)
    return df


def _summary(p: pd.Series) -> dict[str, float]:
    keys = ["wh_per_image", "wh_per_image_low", "wh_per_image_high", "mwh_per_year", "mwh_per_year_low",
            "mwh_per_year_high", "t_co2e_per_year", "t_co2e_per_year_low", "t_co2e_per_year_high", "cost_per_year"]
    return {k: float(p[k]) for k in keys}
