"""One-point calibration of a GPU without energy data, measured where the answer is known.

``energy-nb calibrate`` (:func:`energy_nb.laws.calibrated.calibrate`) learns a new GPU's busy-time and power factors
against a GPU with data from one to three rows measured on it. :func:`one_point` measures how well that works where
both GPUs have data: every model's law fitted on one GPU's rows alone, one row of the other GPU calibrates it, and
every other row of that GPU (every model) is predicted. Units: energies in J, times in s; errors in %.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws.calibrated import factors
from ..laws.physics import scaled
from .metrics import row_errors

#: The dataset measured the same way on both GPUs (ML.ENERGY's Zeus windows; the paper measured the A100 only).
SAME_METHOD = "ML.ENERGY"


def _base_parts(data: pd.DataFrame, base: str, target: str) -> pd.DataFrame:
    """Per ``target`` row of a model that also has ``base`` rows: the ``run_parts`` on the base GPU of its model's
    law as the selection policy would fit it there (``ops`` on the model's base rows, pulled toward ``ops`` fitted on
    the other models' base rows), in the target rows' order."""
    from .selection import candidates_for

    on_base = data[data["gpu"] == base]
    parts = []
    for m in sorted(set(on_base["model"]) & set(data.loc[data["gpu"] == target, "model"])):
        mine = on_base[on_base["model"] == m]
        law = next(c for c in candidates_for("own", mine, on_base) if c.law == "ops").fit(mine)
        rows = data[(data["gpu"] == target) & (data["model"] == m)]
        parts.append(law.run_parts(rows.assign(gpu=base)).join(rows))
    if not parts:
        raise UserError(f"no model has rows on both {base} and {target}")
    return pd.concat(parts)


def one_point(df: pd.DataFrame, base: str, target: str, use_time: bool = True) -> pd.DataFrame:
    """One-point calibration where the answer is known (see the module docstring). One row per calibration row
    (``target`` rows of models with ``base`` rows): its model and dataset, whether it had a latency (busy time and
    power fitted) or not (power alone), the factors, the other target rows scored, and their mean and worst net-energy
    error, their time and gross-energy errors (rows with a latency) and the net error on the rows measured the same
    way as the base GPU's (:data:`SAME_METHOD`), all in %. ``use_time=False``: the calibration row's time is not
    used, so one flat energy ratio calibrates (the method before busy time and power were told apart)."""
    data = ok_rows(df)
    parts = _base_parts(data, base, target)
    per = parts["n_prompts"].to_numpy(float)
    e, t = parts["energy_j"].to_numpy(float) / per, parts["time_s"].to_numpy(float)
    out = []
    for i in range(len(parts)):
        one = parts.iloc[[i]]
        speed, power = factors(one, e[[i]], t[[i]] if use_time else np.full(1, np.nan))
        rest = parts.drop(index=parts.index[i])
        ep, tp = scaled(rest, speed, power)
        err = row_errors(rest.assign(energy_pred_j=ep * rest["n_prompts"].to_numpy(float), time_pred_s=tp))
        same = err[rest["dataset"].to_numpy() == SAME_METHOD]
        out.append(dict(base=base, target=target, calibration_model=one["model"].iloc[0],
                        calibration_dataset=one["dataset"].iloc[0], timed=bool(np.isfinite(t[i])), speed=speed,
                        power=power, rows=len(rest), mape_pct=float(err["net_err"].mean()),
                        worst_pct=float(err["net_err"].max()), time_mape_pct=float(err["time_err"].mean()),
                        gross_mape_pct=float(err["gross_err"].mean()),
                        same_method_mape_pct=float(same["net_err"].mean()) if len(same) else np.nan))
    return pd.DataFrame(out)
