"""One validation engine: the folds (:func:`splits`: k-fold within a model's rows, leave one model or GPU out, any
grouping), the held-out predictions of every candidate on them (:func:`cross_predict`), and their scores
(:func:`scores`, one row per candidate and fold, from the one scoring function
:func:`energy_nb.evaluation.metrics.score`).

The folds come from scikit-learn (``PredefinedSplit`` over :func:`fold_ids`, ``LeaveOneGroupOut``), at build time
only. Every function returns the scored rows with ``energy_j`` (measured), ``energy_pred_j`` and its prediction
interval (``pi_low_j``, ``pi_high_j``), so tables, figures and metrics come from one frame. A row a law cannot predict
(fp32 when its training rows have none) gets NaN there, never a guess: :func:`predict_rows` is the one place that
decides it. A candidate law is a :class:`~energy_nb.evaluation.candidates.Candidate`; the choice among candidates,
plain and nested, is :mod:`.selection`'s.

Units: energies in J; errors in %.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws import Law
from ..laws.base import DATASHEET_KINDS
from .candidates import PAPER_CANDIDATES, Candidate, as_candidates
from .metrics import metrics, score, summarize

__all__ = ["Candidate", "PAPER_CANDIDATES", "FOLDS", "as_candidates", "predict_rows", "fold_ids", "splits",
           "cross_predict", "kfold", "held_out", "within_model_cv", "cross_model", "cross_gpu", "scores", "metrics",
           "summarize"]

#: The groupings a held-out question may leave out one at a time.
FOLDS: tuple[str, ...] = ("model", "gpu")


def predict_rows(fitted: Law, test: pd.DataFrame) -> pd.DataFrame:
    """``test`` with ``energy_pred_j``, ``pi_low_j`` and ``pi_high_j`` (J for each row's prompts; and
    ``time_pred_s``, seconds per image, from laws that model time); NaN where the law cannot say: fp32 rows when its
    training rows had no fp32 (the paper's and the baselines; the datasheet laws price fp32 from the datasheet). A GPU
    the paper's law or a baseline has no term for is predicted as its baseline GPU; the datasheet laws price it."""
    out = test.copy()
    for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
        out[col] = np.nan
    ok = test
    if fitted.kind not in DATASHEET_KINDS and ("fp32" not in fitted.dtypes or "I_fp32" in fitted.frozen):
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


def fold_ids(n: int, k: int = 5, seed: int = 0, min_rows: int = 2) -> np.ndarray:
    """The fold of each of ``n`` rows: ``k`` folds (capped at ``n // min_rows``) of a permutation drawn with ``seed``,
    the same for every candidate and every use of the same rows. Too few rows for two folds: an error."""
    k = min(int(k), n // max(1, min_rows))
    if k < 2:
        raise UserError(f"{n} ok rows: too few for cross-validation (at least {2 * min_rows})")
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


def splits(data: pd.DataFrame, by: str | pd.Series = "rows", groups: Sequence[str] | None = None, k: int = 5,
           seed: int = 0, min_rows: int = 2) -> list[tuple[str, np.ndarray]]:
    """The held-out folds of ``data`` as ``(name, held-out mask)``: ``by="rows"``, the ``k`` folds of
    :func:`fold_ids` (named by number); ``"model"`` or ``"gpu"`` (or labels per row), each group left out in turn,
    sorted (``groups``: only those)."""
    try:
        from sklearn.model_selection import LeaveOneGroupOut, PredefinedSplit
    except ImportError:
        raise UserError("validating and building the laws artifact needs scikit-learn (pip install "
                        "'energy-nb[book]'); answering a question does not") from None

    n = len(data)
    if isinstance(by, str) and by == "rows":
        fold = fold_ids(n, k, seed, min_rows)
        cv, labels = PredefinedSplit(fold), fold
    else:
        if isinstance(by, str) and by not in FOLDS:
            raise UserError(f"unknown fold {by!r}; allowed: {', '.join(FOLDS)}")
        labels = (data[by] if isinstance(by, str) else by).astype(str).to_numpy()
        cv = LeaveOneGroupOut()
    out = []
    for _, test in cv.split(np.zeros((n, 1)), groups=None if isinstance(cv, PredefinedSplit) else labels):
        mask = np.zeros(n, dtype=bool)
        mask[test] = True
        out.append((str(labels[test[0]]), mask))
    return [s for s in out if groups is None or s[0] in set(groups)]


def cross_predict(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], by: str = "model",
                  groups: Sequence[str] | None = None, score: Callable[[pd.DataFrame], pd.Series] | None = None,
                  k: int = 5, seed: int = 0, min_rows: int = 2) -> pd.DataFrame:
    """Every candidate fitted without each fold of :func:`splits` predicts the fold's rows (those ``score`` marks,
    when given). Returns the held-out rows with ``law``, ``convention``, ``candidate`` (its label), ``held_out`` (the
    fold's name), ``fold`` (``by``) and the predictions (NaN where a law cannot predict a row; by rows, also where a
    candidate cannot be fitted on a fold's training rows); by rows, candidate after candidate, each fold in order."""
    data = ok_rows(df)
    cands = as_candidates(candidates, data["model"].astype(str).unique())
    scored = score(data) if score is not None else pd.Series(True, index=data.index)
    rows = by == "rows"
    out = []
    for g, mask in splits(data, by, groups, k, seed, min_rows):
        train, test = data[~mask], data[mask & scored.to_numpy()]
        if not rows and (train.empty or test.empty):
            raise UserError(f"no rows to train on without {by} {g!r}, or none of it to score")
        for i, c in enumerate(cands):
            try:
                part = predict_rows(c.fit(train), test)
            except (ValueError, np.linalg.LinAlgError):  # too few rows of a kind for this law's terms
                if not rows:
                    raise
                part = test.assign(energy_pred_j=np.nan, pi_low_j=np.nan, pi_high_j=np.nan)
            part["law"], part["convention"], part["candidate"] = c.law, c.convention, c.label
            part["held_out"], part["fold"], part["_order"] = g, by, i
            out.append(part)
    preds = pd.concat(out, ignore_index=True)
    if rows:
        preds = preds.sort_values("_order", kind="stable").assign(fold=lambda p: p["held_out"].astype(int))
    return preds.drop(columns="_order").reset_index(drop=True)


def kfold(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], k: int = 5, seed: int = 0,
          min_rows: int = 2) -> pd.DataFrame:
    """k-fold cross-validation of every candidate on the ``ok`` rows of ``df`` (:func:`cross_predict` by rows): each
    row predicted once, out of fold, ``fold`` its number."""
    return cross_predict(df, candidates, "rows", k=k, seed=seed, min_rows=min_rows).drop(columns="held_out")


def held_out(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], by: str = "model",
             groups: Sequence[str] | None = None,
             score: Callable[[pd.DataFrame], pd.Series] | None = None) -> pd.DataFrame:
    """Leave one ``model`` (or ``gpu``) out, for every candidate (:func:`cross_predict`)."""
    return cross_predict(df, candidates, by, groups, score)


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


#: What identifies one measurement across candidates (for ``common`` scoring).
ROW_KEY = ["held_out", "model", "gpu", "height", "width", "steps", "dtype", "cfg", "batch_size", "dataset"]


def scores(preds: pd.DataFrame, common: bool = False) -> pd.DataFrame:
    """Per candidate and held-out group, :func:`energy_nb.evaluation.metrics.score` of its held-out rows (rows, MAPE,
    worst row, coverage of its interval, R², MAE, Spearman and Pearson, time and gross-energy MAPE on the timed rows,
    and the selection's ``score_pct``). With ``common``, only rows every candidate predicted are scored (the same rows
    for every candidate)."""
    p = preds.dropna(subset=["energy_pred_j"])
    if common:
        key = [k for k in ROW_KEY if k in p]
        n = preds["candidate"].nunique()
        p = p[p.groupby(key, dropna=False)["candidate"].transform("nunique") == n]
    rows = [dict(law=part["law"].iloc[0], convention=part["convention"].iloc[0], candidate=label, held_out=g,
                 **score(part)) for (label, g), part in p.groupby(["candidate", "held_out"], sort=False)]
    return pd.DataFrame(rows).sort_values(["candidate", "held_out"], kind="stable").reset_index(drop=True)
