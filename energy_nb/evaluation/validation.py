"""One validation engine: k-fold within a model, train/test splits, leave one model (or GPU) out.

Every function returns the scored rows with ``energy_j`` (measured), ``energy_pred_j`` and its prediction
interval (``pi_low_j``, ``pi_high_j``), so tables, figures and metrics come from one frame. A row a law
cannot predict (fp32 when its training rows have none) gets NaN there, never a guess: :func:`predict_rows`
is the one place that decides it.

A candidate law is a :class:`~energy_nb.evaluation.candidates.Candidate` (:mod:`.candidates`: a law, its FLOPs
convention and form). The choice among candidates, plain and nested, is :mod:`.selection`'s; this module only
predicts held-out rows.

Units: energies in J; errors in %.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws import Law
from ..laws.registry import DATASHEET_KINDS
from .candidates import PAPER_CANDIDATES, Candidate, as_candidates
from .metrics import ape, combined_score, coverage_pct, metrics, row_errors, summarize

__all__ = ["Candidate", "PAPER_CANDIDATES", "FOLDS", "as_candidates", "predict_rows", "fold_ids", "kfold",
           "within_model_cv",
           "cross_model", "cross_gpu", "held_out", "scores", "metrics", "summarize"]


FOLDS: tuple[str, ...] = ("model", "gpu")


def predict_rows(fitted: Law, test: pd.DataFrame) -> pd.DataFrame:
    """``test`` with ``energy_pred_j``, ``pi_low_j`` and ``pi_high_j`` (J for each row's prompts; and
    ``time_pred_s``, seconds per image, from laws that model time); NaN where the
    law cannot say: fp32 rows when its training rows had no fp32 (the paper's and the physical laws; the
    transfer laws price fp32 from the datasheet). A GPU the paper's or a physical law has no term for is
    predicted as its baseline GPU; the transfer laws price it from its datasheet."""
    out = test.copy()
    for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
        out[col] = np.nan
    ok = test
    if fitted.kind not in DATASHEET_KINDS and ("fp32" not in fitted.dtypes or "I_fp32" in fitted.dropped):
        ok = test[test["dtype"] != "fp32"]
    if ok.empty:
        return out
    gpu_as = {g: fitted.baseline_gpu for g in ok["gpu"].astype(str).unique()
              if fitted.kind not in DATASHEET_KINDS and g not in fitted.gpus}
    pred = fitted.predict(ok, gpu_as=gpu_as)
    for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
        out.loc[ok.index, col] = pred[col].to_numpy(float)
    if "time_pred_s" in pred:  # laws that model time: seconds per image
        out["time_pred_s"] = np.nan
        out.loc[ok.index, "time_pred_s"] = pred["time_pred_s"].to_numpy(float)
    return out


# ---------------------------------------------------------------------------------------------------
# Within a model, and explicit train -> test splits
# ---------------------------------------------------------------------------------------------------
def fold_ids(n: int, k: int = 5, seed: int = 0, min_rows: int = 2) -> np.ndarray:
    """The fold of each of ``n`` rows: ``k`` folds (capped at ``n // min_rows``) of a permutation drawn with ``seed``,
    the same for every candidate and every use of the same rows. Too few rows for two folds: an error."""
    k = min(int(k), n // max(1, min_rows))
    if k < 2:
        raise UserError(f"{n} ok rows: too few for cross-validation (at least {2 * min_rows})")
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def kfold(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], k: int = 5, seed: int = 0,
          min_rows: int = 2) -> pd.DataFrame:
    """k-fold cross-validation of every candidate on the ``ok`` rows of ``df`` (shuffled once with ``seed``, the
    same folds for every candidate): each row predicted once, out of fold. Returns the rows with ``law``,
    ``convention``, ``candidate`` (its label), ``fold`` and the predictions (NaN where a candidate cannot
    predict a row, or cannot be fitted on a fold's training rows). ``k`` is capped at rows // ``min_rows``."""
    data = ok_rows(df)
    fold = fold_ids(len(data), k, seed, min_rows)
    k = int(fold.max()) + 1
    out = []
    for c in as_candidates(candidates, data["model"].astype(str).unique()):
        for f in range(k):
            test = data[fold == f]
            try:
                part = predict_rows(c.fit(data[fold != f]), test)
            except (ValueError, np.linalg.LinAlgError):  # too few rows of a kind for this law's terms
                part = test.assign(energy_pred_j=np.nan, pi_low_j=np.nan, pi_high_j=np.nan)
            part["law"], part["convention"], part["candidate"], part["fold"] = c.law, c.convention, c.label, f
            out.append(part)
    return pd.concat(out, ignore_index=True)


def within_model_cv(df: pd.DataFrame, model: str, k: int = 2, seed: int = 0, convention: str = "paper") -> pd.DataFrame:
    """k-fold CV (shuffled with ``seed``) of the paper's law on one model's rows; every row predicted once,
    out of fold (column ``fold``)."""
    data = ok_rows(df[df["model"] == model])
    if len(data) < 2 * k:
        raise UserError(f"model {model!r} has {len(data)} ok rows: too few for {k}-fold CV")
    return kfold(data, [Candidate("paper", convention)], k=k, seed=seed).drop(columns=["law", "convention",
                                                                                      "candidate"])


def cross_model(df: pd.DataFrame, train: Iterable[str], test: Iterable[str], convention: str = "paper",
                gpus: Iterable[str] | None = None) -> tuple[Law, pd.DataFrame, pd.DataFrame]:
    """The paper's law fitted on the ``train`` models predicting the ``test`` models (rows it cannot predict
    left out). Returns (law, train rows, test rows), each with its predictions."""
    data = ok_rows(df if gpus is None else df[df["gpu"].isin(list(gpus))])
    train, test = list(train), list(test)
    tr, te = data[data["model"].isin(train)], data[data["model"].isin(test)]
    if tr.empty or te.empty:
        raise UserError(f"no rows for train={train} or test={test}; models present: {sorted(data['model'].unique())}")
    law = Candidate("paper", convention).fit(tr)
    return (law, predict_rows(law, tr).reset_index(drop=True),
            predict_rows(law, te).dropna(subset=["energy_pred_j"]).reset_index(drop=True))


def cross_gpu(df: pd.DataFrame, train_gpus: Iterable[str], test_gpu: str, convention: str = "paper",
              models: Iterable[str] | None = None, calibration: pd.DataFrame | None = None,
              per_image: bool = False) -> tuple[Law, pd.DataFrame]:
    """The paper's law fitted on ``train_gpus`` predicting ``test_gpu`` (hardware it has not seen, predicted
    as the baseline GPU). With ``calibration`` (rows measured on ``test_gpu``) the predictions are shifted
    by their mean log residual: one measured point calibrates the new hardware."""
    data = ok_rows(df if models is None else df[df["model"].isin(list(models))])
    tr = data[data["gpu"].isin(list(train_gpus))]
    te = data[data["gpu"] == test_gpu]
    if tr.empty or te.empty:
        raise UserError(f"no rows for train GPUs {list(train_gpus)} or test GPU {test_gpu!r}; "
                        f"GPUs present: {sorted(data['gpu'].unique())}")
    law = Candidate("paper", convention, per_image).fit(tr)
    pred = predict_rows(law, te).reset_index(drop=True)
    if calibration is not None and len(calibration):
        cal = predict_rows(law, calibration)
        shift = float(np.mean(np.log(calibration["energy_j"].to_numpy(float))
                              - np.log(cal["energy_pred_j"].to_numpy(float))))
        for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
            pred[col] = pred[col] * np.exp(shift)
        pred["calibration_shift"] = shift
    return law, pred


# ---------------------------------------------------------------------------------------------------
# Leave one group out, and honest selection
# ---------------------------------------------------------------------------------------------------
def _groups(df: pd.DataFrame, by: str) -> list[str]:
    if by not in FOLDS:
        raise UserError(f"unknown fold {by!r}; allowed: {', '.join(FOLDS)}")
    return sorted(df[by].astype(str).unique())


def held_out(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], by: str = "model",
             groups: Sequence[str] | None = None,
             score: Callable[[pd.DataFrame], pd.Series] | None = None) -> pd.DataFrame:
    """Leave one ``model`` (or ``gpu``) out, for every candidate: fitted on the other groups' rows, each
    candidate predicts the held-out group's rows (those ``score`` marks, when given). Returns the held-out
    rows with ``law``, ``convention``, ``candidate`` (its label), ``held_out``, ``fold`` and the predictions
    (NaN where the law cannot predict the row). ``groups``: the groups held out (default: every group)."""
    data = ok_rows(df)
    cands = as_candidates(candidates, data["model"].astype(str).unique())
    scored = score(data) if score is not None else pd.Series(True, index=data.index)
    out = []
    for g in (list(groups) if groups is not None else _groups(data, by)):
        train, test = data[data[by].astype(str) != g], data[(data[by].astype(str) == g) & scored]
        if train.empty or test.empty:
            raise UserError(f"no rows to train on without {by} {g!r}, or none of it to score")
        for c in cands:
            part = predict_rows(c.fit(train), test)
            part["law"], part["convention"], part["candidate"] = c.law, c.convention, c.label
            part["held_out"], part["fold"] = g, by
            out.append(part)
    return pd.concat(out, ignore_index=True)


#: What identifies one measurement across candidates (for ``common`` scoring).
ROW_KEY = ["held_out", "model", "gpu", "height", "width", "steps", "dtype", "cfg", "batch_size", "dataset"]


def scores(preds: pd.DataFrame, common: bool = False) -> pd.DataFrame:
    """Per candidate and held-out group: rows scored, MAPE (%), worst row's error (%), the share of held-out rows
    inside the candidate's prediction interval (``coverage_pct``, %), R² (log and linear), MAE (J), Spearman and
    Pearson; on the rows with a latency, time and gross-energy MAPE (%, NaN for a law without time) and the
    selection's ``score_pct`` (:func:`energy_nb.evaluation.metrics.combined_score`). With ``common``, only rows every
    candidate predicted are scored (the same rows for every candidate)."""
    p = preds.dropna(subset=["energy_pred_j"])
    if common:
        key = [k for k in ROW_KEY if k in p]
        n = preds["candidate"].nunique()
        p = p[p.groupby(key, dropna=False)["candidate"].transform("nunique") == n]
    rows = []
    for (label, g), part in p.groupby(["candidate", "held_out"], sort=False):
        m = metrics(part["energy_j"], part["energy_pred_j"])
        e = ape(part)
        err = row_errors(part)
        rows.append(dict(law=part["law"].iloc[0], convention=part["convention"].iloc[0], candidate=label, held_out=g,
                         rows=len(part), mape_pct=float(e.mean()), worst_pct=float(e.max()),
                         coverage_pct=coverage_pct(part), r2_log=m["r2_log"],
                         r2_linear=m["r2_linear"], mae_j=m["mae_j"], spearman=m["spearman"], pearson=m["pearson"],
                         timed_rows=int(err["time_err"].notna().sum()), time_mape_pct=float(err["time_err"].mean()),
                         gross_mape_pct=float(err["gross_err"].mean()), score_pct=combined_score(err)))
    return pd.DataFrame(rows).sort_values(["candidate", "held_out"], kind="stable").reset_index(drop=True)
