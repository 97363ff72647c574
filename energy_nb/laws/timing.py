"""Time per image, where the data know it, and the gross energy that follows.

The paper's tables have no time; ML.ENERGY's rows do (SD 2.1 on A100 and H100 at 768^2, FLUX.1-dev
and SD3.5-Large on H100 at 1024^2, batch 1-64). Per model, a small log-linear law is fitted on those
rows with the time per image proportional to the FLOPs per image (exponent fixed at 1: the data have
one configuration per GPU, so it cannot be estimated) and a GPU and a batch term:

``ln(t / GFLOPs) = tau_0 + sum_g tau_g I_g + sum_g tau_B,g I_g ln B`` (a batch slope per GPU)

Any other configuration is the measured one scaled by its FLOPs, and says so. Where a model has no timed
rows on the GPU asked about, the shared time law answers (the timed law the selection chose for GPUs
without data; ``energy-nb laws build`` fits both and ships them in the laws artifact, so nothing is fitted
when a question is asked). Gross energy per image = net + idle power x time
(:func:`energy_nb.data.power.gross_j`, the footing :func:`energy_nb.data.shipped.external_data` uses). Units: s, J.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute.flops import native_convention, scaling_flops
from ..core.stats import two_sided, wls
from ..core.units import HALF_DTYPES
from ..models.configuration import Configuration
from .base import data_domain


@dataclass
class TimeLaw:
    """Fitted time per image of one model: coefficients, covariance, residual variance, domain."""

    model: str
    terms: list[str]
    coef: list[float]
    cov: list[list[float]]
    sigma2: float
    dof: int
    baseline_gpu: str
    gpus: list[str]
    domain: dict[str, Any] = field(default_factory=dict)
    #: per GPU, the configurations timed (``[height, width, steps, cfg, dtype]``): the ones answered without scaling
    timed: dict[str, list[list[Any]]] = field(default_factory=dict)

    def _x(self, gpu: str, batch_size: int) -> np.ndarray:
        return np.array([1.0] + [float(gpu == g) for g in self.gpus if g != self.baseline_gpu]
                        + [float(gpu == g) * float(np.log(batch_size)) for g in self.gpus])

    def predict(self, config: Configuration, level: float = 0.95) -> dict[str, Any] | None:
        """Seconds per image of ``config`` with a ``level`` interval, and why it is an extrapolation; None when
        the data hold no time for its GPU or precision class."""
        height, width, steps, dtype, cfg = config.height, config.width, config.steps, config.dtype, config.cfg
        gpu, batch_size = config.gpu, config.batch_size
        if gpu not in self.gpus:
            return None
        half = dtype in HALF_DTYPES
        if half != any(d in HALF_DTYPES for d in self.domain["dtypes"]):
            return None
        gflops = scaling_flops(self.model, height, width, steps, cfg, 1, native_convention(self.model)) / 1e9
        x = self._x(gpu, batch_size)
        mean = float(x @ np.array(self.coef)) + np.log(gflops)
        se = float(np.sqrt(x @ np.array(self.cov) @ x + self.sigma2))
        t = two_sided(level, self.dof)
        flags = []
        g = self.domain.get("by_gpu", {}).get(gpu, self.domain)
        timed = [tuple(c) for c in self.timed.get(gpu, [])]
        if (height, width, steps, int(bool(cfg)), dtype) not in timed:
            said = "; ".join(f"{h}x{w}, {s} steps, CFG {'on' if c else 'off'}, {d}" for h, w, s, c, d in timed[:3])
            more = f" and {len(timed) - 3} more" if len(timed) > 3 else ""
            flags.append(f"time scaled in proportion to FLOPs from the timed {gpu} configuration"
                         f"{'s' if len(timed) > 1 else ''} ({said}{more})")
        lo, hi = g["batch_size"]
        if not lo <= batch_size <= hi:
            flags.append(f"batch size {batch_size} outside the timed {gpu} batches ({lo}-{hi})")
        return dict(per_image_s=float(np.exp(mean)), per_image_s_low=float(np.exp(mean - t * se)),
                    per_image_s_high=float(np.exp(mean + t * se)), time_extrapolation=flags)


def fit_time(df: pd.DataFrame, model: str) -> TimeLaw | None:
    """Fit :class:`TimeLaw` on ``model``'s single-GPU rows with ``time_s``; None with fewer than 3."""
    d = df[(df["model"] == model) & df["time_s"].notna() & (df["num_gpus"] == 1)]
    if len(d) < 3:
        return None
    gpus = sorted(d["gpu"].astype(str).unique())
    base = "A100" if "A100" in gpus else gpus[0]
    gflops = np.array([scaling_flops(model, int(r.height), int(r.width), int(r.steps), int(r.cfg), 1,
                                         native_convention(model))
                       for r in d.itertuples()]) / 1e9
    y = np.log(d["time_s"].to_numpy(float)) - np.log(gflops)
    is_gpu = {g: (d["gpu"].astype(str) == g).to_numpy(float) for g in gpus}
    X = np.column_stack([np.ones(len(d))] + [is_gpu[g] for g in gpus if g != base]
                        + [is_gpu[g] * np.log(d["batch_size"].to_numpy(float)) for g in gpus])
    terms = ["log_s_per_gflop"] + [f"I_{g}" for g in gpus if g != base] + [f"log_B:{g}" for g in gpus]
    beta, cov, dof = wls(y, X, min_dof=1)
    r = y - X @ beta
    timed = {g: sorted({(int(row.height), int(row.width), int(row.steps), int(row.cfg), str(row.dtype))
                        for row in d[d["gpu"].astype(str) == g].itertuples()}) for g in gpus}
    return TimeLaw(model, terms, beta.tolist(), cov.tolist(), float(r @ r / dof), dof, base, gpus, data_domain(d),
                   {g: [list(c) for c in cs] for g, cs in timed.items()})


@dataclass(frozen=True)
class TimeAnswer:
    """Time per image of one configuration (s, with the interval at the prediction's level), the idle power that
    turns the net energy gross (W) and the gross energy per image (J), and how the time was obtained (``notes``:
    every way it extrapolates; ``source``: ``own`` timed rows of the model, or the ``shared`` time law)."""

    per_image_s: float
    per_image_s_low: float
    per_image_s_high: float
    idle_w: float
    per_image_gross_j: float
    source: str
    notes: tuple[str, ...] = ()


def shared_time(config: Configuration, law: Any, level: float = 0.95) -> dict[str, Any]:
    """Seconds per image of ``config`` by the shared time ``law`` (a timed datasheet law fitted on every timed
    row), with an interval from its log time residuals, and the note that says so."""
    s = float(law.predict(config.frame(1), level=level)["time_pred_s"].iloc[0])
    sigma = float(law.time_sigma or 0.0)
    q = two_sided(level, max(int(law.n_timed) - len(law.coef), 1)) * sigma
    return dict(per_image_s=s, per_image_s_low=s * float(np.exp(-q)), per_image_s_high=s * float(np.exp(q)),
                time_extrapolation=[f"no measured time for {config.model} on {config.gpu}: time from the shared law "
                                    f"{law.name!r} (counted FLOPs, bytes and kernels priced by the GPU's "
                                    f"datasheet, fitted on {law.n_timed} timed rows of every model)"])


def time_law_dict(law: TimeLaw) -> dict[str, Any]:
    """A time law as the laws artifact stores it (:func:`time_law_from` reads it back)."""
    return asdict(law)


def time_law_from(d: dict[str, Any]) -> TimeLaw:
    return TimeLaw(**d)
