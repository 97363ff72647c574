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
    batch 1, the measured and predicted ratios of energy per image and of time per image at that batch size to
    batch 1, and the ratios' errors (%; time: NaN for a law without time). The law never saw the held-out model's
    rows, so its batch effect comes from the features (and the other models) alone; a law of time and power gets
    the energy ratio from both: batching shortens the time per image and raises the busy power."""
    batch = df[df["dataset"] == SAME_METHOD]
    with_batch = sorted(batch.loc[batch["batch_size"] > 1, "model"].astype(str).unique())
    p = held_out(df, names, by="model", groups=with_batch).dropna(subset=["energy_pred_j"])
    p = p[p["dataset"] == SAME_METHOD].copy()
    per = p["n_prompts"].astype(float)
    p["e_img"], p["e_pred_img"] = p["energy_j"] / per, p["energy_pred_j"] / per
    if "time_pred_s" not in p:
        p["time_pred_s"] = np.nan
    rows = []
    for key, part in p.groupby(["candidate", *CONFIG], sort=False):
        one = part[part["batch_size"] == 1]
        if one.empty:
            continue
        b = one.iloc[0]
        for r in part[part["batch_size"] > 1].itertuples():
            measured, predicted = r.e_img / b["e_img"], r.e_pred_img / b["e_pred_img"]
            t_measured, t_predicted = r.time_s / b["time_s"], r.time_pred_s / b["time_pred_s"]
            rows.append(dict(law=key[0], model=r.model, gpu=r.gpu, batch_size=int(r.batch_size),
                             measured_ratio=measured, predicted_ratio=predicted,
                             error_pct=100.0 * (predicted / measured - 1.0), measured_time_ratio=t_measured,
                             predicted_time_ratio=t_predicted, time_error_pct=100.0 * (t_predicted / t_measured - 1.0)))
    return pd.DataFrame(rows)


#: The kinds of time a law of time and power splits a run into (GPU kinds, then the host).
KINDS: tuple[str, ...] = ("gemm", "conv", "attention", "softmax", "memory", "kernels", "host")


def time_by_kind(df: pd.DataFrame, batches: str = "ends") -> pd.DataFrame:
    """Per model, GPU and batch size of the timed :data:`SAME_METHOD` rows (``batches="ends"``: each configuration's
    smallest and largest batch; ``"all"``: every one): the time per image the law that answers predicts, split by
    kind (:data:`KINDS`, s; the GPU kinds add up to its busy time, the wall time is the smooth maximum of busy and
    host time), that time, the time the shared ``ops`` law fitted without the model predicts (``held_out_s``), and
    the measured time (``measured_s``)."""
    from ..laws.answer import answer

    timed = df[(df["dataset"] == SAME_METHOD) & df["time_s"].notna()]
    if batches == "ends":
        b = timed.groupby(["model", "gpu", "height"])["batch_size"]
        timed = timed[(timed["batch_size"] == b.transform("min")) | (timed["batch_size"] == b.transform("max"))]
    away = held_out(df, ["ops"], by="model", groups=sorted(timed["model"].astype(str).unique()))
    away = away.set_index(["model", "gpu", "height", "steps", "batch_size"])["time_pred_s"]
    out = []
    for (model, gpu), part in timed.groupby(["model", "gpu"], sort=True):
        law, _ = answer("auto", str(model), str(gpu))
        parts = law.time_parts(part)
        for i, r in enumerate(part.itertuples()):
            row = {k: float(parts[f"{k}_s"].iloc[i]) for k in KINDS}
            row.update(model=model, gpu=gpu, height=int(r.height), batch_size=int(r.batch_size), law=law.name,
                       predicted_s=float(parts["time_s"].iloc[i]), measured_s=float(r.time_s),
                       held_out_s=float(away.loc[(model, gpu, r.height, r.steps, r.batch_size)]))
            out.append(row)
    return pd.DataFrame(out)


def in_sample(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """``model``'s timed :data:`SAME_METHOD` rows against the law that answers for it and the shared law (both as
    the laws artifact holds them): per law, the mean net, gross and time errors (%) and the seconds per image of each
    kind of :data:`KINDS` (mean over the rows): where the shared law misprices the model, and what its own rows
    corrected."""
    from ..laws.artifact import current
    from .metrics import row_errors

    art = current()
    rows = df[(df["model"] == model) & (df["dataset"] == SAME_METHOD) & df["time_s"].notna()]
    out = []
    for key in (art.own(model)["law"], art.shared_name):
        law = art.law(key)
        p = law.predict(rows)
        err = row_errors(rows.assign(energy_pred_j=p["energy_pred_j"], time_pred_s=p["time_pred_s"]))
        parts = law.time_parts(rows)
        out.append(dict(law=key, rows=len(rows), net_pct=err["net_err"].mean(), gross_pct=err["gross_err"].mean(),
                        time_pct=err["time_err"].mean(), **{k: float(parts[f"{k}_s"].mean()) for k in KINDS}))
    return pd.DataFrame(out)
