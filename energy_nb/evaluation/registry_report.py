"""Tables about every registry model (``data/models``): predictions at each model's published default configuration,
and a leave-one-model-out check of a shared law against ML.ENERGY's independent measurements (its parameters and
counted FLOPs are :mod:`energy_nb.compute.flop_tables`').

Units: parameters in billions, FLOPs in TFLOPs (multiply-add = 2) per call at batch 1, kernels per call,
energies in J (per image) or Wh (per image), errors in percent.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .. import laws
from ..models.configuration import Configuration
from ..models.registry import MODEL_KEYS, get_model
from .validation import Candidate, held_out


def default_predictions(law_name: str = "roofline_tc_kernels", gpu: str = "A100", dtype: str = "fp16",
                        models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model at its published default configuration (``defaults`` of its registry file): the shared
    law's per-image energy (Wh, with its 95% interval) on ``gpu`` and the reasons it extrapolates."""
    law = laws.get(law_name)
    rows = []
    for m in models or MODEL_KEYS:
        s = get_model(m)
        d = s.defaults
        h, w, steps, cfg = int(d["height"]), int(d["width"]), int(d["steps"]), s.default_cfg
        config = Configuration(m, h, w, steps, dtype, cfg, gpu)
        r = law.per_image(config)
        flags = law.extrapolation(config)
        rows.append({"model": m, "name": s.name, "resolution": f"{h}x{w}", "steps": steps, "CFG": cfg,
                     "Wh/image": r.per_image_wh, "low": r.interval_wh[0], "high": r.interval_wh[1],
                     "extrapolating": "; ".join(flags)})
    return pd.DataFrame(rows)


def independent_rows(batch_size: int = 1) -> pd.DataFrame:
    """ML.ENERGY's single-GPU rows of registry models at ``batch_size``, made net of published idle power
    (``energy_nb.data.shipped.external_data``): what the leave-one-model-out is scored on."""
    from ..data.shipped import external_data

    df = external_data()
    return df[df["batch_size"] == batch_size].reset_index(drop=True)


def leave_one_model_out(law_name: str = "roofline_tc_kernels", batch_size: int = 1) -> pd.DataFrame:
    """For every model with ML.ENERGY rows: ``law_name`` fitted on the paper's A100 tables plus the ML.ENERGY
    rows of every *other* model (both GPUs) predicts the held-out model's rows (the validation engine,
    :func:`energy_nb.evaluation.validation.held_out`); one row per measurement with the measured and
    predicted J per image and the error in percent."""
    from ..data.schema import dataset_of
    from ..data.shipped import shipped_data

    ext = independent_rows(batch_size)
    pool = pd.concat([shipped_data(), ext], ignore_index=True)
    pool["dataset"] = dataset_of(pool)
    pred = held_out(pool, [Candidate(law_name)], by="model", groups=sorted(ext["model"].astype(str).unique()),
                    score=lambda d: d["dataset"] == "ML.ENERGY")
    n = pred["n_prompts"].astype(float)
    meas, est = pred["energy_j"] / n, pred["energy_pred_j"] / n
    return pd.DataFrame({"model": pred["held_out"], "gpu": pred["gpu"],
                         "resolution": [f"{int(h)}x{int(w)}" for h, w in zip(pred["height"], pred["width"])],
                         "steps": pred["steps"].astype(int), "CFG": pred["cfg"].astype(int).astype(bool),
                         "dtype": pred["dtype"], "measured J/image": meas, "predicted J/image": est,
                         "error (%)": 100 * (est / meas - 1)})


def lomo_summary(lomo: pd.DataFrame) -> pd.DataFrame:
    """Per held-out model and GPU: rows and mean absolute percentage error; plus an 'all' row per GPU."""
    g = lomo.assign(ape=lomo["error (%)"].abs())
    per = g.groupby(["model", "gpu"], as_index=False).agg(rows=("ape", "size"), mape=("ape", "mean"))
    allr = g.groupby("gpu", as_index=False).agg(rows=("ape", "size"), mape=("ape", "mean")).assign(model="all")
    return pd.concat([per, allr], ignore_index=True).rename(columns={"mape": "MAPE (%)"})
