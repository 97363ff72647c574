"""One-point calibration of a GPU without energy data: a few rows measured on it fix its factor against a GPU
with data.

``energy-nb calibrate --data ROWS.csv --name NAME`` reads one to three measured rows (the record schema, any
model with a law), predicts each row's configuration on the base GPU with the law ``auto`` answers with there,
and stores ``factor = exp(mean log(measured / predicted))`` under ``NAME`` in the cache folder
(``$ENERGY_NB_CACHE/calibrated/NAME.json``). ``predict`` and ``plan --gpu NAME`` then answer with the base GPU's
law times that factor (:class:`energy_nb.laws.calibrated.CalibratedLaw`), and say so. Time and gross energy
are the base GPU's.

:func:`one_point` measures how well that works where the answer is known: every row of one GPU predicted from
the other GPU's rows alone and one calibration row. Units: energies in J; errors in %.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..core.cache import write_atomic
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws.calibrated import Calibration, calibration_dir
from ..models.configuration import Configuration


def calibrate(rows: pd.DataFrame, name: str, base: str = "A100", save: bool = True) -> Calibration:
    """Fix GPU ``name``'s factor against ``base`` from ``rows`` (its ``ok`` rows, one to three recommended)."""
    from ..models.hardware import get_spec
    from .selection import answer

    if not name or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise UserError(f"calibration name {name!r} is not allowed: letters, digits, '.', '_' or '-'")
    try:
        get_spec(name)
        raise UserError(f"{name!r} is a GPU of data/gpus.csv: give the calibrated GPU a name of its own")
    except UserError as exc:
        if "give the calibrated GPU" in str(exc):
            raise
    data = ok_rows(rows)
    if data.empty:
        raise UserError(f"no ok rows to calibrate {name!r} with: {len(rows)} row(s) given")
    out = []
    for r in data.itertuples():
        c = Configuration(str(r.model), int(r.height), int(r.width), int(r.steps), str(r.dtype), bool(int(r.cfg)),
                          base, batch_size=int(getattr(r, "batch_size", 1) or 1))
        law, _ = answer("auto", c.model, base)
        pred = law.per_image(c)["per_image_j"]
        measured = float(r.energy_j) / float(r.n_prompts)
        out.append(dict(model=c.model, configuration=c.replace(gpu=str(r.gpu)).label(), measured_j=measured,
                        base_predicted_j=pred,
                        ratio=measured / pred))
    factor = float(math.exp(np.mean([math.log(x["ratio"]) for x in out])))
    cal = Calibration(name, base, factor, out)
    if save:
        write_atomic(calibration_dir() / f"{name}.json", json.dumps(asdict(cal), indent=1))
    return cal


def one_point(df: pd.DataFrame, base: str, target: str) -> pd.DataFrame:
    """One-point calibration where the answer is known: for every model with rows on both GPUs, the law ``auto``
    picks for it (its family) is refitted on its ``base`` rows alone and predicts its ``target`` rows as ``base``;
    then each ``target`` row in turn calibrates the factor and every other ``target`` row is scored. One row per
    calibration row: its model, the other rows scored, their mean and worst error (%)."""
    from .selection import _candidate, choose_own

    data = ok_rows(df)
    preds = []
    for m in sorted(set(data.loc[data["gpu"] == base, "model"]) & set(data.loc[data["gpu"] == target, "model"])):
        train, test = data[(data["model"] == m) & (data["gpu"] == base)], data[(data["model"] == m)
                                                                               & (data["gpu"] == target)]
        chosen = choose_own(m)
        families = [chosen[0]] if chosen else []
        families += [f for f in ("roofline_tc_kernels", "paper") if f not in families]
        for fam in families:  # the chosen family, else one that fits the base rows alone
            try:
                law = _candidate(fam, m).fit(train)
                p = law.predict(test.assign(gpu=base))["energy_pred_j"].to_numpy(float)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.all(np.isfinite(p)):
                preds.append(test.assign(pred_j=p, ratio=test["energy_j"].to_numpy(float) / p, law=fam))
                break
    if not preds:
        raise UserError(f"no model has rows on both {base} and {target}")
    rows = pd.concat(preds, ignore_index=True)
    out = []
    for i, cal in rows.iterrows():
        rest = rows.drop(index=i)
        err = np.abs(rest["pred_j"] * cal["ratio"] / rest["energy_j"] - 1) * 100
        out.append(dict(base=base, target=target, calibration_model=cal["model"], rows=len(rest),
                        mape_pct=float(err.mean()), worst_pct=float(err.max())))
    return pd.DataFrame(out)
