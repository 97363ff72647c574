"""The independent check: the paper's law and data against ML.ENERGY's measurements.

Pure functions over frames in the shared schema (``energy_nb.data.mlenergy.shipped()`` gives the gross
rows); energies are per image in J, times per image in s, powers in W.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .. import laws
from ..core.errors import UserError
from ..core.units import HALF_DTYPES
from ..data.power import fit_static_power, net_j
from ..data.schema import with_per_image as _per_image
from ..models.configuration import Configuration
from ..models.hardware import idle_power


def paper_law_vs_measured(paper_rows: pd.DataFrame, measured: pd.DataFrame, model: str = "sd2", gpu: str = "A100",
                          static_w: float | None = None, law_name: str = "paper") -> pd.DataFrame:
    """The paper's law (or the registry law ``law_name``) fitted on ``paper_rows`` of ``model`` only (its A100
    tables) predicting the per-image energy of ``measured`` single-GPU rows of ``model`` on ``gpu`` (another lab,
    another A100 variant, batch sizes). Columns: batch size, measured gross, gross - idle x t (the paper's
    footing), gross - static x t, the law's per-image prediction with interval (the paper's law has no batch
    term on these rows; a physical law shares weights and kernels over a batch), and errors (%)."""
    law = laws.fit(law_name, paper_rows[paper_rows["model"] == model])
    m = _per_image(measured[(measured["model"] == model) & (measured["gpu"] == gpu) & (measured["num_gpus"] == 1)])
    if m.empty:
        raise UserError(f"no measured single-GPU rows of {model} on {gpu}")
    idle = idle_power(gpu)
    static = static_w if static_w is not None else float(
        fit_static_power(measured).set_index("gpu").loc[gpu, "p_static_w"])
    rows = []
    for r in m.sort_values("batch_size").itertuples():
        p = law.per_image(Configuration(model, int(r.height), int(r.width), int(r.steps), str(r.dtype), bool(r.cfg),
                                        "A100", batch_size=int(r.batch_size) if law_name != "paper" else 1))
        rows.append(dict(batch_size=int(r.batch_size), gpu_part=r.gpu_part, time_s=r.t_img,
                         paper_rows_j=paper_interpolated(paper_rows, model, int(r.height), int(r.width), int(r.steps),
                                                         str(r.dtype), int(r.cfg)),
                         gross_j=r.e_img,
                         net_idle_j=net_j(r.e_img, idle, r.t_img), net_static_j=net_j(r.e_img, static, r.t_img),
                         predicted_j=p.per_image_j, pi_low_j=p.per_image_j_low, pi_high_j=p.per_image_j_high))
    out = pd.DataFrame(rows)
    for col in ("gross_j", "net_idle_j", "net_static_j"):
        out[f"error_vs_{col[:-2]}_pct"] = 100 * (out["predicted_j"] / out[col] - 1)
    out.attrs.update(idle_w=idle, static_w=static, law=law)
    return out


def paper_interpolated(paper_rows: pd.DataFrame, model: str, height: int, width: int, steps: int, dtype: str,
                       cfg: int) -> float:
    """The paper's own per-image energy at this configuration, linear in steps between the two nearest
    published step counts (NaN when the configuration is not bracketed)."""
    p = paper_rows[(paper_rows["model"] == model) & (paper_rows["height"] == height) & (paper_rows["width"] == width)
                   & (paper_rows["dtype"] == dtype) & (paper_rows["cfg"] == cfg)]
    if p.empty:
        return float("nan")
    e = (p["energy_j"] / p["n_prompts"].astype(float)).groupby(p["steps"].astype(int)).mean().sort_index()
    return float(np.interp(steps, e.index.to_numpy(float), e.to_numpy(float), left=np.nan, right=np.nan))


def error_summary(table: pd.DataFrame) -> pd.DataFrame:
    """MAPE, signed mean error and Spearman of the law against each footing of :func:`paper_law_vs_measured`."""
    rows = []
    for col, label in (("gross_j", "gross (counter total)"), ("net_idle_j", "minus published idle power x time"),
                       ("net_static_j", "minus fitted static power x time")):
        inside = ((table[col] >= table["pi_low_j"]) & (table[col] <= table["pi_high_j"])).mean()
        rows.append(dict(measured=label, mape_pct=float(100 * np.mean(np.abs(table["predicted_j"] / table[col] - 1))),
                         mean_error_pct=float(100 * np.mean(table["predicted_j"] / table[col] - 1)),
                         inside_pi_pct=100 * float(inside)))
    return pd.DataFrame(rows)


def gpu_ratios(measured: pd.DataFrame) -> pd.DataFrame:
    """H100 over A100 energy and time per image, for every (model, configuration, batch size) measured on
    both (single GPU, gross as published). Columns: model, batch_size, energy_ratio, time_ratio."""
    d = _per_image(measured[measured["num_gpus"] == 1])
    key = ["model", "height", "width", "steps", "dtype", "cfg", "batch_size"]
    a = d[d["gpu"] == "A100"].set_index(key)[["e_img", "t_img"]]
    h = d[d["gpu"] == "H100"].set_index(key)[["e_img", "t_img"]]
    both = a.merge(h, left_index=True, right_index=True, how="inner", suffixes=("_a100", "_h100")).reset_index()
    both["energy_ratio"] = both["e_img_h100"] / both["e_img_a100"]
    both["time_ratio"] = both["t_img_h100"] / both["t_img_a100"]
    both["power_a100_w"] = both["e_img_a100"] / both["t_img_a100"]
    both["power_h100_w"] = both["e_img_h100"] / both["t_img_h100"]
    return both.sort_values(["model", "batch_size"]).reset_index(drop=True)


def ratio_summary(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per model: energy and time ratio at batch 1 and the median over shared batch sizes."""
    rows = []
    for m, part in ratios.groupby("model"):
        b1 = part[part["batch_size"] == part["batch_size"].min()].iloc[0]
        rows.append(dict(model=m, batches=len(part), energy_ratio_b1=b1["energy_ratio"], time_ratio_b1=b1["time_ratio"],
                         energy_ratio_median=part["energy_ratio"].median(),
                         time_ratio_median=part["time_ratio"].median()))
    return pd.DataFrame(rows)


def h100_vs_paper(paper_rows: pd.DataFrame, measured: pd.DataFrame, models: Iterable[str] = ("flux", "sd35")
                  ) -> pd.DataFrame:
    """ML.ENERGY's single-GPU, batch-1 H100 per-image energy (gross, and minus idle x time) beside the
    paper's A100 law (fitted on that model's tables) at the same configuration (bf16 read as fp16)."""
    idle = idle_power("H100")
    rows = []
    for m in models:
        law = laws.fit("paper", paper_rows[paper_rows["model"] == m])
        h = _per_image(measured[(measured["model"] == m) & (measured["gpu"] == "H100") & (measured["num_gpus"] == 1)
                                & (measured["batch_size"] == 1)])
        if h.empty:
            continue
        r = h.iloc[0]
        dtype = "fp16" if str(r["dtype"]) in HALF_DTYPES else str(r["dtype"])
        p = law.per_image(Configuration(m, int(r["height"]), int(r["width"]), int(r["steps"]), dtype, bool(r["cfg"]),
                                        "A100"))
        rows.append(dict(model=m, configuration=f"{r['height']}x{r['width']}, {r['steps']} steps, "
                                                f"CFG {'on' if r['cfg'] else 'off'}, {r['dtype']}",
                         h100_gross_j=float(h["e_img"].mean()),
                         h100_net_idle_j=float(net_j(h["e_img"], idle, h["t_img"]).mean()),
                         h100_time_s=float(h["t_img"].mean()), a100_paper_law_j=p.per_image_j,
                         ratio_net=float(net_j(h["e_img"], idle, h["t_img"]).mean()) / p.per_image_j))
    return pd.DataFrame(rows)


def batch_curves(measured: pd.DataFrame) -> pd.DataFrame:
    """Per (model, GPU) single-GPU rows: energy and time per image, and both relative to batch 1."""
    d = _per_image(measured[measured["num_gpus"] == 1])
    d = d.groupby(["model", "gpu", "batch_size"], as_index=False)[["e_img", "t_img"]].mean()
    first = d.sort_values("batch_size").groupby(["model", "gpu"])[["e_img", "t_img"]].transform("first")
    return d.assign(energy_rel=d["e_img"] / first["e_img"], time_rel=d["t_img"] / first["t_img"],
                    power_w=d["e_img"] / d["t_img"])


def datasheet_ratios(new: str = "H100-80GB-HBM3", old: str = "A100-SXM4-40GB") -> dict[str, float]:
    """The ``new`` / ``old`` ratios of energy and time per image the datasheets imply if a workload were
    compute-bound (power limit over half-precision peak; peak) or memory-bound (power over bandwidth; bandwidth)
    (:func:`energy_nb.models.hardware.get_spec`)."""
    from ..models.hardware import get_spec

    a, h = get_spec(old), get_spec(new)
    return {"energy if compute-bound (P/peak)": (h.power_w / h.tflops_half) / (a.power_w / a.tflops_half),
            "energy if memory-bound (P/bandwidth)": (h.power_w / h.bandwidth_gb_s) / (a.power_w / a.bandwidth_gb_s),
            "time if compute-bound": a.tflops_half / h.tflops_half,
            "time if memory-bound": a.bandwidth_gb_s / h.bandwidth_gb_s}


def extended_law_terms(models: Iterable[str] = ("sd2", "flux", "sd35"),
                       parameters: Iterable[str] = ("alpha", "beta_H100", "beta_batch")) -> pd.DataFrame:
    """The exponent, GPU term and batch term of each model's law as ``predict`` fits it (the paper's law per
    image on the paper's tables plus ML.ENERGY's rows, :func:`energy_nb.laws.get`), with 95% confidence
    intervals. Columns: model (its label), parameter, value, ci_low, ci_high."""
    from ..models.display import label

    rows = []
    for m in models:
        t = laws.get("paper", m).table()
        for par in parameters:
            if par in t.index:
                rows.append(dict(model=label(m), parameter=par, value=t.loc[par, "value"],
                                 ci_low=t.loc[par, "ci_low"], ci_high=t.loc[par, "ci_high"]))
    return pd.DataFrame(rows)
