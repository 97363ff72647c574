"""Our refits of the paper's law beside its published values: Table 1, cross-validation, train/test
scenarios, the N = 1 reading, the Qwen-Image case study and the factor of one hyperparameter changed at a time.
Energies in J (per run unless said), Wh per image."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import laws
from ..core.units import J_PER_KWH, J_PER_WH
from ..data.paper import LLM_QUERY_WH, published_params
from ..models.configuration import Configuration
from .metrics import metrics
from .validation import cross_model, within_model_cv

PARAM_ORDER = ["log_A", "alpha", "beta_dtype", "beta_res"]


def refit_vs_published(df: pd.DataFrame, models: Iterable[str], convention: str = "paper",
                       table: str = "Table 1") -> pd.DataFrame:
    """Per model and parameter: our OLS value with 95% CI, the published value and the difference."""
    pub = published_params()
    pub = pub[pub["table"] == table]
    rows = []
    for m in models:
        law = laws.fit("paper", df[df["model"] == m], convention=convention)
        t = law.table()
        for par in PARAM_ORDER + ["r2"]:
            ours = law.r2 if par == "r2" else float(t.loc[par, "value"])
            lo = hi = float("nan")
            if par != "r2" and not t.loc[par, "dropped"]:
                lo, hi = float(t.loc[par, "ci_low"]), float(t.loc[par, "ci_high"])
            p = pub[(pub["model"] == m) & (pub["parameter"] == par)]["value"]
            published = float(p.iloc[0]) if len(p) else float("nan")
            rows.append(dict(model=m, parameter=par, ours=ours, ci_low=lo, ci_high=hi, published=published,
                             difference=ours - published, n_rows=law.n_obs))
    return pd.DataFrame(rows)


def table2(df: pd.DataFrame, models: Iterable[str] = ("flux", "sd35"), second: str = "H100",
           convention: str = "paper") -> pd.DataFrame:
    """The paper's Table 2 (its law on the A100 plus a second GPU, per model) as published -- A100 + RTX A6000 Ada,
    whose rows were never published -- beside our refit on the A100 tables plus ``second``'s rows of ``df`` (per
    image, with the second GPU's indicator and the batch term its rows need). One row per model and parameter:
    ``published`` and ``refitted`` (NaN where the fit has no such term), with the refit's 95% CI and rows; the GPU
    offset is ``beta_gpu`` (the A6000's published, ``second``'s refitted)."""
    pub = published_params()
    pub = pub[pub["table"] == "Table 2"]
    rows = []
    for m in models:
        both = df[(df["model"] == m) & df["gpu"].isin(["A100", second])]
        if both["gpu"].nunique() < 2:
            continue
        law = laws.fit("paper", both, convention=convention, baseline_gpu="A100", per_image=True)
        t = law.table().rename(index={f"beta_{second}": "beta_gpu"})
        p = pub[pub["model"] == m].assign(parameter=lambda d: d["parameter"].replace({"beta_A6000": "beta_gpu"}))
        for par in ["log_A", "alpha", "beta_dtype", "beta_gpu", "beta_res", "beta_batch"]:
            pv = p.loc[p["parameter"] == par, "value"]
            ours = t.loc[par] if par in t.index else None
            rows.append(dict(model=m, parameter=par, published=float(pv.iloc[0]) if len(pv) else np.nan,
                             published_gpus="A100 + RTX A6000 Ada", refitted=float(ours["value"]) if ours is not None
                             else np.nan, ci_low=float(ours["ci_low"]) if ours is not None else np.nan,
                             ci_high=float(ours["ci_high"]) if ours is not None else np.nan,
                             refitted_gpus=f"A100 + {second}", rows=int(law.n_obs)))
    return pd.DataFrame(rows)


def fig3_a100(df: pd.DataFrame, models: Iterable[str] = ("flux", "sd35"), convention: str = "paper") -> pd.DataFrame:
    """The A100 half of the paper's Fig. 3: the A100 rows of each model predicted by its published Table 2 law (fitted
    on the A100 and an RTX A6000 Ada, whose offset is zero on the A100). Table 2 has no precision term, so its rows
    were half precision: the fp16 rows of the tables (both CFG settings). Columns: the rows' configuration,
    ``energy_j`` (measured, J per run) and ``energy_pred_j`` (J per run)."""
    from ..laws.scaling import features

    pub = published_params()
    pub = pub[pub["table"] == "Table 2"]
    out = []
    for m in models:
        rows = df[(df["model"] == m) & (df["gpu"] == "A100") & (df["dtype"].astype(str) != "fp32")]
        p = pub[pub["model"] == m].set_index("parameter")["value"]
        if rows.empty or p.empty:
            continue
        x = features(rows, convention)
        log_kwh = p["log_A"] + p["alpha"] * x["log_F"] + p.get("beta_res", 0.0) * x["log_res"]
        out.append(rows.assign(energy_pred_j=np.exp(log_kwh) * J_PER_KWH))
    return pd.concat(out) if out else pd.DataFrame()


def cv_predictions(df: pd.DataFrame, models: Iterable[str], k: int = 2, seed: int = 0,
                   convention: str = "paper") -> pd.DataFrame:
    """:func:`~energy_nb.evaluation.validation.within_model_cv` of every model in ``models``, stacked."""
    return pd.concat([within_model_cv(df, m, k=k, seed=seed, convention=convention) for m in models],
                     ignore_index=True)


def scenarios(df: pd.DataFrame, splits: Sequence[tuple[Sequence[str], Sequence[str]]], convention: str = "paper"
              ) -> tuple[pd.DataFrame, list[tuple[pd.DataFrame, pd.DataFrame]]]:
    """Run train -> test splits; return a metrics table (train and test) and the prediction frames."""
    rows, preds = [], []
    for train, test in splits:
        law, tr, te = cross_model(df, train, test, convention=convention)
        name = " + ".join(train) + " -> " + " + ".join(test)
        for part, p in (("train", tr), ("test", te)):
            rows.append(dict(scenario=name, part=part, alpha=law.value("alpha"),
                             **metrics(p["energy_j"], p["energy_pred_j"])))
        preds.append((tr, te))
    return pd.DataFrame(rows), preds


def n_inflation(df: pd.DataFrame, models: Iterable[str], height: int = 768, width: int = 768, steps: int = 25,
                dtype: str = "fp16", cfg: bool = True) -> pd.DataFrame:
    """How much the paper's law inflates one image when evaluated at ``N = 1`` instead of its data's ``N``.

    Per model (law fitted on ``df``'s rows of that model): ``alpha``, the data's ``N``, per-image energy
    (J) as E(N_data)/N_data -- the one definition ``predict``, ``plan`` and the book use -- and as the law
    at N = 1 (``n_scaling='law'``), and their ratio, which is ``N_data^(1 - alpha)`` at any configuration.
    """
    rows = []
    for m in models:
        law = laws.fit("paper", df[df["model"] == m])
        config = Configuration(m, height, width, steps, dtype, cfg)
        lin = law.predict_one(config)
        one = law.predict_one(config, n_scaling="law")
        rows.append(dict(model=m, alpha=law.value("alpha"), data_n=law.reference_prompts,
                         per_image_j=lin.per_image_j, at_n1_j=one.per_image_j,
                         inflation=one.per_image_j / lin.per_image_j))
    return pd.DataFrame(rows)


def case_study(df: pd.DataFrame, model: str = "qwen") -> pd.DataFrame:
    """Per-image energy (J, Wh) of the cheapest and costliest configuration of ``model``, beside LLM queries."""
    d = df[df["model"] == model].copy()
    d["per_image_j"] = d["energy_j"] / d["n_prompts"]
    lo, hi = d.loc[d["per_image_j"].idxmin()], d.loc[d["per_image_j"].idxmax()]
    rows = []
    for label, r in (("smallest", lo), ("largest", hi)):
        wh = r["per_image_j"] / J_PER_WH
        rows.append(dict(configuration=f"{label}: {r['height']}x{r['width']}, {r['steps']} steps, {r['dtype']}, "
                                       f"CFG {'on' if r['cfg'] else 'off'}",
                         per_image_j=r["per_image_j"], per_image_wh=wh,
                         **{f"x {k}": wh / v for k, v in LLM_QUERY_WH.items()}))
    return pd.DataFrame(rows)


#: The one-at-a-time changes of :func:`one_change_factors`: (column, from, to).
ONE_CHANGES: tuple[tuple[str, Any, Any], ...] = (("cfg", 0, 1), ("steps", 10, 50), ("height", 256, 1024),
                                                 ("dtype", "fp16", "fp32"))


def one_change_factors(df: pd.DataFrame, changes: Iterable[tuple[str, Any, Any]] = ONE_CHANGES) -> pd.DataFrame:
    """The factor (x) by which energy changes when one hyperparameter changes and the others stay fixed, over every
    such pair of configurations in ``df`` (one model, one GPU): per change, the ``parameter``, its ``from`` and
    ``to`` values, a ``change`` label, the median, smallest and largest factor and the number of pairs. Changes
    without a pair (e.g. fp32 of a model measured in fp16 only) are left out."""
    keys = ["height", "steps", "dtype", "cfg"]
    rows = []
    for col, a, b in changes:
        rest = [k for k in keys if k != col]
        x = df[df[col] == a].set_index(rest)["energy_j"]
        y = df[df[col] == b].set_index(rest)["energy_j"]
        r = (y / x).dropna()
        if r.empty:
            continue
        rows.append(dict(change=f"{col}: {a} -> {b}", parameter=col, **{"from": a, "to": b},
                         median_factor=float(np.median(r)), min=float(r.min()), max=float(r.max()), pairs=len(r)))
    return pd.DataFrame(rows)
