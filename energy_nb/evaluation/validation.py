"""One validation engine: k-fold within a model, train/test splits, leave one model (or GPU) out, and the
honest (nested) choice among candidate laws.

Every function returns the scored rows with ``energy_j`` (measured), ``energy_pred_j`` and its prediction
interval (``pi_low_j``, ``pi_high_j``), so tables, figures and metrics come from one frame. A row a law
cannot predict (fp32 when its training rows have none) gets NaN there, never a guess: :func:`predict_rows`
is the one place that decides it.

A candidate law is a :class:`Candidate`: a registry law, the FLOPs convention of its features, and whether
the paper's law is fitted in its per-image form. The transfer chapter's candidates are law names (counted
FLOPs; the paper's law per image); the paper-tables chapter pairs laws with conventions.

Units: energies in J; errors in %.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import laws
from ..core.cache import cache_dir, write_atomic_bytes
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws import Law
from ..laws.registry import CODE_LAYERS, code_version
from .metrics import ape, coverage_pct, metrics, summarize

__all__ = ["Candidate", "PAPER_CANDIDATES", "TRANSFER_CANDIDATES", "FOLDS", "SELECTION_RULES", "as_candidates",
           "predict_rows", "kfold", "within_model_cv", "cross_model", "cross_gpu", "held_out", "scores", "choose",
           "nested",
           "metrics", "summarize"]


@dataclass(frozen=True)
class Candidate:
    """A law to validate: registry name, FLOPs convention (None: the law's default) and, for the paper's law,
    whether it is fitted per image (with its GPU and batch terms)."""

    law: str
    convention: str | None = None
    per_image: bool = False
    name: str | None = None  #: what tables call it (default: ``law / convention``)

    @property
    def label(self) -> str:
        """``name``, else ``law / convention`` (``law`` alone without a convention)."""
        return self.name or (f"{self.law} / {self.convention}" if self.convention else self.law)

    def fit(self, train: pd.DataFrame) -> Law:
        """The law fitted on ``train`` (once per candidate and training rows in this process: the nested
        selection meets the same training rows from several outer folds)."""
        key = (self.law, self.convention, self.per_image, _quick_digest(train))
        if key not in _FITTED:
            if len(_FITTED) >= _MAX_FITTED:
                _FITTED.pop(next(iter(_FITTED)))
            _FITTED[key] = laws.fit(self.law, train, convention=self.convention,
                                    **({"per_image": True} if self.per_image else {}))
        return _FITTED[key]


#: Fitted candidates by (law, convention, per_image, digest of the training rows), oldest first.
_FITTED: dict[tuple, Law] = {}
_MAX_FITTED = 4096


def _quick_digest(df: pd.DataFrame) -> str:
    """A digest of a frame's values, column by column as Python lists (row order included, index not): for
    this process's memo only, where a spurious difference costs a refit and nothing else; several times
    faster than :func:`_digest`, which hashes through pandas."""
    return hashlib.sha256(pickle.dumps((list(map(str, df.columns)), [df[c].tolist() for c in df.columns]),
                                       protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def _digest(df: pd.DataFrame) -> str:
    """A digest of a frame's contents (every column, row order included)."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


#: (law, convention) pairs compared on the paper's A100 tables (page 5.9).
PAPER_CANDIDATES: tuple[Candidate, ...] = (
    *(Candidate(law, conv) for law in ("paper", "linear", "overhead", "roofline")
      for conv in ("paper", "bidirectional", "counted")),
    Candidate("roofline_ops", "counted"), Candidate("roofline_tc", "counted"),
    Candidate("roofline_tc_kernels", "counted"), Candidate("roofline_tc_attention", "counted"),
)
#: Laws compared on every model and GPU with data (all on counted FLOPs; the paper's in its per-image form
#: with its GPU and batch terms, the physical ones with a factor per GPU, the transfer ones with none).
TRANSFER_CANDIDATES: tuple[str, ...] = ("paper", "linear", "roofline_tc_kernels", "datasheet", "datasheet_ops",
                                        "power_time", "achieved")
FOLDS: tuple[str, ...] = ("model", "gpu")
SELECTION_RULES: tuple[str, ...] = ("mean", "max")


def as_candidates(items: Iterable[Candidate | str | Sequence[str]]) -> list[Candidate]:
    """Candidates from :class:`Candidate` objects, ``(law, convention)`` pairs, or law names (the transfer
    chapter's form: counted FLOPs, the paper's law per image)."""
    out = []
    for c in items:
        if isinstance(c, Candidate):
            out.append(c)
        elif isinstance(c, str):
            out.append(Candidate(c, "counted", per_image=c == "paper", name=c))
        else:
            law, conv = c
            out.append(Candidate(law, conv))
    return out


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
    if fitted.kind != "transfer" and ("fp32" not in fitted.dtypes or "I_fp32" in getattr(fitted, "dropped", {})):
        ok = test[test["dtype"] != "fp32"]
    if ok.empty:
        return out
    gpu_as = {g: fitted.baseline_gpu for g in ok["gpu"].astype(str).unique()
              if fitted.kind != "transfer" and g not in fitted.gpus}
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
def kfold(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]], k: int = 5, seed: int = 0,
          min_rows: int = 2) -> pd.DataFrame:
    """k-fold cross-validation of every candidate on the ``ok`` rows of ``df`` (shuffled once with ``seed``, the
    same folds for every candidate): each row predicted once, out of fold. Returns the rows with ``law``,
    ``convention``, ``candidate`` (its label), ``fold`` and the predictions (NaN where a candidate cannot
    predict a row, or cannot be fitted on a fold's training rows). ``k`` is capped at rows // ``min_rows``."""
    data = ok_rows(df)
    k = min(int(k), len(data) // max(1, min_rows))
    if k < 2:
        raise UserError(f"{len(data)} ok rows: too few for cross-validation (at least {2 * min_rows})")
    fold = np.random.default_rng(seed).permutation(np.arange(len(data)) % k)
    out = []
    for c in as_candidates(candidates):
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
    cands = as_candidates(candidates)
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
    Pearson. With ``common``, only rows every candidate predicted are scored (the same rows for every
    candidate)."""
    p = preds.dropna(subset=["energy_pred_j"])
    if common:
        key = [k for k in ROW_KEY if k in p]
        n = preds["candidate"].nunique()
        p = p[p.groupby(key, dropna=False)["candidate"].transform("nunique") == n]
    rows = []
    for (label, g), part in p.groupby(["candidate", "held_out"], sort=False):
        m = metrics(part["energy_j"], part["energy_pred_j"])
        e = ape(part)
        rows.append(dict(law=part["law"].iloc[0], convention=part["convention"].iloc[0], candidate=label, held_out=g,
                         rows=len(part), mape_pct=float(e.mean()), worst_pct=float(e.max()),
                         coverage_pct=coverage_pct(part), r2_log=m["r2_log"],
                         r2_linear=m["r2_linear"], mae_j=m["mae_j"], spearman=m["spearman"], pearson=m["pearson"]))
    return pd.DataFrame(rows).sort_values(["candidate", "held_out"], kind="stable").reset_index(drop=True)


def choose(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]] = TRANSFER_CANDIDATES,
           rule: str = "mean", common: bool = True, by: str = "model") -> tuple[Candidate, dict[str, float]]:
    """The candidate with the smallest ``rule`` (mean or max) of its leave-one-``by``-out MAPEs on ``df``
    (first in order on a tie), and every candidate's score by label. With ``common``, rows some candidate
    cannot predict are left out of every score."""
    if rule not in SELECTION_RULES:
        raise UserError(f"unknown selection rule {rule!r}; allowed: {', '.join(SELECTION_RULES)}")
    cands = as_candidates(candidates)
    t = scores(held_out(df, cands, by=by), common=common)
    agg = t.groupby("candidate")["mape_pct"].agg(rule)
    score = {c.label: float(agg.get(c.label, np.inf)) for c in cands}
    return min(cands, key=lambda c: score[c.label]), score


def nested(df: pd.DataFrame, candidates: Iterable[Candidate | str | Sequence[str]] = TRANSFER_CANDIDATES,
           by: str = "model", rule: str = "mean", common: bool = True,
           groups: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Honest transfer: for every held-out ``model`` (or ``gpu``), the law is chosen by :func:`choose` on the
    *training* rows alone (leave one model out inside them), refitted on all of them and only then asked
    about the held-out rows, which took no part in the choice. Returns one row per held-out group (the
    choice, its inner score, rows scored and not predicted, MAPE, worst row, R², Spearman) and the held-out
    predictions."""
    if rule not in SELECTION_RULES:
        raise UserError(f"unknown selection rule {rule!r}; allowed: {', '.join(SELECTION_RULES)}")
    data = ok_rows(df)
    cands = as_candidates(candidates)
    path = _nested_path(data, cands, by, rule, common, groups)
    try:
        return pd.read_pickle(path)
    except Exception:  # none yet, or unreadable: compute it
        pass
    result = _nested(data, cands, by, rule, common, groups)
    write_atomic_bytes(path, pickle.dumps(result))
    return result


def _nested_path(data: pd.DataFrame, cands: list[Candidate], by: str, rule: str, common: bool,
                 groups: Sequence[str] | None) -> Path:
    """Where :func:`nested` keeps its answer on disk: keyed by the rows, the question and the code that answers
    it (energy_nb's layers up to this one), so a change to any of them computes it again. The book's front page,
    its transfer page and their tests ask the same question; it takes seconds, and now only once."""
    key = json.dumps([_digest(data), [repr(c) for c in cands], by, rule, common, list(groups) if groups else None,
                      code_version(CODE_LAYERS + ("evaluation",)), pd.__version__])
    return cache_dir() / "nested" / f"{by}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pkl"


def _nested(data: pd.DataFrame, cands: list[Candidate], by: str, rule: str, common: bool,
            groups: Sequence[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, preds = [], []
    for g in (list(groups) if groups is not None else _groups(data, by)):
        train, test = data[data[by].astype(str) != g], data[data[by].astype(str) == g]
        best, inner = choose(train, cands, rule, common)
        part = predict_rows(best.fit(train), test)
        part["law"], part["convention"], part["candidate"] = best.law, best.convention, best.label
        part["held_out"], part["fold"] = g, by
        preds.append(part)
        scored = part.dropna(subset=["energy_pred_j"])
        m = metrics(scored["energy_j"], scored["energy_pred_j"])
        e = ape(scored)
        rows.append(dict(held_out=g, law=best.law, convention=best.convention, candidate=best.label, rule=rule,
                         inner_score_pct=inner[best.label], rows=len(scored),
                         unpredicted=int(part["energy_pred_j"].isna().sum()), mape_pct=float(e.mean()),
                         worst_pct=float(e.max()), r2_log=m["r2_log"], r2_linear=m["r2_linear"], mae_j=m["mae_j"],
                         spearman=m["spearman"], pearson=m["pearson"]))
    return pd.DataFrame(rows), pd.concat(preds, ignore_index=True)
