"""The book's key findings, each one sentence whose number is computed here from the data.

:func:`key_findings` is what the front page shows; every number in its sentences comes from the energy
records given (by default the shipped ones: the paper's A100 tables and ML.ENERGY's leaderboard) and
from the counted FLOPs in ``data/features/counted.csv``, through the same functions the results pages
call. Change the data and the findings change (a test checks it).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from ..models.registry import PAPER_MODELS

#: The three transformers of the paper's Table 1.
TABLE1_MODELS = ("flux", "sd35", "qwen")


@dataclass(frozen=True)
class Finding:
    """One finding: ``text`` (HTML, the number inside ``<b>``), the headline ``value`` with its ``unit``,
    the page that shows it (``page``: a document of ``_toc.yml``, with an optional ``#anchor``) and the
    ``energy_nb`` function that computes it (``by``)."""

    key: str
    text: str
    value: float
    unit: str
    page: str
    by: str


def _b(text: str) -> str:
    return f'<b class="enb-number">{html.escape(text)}</b>'


def refit_gap(paper_rows: pd.DataFrame) -> Finding:
    """How closely our refit on the published tables reproduces Table 1 (largest |alpha| and R² gap)."""
    from ..evaluation.refit import refit_vs_published

    c = refit_vs_published(paper_rows[paper_rows["gpu"] == "A100"], TABLE1_MODELS)
    alpha = c[c["parameter"] == "alpha"]
    r2 = c[c["parameter"] == "r2"]
    worst = alpha.loc[alpha["difference"].abs().idxmax()]
    gap = float(alpha["difference"].abs().max())
    return Finding("refit", f"Refitted on the paper's own published tables, its law reproduces the Table 1 exponents "
                   f"to within {_b(f'{gap:.3f}')} (largest gap: {worst.model}, α {worst.ours:.3f} against "
                   f"{worst.published:.3f}) and R² to within {float(r2['difference'].abs().max()):.4f}.",
                   gap, "|Δα|", "notebooks/within_model", "energy_nb.evaluation.refit.refit_vs_published")


def printed_vs_counted(resolutions: tuple[int, ...] = (512, 1024)) -> Finding:
    """Largest relative gap of the paper's printed per-step denoiser FLOPs from FLOPs counted on the real
    architectures (``data/features/counted.csv``), over the paper's models at ``resolutions``."""
    from ..compute.flops import model_flops

    rows = []
    for m in PAPER_MODELS:
        for r in resolutions:
            printed = model_flops(m, r, r, "paper").denoise_per_step
            counted = model_flops(m, r, r, "counted").denoise_per_step
            rows.append(dict(model=m, res=r, gap=printed / counted - 1))
    d = pd.DataFrame(rows)
    w = d.loc[d["gap"].abs().idxmax()]
    pct = 100 * float(w["gap"])
    verb = "undercount" if pct < 0 else "overcount"
    return Finding("flops", f"The FLOP formulas printed in the paper {verb} the FLOPs counted on the real diffusers "
                   f"architectures by up to {_b(f'{abs(pct):.0f}%')} per denoising step ({w.model} at {int(w.res)}²).",
                   abs(pct), "%", "notebooks/flops", "energy_nb.compute.flops.model_flops")


def denoising_share(steps: int = 10, resolutions: tuple[int, ...] = (256, 512, 768, 1024)) -> Finding:
    """Where the paper's "denoising is over 90% of the FLOPs at T >= 10" fails (counted FLOPs, no CFG)."""
    from ..compute.flops import model_flops

    rows = [dict(model=m, res=r, share=model_flops(m, r, r, "counted").denoise_share(steps))
            for m in PAPER_MODELS for r in resolutions]
    d = pd.DataFrame(rows)
    low = d[d["share"] < 0.9]
    worst = d.loc[d["share"].idxmin()]
    models = ", ".join(sorted(set(low["model"]))) or "no model"
    return Finding("denoise", f"The claim that denoising is over 90% of a generation's FLOPs at {steps} steps fails in "
                   f"{_b(f'{len(low)} of {len(d)}')} model-resolution cells ({models}; as low as "
                   f"{100 * float(worst['share']):.0f}% for {worst.model} at {int(worst.res)}²).",
                   float(len(low)), "cells", "notebooks/flops", "energy_nb.compute.flops.FlopBreakdown.denoise_share")


def n_inflation(paper_rows: pd.DataFrame) -> Finding:
    """Largest inflation of one image's energy when the paper's law is read at N = 1 (its data: N = 100)."""
    from ..evaluation.refit import n_inflation as inflation

    d = inflation(paper_rows, [m for m in PAPER_MODELS if m in set(paper_rows["model"])])
    w = d.loc[d["inflation"].idxmax()]
    return Finding("n_scaling", f"Read at a single image instead of at its data's N = {int(w.data_n)}, the paper's law "
                   f"inflates one image's energy by up to {_b(f'x{float(w.inflation):.2f}')} ({w.model}, "
                   f"α = {float(w.alpha):.3f}): this book divides the energy of N images by N instead.",
                   float(w["inflation"]), "x", "notebooks/within_model#per-image-energy",
                   "energy_nb.evaluation.refit.n_inflation")


def cross_model(pool: pd.DataFrame, shipped: bool = False) -> Finding:
    """Mean held-out MAPE over models never seen in training: the paper's law (fitted on the other
    models) against our law chosen without seeing the held-out model (nested leave-one-model-out, the shared
    question of the selection policy; ``shipped``: ``pool`` is the shipped data, whose nested table the laws
    artifact holds)."""
    from ..evaluation.selection import POLICY, nested
    from ..evaluation.validation import held_out, scores

    paper = scores(held_out(pool, ["paper"], by="model"), common=True)
    if shipped:
        from ..laws.artifact import current

        chosen_rows = pd.DataFrame(current().data["selections"]["shared"]["nested"])
    else:
        chosen_rows, _ = nested(pool, POLICY["shared"][0], by="model")
    ours, theirs = float(chosen_rows["mape_pct"].mean()), float(paper["mape_pct"].mean())
    w_ours, w_theirs = chosen_rows.loc[chosen_rows["mape_pct"].idxmax()], paper.loc[paper["mape_pct"].idxmax()]
    chosen = chosen_rows["law"].mode().iloc[0]
    return Finding("cross_model", f"Asked about a model it never saw, the paper's law misses by {_b(f'{theirs:.1f}%')} "
                   f"on average (worst model: {w_theirs.held_out}, {w_theirs.mape_pct:.1f}%) and ours by "
                   f"{_b(f'{ours:.1f}%')} (worst: {w_ours.held_out}, {w_ours.mape_pct:.1f}%; mostly {chosen}, chosen "
                   f"without the held-out model; {chosen_rows['held_out'].nunique()} models, A100 and H100).",
                   ours, "%", "notebooks/transfer", "energy_nb.evaluation.selection.nested")


def independent_check(paper_rows: pd.DataFrame, external: pd.DataFrame, model: str = "sd2",
                      gpu: str = "A100") -> Finding:
    """The paper's law (fitted on its tables of ``model``) against ML.ENERGY's independent measurements."""
    from ..evaluation.crosscheck import error_summary, paper_law_vs_measured

    check = paper_law_vs_measured(paper_rows, external, model=model, gpu=gpu)
    e = error_summary(check).set_index("measured")
    mape = float(e.loc["minus published idle power x time", "mape_pct"])
    err = 100 * (check["predicted_j"] / check["net_idle_j"] - 1).abs()
    worst = check.loc[err.idxmax()]
    return Finding("independent", f"Against another lab's measurements (ML.ENERGY, {model} on an {gpu}, net of idle "
                   "power), "
                   f"the paper's law misses by {_b(f'{mape:.0f}%')} on average over {len(check)} batch sizes "
                   f"(worst: {err.max():.0f}% at batch {int(worst.batch_size)}).",
                   mape, "%", "notebooks/independent", "energy_nb.evaluation.crosscheck.paper_law_vs_measured")


def gpu_ratio(external: pd.DataFrame) -> Finding:
    """H100 over A100 energy and time per image at batch 1 (median over the models measured on both)."""
    from ..evaluation.crosscheck import gpu_ratios, ratio_summary

    s = ratio_summary(gpu_ratios(external))
    e, t = float(s["energy_ratio_b1"].median()), float(s["time_ratio_b1"].median())
    lo, hi = float(s["energy_ratio_b1"].min()), float(s["energy_ratio_b1"].max())
    return Finding("gpus", f"The same image on an H100 takes {_b(f'{e:.2f}x')} the A100's energy and {t:.2f}x its time "
                   f"(median over {len(s)} models measured on both by ML.ENERGY, batch 1; energy from {lo:.2f}x to "
                   f"{hi:.2f}x by model).",
                   e, "x", "notebooks/independent", "energy_nb.evaluation.crosscheck.gpu_ratios")


def unseen_model_time(pool: pd.DataFrame) -> Finding:
    """Leave one model out, the one law of time and power (``ops``) fitted without the model: the worst held-out
    model's mean error of gross energy per image (what a meter reads) and of time per image, on its timed rows."""
    from ..evaluation.held_out import time_gross_errors

    t = time_gross_errors(pool, ["ops"], by="model").dropna(subset=["gross_mape_pct"])
    g, tt = t.loc[t["gross_mape_pct"].idxmax()], t.loc[t["time_mape_pct"].idxmax()]
    return Finding("unseen_model_time", f"For a model it never saw, one model of time and power by kind of operation "
                   f"predicts what a meter reads, gross energy per image, within {_b(f'{g.gross_mape_pct:.1f}%')} on "
                   f"average for the worst of {len(t)} held-out models ({g.held_out}), and its time within "
                   f"{tt.time_mape_pct:.1f}% ({tt.held_out}).",
                   float(g.gross_mape_pct), "%", "notebooks/transfer",
                   "energy_nb.evaluation.held_out.time_gross_errors")


def unseen_gpu(pool: pd.DataFrame) -> Finding:
    """Leave one GPU out on the rows measured the same way on both GPUs (ML.ENERGY's): the default law for a GPU
    without data against the paper's law, which reads an unseen GPU as the one it was fitted on, each fitted on the
    other GPU's rows alone (worst of the two ways round)."""
    from ..evaluation.held_out import time_gross_errors
    from ..laws.artifact import current

    law = current().datasheet_name
    t = time_gross_errors(pool, [law, "paper"], by="gpu").groupby("law")["same_method_mape_pct"]
    ours, paper = float(t.max()[law]), float(t.max()["paper"])
    return Finding("unseen_gpu", f"Fitted on one GPU and asked about the other, a law that prices a GPU by what its "
                   f"power limit allows misses by {_b(f'{ours:.1f}%')} (worst way round, rows measured alike on "
                   f"both); the paper's law, which can only read the new GPU as the one it saw, by "
                   f"{_b(f'{paper:.1f}%')}.", ours, "%", "notebooks/transfer",
                   "energy_nb.evaluation.held_out.time_gross_errors")


def key_findings(paper_rows: pd.DataFrame | None = None, external: pd.DataFrame | None = None) -> list[Finding]:
    """The front page's findings, in order, from ``paper_rows`` (default: the paper's A100 tables) and
    ``external`` (default: ML.ENERGY's leaderboard rows, gross)."""
    from ..data import mlenergy, paper
    from ..data.shipped import law_data

    shipped = paper_rows is None and external is None
    paper_rows = paper.a100_energy() if paper_rows is None else paper_rows
    external = mlenergy.shipped() if external is None else external
    pool = law_data(paper_rows, external)
    return [refit_gap(paper_rows), printed_vs_counted(), denoising_share(), n_inflation(paper_rows),
            cross_model(pool, shipped), unseen_model_time(pool), unseen_gpu(pool),
            independent_check(paper_rows, external), gpu_ratio(external)]


def html_list(findings: list[Finding], here: str = "book/intro") -> str:
    """The findings as an HTML ordered list, each linked to the page that shows it (relative to ``here``)."""
    from ..book.present import relative_link

    items = [f'<li data-key="{f.key}">{f.text} <a href="{relative_link(f.page, here)}">See the page.</a></li>'
             for f in findings]
    return '<ol class="enb-findings">' + "".join(items) + "</ol>"
