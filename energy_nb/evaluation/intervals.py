"""How well the intervals of the law that answers hold, read from the laws artifact.

The artifact keeps, for every question of the selection policy (:mod:`.selection`), the log errors of the held-out
predictions its intervals are built from, by outer fold. A split-conformal interval built from ``n`` such errors
covers a further error with probability at least ``level`` when errors are exchangeable; :func:`jackknife_coverage`
measures that on the errors themselves (each against the interval built from the others). For a model or GPU never
seen, the errors are not exchangeable row by row -- a model slow for its FLOPs is slow at every batch size -- so
:func:`transfer_coverage` holds each group out against the intervals built from the *other* groups' errors, both
row-pooled (split-conformal) and by group (:func:`energy_nb.laws.conformal.grouped_q`), and counts coverage by row
and by group.

Units: errors in % of the measured energy; half-widths as factors (x).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..laws.artifact import Artifact, current
from ..laws.conformal import conformal_q, grouped_q


def jackknife_coverage(errors, level: float = 0.95) -> float:
    """How often a held-out error falls inside the conformal interval built from the *other* errors (%): the
    interval's coverage on rows it was not built from (the split-conformal guarantee says at least ``level``)."""
    e = np.abs(np.asarray(errors, dtype=float))
    if len(e) < 2:
        return float("nan")
    inside = [e[i] <= conformal_q(np.delete(e, i), level) for i in range(len(e))]
    return 100.0 * float(np.mean(inside))


def _cover(errors: np.ndarray, q: float) -> float:
    """Share (%) of absolute log ``errors`` within ``q``; NaN where the interval cannot be built (too few groups: with
    two GPUs, one held out leaves one to build from), so it counts as nothing rather than as covering."""
    return float(100 * np.mean(errors <= q)) if np.isfinite(q) else float("nan")


def _half_width(q: float) -> float:
    return float(np.exp(q)) if np.isfinite(q) else float("nan")


def own_table(level: float = 0.95, artifact: Artifact | None = None, before: tuple[str, ...] = ("paper",),
              rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model with energy rows: its rows, the law ``auto`` answers with, its 5-fold cross-validated net-energy,
    gross-energy and time errors (%), the coverage of its conformal interval (jackknife over its nested errors) and
    its half-width; beside them, each law of ``before`` (energy-only laws that answered before, e.g. the paper's)
    cross-validated on the same folds of the model's ``rows`` (default: the shipped ones): mean and worst net error."""
    from ..data.shipped import law_data
    from .selection import SEED, K
    from .validation import kfold

    art = artifact or current()
    data = law_data() if rows is None else rows
    out = []
    for m, sel in art.data["selections"]["own"].items():
        row = dict(model=m, rows=sel["rows"], law=sel["law"] or f"{art.shared_name} (shared)")
        if sel["law"] is not None:
            best = {s["candidate"]: s for s in sel["scores"]}[sel["family"]]
            errors = art.interval(sel["interval"]).errors
            row.update(mape_pct=best["mape_pct"], worst_pct=best["worst_pct"], gross_mape_pct=best["gross_mape_pct"],
                       time_mape_pct=best["time_mape_pct"], nested_errors=len(errors),
                       coverage_pct=jackknife_coverage(errors, level),
                       half_width_x=_half_width(conformal_q(errors, level)))
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
    """Held-out coverage (%) of the conformal intervals of the law ``auto`` chooses, per model with a law of its own
    and nominal ``level`` (levels the model's errors are too few for are left out)."""
    art = artifact or current()
    out = []
    for m, sel in art.data["selections"]["own"].items():
        if sel["law"] is None:
            continue
        errors = art.interval(sel["interval"]).errors
        for lv in levels:
            if np.isfinite(conformal_q(errors[1:], lv)):
                out.append(dict(model=m, level=lv, rows=len(errors), coverage_pct=jackknife_coverage(errors, lv)))
    return pd.DataFrame(out)


def transfer_coverage(question: str = "shared", level: float = 0.95, artifact: Artifact | None = None,
                      time: bool = False) -> pd.DataFrame:
    """Per held-out group of the ``shared`` (model) or ``datasheet`` (GPU) question (energy, or ``time``): rows, the
    law and its mean error (%) there (from the selection's held-out table), and the coverage (%) of the intervals built
    from the *other* groups' errors -- row-pooled (split-conformal) and by group -- with their half-widths (x), and
    whether the by-group interval covers every row of the group."""
    art = artifact or current()
    sel = art.data["selections"][question]
    groups = art.data["intervals"][question]["time_groups" if time else "groups"]
    table = {r["held_out"]: r for r in sel["nested"]}
    if not table:  # not nested: the chosen law's own held-out scores
        table = {r["held_out"]: r for r in sel["groups"] if r["candidate"] == sel["law"]}
    out = []
    for g, mine in groups.items():
        mine = np.abs(np.asarray(mine, float))
        if not len(mine):
            continue
        rest = {h: v for h, v in groups.items() if h != g and len(v)}
        q_rows = conformal_q(np.abs(np.concatenate([np.asarray(v, float) for v in rest.values()])), level)
        q_group = grouped_q(rest, level)
        r = table.get(g, {})
        out.append(dict(held_out=g, rows=len(mine), law=r.get("law", sel["law"]),
                        mape_pct=100 * float(np.mean(np.exp(mine) - 1)) if time else r.get("mape_pct"),
                        conformal_coverage_pct=_cover(mine, q_rows), conformal_x=_half_width(q_rows),
                        group_coverage_pct=_cover(mine, q_group), group_x=_half_width(q_group),
                        group_covered=bool(np.all(mine <= q_group)) if np.isfinite(q_group) else None))
    return pd.DataFrame(out)


def coverage_summary(level: float = 0.95, artifact: Artifact | None = None) -> pd.DataFrame:
    """Per question (``shared``: a model never seen; ``datasheet``: a GPU never seen) and quantity (energy, time): the
    coverage (%) of the row-pooled and the by-group intervals of :func:`transfer_coverage`, counted by row (every
    held-out row), by group (the mean of each group's coverage: every model weighs the same) and as the share of
    groups covered entirely, with the median half-widths (x)."""
    out = []
    for question in ("shared", "datasheet"):
        for quantity in ("energy", "time"):
            t = transfer_coverage(question, level, artifact, time=quantity == "time")
            if t.empty:
                continue
            w = t["rows"].to_numpy(float)
            for kind, col, x in (("row-pooled", "conformal_coverage_pct", "conformal_x"),
                                 ("by group", "group_coverage_pct", "group_x")):
                ok = t[col].notna().to_numpy()
                if not ok.any():
                    continue
                out.append(dict(question=question, quantity=quantity, interval=kind,
                                by_row_pct=float(np.sum(t[col][ok] * w[ok]) / w[ok].sum()),
                                by_group_pct=float(t[col][ok].mean()),
                                groups_covered_pct=float(100 * np.mean(t[col][ok] >= 100 - 1e-9)),
                                median_x=float(t[x][ok].median())))
    return pd.DataFrame(out)
