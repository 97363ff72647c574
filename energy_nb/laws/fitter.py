"""One fitter for every law fitted by least squares on log residuals, and what every fit reports.

A law's fit is a residual function of ``theta``, the logs of its free coefficients (relative errors, like the paper's
log-log OLS): :func:`solve` minimises it with scipy's ``least_squares``, optionally within bounds and pulled weakly
toward a prior (``weight x (theta - pull)`` appended to the residuals: any number of rows is then well posed).
:func:`unidentified` says which terms the training rows cannot identify (held at their prior, listed in ``frozen``);
:func:`summary` turns the solution into the statistics every law reports (:class:`Fit`: residual spread, R² in log
space, standard errors of the logs from the Jacobian), the fields the statsmodels-like accessors of
:class:`energy_nb.laws.base.LawMixin` read (``params``, ``bse``, ``conf_int()``, ``resid``, ``fittedvalues``,
``summary()``). The paper's law is linear in its logs and is fitted by OLS (statsmodels) instead; it reports the same.

Units: log residuals in natural log units; energies in J.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

#: A term whose share of every training row's (prior-priced) time stays below this cannot be identified.
MIN_SHARE = 0.02


@dataclass(frozen=True)
class Fit:
    """What a nonlinear least-squares fit reports: every coefficient (``coef``; frozen ones at their prior), why a
    term was held (``frozen``), the standard error of each free coefficient's log (``se_log``), the log-residual
    spread ``sigma`` on ``df_resid`` degrees of freedom, R² of log energy, the rows, each row's ln(measured / fitted)
    and fitted energy (J), and, for a law that models time, the rows with a latency and its log-time spread."""

    coef: dict[str, float]
    frozen: dict[str, str]
    se_log: dict[str, float]
    sigma: float
    df_resid: float
    r2: float
    n_obs: int
    resid_log: list[float]
    fitted_j: list[float]
    n_timed: int = 0
    time_sigma: float | None = None

    def fields(self, *names: str) -> dict:
        """The fields a law class holds (all, or ``names``)."""
        d = asdict(self)
        return {k: d[k] for k in names} if names else d


def solve(resid: Callable[[np.ndarray], np.ndarray], start: np.ndarray, lo: np.ndarray | None = None,
          hi: np.ndarray | None = None, pull: np.ndarray | None = None, weight: float = 0.0, method: str = "trf"):
    """scipy's ``least_squares`` of ``resid`` from ``start`` (within ``lo``-``hi`` when given), with the prior's
    residuals ``weight (theta - pull)`` appended when ``pull`` is given."""
    from scipy import optimize

    full = resid if pull is None else (lambda theta: np.concatenate([resid(theta), weight * (theta - pull)]))
    kw = {} if lo is None else dict(bounds=(lo, hi))
    return optimize.least_squares(full, start, method=method, **kw)


def jacobian_se(jac: np.ndarray, s2: float) -> np.ndarray:
    """Standard errors of nonlinear least-squares parameters: ``sqrt(diag(s2 (J'J)^+))`` at the solution."""
    J = np.asarray(jac, dtype=float)
    return np.sqrt(np.clip(np.diag(s2 * np.linalg.pinv(J.T @ J)), 0.0, None))


def r_squared(y: np.ndarray, r: np.ndarray) -> float:
    """R² of ``y`` with residuals ``r`` (NaN when ``y`` is constant)."""
    ss = float(np.sum((y - y.mean()) ** 2))
    return float(1 - r @ r / ss) if ss > 0 else float("nan")


def summary(sol, y: np.ndarray, r: np.ndarray, free: list[str], coef: Mapping[str, float], frozen: dict[str, str],
            fitted_j: np.ndarray, time_resid: np.ndarray | None = None) -> Fit:
    """The :class:`Fit` of a solution ``sol`` with energy residuals ``r = ln(fitted) - y`` (``y``: log measured),
    ``free`` the names of ``sol.x``; ``time_resid``: log-time residuals of the timed rows (a law that models time)."""
    dof = max(len(y) - len(free), 1)
    s2 = float(r @ r / dof)
    timed = time_resid is not None and len(time_resid) > 0
    return Fit(coef={k: float(v) for k, v in coef.items()}, frozen=frozen,
               se_log={c: float(s) for c, s in zip(free, jacobian_se(sol.jac, s2))},
               sigma=float(np.sqrt(s2)), df_resid=float(dof), r2=r_squared(y, r), n_obs=int(len(y)),
               resid_log=[float(x) for x in -r], fitted_j=[float(x) for x in fitted_j],
               n_timed=int(len(time_resid)) if time_resid is not None else 0,
               time_sigma=float(np.sqrt(np.mean(time_resid ** 2))) if timed else None)


def unidentified(shares: Mapping[str, np.ndarray], total: np.ndarray, what: str = "time") -> dict[str, str]:
    """Terms whose share (``shares[term] / total``) stays below :data:`MIN_SHARE` in every training row, and why:
    held at their prior."""
    out = {}
    for term, s in shares.items():
        top = float(np.max(np.asarray(s, float) / total))
        if top < MIN_SHARE:
            out[term] = f"at most {100 * top:.1f}% of any training row's {what}"
    return out
