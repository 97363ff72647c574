"""The transfer page's tables, computed from held-out predictions and scores (pure functions over frames).

Each takes the frames :mod:`.validation`, :mod:`.selection`, :mod:`.held_out` and :mod:`.calibration` return and
gives the table the page shows, so that the page only calls and displays. Units: errors in %.
"""
from __future__ import annotations

import pandas as pd


def by_candidate(scores: pd.DataFrame, value: str = "mape_pct") -> pd.DataFrame:
    """``value`` per candidate (rows) and held-out group (columns) of
    :func:`energy_nb.evaluation.validation.scores`, with the ``worst`` group, sorted by it."""
    t = scores.pivot_table(index="candidate", columns="held_out", values=value)
    t["worst"] = t.max(axis=1)
    return t.sort_values("worst")


def signed_bias(preds: pd.DataFrame, candidate: str) -> pd.DataFrame:
    """Mean signed error (%) of ``candidate``'s held-out predictions by held-out group (rows) and resolution
    (columns, px): a level shift shows as one sign across a row."""
    p = preds[preds["candidate"] == candidate].copy()
    p["signed_error_pct"] = 100 * (p["energy_pred_j"] / p["energy_j"] - 1)
    return p.pivot_table(index="held_out", columns="height", values="signed_error_pct")


def transfer_table(by_model: pd.DataFrame, by_gpu: pd.DataFrame, value: str = "mape_pct",
                   order: pd.Index | None = None) -> pd.DataFrame:
    """``value`` per law (rows): each held-out model (columns), the ``worst`` model, then each held-out GPU
    (``GPU <name>``); sorted by the worst model (or in ``order``)."""
    t = by_model.pivot_table(index="law", columns="held_out", values=value)
    if value == "mape_pct":
        t["worst"] = t.max(axis=1)
    for g, v in by_gpu.pivot_table(index="law", columns="held_out", values=value).items():
        t[f"GPU {g}"] = v
    return t.loc[order] if order is not None else t.sort_values("worst" if "worst" in t else t.columns[0])


def honest_table(nested_m: pd.DataFrame, nested_g: pd.DataFrame, by_model: pd.DataFrame,
                 by_gpu: pd.DataFrame) -> pd.DataFrame:
    """The nested selection per held-out model and GPU (:func:`energy_nb.evaluation.selection.nested`) with the
    paper's law's MAPE on the same folds beside it (``paper's law MAPE (%)``)."""
    paper_m = by_model[by_model.law == "paper"].set_index("held_out")
    paper_g = by_gpu[by_gpu.law == "paper"].set_index("held_out")
    honest = pd.concat([nested_m.assign(fold="model"), nested_g.assign(fold="GPU")], ignore_index=True)
    honest["paper's law MAPE (%)"] = [(paper_m if f == "model" else paper_g)["mape_pct"].get(g, float("nan"))
                                      for f, g in zip(honest.fold, honest.held_out)]
    return honest


def time_gross_by_model(t: pd.DataFrame) -> pd.DataFrame:
    """Per held-out model (rows) and law: the time and gross-energy MAPE (%) of
    :func:`energy_nb.evaluation.held_out.time_gross_errors` by model, one column each (``law: time (%)``)."""
    tg = t.pivot_table(index="held_out", columns="law", values=["time_mape_pct", "gross_mape_pct"])
    tg.columns = [f"{law}: {'time' if k == 'time_mape_pct' else 'gross'} (%)" for k, law in tg.columns]
    return tg


def batch_table(batch: pd.DataFrame) -> pd.DataFrame:
    """Per held-out model (rows) and law: the mean absolute error (%) of the predicted batch ratio of energy per image
    and of time per image (:func:`energy_nb.evaluation.held_out.batch_effect`; time blank for a law without time)."""
    a = batch.assign(energy=batch["error_pct"].abs(), time=batch["time_error_pct"].abs())
    bt = a.groupby(["model", "law"])[["energy", "time"]].mean().unstack("law")
    bt.columns = [f"{law}: {k} (%)" for k, law in bt.columns]
    return bt.dropna(axis=1, how="all")


def one_point_table(one: pd.DataFrame) -> pd.DataFrame:
    """One-point calibration (:func:`energy_nb.evaluation.calibration.one_point`) per direction and calibration
    model: how many rows could calibrate, the median and largest mean net-energy error over those choices on every
    other row and on the rows measured like the base GPU's, and the median gross-energy and time errors."""
    return (one.groupby(["base", "target", "calibration_model"])
            .agg(choices=("rows", "size"), median_mape_pct=("mape_pct", "median"), max_mape_pct=("mape_pct", "max"),
                 same_median_pct=("same_method_mape_pct", "median"), same_max_pct=("same_method_mape_pct", "max"),
                 gross_median_pct=("gross_mape_pct", "median"), time_median_pct=("time_mape_pct", "median"))
            .reset_index())


def selection_scores(artifact) -> pd.DataFrame:
    """Each candidate's score (%) in the laws artifact's shared (leave one model out) and datasheet (leave one GPU
    out) selections, one row per candidate law."""
    sel = artifact.data["selections"]
    out = {}
    for question, col in (("shared", "leave-one-model-out score (%)"), ("datasheet", "leave-one-GPU-out score (%)")):
        for s in sel[question]["scores"]:
            out.setdefault(s["candidate"], {})[col] = s["score_pct"]
    return pd.DataFrame(out).T.rename_axis("law").sort_values("leave-one-model-out score (%)")
