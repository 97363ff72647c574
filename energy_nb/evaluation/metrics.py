"""How close predictions are to measurements: one set of metrics for every table of the book.

Energies in J; percentages in %; R^2 in log space (the laws' own scale) and linear space.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def metrics(actual_j: Sequence[float], predicted_j: Sequence[float]) -> dict[str, float]:
    """R^2 (log and linear), MAE (J), MAPE (%), Spearman and Pearson correlations (linear energies)."""
    from scipy import stats

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


def ape(pred: pd.DataFrame) -> pd.Series:
    """Absolute percentage error of each row (``energy_pred_j`` against ``energy_j``), in %."""
    return 100 * (pred["energy_pred_j"] / pred["energy_j"] - 1).abs()


def log_errors(pred: pd.DataFrame) -> np.ndarray:
    """Absolute log error of each row (``ln(energy_pred_j / energy_j)``): what conformal intervals are built from."""
    return np.abs(np.log(pred["energy_pred_j"].to_numpy(float) / pred["energy_j"].to_numpy(float)))


def coverage_pct(pred: pd.DataFrame) -> float:
    """Share of rows whose measured ``energy_j`` lies inside ``[pi_low_j, pi_high_j]``, in % (NaN without rows)."""
    if not len(pred):
        return float("nan")
    return 100.0 * float(((pred["energy_j"] >= pred["pi_low_j"]) & (pred["energy_j"] <= pred["pi_high_j"])).mean())


def summarize(pred: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Metrics of a prediction frame, overall or per group."""
    if by is None:
        return pd.DataFrame([metrics(pred["energy_j"], pred["energy_pred_j"])])
    return pd.DataFrame({g: metrics(p["energy_j"], p["energy_pred_j"]) for g, p in pred.groupby(by)}).T


def row_errors(pred: pd.DataFrame) -> pd.DataFrame:
    """Per row, absolute percentage errors (%) of net energy (``net_err``), of time per image (``time_err``: rows with
    a measured ``time_s`` and a predicted ``time_pred_s``) and of gross energy per image (``gross_err``: net + the
    GPU's idle power x time, the footing the records were made net on and every meter reads; the predicted gross
    uses the predicted time). NaN where a row or a law has no time."""
    from ..data.power import gross_j
    from ..models.hardware import idle_power_or_estimate

    n = pred["n_prompts"].to_numpy(float)
    gpus = pred["gpu"].astype(str)
    known = {g: idle_power_or_estimate(g)[0] for g in gpus.unique()}
    idle = gpus.map(known).to_numpy(float)
    t = pred["time_s"].to_numpy(float) if "time_s" in pred else np.full(len(pred), np.nan)
    tp = pred["time_pred_s"].to_numpy(float) if "time_pred_s" in pred else np.full(len(pred), np.nan)
    e, ep = pred["energy_j"].to_numpy(float) / n, pred["energy_pred_j"].to_numpy(float) / n
    return pd.DataFrame(dict(net_err=100 * np.abs(ep / e - 1), time_err=100 * np.abs(tp / t - 1),
                             gross_err=100 * np.abs(gross_j(ep, idle, tp) / gross_j(e, idle, t) - 1)),
                        index=pred.index)


def combined_score(errors: pd.DataFrame) -> float:
    """What the selection ranks (%): the mean of the net-energy, gross-energy and time MAPEs of ``errors``
    (:func:`row_errors`), each over the rows that have it; a law without time, or rows without any, are scored on
    net energy alone."""
    parts = [float(errors[c].mean()) for c in ("net_err", "gross_err", "time_err") if errors[c].notna().any()]
    return float(np.mean(parts)) if parts else float("nan")


def score(part: pd.DataFrame, rule: str = "mean") -> dict[str, float]:
    """The one scoring of held-out predictions (rows with ``energy_j`` and ``energy_pred_j``, and ``time_s`` /
    ``time_pred_s`` where timed): rows, MAPE, worst and median row (%), coverage of the law's interval (%), R² (log and
    linear), MAE (J), Spearman and Pearson, timed rows, time and gross-energy MAPE (%), and ``score_pct``, what a
    selection ranks: with ``rule="mean"`` :func:`combined_score`, with ``"max"`` the worst row's worst error. NaN for
    what cannot be computed (no rows; time for a law without it)."""
    nan = float("nan")
    if not len(part):
        return dict(rows=0, mape_pct=nan, worst_pct=nan, median_ape_pct=nan, coverage_pct=nan, r2_log=nan,
                    r2_linear=nan, mae_j=nan, spearman=nan, pearson=nan, timed_rows=0, time_mape_pct=nan,
                    gross_mape_pct=nan, score_pct=nan)
    e, err = ape(part), row_errors(part)
    m = metrics(part["energy_j"], part["energy_pred_j"])
    return dict(rows=len(part), mape_pct=float(e.mean()), worst_pct=float(e.max()), median_ape_pct=float(e.median()),
                coverage_pct=coverage_pct(part), r2_log=m["r2_log"], r2_linear=m["r2_linear"], mae_j=m["mae_j"],
                spearman=m["spearman"], pearson=m["pearson"], timed_rows=int(err["time_err"].notna().sum()),
                time_mape_pct=float(err["time_err"].mean()), gross_mape_pct=float(err["gross_err"].mean()),
                score_pct=combined_score(err) if rule == "mean" else float(err.max().max()))
