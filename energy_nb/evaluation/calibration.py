"""One-point calibration of a GPU without energy data, measured where the answer is known.

``energy-nb calibrate`` (:func:`energy_nb.laws.calibrated.calibrate`) fixes a new GPU's factor against a GPU with
data from one to three rows measured on it. :func:`one_point` measures how well that works where both GPUs have
data: every row of one GPU predicted from the other GPU's rows alone and one calibration row. Units: energies in J;
errors in %.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..data.schema import ok_rows


def one_point(df: pd.DataFrame, base: str, target: str) -> pd.DataFrame:
    """One-point calibration where the answer is known: for every model with rows on both GPUs, the selection policy
    runs on the ``base`` rows alone, as it would for a GPU whose only data are those: the law its own-rows question
    chooses on the model's ``base`` rows, or, where none can be chosen, the shared law (the family the laws artifact
    chose) fitted on every model's ``base`` rows. That law predicts the model's ``target`` rows as ``base``; then each
    ``target`` row in turn calibrates the factor and every other ``target`` row it can predict is scored (fp32 rows
    need fp32 rows among the ``base`` ones). One row per calibration row: its model, the law, the other rows scored,
    their mean and worst error (%)."""
    from ..laws.artifact import current
    from .candidates import candidate
    from .selection import POLICY, choose
    from .validation import predict_rows

    data = ok_rows(df)
    shared = None
    preds = []
    for m in sorted(set(data.loc[data["gpu"] == base, "model"]) & set(data.loc[data["gpu"] == target, "model"])):
        train, test = data[(data["model"] == m) & (data["gpu"] == base)], data[(data["model"] == m)
                                                                               & (data["gpu"] == target)]
        best = choose(train, POLICY["own"][0], "rows").best
        if best is not None:
            law, fam = best.fit(train), best.law
        else:
            if shared is None:
                shared = candidate(current().shared_name).fit(data[data["gpu"] == base])
            law, fam = shared, f"{current().shared_name} (shared)"
        p = predict_rows(law, test.assign(gpu=base))["energy_pred_j"].to_numpy(float)  # NaN: what it cannot predict
        ok = np.isfinite(p)
        if ok.any():
            preds.append(test[ok].assign(pred_j=p[ok], ratio=test["energy_j"].to_numpy(float)[ok] / p[ok], law=fam))
    if not preds:
        raise UserError(f"no model has rows on both {base} and {target}")
    rows = pd.concat(preds, ignore_index=True)
    out = []
    for i, cal in rows.iterrows():
        rest = rows.drop(index=i)
        err = np.abs(rest["pred_j"] * cal["ratio"] / rest["energy_j"] - 1) * 100
        out.append(dict(base=base, target=target, calibration_model=cal["model"], law=cal["law"], rows=len(rest),
                        mape_pct=float(err.mean()), worst_pct=float(err.max())))
    return pd.DataFrame(out)
