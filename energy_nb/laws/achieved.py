"""``achieved``: energy = power x time priced by the GPU's datasheet, with the GPU's tensor rate following what its
power limit allows rather than its peak -- the law that transfers best in net energy to a GPU without data.

Every row (``n_prompts`` images of one configuration on one GPU) is first turned into the time an ideal GPU would
need at its datasheet peaks (:func:`hardware_features`, from the workload frame):

- ``x_mm``, ``x_attn``, ``x_conv``: matrix-product, attention and convolution FLOPs over the peak rate of the dtype
  (half precision on tensor cores; fp32 matmuls on CUDA cores, fp32 convolutions on TF32);
- ``x_mem``: bytes over the memory bandwidth -- weights read once per denoiser call (so batching shares them) plus
  the activation traffic of the element-wise kernels;
- ``K`` kernels launched (once per call: batching shares them too) and ``N`` images.

The GPU is busy ``t_gpu = s^cap_exponent (k_compute (x_mm + x_conv) + k_attention x_attn) + k_memory x_mem``
(``k >= 1``: no kernel beats its peak; ``s`` the GPU's datasheet efficiency, half-precision peak per watt of limit,
over :data:`~energy_nb.compute.workload.REFERENCE_GPU`'s: a GPU at its limit runs at most limit / energy per FLOP, and
the prior ``cap_exponent = 1`` says a newer GPU's energy per FLOP is the reference's unless its rows show otherwise);
the host needs ``t_host = t_kernel K + t_image N`` to launch the kernels; the wall time is their smooth maximum
(:func:`energy_nb.laws.physics.wall_time`); net power is ``P (p_static t + p_dynamic t_gpu) / t``, capped at the power
limit ``P`` (:func:`energy_nb.laws.physics.net_energy`). Energy and time are fitted jointly (energy of every row, time
of the rows with a latency) by least squares on log residuals with a weak pull toward datasheet-relative priors
(:data:`PRIORS`); a term whose share of the ideal time stays below 2% in every row is held at its prior, and with rows
on one datasheet efficiency only the cap exponent stays at its prior.

Units: J, s, W; ``t_kernel`` in microseconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..compute.workload import workload
from ..data.schema import ok_rows
from . import fitter, physics
from .base import PricedLaw, interval_frame, reference_prompts_of, term_table, with_time
from .domain import data_domain

TERMS: tuple[str, ...] = ("k_compute", "k_attention", "k_memory", "t_kernel_us", "t_image_s", "p_static", "p_dynamic",
                          "cap_exponent")
#: Prior values (datasheet-relative): half the peak rate, 20 us per kernel and 50 ms per image on the host; power: a
#: tenth of the limit above idle per second of wall time plus three quarters of it per busy second; the power cap.
PRIORS: dict[str, float] = dict(k_compute=2.0, k_attention=2.0, k_memory=2.0, t_kernel_us=20.0, t_image_s=0.05,
                                p_static=0.1, p_dynamic=0.75, cap_exponent=1.0)
#: Bounds of each coefficient (physical ranges): a kernel cannot beat its peak (k >= 1); power shares lie in (0, 1].
BOUNDS: dict[str, tuple[float, float]] = dict(
    k_compute=(1.0, 50.0), k_attention=(1.0, 50.0), k_memory=(1.0, 50.0), t_kernel_us=(0.01, 200.0),
    t_image_s=(1e-5, 5.0), p_static=(1e-3, 1.0), p_dynamic=(1e-3, 1.0), cap_exponent=(1e-3, 1.0))
UNITS = dict(k_compute="x ideal time", k_attention="x ideal time", k_memory="x ideal time", t_kernel_us="us",
             t_image_s="s", p_static="x power limit", p_dynamic="x power limit", cap_exponent="exponent")
MEANING = dict(
    k_compute="time of matmul and convolution FLOPs over their ideal time at peak (1 / efficiency)",
    k_attention="the same for attention",
    k_memory="time of bytes moved over bytes / bandwidth (1 / efficiency)",
    t_kernel_us="fixed time per kernel launched, on the host",
    t_image_s="fixed time per image, on the host",
    p_static="net power (above idle) per second of wall time, share of the power limit",
    p_dynamic="extra net power per second the GPU is busy, share of the power limit",
    cap_exponent="how much of a GPU's datasheet FLOPs-per-watt gain over the reference GPU its achieved rate "
                 "misses (1: the rate follows the power limit, energy per FLOP as on the reference; 0: it follows "
                 "the peak)")
#: Prior weight (log units).
PRIOR_WEIGHT = 0.1
_TIME_TERMS = ("k_compute", "k_attention", "k_memory", "t_kernel_us", "t_image_s")


def hardware_features(df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
    """Per row (all ``n_prompts`` images): ideal seconds at the GPU's datasheet peaks for matmul
    (``x_mm``, attention excluded), attention (``x_attn``), convolution (``x_conv``) and memory
    (``x_mem``), kernels launched ``K``, images ``N``, the power limit ``P`` (W), the fp32 flag and the GPU's
    datasheet efficiency ``s``."""
    w = workload(df, gpu_as, hardware=True)
    n, cfgf, b, bpe = w["n"], w["cfgf"], w["b"], w["bpe"]
    passes, calls = w["den_passes"], w["den_calls"]

    def per_img(k: str) -> np.ndarray:
        return passes * w[f"den_{k}"] + cfgf * w[f"text_{k}"] + w[f"vae_{k}"]
    mem_bytes = (per_img("elem") * bpe + calls * w["den_params"] * bpe
                 + (cfgf * w["text_params"] + w["vae_params"]) * bpe / b)
    kernels = calls * w["den_kernels"] + (cfgf * w["text_kernels"] + w["vae_kernels"]) / b
    return w.frame(dict(x_mm=n * per_img("matmul") / w["r_mm"], x_attn=n * per_img("attn") / w["r_mm"],
                        x_conv=n * per_img("conv") / w["r_conv"], x_mem=n * mem_bytes / (w["bw"] * 1e9),
                        K=n * kernels, N=n, P=w["P"], fp32=w["fp32"], s=w["s"]))


def _columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Ideal-time columns (s) each coefficient multiplies (kernel column in us)."""
    cols = dict(k_compute=X["x_mm"] + X["x_conv"], k_attention=X["x_attn"], k_memory=X["x_mem"],
                t_kernel_us=X["K"] * 1e-6, t_image_s=X["N"])
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def _times(coef: dict[str, float], cols: dict[str, np.ndarray], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(GPU-busy seconds, host seconds) of all of a row's images: both affine in the step count."""
    gain = s ** coef["cap_exponent"]  # achieved rate: peak / s^cap_exponent
    t_gpu = gain * (coef["k_compute"] * cols["k_compute"] + coef["k_attention"] * cols["k_attention"]) \
        + coef["k_memory"] * cols["k_memory"]
    return t_gpu, coef["t_kernel_us"] * cols["t_kernel_us"] + coef["t_image_s"] * cols["t_image_s"]


def evaluate(coef: dict[str, float], cols: dict[str, np.ndarray], P: np.ndarray, s: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """(net energy J, wall time s) of all of each row's images."""
    t_gpu, t_host = _times(coef, cols, s)
    t = physics.wall_time(t_gpu, t_host)
    return P * physics.net_energy(t, coef["p_static"], coef["p_dynamic"] * t_gpu, 1.0), t


@dataclass(kw_only=True)
class AchievedLaw(PricedLaw):
    """The ``achieved`` law fitted (see the module docstring); any GPU with a specification is predicted."""

    kind: str = "transfer"

    def table(self) -> pd.DataFrame:
        return term_table(self.coef, UNITS, MEANING, self.frozen)

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Energy (J for each row's ``n_prompts``) with an approximate ``level`` interval from the log residual
        spread, and the time per image; a GPU without data is priced from its datasheet."""
        X = hardware_features(df, gpu_as)
        e, t = evaluate(self.coef, _columns(X), X["P"].to_numpy(float), X["s"].to_numpy(float))
        out = interval_frame(e, self.sigma, self.df_resid, level, df.index)
        return with_time(out, t / df["n_prompts"].to_numpy(float), self.time_sigma, self.n_timed, len(self.coef),
                         level)

    def run_parts(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        X = hardware_features(df, gpu_as)
        t_gpu, t_host = _times(self.coef, _columns(X), X["s"].to_numpy(float))
        n, P = X["N"].to_numpy(float), X["P"].to_numpy(float)
        return physics.parts(t_gpu / n, t_host / n, self.coef["p_static"] * P, self.coef["p_dynamic"] * P * t_gpu / n,
                             P, df.index)


def fit_achieved(df: pd.DataFrame, name: str = "achieved", baseline_gpu: str = "A100",
                 provenance: dict[str, Any] | None = None, prior_weight: float = PRIOR_WEIGHT, **_: Any
                 ) -> AchievedLaw:
    """Fit :class:`AchievedLaw` on the ``ok`` rows of ``df`` (energy; and ``time_s`` where present) by bounded least
    squares on log residuals with a weak pull toward :data:`PRIORS`."""
    df = ok_rows(df)
    if len(df) < len(TERMS) + 2:
        from ..core.errors import UserError

        raise UserError(f"need at least {len(TERMS) + 2} ok rows to fit law {name!r}, got {len(df)}")
    X = hardware_features(df)
    y = np.log(df["energy_j"].to_numpy(float))
    timed = df["time_s"].notna().to_numpy() if "time_s" in df else np.zeros(len(df), bool)
    yt = np.log(df.loc[timed, "time_s"].to_numpy(float) * df.loc[timed, "n_prompts"].to_numpy(float))
    cols, P, s = _columns(X), X["P"].to_numpy(float), X["s"].to_numpy(float)
    parts = np.column_stack([PRIORS[k] * cols[k] for k in _TIME_TERMS])
    frozen = fitter.unidentified({k: parts[:, j] for j, k in enumerate(_TIME_TERMS)}, parts.sum(axis=1),
                                 what="ideal time")
    if X["s"].nunique() < 2:
        frozen["cap_exponent"] = "every training row is on GPUs of one datasheet efficiency: held at the power cap"
    if not timed.any():
        frozen.update(p_static="no training row has latency", p_dynamic="no training row has latency")
    free = [t for t in TERMS if t not in frozen]
    lo, hi = np.log([BOUNDS[t][0] for t in free]), np.log([BOUNDS[t][1] for t in free])
    prior = np.log([PRIORS[t] for t in free])

    def coef_of(theta: np.ndarray) -> dict[str, float]:
        c = {t: PRIORS[t] for t in TERMS}
        c.update(zip(free, np.exp(theta)))
        return c

    def resid(theta: np.ndarray) -> np.ndarray:
        e, t = evaluate(coef_of(theta), cols, P, s)
        return np.concatenate([np.log(e) - y, *([np.log(t[timed]) - yt] if timed.any() else [])])

    sol = fitter.solve(resid, np.clip(prior, lo + 1e-9, hi - 1e-9), lo, hi, pull=prior, weight=prior_weight)
    coef = coef_of(sol.x)
    e, t = evaluate(coef, cols, P, s)
    fit = fitter.summary(sol, y, np.log(e) - y, free, coef, frozen, e, np.log(t[timed]) - yt if timed.any() else None)
    gpus = sorted(df["gpu"].astype(str).unique())
    return AchievedLaw(name=name, **fit.fields(), baseline_gpu=baseline_gpu if baseline_gpu in gpus else gpus[0],
                       gpus=gpus, models=sorted(df["model"].astype(str).unique()),
                       dtypes=sorted(df["dtype"].astype(str).unique()), domain=data_domain(df),
                       reference_prompts=reference_prompts_of(df), provenance=provenance or {})
