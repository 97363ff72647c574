"""Small statistics every layer shares: Student-t quantiles and weighted least squares (numpy, scipy)."""
from __future__ import annotations

import numpy as np

#: Student-t quantiles known without scipy, ``(probability, degrees of freedom) -> quantile``: the laws artifact
#: ships those of its laws at the usual levels (:data:`LEVELS`), so that answering a question does not import
#: scipy.special (a fifth of a second); any other is computed.
KNOWN_QUANTILES: dict[tuple[float, float], float] = {}
#: The interval levels whose quantiles the artifact ships.
LEVELS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def t_quantile(q: float, df: float) -> float:
    """Student-t quantile (scipy.special: no scipy.stats import); inf without residual degrees of freedom."""
    if not df > 0:
        return float("inf")
    hit = KNOWN_QUANTILES.get((float(q), float(df)))
    if hit is not None:
        return hit
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def check_level(level: float) -> float:
    """``level`` if it is a probability in (0, 1); else a one-line error naming it."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        from .errors import UserError

        raise UserError(f"interval level {level!r} is not allowed: a probability in (0, 1), e.g. 0.95")
    return float(level)


def two_sided(level: float, df: float) -> float:
    """The t multiplier of a two-sided interval at ``level`` (0.95: the 97.5% quantile)."""
    return t_quantile(0.5 + check_level(level) / 2, df)


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray | None = None, min_dof: int = 0
        ) -> tuple[np.ndarray, np.ndarray, int]:
    """(Weighted) least squares, the one routine of the small fits (static power; the paper's law is
    statsmodels' OLS): coefficients, their covariance and the residual degrees of freedom, at least ``min_dof``
    (1: an exactly determined fit keeps a finite variance estimate). ``w`` None: ordinary least squares."""
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    r = yw - Xw @ beta
    dof = max(len(y) - X.shape[1], min_dof)
    s2 = float(r @ r / dof) if dof > 0 else float("nan")
    return beta, s2 * np.linalg.pinv(Xw.T @ Xw), dof
