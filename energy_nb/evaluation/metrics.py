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
