"""The energy scaling law (paper Eq. 3-4), fitted by OLS with statsmodels' formula API.

``log E = log A + alpha log(FLOPs_cfg) + beta_dtype I_fp32 + sum_g beta_g I_g + beta_res log(H W / 256)``

Units, as in the paper: ``E`` in kWh for all ``N`` prompts, ``FLOPs_cfg = N x T x FLOPs_denoise x
2^cfg`` in GFLOPs, natural logarithms. GPUs are one-hot with a baseline (A100 by default). A column
that is constant in the training data (fp32 for Qwen, a GPU indicator on one-GPU data) is dropped
and reported: that is the paper's "beta = 0".
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

from . import paths
from .architectures import MODEL_KEYS, get_model
from .flops import check_convention, scaling_flops
from .schema import DTYPES, ok_rows, read_energy_csv

J_PER_KWH = 3.6e6
J_PER_WH = 3600.0
HALF_DTYPES = ("fp16", "bf16")

#: Readable names of the law's parameters (statsmodels term -> paper symbol).
PARAM_NAMES = {"Intercept": "log_A", "log_F": "alpha", "I_fp32": "beta_dtype", "log_res": "beta_res"}


def gpu_term(gpu: str) -> str:
    return "I_" + "".join(ch if ch.isalnum() else "_" for ch in gpu)


def features(df: pd.DataFrame, convention: str = "paper", gpus: Iterable[str] = (),
             baseline_gpu: str = "A100") -> pd.DataFrame:
    """Eq. 4's feature vector for each row (plus ``log_E`` when ``energy_j`` is there).

    Columns: ``log_F`` (ln GFLOPs_cfg), ``I_fp32``, one ``I_<gpu>`` per GPU in ``gpus`` other than
    the baseline, ``log_res`` (ln(H W / 256)), ``log_E`` (ln kWh).
    """
    check_convention(convention)
    out = pd.DataFrame(index=df.index)
    sizes = df["size"].astype(object).where(df["size"].notna(), "full") if "size" in df else ["full"] * len(df)
    flops = [scaling_flops(str(r.model), int(r.height), int(r.width), int(r.steps), int(r.cfg),
                           int(r.n_prompts), convention, str(sz)) for r, sz in zip(df.itertuples(), sizes)]
    out["log_F"] = np.log(np.asarray(flops) / 1e9)
    out["I_fp32"] = (df["dtype"].astype(str) == "fp32").astype(float)
    for g in gpus:
        if g != baseline_gpu:
            out[gpu_term(g)] = (df["gpu"].astype(str) == g).astype(float)
    out["log_res"] = np.log(df["height"].astype(float) * df["width"].astype(float) / 256.0)
    if "energy_j" in df and df["energy_j"].notna().all():
        out["log_E"] = np.log(df["energy_j"].astype(float) / J_PER_KWH)
    return out


@dataclass
class ScalingLaw:
    """A fitted law: coefficients, their covariance, and what it was fitted on."""

    terms: list[str]  #: statsmodels term names, e.g. ["Intercept", "log_F", "I_fp32", "log_res"]
    params: dict[str, float]
    cov: list[list[float]]
    scale: float  #: residual variance (log space)
    df_resid: float
    r2: float  #: R^2 in log space on the training data
    n_obs: int
    convention: str
    baseline_gpu: str
    gpus: list[str]  #: GPUs in the training data
    models: list[str]
    dtypes: list[str]
    dropped: dict[str, str] = field(default_factory=dict)  #: term -> why it was dropped (beta = 0)
    name: str = "paper"

    # -- reporting ------------------------------------------------------------------------------------
    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Parameters with standard errors and (1-alpha) confidence intervals; dropped terms as 0."""
        t = stats.t.ppf(1 - alpha / 2, self.df_resid) if self.df_resid > 0 else float("nan")
        rows = []
        for i, term in enumerate(self.terms):
            se = math.sqrt(self.cov[i][i]) if self.cov[i][i] >= 0 else float("nan")
            v = self.params[term]
            rows.append(dict(parameter=PARAM_NAMES.get(term, term.replace("I_", "beta_")), term=term, value=v,
                             std_err=se, ci_low=v - t * se, ci_high=v + t * se, dropped=""))
        for term, why in self.dropped.items():
            rows.append(dict(parameter=PARAM_NAMES.get(term, term.replace("I_", "beta_")), term=term, value=0.0,
                             std_err=np.nan, ci_low=np.nan, ci_high=np.nan, dropped=why))
        return pd.DataFrame(rows).set_index("parameter")

    def value(self, parameter: str) -> float:
        """A parameter by paper name (log_A, alpha, beta_dtype, beta_res, beta_<GPU>); 0 if dropped."""
        return float(self.table().loc[parameter, "value"])

    # -- prediction -----------------------------------------------------------------------------------
    def _design(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> np.ndarray:
        gpu_as = gpu_as or {}
        df = df.copy()
        known = set(self.gpus) | {self.baseline_gpu}
        for g in df["gpu"].astype(str).unique():
            if g not in known and g not in gpu_as:
                raise ValueError(
                    f"GPU {g!r} is not in this law (fitted on: {', '.join(sorted(known))}). "
                    f"Say how to treat it, e.g. gpu_as={{'{g}': '{self.baseline_gpu}'}} "
                    f"(CLI: --treat-gpu-as {self.baseline_gpu}), or fit a law on data from that GPU.")
        df["gpu"] = df["gpu"].astype(str).map(lambda g: gpu_as.get(g, g))
        if "I_fp32" in self.dropped and (df["dtype"].astype(str) == "fp32").any():
            raise ValueError("dtype 'fp32' cannot be predicted by this law: its training data had no fp32 "
                             f"rows (allowed here: {', '.join(HALF_DTYPES)})")
        X = features(df.drop(columns=["energy_j"], errors="ignore"), self.convention, gpus=self.gpus,
                     baseline_gpu=self.baseline_gpu)
        X["Intercept"] = 1.0
        for term in self.terms:
            if term not in X:
                X[term] = 0.0
        return X[self.terms].to_numpy(dtype=float)

    def predict(self, df: pd.DataFrame, alpha: float = 0.05, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Predicted energy (J, for each row's ``n_prompts``) with a (1-alpha) prediction interval.

        Returns columns ``energy_pred_j``, ``pi_low_j``, ``pi_high_j``, ``log_pred`` (ln kWh), ``se_log``.
        The interval is the OLS prediction interval in log space, exponentiated.
        """
        for col in ("model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts"):
            if col not in df:
                raise ValueError(f"missing column {col!r} for prediction")
        for m in df["model"].astype(str).unique():
            get_model(m)
        for d in df["dtype"].astype(str).unique():
            if d not in DTYPES:
                raise ValueError(f"unknown dtype {d!r}; allowed: {', '.join(DTYPES)}")
        X = self._design(df, gpu_as)
        beta = np.array([self.params[t] for t in self.terms])
        cov = np.array(self.cov)
        mean = X @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, cov, X) + self.scale)
        t = stats.t.ppf(1 - alpha / 2, self.df_resid) if self.df_resid > 0 else np.inf
        out = pd.DataFrame(index=df.index)
        out["log_pred"] = mean
        out["se_log"] = se
        out["energy_pred_j"] = np.exp(mean) * J_PER_KWH
        out["pi_low_j"] = np.exp(mean - t * se) * J_PER_KWH
        out["pi_high_j"] = np.exp(mean + t * se) * J_PER_KWH
        return out

    def predict_one(self, model: str, height: int, width: int, steps: int, dtype: str = "fp16",
                    cfg: bool = False, gpu: str | None = None, n_prompts: int = 1, alpha: float = 0.05,
                    gpu_as: dict[str, str] | None = None) -> dict:
        """Energy of ``n_prompts`` images of one configuration: J and Wh, per image and in total, with PI."""
        gpu = gpu or self.baseline_gpu
        if n_prompts < 1:
            raise ValueError(f"prompts {n_prompts!r} is not allowed: it must be an integer >= 1")
        row = pd.DataFrame([dict(model=model, gpu=gpu, height=height, width=width, steps=steps, dtype=dtype,
                                 cfg=int(bool(cfg)), n_prompts=n_prompts)])
        p = self.predict(row, alpha=alpha, gpu_as=gpu_as).iloc[0]
        n = float(n_prompts)
        return dict(model=model, gpu=gpu, height=height, width=width, steps=steps, dtype=dtype, cfg=bool(cfg),
                    n_prompts=n_prompts, law=self.name, convention=self.convention, interval=1 - alpha,
                    total_j=p.energy_pred_j, total_j_low=p.pi_low_j, total_j_high=p.pi_high_j,
                    per_image_j=p.energy_pred_j / n, per_image_j_low=p.pi_low_j / n,
                    per_image_j_high=p.pi_high_j / n,
                    per_image_wh=p.energy_pred_j / n / J_PER_WH, per_image_wh_low=p.pi_low_j / n / J_PER_WH,
                    per_image_wh_high=p.pi_high_j / n / J_PER_WH, total_wh=p.energy_pred_j / J_PER_WH,
                    total_wh_low=p.pi_low_j / J_PER_WH, total_wh_high=p.pi_high_j / J_PER_WH)

    # -- persistence ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ScalingLaw":
        try:
            data = json.loads(Path(path).read_text())
            return cls(**data)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"cannot read a scaling law from {path}: {exc}") from exc


def fit(df: pd.DataFrame, convention: str = "paper", baseline_gpu: str = "A100", name: str = "paper") -> ScalingLaw:
    """Fit Eq. 3 by OLS on the ``ok`` rows of ``df`` (shared schema)."""
    df = ok_rows(df)
    if len(df) < 3:
        raise ValueError(f"need at least 3 ok rows to fit the law, got {len(df)}")
    gpus = sorted(df["gpu"].astype(str).unique())
    X = features(df, convention, gpus=gpus, baseline_gpu=baseline_gpu)
    candidates = ["log_F", "I_fp32"] + [gpu_term(g) for g in gpus if g != baseline_gpu] + ["log_res"]
    dropped: dict[str, str] = {}
    terms = []
    for term in candidates:
        if X[term].nunique() <= 1:
            dropped[term] = f"constant in the training data (all {X[term].iloc[0]:g})"
        else:
            terms.append(term)
    res = smf.ols("log_E ~ " + " + ".join(terms), data=X).fit()
    names = list(res.params.index)
    return ScalingLaw(
        terms=names, params={k: float(v) for k, v in res.params.items()},
        cov=res.cov_params().loc[names, names].to_numpy().tolist(), scale=float(res.scale),
        df_resid=float(res.df_resid), r2=float(res.rsquared), n_obs=int(res.nobs), convention=convention,
        baseline_gpu=baseline_gpu, gpus=gpus, models=sorted(df["model"].astype(str).unique()),
        dtypes=sorted(df["dtype"].astype(str).unique()), dropped=dropped, name=name)


def shipped_data() -> pd.DataFrame:
    """All shipped energy records: the paper's A100 tables plus every measured GPU file (``ok`` rows)."""
    frames = [read_energy_csv(paths.A100_ENERGY_CSV)]
    for p in sorted(paths.MEASUREMENTS.glob("*.csv")):
        df = read_energy_csv(p)
        frames.append(df[(df["size"].fillna("full") == "full") & (df["device"].fillna("cuda") != "cpu")])
    return ok_rows(pd.concat(frames, ignore_index=True))


def default_law(model: str, convention: str = "paper") -> ScalingLaw:
    """The law ``predict`` uses when none is given: fitted on the shipped data of ``model`` alone."""
    if model not in MODEL_KEYS:
        get_model(model)
    df = shipped_data()
    return fit(df[df["model"] == model], convention=convention, name=f"default ({model}, shipped data)")
