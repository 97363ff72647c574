"""What every energy law shares: per-image semantics, the data's domain, extrapolation flags,
provenance, description and JSON persistence.

A law class (:class:`energy_nb.laws.scaling.ScalingLaw`, :class:`energy_nb.laws.physical.PhysicalLaw`,
:class:`energy_nb.laws.transfer.TransferLaw`) implements ``predict(df, level, gpu_as)`` -- energy in J of each
row's ``n_prompts`` prompts with a prediction interval -- and ``table()``; this mixin adds the rest of the
:class:`energy_nb.laws.registry.Law` protocol, for one :class:`~energy_nb.models.configuration.Configuration`.

**Per-image energy, one definition everywhere.** A sequential run of ``N`` prompts costs ``N`` times
the per-image energy, and the per-image energy is what the law predicts at the ``N`` of its data
(:attr:`reference_prompts`, 100 for the paper's tables) divided by that ``N``. The paper's law has
``alpha < 1`` and its data never varies ``N`` (always 100), so evaluating it at ``N = 1`` extrapolates
along a direction the data does not span; that reading stays available as ``n_scaling="law"``.

Units: energy in J (``_j``) and Wh (``_wh``); intervals are prediction intervals at ``level`` (0.95: 95%).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..core.jsonio import finite, to_json
from ..core.stats import two_sided
from ..core.units import HALF_DTYPES, J_PER_KWH, J_PER_WH
from ..models.configuration import Configuration

N_SCALINGS: tuple[str, ...] = ("linear", "law")
#: Kinds of law that price any GPU from its datasheet (no GPU term: a GPU without data is not an extrapolation of a
#: term, and fp32 is priced from the fp32 peaks).
DATASHEET_KINDS: tuple[str, ...] = ("transfer", "ops")


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


@dataclass(frozen=True)
class LawPrediction:
    """What a law answers for one configuration: the energy of its ``n_prompts`` images, per image and in total,
    with the ``interval``-level prediction interval, and every reason the configuration lies outside the law's
    data (``extrapolation``; empty inside). Energies in J (``_wh`` properties in Wh)."""

    law: str
    kind: str
    convention: str
    gpu: str
    n_prompts: int
    n_scaling: str
    reference_prompts: int  #: the N of the law's data: per-image energy = E(N) / N at this N
    interval: float
    per_image_j: float
    per_image_j_low: float
    per_image_j_high: float
    extrapolation: tuple[str, ...] = field(default_factory=tuple)
    #: time per image (s) and its interval, from a law that models time (None: an energy-only law)
    per_image_s: float | None = None
    per_image_s_low: float | None = None
    per_image_s_high: float | None = None

    @property
    def total_j(self) -> float:
        return self.per_image_j * self.n_prompts

    @property
    def total_j_low(self) -> float:
        return self.per_image_j_low * self.n_prompts

    @property
    def total_j_high(self) -> float:
        return self.per_image_j_high * self.n_prompts

    @property
    def per_image_wh(self) -> float:
        return self.per_image_j / J_PER_WH

    @property
    def interval_wh(self) -> tuple[float, float]:
        """The per-image interval in Wh."""
        return self.per_image_j_low / J_PER_WH, self.per_image_j_high / J_PER_WH


class LawMixin:
    """Shared behaviour of fitted laws (fields ``name``, ``kind``, ``convention``, ``domain``,
    ``reference_prompts``, ``provenance``, ``baseline_gpu``, ``gpus``, ``models``, ``dtypes``, ``r2``,
    ``n_obs`` are dataclass fields of the concrete class)."""

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

    def _at(self, config: Configuration, n: int, level: float, gpu_as: dict[str, str] | None) -> pd.Series:
        if config.gpu is None:
            config = config.replace(gpu=self.baseline_gpu)
        return self.predict(config.frame(n), level=level, gpu_as=gpu_as).iloc[0]

    def per_image(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None
                  ) -> LawPrediction:
        """One image of ``config`` (:meth:`predict_one` at one prompt): the law at ``reference_prompts`` divided by
        it. This is the one per-image number of ``predict``, ``plan`` and the book."""
        return self.predict_one(config.replace(prompts=1), level=level, gpu_as=gpu_as)

    def predict_one(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None,
                    n_scaling: str = "linear") -> LawPrediction:
        """Energy of the ``config.prompts`` images of ``config``, per image and in total, with intervals and
        the reasons the configuration is an extrapolation (``extrapolation``, empty inside the data).

        ``n_scaling="linear"`` (default): total = ``prompts`` x the per-image energy, the law at
        ``reference_prompts`` divided by it.
        ``n_scaling="law"``: the paper's reading, the law evaluated at ``N = prompts`` (per image =
        total / N); with ``alpha < 1`` a single image then costs ``(N_data)^(1-alpha)`` times more.
        """
        if n_scaling not in N_SCALINGS:
            raise UserError(f"unknown n_scaling {n_scaling!r}; allowed: {', '.join(N_SCALINGS)}")
        gpu = config.gpu or self.baseline_gpu
        n = config.prompts
        at = int(self.reference_prompts) if n_scaling == "linear" else n
        p = self._at(config, at, level, gpu_as)
        k = 1.0 if n_scaling == "linear" else self._n_law_factor(n)
        j, lo, hi = (float(p[c]) * k / at for c in ("energy_pred_j", "pi_low_j", "pi_high_j"))
        t = (float(p["time_pred_s"]), float(p["time_low_s"]), float(p["time_high_s"])) if "time_pred_s" in p \
            else (None, None, None)
        return LawPrediction(law=self.name, kind=self.kind, convention=self.convention, gpu=gpu, n_prompts=n,
                             n_scaling=n_scaling, reference_prompts=int(self.reference_prompts), interval=level,
                             per_image_j=j, per_image_j_low=lo, per_image_j_high=hi,
                             extrapolation=tuple(self.extrapolation(config, n_scaling, gpu_as)),
                             per_image_s=t[0], per_image_s_low=t[1], per_image_s_high=t[2])

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

    #: The GPU whose time and idle power a gross answer uses (None: the GPU asked about).
    time_gpu: str | None = None

    # -- the fit, read as statsmodels results are --------------------------------------------------------
    @property
    def params(self) -> pd.Series:
        """Every parameter's fitted value by name (the rows of :meth:`table`; a dropped or frozen term as fitted)."""
        return self.table()["value"].astype(float)

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

    # -- description and persistence -------------------------------------------------------------------
    def summary(self) -> str:
        """The fitted law in words and numbers: its parameters (value, and interval or unit where it has
        them), R² in log space, the rows, models and GPUs it was fitted on (what ``energy-nb fit`` prints)."""
        table = self.table()
        return (table.to_string(float_format=lambda v: f"{v:.4g}")
                + f"\nR^2 (log) = {self.r2:.4f} on {self.n_obs} rows; models {self.models}; GPUs {self.gpus}")

    def _repr_markdown_(self) -> str:
        return f"**{self.name}** ({self.kind} law)\n\n```text\n{self.summary()}\n```"

    def describe(self) -> dict:
        """What the law is, what it was fitted on and where that came from (JSON-safe)."""
        return finite(dict(name=self.name, kind=self.kind, convention=self.convention, r2_log=self.r2,
                           n_obs=self.n_obs, reference_prompts=self.reference_prompts, domain=self.domain,
                           provenance=self.provenance,
                           parameters=self.table().reset_index().to_dict(orient="records")))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def save(self, path: str | Path) -> Path:
        """Write the law (coefficients, domain, provenance) as strict JSON."""
        path = Path(path)
        path.write_text(to_json(self.to_dict()))
        return path


#: The fields of a fitted law a wrapper answers with unchanged.
FORWARDED = ("kind", "convention", "domain", "reference_prompts", "provenance", "baseline_gpu", "gpus", "models",
             "dtypes", "r2", "n_obs", "dropped", "df_resid")


class LawWrapper(LawMixin):
    """A fitted law with one behaviour changed (its intervals, or the GPU it answers for): its fields
    (:data:`FORWARDED`), ``table``, ``to_dict``, ``extrapolation`` and N reading are the wrapped law's."""

    def __init__(self, law: Any) -> None:
        self._law = law
        self.name = law.name
        for f in FORWARDED:
            setattr(self, f, getattr(law, f))

    @property
    def fitted(self) -> Any:
        return self._law.fitted

    @property
    def interval_kind(self) -> str:
        return self._law.interval_kind

    def half_width(self, level: float = 0.95) -> float | None:
        return self._law.half_width(level)

    def time_half_width(self, level: float = 0.95) -> float | None:
        return self._law.time_half_width(level)

    @property
    def models_time(self) -> bool:
        return self._law.models_time

    def time_extrapolation(self, config: Configuration, gpu_as: dict[str, str] | None = None) -> list[str]:
        return self._law.time_extrapolation(config, gpu_as)

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        return self._law.predict(df, level=level, gpu_as=gpu_as)

    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]:
        return self._law.extrapolation(config, n_scaling, gpu_as)

    def _n_law_factor(self, n: int) -> float:
        return self._law._n_law_factor(n)

    def table(self) -> pd.DataFrame:
        return self._law.table()

    def to_dict(self) -> dict:
        return self._law.to_dict()
