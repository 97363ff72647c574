"""Validation of the law: within-model k-fold CV, cross-model and cross-GPU transfer, and metrics.

Every function returns the held-out rows with ``energy_j`` (actual), ``energy_pred_j`` and the
prediction interval, so plots and metrics come from one frame.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from . import laws
from .laws import Law
from .schema import ok_rows


def metrics(actual_j: Sequence[float], predicted_j: Sequence[float]) -> dict[str, float]:
    """R^2 (log and linear), MAE (J), MAPE (%), Spearman and Pearson correlations (linear energies)."""
    a = np.asarray(actual_j, dtype=float)
    p = np.asarray(predicted_j, dtype=float)
    la, lp = np.log(a), np.log(p)

    def r2(y, yhat):
        ss = np.sum((y - y.mean()) ** 2)
        return float(1 - np.sum((y - yhat) ** 2) / ss) if ss > 0 else float("nan")

    return dict(n=int(len(a)), r2_log=r2(la, lp), r2_linear=r2(a, p), mae_j=float(np.mean(np.abs(a - p))),
                mape_pct=float(100 * np.mean(np.abs(a - p) / a)),
                spearman=float(stats.spearmanr(a, p).statistic) if len(a) > 2 else float("nan"),
                pearson=float(stats.pearsonr(a, p).statistic) if len(a) > 2 else float("nan"))


def _attach(law: Law, test: pd.DataFrame, **kw) -> pd.DataFrame:
    pred = law.predict(test, **kw)
    return pd.concat([test.reset_index(drop=True), pred.reset_index(drop=True)], axis=1)


def within_model_cv(df: pd.DataFrame, model: str, k: int = 2, seed: int = 0, convention: str = "paper") -> pd.DataFrame:
    """k-fold CV (shuffled with ``seed``) on one model's rows; every row predicted once, out of fold."""
    data = ok_rows(df[df["model"] == model])
    if len(data) < 2 * k:
        raise ValueError(f"model {model!r} has {len(data)} ok rows: too few for {k}-fold CV")
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(len(data)) % k)
    out = []
    for f in range(k):
        law = laws.fit("paper", data[fold != f], convention=convention)
        part = _attach(law, data[fold == f])
        part["fold"] = f
        out.append(part)
    return pd.concat(out, ignore_index=True)


def cross_model(df: pd.DataFrame, train: Iterable[str], test: Iterable[str], convention: str = "paper",
                gpus: Iterable[str] | None = None) -> tuple[Law, pd.DataFrame, pd.DataFrame]:
    """Fit on the ``train`` models, predict the ``test`` models. Returns (law, train_pred, test_pred)."""
    data = ok_rows(df if gpus is None else df[df["gpu"].isin(list(gpus))])
    train, test = list(train), list(test)
    tr, te = data[data["model"].isin(train)], data[data["model"].isin(test)]
    if tr.empty or te.empty:
        raise ValueError(f"no rows for train={train} or test={test}; models present: {sorted(data['model'].unique())}")
    law = laws.fit("paper", tr, convention=convention)
    te = te[~((te["dtype"] == "fp32") & ("I_fp32" in law.dropped))]
    return law, _attach(law, tr), _attach(law, te)


def cross_gpu(df: pd.DataFrame, train_gpus: Iterable[str], test_gpu: str, convention: str = "paper",
              models: Iterable[str] | None = None, calibration: pd.DataFrame | None = None,
              per_image: bool = False) -> tuple[Law, pd.DataFrame]:
    """Fit on ``train_gpus``, predict ``test_gpu`` (hardware the law has not seen).

    Without calibration the unseen GPU is treated as the baseline. With ``calibration`` (rows
    measured on ``test_gpu``), the law's intercept is shifted by their mean log residual: one
    measured point calibrates the new hardware.
    """
    data = ok_rows(df if models is None else df[df["model"].isin(list(models))])
    tr = data[data["gpu"].isin(list(train_gpus))]
    te = data[data["gpu"] == test_gpu]
    if tr.empty or te.empty:
        raise ValueError(f"no rows for train GPUs {list(train_gpus)} or test GPU {test_gpu!r}; "
                         f"GPUs present: {sorted(data['gpu'].unique())}")
    law = laws.fit("paper", tr, convention=convention, per_image=per_image)
    pred = _attach(law, te, gpu_as={test_gpu: law.baseline_gpu})
    if calibration is not None and len(calibration):
        cal = law.predict(calibration, gpu_as={test_gpu: law.baseline_gpu})
        shift = float(np.mean(np.log(calibration["energy_j"].to_numpy(float)) - np.log(cal["energy_pred_j"])))
        for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
            pred[col] = pred[col] * np.exp(shift)
        pred["calibration_shift"] = shift
    return law, pred


def summarize(pred: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Metrics of a prediction frame, overall or per group."""
    if by is None:
        return pd.DataFrame([metrics(pred["energy_j"], pred["energy_pred_j"])])
    return pd.DataFrame({g: metrics(p["energy_j"], p["energy_pred_j"]) for g, p in pred.groupby(by)}).T


# ---------------------------------------------------------------------------------------------------
# Leave-one-model-out, and honest (nested) selection among candidate laws
# ---------------------------------------------------------------------------------------------------
#: (law, convention) pairs compared on the leave-one-model-out page.
CANDIDATES: tuple[tuple[str, str], ...] = (
    *((law, conv) for law in ("paper", "linear", "overhead", "roofline") for conv in ("paper", "bidirectional", "counted")),
    ("roofline_ops", "counted"), ("roofline_tc", "counted"), ("roofline_tc_kernels", "counted"),
    ("roofline_tc_attention", "counted"),
)


def lomo_predict(df: pd.DataFrame, law: str, convention: str, held_out: str,
                 train_models: Iterable[str] | None = None) -> pd.DataFrame:
    """Fit ``law`` on ``train_models`` (default: every other model) and predict ``held_out``'s rows.

    Rows the law cannot predict (fp32 when its training data had none) are left out of the test.
    """
    data = ok_rows(df)
    train = list(train_models) if train_models is not None else sorted(set(data["model"]) - {held_out})
    tr, te = data[data["model"].isin(train)], data[data["model"] == held_out]
    if tr.empty or te.empty:
        raise ValueError(f"no rows to train on {train} or to test on {held_out!r}")
    fitted = laws.fit(law, tr, convention=convention)
    if "fp32" not in fitted.dtypes or "I_fp32" in getattr(fitted, "dropped", {}):
        te = te[te["dtype"] != "fp32"]
    pred = fitted.predict(te)
    out = pd.concat([te.reset_index(drop=True), pred.reset_index(drop=True)], axis=1)
    out["law"], out["convention"], out["held_out"] = law, convention, held_out
    return out


def lomo(df: pd.DataFrame, candidates: Sequence[tuple[str, str]] = CANDIDATES,
         models: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate, every held-out model: a metrics table and the stacked predictions."""
    data = ok_rows(df)
    models = list(models) if models is not None else sorted(data["model"].unique())
    rows, preds = [], []
    for law, conv in candidates:
        for m in models:
            p = lomo_predict(data, law, conv, m)
            preds.append(p)
            rows.append(dict(law=law, convention=conv, held_out=m, **metrics(p["energy_j"], p["energy_pred_j"])))
    return pd.DataFrame(rows), pd.concat(preds, ignore_index=True)


SELECTION_RULES = ("mean", "max")


def nested_lomo(df: pd.DataFrame, candidates: Sequence[tuple[str, str]] = CANDIDATES,
                models: Sequence[str] | None = None, rule: str = "mean") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave one model out, choosing the law inside the training models only.

    For each held-out model: every candidate is scored by leave-one-model-out *within* the remaining
    models (train on all but one of them, predict that one; mean MAPE over the inner folds); the best
    candidate is refitted on all the remaining models and predicts the held-out one, which took no
    part in the choice. ``rule`` scores a candidate by the ``mean`` or the ``max`` of its inner-fold
    MAPEs (``max`` targets "every model within X%"). Returns one row per held-out model (the choice, its inner score, its outer
    metrics) and the outer predictions.
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; allowed: {', '.join(SELECTION_RULES)}")
    data = ok_rows(df)
    models = list(models) if models is not None else sorted(data["model"].unique())
    rows, preds = [], []
    for m in models:
        train_models = [x for x in models if x != m]
        scores = {}
        for law, conv in candidates:
            inner = []
            for v in train_models:
                p = lomo_predict(data, law, conv, v, train_models=[x for x in train_models if x != v])
                inner.append(metrics(p["energy_j"], p["energy_pred_j"])["mape_pct"])
            scores[(law, conv)] = float(np.mean(inner) if rule == "mean" else np.max(inner))
        (law, conv), inner_mape = min(scores.items(), key=lambda kv: kv[1])
        p = lomo_predict(data, law, conv, m, train_models=train_models)
        preds.append(p)
        rows.append(dict(held_out=m, selected_law=law, convention=conv, rule=rule, inner_score_pct=inner_mape,
                         **metrics(p["energy_j"], p["energy_pred_j"])))
    return pd.DataFrame(rows), pd.concat(preds, ignore_index=True)


# ---------------------------------------------------------------------------------------------------
# Transfer: every model and GPU with data, every kind of law, the same folds
# ---------------------------------------------------------------------------------------------------
#: Laws compared on the transfer chapter (all on counted FLOPs; the paper's in its per-image form with
#: its GPU and batch terms, the physical ones with a factor per GPU, the transfer ones with none).
TRANSFER_CANDIDATES: tuple[str, ...] = ("paper", "linear", "roofline_tc_kernels", "datasheet", "datasheet_ops",
                                        "power_time")
FOLDS = ("model", "gpu")


def transfer_data() -> pd.DataFrame:
    """Every energy record with data: the paper's A100 tables and ML.ENERGY's single-GPU rows of registry
    models made net of idle power (:func:`energy_nb.data.law_data`), with a ``dataset`` column."""
    from .data import law_data

    df = law_data().reset_index(drop=True)
    df["dataset"] = np.where(df["meter"].astype(str).str.startswith("zeus"), "ML.ENERGY", "paper")
    return df


def fit_candidate(law: str, train: pd.DataFrame) -> Law:
    """``law`` fitted on ``train`` as the transfer chapter fits it (counted FLOPs; paper: per image)."""
    return laws.fit(law, train, convention="counted", **({"per_image": True} if law == "paper" else {}))


def predict_held_out(fitted: Law, test: pd.DataFrame) -> pd.Series:
    """Predicted J of each ``test`` row; NaN where the law cannot say (fp32 without fp32 in its data).
    A GPU the law has no term for is predicted as its baseline GPU (the paper's and the physical laws);
    the transfer laws price it from its datasheet."""
    out = pd.Series(np.nan, index=test.index)
    ok = test
    if fitted.kind != "transfer" and ("fp32" not in fitted.dtypes or "I_fp32" in getattr(fitted, "dropped", {})):
        ok = test[test["dtype"] != "fp32"]
    if ok.empty:
        return out
    gpu_as = {g: fitted.baseline_gpu for g in ok["gpu"].astype(str).unique()
              if fitted.kind != "transfer" and g not in fitted.gpus}
    out.loc[ok.index] = fitted.predict(ok, gpu_as=gpu_as)["energy_pred_j"].to_numpy(float)
    return out


def _groups(df: pd.DataFrame, by: str) -> list[str]:
    if by not in FOLDS:
        raise ValueError(f"unknown fold {by!r}; allowed: {', '.join(FOLDS)}")
    return sorted(df[by].astype(str).unique())


def held_out_predictions(df: pd.DataFrame, candidates: Sequence[str] = TRANSFER_CANDIDATES,
                         by: str = "model") -> pd.DataFrame:
    """Leave one ``model`` (or ``gpu``) out for every candidate: the held-out rows with ``law``,
    ``held_out`` and ``energy_pred_j`` (NaN where the law cannot predict the row)."""
    data = ok_rows(df)
    out = []
    for g in _groups(data, by):
        train, test = data[data[by].astype(str) != g], data[data[by].astype(str) == g]
        for law in candidates:
            part = test.copy()
            part["energy_pred_j"] = predict_held_out(fit_candidate(law, train), test)
            part["law"], part["held_out"], part["fold"] = law, g, by
            out.append(part)
    return pd.concat(out, ignore_index=True)


def held_out_table(preds: pd.DataFrame, common: bool = True) -> pd.DataFrame:
    """Per law and held-out group: rows scored, MAPE (%), worst row's error (%), Spearman. With
    ``common``, only rows every law predicted are scored (the same rows for every law)."""
    p = preds.dropna(subset=["energy_pred_j"])
    if common:
        key = ["held_out", "model", "gpu", "height", "width", "steps", "dtype", "cfg", "batch_size", "dataset"]
        n_laws = preds["law"].nunique()
        counts = p.groupby(key, dropna=False)["law"].transform("nunique")
        p = p[counts == n_laws]
    rows = []
    for (law, g), part in p.groupby(["law", "held_out"]):
        ape = 100 * (part["energy_pred_j"] / part["energy_j"] - 1).abs()
        m = metrics(part["energy_j"], part["energy_pred_j"])
        rows.append(dict(law=law, held_out=g, rows=len(part), mape_pct=float(ape.mean()), worst_pct=float(ape.max()),
                         spearman=m["spearman"]))
    return pd.DataFrame(rows)


def choose_law(df: pd.DataFrame, candidates: Sequence[str] = TRANSFER_CANDIDATES, rule: str = "mean"
               ) -> tuple[str, dict[str, float]]:
    """The candidate with the smallest ``rule`` (mean or max) of its leave-one-model-out MAPEs on ``df``,
    and every candidate's score. Rows some candidate cannot predict are left out of every score."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; allowed: {', '.join(SELECTION_RULES)}")
    t = held_out_table(held_out_predictions(df, candidates, by="model"))
    agg = t.groupby("law")["mape_pct"].agg(rule)
    scores = {law: float(agg.get(law, np.inf)) for law in candidates}
    return min(scores, key=scores.get), scores


def nested_transfer(df: pd.DataFrame, candidates: Sequence[str] = TRANSFER_CANDIDATES, by: str = "model",
                    rule: str = "mean") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Honest transfer: for every held-out ``model`` (or ``gpu``), the law is chosen by
    :func:`choose_law` on the *training* rows alone (leave-one-model-out inside them), refitted on all
    of them and scored on the held-out rows. Returns one row per held-out group (choice, inner score,
    MAPE, worst row, Spearman) and the held-out predictions."""
    data = ok_rows(df)
    rows, preds = [], []
    for g in _groups(data, by):
        train, test = data[data[by].astype(str) != g], data[data[by].astype(str) == g]
        law, scores = choose_law(train, candidates, rule)
        part = test.copy()
        part["energy_pred_j"] = predict_held_out(fit_candidate(law, train), test)
        part["law"], part["held_out"], part["fold"] = law, g, by
        preds.append(part)
        scored = part.dropna(subset=["energy_pred_j"])
        ape = 100 * (scored["energy_pred_j"] / scored["energy_j"] - 1).abs()
        rows.append(dict(held_out=g, chosen=law, inner_score_pct=scores[law], rows=len(scored),
                         unpredicted=int(part["energy_pred_j"].isna().sum()), mape_pct=float(ape.mean()),
                         worst_pct=float(ape.max()),
                         spearman=metrics(scored["energy_j"], scored["energy_pred_j"])["spearman"]))
    return pd.DataFrame(rows), pd.concat(preds, ignore_index=True)
