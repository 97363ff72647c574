"""Do the intervals hold? The coverage report of the intervals composed by level (:mod:`energy_nb.laws.levels`),
computed at ``laws build`` from held-out errors that took no part in fitting or choosing
(:mod:`.levels`) and read by ``energy-nb laws coverage`` and the book.

For every level and quantity (net energy, gross energy, time), each held-out group is left out of the level's
errors in turn; the level is fitted on the other groups (:func:`energy_nb.laws.levels.fit`, its hierarchical prior
included) and the interval an answer crossing that level would get -- for a model with data, its own rows' spread;
beyond it, the level's spread within and between groups -- is checked on the left-out group's rows. Reported per
level: groups and rows, the share of rows inside the interval and the share of groups entirely inside, each with its
Clopper-Pearson 95% interval (the share is a binomial count: with 2 groups it says little, and the table shows how
little), the median width as high over low (x), the mean absolute error (%), and whether the level is a range.

Units: shares in %; widths as the ratio of the interval's bounds; errors in % of the measured value.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..laws.levels import LEVELS, QUANTITIES, compose, fit

#: Columns of the report.
COLUMNS: tuple[str, ...] = ("level", "quantity", "groups", "rows", "rows_inside_pct", "rows_ci_low_pct",
                            "rows_ci_high_pct", "groups_inside_pct", "groups_ci_low_pct", "groups_ci_high_pct",
                            "median_hi_lo", "mean_error_pct", "worst_error_pct", "is_range")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``level`` interval of a binomial share ``k / n`` (%)."""
    from scipy.stats import beta

    if n == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return 100 * lo, 100 * hi


def _half_width(train: pd.DataFrame, level_name: str, q: str, level: float, base: pd.DataFrame | None = None,
                distance: float = 0.0) -> tuple[float | None, bool]:
    """The half-width an answer crossing ``level_name`` gets from the errors ``train`` (and whether it is a range);
    ``beyond``: the model's own rows' spread (``base``, its ``rows`` errors) plus the level's per doubling of
    ``distance``."""
    f = fit(train, level_name, q)
    if f is None:
        return None, False
    if level_name == "rows":
        return compose([(f.within, f.dof)], level), False
    if level_name == "beyond":
        r = fit(base, "rows", q) if base is not None else None
        return compose(([(r.within, r.dof)] if r is not None else []) + [
            (f.between * distance ** 2, f.dof), (f.within * distance ** 2, max(f.rows - f.groups, 1))], level), False
    return compose([(f.within, max(f.rows - f.groups, 1)), (f.between, f.dof)], level), f.is_range


def held_out_intervals(errors: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per level, quantity and held-out group: rows, rows inside the interval built from the other groups, its
    half-width (log units) and the group's errors' mean and worst (%). The ``rows`` level is checked within each
    model (its other folds build the interval); ``beyond`` on the model's own rows' spread plus the other groups'
    spread per doubling, at the group's distance."""
    out = []
    rows = errors[errors["level"] == "rows"]
    for lv in LEVELS:
        e = errors[errors["level"] == lv]
        for q in QUANTITIES:
            eq = e.dropna(subset=[q])
            for g, part in eq.groupby("group", sort=True):
                model = part["model"].iloc[0]
                pool = eq[eq["model"] == model] if lv == "rows" else eq
                hw, rng = _half_width(pool[pool["group"] != g], lv, q, level, rows[rows["model"] == model],
                                      float(part["distance"].iloc[0]) if lv == "beyond" else 0.0)
                if hw is None or not math.isfinite(hw):
                    continue
                x = part[q].to_numpy(float)
                out.append(dict(level=lv, quantity=q, group=g, rows=len(x), inside=int(np.sum(np.abs(x) <= hw)),
                                half_width=hw, is_range=rng, mean_error_pct=100 * float(np.mean(np.abs(np.expm1(x)))),
                                worst_error_pct=100 * float(np.max(np.abs(np.expm1(x))))))
    return pd.DataFrame(out)


def report(errors: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The coverage report (:data:`COLUMNS`; see the module docstring) from the held-out errors of
    :func:`energy_nb.evaluation.levels.held_out_errors`."""
    h = held_out_intervals(errors, level)
    out = []
    for (lv, q), t in h.groupby(["level", "quantity"], sort=False):
        n, k = int(t["rows"].sum()), int(t["inside"].sum())
        G, kg = len(t), int((t["inside"] == t["rows"]).sum())
        rl, rh = clopper_pearson(k, n, level)
        gl, gh = clopper_pearson(kg, G, level)
        e = errors[(errors["level"] == lv)].dropna(subset=[q])[q].to_numpy(float)
        out.append(dict(level=lv, quantity=q, groups=G, rows=n, rows_inside_pct=100 * k / n, rows_ci_low_pct=rl,
                        rows_ci_high_pct=rh, groups_inside_pct=100 * kg / G, groups_ci_low_pct=gl,
                        groups_ci_high_pct=gh, median_hi_lo=float(np.median(np.exp(2 * t["half_width"]))),
                        mean_error_pct=100 * float(np.mean(np.abs(np.expm1(e)))),
                        worst_error_pct=100 * float(np.max(np.abs(np.expm1(e)))), is_range=bool(t["is_range"].any())))
    order = {lv: i for i, lv in enumerate(LEVELS)}
    r = pd.DataFrame(out, columns=list(COLUMNS))
    return r.sort_values(["level", "quantity"], key=lambda s: s.map(order) if s.name == "level"
                         else s.map({q: i for i, q in enumerate(QUANTITIES)})).reset_index(drop=True)
