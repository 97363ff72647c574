"""How well the intervals of the law that answers hold, read from the laws artifact (nothing is refitted here).

The artifact keeps, for every question of the selection policy (:mod:`.selection`), the absolute log errors of the
held-out predictions its intervals are built from, by outer fold. A split-conformal interval built from ``n`` such
errors covers a further error with probability at least ``level``; :func:`jackknife_coverage` measures that on the
errors themselves (each against the interval built from the others), :func:`transfer_coverage` per held-out model
or GPU (each group against the interval built from the *other* groups' errors: what a user of an unseen model or
GPU gets).

Units: errors in % of the measured energy; half-widths as factors (x).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..laws.artifact import Artifact, current
from ..laws.conformal import conformal_q


def jackknife_coverage(errors, level: float = 0.95) -> float:
    """How often a held-out error falls inside the conformal interval built from the *other* errors (%): the
    interval's coverage on rows it was not built from (the split-conformal guarantee says at least ``level``)."""
    e = np.asarray(errors, dtype=float)
    if len(e) < 2:
        return float("nan")
    inside = [e[i] <= conformal_q(np.delete(e, i), level) for i in range(len(e))]
    return 100.0 * float(np.mean(inside))


def _half_width(errors, level: float) -> float:
    q = conformal_q(errors, level)
    return float(np.exp(q)) if np.isfinite(q) else float("nan")


def own_table(level: float = 0.95, artifact: Artifact | None = None) -> pd.DataFrame:
    """Per model with energy rows: its rows, the law ``auto`` answers with (or the shared law), that law's and the
    paper's law's cross-validated mean and worst error (%), the held-out coverage of the paper's in-sample interval,
    the coverage of the chosen law's conformal interval (jackknife over its nested errors) and its half-width."""
    art = artifact or current()
    out = []
    for m, sel in art.data["selections"]["own"].items():
        scores = {s["candidate"]: s for s in sel["scores"]}
        row = dict(model=m, rows=sel["rows"], law=sel["family"] or f"{art.shared_name} (shared)")
        paper = scores.get("paper")
        if paper is not None and paper["predicted"] == paper["rows"]:
            row.update(paper_mape_pct=paper["mape_pct"], paper_worst_pct=paper["worst_pct"],
                       paper_coverage_pct=paper["coverage_pct"])
        if sel["law"] is not None:
            best = scores[sel["family"]]
            errors = art.interval(sel["interval"]).errors
            row.update(mape_pct=best["mape_pct"], worst_pct=best["worst_pct"], nested_errors=len(errors),
                       coverage_pct=jackknife_coverage(errors, level), half_width_x=_half_width(errors, level))
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


def transfer_coverage(question: str = "shared", level: float = 0.95, artifact: Artifact | None = None
                      ) -> pd.DataFrame:
    """Per held-out group of the ``shared`` (model) or ``datasheet`` (GPU) question: rows, the mean error (%) and
    the coverage of the law's own in-sample interval there (from the selection's held-out table), and the coverage
    of the conformal interval built from the *other* groups' errors, with its half-width (x)."""
    art = artifact or current()
    sel = art.data["selections"][question]
    groups = art.data["intervals"][question]["groups"]
    table = {r["held_out"]: r for r in sel["nested"]}
    if not table:  # not nested: the chosen law's own held-out scores
        table = {r["held_out"]: r for r in sel["groups"] if r["candidate"] == sel["law"]}
    out = []
    for g, mine in groups.items():
        others = np.concatenate([np.asarray(v, float) for h, v in groups.items() if h != g])
        q = conformal_q(others, level)
        r = table.get(g, {})
        out.append(dict(held_out=g, rows=len(mine), law=r.get("law", sel["law"]), mape_pct=r.get("mape_pct"),
                        own_coverage_pct=r.get("coverage_pct"),
                        conformal_coverage_pct=float(100 * np.mean(np.asarray(mine) <= q)),
                        half_width_x=float(np.exp(q))))
    return pd.DataFrame(out)
