"""``ops``: one physical model of a run -- its time and its power by kind of operation -- from which net energy, time
and gross energy all follow.

Every image of a row is first turned into ideal seconds at the GPU's datasheet peaks, kind by kind, from the counted
features of each component pass (the workload frame, :func:`energy_nb.compute.workload.workload`, itself read from
the shapes the counting recorded, :mod:`energy_nb.compute.shapes`):

- ``x_gemm``: dense matrix products (and attention computed as plain batched products) over the tensor rate of the
  dtype; ``x_conv``: convolutions over the convolution rate; ``x_attn``: fused attention at the head dimension its
  kernel computes (FlashAttention's templates round 88 up to 96); ``x_softmax``: the attention scores (batch x
  heads x query x key length) over the special-function units' exponential rate (``r_exp``: SMs x 16 per clock x
  boost clock, ``data/gpus.csv``) -- each score's exponential runs there, not on the tensor cores, and that rate grew
  far less than the tensor rate from one generation to the next (A100 to H100: 1.6x against 3.2x; to B200: 1.9x
  against 7.2x), which is why long sequences get slower for their FLOPs on newer GPUs; ``k_softmax`` prices the
  maximum, sum and rescaling beside each exponential;
- ``x_memory``: bytes over the memory bandwidth (element-wise traffic of every pass -- norms, rotary embeddings,
  activations: memory-bound, not tensor-bound -- and the weights once per call: batching shares them); a half-precision
  run adds the dtype casts of its fp32 norms and rotary embeddings and reads those fp32 tensors at 4 bytes
  (``elem_cast``, ``elem_fp32``: :mod:`energy_nb.compute.counting`);
- ``K`` kernels (those casts included in half precision) and ``C`` component calls per image (a batch shares them).

The run's time and power are then :func:`energy_nb.laws.physics.run`'s (GPU time by kind, host time, their smooth
maximum, busy power by kind with occupancy, static power, the cap): net energy = power x time, gross = net + idle
power x time. Batching moves the mix: it shares the weights, kernels and calls of a pass, so the host share falls,
the busy share and the power rise, the time per image falls. Coefficients are fitted by least squares on log energy
(every row) and log time (rows with a latency, :func:`energy_nb.laws.fitter.solve`), with a weak pull toward
:data:`TERMS`' priors (a GPU engineer's defaults) or toward the coefficients of another fit (``prior=``: a model's own
rows refining the shared law); a term no training row gives 2% of its time is held at its prior (``frozen``).
Units: J, s, W.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import parallel
from ..compute.workload import Workload, codes, workload
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..models.configuration import Configuration
from . import fitter, physics
from .base import PricedLaw, interval_frame, reference_prompts_of, term_table, with_time
from .domain import data_domain, domain_flags

#: Coefficient -> (prior, lower bound, upper bound, unit, meaning).
TERMS: dict[str, tuple[float, float, float, str, str]] = {
    "k_gemm": (2.0, 1.0, 50.0, "x ideal time", "time of dense matrix products over their ideal time at peak"),
    "k_conv": (2.0, 1.0, 50.0, "x ideal time", "the same for convolutions"),
    "k_attention": (2.0, 1.0, 50.0, "x ideal time", "the same for fused attention at its kernel's head dimension"),
    "k_softmax": (1.5, 0.2, 20.0, "x ideal time", "time of attention's softmax over one exponential per score at the "
                  "special-function units' rate (the maximum, sum and rescaling beside it)"),
    "k_memory": (2.0, 1.0, 50.0, "x ideal time", "time of bytes moved over bytes / bandwidth"),
    "t_kernel_gpu_us": (2.0, 0.01, 50.0, "us", "GPU time per kernel beyond its work (launch latency, tail)"),
    "t_kernel_us": (20.0, 0.1, 200.0, "us", "host time per kernel launched (Python, dispatch, launch)"),
    "t_call_ms": (2.0, 0.001, 200.0, "ms", "host time per component call (pipeline and module overhead)"),
    "t_image_s": (0.05, 1e-4, 5.0, "s", "host time per image (scheduler, pre- and post-processing)"),
    "cap_exponent": (0.5, 1e-3, 1.0, "exponent", "how much of a GPU's datasheet FLOPs-per-watt gain over the "
                     "reference its tensor rate misses at the power limit (1: none of it, 0: all of it)"),
    "fp32": (1.0, 0.05, 2.0, "x datasheet", "time of fp32 work over its time at the datasheet's fp32 peaks"),
    "p_static": (0.1, 1e-3, 1.0, "x power limit", "net power per second of wall time"),
    "p_tensor": (0.8, 1e-3, 1.5, "x power limit", "extra net power per second of tensor-core work"),
    "p_memory": (0.5, 1e-3, 1.5, "x power limit", "extra net power per second of memory-bound work"),
    "p_cap": (0.95, 0.5, 1.0, "x power limit", "gross power a saturated GPU averages"),
    "t_fill_us": (5.0, 0.01, 1000.0, "us", "ideal tensor time per denoiser kernel at which busy power is half its "
                  "full-GPU value (small kernels fill few multiprocessors)"),
}
COEFS: tuple[str, ...] = tuple(TERMS)
#: Prior weight (log units).
PRIOR_WEIGHT = 0.1
_POWER = ("p_static", "p_tensor", "p_memory", "p_cap", "t_fill_us")


# ---------------------------------------------------------------------------------------------------
# Features: ideal seconds per image, by kind
# ---------------------------------------------------------------------------------------------------
def ops_features(df: pd.DataFrame, gpu_as: dict[str, str] | None = None, serial_only: bool = False,
                 w: Workload | None = None) -> pd.DataFrame:
    """Per image of each row, on one of its GPUs: ideal seconds by kind (``x_gemm``, ``x_conv``, ``x_attn``,
    ``x_softmax``, ``x_memory``), kernels ``K`` and component calls ``C``; ``tau``, the ideal tensor seconds of one
    denoiser kernel at the row's batch; the GPU's power limit ``P`` and idle power ``I`` (W), its datasheet efficiency
    ``s`` and the fp32 flag. A row on ``num_gpus`` GPUs splits the denoiser's work (not its weights, kernels or calls)
    over them by :func:`energy_nb.compute.parallel.share`; ``serial_only``: the parts no GPU count splits (text
    encoders and VAE decoder) alone. ``w``: the rows' workload frame, when the caller has it."""
    w = w if w is not None else workload(df, gpu_as, hardware=True)
    part = np.ones(len(df))
    if (w["num_gpus"] > 1).any():
        code, distinct = codes(df.fillna({"num_gpus": 1}), ["model", "height", "width", "num_gpus"])
        part = np.array([1.0 if n == 1 else parallel.share(str(m), h, wd, n) for m, h, wd, n in distinct])[code]
    r_mm, r_conv, bandwidth = w["r_mm"], w["r_conv"], w["bw"] * 1e9
    work = w["den_matmul"] + w["den_attn"] + w["den_conv"]
    x = dict(x_gemm=0.0, x_conv=0.0, x_attn=0.0, x_softmax=0.0, x_memory=0.0, K=0.0, C=0.0)
    x["tau"] = (w["den_passes"] / w["den_calls"]) * work / r_mm / np.maximum(w["den_kernels"], 1.0) * part
    for c in ("text", "vae") if serial_only else ("den", "text", "vae"):
        passes, calls = w[f"{c}_passes"], w[f"{c}_calls"]
        if c == "den":
            passes = passes / (1.0 / part)  # each GPU computes its share of the tokens; every GPU holds the weights
        x["x_gemm"] = x["x_gemm"] + passes * (w[f"{c}_matmul"] + w[f"{c}_attn"] - w[f"{c}_attn_fused"]) / r_mm
        x["x_conv"] = x["x_conv"] + passes * w[f"{c}_conv"] / r_conv
        x["x_attn"] = x["x_attn"] + passes * w[f"{c}_attn_padded"] / r_mm
        x["x_softmax"] = x["x_softmax"] + passes * (w[f"{c}_scores"] + w[f"{c}_scores_unfused"]) / w["r_exp"]
        half = 1.0 - w["fp32"]  # what a half-precision run adds: fp32 casts, and fp32 tensors at 4 bytes
        elem = (w[f"{c}_elem"] + half * w[f"{c}_elem_cast"]) * w["bpe"] + half * w[f"{c}_elem_fp32"] * (4 - w["bpe"])
        x["x_memory"] = x["x_memory"] + (passes * elem + calls * w[f"{c}_params"] * w["bpe"]) / bandwidth
        x["K"] = x["K"] + calls * (w[f"{c}_kernels"] + half * w[f"{c}_kernels_cast"])
        x["C"] = x["C"] + np.where(w[f"{c}_kernels"] != 0, calls, 0.0)
    return w.frame(dict(x, P=w["P"], I=w["I"], s=w["s"], fp32=w["fp32"]))


# ---------------------------------------------------------------------------------------------------
# The fitted law
# ---------------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class OpsLaw(PricedLaw):
    """Time and power by kind of operation (see the module docstring): energy, time and gross from one model."""

    kind: str = "ops"
    prior: dict[str, float] = field(default_factory=dict)  #: the coefficients it was pulled toward (empty: TERMS')
    timed_domain: dict[str, Any] = field(default_factory=dict)  #: what its rows with a latency cover

    def table(self) -> pd.DataFrame:
        return term_table(self.coef, {t: v[3] for t, v in TERMS.items()}, {t: v[4] for t, v in TERMS.items()},
                          self.frozen)

    def evaluate(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """:func:`energy_nb.laws.physics.run` on the rows of ``df`` (per image)."""
        return physics.run(self.coef, ops_features(df, gpu_as))

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Net energy (J for each row's ``n_prompts``) with an interval from the log residual spread, and the time
        per image (``time_pred_s``); any GPU with a datasheet entry is priced."""
        v = self.evaluate(df, gpu_as)
        out = interval_frame(v["energy"] * df["n_prompts"].to_numpy(float), self.sigma, self.df_resid, level,
                             df.index)
        return with_time(out, v["time"], self.time_sigma, self.n_timed, len(self.coef), level)

    def time_parts(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per image of each row: seconds by kind (``gemm_s``, ``conv_s``, ``attention_s``, ``softmax_s``,
        ``memory_s``, ``kernels_s``: the GPU's), ``host_s``, the wall time ``time_s``, net power ``power_w`` and the
        idle power ``idle_w`` (W)."""
        v = self.evaluate(df)
        cols = ("gemm", "conv", "attention", "softmax", "memory", "kernels", "host", "time", "power", "idle")
        return pd.DataFrame({(f"{k}_w" if k in ("power", "idle") else f"{k}_s"): v[k] for k in cols}, index=df.index)

    def time_extrapolation(self, config: Configuration, gpu_as: dict[str, str] | None = None) -> list[str]:
        """Reasons why ``config``'s time lies outside the law's rows with a measured latency (empty: inside): its
        time is then the physics of those rows, carried to another model, GPU or configuration."""
        if not self.timed_domain:
            return [f"no training row of law {self.name!r} has a latency: its time is its priors' physics"]
        return domain_flags(self.timed_domain, config, self.baseline_gpu, gpu_as=gpu_as,
                            what=f"the {self.n_timed} timed rows of law {self.name!r}", gpu_term=False)

    def run_parts(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        v = self.evaluate(df, gpu_as)
        return physics.parts(v["gpu"], v["host"], v["static_w"], v["busy_j"], v["cap_w"], df.index)


def _frozen(X: pd.DataFrame, timed: np.ndarray, prior: dict[str, float]) -> dict[str, str]:
    """Terms the training rows cannot identify, held at their prior, and why."""
    v = physics.run(prior, X)
    share = {c: v[kind] for kind, c in physics.KINDS.items()}
    share.update(t_kernel_gpu_us=v["kernels"], t_kernel_us=prior["t_kernel_us"] * 1e-6 * X["K"].to_numpy(float),
                 t_call_ms=prior["t_call_ms"] * 1e-3 * X["C"].to_numpy(float),
                 t_image_s=np.full(len(X), prior["t_image_s"]))
    out = fitter.unidentified(share, v["gpu"] + v["host"])
    if X["s"].nunique() < 2:
        out["cap_exponent"] = "every training row is on GPUs of one datasheet efficiency"
    if not (X["fp32"] > 0).any():
        out["fp32"] = "no training row is fp32"
    if not timed.any():
        out.update({p: "no training row has a latency" for p in _POWER})
    return out


def fit_ops(df: pd.DataFrame, name: str = "ops", baseline_gpu: str = "A100", provenance: dict[str, Any] | None = None,
            prior: dict[str, float] | None = None, prior_weight: float = PRIOR_WEIGHT, **_: Any) -> OpsLaw:
    """Fit :class:`OpsLaw` on the ``ok`` rows of ``df`` (net energy of every row, and ``time_s`` where present) by
    bounded least squares on log residuals, pulled toward ``prior`` (default :data:`TERMS`' priors)."""
    df = ok_rows(df)
    centre = {c: TERMS[c][0] for c in COEFS}
    centre.update({c: float(v) for c, v in (prior or {}).items() if c in centre})
    if df.empty:  # the pull toward the prior makes any number of rows well posed
        raise UserError(f"no ok rows to fit law {name!r} on")
    X = ops_features(df)
    n = df["n_prompts"].to_numpy(float)
    y = np.log(df["energy_j"].to_numpy(float) / n)
    timed = df["time_s"].notna().to_numpy() if "time_s" in df else np.zeros(len(df), bool)
    yt = np.log(df.loc[timed, "time_s"].to_numpy(float))
    frozen = _frozen(X, timed, centre)
    free = [c for c in COEFS if c not in frozen]
    lo, hi = np.log([TERMS[c][1] for c in free]), np.log([TERMS[c][2] for c in free])
    mid = np.clip(np.log([centre[c] for c in free]), lo + 1e-9, hi - 1e-9)

    def coef_of(theta: np.ndarray) -> dict[str, float]:
        return {**centre, **dict(zip(free, np.exp(theta)))}

    def resid(theta: np.ndarray) -> np.ndarray:
        v = physics.run(coef_of(theta), X)
        return np.concatenate([np.log(v["energy"]) - y, np.log(v["time"][timed]) - yt])

    sol = fitter.solve(resid, mid, lo, hi, pull=mid, weight=prior_weight)
    coef = coef_of(sol.x)
    v = physics.run(coef, X)
    fit = fitter.summary(sol, y, np.log(v["energy"]) - y, free, coef, frozen, v["energy"] * n,
                         np.log(v["time"][timed]) - yt if timed.any() else None)
    gpus = sorted(df["gpu"].astype(str).unique())
    return OpsLaw(name=name, **fit.fields(), baseline_gpu=baseline_gpu if baseline_gpu in gpus else gpus[0],
                  gpus=gpus, models=sorted(df["model"].astype(str).unique()),
                  dtypes=sorted(df["dtype"].astype(str).unique()), domain=data_domain(df),
                  reference_prompts=reference_prompts_of(df), provenance=provenance or {}, prior=dict(prior or {}),
                  timed_domain=data_domain(df[timed]) if timed.any() else {})
