"""Half-widths from held-out errors, the two readings the book compares with the intervals composed by level
(:mod:`energy_nb.laws.levels`, what answers use):

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

import numpy as np

from ..core.stats import two_sided


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
