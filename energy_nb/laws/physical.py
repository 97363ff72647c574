"""The two simple baselines the book compares the laws of time and power with: energy linear in the work, with
non-negative coefficients shared by all models and a factor per GPU.

Fitted by least squares on log residuals (so they minimise relative error, like the paper's law). For ``N`` prompts
of ``T`` steps with CFG factor ``g = 2^cfg``, the building blocks (:func:`physical_features`, from the workload frame)
are ``S = N T g`` denoiser passes, ``F_step`` TFLOPs per pass, ``F_fix`` TFLOPs per image outside the loop (text
encoders, ``g`` times for the negative prompt, plus the VAE decoder), ``W_step`` GB of denoiser weights read per call
and ``K_step`` kernels launched per call (thousands).

``linear``
    ``E = e[dtype] (S F_step + N F_fix)``: one energy per FLOP for half precision and one for fp32 (any FLOPs
    convention).
``roofline_tc_kernels``
    a roofline-style sum on counted FLOPs: arithmetic at ``e_half`` per FLOP, a convolution FLOP costing what a
    matmul FLOP costs in half precision (same tensor cores) and the TF32 slowdown of the reference A100 in fp32, fp32
    matrix products at their own ``e_mm_fp32``; weight traffic ``e_byte`` per GB read; ``e_kernel`` per thousand
    kernels launched (a U-Net launches far fewer kernels per call than a 60-layer transformer); ``c_img`` per image.
    The law that answered for a model without rows before the law of time and power.

Denoiser calls: SD2 and SD3.5 run CFG as one call on a batch of two, Flux and Qwen-Image as a second call (registry
flag ``cfg_batched``); FLOPs double with CFG either way, weights and kernels only with a second call.

Units: energy in J; FLOPs in TFLOPs; bytes in GB; so ``e`` is J/TFLOP (= pJ/FLOP), ``e_byte`` J/GB (= nJ/byte),
``e_kernel`` J per 1000 kernels, ``c_img`` J. A GPU other than the baseline gets a multiplicative factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import features
from ..compute.flops import check_convention, model_flops
from ..compute.workload import codes, workload
from ..core import provenance
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..models.hardware import get_spec, tf32_slowdown
from . import fitter
from .base import FittedLaw, interval_frame, reference_prompts_of
from .domain import data_domain

#: The GPU whose tensor cores set the TF32 rule of ``roofline_tc_kernels`` (fp16 peak over TF32 peak:
#: :func:`energy_nb.models.hardware.tf32_slowdown`), the GPU of the paper's tables.
TF32_REFERENCE = "A100"
#: The datasheet the coefficients are read against (:func:`physical_reading`): the paper does not say SXM or
#: PCIe; the PCIe card has a 300 W limit and 1,935 GB/s.
READING_REFERENCE = "A100-SXM4-80GB"
PHYSICAL_LAWS: tuple[str, ...] = ("linear", "roofline_tc_kernels")
#: Terms of each physical law (coefficient names).
LAW_TERMS: dict[str, tuple[str, ...]] = {
    "linear": ("e_half", "e_fp32"),
    "roofline_tc_kernels": ("e_half", "e_mm_fp32", "e_byte", "e_kernel", "c_img"),
}
UNITS = {"e_kernel": "J per 1000 kernels", "e_half": "J/TFLOP", "e_fp32": "J/TFLOP", "e_mm_fp32": "J/TFLOP",
         "e_byte": "J/GB", "c_img": "J per image"}
MEANING = {"e_kernel": "fixed cost per kernel launched", "e_half": "energy per FLOP, fp16/bf16",
           "e_fp32": "energy per FLOP, fp32", "e_mm_fp32": "per matmul/attention FLOP, fp32",
           "e_byte": "per byte of weights read per denoiser pass", "c_img": "fixed cost of an image"}


@provenance.cache
def _geometry(model: str, height: int, width: int, convention: str) -> dict[str, float]:
    """Per-pass and per-image FLOPs (TFLOPs) in ``convention``, split by kind when counted (matmul here includes
    attention), denoiser parameters (billions) and kernels per denoiser call (thousands): the counted quantities
    are :func:`energy_nb.compute.features.geometry`'s."""
    b = model_flops(model, height, width, convention)
    g = features.geometry(model, height, width)
    out = dict(F_step=b.denoise_per_step / 1e12, F_text=b.text / 1e12, F_dec=b.decode / 1e12,
               params_b=g["den"]["params"] / 1e9, kernels_k=g["den"]["kernels"] / 1e3)
    if convention == "counted":
        for part, prefix in (("den", "F_step"), ("vae", "F_dec"), ("text", "F_text")):
            c = g[part]
            out[f"{prefix}_mm"] = (c["matmul"] + c["attn"]) / 1e12
            out[f"{prefix}_conv"] = c["conv"] / 1e12
    return out


def physical_features(df: pd.DataFrame, convention: str = "counted") -> pd.DataFrame:
    """Per row (all ``n_prompts`` images, ``batch_size`` per pipeline call): denoiser calls ``S``, images ``N``,
    TFLOPs in and outside the loop (by kind when counted), GB of weights read, kernels launched (thousands), fp32
    indicator."""
    check_convention(convention)
    w = workload(df)
    code, distinct = codes(df, ["model", "height", "width"])
    geo = [_geometry(str(m), h, wd, convention) for m, h, wd in distinct]

    def g(key: str) -> np.ndarray:
        return np.array([x[key] for x in geo])[code]
    n, cfgf = w["n"], w["cfgf"]
    s = n * w["steps"] * cfgf  # denoiser work units (FLOPs double with CFG)
    calls = n * w["steps"] * np.where(w["batched"], 1.0, cfgf) / w["b"]  # denoiser calls: a batch shares them
    out = dict(S=calls, N=n, F_loop=s * g("F_step"), F_fix=n * (cfgf * g("F_text") + g("F_dec")),
               W=calls * g("params_b") * w["bpe"], K=calls * g("kernels_k"), fp32=w["fp32"])
    if convention == "counted":
        for kind in ("mm", "conv"):
            out[f"F_{kind}"] = s * g(f"F_step_{kind}") + n * (cfgf * g(f"F_text_{kind}") + g(f"F_dec_{kind}"))
    return w.frame(out)


def design(name: str, feats: pd.DataFrame) -> np.ndarray:
    """The non-negative design matrix of law ``name`` (columns in ``LAW_TERMS[name]`` order)."""
    half, f32 = 1.0 - feats["fp32"], feats["fp32"]
    F = feats["F_loop"] + feats["F_fix"]
    cols = {"e_half": F * half, "e_fp32": F * f32, "e_byte": feats["W"], "c_img": feats["N"], "e_kernel": feats["K"]}
    if name == "roofline_tc_kernels":
        if "F_mm" not in feats:
            raise UserError(f"law {name!r} splits counted FLOPs by kind: use convention 'counted'")
        tf32 = tf32_slowdown(TF32_REFERENCE)  # convolutions tied to matmuls, TF32 in fp32
        cols.update(e_mm_fp32=feats["F_mm"] * f32,
                    e_half=(feats["F_mm"] + feats["F_conv"]) * half + tf32 * feats["F_conv"] * f32)
    return np.column_stack([np.asarray(cols[t], dtype=float) for t in LAW_TERMS[name]])


@dataclass(kw_only=True)
class PhysicalLaw(FittedLaw):
    """A fitted linear-in-energy law: non-negative coefficients, GPU factors, log-residual spread."""

    gpu_factor: dict[str, float] = field(default_factory=dict)  #: multiplicative factor per non-baseline GPU
    kind: str = "physical"

    def table(self) -> pd.DataFrame:
        rows = [dict(parameter=t, value=v, unit=UNITS[t], meaning=MEANING[t]) for t, v in self.coef.items()]
        rows += [dict(parameter=f"factor_{g}", value=v, unit="x", meaning=f"energy on {g} / on {self.baseline_gpu}")
                 for g, v in self.gpu_factor.items()]
        return pd.DataFrame(rows).set_index("parameter")

    def value(self, parameter: str) -> float:
        return float(self.coef.get(parameter, self.gpu_factor.get(parameter.removeprefix("factor_"), 0.0)))

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Energy (J for each row's ``n_prompts``) with an approximate ``level`` interval from the log
        residual spread (coefficient uncertainty not included)."""
        gpu_as = gpu_as or {}
        known = set(self.gpus) | {self.baseline_gpu}
        gpus = df["gpu"].astype(str).map(lambda g: gpu_as.get(g, g))
        for g in set(gpus):
            if g not in known:
                raise UserError(f"GPU {g!r} is not in this law (fitted on: {', '.join(sorted(known))}). Say how to "
                                 f"treat it, e.g. gpu_as={{'{g}': '{self.baseline_gpu}'}} (CLI: --treat-gpu-as "
                                 f"{self.baseline_gpu}), or fit a law on data from that GPU.")
        if (df["dtype"].astype(str) == "fp32").any() and "fp32" not in self.dtypes:
            raise UserError("dtype 'fp32' cannot be predicted by this law: its training data had no fp32 rows "
                             "(allowed here: fp16, bf16)")
        X = design(self.family, physical_features(df, self.convention))
        e = X @ np.array([self.coef[t] for t in LAW_TERMS[self.family]])
        e = e * gpus.map(lambda g: self.gpu_factor.get(g, 1.0)).to_numpy(float)
        return interval_frame(e, self.sigma, self.df_resid, level, df.index)


def fit_physical(df: pd.DataFrame, name: str = "linear", convention: str = "counted", baseline_gpu: str = "A100",
                 provenance: dict[str, Any] | None = None, **_: Any) -> PhysicalLaw:
    """Fit a linear-in-energy law by least squares on log residuals (scipy), coefficients >= 0."""
    from scipy import optimize

    if name not in PHYSICAL_LAWS:
        raise UserError(f"unknown physical law {name!r}; allowed: {', '.join(PHYSICAL_LAWS)}")
    df = ok_rows(df)
    if len(df) < len(LAW_TERMS[name]) + 2:
        raise UserError(f"need at least {len(LAW_TERMS[name]) + 2} ok rows to fit law {name!r}, got {len(df)}")
    X = design(name, physical_features(df, convention))
    y = np.log(df["energy_j"].to_numpy(float))
    gpus = sorted(df["gpu"].astype(str).unique())
    base = baseline_gpu if baseline_gpu in gpus else gpus[0]
    others = [g for g in gpus if g != base]
    G = (np.column_stack([(df["gpu"].astype(str) == g).to_numpy(float) for g in others]) if others
         else np.zeros((len(df), 0)))
    # Terms with no support in the data (e.g. fp32 when all rows are half precision) are dropped (= 0).
    active = [j for j in range(X.shape[1]) if np.any(X[:, j] > 0)]
    dropped = {LAW_TERMS[name][j]: "no rows with this term in the training data" for j in range(X.shape[1])
               if j not in active}
    Xa = X[:, active]
    c0, _ = optimize.nnls(Xa / np.exp(y)[:, None], np.ones(len(y)))  # relative least squares: a good start
    c0 = np.maximum(c0, 1e-9 * np.maximum(1.0, c0.max()))
    theta0 = np.concatenate([np.log(c0), np.zeros(len(others))])

    def resid(theta):
        c = np.exp(np.clip(theta[:len(active)], -60.0, 60.0))
        return np.log(Xa @ c) + (G @ theta[len(active):] if others else 0.0) - y

    sol = fitter.solve(resid, theta0, method="lm" if len(y) > len(theta0) else "trf")
    c = np.exp(np.clip(sol.x[:len(active)], -60.0, 60.0))
    r = resid(sol.x)
    coef = {t: 0.0 for t in LAW_TERMS[name]}
    for j, v in zip(active, c):
        coef[LAW_TERMS[name][j]] = float(v) if v > 1e-12 * c.max() else 0.0
    dfr = max(len(y) - len(active) - len(others), 1)
    names = [LAW_TERMS[name][j] for j in active] + [f"factor_{g}" for g in others]
    se = fitter.jacobian_se(sol.jac, float(np.sum(r ** 2) / dfr))
    return PhysicalLaw(name=name, convention=convention, coef=coef,
                       gpu_factor={g: float(np.exp(v)) for g, v in zip(others, sol.x[len(active):])},
                       sigma=float(np.sqrt(np.sum(r ** 2) / dfr)), df_resid=float(dfr), r2=fitter.r_squared(y, r),
                       n_obs=int(len(y)), baseline_gpu=base, gpus=gpus, models=sorted(df["model"].astype(str).unique()),
                       dtypes=sorted(df["dtype"].astype(str).unique()), frozen=dropped, domain=data_domain(df),
                       reference_prompts=reference_prompts_of(df), provenance=dict(provenance or {}, rows=int(len(df))),
                       se_log={n: float(v) for n, v in zip(names, se) if coef.get(n, 1.0) > 0},
                       resid_log=[float(v) for v in -r], fitted_j=[float(v) for v in np.exp(y + r)])


def physical_reading(law: PhysicalLaw, gpu: str = READING_REFERENCE) -> pd.DataFrame:
    """Fitted coefficients beside what ``gpu`` would spend at its power limit and peak rate (its row of
    ``data/gpus.csv``).

    ``at_peak`` = power limit / peak throughput: J/TFLOP for FLOPs (fp16 tensor cores, fp32 CUDA
    cores), J/GB for bytes at full bandwidth. ``implied_fraction`` = at_peak / fitted: the fraction of
    peak the workload would reach if it drew the full power limit throughout (an upper-bound reading).
    """
    spec = get_spec(gpu)
    p = float(spec.power_w)
    half, fp32 = float(spec.tflops_half), float(spec.tflops_fp32)
    ref = {"e_half": p / half, "e_fp32": p / fp32, "e_mm_fp32": p / fp32, "e_byte": p / float(spec.bandwidth_gb_s)}
    rows = []
    for t, v in law.coef.items():
        at_peak = ref.get(t, float("nan"))
        rows.append(dict(parameter=t, fitted=v, unit=UNITS[t], meaning=MEANING[t], at_power_limit_and_peak=at_peak,
                         implied_fraction=at_peak / v if v > 0 and at_peak == at_peak else float("nan")))
    return pd.DataFrame(rows)
