"""The sections of the page on laws that transfer (``notebooks/transfer.md``): each function computes one section with
the package's validation engine and returns what the page shows, in order (tables, figures, Markdown), so that the page
only calls and displays. The pivots of held-out scores into the page's tables are here too.

Units: errors and coverage in %; half-widths as factors (x); energies in J.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import Markdown

from ..evaluation import selection, validation
from ..laws import fit
from ..laws.physical import READING_REFERENCE, physical_reading
from ..models.display import label
from ..models.hardware import get_spec
from . import plots, present, prose, style

#: What a section shows, in order: tables and figures (:mod:`.present`) and Markdown.
Shown = list[Any]


# ---------------------------------------------------------------------------------------------------
# Pivots of held-out scores into tables
# ---------------------------------------------------------------------------------------------------
def by_candidate(scores: pd.DataFrame, value: str = "mape_pct") -> pd.DataFrame:
    """``value`` per candidate (rows) and held-out group (columns) of :func:`energy_nb.evaluation.validation.scores`,
    with the ``worst`` group, sorted by it."""
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


# ---------------------------------------------------------------------------------------------------
# The paper's four models on the paper's A100 tables
# ---------------------------------------------------------------------------------------------------
def paper_candidates(df: pd.DataFrame, cands) -> tuple[Shown, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every candidate held out by model: its MAPE and its R² and Spearman per held-out model. Returns what is shown,
    the held-out predictions, their scores and the MAPE table (sorted by the worst model)."""
    preds = validation.held_out(df, cands, by="model").dropna(subset=["energy_pred_j"])
    table = validation.scores(preds)
    mape = by_candidate(table)
    other = table.pivot_table(index="candidate", columns="held_out", values=["r2_log", "spearman"]).loc[mape.index]
    shown = [present.table(mape, "MAPE (%) of the held-out model (columns) per candidate law / FLOPs convention, "
                           "sorted by the worst held-out model",
                           by=[validation.held_out, validation.scores, by_candidate],
                           labels={c: f"{c} (%)" for c in mape.columns}, digits=1),
             present.table(other, "R² (log) and Spearman rank correlation of the held-out model's energies, per "
                           "candidate", by=[validation.held_out, validation.scores], labels={"spearman": "Spearman"},
                           digits=3)]
    return shown, preds, table, mape


def nested_rules(df: pd.DataFrame, cands, rules) -> tuple[Shown, dict]:
    """The nested leave-one-model-out selection under each rule: the law chosen without the held-out model and its
    accuracy on it."""
    nested, shown = {}, []
    for rule in rules:
        sel, sel_preds = selection.nested(df, cands, rule=rule, common=False)
        nested[rule] = (sel, sel_preds)
        shown.append(present.table(
            sel[["held_out", "law", "convention", "rule", "inner_score_pct", "mape_pct", "r2_log", "spearman"]],
            f"Nested leave-one-model-out, selection rule '{rule}' of the inner MAPEs: the law chosen without the "
            "held-out model and its accuracy on it", by=selection.nested,
            labels={"held_out": "held-out model", "law": "selected law", "convention": "FLOPs convention",
                    "rule": "selection rule", "inner_score_pct": "inner MAPE (%)", "mape_pct": "held-out MAPE (%)",
                    "spearman": "Spearman"}, digits=3))
    return shown, nested


def measured_vs_predicted(preds: pd.DataFrame, best: str) -> Shown:
    """The held-out predictions of the paper's law and of ``best``, one panel per held-out model."""
    shown = []
    for title, which in ("paper's law (paper FLOPs)", "paper / paper"), (f"{best} (hindsight)", best):
        p = preds[preds.candidate == which]
        fig, axes = style.panels(p.held_out.nunique(), ncols=2, aspect=0.95)
        for ax, (m, part) in zip(axes, p.groupby("held_out")):
            plots.actual_vs_predicted(part, ax=ax, title=f"held out: {label(m)}", color_by="dtype")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        shown.append(present.figure(fig, f"{title}: measured vs predicted energy per run (J) of each held-out model, "
                                         "predicted by the law fitted on the other models (colour: precision)",
                                    by=[validation.held_out, plots.actual_vs_predicted]))
    return shown


def coefficients(df: pd.DataFrame) -> Shown:
    """``roofline_tc_kernels`` fitted on all four models beside the A100's power limit over its peak rate."""
    phys = fit("roofline_tc_kernels", df, convention="counted")
    reading = physical_reading(phys)
    return [present.table(reading, "Coefficients of roofline_tc_kernels fitted on all four models, beside the A100's "
                          "power limit over its peak rate (both in the row's unit) and their ratio",
                          by=[fit, physical_reading],
                          labels={"fitted": "fitted (see unit)",
                                  "at_power_limit_and_peak": "at power limit and peak (see unit)",
                                  "implied_fraction": "implied fraction of peak"}, digits={"implied_fraction": 2}),
            Markdown(prose.coefficients(phys, reading, get_spec(READING_REFERENCE).power_w))]


def bias(preds: pd.DataFrame, best: str) -> Shown:
    t = signed_bias(preds, best)
    return [present.table(t, f"{best}: mean signed error (%) of the held-out model's predicted energies, by "
                          "resolution (columns, px)", by=[validation.held_out, signed_bias],
                          labels={"held_out": "held-out model", **{str(h): f"{h} px (%)" for h in t.columns}},
                          digits=1)]
