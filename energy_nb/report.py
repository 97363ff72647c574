"""Tables the book shows: our refits beside the paper's published values, scenario metrics, case studies."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import laws
from .data import shipped_data
from .paper import LLM_QUERY_WH, published_params
from .schema import ok_rows, read_many
from .units import J_PER_WH
from .validate import cross_model, metrics, within_model_cv

PARAM_ORDER = ["log_A", "alpha", "beta_dtype", "beta_res"]


def load(data: Sequence[str] | None = None) -> pd.DataFrame:
    """Notebook data parameter: None -> shipped data; a list of CSV paths -> those files (ok rows)."""
    return shipped_data() if not data else ok_rows(read_many(data))


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


def cv_predictions(df: pd.DataFrame, models: Iterable[str], k: int = 2, seed: int = 0,
                   convention: str = "paper") -> pd.DataFrame:
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
            rows.append(dict(scenario=name, part=part, alpha=law.value("alpha"), **metrics(p["energy_j"], p["energy_pred_j"])))
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
        lin = law.predict_one(m, height, width, steps, dtype, cfg)
        one = law.predict_one(m, height, width, steps, dtype, cfg, n_prompts=1, n_scaling="law")
        rows.append(dict(model=m, alpha=law.value("alpha"), data_n=law.reference_prompts,
                         per_image_j=lin["per_image_j"], at_n1_j=one["per_image_j"],
                         inflation=one["per_image_j"] / lin["per_image_j"]))
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


# ---------------------------------------------------------------------------------------------------
# Our measurements (Sec. 4): files, coverage, meters
# ---------------------------------------------------------------------------------------------------
def measurement_files(pattern: str | None = None) -> list[Path]:
    """Measurement CSVs: ``pattern`` (glob relative to the repository root) or ``data/measurements/*.csv``."""
    from . import paths

    pattern = pattern or "data/measurements/*.csv"
    return sorted(p for p in paths.ROOT.glob(pattern) if p.is_file())


def measurements(files: Sequence[Path | str]) -> pd.DataFrame:
    """Every row (any status) of the given measurement files, validated, with a ``file`` column."""
    from . import paths
    from .schema import read_energy_csv

    frames = []
    for f in files:
        df = read_energy_csv(f)
        p = Path(f).resolve()
        df.insert(0, "file", p.relative_to(paths.ROOT).as_posix() if p.is_relative_to(paths.ROOT) else str(p))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def measurement_provenance(df: pd.DataFrame) -> pd.DataFrame:
    """Per file: rows by status, meters, devices, sizes, GPUs, versions, first/last timestamp, sha256."""
    from . import paths
    from .provenance import sha256

    rows = []
    for f, part in df.groupby("file", sort=True):
        status = part["status"].astype(str).str.split(":").str[0]
        path = paths.ROOT / f if not str(f).startswith("/") else f
        rows.append(dict(file=f, rows=len(part), ok=int((status == "ok").sum()), oom=int((status == "oom").sum()),
                         error=int((status == "error").sum()),
                         meters=", ".join(sorted(part["meter"].dropna().astype(str).unique())),
                         device=", ".join(sorted(part["device"].dropna().astype(str).unique())),
                         size=", ".join(sorted(part["size"].dropna().astype(str).unique())),
                         gpu_name=", ".join(sorted(part["gpu_name"].dropna().astype(str).unique())),
                         versions=", ".join(sorted({f"torch {t}, diffusers {d}" for t, d in
                                                    zip(part["torch_version"], part["diffusers_version"])})),
                         measured=f"{part['timestamp'].min()} .. {part['timestamp'].max()}",
                         sha256=sha256(path)))
    return pd.DataFrame(rows)


def coverage(df: pd.DataFrame) -> pd.DataFrame:
    """ok configurations per (gpu, size, meter, model) x resolution: how much of the grid is measured."""
    ok = ok_rows(df)
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(resolution=ok["height"].astype(str) + "x" + ok["width"].astype(str))
    return ok.pivot_table(index=["gpu", "size", "meter", "model"], columns="resolution", values="energy_j",
                          aggfunc="count", fill_value=0)


METER_KEY = ["file", "model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts", "size", "device",
             "weights", "seed"]


def meter_pairs(df: pd.DataFrame, a: str = "codecarbon", b: str = "nvml") -> pd.DataFrame:
    """Configurations measured by both meters in the same window: net energies side by side and a / b."""
    ok = ok_rows(df)
    left = ok[ok["meter"] == a][METER_KEY + ["energy_j", "energy_raw_j", "duration_s"]]
    right = ok[ok["meter"] == b][METER_KEY + ["energy_j", "energy_raw_j"]]
    pairs = left.merge(right, on=METER_KEY, suffixes=(f"_{a}", f"_{b}"))
    pairs["ratio"] = pairs[f"energy_j_{a}"] / pairs[f"energy_j_{b}"]
    return pairs


def meters_side_by_side(df: pd.DataFrame, reference: str = "nvml") -> pd.DataFrame:
    """One row per window read by several meters: per-image net energy (J) and idle power (W) of each
    meter, and each meter's net and raw energy relative to ``reference`` (%, 0 = the same reading)."""
    ok = ok_rows(df)
    key = [c for c in METER_KEY if c != "file"]
    meters = [m for m in ("zeus", "nvml", "codecarbon") if m in set(ok["meter"])] + sorted(
        set(ok["meter"].astype(str)) - {"zeus", "nvml", "codecarbon"})
    wide = ok.assign(per_image_j=ok["energy_j"] / ok["n_prompts"], raw_per_image_j=ok["energy_raw_j"] / ok["n_prompts"]
                     ).pivot_table(index=key, columns="meter", values=["per_image_j", "raw_per_image_j", "idle_w"])
    out = pd.DataFrame(index=wide.index)
    for m in meters:
        out[f"{m}_j"] = wide[("per_image_j", m)]
    for m in meters:
        out[f"{m}_idle_w"] = wide[("idle_w", m)]
    if reference in meters:
        for m in meters:
            if m == reference:
                continue
            out[f"{m}_vs_{reference}_raw_pct"] = 100 * (wide[("raw_per_image_j", m)] / wide[("raw_per_image_j", reference)] - 1)
            out[f"{m}_vs_{reference}_net_pct"] = 100 * (out[f"{m}_j"] / out[f"{reference}_j"] - 1)
    return out.dropna(how="any").reset_index()


def per_image(df: pd.DataFrame, convention: str = "paper") -> pd.DataFrame:
    """ok rows with per-image energy (J) and per-image denoising GFLOPs (x 2 with CFG) for plotting."""
    from .fit import features

    ok = ok_rows(df)
    if ok.empty:
        return ok.assign(per_image_j=[], gflops_per_image=[])
    X = features(ok, convention)
    return ok.assign(per_image_j=ok["energy_j"] / ok["n_prompts"],
                     gflops_per_image=np.exp(X["log_F"]) / ok["n_prompts"].astype(float))
