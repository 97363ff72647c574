"""The law for several GPUs per image (:mod:`energy_nb.laws.parallel`), fitted and measured held-out at build time.

Its rows are the shipped records on more than one GPU (ML.ENERGY v3: FLUX.1-dev and SD3.5-Large on 2, 4 and 8 H100s,
every Ulysses x Ring split, batch 1-16), made net of idle power as every record the laws learn from. Each model's
single-GPU part is the ``ops`` law that answers it on that GPU (:func:`bases`). Two held-out questions
(:data:`FOLDS`), each row predicted by the coefficients fitted without it:

- **leave one model out**: fitted on one model's rows, predicting the other's -- a model whose split was never
  measured;
- **leave the largest GPU count out**: fitted on 2 and 4 GPUs, predicting 8.

The held-out errors of the first are the split level of the intervals of every answer on several GPUs
(:mod:`energy_nb.laws.levels`). Units: J, s; errors in % and natural log units.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..laws.artifact import Artifact
from ..laws.ops import OpsLaw
from ..laws.parallel import ParallelLaw, fit_parallel, split_columns
from .validation import splits

#: The held-out questions: name -> what it holds out.
FOLDS: dict[str, str] = {"model": "leave one model out (fitted on the other model's rows on several GPUs)",
                         "largest": "leave the largest GPU count out (fitted on the smaller counts)"}


def rows() -> pd.DataFrame:
    """The shipped records on several GPUs of registry models, net of idle power (with their split columns)."""
    from ..data.shipped import external_data

    d = split_columns(external_data(single_gpu=False))
    return d[d["num_gpus"] > 1].reset_index(drop=True)


def bases(art: Artifact, df: pd.DataFrame) -> dict[str, OpsLaw]:
    """Per model of ``df``: its single-GPU ``ops`` law (:func:`base_key`; one GPU family per model here)."""
    out = {}
    for m, g in df.groupby("model"):
        gpus = sorted(g["gpu"].astype(str).unique())
        keys = {art.parallel_base(str(m), gpu)[0] for gpu in gpus}
        if len(keys) > 1:
            raise UserError(f"{m}'s rows on several GPUs span GPUs answered by different laws: {sorted(keys)}")
        law = art.law(keys.pop())
        if not isinstance(law, OpsLaw):
            raise UserError(f"the single-GPU law of {m} is not an ops law")
        out[str(m)] = law
    return out


def errors(law: ParallelLaw, base: dict[str, OpsLaw], df: pd.DataFrame) -> pd.DataFrame:
    """Per row of ``df``: measured and predicted net energy, gross energy (J per image) and time (s per image), and the
    errors (% and log) of each."""
    out = []
    for m, g in df.groupby("model", sort=False):
        v = law.evaluate(base[str(m)], g)
        e = (g["energy_j"] / g["n_prompts"].astype(float)).to_numpy(float)
        t = g["time_s"].to_numpy(float)
        gross = e + g["num_gpus"].to_numpy(float) * v["idle"] * t
        out.append(pd.DataFrame(dict(model=g["model"].astype(str), gpu=g["gpu"].astype(str), num_gpus=g["num_gpus"],
                                     ulysses=g["ulysses_degree"],
                                     ring=g["ring_degree"], batch_size=g["batch_size"].astype(int), net_j=e,
                                     net_pred_j=v["energy"], gross_j=gross, gross_pred_j=v["gross"], time_s=t,
                                     time_pred_s=v["time"]), index=g.index))
    d = pd.concat(out).sort_index()
    for k, meas, pred in (("net", "net_j", "net_pred_j"), ("gross", "gross_j", "gross_pred_j"),
                          ("time", "time_s", "time_pred_s")):
        d[f"{k}_log"] = np.log(d[pred] / d[meas])
        d[f"{k}_err_pct"] = 100 * (d[pred] / d[meas] - 1)
    return d


def held_out(df: pd.DataFrame, base: dict[str, OpsLaw], fold: str) -> pd.DataFrame:
    """:func:`errors` of every row of ``df`` predicted by the coefficients fitted without its group under ``fold``
    (``model`` or ``largest``, :data:`FOLDS`; the folds of :func:`energy_nb.evaluation.validation.splits`), with a
    ``fold`` column naming what was held out."""
    if fold not in FOLDS:
        raise UserError(f"unknown fold {fold!r}; allowed: {', '.join(FOLDS)}")
    top = f"{int(df['num_gpus'].max())} GPUs"
    group = df["model"].astype(str) if fold == "model" else (df["num_gpus"] == df["num_gpus"].max()).map(
        {True: top, False: "fewer"})
    out = []
    for name, mask in splits(df, group, groups=None if fold == "model" else [top]):
        law = fit_parallel(df[~mask], base)
        out.append(errors(law, base, df[mask]).assign(fold=f"without {name}"))
    return pd.concat(out)


def entry(content: dict[str, Any]) -> dict[str, Any]:
    """The artifact's ``parallel`` entry: the law fitted on every row on several GPUs, the key of each model's
    single-GPU law, the held-out errors of both folds and the interval's errors (the leave-one-model-out ones)."""
    art = Artifact(content, "(being built)")
    df = rows()
    base = bases(art, df)
    law = fit_parallel(df, base, provenance=dict(fitted_on="shipped rows on several GPUs (ML.ENERGY v3)",
                                                 rows=int(len(df))))
    folds = {f: held_out(df, base, f) for f in FOLDS}
    lomo = folds["model"]
    cols = ["fold", "model", "gpu", "num_gpus", "ulysses", "ring", "batch_size", "net_j", "net_pred_j", "gross_j",
            "gross_pred_j", "time_s", "time_pred_s"]
    return dict(law=law.to_dict(), bases={m: b.name for m, b in base.items()},
                in_sample=errors(law, base, df)[cols[1:]].to_dict(orient="list"),
                folds={f: d[cols].to_dict(orient="list") for f, d in folds.items()},
                interval=dict(errors=[float(x) for x in lomo["net_log"].abs()],
                              time_errors=[float(x) for x in lomo["time_log"].abs()],
                              how=f"split-conformal over the {len(lomo)} rows on several GPUs, each predicted by the "
                                  "parallel law fitted without its model's rows (leave one model out)"))


def fold_summary(entry: dict[str, Any], fold: str) -> pd.DataFrame:
    """Per model and split of a held-out fold of the artifact's ``parallel`` entry (:func:`entry`): rows, worst and
    mean absolute error (%) of gross energy and of time, over the batch sizes."""
    d = pd.DataFrame(entry["folds"][fold])
    d["gross"] = 100 * (d["gross_pred_j"] / d["gross_j"] - 1).abs()
    d["time"] = 100 * (d["time_pred_s"] / d["time_s"] - 1).abs()
    d["split"] = "U" + d["ulysses"].astype(str) + " x R" + d["ring"].astype(str)
    g = d.groupby(["model", "num_gpus", "split"], sort=True)
    return pd.DataFrame(dict(rows=g.size(), gross_worst_pct=g["gross"].max(), gross_mean_pct=g["gross"].mean(),
                             time_worst_pct=g["time"].max(), time_mean_pct=g["time"].mean())).reset_index()


def measured_and_predicted(art: Artifact, models: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every shipped ML.ENERGY v3 row of ``models`` (default: those with rows on several GPUs), one GPU included:
    measured gross energy (J per image, summed over the GPUs) and time per image, the batch latency, and the same
    predicted by the law that answers (on one GPU the single-GPU ``ops`` law: the parallel law is it exactly)."""
    from ..data.shipped import external_data

    d = split_columns(external_data(single_gpu=False))
    d = d[d["source"].astype(str).str.startswith("ML.ENERGY v3")]
    models = models or tuple(sorted(rows()["model"].astype(str).unique()))
    d = d[d["model"].isin(models)].reset_index(drop=True)
    law = ParallelLaw(**art.data["parallel"]["law"])
    return errors(law, bases(art, d), d).assign(latency_s=lambda x: x["time_s"] * x["batch_size"],
                                               latency_pred_s=lambda x: x["time_pred_s"] * x["batch_size"])
