"""What every energy law shares: the one results object of a fit, per-image semantics, the data's domain,
extrapolation flags, provenance, description and JSON persistence.

A law class (:class:`energy_nb.laws.scaling.ScalingLaw`, :class:`energy_nb.laws.physical.PhysicalLaw`,
:class:`energy_nb.laws.achieved.AchievedLaw`, :class:`energy_nb.laws.ops.OpsLaw`) is a :class:`FittedLaw` -- the
fields every fit reports, read as statsmodels results are (:class:`Results`: ``params``, ``bse``, ``conf_int()``,
``resid``, ``fittedvalues``, ``summary()``) -- and implements ``predict(df, level, gpu_as)`` -- energy in J of each
row's ``n_prompts`` prompts with a prediction interval -- and ``table()``; :class:`LawMixin` adds what every law
answers for one :class:`~energy_nb.models.configuration.Configuration`, a
:class:`~energy_nb.laws.prediction.Prediction`. A :class:`LawWrapper` changes one behaviour of a fitted law
(its intervals, the GPU it answers for) and forwards everything else.

**Per-image energy, one definition everywhere.** A sequential run of ``N`` prompts costs ``N`` times
the per-image energy, and the per-image energy is what the law predicts at the ``N`` of its data
(:attr:`reference_prompts`, 100 for the paper's tables) divided by that ``N``. The paper's law has
``alpha < 1`` and its data never varies ``N`` (always 100), so evaluating it at ``N = 1`` extrapolates
along a direction the data does not span; that reading stays available as ``n_scaling="law"``.

Units: energy in J (``_j``) and Wh (``_wh``); intervals are prediction intervals at ``level`` (0.95: 95%).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..core.jsonio import finite, to_json
from ..core.stats import two_sided
from ..core.units import J_PER_KWH
from ..models.configuration import Configuration
from .domain import domain_flags
from .prediction import Prediction

N_SCALINGS: tuple[str, ...] = ("linear", "law")
#: Kinds of law that price any GPU from its datasheet (no GPU term: a GPU without data is not an extrapolation of a
#: term, and fp32 is priced from the fp32 peaks).
DATASHEET_KINDS: tuple[str, ...] = ("transfer", "ops")


def interval_frame(energy_j, sigma: float, df_resid: float, level: float, index) -> pd.DataFrame:
    """Predicted energies (J) with a ``level`` interval from a log-residual spread ``sigma``: the frame every
    linear-in-energy law's ``predict`` returns (``energy_pred_j``, ``pi_low_j``, ``pi_high_j``, ``log_pred``
    in log kWh, ``se_log``)."""
    e = np.asarray(energy_j, dtype=float)
    q = two_sided(level, df_resid)
    return pd.DataFrame(dict(energy_pred_j=e, pi_low_j=e * np.exp(-q * sigma), pi_high_j=e * np.exp(q * sigma),
                             log_pred=np.log(e / J_PER_KWH), se_log=sigma), index=index)


def with_time(out: pd.DataFrame, seconds, sigma: float | None, n_timed: int, n_coef: int,
              level: float) -> pd.DataFrame:
    """``out`` (a law's prediction frame) with the time per image ``time_pred_s`` and its ``level`` interval
    (``time_low_s``, ``time_high_s``) from the spread ``sigma`` of the law's log time residuals on its ``n_timed``
    training rows (none without: the bounds equal the prediction)."""
    t = np.asarray(seconds, dtype=float)
    q = two_sided(level, max(int(n_timed) - int(n_coef), 1)) * float(sigma or 0.0)
    return out.assign(time_pred_s=t, time_low_s=t * np.exp(-q), time_high_s=t * np.exp(q))


def reference_prompts_of(df: pd.DataFrame) -> int:
    """The ``N`` at which per-image energy is read off: the most common ``n_prompts`` of the data
    (ties: the largest)."""
    counts = df["n_prompts"].astype(int).value_counts()
    return int(max(counts[counts == counts.max()].index))


class Results:
    """A fit read as statsmodels results are: :attr:`params`, :attr:`bse`, :meth:`conf_int`, :attr:`resid`,
    :attr:`fittedvalues`, :meth:`summary`; from the fields every fit reports (``table()``, ``se_log``, ``df_resid``,
    ``resid_log``, ``fitted_j``, ``r2``, ``n_obs``, ``models``, ``gpus``). Every law is one, and so is the law for
    several GPUs per image."""

    @property
    def params(self) -> pd.Series:
        """Every parameter's fitted value by name (the rows of :meth:`table`; a dropped or frozen term as fitted)."""
        return self.table()["value"].astype(float)

    @property
    def bse(self) -> pd.Series:
        """The standard error of each parameter (NaN for a term held at a prior or dropped); a law fitted in the logs
        of its coefficients: the coefficient times the standard error of its log."""
        values = self.params
        return pd.Series({k: values[k] * self.se_log.get(k, np.nan) for k in values.index}, dtype=float)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """``1 - alpha`` confidence intervals of :attr:`params` (columns ``lower``, ``upper``; NaN for a term held
        at a prior or dropped). The paper's law: OLS's; the laws fitted by nonlinear least squares: from the
        Jacobian at the solution, in log space (their coefficients are positive; ``se_log`` holds the standard
        errors of the logs)."""
        q = two_sided(1.0 - alpha, self.df_resid)
        values = self.params
        se = pd.Series({k: self.se_log.get(k, np.nan) for k in values.index}, dtype=float)
        ok = values > 0
        lower = np.where(ok, values * np.exp(-q * se), np.nan)
        upper = np.where(ok, values * np.exp(q * se), np.nan)
        return pd.DataFrame({"lower": lower, "upper": upper}, index=values.index)

    @property
    def resid(self) -> pd.Series:
        """ln(measured / fitted energy) of each training row, in their order."""
        return pd.Series(self.resid_log, name="resid", dtype=float)

    @property
    def fittedvalues(self) -> pd.Series:
        """The fitted energy (J) of each training row (all its ``n_prompts`` images), in their order."""
        return pd.Series(self.fitted_j, name="fitted_j", dtype=float)

    def summary(self) -> str:
        """The fitted law in words and numbers: its parameters (value, and interval or unit where it has
        them), R² in log space, the rows, models and GPUs it was fitted on (what ``energy-nb fit`` prints)."""
        table = self.table()
        return (table.to_string(float_format=lambda v: f"{v:.4g}")
                + f"\nR^2 (log) = {self.r2:.4f} on {self.n_obs} rows; models {self.models}; GPUs {self.gpus}")

    def _repr_markdown_(self) -> str:
        return f"**{self.name}** ({self.kind} law)\n\n```text\n{self.summary()}\n```"

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class LawMixin(Results):
    """Shared behaviour of fitted laws and of the wrappers around them (see the module docstring)."""

    # -- extrapolation ----------------------------------------------------------------------------------
    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]:
        """Reasons why ``config`` lies outside the law's training data (empty: inside)."""
        return domain_flags(self.domain, config, self.baseline_gpu, n_scaling, gpu_as,
                            gpu_term=self.kind not in DATASHEET_KINDS)

    # -- prediction of one configuration ---------------------------------------------------------------
    def _n_law_factor(self, n: int) -> float:
        """E(N) under the law's own N reading over N x per-image energy (1 for laws linear in N)."""
        return 1.0

    def per_image(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None
                  ) -> Prediction:
        """One image of ``config`` (:meth:`predict_one` at one prompt): the law at ``reference_prompts`` divided by
        it. This is the one per-image number of ``predict``, ``plan`` and the book."""
        return self.predict_one(config.replace(prompts=1), level=level, gpu_as=gpu_as)

    def predict_one(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None,
                    n_scaling: str = "linear") -> Prediction:
        """Energy of the ``config.prompts`` images of ``config``, per image and in total, with intervals, the time
        per image of a law that models time, and the reasons the configuration is an extrapolation
        (``extrapolation``, empty inside the data).

        ``n_scaling="linear"`` (default): total = ``prompts`` x the per-image energy, the law at
        ``reference_prompts`` divided by it.
        ``n_scaling="law"``: the paper's reading, the law evaluated at ``N = prompts`` (per image =
        total / N); with ``alpha < 1`` a single image then costs ``(N_data)^(1-alpha)`` times more.
        """
        if n_scaling not in N_SCALINGS:
            raise UserError(f"unknown n_scaling {n_scaling!r}; allowed: {', '.join(N_SCALINGS)}")
        if config.gpu is None:
            config = config.replace(gpu=self.baseline_gpu)
        n = config.prompts
        at = int(self.reference_prompts) if n_scaling == "linear" else n
        p = self.predict(config.frame(at), level=level, gpu_as=gpu_as).iloc[0]
        k = 1.0 if n_scaling == "linear" else self._n_law_factor(n)
        j, lo, hi = (float(p[c]) * k / at for c in ("energy_pred_j", "pi_low_j", "pi_high_j"))
        t = (float(p["time_pred_s"]), float(p["time_low_s"]), float(p["time_high_s"])) if "time_pred_s" in p \
            else (None, None, None)
        return Prediction(configuration=config, law=self.name, kind=self.kind, convention=self.convention,
                          n_scaling=n_scaling, reference_prompts=int(self.reference_prompts), interval=level,
                          per_image_j=j, per_image_j_low=lo, per_image_j_high=hi, total_j=j * n, total_j_low=lo * n,
                          total_j_high=hi * n, extrapolation=list(self.extrapolation(config, n_scaling, gpu_as)),
                          per_image_s=t[0], per_image_s_low=t[1], per_image_s_high=t[2],
                          interval_kind=self.interval_kind)

    # -- what every law answers about itself -----------------------------------------------------------
    @property
    def fitted(self) -> Any:
        """The fitted law itself (a wrapper's is the law it wraps): where its coefficients are read."""
        return self

    @property
    def interval_kind(self) -> str:
        """How this law's energy intervals are obtained, in words."""
        if self.kind == "paper":
            return "the OLS prediction interval in log space (in-sample residuals)"
        return "the spread of the law's own log residuals on its training rows (in-sample)"

    def half_width(self, level: float = 0.95) -> float | None:
        """The interval's constant half-width (log units) at ``level`` where the law has one from held-out errors;
        None: the law's own (in-sample) interval."""
        return None

    def time_half_width(self, level: float = 0.95) -> float | None:
        """The same for the time interval of a law that models time."""
        return None

    @property
    def models_time(self) -> bool:
        """Whether the law predicts a run's time as well as its energy (its ``predict`` gives ``time_pred_s``)."""
        return False

    def time_extrapolation(self, config: Configuration, gpu_as: dict[str, str] | None = None) -> list[str]:
        """Reasons why ``config``'s time lies outside the law's timed rows (a law that models time)."""
        return []

    def run_parts(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Per image of each row, the :data:`energy_nb.laws.physics.PARTS` of a law that models time (what a
        calibration scales and the calculator compiles)."""
        raise UserError(f"law {self.name!r} models energy only: it has no time and power to split a run into")

    #: The GPU whose time and idle power a gross answer uses (None: the GPU asked about).
    time_gpu: str | None = None

    def describe(self) -> dict:
        """What the law is, what it was fitted on and where that came from (JSON-safe)."""
        return finite(dict(name=self.name, kind=self.kind, convention=self.convention, r2_log=self.r2,
                           n_obs=self.n_obs, reference_prompts=self.reference_prompts, domain=self.domain,
                           provenance=self.provenance,
                           parameters=self.table().reset_index().to_dict(orient="records")))

    def save(self, path: str | Path) -> Path:
        """Write the law (coefficients, domain, provenance) as strict JSON."""
        path = Path(path)
        path.write_text(to_json(self.to_dict()))
        return path


@dataclass(kw_only=True)
class FittedLaw(LawMixin):
    """The one results object of every fitted law: its coefficients (``coef``; terms dropped or held at a prior in
    ``frozen``, with why), the standard errors of their logs (``se_log``), the log-residual spread ``sigma`` on
    ``df_resid`` degrees of freedom, R² in log space, the rows, GPUs, models and dtypes it was fitted on and their
    domain, the N per-image energy is read at, provenance, and each training row's ln(measured / fitted) and fitted
    energy (J). ``family`` is the registry law it is (``name`` may say more: ``ops (flux)``)."""

    name: str
    coef: dict[str, float]
    sigma: float = math.nan
    df_resid: float = 1.0
    r2: float = math.nan
    n_obs: int = 0
    baseline_gpu: str = "A100"
    gpus: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    frozen: dict[str, str] = field(default_factory=dict)
    family: str = ""
    kind: str = ""
    convention: str = "counted"
    domain: dict[str, Any] = field(default_factory=dict)
    reference_prompts: int = 100
    provenance: dict[str, Any] = field(default_factory=dict)
    se_log: dict[str, float] = field(default_factory=dict)
    resid_log: list[float] = field(default_factory=list)
    fitted_j: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.family = self.family or self.name.split(" (")[0]

    @property
    def dropped(self) -> dict[str, str]:
        """Terms dropped or held at a prior, and why (``frozen``)."""
        return self.frozen

    def value(self, parameter: str) -> float:
        return float(self.coef[parameter])


class LawWrapper:
    """A fitted law with one behaviour changed (its intervals, or the GPU it answers for): a subclass defines what it
    changes; every other field and method is the wrapped law's, and one configuration is answered as any law answers
    (:meth:`LawMixin.per_image`, :meth:`LawMixin.predict_one`, with the wrapper's ``predict``)."""

    per_image = LawMixin.per_image
    predict_one = LawMixin.predict_one

    def __init__(self, law: Any) -> None:
        self._law = law
        self.name = law.name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_law":
            raise AttributeError(name)
        return getattr(self._law, name)


@dataclass(kw_only=True)
class PricedLaw(FittedLaw):
    """A law priced by the datasheet (:class:`energy_nb.laws.achieved.AchievedLaw`,
    :class:`energy_nb.laws.ops.OpsLaw`): no term per GPU -- a GPU enters through its datasheet, so any GPU with a
    specification is predicted, and the answer says how it was priced -- and a model of time as well as energy
    (``n_timed`` training rows with a latency, ``time_sigma`` their log-time spread)."""

    n_timed: int = 0
    time_sigma: float | None = None

    @property
    def gpu_factor(self) -> dict[str, float]:  # no GPU terms: hardware enters through the datasheet
        return {}

    @property
    def models_time(self) -> bool:
        return True

    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]:
        from ..models.hardware import get_spec

        out = super().extrapolation(config, n_scaling, gpu_as)
        gpu = config.gpu or self.baseline_gpu
        spec = get_spec((gpu_as or {}).get(gpu, gpu))
        return [f"GPU {gpu} is not in the law's data ({', '.join(self.domain['gpus'])}): priced from its datasheet "
                f"({spec.tflops_half:g} TFLOP/s half, {spec.bandwidth_gb_s:g} GB/s, {spec.power_w:g} W)"
                if s.startswith(f"GPU {gpu} is not") else s for s in out]


def term_table(coef: dict[str, float], units: dict[str, str], meanings: dict[str, str],
               frozen: dict[str, str] | None = None) -> pd.DataFrame:
    """A fitted law's parameters: value, unit and meaning (a term held at its prior says so and why)."""
    frozen = frozen or {}
    rows = [dict(parameter=t, value=v, unit=units[t], meaning=meanings[t]
                 + (f" [held at prior: {frozen[t]}]" if t in frozen else "")) for t, v in coef.items()]
    return pd.DataFrame(rows).set_index("parameter")
