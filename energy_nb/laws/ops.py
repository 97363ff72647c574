"""``ops``: one physical model of a run -- its time and its power by kind of operation -- from which net energy, time
and gross energy all follow.

Every image of a row is first turned into ideal seconds at the GPU's datasheet peaks, kind by kind, from the counted
features of each component pass (:func:`energy_nb.compute.features.geometry`, itself read from the shapes the
counting recorded, :mod:`energy_nb.compute.shapes`):

- ``x_gemm``: dense matrix products (and attention computed as plain batched products) over the tensor rate of the
  dtype; ``x_conv``: convolutions over the convolution rate; ``x_attn``: fused attention at the head dimension its
  kernel computes (FlashAttention's templates round 88 up to 96); ``x_softmax``: the attention scores (batch x
  heads x query x key length) over the tensor rate -- the exponent, maximum and sum of each score, which do not
  run on the tensor cores, priced as ``k_softmax`` FLOPs each;
- ``x_memory``: bytes over the memory bandwidth (element-wise traffic of every pass, and the weights once per call:
  batching shares them);
- ``K`` kernels and ``C`` component calls per image (a batch shares them).

Then, with ``P`` the GPU's power limit, ``I`` its idle power and ``s`` its datasheet FLOPs per watt over
:data:`~energy_nb.laws.transfer.REFERENCE_GPU`'s:

- **time**: the GPU is busy for ``t_gpu = t_tensor + t_memory`` with ``t_tensor = s^cap_exponent (k_gemm x_gemm +
  k_conv x_conv + k_attention x_attn + k_softmax x_softmax)`` (``k >= 1``: no kernel beats its peak; a GPU whose
  datasheet promises more FLOPs per watt runs at its power limit, not its peak, hence ``s^cap_exponent``; fp32
  work also times ``fp32``) and ``t_memory = k_memory x_memory + t_kernel_gpu K``; the host needs ``t_host =
  t_kernel K + t_call C + t_image`` (Python, dispatch and launches); the wall time is their smooth maximum
  (:data:`~energy_nb.laws.transfer.SMOOTH_MAX`);
- **power** above idle: ``P (p_static + occ (p_tensor t_tensor / t + p_memory t_memory / t))`` -- tensor-core work
  draws more than memory-bound work, a host-bound GPU draws its static share, and small kernels fill few
  multiprocessors: ``occ = tau / (tau + t_fill)``, ``tau`` the ideal tensor seconds of one denoiser kernel at the
  row's batch --, capped at ``p_cap P - I`` (a GPU averages just under its limit when it saturates);
- **energy** (net of idle) = power x time; **gross** = net + ``I`` x time.

Batching moves the mix: it shares the weights, kernels and calls of a pass, so the host share falls, the busy share
and the power rise, the time per image falls. Coefficients are fitted by least squares on log energy (every row) and
log time (rows with a latency), with a weak pull toward :data:`PRIORS` (a GPU engineer's defaults) or toward the
coefficients of another fit (``prior=``: a model's own rows refining the shared law); a term no training row gives
:data:`MIN_SHARE` of its time is held at its prior (``frozen``). Units: J, s, W.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import features, parallel
from ..core.errors import UserError
from ..core.frames import rows as frame_rows
from ..core.units import BYTES_PER_ELEMENT, DTYPES
from ..data.schema import ok_rows
from ..models.configuration import Configuration
from ..models.hardware import get_spec, idle_power_or_estimate
from .base import data_domain, domain_flags, interval_frame, reference_prompts_of, with_time
from .transfer import SMOOTH_MAX, PricedLaw, _efficiency, _gpu_name

#: Coefficient -> (prior, lower bound, upper bound, unit, meaning).
TERMS: dict[str, tuple[float, float, float, str, str]] = {
    "k_gemm": (2.0, 1.0, 50.0, "x ideal time", "time of dense matrix products over their ideal time at peak"),
    "k_conv": (2.0, 1.0, 50.0, "x ideal time", "the same for convolutions"),
    "k_attention": (2.0, 1.0, 50.0, "x ideal time", "the same for fused attention at its kernel's head dimension"),
    "k_softmax": (100.0, 1.0, 2000.0, "FLOPs per score", "tensor-rate FLOPs each attention score's softmax costs"),
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
#: Kinds of time a prediction is split into (:meth:`OpsLaw.time_parts`), each with the coefficient of its time.
KINDS: dict[str, str] = dict(gemm="k_gemm", conv="k_conv", attention="k_attention", softmax="k_softmax",
                             memory="k_memory")
#: Prior weight (log units) and the identifiability threshold of a term.
PRIOR_WEIGHT = 0.1
MIN_SHARE = 0.02
_POWER = ("p_static", "p_tensor", "p_memory", "p_cap", "t_fill_us")


# ---------------------------------------------------------------------------------------------------
# Features: ideal seconds per image, by kind
# ---------------------------------------------------------------------------------------------------
def ops_features(df: pd.DataFrame, gpu_as: dict[str, str] | None = None, serial_only: bool = False) -> pd.DataFrame:
    """Per image of each row, on one of its GPUs: ideal seconds by kind (``x_gemm``, ``x_conv``, ``x_attn``,
    ``x_softmax``, ``x_memory``), kernels ``K`` and component calls ``C``; ``tau``, the ideal tensor seconds of one
    denoiser kernel at the row's batch; the GPU's power limit ``P`` and idle power ``I`` (W), its datasheet efficiency
    ``s`` and the fp32 flag. A row on ``num_gpus`` GPUs splits the denoiser's work (not its weights, kernels or calls)
    over them by :func:`energy_nb.compute.parallel.share`; ``serial_only``: the parts no GPU count splits (text
    encoders and VAE decoder) alone."""
    gpu_as = gpu_as or {}
    out = []
    extra = tuple(c for c in ("batch_size", "gpu_part", "num_gpus") if c in df)
    specs: dict[str, Any] = {}  # per GPU name, once per call: the table lookups cost more than the row's arithmetic
    idles: dict[str, float] = {}
    for r in frame_rows(df, ("model", "height", "width", "steps", "cfg", "dtype", "gpu") + extra):
        dtype = str(r.dtype)
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
        name = gpu_as.get(str(r.gpu), _gpu_name(r))
        if name not in specs:
            specs[name] = (get_spec(name), _efficiency(get_spec(name)))
        spec, eff = specs[name]
        r_mm, r_conv = spec.rates(dtype)
        g = features.geometry(str(r.model), int(r.height), int(r.width))
        b = float(getattr(r, "batch_size", 1) or 1)
        cfgf = 2.0 if int(r.cfg) else 1.0
        steps = float(r.steps)
        n = int(getattr(r, "num_gpus", 1) or 1)
        part = 1.0 if n == 1 else parallel.share(str(r.model), int(r.height), int(r.width), n)
        parts = ((g["den"], steps * cfgf, steps * (1.0 if g["batched"] else cfgf) / b, 1.0 / part),
                 (g["text"], cfgf, cfgf / b, 1.0), (g["vae"], 1.0, 1.0 / b, 1.0))
        bpe = BYTES_PER_ELEMENT[dtype]
        x = dict(x_gemm=0.0, x_conv=0.0, x_attn=0.0, x_softmax=0.0, x_memory=0.0, K=0.0, C=0.0)
        den, dpass, dcall, _ = parts[0]
        work = den["matmul"] + den["attn"] + den["conv"]
        x["tau"] = (dpass / dcall) * work / r_mm / max(den["kernels"], 1.0) * part
        for comp, passes, calls, shard in parts[1:] if serial_only else parts:
            passes /= shard  # each GPU computes its share of the tokens; every GPU holds the weights
            x["x_gemm"] += passes * (comp["matmul"] + comp["attn"] - comp["attn_fused"]) / r_mm
            x["x_conv"] += passes * comp["conv"] / r_conv
            x["x_attn"] += passes * comp["attn_padded"] / r_mm
            x["x_softmax"] += passes * (comp["scores"] + comp["scores_unfused"]) / r_mm
            x["x_memory"] += (passes * comp["elem"] + calls * comp["params"]) * bpe / (spec.bandwidth_gb_s * 1e9)
            x["K"] += calls * comp["kernels"]
            x["C"] += calls if comp["kernels"] else 0.0
        family = gpu_as.get(str(r.gpu), str(r.gpu))  # its idle power: the footing the records were made net on
        if family not in idles:
            idles[family] = float(idle_power_or_estimate(family)[0])
        out.append(dict(x, P=float(spec.power_w), I=idles[family], s=eff, fp32=float(dtype == "fp32")))
    return pd.DataFrame(out, index=df.index)


def _smooth_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a ** SMOOTH_MAX + b ** SMOOTH_MAX) ** (1 / SMOOTH_MAX)


def evaluate(coef: dict[str, float], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per image: seconds by kind (``gemm``, ``conv``, ``attention``, ``softmax``, ``memory``, ``kernels``), the
    tensor, memory, GPU, host and wall times, net power (W) and net energy (J) of law coefficients ``coef``."""
    v = {k: X[k].to_numpy(float) for k in X.columns}
    gain = v["s"] ** coef["cap_exponent"] * np.where(v["fp32"] > 0, coef["fp32"], 1.0)
    out = dict(gemm=gain * coef["k_gemm"] * v["x_gemm"], conv=gain * coef["k_conv"] * v["x_conv"],
               attention=gain * coef["k_attention"] * v["x_attn"], softmax=gain * coef["k_softmax"] * v["x_softmax"],
               memory=coef["k_memory"] * v["x_memory"], kernels=coef["t_kernel_gpu_us"] * 1e-6 * v["K"])
    out["tensor"] = out["gemm"] + out["conv"] + out["attention"] + out["softmax"]
    out["mem"] = out["memory"] + out["kernels"]
    out["comm"] = v.get("comm_s", np.zeros(len(X)))  # GPU-to-GPU communication (several GPUs per image), priced
    out["gpu"] = out["tensor"] + out["mem"] + out["comm"]
    out["host"] = coef["t_kernel_us"] * 1e-6 * v["K"] + coef["t_call_ms"] * 1e-3 * v["C"] + coef["t_image_s"]
    if "host_x" in v:  # several GPUs per image: every step waits for the slowest host (energy_nb.laws.parallel)
        out["host"] = out["host"] * v["host_x"]
    t = _smooth_max(out["gpu"], out["host"])
    P = v["P"]
    occ = v["tau"] / (v["tau"] + coef["t_fill_us"] * 1e-6)
    out.update(time=t, static_w=coef["p_static"] * P, cap_w=np.maximum(coef["p_cap"] * P - v["I"], 1e-3 * P),
               busy_j=occ * P * (coef["p_tensor"] * out["tensor"] + coef["p_memory"] * out["mem"])
               + coef.get("p_comm", 0.0) * P * out["comm"], idle=v["I"])
    out["energy"] = np.minimum(out["static_w"] * t + out["busy_j"], out["cap_w"] * t)
    out["power"] = out["energy"] / t
    return out


# ---------------------------------------------------------------------------------------------------
# The fitted law
# ---------------------------------------------------------------------------------------------------
@dataclass
class OpsLaw(PricedLaw):
    """Time and power by kind of operation (see the module docstring): energy, time and gross from one model."""

    kind: str = "ops"
    prior: dict[str, float] = field(default_factory=dict)  #: the coefficients it was pulled toward (empty: PRIORS)
    timed_domain: dict[str, Any] = field(default_factory=dict)  #: what its rows with a latency cover

    def table(self) -> pd.DataFrame:
        rows = [dict(parameter=t, value=v, unit=TERMS[t][3], meaning=TERMS[t][4]
                     + (f" [held at prior: {self.frozen[t]}]" if t in self.frozen else ""))
                for t, v in self.coef.items()]
        return pd.DataFrame(rows).set_index("parameter")

    def value(self, parameter: str) -> float:
        return float(self.coef[parameter])

    def evaluate(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """:func:`evaluate` on the rows of ``df`` (per image)."""
        return evaluate(self.coef, ops_features(df, gpu_as))

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Net energy (J for each row's ``n_prompts``) with an interval from the log residual spread, and the time
        per image (``time_pred_s``); any GPU with a datasheet entry is priced."""
        v = self.evaluate(df, gpu_as)
        out = interval_frame(v["energy"] * df["n_prompts"].to_numpy(float), self.sigma, self.df_resid, level,
                             df.index)
        return with_time(out, v["time"], self.time_sigma, self.n_timed, len(self.coef), level)

    @property
    def models_time(self) -> bool:
        return True

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

    def energy_parts(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per image of each row, the form every timed law shares (:meth:`TransferLaw.energy_parts`): GPU and host
        seconds, ``static_w``, the busy energy ``busy_j`` and the net power cap ``cap_w``."""
        v = self.evaluate(df)
        return pd.DataFrame(dict(t_gpu_s=v["gpu"], t_host_s=v["host"], static_w=v["static_w"], busy_j=v["busy_j"],
                                 cap_w=v["cap_w"]), index=df.index)


def _frozen(X: pd.DataFrame, timed: np.ndarray, prior: dict[str, float]) -> dict[str, str]:
    """Terms the training rows cannot identify, held at their prior, and why."""
    v = evaluate(prior, X)
    total = v["gpu"] + v["host"]
    share = {c: v[kind] for kind, c in KINDS.items()}
    share.update(t_kernel_gpu_us=v["kernels"], t_kernel_us=prior["t_kernel_us"] * 1e-6 * X["K"].to_numpy(float),
                 t_call_ms=prior["t_call_ms"] * 1e-3 * X["C"].to_numpy(float),
                 t_image_s=np.full(len(X), prior["t_image_s"]))
    out = {c: f"at most {100 * float(np.max(s / total)):.1f}% of any training row's time"
           for c, s in share.items() if float(np.max(s / total)) < MIN_SHARE}
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
    from scipy import optimize

    from .physical import jacobian_se

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
        v = evaluate(coef_of(theta), X)
        return np.concatenate([np.log(v["energy"]) - y, np.log(v["time"][timed]) - yt, prior_weight * (theta - mid)])

    sol = optimize.least_squares(resid, mid, bounds=(lo, hi), method="trf")
    coef = coef_of(sol.x)
    v = evaluate(coef, X)
    r = np.log(v["energy"]) - y
    dof = max(len(y) - len(free), 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    gpus = sorted(df["gpu"].astype(str).unique())
    t_sigma = float(np.sqrt(np.mean((np.log(v["time"][timed]) - yt) ** 2))) if timed.any() else None
    se = jacobian_se(sol.jac, float(r @ r / dof))
    return OpsLaw(name=name, coef={k: float(x) for k, x in coef.items()}, frozen=frozen,
                  se_log={c: float(s) for c, s in zip(free, se)}, resid_log=[float(x) for x in -r],
                  fitted_j=[float(x) for x in v["energy"] * n], sigma=float(math.sqrt(r @ r / dof)),
                  df_resid=float(dof), r2=float(1 - r @ r / ss) if ss > 0 else float("nan"), n_obs=int(len(df)),
                  n_timed=int(timed.sum()), time_sigma=t_sigma,
                  baseline_gpu=baseline_gpu if baseline_gpu in gpus else gpus[0], gpus=gpus,
                  models=sorted(df["model"].astype(str).unique()), dtypes=sorted(df["dtype"].astype(str).unique()),
                  domain=data_domain(df), reference_prompts=reference_prompts_of(df), provenance=provenance or {},
                  prior=dict(prior or {}), timed_domain=data_domain(df[timed]) if timed.any() else {})
