"""How well the intervals of the law that answers a model with data hold, per model, read from the laws artifact.

The artifact keeps the held-out errors of every level of the unknown (:mod:`.levels`); a model with data is answered
with the spread of its own nested cross-validation errors (the ``rows`` level of :mod:`energy_nb.laws.levels`).
:func:`own_table` sets each model's cross-validated errors beside the paper's law on the same folds, with the coverage
of that interval on each of its folds built from its other folds
(:func:`energy_nb.evaluation.coverage.held_out_intervals`) and its half-width; :func:`coverage_curve` the same
coverage at several nominal levels. The levels beyond a model's rows are checked by :mod:`.coverage`.

Units: errors in % of the measured energy; half-widths as factors (x).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..laws.artifact import Artifact, current
from .coverage import held_out_intervals


def _rows_coverage(art: Artifact, level: float) -> pd.DataFrame:
    """Per model with a law of its own: its held-out net-energy rows and the share (%) inside the ``rows`` level's
    interval built from its other folds."""
    e = pd.DataFrame(art.data["levels"]["errors"])
    h = held_out_intervals(e[e["level"] == "rows"], level)
    h = h[h["quantity"] == "net"].assign(model=lambda d: d["group"].str.split("/").str[0])
    g = h.groupby("model")[["rows", "inside"]].sum()
    return g.assign(coverage_pct=100 * g["inside"] / g["rows"])


def own_table(level: float = 0.95, artifact: Artifact | None = None, before: tuple[str, ...] = ("paper",),
              rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model with energy rows: its rows, the law ``auto`` answers with, its 5-fold cross-validated net-energy,
    gross-energy and time errors (%), the coverage of its interval (each fold against the others) and
    its half-width; beside them, each law of ``before`` (energy-only laws that answered before, e.g. the paper's)
    cross-validated on the same folds of the model's ``rows`` (default: the shipped ones): mean and worst net error.
    ``coverage_pct``: its held-out rows inside the interval built from its other folds; ``half_width_x``: that
    interval's half-width on the model's own rows (a factor)."""
    from ..data.shipped import law_data
    from .selection import SEED, K
    from .validation import kfold

    art = artifact or current()
    data = law_data() if rows is None else rows
    cov = _rows_coverage(art, level)
    out = []
    for m, sel in art.data["selections"]["own"].items():
        row = dict(model=m, rows=sel["rows"], law=sel["law"] or f"{art.shared_name} (shared)")
        if sel["law"] is not None:
            best = {s["candidate"]: s for s in sel["scores"]}[sel["family"]]
            q = art.composite(m, None, sel["interval"]).half_width("net", level)
            row.update(mape_pct=best["mape_pct"], worst_pct=best["worst_pct"], gross_mape_pct=best["gross_mape_pct"],
                       time_mape_pct=best["time_mape_pct"], nested_errors=int(cov.loc[m, "rows"]) if m in cov.index
                       else 0, coverage_pct=float(cov.loc[m, "coverage_pct"]) if m in cov.index else np.nan,
                       half_width_x=float(np.exp(q)) if q is not None else np.nan)
        for name in before:
            try:
                p = kfold(data[data["model"] == m], [name], k=K, seed=SEED).dropna(subset=["energy_pred_j"])
            except ValueError:
                continue
            e = 100 * (p["energy_pred_j"] / p["energy_j"] - 1).abs()
            if len(e) == sel["rows"]:
                row.update({f"{name}_mape_pct": float(e.mean()), f"{name}_worst_pct": float(e.max())})
        out.append(row)
    return pd.DataFrame(out)


def coverage_curve(levels: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95), artifact: Artifact | None = None
                   ) -> pd.DataFrame:
    """Held-out coverage (%) of the interval of a model with data (its ``rows`` level), per model with a law of its
    own and nominal ``level``: each fold's rows against the interval built from the model's other folds."""
    art = artifact or current()
    out = []
    for lv in levels:
        t = _rows_coverage(art, lv)
        out += [dict(model=m, level=lv, rows=int(r.rows), coverage_pct=float(r.coverage_pct)) for m, r in t.iterrows()]
    return pd.DataFrame(out)
