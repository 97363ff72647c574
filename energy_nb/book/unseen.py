"""The second half of the page on laws that transfer (``notebooks/transfer.md``): every model and GPU with data, a
model or GPU never seen, where a run's time goes, the law that answers, its intervals and one-point calibration. Each
function computes one section with the package and returns what the page shows, in order (tables, figures, Markdown).

Units: errors and coverage in %; half-widths as factors (x); times in s.
"""
from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from ..data import shipped
from ..evaluation import calibration, crosscheck, held_out, intervals, selection, validation
from ..laws import fit
from ..laws.artifact import current
from ..laws.base import DATASHEET_KINDS
from ..laws.registry import REGISTRY
from ..models.hardware import get_spec
from . import kinds, plots, present, prose, style
from .transfer import Shown, honest_table, transfer_table

ERRORS = {"mape_pct": "MAPE (%)", "worst_pct": "worst (%)", "gross_mape_pct": "gross MAPE (%)",
          "time_mape_pct": "time MAPE (%)"}


def sheet_laws(names) -> list[str]:
    """Those of ``names`` priced by the datasheet (no term per GPU)."""
    return [n for n in names if REGISTRY[n].kind in DATASHEET_KINDS]


def laws_table() -> Shown:
    """The laws energy-nb fits, as ``data/laws.csv`` lists them."""
    from ..laws.registry import LAWS_CSV, table

    return [present.table(table(), "The laws energy-nb fits (data/laws.csv): kind, fitted per model or shared by all "
                          "models, whether it models time as well as energy, its role and what it models",
                          by=table, data=[LAWS_CSV])]


def pool_counts(pool: pd.DataFrame) -> Shown:
    counts = pool.pivot_table(index="model", columns=["dataset", "gpu"], values="energy_j", aggfunc="count",
                              fill_value=0)
    return [present.table(counts, "Energy records (rows) per model, dataset and GPU: the pool", by=shipped.law_data),
            Markdown(f"{pool['model'].nunique()} models, {pool['gpu'].nunique()} GPUs, {len(pool)} energy records.")]


def leave_one_out(pool: pd.DataFrame, names) -> tuple[Shown, pd.DataFrame, pd.DataFrame]:
    """Every law of ``names`` held out by model and by GPU on the same rows: MAPE and coverage of its own interval."""
    by_model = validation.scores(validation.held_out(pool, names, by="model"), common=True)
    by_gpu = validation.scores(validation.held_out(pool, names, by="gpu"), common=True)
    tab = transfer_table(by_model, by_gpu)
    cov = transfer_table(by_model, by_gpu, "coverage_pct", order=tab.index)
    by = [validation.held_out, validation.scores, transfer_table]
    return [present.table(tab, "MAPE (%) of the held-out model (columns) or GPU ('GPU' columns) per law, sorted by the "
                          "worst held-out model", by=by, labels={c: f"{c} (%)" for c in tab.columns}, digits=1,
                          shade=(0.0, 50.0)),
            Markdown(prose.rows_scored(by_model, by_gpu)),
            present.table(cov, "Held-out coverage (%) of each law's own 95% interval (from its training rows' spread) "
                          "on the held-out model (columns) or GPU ('GPU' columns): an interval that holds covers about "
                          "95%; the intervals that predict gives are in 'The law that answers'", by=by,
                          labels={c: f"{c} (%)" for c in cov.columns}, digits=1)], by_model, by_gpu


def honest(pool: pd.DataFrame, names, by_model: pd.DataFrame, by_gpu: pd.DataFrame, target_pct: float) -> Shown:
    """The law chosen inside the training folds of each held-out model and GPU, its accuracy there, the paper's law on
    the same folds, and the held-out predictions."""
    nested_m, pred_m = selection.nested(pool, names, by="model")
    nested_g, pred_g = selection.nested(pool, names, by="gpu")
    t = honest_table(nested_m, nested_g, by_model, by_gpu)
    shown = [present.table(
        t[["fold", "held_out", "law", "inner_score_pct", "rows", "mape_pct", "worst_pct", "spearman",
           "paper's law MAPE (%)"]],
        "Nested selection per held-out model and GPU: the law chosen inside the training folds, its accuracy on the "
        "held-out rows, and the paper's law on the same folds", by=[selection.nested, validation.scores, honest_table],
        labels={"fold": "fold by", "held_out": "held-out model or GPU", "law": "chosen law",
                "inner_score_pct": "inner MAPE (%)", "mape_pct": "held-out MAPE (%)", "worst_pct": "worst row (%)",
                "spearman": "Spearman"},
        digits={"inner_score_pct": 1, "mape_pct": 1, "worst_pct": 1, "paper's law MAPE (%)": 1, "spearman": 3},
        shade={"inner_score_pct": (0, 50), "mape_pct": (0, 50), "worst_pct": (0, 100),
               "paper's law MAPE (%)": (0, 50)}),
        Markdown(prose.honest_transfer(nested_m, nested_g, by_model[by_model.law == "paper"], t, target_pct))]
    fig, axes = style.panels(pred_m.held_out.nunique() + pred_g.held_out.nunique(), ncols=3, aspect=1.0)
    parts = [(f"held out: {m}", p, "gpu") for m, p in pred_m.groupby("held_out")]
    parts += [(f"held out: GPU {g}", p, "model") for g, p in pred_g.groupby("held_out")]
    for ax, (title, p, colour) in zip(axes, parts):
        p = p.dropna(subset=["energy_pred_j"])
        plots.actual_vs_predicted(p, ax=ax, title=f"{title} ({p.law.iloc[0]})", color_by=colour)
    fig.suptitle("Nested selection: measured against predicted energy of the held-out rows", fontsize=10)
    fig.tight_layout()
    return shown + [present.figure(fig, "Nested selection: measured vs predicted energy per run (J) of each held-out "
                                        "model (colour: GPU) and GPU (colour: model), by the law chosen without it "
                                        "(in brackets)", by=[selection.nested, plots.actual_vs_predicted])]


def datasheet_gap(pool: pd.DataFrame) -> Shown:
    """Measured H100 / A100 ratios of energy and time per image beside those the datasheets imply."""
    ratios = (crosscheck.gpu_ratios(pool[pool.dataset == "ML.ENERGY"]).groupby("model")[["energy_ratio", "time_ratio"]]
              .mean().rename(columns={"energy_ratio": "energy", "time_ratio": "time"}))
    sheet = crosscheck.datasheet_ratios("H100-80GB-HBM3", "A100-SXM4-40GB")
    return [present.table(ratios, "Measured H100 / A100 ratio of energy and time per image (ML.ENERGY, same "
                          "configuration and batch size, mean over batch sizes)",
                          by=[shipped.law_data, crosscheck.gpu_ratios],
                          labels={"energy": "energy ratio (x)", "time": "time ratio (x)"}, digits=2),
            present.table(pd.Series(sheet, name="datasheet ratio").rename_axis("ratio").to_frame(),
                          "H100 / A100 ratios the datasheets imply (power limit, half-precision peak, bandwidth)",
                          by=crosscheck.datasheet_ratios, labels={"datasheet ratio": "datasheet ratio (x)"}, digits=2),
            Markdown(prose.datasheet_gap(ratios, sheet))]


def unseen_gpu(pool: pd.DataFrame, names) -> Shown:
    """Each datasheet-priced law of ``names`` fitted on one GPU and asked about the other: net (all rows, and those
    measured like the other GPU's), time and gross errors."""
    t = held_out.time_gross_errors(pool, sheet_laws(names), by="gpu")
    pct = ("mape_pct", "same_method_mape_pct", "time_mape_pct", "gross_mape_pct")
    return [present.table(t, "Leave one GPU out, both ways: each datasheet-priced law fitted on the other GPU's rows; "
                          "mean error of net energy (all rows, and those measured like the other GPU's), of time and "
                          "of gross energy per image (%)", by=held_out.time_gross_errors,
                          labels={"held_out": "held-out GPU", "mape_pct": "MAPE (%)", "worst_pct": "worst row (%)",
                                  "same_method_rows": "ML.ENERGY rows", "same_method_mape_pct": "ML.ENERGY MAPE (%)",
                                  "timed_rows": "timed rows", "time_mape_pct": "time MAPE (%)",
                                  "gross_mape_pct": "gross MAPE (%)"}, digits=1,
                          shade={c: (0, 50) for c in pct} | {"worst_pct": (0, 100)}),
            Markdown(prose.datasheet_transfer(t, current().datasheet_name))]


def unseen_model_time(pool: pd.DataFrame, names) -> Shown:
    """The laws of ``names`` that model time, leave one model out: time and gross errors of each held-out model."""
    timed = [n for n in sheet_laws(names) if n in selection.TIMED]
    t = held_out.time_gross_errors(pool, timed, by="model")
    tg = t.pivot_table(index="held_out", columns="law", values=["time_mape_pct", "gross_mape_pct"])
    tg.columns = [f"{law}: {'time' if k == 'time_mape_pct' else 'gross'} (%)" for k, law in tg.columns]
    return [present.table(tg, "Leave one model out, the laws that model time: mean error of time per image and of "
                          "gross energy per image of each held-out model's timed rows (%)",
                          by=held_out.time_gross_errors, digits=1, shade=(0.0, 50.0))]


def time_split(pool: pd.DataFrame) -> Shown:
    split = held_out.time_by_kind(pool)
    ax = kinds.time_split(split)
    ax.figure.tight_layout()
    shown = [present.figure(ax.figure, "Seconds per image by kind of operation (the law that answers), the host's "
                                       "seconds, the predicted and measured time, and the time predicted with the "
                                       "model held out (ML.ENERGY's timed rows)",
                            by=[held_out.time_by_kind, kinds.time_split])]
    if "kandinsky3" in set(pool["model"]):
        shown.append(Markdown(prose.kandinsky3(held_out.in_sample(pool, "kandinsky3"))))
    return shown


def batch(pool: pd.DataFrame, names) -> Shown:
    """The batch-b / batch-1 ratios of energy and time per image of a model never seen."""
    b = held_out.batch_effect(pool, [c for c in ("paper", "roofline_tc_kernels", "achieved", "ops") if c in names])
    a = b.assign(energy=b["error_pct"].abs(), time=b["time_error_pct"].abs())
    bt = a.groupby(["model", "law"])[["energy", "time"]].mean().unstack("law")
    bt.columns = [f"{law}: {k} (%)" for k, law in bt.columns]
    return [present.table(bt.dropna(axis=1, how="all"), "Leave one model out on ML.ENERGY's batch rows: mean error of "
                          "the predicted ratio of energy per image, and of time per image, at batch b to batch 1 (%)",
                          by=held_out.batch_effect, digits=1, shade=(0.0, 30.0)),
            Markdown(prose.batch_summary(b))]


def constants(pool: pd.DataFrame, names) -> Shown:
    """The datasheet-priced laws of ``names`` fitted on the whole pool, and what their constants mean."""
    fitted = {n: fit(n, pool) for n in sheet_laws(names)}
    shown = []
    for n, law in fitted.items():
        shown.append(present.table(law.table().reset_index(), f"{n} fitted on the whole pool: R² (log) {law.r2:.3f} "
                                   f"on {law.n_obs} rows" + (f"; time s.d. (log) {law.time_sigma:.3f} on "
                                                             f"{law.n_timed} timed rows" if law.time_sigma is not None
                                                             else "") + " (values in the row's unit)",
                                   by=[fit, law.table], labels={"value": "value (see unit)"}))
    specs = {g: get_spec(g) for g in ("A100-SXM4-40GB", "H100-80GB-HBM3")}
    return shown + [Markdown(prose.datasheet_constants(fitted, specs))]


def law_that_answers() -> Shown:
    """Per model with rows, the law ``auto`` answers with, its cross-validated errors and the coverage of its
    interval, beside the paper's law; coverage against nominal level."""
    own = intervals.own_table()
    curve = intervals.coverage_curve()
    ax = plots.coverage_vs_nominal(curve)
    one = {"mape_pct": 1, "worst_pct": 1, "gross_mape_pct": 1, "time_mape_pct": 1, "coverage_pct": 1}
    return [present.table(own, "Per model with energy rows: the law auto answers with, its 5-fold cross-validated "
                          "net, gross and time errors, its held-out errors, the coverage of its 95% interval on each "
                          "fold (built from the other folds) and its half-width (x); beside them the paper's law, the "
                          "answer before, cross-validated on the same folds (blank: it cannot be fitted on the model's "
                          "rows)", by=intervals.own_table,
                          labels={"law": "law that answers", "paper_mape_pct": "paper's law MAPE (%)",
                                  "paper_worst_pct": "paper's law worst (%)", **ERRORS,
                                  "nested_errors": "nested errors",
                                  "coverage_pct": "held-out coverage (%)", "half_width_x": "half-width (x)"},
                          digits={"half_width_x": 2, "paper_mape_pct": 1, "paper_worst_pct": 1, **one},
                          shade={"paper_mape_pct": (0, 50), "paper_worst_pct": (0, 100), "mape_pct": (0, 50),
                                 "worst_pct": (0, 100)}),
            present.figure(ax.figure, "Held-out coverage of the intervals of a model with data against their nominal "
                                      "level, per model (each fold's rows against the interval built from the "
                                      "model's other folds)", by=[intervals.coverage_curve, plots.coverage_vs_nominal])]


def coverage() -> Shown:
    """The levels a model or GPU without data crosses, from the coverage report (the whole report: the coverage
    page)."""
    from ..evaluation import coverage as held

    t = current().coverage()
    t = t[t["level"].isin(["model", "family", "gpu"])]
    return [present.table(t, "Held-out coverage of the 95% intervals of a model without data (its family has rows), "
                          "an architecture family without data and a GPU without data: rows and groups inside the "
                          "interval built without them (Clopper-Pearson 95%), median width, mean and worst error",
                          by=held.report,
                          labels=dict(rows_inside_pct="rows inside (%)", rows_ci_low_pct="CP low (%)",
                                      rows_ci_high_pct="CP high (%)", groups_inside_pct="groups inside (%)",
                                      groups_ci_low_pct="groups CP low (%)", groups_ci_high_pct="groups CP high (%)",
                                      median_hi_lo="median width (x)", mean_error_pct="mean error (%)",
                                      worst_error_pct="worst error (%)", is_range="range"), digits=1)]


def one_point(pool: pd.DataFrame) -> Shown:
    """One-point calibration where the answer is known, both ways between the two GPUs with data."""
    one = pd.concat([calibration.one_point(pool, b, t) for b, t in (("A100", "H100"), ("H100", "A100"))])
    summary = (one.groupby(["base", "target", "calibration_model"])
               .agg(choices=("rows", "size"), median_mape_pct=("mape_pct", "median"), max_mape_pct=("mape_pct", "max"),
                    same_median_pct=("same_method_mape_pct", "median"), same_max_pct=("same_method_mape_pct", "max"),
                    gross_median_pct=("gross_mape_pct", "median"), time_median_pct=("time_mape_pct", "median"))
               .reset_index())
    return [present.table(summary, "One-point calibration: fitted on the base GPU's rows, one row of the target GPU "
                          "(of the model named) fixes its busy time and power, every other target row is predicted; "
                          "per calibration model, the number of rows that could calibrate, the median and largest mean "
                          "net error over those choices on every other row and on the rows measured like the base "
                          "GPU's, and the median gross and time errors (%)", by=calibration.one_point,
                          labels={"calibration_model": "calibration row's model", "choices": "calibration rows",
                                  "median_mape_pct": "median MAPE (%)", "max_mape_pct": "largest MAPE (%)",
                                  "same_median_pct": "ML.ENERGY median (%)", "same_max_pct": "ML.ENERGY largest (%)",
                                  "gross_median_pct": "gross median (%)", "time_median_pct": "time median (%)"},
                          digits=1),
            Markdown(prose.one_point_summary(one))]


def selection_scores() -> Shown:
    """Each candidate's score in the laws artifact's selections for a model and a GPU without rows."""
    sel = current().data["selections"]
    out = {}
    for question, col in (("shared", "leave-one-model-out score (%)"), ("datasheet", "leave-one-GPU-out score (%)")):
        for s in sel[question]["scores"]:
            out.setdefault(s["candidate"], {})[col] = s["score_pct"]
    t = pd.DataFrame(out).T.rename_axis("law").sort_values("leave-one-model-out score (%)")
    return [present.table(t, "What the selection policy chose on every model with data (energy_nb/artifacts/laws.json):"
                          " each candidate's score, the mean of its held-out net, gross and time errors (%), for a "
                          "model without rows (leave one model out) and for a GPU without rows (leave one GPU out)",
                          by=[selection.choose, selection_scores], digits=1),
            Markdown(prose.law_that_answers(current()))]
