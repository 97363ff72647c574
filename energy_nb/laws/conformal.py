"""A fitted law whose intervals come from held-out errors (split-conformal), not from its in-sample spread.

An interval from the residuals of the rows a law was fitted on is too narrow wherever the law is wrong in a
way its training rows cannot show. :class:`ConformalLaw` keeps the law's point predictions and replaces its
interval by the held-out one: with ``n`` absolute log errors ``r`` of predictions made by laws that did not
see the row (cross-validation folds, or leave-one-model-out), the ``level`` interval is
``prediction x exp(+-q)``, ``q`` the ``ceil((n + 1) level)``-th smallest ``r`` (the split-conformal quantile;
infinite when ``n`` is too small for the level). Units: energies in J, ``q`` in natural log units.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .base import LawWrapper


def conformal_q(errors: list[float] | np.ndarray, level: float) -> float:
    """The split-conformal half-width (log units) at ``level`` from absolute log errors; inf when the errors are
    too few for the level (fewer than ``level / (1 - level)`` of them)."""
    r = np.sort(np.abs(np.asarray(errors, dtype=float)))
    r = r[np.isfinite(r)]
    k = math.ceil((len(r) + 1) * level)
    return float(r[k - 1]) if 1 <= k <= len(r) else math.inf


class ConformalLaw(LawWrapper):
    """``law`` with intervals from ``errors`` (absolute log errors of held-out predictions); ``how`` says where
    those errors come from. Everything else is the law's own."""

    def __init__(self, law: Any, errors: list[float], how: str) -> None:
        super().__init__(law)
        self.errors = [float(e) for e in errors]
        self.how = how

    @property
    def interval_kind(self) -> str:
        n = len(self.errors)
        return (f"split-conformal from {n} held-out errors ({self.how}); the law's own in-sample interval "
                f"at levels above {n / (n + 1):.3f}")

    def half_width(self, level: float = 0.95) -> float | None:
        """The interval's half-width in log units at ``level``; None where the held-out errors are too few for
        that level (the law's own interval is given then)."""
        q = conformal_q(self.errors, level)
        return q if math.isfinite(q) else None

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        out = self._law.predict(df, level=level, gpu_as=gpu_as).copy()
        q = self.half_width(level)
        if q is not None:
            out["pi_low_j"] = out["energy_pred_j"] * math.exp(-q)
            out["pi_high_j"] = out["energy_pred_j"] * math.exp(q)
            out["se_log"] = q  # a constant half-width (the calculator's closed form with a quantile of 1)
        return out

    def describe(self) -> dict:
        return dict(self._law.describe(), interval=self.interval_kind)

    def __repr__(self) -> str:
        return f"ConformalLaw({self._law.name!r}, {self.interval_kind})"
