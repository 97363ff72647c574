"""Laws priced by the GPU's datasheet: energy = power x time, so that they transfer to unseen models and GPUs.

Every row (``n_prompts`` images of one configuration on one GPU) is first turned into the time an
ideal GPU would need at its datasheet peaks (:func:`hardware_features`, from counted features):

- ``x_mm``, ``x_attn``, ``x_conv``: matrix-product, attention and convolution FLOPs over the peak rate
  of the dtype (half precision on tensor cores; fp32 matmuls on CUDA cores, fp32 convolutions on TF32);
- ``x_mem``: bytes over the memory bandwidth -- weights read once per denoiser call (so batching shares
  them) plus the activation traffic of the element-wise kernels (``elementwise`` of the features);
- ``K`` kernels launched (once per call: batching shares them too) and ``N`` images.

Then, with ``P`` the GPU's power limit (W):

``datasheet``
    energy fitted directly: ``E = P (c_compute (x_mm + x_attn + x_conv) + c_memory x_mem + t_kernel K +
    t_image N)``. ``c`` are dimensionless (1: the ideal time at the power limit), ``t_kernel`` and
    ``t_image`` seconds at the power limit.
``datasheet_ops``
    the same with matmul, attention and convolution priced separately.
``power_time``
    time and power modelled separately. The GPU is busy for ``t_gpu = k_compute (x_mm + x_conv) +
    k_attention x_attn + k_memory x_mem`` (``k >= 1``: no kernel beats its peak); the host needs
    ``t_host = t_kernel K + t_image N`` to launch the kernels (Python and dispatch: a small model at
    batch 1 waits on the CPU); the wall time is the smooth maximum ``(t_gpu^4 + t_host^4)^(1/4)``.
    Net power (above idle) is ``P (p_static t + p_dynamic t_gpu) / t``, capped at ``P``: a share of the
    limit for every second of wall time plus a share for every second the GPU is busy. Energy = power x
    time; time and energy are fitted jointly (energy of every row, time of the rows that have latency).
``achieved``
    ``power_time`` with the GPU's achieved tensor rate following its power limit rather than its peak: a GPU
    at its limit runs at most (limit / energy per FLOP), so the compute terms' ideal times are multiplied by
    ``s ** cap_exponent``, where ``s`` is the GPU's datasheet efficiency (half-precision peak per watt of
    limit) over :data:`REFERENCE_GPU`'s. The prior ``cap_exponent = 1`` (the power cap) says a newer GPU's
    energy per FLOP is the reference's unless its rows show otherwise (an H100 SXM promises 1.81x the A100's
    FLOPs per watt; ML.ENERGY's rows show 0.87x the energy per image, not 0.55x); ``0`` would follow the
    peak. With rows on one datasheet efficiency only, the exponent cannot be fitted and stays at the prior.

Nothing is per GPU: a GPU enters only through its datasheet (:mod:`energy_nb.models.hardware`), so any GPU
with a specification is predicted. Coefficients are fitted by least squares on log residuals (relative
errors, like the paper) with a weak pull toward datasheet-relative priors (:data:`PRIORS`); a term
whose share of the ideal time stays below :data:`MIN_SHARE` in every training row cannot be identified
and is held at its prior (listed in ``frozen``).

Units: J, s, W; ``t_kernel`` in microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import features
from ..core.errors import UserError
from ..core.frames import rows as frame_rows
from ..core.units import BYTES_PER_ELEMENT, DTYPES
from ..data.schema import ok_rows
from ..models.configuration import Configuration
from ..models.hardware import get_spec
from .base import LawMixin, data_domain, interval_frame, reference_prompts_of, with_time

TRANSFER_LAWS: tuple[str, ...] = ("datasheet", "datasheet_ops", "power_time", "achieved")
LAW_TERMS: dict[str, tuple[str, ...]] = {
    "datasheet": ("c_compute", "c_memory", "t_kernel_us", "t_image_s"),
    "datasheet_ops": ("c_matmul", "c_attention", "c_conv", "c_memory", "t_kernel_us", "t_image_s"),
    "power_time": ("k_compute", "k_attention", "k_memory", "t_kernel_us", "t_image_s", "p_static", "p_dynamic"),
    "achieved": ("k_compute", "k_attention", "k_memory", "t_kernel_us", "t_image_s", "p_static", "p_dynamic",
                 "cap_exponent"),
}
#: Laws with power_time's time and power model.
TIMED_LAWS = ("power_time", "achieved")
#: The GPU whose datasheet efficiency (half-precision peak FLOP/s per watt of limit) ``achieved`` is relative to.
REFERENCE_GPU = "A100-SXM4-80GB"
#: Prior values (datasheet-relative): half the peak rate at the power limit, 5 us per kernel, 20 ms per
#: image (20 us per kernel and 50 ms per image on the host for power_time); power: a tenth of the limit
#: above idle per second of wall time plus three quarters of it per busy second.
PRIORS: dict[str, float] = dict(c_compute=2.0, c_matmul=2.0, c_attention=2.0, c_conv=2.0, c_memory=2.0,
                                k_compute=2.0, k_attention=2.0, k_memory=2.0, t_kernel_us=5.0, t_image_s=0.02,
                                p_static=0.1, p_dynamic=0.75, cap_exponent=1.0)
HOST_PRIORS = dict(t_kernel_us=20.0, t_image_s=0.05)
SMOOTH_MAX = 4.0
#: Bounds of each coefficient (physical ranges): a kernel cannot beat its peak (k >= 1); power shares
#: lie in (0, 1]; energy coefficients may fall below 1 (a GPU drawing less than its limit).
BOUNDS: dict[str, tuple[float, float]] = dict(
    c_compute=(0.05, 50.0), c_matmul=(0.05, 50.0), c_attention=(0.05, 50.0), c_conv=(0.05, 50.0),
    c_memory=(0.05, 50.0), k_compute=(1.0, 50.0), k_attention=(1.0, 50.0), k_memory=(1.0, 50.0),
    t_kernel_us=(0.01, 200.0), t_image_s=(1e-5, 5.0), p_static=(1e-3, 1.0), p_dynamic=(1e-3, 1.0),
    cap_exponent=(1e-3, 1.0))
UNITS = dict(c_compute="x ideal", c_matmul="x ideal", c_attention="x ideal", c_conv="x ideal", c_memory="x ideal",
             k_compute="x ideal time", k_attention="x ideal time", k_memory="x ideal time", t_kernel_us="us",
             t_image_s="s", p_static="x power limit", p_dynamic="x power limit", cap_exponent="exponent")
MEANING = dict(
    c_compute="energy of tensor/CUDA-core FLOPs over (power limit x ideal time at peak)",
    c_matmul="the same for matrix products", c_attention="the same for attention", c_conv="the same for convolutions",
    c_memory="energy of bytes moved over (power limit x bytes / bandwidth)",
    k_compute="time of matmul and convolution FLOPs over their ideal time at peak (1 / efficiency)",
    k_attention="the same for attention",
    k_memory="time of bytes moved over bytes / bandwidth (1 / efficiency)",
    t_kernel_us="fixed time per kernel launched (power_time: on the host; energy laws: at the power limit)",
    t_image_s="fixed time per image (power_time: on the host; energy laws: at the power limit)",
    p_static="net power (above idle) per second of wall time, share of the power limit",
    p_dynamic="extra net power per second the GPU is busy, share of the power limit",
    cap_exponent="how much of a GPU's datasheet FLOPs-per-watt gain over the reference GPU its achieved rate "
                 "misses (1: the rate follows the power limit, energy per FLOP as on the reference; 0: it follows "
                 "the peak)")
#: Prior weight (log units) and the identifiability threshold of a term.
PRIOR_WEIGHT = 0.1
MIN_SHARE = 0.02


# ---------------------------------------------------------------------------------------------------
# Features: ideal times at the datasheet
# ---------------------------------------------------------------------------------------------------
def _efficiency(spec) -> float:
    """The GPU's datasheet efficiency (half-precision peak FLOP/s per watt of power limit) over
    :data:`REFERENCE_GPU`'s: 1.81 for an H100 SXM."""
    ref = get_spec(REFERENCE_GPU)
    return (spec.tflops_half / spec.power_w) / (ref.tflops_half / ref.power_w)


def _gpu_name(r) -> str:
    part = getattr(r, "gpu_part", None)
    if isinstance(part, str) and part:
        try:
            get_spec(part)
            return part
        except ValueError:
            pass
    return str(r.gpu)


def hardware_features(df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
    """Per row (all ``n_prompts`` images): ideal seconds at the GPU's datasheet peaks for matmul
    (``x_mm``, attention excluded), attention (``x_attn``), convolution (``x_conv``) and memory
    (``x_mem``), kernels launched ``K``, images ``N``, the power limit ``P`` (W) and the fp32 flag."""
    gpu_as = gpu_as or {}
    rows = []
    extra = tuple(c for c in ("batch_size", "gpu_part") if c in df)
    for r in frame_rows(df, ("model", "height", "width", "steps", "cfg", "n_prompts", "dtype", "gpu") + extra):
        dtype = str(r.dtype)
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
        spec = get_spec(gpu_as.get(str(r.gpu), _gpu_name(r)))
        r_mm, r_conv = spec.rates(dtype)
        g = features.geometry(str(r.model), int(r.height), int(r.width))
        n, steps = float(r.n_prompts), float(r.steps)
        b = float(getattr(r, "batch_size", 1) or 1)
        cfgf = 2.0 if int(r.cfg) else 1.0
        den, text, vae = g["den"], g["text"], g["vae"]
        passes = steps * cfgf  # denoiser work per image (batch-1 passes)
        calls = steps * (1.0 if g["batched"] else cfgf) / b  # denoiser calls per image

        def per_img(k: str, passes=passes, cfgf=cfgf, den=den, text=text, vae=vae) -> float:
            return passes * den[k] + cfgf * text[k] + vae[k]
        bpe = BYTES_PER_ELEMENT[dtype]
        mem_bytes = (per_img("elem") * bpe + calls * den["params"] * bpe
                     + (cfgf * text["params"] + vae["params"]) * bpe / b)
        kernels = calls * den["kernels"] + (cfgf * text["kernels"] + vae["kernels"]) / b
        rows.append(dict(x_mm=n * per_img("matmul") / r_mm, x_attn=n * per_img("attn") / r_mm,
                         x_conv=n * per_img("conv") / r_conv, x_mem=n * mem_bytes / (spec.bandwidth_gb_s * 1e9),
                         K=n * kernels, N=n, P=spec.power_w, fp32=float(dtype == "fp32"), s=_efficiency(spec)))
    return pd.DataFrame(rows, index=df.index)


def _columns(name: str, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Ideal-time columns (s) each coefficient multiplies (kernel column in us)."""
    comp = X["x_mm"] + X["x_attn"] + X["x_conv"]
    cols = dict(c_compute=comp, c_matmul=X["x_mm"], c_attention=X["x_attn"], c_conv=X["x_conv"],
                c_memory=X["x_mem"], t_kernel_us=X["K"] * 1e-6, t_image_s=X["N"])
    if name in TIMED_LAWS:
        cols.update(k_compute=X["x_mm"] + X["x_conv"], k_attention=X["x_attn"], k_memory=X["x_mem"])
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def _prior(name: str, term: str) -> float:
    return HOST_PRIORS[term] if name in TIMED_LAWS and term in HOST_PRIORS else PRIORS[term]


def _smooth_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a^q + b^q)^(1/q) with q = :data:`SMOOTH_MAX`: the larger of two times, rounded at the corner (GPU
    work and host launches overlap; the GPU's own compute and memory phases add up, kernel after kernel)."""
    return (a ** SMOOTH_MAX + b ** SMOOTH_MAX) ** (1 / SMOOTH_MAX)


def _evaluate(name: str, coef: dict[str, float], X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(energy J per row, time s per row or None) of law ``name`` with coefficients ``coef``."""
    return _evaluate_columns(name, coef, _columns(name, X), X["P"].to_numpy(float), X["s"].to_numpy(float))


def _times(name: str, coef: dict[str, float], cols: dict[str, np.ndarray], s: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(GPU-busy seconds, host seconds) of a timed law: both affine in the step count."""
    gain = s ** coef["cap_exponent"] if name == "achieved" else 1.0  # achieved rate: peak / s^cap_exponent
    t_gpu = gain * (coef["k_compute"] * cols["k_compute"] + coef["k_attention"] * cols["k_attention"]) \
        + coef["k_memory"] * cols["k_memory"]
    return t_gpu, coef["t_kernel_us"] * cols["t_kernel_us"] + coef["t_image_s"] * cols["t_image_s"]


def _evaluate_columns(name: str, coef: dict[str, float], cols: dict[str, np.ndarray], P: np.ndarray,
                      s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_evaluate` on columns computed once (a fit evaluates the law thousands of times)."""
    if name not in TIMED_LAWS:
        t_eff = sum(coef[k] * cols[k] for k in LAW_TERMS[name])
        return P * t_eff, None
    t_gpu, t_host = _times(name, coef, cols, s)
    t = _smooth_max(t_gpu, t_host)
    energy = P * np.minimum(t, coef["p_static"] * t + coef["p_dynamic"] * t_gpu)
    return energy, t


# ---------------------------------------------------------------------------------------------------
# The fitted law
# ---------------------------------------------------------------------------------------------------
@dataclass
class PricedLaw(LawMixin):
    """What a law priced by the datasheet holds and does, whatever its form (:class:`TransferLaw`,
    :class:`energy_nb.laws.ops.OpsLaw`): no term per GPU -- a GPU enters through its datasheet, so any GPU with a
    specification is predicted, and the answer says how it was priced."""

    name: str
    coef: dict[str, float]
    frozen: dict[str, str]  #: terms held at their prior, and why
    sigma: float  #: s.d. of log energy residuals on the training rows
    df_resid: float
    r2: float  #: R^2 of log energy on the training rows
    n_obs: int
    n_timed: int  #: training rows with latency
    time_sigma: float | None  #: s.d. of log time residuals (laws that model time)
    baseline_gpu: str
    gpus: list[str]
    models: list[str]
    dtypes: list[str]
    convention: str = "counted"
    kind: str = "transfer"
    domain: dict[str, Any] = field(default_factory=dict)
    reference_prompts: int = 100
    provenance: dict[str, Any] = field(default_factory=dict)
    se_log: dict[str, float] = field(default_factory=dict)  #: standard error of each free parameter's log (Jacobian)
    resid_log: list[float] = field(default_factory=list)  #: ln(measured / fitted energy) of each training row
    fitted_j: list[float] = field(default_factory=list)  #: fitted energy (J) of each training row's prompts

    @property
    def dropped(self) -> dict[str, str]:
        return self.frozen

    @property
    def gpu_factor(self) -> dict[str, float]:  # no GPU terms: hardware enters through the datasheet
        return {}

    def value(self, parameter: str) -> float:
        return float(self.coef[parameter])

    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]:
        out = super().extrapolation(config, n_scaling, gpu_as)
        gpu = config.gpu or self.baseline_gpu
        spec = get_spec((gpu_as or {}).get(gpu, gpu))
        return [f"GPU {gpu} is not in the law's data ({', '.join(self.domain['gpus'])}): priced from its datasheet "
                f"({spec.tflops_half:g} TFLOP/s half, {spec.bandwidth_gb_s:g} GB/s, {spec.power_w:g} W)"
                if s.startswith(f"GPU {gpu} is not") else s for s in out]


@dataclass
class TransferLaw(PricedLaw):
    """A law priced by the datasheet (see the module docstring); any GPU with a specification is predicted."""

    @property
    def form(self) -> str:
        """Which of :data:`TRANSFER_LAWS` this is (``name`` may carry the model it answers for: ``achieved (sdxl)``)."""
        return self.name.split(" (")[0]

    def table(self) -> pd.DataFrame:
        rows = [dict(parameter=t, value=v, unit=UNITS[t], meaning=MEANING[t]
                     + (f" [held at prior: {self.frozen[t]}]" if t in self.frozen else ""))
                for t, v in self.coef.items()]
        return pd.DataFrame(rows).set_index("parameter")

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Energy (J for each row's ``n_prompts``) with an approximate ``level`` interval from the log
        residual spread; a GPU without data is priced from its datasheet."""
        X = hardware_features(df, gpu_as)
        e, t = _evaluate(self.form, self.coef, X)
        out = interval_frame(e, self.sigma, self.df_resid, level, df.index)
        if t is not None:  # per image
            out = with_time(out, t / df["n_prompts"].to_numpy(float), self.time_sigma, self.n_timed, len(self.coef),
                            level)
        return out

    @property
    def models_time(self) -> bool:
        return self.form in TIMED_LAWS

    def energy_parts(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per image of each row (timed laws): GPU-busy seconds ``t_gpu_s``, host seconds ``t_host_s``, the net power
        per second of wall time ``static_w``, the busy energy ``busy_j`` (J) and the net power cap ``cap_w`` (W):
        energy per image = min(cap_w t, static_w t + busy_j), t the smooth maximum of the two times (the form
        every timed law shares, :meth:`energy_nb.laws.ops.OpsLaw.energy_parts`)."""
        if self.form not in TIMED_LAWS:
            raise UserError(f"law {self.name!r} does not model time; laws that do: {', '.join(TIMED_LAWS)}")
        X = hardware_features(df)
        t_gpu, t_host = _times(self.form, self.coef, _columns(self.form, X), X["s"].to_numpy(float))
        n, P = X["N"].to_numpy(float), X["P"].to_numpy(float)
        return pd.DataFrame(dict(t_gpu_s=t_gpu / n, t_host_s=t_host / n, static_w=self.coef["p_static"] * P,
                                 busy_j=self.coef["p_dynamic"] * P * t_gpu / n, cap_w=P), index=df.index)

    def term_shares(self, df: pd.DataFrame) -> pd.DataFrame:
        """Share of each row's ideal-time-weighted cost per term (energy laws) or of its time (power_time)."""
        cols = _columns(self.form, hardware_features(df))
        keys = [k for k in LAW_TERMS[self.form] if k in cols]
        parts = np.column_stack([self.coef[k] * cols[k] for k in keys])
        return pd.DataFrame(parts / parts.sum(axis=1, keepdims=True), columns=keys, index=df.index)


def identifiable(name: str, X: pd.DataFrame) -> dict[str, str]:
    """Terms no training row gives at least :data:`MIN_SHARE` of its prior-priced ideal time: held at the prior."""
    cols = _columns(name, X)
    keys = [k for k in LAW_TERMS[name] if k in cols]
    parts = np.column_stack([_prior(name, k) * cols[k] for k in keys])
    share = parts / parts.sum(axis=1, keepdims=True)
    return {k: f"at most {100 * share[:, j].max():.1f}% of any training row's ideal time"
            for j, k in enumerate(keys) if share[:, j].max() < MIN_SHARE}


def fit_transfer(name: str, df: pd.DataFrame, baseline_gpu: str = "A100", provenance: dict[str, Any] | None = None,
                 prior_weight: float = PRIOR_WEIGHT, **_: Any) -> TransferLaw:
    """Fit law ``name`` on the ``ok`` rows of ``df`` (energy; and ``time_s`` where present, for
    ``power_time``) by bounded least squares on log residuals with a weak pull toward :data:`PRIORS`."""
    from scipy import optimize

    if name not in TRANSFER_LAWS:
        raise UserError(f"unknown transfer law {name!r}; allowed: {', '.join(TRANSFER_LAWS)}")
    df = ok_rows(df)
    terms = LAW_TERMS[name]
    if len(df) < len(terms) + 2:
        raise UserError(f"need at least {len(terms) + 2} ok rows to fit law {name!r}, got {len(df)}")
    X = hardware_features(df)
    y = np.log(df["energy_j"].to_numpy(float))
    timed = df["time_s"].notna().to_numpy() if "time_s" in df else np.zeros(len(df), bool)
    yt = np.log(df.loc[timed, "time_s"].to_numpy(float) * df.loc[timed, "n_prompts"].to_numpy(float))
    frozen = identifiable(name, X)
    if name == "achieved" and X["s"].nunique() < 2:
        frozen["cap_exponent"] = "every training row is on GPUs of one datasheet efficiency: held at the power cap"
    if name in TIMED_LAWS and not timed.any():
        frozen.update(p_static="no training row has latency", p_dynamic="no training row has latency")
    free = [t for t in terms if t not in frozen]
    lo = np.log([BOUNDS[t][0] for t in free])
    hi = np.log([BOUNDS[t][1] for t in free])
    prior = np.log([_prior(name, t) for t in free])

    def coef_of(theta: np.ndarray) -> dict[str, float]:
        c = {t: _prior(name, t) for t in terms}
        c.update(zip(free, np.exp(theta)))
        return c

    cols, P, s = _columns(name, X), X["P"].to_numpy(float), X["s"].to_numpy(float)

    def resid(theta: np.ndarray) -> np.ndarray:
        e, t = _evaluate_columns(name, coef_of(theta), cols, P, s)
        parts = [np.log(e) - y]
        if t is not None and timed.any():
            parts.append(np.log(t[timed]) - yt)
        parts.append(prior_weight * (theta - prior))
        return np.concatenate(parts)

    theta0 = np.clip(prior, lo + 1e-9, hi - 1e-9)
    sol = optimize.least_squares(resid, theta0, bounds=(lo, hi), method="trf", x_scale=1.0)
    coef = coef_of(sol.x)
    e, t = _evaluate_columns(name, coef, cols, P, s)
    r = np.log(e) - y
    dof = max(len(y) - len(free), 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    gpus = sorted(df["gpu"].astype(str).unique())
    time_sigma = (float(np.sqrt(np.mean((np.log(t[timed]) - yt) ** 2))) if t is not None and timed.any() else None)
    from .physical import jacobian_se

    se = jacobian_se(sol.jac, float(r @ r / dof))
    return TransferLaw(name=name, coef={k: float(v) for k, v in coef.items()}, frozen=frozen,
                       se_log={t: float(v) for t, v in zip(free, se)}, resid_log=[float(v) for v in -r],
                       fitted_j=[float(v) for v in e],
                       sigma=float(np.sqrt(r @ r / dof)), df_resid=float(dof),
                       r2=float(1 - r @ r / ss) if ss > 0 else float("nan"), n_obs=int(len(df)),
                       n_timed=int(timed.sum()), time_sigma=time_sigma,
                       baseline_gpu=baseline_gpu if baseline_gpu in gpus else gpus[0], gpus=gpus,
                       models=sorted(df["model"].astype(str).unique()), dtypes=sorted(df["dtype"].astype(str).unique()),
                       domain=data_domain(df), reference_prompts=reference_prompts_of(df), provenance=provenance or {})
