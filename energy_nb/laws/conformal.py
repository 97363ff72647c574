"""A fitted law whose intervals come from held-out errors, not from its in-sample spread.

An interval from the residuals of the rows a law was fitted on is too narrow wherever the law is wrong in a
way its training rows cannot show. :class:`ConformalLaw` keeps the law's point predictions and replaces its
energy and time intervals by held-out ones, in one of two ways:

- **split-conformal** (rows): with ``n`` absolute log errors ``r`` of predictions made by laws that did not see the
  row (cross-validation folds of the model's own rows), the ``level`` interval is ``prediction x exp(+-q)``, ``q``
  the ``ceil((n + 1) level)``-th smallest ``r`` (infinite when ``n`` is too small for the level);
- **by group** (a model, or a GPU, never seen): the errors of a held-out model are shared by all its rows (a model
  slow for its FLOPs is slow at every batch size), so rows are not independent draws. With the signed log errors of
  ``G`` held-out groups, each group's mean ``b_g`` is its own error and the rest its spread:
  ``q = t(G) sqrt(mean(b_g^2) + s_w^2)``, ``s_w^2`` the pooled within-group variance and ``t(G)`` Student's
  quantile at ``level`` with ``G`` degrees of freedom -- the width of a model-level (random-effects) error, which
  no number of rows of the same few models narrows.

Units: energies in J, times in s, ``q`` in natural log units.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..core.stats import two_sided
from .base import LawWrapper


def conformal_q(errors: list[float] | np.ndarray, level: float) -> float:
    """The split-conformal half-width (log units) at ``level`` from absolute log errors; inf when the errors are
    too few for the level (fewer than ``level / (1 - level)`` of them)."""
    r = np.sort(np.abs(np.asarray(errors, dtype=float)))
    r = r[np.isfinite(r)]
    k = math.ceil((len(r) + 1) * level)
    return float(r[k - 1]) if 1 <= k <= len(r) else math.inf


def grouped_q(groups: dict[str, list[float]], level: float) -> float:
    """The half-width (log units) at ``level`` of a group never seen, from the signed log errors of held-out groups
    (see the module docstring); inf with fewer than two groups."""
    parts = [np.asarray(v, dtype=float)[np.isfinite(v)] for v in groups.values()]
    parts = [p for p in parts if len(p)]
    if len(parts) < 2:
        return math.inf
    between = float(np.mean([p.mean() ** 2 for p in parts]))
    dev = np.concatenate([p - p.mean() for p in parts])
    within = float(dev @ dev / max(len(dev) - len(parts), 1))
    return float(two_sided(level, len(parts)) * math.sqrt(between + within))


class ConformalLaw(LawWrapper):
    """``law`` with intervals from held-out errors (see the module docstring). ``errors`` / ``time_errors``: absolute
    log errors (split-conformal); ``groups`` / ``time_groups``: signed log errors by held-out group (the by-group
    interval, used when ``by_group``); ``how`` says where they come from. Everything else is the law's own."""

    def __init__(self, law: Any, errors: list[float], how: str, groups: dict[str, list[float]] | None = None,
                 time_errors: list[float] | None = None, time_groups: dict[str, list[float]] | None = None,
                 by_group: bool = False, time_by_group: bool | None = None) -> None:
        super().__init__(law)
        self.errors = [float(e) for e in errors]
        self.groups = {str(k): [float(x) for x in v] for k, v in (groups or {}).items()}
        self.time_errors = [float(e) for e in (time_errors or [])]
        self.time_groups = {str(k): [float(x) for x in v] for k, v in (time_groups or {}).items()}
        self.by_group = bool(by_group and len(self.groups) >= 2)
        #: the time interval by group: as the energy's unless said (a model whose rows have no time: by model)
        self.time_by_group = bool((by_group if time_by_group is None else time_by_group) and len(self.time_groups) >= 2)
        self.how = how

    @property
    def interval_kind(self) -> str:
        if self.by_group:
            n = sum(len(v) for v in self.groups.values())
            return (f"by held-out group: the spread of {len(self.groups)} groups' own errors and within them "
                    f"({n} held-out errors; {self.how})")
        n = len(self.errors)
        return (f"split-conformal from {n} held-out errors ({self.how}); the law's own in-sample interval "
                f"at levels above {n / (n + 1):.3f}")

    def _q(self, errors: list[float], groups: dict[str, list[float]], level: float, by_group: bool
           ) -> float | None:
        q = grouped_q(groups, level) if by_group and groups else conformal_q(errors, level)
        return q if math.isfinite(q) else None

    def half_width(self, level: float = 0.95) -> float | None:
        """The energy interval's half-width in log units at ``level``; None where the held-out errors are too few
        for that level (the law's own interval is given then)."""
        return self._q(self.errors, self.groups, level, self.by_group)

    def time_half_width(self, level: float = 0.95) -> float | None:
        """The time interval's half-width in log units (None: the law's own)."""
        if not self.time_errors and not self.time_groups:
            return self._law.time_half_width(level)
        return self._q(self.time_errors, self.time_groups, level, self.time_by_group)

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        out = self._law.predict(df, level=level, gpu_as=gpu_as).copy()
        q = self.half_width(level)
        if q is not None:
            out["pi_low_j"] = out["energy_pred_j"] * math.exp(-q)
            out["pi_high_j"] = out["energy_pred_j"] * math.exp(q)
            out["se_log"] = q  # a constant half-width (the calculator's closed form with a quantile of 1)
        qt = self.time_half_width(level)
        if qt is not None and "time_pred_s" in out:
            out["time_low_s"] = out["time_pred_s"] * math.exp(-qt)
            out["time_high_s"] = out["time_pred_s"] * math.exp(qt)
        return out

    def describe(self) -> dict:
        return dict(self._law.describe(), interval=self.interval_kind)

    def __repr__(self) -> str:
        return f"ConformalLaw({self._law.name!r}, {self.interval_kind})"
