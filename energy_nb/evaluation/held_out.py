"""What a user of an unseen model or GPU would compare with their own meter: held-out errors in time, gross
energy and the batch effect.

Both functions take the rows of :func:`energy_nb.data.shipped.law_data` (net energy, J per row of ``n_prompts``
images; ``time_s`` seconds per image where measured) and score laws fitted without the held-out model or GPU
(:func:`energy_nb.evaluation.validation.held_out`, the one leave-one-out engine).

- :func:`time_gross_errors`: per law and held-out group, the mean error (%) of net energy, of net energy on the
  rows measured like the training rows' other GPU (ML.ENERGY's, the same method on both GPUs), of time per
  image and of gross energy per image (net + idle power x time: what every meter reports).
- :func:`batch_effect`: per law and held-out model, how well the law predicts the *ratio* of energy per image
  at batch ``b`` to batch 1 (ML.ENERGY's batch rows), for a model whose batch rows it never saw.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .candidates import Candidate
from .metrics import row_errors
from .validation import held_out

#: The dataset measured the same way on every GPU (the paper measured only the A100).
SAME_METHOD = "ML.ENERGY"
CONFIG = ["model", "gpu", "height", "width", "steps", "dtype", "cfg"]


def time_gross_errors(df: pd.DataFrame, names: Iterable[Candidate | str | Sequence[str]], by: str = "model"
                      ) -> pd.DataFrame:
    """Per law and held-out ``by`` group: rows, net-energy MAPE (%) and worst row (%), MAPE on the
    :data:`SAME_METHOD` rows, and on the timed rows: time-per-image MAPE and gross-energy MAPE (%)
    (:func:`energy_nb.evaluation.metrics.row_errors`; NaN for laws that do not model time)."""
    p = held_out(df, names, by=by).dropna(subset=["energy_pred_j"])
    p = p.join(row_errors(p))
    rows = []
    for (law, g), part in p.groupby(["candidate", "held_out"], sort=False):
        same = part[part["dataset"] == SAME_METHOD]
        rows.append(dict(law=law, held_out=g, rows=len(part), mape_pct=part["net_err"].mean(),
                         worst_pct=part["net_err"].max(), same_method_rows=len(same),
                         same_method_mape_pct=same["net_err"].mean() if len(same) else np.nan,
                         timed_rows=int(part["time_err"].notna().sum()), time_mape_pct=part["time_err"].mean(),
                         gross_mape_pct=part["gross_err"].mean()))
    return pd.DataFrame(rows)


def batch_effect(df: pd.DataFrame, names: Iterable[Candidate | str | Sequence[str]]) -> pd.DataFrame:
    """Leave one model out: per law, held-out model and batch size > 1 of a configuration that also has
    batch 1, the measured and predicted ratio of energy per image at that batch size to batch 1, and the
    ratio's error (%). The law never saw the held-out model's rows, so its batch effect comes from the
    features (and the other models) alone."""
    batch = df[df["dataset"] == SAME_METHOD]
    with_batch = sorted(batch.loc[batch["batch_size"] > 1, "model"].astype(str).unique())
    p = held_out(df, names, by="model", groups=with_batch).dropna(subset=["energy_pred_j"])
    p = p[p["dataset"] == SAME_METHOD].copy()
    per = p["n_prompts"].astype(float)
    p["e_img"], p["e_pred_img"] = p["energy_j"] / per, p["energy_pred_j"] / per
    rows = []
    for key, part in p.groupby(["candidate", *CONFIG], sort=False):
        one = part[part["batch_size"] == 1]
        if one.empty:
            continue
        base, base_pred = float(one["e_img"].iloc[0]), float(one["e_pred_img"].iloc[0])
        for r in part[part["batch_size"] > 1].itertuples():
            measured, predicted = r.e_img / base, r.e_pred_img / base_pred
            rows.append(dict(law=key[0], model=r.model, gpu=r.gpu, batch_size=int(r.batch_size),
                             measured_ratio=measured, predicted_ratio=predicted,
                             error_pct=100.0 * (predicted / measured - 1.0)))
    return pd.DataFrame(rows)
