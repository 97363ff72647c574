"""The held-out errors of every level of the unknown, one tidy frame, computed at build time
(:func:`held_out_errors`): what the answers' intervals are composed from (:mod:`energy_nb.laws.levels`) and what the
coverage report checks them on (:mod:`.coverage`).

One row per held-out prediction: ``level`` (:data:`energy_nb.laws.levels.LEVELS`), the held-out ``group`` (a
cross-validation fold, a model, a GPU, a lab), the row's ``model``, ``gpu`` and ``lab``, and the signed log errors
(predicted over measured) of net energy (``net``), gross energy (``gross``: net + the GPU's idle power x time, on
timed rows) and time per image (``time``); NaN where the row has no time. Each level's predictions come from laws
fitted without the group:

- ``rows``: each model's own rows, the nested 5-fold cross-validation of its selection (group: ``model/fold``);
- ``model``: every model left out of the shared selection in turn (nested leave-one-model-out);
- ``family``: every architecture family (the denoiser's class: :func:`family`) left out in turn, the shared law fitted
  on the other families' rows;
- ``gpu``: every GPU left out in turn (the datasheet selection), on rows measured by the same lab on both GPUs
  (ML.ENERGY), so that the lab is not read as the GPU;
- ``source``: every lab left out in turn: the shared ``ops`` law fitted on the other lab's rows predicts this lab's
  net energy (the paper's rows have no time, so a law fitted on them has no time of its own to check);
- ``split``: the parallel law fitted on one model's rows on several GPUs predicts the other's (leave one model out);
- ``beyond``: each model's own law fitted without the rows at its largest (and smallest) batch size, step count or
  resolution predicts them; ``distance`` is how far beyond the rows left it was asked (log2 of the held-out value over
  the nearest one kept: 1 is a doubling).

Units: natural log of predicted over measured.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Columns of the frame :func:`held_out_errors` returns.
COLUMNS: tuple[str, ...] = ("level", "group", "model", "gpu", "lab", "net", "gross", "time", "distance")
#: The axes the ``beyond`` level holds the extremes of (record columns).
AXES: tuple[str, ...] = ("batch_size", "steps", "height")
#: The lab whose rows are measured alike on every GPU with data (the ``gpu`` level is read on them).
ALIKE = "ML.ENERGY"


def lab(source: pd.Series) -> pd.Series:
    """The lab of each record's ``source`` (``paper:Table 6`` -> ``paper``; ``ML.ENERGY v3: ...`` -> ``ML.ENERGY``)."""
    s = source.astype(str)
    return s.where(~s.str.startswith("ML.ENERGY"), ALIKE).str.split(":").str[0].str.strip()


def signed(pred: pd.DataFrame) -> pd.DataFrame:
    """Signed log errors of net energy, gross energy and time per image of held-out predictions (rows with
    ``energy_j``, ``energy_pred_j``, ``n_prompts``, ``gpu`` and, where timed, ``time_s`` and ``time_pred_s``)."""
    from ..data.power import gross_j
    from ..models.hardware import idle_power_or_estimate

    p = pred.dropna(subset=["energy_pred_j"])
    n = p["n_prompts"].to_numpy(float)
    e, ep = p["energy_j"].to_numpy(float) / n, p["energy_pred_j"].to_numpy(float) / n
    nan = np.full(len(p), np.nan)
    t = p["time_s"].to_numpy(float) if "time_s" in p else nan
    tp = p["time_pred_s"].to_numpy(float) if "time_pred_s" in p else nan
    gpus = p["gpu"].astype(str)
    idle = gpus.map({g: idle_power_or_estimate(g)[0] for g in gpus.unique()}).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(dict(model=p["model"].astype(str).to_numpy(), gpu=p["gpu"].astype(str).to_numpy(),
                                 lab=lab(p["source"]).to_numpy(), net=np.log(ep / e),
                                 gross=np.log(gross_j(ep, idle, tp) / gross_j(e, idle, t)),
                                 time=np.log(tp / t)))


def _level(name: str, groups: Any, frame: pd.DataFrame, distance: Any = np.nan) -> pd.DataFrame:
    return frame.assign(level=name, group=np.asarray(groups, dtype=str), distance=distance)[list(COLUMNS)]


def family(model: str) -> str:
    """A registry model's architecture family: its denoiser's class (``UNet2DConditionModel``,
    ``FluxTransformer2DModel``, ...)."""
    from ..models.registry import get_model

    return get_model(model).component("denoiser").cls


def family_fold(rows: pd.DataFrame, law: str) -> pd.DataFrame:
    """Predictions of every architecture family's rows by the shared law ``law`` fitted on the other families' rows
    (group: the family)."""
    from ..data.schema import ok_rows
    from .candidates import candidate
    from .validation import predict_rows

    data = ok_rows(rows)
    fam = data["model"].astype(str).map(family)
    out = []
    for name in sorted(fam.unique()):
        mask = (fam == name).to_numpy()
        out.append(predict_rows(candidate(law).fit(data[~mask]), data[mask]).assign(held_out=name))
    return pd.concat(out)


def beyond_fold(own: dict[str, Any], rows: pd.DataFrame) -> pd.DataFrame:
    """Per model with a law of its own and axis of :data:`AXES` with at least three values: the rows at the largest and
    at the smallest value predicted by the model's chosen candidate fitted without them (group ``model/axis/side``),
    with ``distance`` (see the module docstring)."""
    from ..data.schema import ok_rows
    from .validation import predict_rows

    out = []
    for m, sel in sorted(own.items()):
        mine = ok_rows(rows[rows["model"] == m])
        for axis in AXES:
            v = mine[axis].fillna(1).astype(float) if axis in mine else pd.Series(1.0, index=mine.index)
            values = np.sort(v.unique())
            if len(values) < 3:
                continue
            for side, held, near in (("largest", values[-1], values[-2]), ("smallest", values[0], values[1])):
                mask = (v == held).to_numpy()
                p = predict_rows(sel.choice.best.fit(mine[~mask]), mine[mask]).dropna(subset=["energy_pred_j"])
                out.append(_level("beyond", f"{m}/{axis}/{side}", signed(p), abs(float(np.log2(held / near)))))
    return pd.concat(out) if out else pd.DataFrame(columns=list(COLUMNS))


def source_fold(rows: pd.DataFrame) -> pd.DataFrame:
    """Predictions of every lab's rows by the shared ``ops`` law fitted on the other labs' rows (group: the lab)."""
    from ..data.schema import ok_rows
    from .candidates import candidate
    from .validation import predict_rows

    data = ok_rows(rows)
    labs = lab(data["source"])
    out = []
    for name in sorted(labs.unique()):
        mask = (labs == name).to_numpy()
        if mask.all():
            continue
        law = candidate("ops").fit(data[~mask])
        out.append(predict_rows(law, data[mask]).assign(held_out=name))
    return pd.concat(out) if out else data.iloc[0:0].assign(held_out="", energy_pred_j=np.nan)


def held_out_errors(own: dict[str, Any], shared: Any, datasheet: Any, rows: pd.DataFrame,
                    parallel: dict[str, Any] | None) -> pd.DataFrame:
    """The tidy frame of the module docstring from the build's selections (``own``: model -> its
    :class:`~energy_nb.evaluation.selection.Selection`; ``shared``, ``datasheet``: theirs), the shipped ``rows`` and
    the artifact's ``parallel`` entry."""
    parts = []
    for m, sel in sorted(own.items()):
        p = sel.nested_preds.dropna(subset=["energy_pred_j"])
        parts.append(_level("rows", [f"{m}/{int(f) + 1}" for f in p["held_out"]], signed(p)))
    for name, sel in (("model", shared), ("gpu", datasheet)):
        p = sel.nested_preds.dropna(subset=["energy_pred_j"])
        e = _level(name, p["held_out"].astype(str), signed(p))
        parts.append(e[e["lab"] == ALIKE] if name == "gpu" else e)
    f = family_fold(rows, shared.choice.best.law).dropna(subset=["energy_pred_j"])
    parts.append(_level("family", f["held_out"], signed(f)))
    s = source_fold(rows).dropna(subset=["energy_pred_j"])  # net only: one lab's rows have no time to learn it from
    parts.append(_level("source", s["held_out"], signed(s).assign(gross=np.nan, time=np.nan)))
    if parallel is not None:
        d = pd.DataFrame(parallel["folds"]["model"])
        with np.errstate(invalid="ignore", divide="ignore"):
            f = pd.DataFrame(dict(model=d["model"].astype(str), gpu=d["gpu"].astype(str), lab=ALIKE,
                                  net=np.log(d["net_pred_j"] / d["net_j"]),
                                  gross=np.log(d["gross_pred_j"] / d["gross_j"]),
                                  time=np.log(d["time_pred_s"] / d["time_s"])))
        parts.append(_level("split", d["model"].astype(str), f))
    parts.append(beyond_fold(own, rows))
    out = pd.concat(parts, ignore_index=True)
    for q in ("net", "gross", "time"):
        out[q] = out[q].where(np.isfinite(out[q].astype(float)))
    return out
