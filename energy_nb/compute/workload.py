"""One workload frame: what a batch of configurations asks of each component and of the GPU, built once, column by
column, from the record schema.

Every law reads its features from :func:`workload` instead of walking the rows itself: per row, the images ``n``,
steps, the CFG factor ``cfgf`` (2 with classifier-free guidance), the batch size ``b`` and the GPU count; for each
component (``den``: the denoiser, ``text``: the text encoders summed, ``vae``: the decoder) its batch-1 ``passes``
per image and its ``calls`` per image (a batch shares a call; CFG is one call on a batch of two where the registry
says ``cfg_batched``), and its counted features at the row's resolution (:func:`energy_nb.compute.features.geometry`:
FLOPs by kind, element-wise traffic, parameters, kernels, the attention readings); the bytes per element and the fp32
flag of the dtype. With ``hardware=True``, the GPU's datasheet too (:mod:`energy_nb.models.hardware`: tensor and
convolution rates for the dtype, the special-function units' exponential rate ``r_exp``, bandwidth, power limit,
interconnect, its efficiency against :data:`REFERENCE_GPU` and the idle power of the family the records were made
net on).

Optional columns of the schema take their defaults here, once: ``batch_size`` 1, ``num_gpus`` 1, no ``gpu_part``.
Lookups run once per distinct model and resolution (and GPU name), so a frame of thousands of rows costs a handful.
Units: FLOPs, elements, bytes, FLOP/s, B/s, W; passes and calls per image.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..core.units import BYTES_PER_ELEMENT, DTYPES
from ..models.hardware import get_spec, idle_power_or_estimate
from . import features

#: The components of a pipeline, in the order every law sums them.
COMPONENTS: tuple[str, ...] = ("den", "text", "vae")
#: The counted features of each component (:func:`energy_nb.compute.features.geometry`).
GEOMETRY: tuple[str, ...] = ("matmul", "attn", "conv", "elem", "params", "kernels", "attn_fused", "attn_padded",
                             "scores", "scores_unfused", "small", "elem_fp32", "elem_cast", "kernels_cast")
#: The GPU whose datasheet efficiency (half-precision peak FLOP/s per watt of limit) others are measured against.
REFERENCE_GPU = "A100-SXM4-80GB"


class Workload(dict):
    """Columns (numpy arrays, one value per row of the frame it was built from) by name; ``index`` is the frame's."""

    index: pd.Index

    def frame(self, columns: dict[str, Any]) -> pd.DataFrame:
        """``columns`` as a frame on the rows' index."""
        return pd.DataFrame(columns, index=self.index)


def _column(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in df:
        return np.full(len(df), float(default))
    v = np.array([np.nan if x is None or x is pd.NA else x for x in df[name].tolist()], dtype=float)
    return np.where(np.isnan(v), float(default), v)


def codes(df: pd.DataFrame, columns: list[str], integers: tuple[str, ...] = ("height", "width", "num_gpus")
          ) -> tuple[np.ndarray, list[tuple]]:
    """Each row's number among the distinct tuples of ``columns`` (those of ``integers`` read as ints), and those
    tuples."""
    keys = list(zip(*([int(x) for x in df[c].tolist()] if c in integers else df[c].tolist() for c in columns)))
    distinct = list(dict.fromkeys(keys))
    where = {k: i for i, k in enumerate(distinct)}
    return np.fromiter((where[k] for k in keys), dtype=np.intp, count=len(keys)), distinct


def efficiency(spec) -> float:
    """The GPU's datasheet efficiency (half-precision peak FLOP/s per watt of power limit) over
    :data:`REFERENCE_GPU`'s: 1.81 for an H100 SXM."""
    ref = get_spec(REFERENCE_GPU)
    return (spec.tflops_half / spec.power_w) / (ref.tflops_half / ref.power_w)


def gpu_name(gpu: str, part: Any) -> str:
    """The datasheet a row is priced with: its ``gpu_part`` where that names a known part, else its ``gpu``."""
    if isinstance(part, str) and part:
        try:
            get_spec(part)
            return part
        except ValueError:
            pass
    return str(gpu)


def workload(df: pd.DataFrame, gpu_as: dict[str, str] | None = None, hardware: bool = False) -> Workload:
    """The workload frame of ``df``'s rows (record-schema columns; see the module docstring); ``gpu_as`` prices a GPU
    as another; ``hardware``: add the GPU's datasheet columns."""
    w = Workload()
    w.index = df.index
    dtypes = np.array([str(d) for d in df["dtype"].tolist()], dtype=object)
    for d in dict.fromkeys(dtypes.tolist()):
        if d not in DTYPES:
            raise UserError(f"unknown dtype {d!r}; allowed: {', '.join(DTYPES)}")
    w["n"] = _column(df, "n_prompts", 1)
    w["steps"] = np.array(df["steps"].tolist(), dtype=float)
    w["cfgf"] = np.array([2.0 if int(c) else 1.0 for c in df["cfg"].tolist()])
    w["b"] = _column(df, "batch_size", 1)
    w["num_gpus"] = _column(df, "num_gpus", 1)
    w["bpe"] = np.array([float(BYTES_PER_ELEMENT[d]) for d in dtypes])
    w["fp32"] = np.array([float(d == "fp32") for d in dtypes])
    code, shapes = codes(df, ["model", "height", "width"])
    geo = [features.geometry(str(m), int(h), int(wd)) for m, h, wd in shapes]
    w["batched"] = np.array([g["batched"] for g in geo], dtype=bool)[code]
    for c in COMPONENTS:
        for k in GEOMETRY:
            w[f"{c}_{k}"] = np.array([float(g[c][k]) for g in geo])[code]
    steps, cfgf, b = w["steps"], w["cfgf"], w["b"]
    w["den_passes"], w["den_calls"] = steps * cfgf, steps * np.where(w["batched"], 1.0, cfgf) / b
    w["text_passes"], w["text_calls"] = cfgf, cfgf / b
    w["vae_passes"], w["vae_calls"] = np.ones(len(df)), 1.0 / b
    if hardware:
        _hardware(w, df, dtypes, gpu_as or {})
    return w


def _hardware(w: Workload, df: pd.DataFrame, dtypes: np.ndarray, gpu_as: dict[str, str]) -> None:
    gpus = df["gpu"].astype(str).tolist()
    parts = df["gpu_part"].tolist() if "gpu_part" in df else [None] * len(df)
    names = [gpu_as.get(g, gpu_name(g, p)) for g, p in zip(gpus, parts)]
    specs = {n: get_spec(n) for n in dict.fromkeys(names)}
    rates = {(n, d): specs[n].rates(d) for n, d in dict.fromkeys(zip(names, dtypes.tolist()))}
    idle = {f: float(idle_power_or_estimate(f)[0]) for f in dict.fromkeys(gpu_as.get(g, g) for g in gpus)}
    w["gpu_name"] = np.array(names, dtype=object)
    w["r_mm"] = np.array([rates[n, d][0] for n, d in zip(names, dtypes.tolist())], dtype=float)
    w["r_conv"] = np.array([rates[n, d][1] for n, d in zip(names, dtypes.tolist())], dtype=float)
    w["bw"] = np.array([float(specs[n].bandwidth_gb_s) for n in names])
    w["r_exp"] = np.array([specs[n].exp_rate()[0] for n in names])
    w["P"] = np.array([float(specs[n].power_w) for n in names])
    w["s"] = np.array([efficiency(specs[n]) for n in names])
    w["I"] = np.array([idle[gpu_as.get(g, g)] for g in gpus])
    w["link"] = np.array([float(specs[n].interconnect_gb_s or 0.0) for n in names])
