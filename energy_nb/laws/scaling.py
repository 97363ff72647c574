"""The energy scaling law (paper Eq. 3-4), fitted by OLS with statsmodels.

Two forms. ``per_image=False`` is Eq. 3 as printed (energy of ``N`` prompts against ``N`` x the
per-prompt FLOPs): the 5.x pages use it to compare with the published tables. ``per_image=True``
regresses the energy of one image on the FLOPs of one image and adds ``beta_batch log(batch size)``;
on data whose N is constant (the paper's tables) it gives the same per-image predictions, and it
can also take batched rows from other sources. :func:`energy_nb.laws.get` fits this form.

``log E = log A + alpha log(FLOPs_cfg) + beta_dtype I_fp32 + sum_g beta_g I_g + beta_res log(H W / 256)``

Units, as in the paper: ``E`` in kWh for all ``N`` prompts, ``FLOPs_cfg = N x T x FLOPs_denoise x
2^cfg`` in GFLOPs, natural logarithms. GPUs are one-hot with a baseline (A100 by default). A column
that is constant in the training data (fp32 for Qwen, a GPU indicator on one-GPU data) is dropped
and reported: that is the paper's "beta = 0".
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..compute.flops import check_convention, scaling_flops
from ..core.errors import UserError
from ..core.frames import rows as frame_rows
from ..core.stats import two_sided
from ..core.units import DTYPES, HALF_DTYPES, J_PER_KWH
from ..data.schema import ok_rows
from ..models.registry import get_model
from .base import FittedLaw, reference_prompts_of
from .domain import data_domain

#: The columns a row's FLOPs are read from.
FLOP_COLUMNS = ("model", "height", "width", "steps", "cfg", "n_prompts")
#: Readable names of the law's parameters (statsmodels term -> paper symbol).
PARAM_NAMES = {"Intercept": "log_A", "log_F": "alpha", "I_fp32": "beta_dtype", "log_res": "beta_res",
               "log_B": "beta_batch"}


def gpu_term(gpu: str) -> str:
    return "I_" + "".join(ch if ch.isalnum() else "_" for ch in gpu)


def features(df: pd.DataFrame, convention: str = "paper", gpus: Iterable[str] = (),
             baseline_gpu: str = "A100", per_image: bool = False) -> pd.DataFrame:
    """Eq. 4's feature vector for each row (plus ``log_E`` when ``energy_j`` is there).

    Columns: ``log_F`` (ln GFLOPs_cfg), ``I_fp32``, one ``I_<gpu>`` per GPU in ``gpus`` other than
    the baseline, ``log_res`` (ln(H W / 256)), ``log_E`` (ln kWh). With ``per_image``: ``log_F`` and
    ``log_E`` of one image (N = 1 in the FLOPs, energy / N) and ``log_B`` (ln batch size).
    """
    check_convention(convention)
    out = pd.DataFrame(index=df.index)
    sizes = df["size"].astype(object).where(df["size"].notna(), "full") if "size" in df else ["full"] * len(df)
    flops = [scaling_flops(str(r.model), int(r.height), int(r.width), int(r.steps), int(r.cfg),
                           1 if per_image else int(r.n_prompts), convention, str(sz))
             for r, sz in zip(frame_rows(df, FLOP_COLUMNS[:-1] if per_image else FLOP_COLUMNS), sizes)]
    out["log_F"] = np.log(np.asarray(flops) / 1e9)
    out["I_fp32"] = (df["dtype"].astype(str) == "fp32").astype(float)
    for g in gpus:
        if g != baseline_gpu:
            out[gpu_term(g)] = (df["gpu"].astype(str) == g).astype(float)
    out["log_res"] = np.log(df["height"].astype(float) * df["width"].astype(float) / 256.0)
    if per_image:
        batch = df["batch_size"].astype(float).fillna(1.0) if "batch_size" in df else pd.Series(1.0, index=df.index)
        out["log_B"] = np.log(batch.to_numpy(float))
    if "energy_j" in df and df["energy_j"].notna().all():
        n = df["n_prompts"].astype(float) if per_image else 1.0
        out["log_E"] = np.log(df["energy_j"].astype(float) / n / J_PER_KWH)
    return out


@dataclass(kw_only=True)
class ScalingLaw(FittedLaw):
    """The paper's law (Eq. 3) fitted: coefficients, their covariance, and what it was fitted on."""

    terms: list[str]  #: statsmodels term names, e.g. ["Intercept", "log_F", "I_fp32", "log_res"]
    cov: list[list[float]]
    scale: float  #: residual variance (log space)
    convention: str = "paper"
    name: str = "paper"
    kind: str = "paper"
    per_image_form: bool = False  #: True: energy and FLOPs of one image, with a batch-size term

    # -- reporting ------------------------------------------------------------------------------------
    def table(self, level: float = 0.95) -> pd.DataFrame:
        """Parameters with standard errors and ``level`` confidence intervals; dropped terms as 0."""
        t = two_sided(level, self.df_resid)
        rows = []
        for i, term in enumerate(self.terms):
            se = math.sqrt(self.cov[i][i]) if self.cov[i][i] >= 0 else float("nan")
            v = self.coef[term]
            rows.append(dict(parameter=PARAM_NAMES.get(term, term.replace("I_", "beta_")), term=term, value=v,
                             std_err=se, ci_low=v - t * se, ci_high=v + t * se, dropped=""))
        for term, why in self.frozen.items():
            rows.append(dict(parameter=PARAM_NAMES.get(term, term.replace("I_", "beta_")), term=term, value=0.0,
                             std_err=np.nan, ci_low=np.nan, ci_high=np.nan, dropped=why))
        return pd.DataFrame(rows).set_index("parameter")

    @property
    def bse(self) -> pd.Series:
        """OLS standard errors of :attr:`params` (NaN: dropped)."""
        return self.table()["std_err"].astype(float)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """``1 - alpha`` OLS confidence intervals of :attr:`params` (columns ``lower``, ``upper``; NaN: dropped)."""
        t = self.table(level=1.0 - alpha)
        return pd.DataFrame({"lower": t["ci_low"].astype(float), "upper": t["ci_high"].astype(float)})

    def value(self, parameter: str) -> float:
        """A parameter by paper name (log_A, alpha, beta_dtype, beta_res, beta_<GPU>); 0 if dropped."""
        return float(self.table().loc[parameter, "value"])

    # -- prediction -----------------------------------------------------------------------------------
    def design_matrix(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> np.ndarray:
        """The rows of ``df`` as the law's design matrix (columns in :attr:`terms` order; GPUs mapped by ``gpu_as``)."""
        gpu_as = gpu_as or {}
        df = df.copy()
        known = set(self.gpus) | {self.baseline_gpu}
        for g in df["gpu"].astype(str).unique():
            if g not in known and g not in gpu_as:
                raise UserError(
                    f"GPU {g!r} is not in this law (fitted on: {', '.join(sorted(known))}). "
                    f"Say how to treat it, e.g. gpu_as={{'{g}': '{self.baseline_gpu}'}} "
                    f"(CLI: --treat-gpu-as {self.baseline_gpu}), or fit a law on data from that GPU.")
        df["gpu"] = df["gpu"].astype(str).map(lambda g: gpu_as.get(g, g))
        if "I_fp32" in self.frozen and (df["dtype"].astype(str) == "fp32").any():
            raise UserError("dtype 'fp32' cannot be predicted by this law: its training data had no fp32 "
                             f"rows (allowed here: {', '.join(HALF_DTYPES)})")
        X = features(df.drop(columns=["energy_j"], errors="ignore"), self.convention, gpus=self.gpus,
                     baseline_gpu=self.baseline_gpu, per_image=self.per_image_form)
        X["Intercept"] = 1.0
        for term in self.terms:
            if term not in X:
                X[term] = 0.0
        return X[self.terms].to_numpy(dtype=float)

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        """Predicted energy (J, for each row's ``n_prompts``) with a ``level`` prediction interval.

        Returns columns ``energy_pred_j``, ``pi_low_j``, ``pi_high_j``, ``log_pred`` (ln kWh), ``se_log``.
        The interval is the OLS prediction interval in log space, exponentiated.
        """
        for col in ("model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts"):
            if col not in df:
                raise UserError(f"missing column {col!r} for prediction")
        for m in df["model"].astype(str).unique():
            get_model(m)
        for d in df["dtype"].astype(str).unique():
            if d not in DTYPES:
                raise UserError(f"unknown dtype {d!r}; allowed: {', '.join(DTYPES)}")
        X = self.design_matrix(df, gpu_as)
        beta = np.array([self.coef[t] for t in self.terms])
        cov = np.array(self.cov)
        mean = X @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, cov, X) + self.scale)
        t = two_sided(level, self.df_resid)
        # per-image form: the row's N images cost N times one image (sequential prompts)
        n = df["n_prompts"].astype(float).to_numpy() if self.per_image_form else 1.0
        out = pd.DataFrame(index=df.index)
        out["log_pred"] = mean + np.log(n)
        out["se_log"] = se
        out["energy_pred_j"] = n * np.exp(mean) * J_PER_KWH
        out["pi_low_j"] = n * np.exp(mean - t * se) * J_PER_KWH
        out["pi_high_j"] = n * np.exp(mean + t * se) * J_PER_KWH
        return out

    def _n_law_factor(self, n: int) -> float:
        """Energy of N prompts under the paper's N reading, over N x per-image energy: the per-image
        form reproduces Eq. 3's ``(N / N_data)^(alpha - 1)``; the printed form has it built in."""
        if not self.per_image_form:
            return 1.0
        return float((n / self.reference_prompts) ** (self.coef["log_F"] - 1.0)) if "log_F" in self.coef else 1.0


def fit(df: pd.DataFrame, convention: str = "paper", baseline_gpu: str = "A100", name: str = "paper",
        provenance: dict[str, Any] | None = None, per_image: bool = False, **_: Any) -> ScalingLaw:
    """Fit Eq. 3 by OLS (statsmodels) on the ``ok`` rows of ``df`` (shared schema);
    ``per_image``: in the per-image form with a batch-size term (see the module docstring)."""
    import statsmodels.api as sm

    df = ok_rows(df)
    if len(df) < 3:
        raise UserError(f"need at least 3 ok rows to fit the law, got {len(df)}")
    gpus = sorted(df["gpu"].astype(str).unique())
    X = features(df, convention, gpus=gpus, baseline_gpu=baseline_gpu, per_image=per_image)
    candidates = (["log_F", "I_fp32"] + [gpu_term(g) for g in gpus if g != baseline_gpu] + ["log_res"]
                  + (["log_B"] if per_image else []))
    dropped: dict[str, str] = {}
    terms = []
    for term in candidates:
        if X[term].nunique() <= 1:
            dropped[term] = f"constant in the training data (all {X[term].iloc[0]:g})"
            continue
        cols = np.column_stack([np.ones(len(X))] + [X[t].to_numpy(float) for t in (*terms, term)])
        if np.linalg.matrix_rank(cols) < cols.shape[1]:  # e.g. two resolutions and one step count
            dropped[term] = f"collinear with {' + '.join(['Intercept', *terms])} in the training data"
            continue
        terms.append(term)
    design = X[terms].assign(Intercept=1.0)[["Intercept", *terms]]  # what the formula "log_E ~ terms" builds
    res = sm.OLS(X["log_E"], design).fit()
    names = list(res.params.index)
    n = df["n_prompts"].to_numpy(float) if per_image else 1.0
    return ScalingLaw(
        terms=names, coef={k: float(v) for k, v in res.params.items()},
        cov=res.cov_params().loc[names, names].to_numpy().tolist(), scale=float(res.scale),
        sigma=float(np.sqrt(res.scale)),
        df_resid=float(res.df_resid), r2=float(res.rsquared), n_obs=int(res.nobs), convention=convention,
        baseline_gpu=baseline_gpu, gpus=gpus, models=sorted(df["model"].astype(str).unique()),
        dtypes=sorted(df["dtype"].astype(str).unique()), frozen=dropped, name=name, domain=data_domain(df),
        reference_prompts=reference_prompts_of(df), provenance=dict(provenance or {}, rows=int(len(df))),
        per_image_form=per_image, resid_log=[float(v) for v in res.resid],
        fitted_j=[float(v) for v in np.exp(res.fittedvalues.to_numpy(float)) * n * J_PER_KWH])
