"""What a law's training rows cover (:func:`data_domain`), and every way a configuration lies outside them
(:func:`domain_flags`): the extrapolation notes of every answer. Units: pixels, steps, images."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.units import HALF_DTYPES
from ..models.configuration import Configuration


def data_domain(df: pd.DataFrame, by_gpu: bool = True) -> dict[str, Any]:
    """What a law's training rows cover: models, GPUs, dtypes, CFG, ranges of height, width, steps, N,
    batch size; and the same per GPU (``by_gpu``) when there are several GPUs."""
    def span(col: str, default: int = 1) -> list[int]:
        if col not in df:
            return [default, default]
        v = np.asarray(df[col].to_numpy(dtype=float, na_value=np.nan))
        v = np.where(np.isnan(v), default, v)
        return [int(v.min()), int(v.max())]

    def values(col: str) -> list[str]:
        return sorted(set(map(str, df[col].tolist())))

    out = dict(models=values("model"), gpus=values("gpu"), dtypes=values("dtype"),
               cfg=sorted({int(v) for v in df["cfg"].tolist()}),
               height=span("height"), width=span("width"), steps=span("steps"), n_prompts=span("n_prompts"),
               batch_size=span("batch_size"), square_only=bool((df["height"] == df["width"]).all()))
    if by_gpu and len(out["gpus"]) > 1:
        gpu = df["gpu"].astype(str)
        out["by_gpu"] = {g: data_domain(df[gpu == g], by_gpu=False) for g in out["gpus"]}
    return out


def domain_flags(domain: dict[str, Any], config: Configuration, baseline_gpu: str, n_scaling: str = "linear",
                 gpu_as: dict[str, str] | None = None, what: str = "the law's data", gpu_term: bool = True
                 ) -> list[str]:
    """Reasons why ``config`` lies outside ``domain`` (:func:`data_domain` of a law's training rows; empty:
    inside), in words that name ``what`` the rows are; ``gpu_term``: the law has a term per GPU (not priced by the
    datasheet)."""
    d = domain or {}
    out: list[str] = []
    if not d:
        return ["the law records no training domain (saved by an older version): coverage unknown"]
    model, gpu, dtype, cfg = config.model, config.gpu or baseline_gpu, config.dtype, config.cfg
    height, width, steps, batch_size = config.height, config.width, config.steps, config.batch_size
    if model not in d["models"]:
        out.append(f"model {model} is not in {what} (fitted on {', '.join(d['models'])})")
    if gpu not in d["gpus"]:
        used = (gpu_as or {}).get(gpu, gpu)
        out.append(f"GPU {gpu} is not in {what} ({', '.join(d['gpus'])})"
                   + (f"; predicted as {used}" if used != gpu else ""))
    if dtype not in d["dtypes"]:
        twin = next((x for x in d["dtypes"] if x in HALF_DTYPES), None) if dtype in HALF_DTYPES else None
        out.append(f"dtype {dtype} is not in {what} ({', '.join(d['dtypes'])})"
                   + (f"; treated as {twin} (both half precision)" if twin else ""))
    if int(cfg) not in d["cfg"]:
        out.append(f"CFG {'on' if cfg else 'off'} is not in {what}")
    for name, v in (("height", height), ("width", width)):
        lo, hi = d[name]
        if not lo <= v <= hi:
            out.append(f"{name} {v} px is outside {what} ({lo}-{hi} px)")
    if d.get("square_only") and height != width:
        out.append(f"aspect ratio {height}x{width}: {what} has square images only")
    lo, hi = d["steps"]
    if not lo <= steps <= hi:
        out.append(f"{steps} steps is outside {what} ({lo}-{hi} steps)")
    lo, hi = d.get("batch_size", [1, 1])
    if not lo <= batch_size <= hi:
        out.append(f"batch size {batch_size} is outside {what} ({lo}-{hi})"
                   + ("; the law has no batch term: predicted as batch 1" if hi == 1 else ""))
    g = d.get("by_gpu", {}).get(gpu)
    if g is not None:
        gaps = []
        for name, v in (("height", height), ("steps", steps), ("batch size", batch_size)):
            lo, hi = g[name.replace(" ", "_")]
            if not lo <= v <= hi:
                gaps.append(f"{name} {lo}-{hi}" if lo != hi else f"{name} {lo}")
        if dtype not in g["dtypes"]:
            gaps.append("dtype " + "/".join(g["dtypes"]))
        if int(cfg) not in g["cfg"]:
            gaps.append("CFG " + ("on" if g["cfg"] == [1] else "off"))
        if gaps and gpu_term:
            out.append(f"the {gpu} data cover only {', '.join(gaps)}: elsewhere the {gpu} term is assumed "
                       "to hold as fitted")
        elif gaps:
            out.append(f"the {gpu} rows of {what} cover only {', '.join(gaps)}")
    if n_scaling == "law":
        lo, hi = d["n_prompts"]
        if not lo <= config.prompts <= hi:
            out.append(f"{config.prompts} prompts with n_scaling='law': {what} has N = {lo}-{hi} only")
    return out
