"""Small statistics every layer shares: Student-t quantiles and weighted least squares (numpy, scipy)."""
from __future__ import annotations

import numpy as np


def t_quantile(q: float, df: float) -> float:
    """Student-t quantile (scipy.special: no scipy.stats import); inf without residual degrees of freedom."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q)) if df > 0 else float("inf")


def two_sided(level: float, df: float) -> float:
    """The t multiplier of a two-sided interval at ``level`` (0.95: the 97.5% quantile)."""
    if not 0 < level < 1:
        from .errors import UserError

        raise UserError(f"interval level {level!r} is not allowed: a probability in (0, 1), e.g. 0.95")
    return t_quantile(0.5 + level / 2, df)


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray | None = None, min_dof: int = 0
        ) -> tuple[np.ndarray, np.ndarray, int]:
    """(Weighted) least squares, the one routine of the small fits (time laws, static power; the paper's law is
    statsmodels' OLS): coefficients, their covariance and the residual degrees of freedom, at least ``min_dof``
    (1: an exactly determined fit keeps a finite variance estimate). ``w`` None: ordinary least squares."""
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    r = yw - Xw @ beta
    dof = max(len(y) - X.shape[1], min_dof)
    s2 = float(r @ r / dof) if dof > 0 else float("nan")
    return beta, s2 * np.linalg.pinv(Xw.T @ Xw), dof
