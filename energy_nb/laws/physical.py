"""Physically motivated energy laws (the paper's Eq. 3 is in :mod:`energy_nb.fit`; both are reached
through the registry in :mod:`energy_nb.laws`).

These laws are **linear in energy** with non-negative coefficients shared by all models, fitted by
least squares on log residuals (so they minimise relative error, like the paper's law). For ``N``
prompts of ``T`` steps with CFG factor ``g = 2^cfg``, the building blocks (:func:`physical_features`) are

- ``S = N T g`` denoiser passes, ``F_step`` TFLOPs per pass, ``F_fix`` TFLOPs per image outside the
  loop (text encoders, ``g`` times for the negative prompt, plus the VAE decoder);
- ``W_step`` GB of denoiser weights read per call (parameters x bytes per element of the dtype);
- ``K_step`` kernels launched per call (thousands).

``linear``
    ``E = e[dtype] (S F_step + N F_fix)``: one energy per FLOP for half precision and one for fp32.
``overhead``
    ``linear`` plus a fixed energy per denoiser pass ``c_step S`` and per image ``c_img N``.
``roofline``
    ``overhead`` plus memory traffic ``e_byte S W_step``: a roofline-style sum of a compute and a
    memory term, with the precision entering through the J/FLOP and the bytes per element.
``roofline_ops``
    ``roofline`` with the FLOPs split by kind (matrix products and attention vs convolutions), each
    with its own J/FLOP per precision: on an A100, fp32 convolutions run on TF32 tensor cores by
    PyTorch's default while fp32 matrix products do not. Needs the ``counted`` convention.

``roofline_tc``
    ``roofline`` with a hardware prior instead of free convolution coefficients: a convolution FLOP
    costs what a matmul FLOP costs in half precision (same tensor cores), and twice that in fp32 (TF32
    runs at half the fp16 peak on an A100); fp32 matmuls keep their own coefficient.
``roofline_tc_kernels``
    ``roofline_tc`` with the fixed cost per denoiser call replaced by a cost per kernel launched
    (ATen operators of one call, counted on the meta device): a U-Net launches far fewer kernels per
    call than a 60-layer transformer.
``roofline_tc_attention``
    ``roofline_tc_kernels`` with attention FLOPs (batched matmuls) priced separately.

Denoiser calls: SD2 and SD3.5 run CFG as one call on a batch of two, Flux and Qwen-Image as a second
call (registry flag ``cfg_batched``); FLOPs double with CFG either way, weights and kernels only with
a second call.

Units: energy in J; FLOPs in TFLOPs; bytes in GB; so ``e`` is J/TFLOP (= pJ/FLOP), ``e_byte`` J/GB
(= nJ/byte), ``c_step`` and ``c_img`` J. A GPU other than the baseline gets a multiplicative factor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ..compute import features
from ..compute.flops import check_convention, model_flops
from ..core.errors import UserError
from ..core.frames import rows as frame_rows
from ..core.units import BYTES_PER_ELEMENT, DTYPES
from ..data.schema import ok_rows
from ..models.hardware import get_spec, tf32_slowdown
from ..models.registry import get_model
from .base import LawMixin, data_domain, interval_frame, reference_prompts_of

#: The GPU whose tensor cores set the TF32 rule of the ``roofline_tc*`` laws (fp16 peak over TF32 peak:
#: :func:`energy_nb.models.hardware.tf32_slowdown`), the GPU of the paper's tables.
TF32_REFERENCE = "A100"
#: The datasheet the coefficients are read against (:func:`physical_reading`): the paper does not say SXM or
#: PCIe; the PCIe card has a 300 W limit and 1,935 GB/s.
READING_REFERENCE = "A100-SXM4-80GB"
PHYSICAL_LAWS: tuple[str, ...] = ("linear", "overhead", "roofline", "roofline_ops", "roofline_tc",
                                   "roofline_tc_kernels", "roofline_tc_attention")

#: Terms of each physical law (coefficient names).
LAW_TERMS: dict[str, tuple[str, ...]] = {
    "linear": ("e_half", "e_fp32"),
    "overhead": ("e_half", "e_fp32", "c_step", "c_img"),
    "roofline": ("e_half", "e_fp32", "e_byte", "c_step", "c_img"),
    "roofline_ops": ("e_mm_half", "e_mm_fp32", "e_conv_half", "e_conv_fp32", "e_byte", "c_step", "c_img"),
    "roofline_tc": ("e_half", "e_mm_fp32", "e_byte", "c_step", "c_img"),
    "roofline_tc_kernels": ("e_half", "e_mm_fp32", "e_byte", "e_kernel", "c_img"),
    "roofline_tc_attention": ("e_half", "e_attn_half", "e_mm_fp32", "e_attn_fp32", "e_byte", "e_kernel", "c_img"),
}
UNITS = {
    "e_attn_half": "J/TFLOP",
    "e_attn_fp32": "J/TFLOP",
    "e_kernel": "J per 1000 kernels",
    "e_half": "J/TFLOP",
    "e_fp32": "J/TFLOP",
    "e_mm_half": "J/TFLOP",
    "e_mm_fp32": "J/TFLOP",
    "e_conv_half": "J/TFLOP",
    "e_conv_fp32": "J/TFLOP",
    "e_byte": "J/GB",
    "c_step": "J per pass",
    "c_img": "J per image",
}
MEANING = {
    "e_attn_half": "per attention FLOP, fp16/bf16",
    "e_attn_fp32": "per attention FLOP, fp32",
    "e_kernel": "fixed cost per kernel launched",
    "e_half": "energy per FLOP, fp16/bf16",
    "e_fp32": "energy per FLOP, fp32",
    "e_mm_half": "per matmul/attention FLOP, fp16/bf16",
    "e_mm_fp32": "per matmul/attention FLOP, fp32",
    "e_conv_half": "per convolution FLOP, fp16/bf16",
    "e_conv_fp32": "per convolution FLOP, fp32",
    "e_byte": "per byte of weights read per denoiser pass",
    "c_step": "fixed cost of a denoiser pass",
    "c_img": "fixed cost of an image",
}


# ---------------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------------
@cache
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
            out[f"{prefix}_attn"] = c["attn"] / 1e12
            out[f"{prefix}_conv"] = c["conv"] / 1e12
    return out


def physical_features(df: pd.DataFrame, convention: str = "counted") -> pd.DataFrame:
    """Per row (all ``n_prompts`` images, ``batch_size`` per pipeline call): denoiser calls ``S``, images ``N``,
    TFLOPs in and outside the
    loop (by kind when counted), GB of weights read, kernels launched (thousands), fp32 indicator."""
    check_convention(convention)
    rows = []
    has_batch = "batch_size" in df
    for r in frame_rows(df, ("model", "height", "width", "steps", "cfg", "n_prompts", "dtype")
                  + (("batch_size",) if has_batch else ())):
        g = _geometry(str(r.model), int(r.height), int(r.width), convention)
        n, cfgf = float(r.n_prompts), 2.0 if int(r.cfg) else 1.0
        b = float(getattr(r, "batch_size", 1) or 1)  # images per pipeline call share weights and kernels
        s = n * int(r.steps) * cfgf  # denoiser work units (FLOPs double with CFG)
        calls = n * int(r.steps) * (1.0 if get_model(str(r.model)).cfg_batched else cfgf) / b  # denoiser calls
        dtype = str(r.dtype)
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
        row = dict(S=calls, N=n, F_loop=s * g["F_step"], F_fix=n * (cfgf * g["F_text"] + g["F_dec"]),
                   W=calls * g["params_b"] * BYTES_PER_ELEMENT[dtype], K=calls * g["kernels_k"],
                   fp32=float(dtype == "fp32"))
        if convention == "counted":
            row["F_mm"] = s * g["F_step_mm"] + n * (cfgf * g["F_text_mm"] + g["F_dec_mm"])
            row["F_conv"] = s * g["F_step_conv"] + n * (cfgf * g["F_text_conv"] + g["F_dec_conv"])
            row["F_attn"] = s * g["F_step_attn"] + n * (cfgf * g["F_text_attn"] + g["F_dec_attn"])
        rows.append(row)
    return pd.DataFrame(rows, index=df.index)


def design(name: str, feats: pd.DataFrame) -> np.ndarray:
    """The non-negative design matrix of law ``name`` (columns in ``LAW_TERMS[name]`` order)."""
    half, f32 = 1.0 - feats["fp32"], feats["fp32"]
    F = feats["F_loop"] + feats["F_fix"]
    cols = {"e_half": F * half, "e_fp32": F * f32, "e_byte": feats["W"], "c_step": feats["S"], "c_img": feats["N"],
            "e_kernel": feats["K"]}
    if name.startswith("roofline_") :
        if "F_mm" not in feats:
            raise UserError(f"law {name!r} splits counted FLOPs by kind: use convention 'counted'")
        cols.update(e_mm_half=feats["F_mm"] * half, e_mm_fp32=feats["F_mm"] * f32,
                    e_conv_half=feats["F_conv"] * half, e_conv_fp32=feats["F_conv"] * f32)
        tf32 = tf32_slowdown(TF32_REFERENCE)
        if name in ("roofline_tc", "roofline_tc_kernels"):  # convolutions tied to matmuls, TF32 in fp32
            cols["e_half"] = (feats["F_mm"] + feats["F_conv"]) * half + tf32 * feats["F_conv"] * f32
        if name == "roofline_tc_attention":
            cols["e_half"] = ((feats["F_mm"] - feats["F_attn"] + feats["F_conv"]) * half
                              + tf32 * feats["F_conv"] * f32)
            cols["e_attn_half"] = feats["F_attn"] * half
            cols["e_mm_fp32"] = (feats["F_mm"] - feats["F_attn"]) * f32
            cols["e_attn_fp32"] = feats["F_attn"] * f32

    return np.column_stack([np.asarray(cols[t], dtype=float) for t in LAW_TERMS[name]])


# ---------------------------------------------------------------------------------------------------
# The fitted physical law
# ---------------------------------------------------------------------------------------------------
@dataclass
class PhysicalLaw(LawMixin):
    """A fitted linear-in-energy law: non-negative coefficients, GPU factors, log-residual spread."""

    name: str
    convention: str
    coef: dict[str, float]
    gpu_factor: dict[str, float]  #: multiplicative factor per non-baseline GPU
    sigma: float  #: s.d. of log residuals on the training data
    df_resid: float
    r2: float  #: R^2 in log space on the training data
    n_obs: int
    baseline_gpu: str
    gpus: list[str]
    models: list[str]
    dtypes: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    kind: str = "physical"
    domain: dict[str, Any] = field(default_factory=dict)  #: what the training rows cover (extrapolation checks)
    reference_prompts: int = 100  #: N of the data (the law is linear in N: per-image energy is the same at any N)
    provenance: dict[str, Any] = field(default_factory=dict)
    se_log: dict[str, float] = field(default_factory=dict)  #: standard error of each parameter's log (Jacobian)
    resid_log: list[float] = field(default_factory=list)  #: ln(measured / fitted) of each training row
    fitted_j: list[float] = field(default_factory=list)  #: fitted energy (J) of each training row's prompts

    @property
    def law(self) -> str:
        """The registry law this is (``name`` without the model a law fitted on one model's rows names)."""
        return self.name.split(" (")[0]

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
        X = design(self.law, physical_features(df, self.convention))
        e = X @ np.array([self.coef[t] for t in LAW_TERMS[self.law]])
        e = e * gpus.map(lambda g: self.gpu_factor.get(g, 1.0)).to_numpy(float)
        return interval_frame(e, self.sigma, self.df_resid, level, df.index)

    def term_shares(self, df: pd.DataFrame) -> pd.DataFrame:
        """Fraction of each row's predicted energy that each term contributes (rows sum to 1)."""
        X = design(self.law, physical_features(df, self.convention))
        parts = X * np.array([self.coef[t] for t in LAW_TERMS[self.law]])
        total = parts.sum(axis=1, keepdims=True)
        return pd.DataFrame(parts / np.where(total > 0, total, 1.0), columns=list(LAW_TERMS[self.law]), index=df.index)


def fit_physical(name: str, df: pd.DataFrame, convention: str = "counted", baseline_gpu: str = "A100",
                 provenance: dict[str, Any] | None = None) -> PhysicalLaw:
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
    scale = np.exp(y)
    c0, _ = optimize.nnls(Xa / scale[:, None], np.ones(len(y)))  # relative least squares: a good start
    c0 = np.maximum(c0, 1e-9 * np.maximum(1.0, c0.max()))
    theta0 = np.concatenate([np.log(c0), np.zeros(len(others))])

    def resid(theta):
        c = np.exp(np.clip(theta[:len(active)], -60.0, 60.0))
        return np.log(Xa @ c) + (G @ theta[len(active):] if others else 0.0) - y

    sol = optimize.least_squares(resid, theta0, method="lm" if len(y) > len(theta0) else "trf")
    c = np.exp(np.clip(sol.x[:len(active)], -60.0, 60.0))
    r = resid(sol.x)
    coef = {t: 0.0 for t in LAW_TERMS[name]}
    for j, v in zip(active, c):
        coef[LAW_TERMS[name][j]] = float(v) if v > 1e-12 * c.max() else 0.0
    k = len(active) + len(others)
    dfr = max(len(y) - k, 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    names = [LAW_TERMS[name][j] for j in active] + [f"factor_{g}" for g in others]
    se = jacobian_se(sol.jac, float(np.sum(r ** 2) / dfr))
    return PhysicalLaw(name=name, convention=convention, coef=coef,
                       gpu_factor={g: float(np.exp(v)) for g, v in zip(others, sol.x[len(active):])},
                       sigma=float(np.sqrt(np.sum(r ** 2) / dfr)), df_resid=float(dfr),
                       r2=float(1 - np.sum(r ** 2) / ss) if ss > 0 else float("nan"), n_obs=int(len(y)),
                       baseline_gpu=base, gpus=gpus, models=sorted(df["model"].astype(str).unique()),
                       dtypes=sorted(df["dtype"].astype(str).unique()), dropped=dropped, domain=data_domain(df),
                       reference_prompts=reference_prompts_of(df),
                       provenance=dict(provenance or {}, rows=int(len(df))),
                       se_log={n: float(v) for n, v in zip(names, se) if coef.get(n, 1.0) > 0},
                       resid_log=[float(v) for v in -r], fitted_j=[float(v) for v in np.exp(y + r)])


def jacobian_se(jac: np.ndarray, s2: float) -> np.ndarray:
    """Standard errors of nonlinear least-squares parameters: ``sqrt(diag(s2 (J'J)^+))`` at the solution."""
    J = np.asarray(jac, dtype=float)
    return np.sqrt(np.clip(np.diag(s2 * np.linalg.pinv(J.T @ J)), 0.0, None))


def physical_reading(law: PhysicalLaw, gpu: str = READING_REFERENCE) -> pd.DataFrame:
    """Fitted coefficients beside what ``gpu`` would spend at its power limit and peak rate (its row of
    ``data/gpus.csv``).

    ``at_peak`` = power limit / peak throughput: J/TFLOP for FLOPs (fp16 tensor cores, fp32 CUDA
    cores), J/GB for bytes at full bandwidth. ``implied_fraction`` = at_peak / fitted: the fraction of
    peak the workload would reach if it drew the full power limit throughout (an upper-bound reading).
    """
    spec = get_spec(gpu)
    p = float(spec.power_w)
    half, fp32, tf32 = float(spec.tflops_half), float(spec.tflops_fp32), float(spec.tflops_tf32)
    ref = {"e_half": p / half, "e_mm_half": p / half, "e_conv_half": p / half, "e_fp32": p / fp32,
           "e_mm_fp32": p / fp32, "e_conv_fp32": p / tf32, "e_attn_half": p / half, "e_attn_fp32": p / fp32,
           "e_byte": p / float(spec.bandwidth_gb_s)}
    rows = []
    for t, v in law.coef.items():
        at_peak = ref.get(t, float("nan"))
        rows.append(dict(parameter=t, fitted=v, unit=UNITS[t], meaning=MEANING[t], at_power_limit_and_peak=at_peak,
                         implied_fraction=at_peak / v if v > 0 and at_peak == at_peak else float("nan")))
    return pd.DataFrame(rows)
