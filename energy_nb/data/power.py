"""Static power and the scope of an energy record: ``gross`` (the counter's total, ML.ENERGY) versus
``net`` (idle power subtracted, as the paper and our sweeps do).

``gross = net + P x time``. Two values of ``P`` are used:

- **published idle power** (``data/gpus.csv``): what an idle GPU draws; subtracting it puts a gross
  record on the paper's footing (the paper subtracted the GPU's idle draw);
- **fitted static power** (:func:`fit_static_power`): the part of the energy proportional to time,
  estimated from records that change batch size at a fixed configuration (so the FLOPs per image do
  not change while the time per image does). It is larger than idle power: clocks, leakage and
  memory stay up while the GPU works, and the paper's "idle subtracted" energy still contains that.

Units: W, s, J.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..core.stats import t_quantile, wls
from ..models.hardware import get_spec, idle_power

FOOTINGS: tuple[str, ...] = ("idle", "static")


def gross_j(net_j, watts, seconds):
    """The one conversion between footings: gross energy (J) = net energy + ``watts`` (idle or static power,
    times the GPUs drawing it) x ``seconds``. Scalars or arrays; :func:`to_net` is its inverse on records."""
    return net_j + watts * seconds


def net_j(gross, watts, seconds):
    """The inverse of :func:`gross_j`: net energy (J) = gross - ``watts`` x ``seconds``."""
    return gross - watts * seconds


def _per_image(df: pd.DataFrame) -> pd.DataFrame:
    from .schema import with_per_image

    d = with_per_image(df[(df["energy_scope"] == "gross") & df["time_s"].notna() & (df["num_gpus"] == 1)])
    d["config"] = (d["model"].astype(str) + " " + d["height"].astype(str) + "x" + d["width"].astype(str) + " T="
                   + d["steps"].astype(str) + " " + d["dtype"].astype(str) + " cfg=" + d["cfg"].astype(str))
    return d


def fit_static_power(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Static power per GPU family from gross single-GPU records with time:
    ``E_image = P_static x t_image + c_config`` (one free energy per configuration), weighted by
    ``1 / E^2`` (relative errors), with a ``level`` confidence interval. Columns: ``gpu``, ``p_static_w``,
    ``ci_low_w``, ``ci_high_w``, ``rows``, ``configs``, ``idle_w`` (published), ``idle_context_w``,
    ``power_limit_w`` (of the family, :func:`energy_nb.models.hardware.get_spec`)."""
    d = _per_image(df)
    out = []
    for gpu, part in d.groupby("gpu"):
        configs = sorted(part["config"].unique())
        X = np.column_stack([part["t_img"].to_numpy(float)]
                            + [(part["config"] == c).to_numpy(float) for c in configs])
        y = part["e_img"].to_numpy(float)
        beta, cov, dof = wls(y, X, 1.0 / y ** 2)
        se = float(np.sqrt(cov[0, 0]))
        t = t_quantile(0.5 + level / 2, dof)
        spec = get_spec(str(gpu))
        nan = float("nan")
        out.append(dict(gpu=gpu, p_static_w=float(beta[0]), ci_low_w=float(beta[0] - t * se),
                        ci_high_w=float(beta[0] + t * se), rows=int(len(part)), configs=len(configs),
                        idle_w=nan if spec.idle_w is None else spec.idle_w,
                        idle_context_w=nan if spec.idle_context_w is None else spec.idle_context_w,
                        power_limit_w=spec.power_w))
    return pd.DataFrame(out)


def slopes_by_config(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The same slope fitted per configuration (>= 3 batch sizes), with a ``level`` confidence interval:
    how much the estimate varies."""
    d = _per_image(df)
    rows = []
    for (gpu, config), part in d.groupby(["gpu", "config"]):
        if len(part) < 3:
            continue
        X = np.column_stack([part["t_img"].to_numpy(float), np.ones(len(part))])
        y = part["e_img"].to_numpy(float)
        beta, cov, dof = wls(y, X)
        t = t_quantile(0.5 + level / 2, dof)
        se = float(np.sqrt(cov[0, 0]))
        rows.append(dict(gpu=gpu, config=config, rows=len(part), slope_w=float(beta[0]),
                         ci_low_w=float(beta[0] - t * se), ci_high_w=float(beta[0] + t * se),
                         mean_power_w=float((part["e_img"] / part["t_img"]).mean())))
    return pd.DataFrame(rows)


def to_net(df: pd.DataFrame, watts: dict[str, float], label: str) -> pd.DataFrame:
    """Gross rows with time made net: ``energy_j -= watts[gpu] x num_gpus x time_s x n_prompts``; net rows
    pass unchanged; gross rows without time, or of a GPU without a wattage, are refused."""
    out = df.copy()
    gross = out["energy_scope"] == "gross"
    if gross.any():
        g = out[gross]
        missing = sorted(set(g["gpu"].astype(str)) - set(watts))
        if missing:
            raise UserError(f"no power given for GPU(s) {', '.join(missing)} to make gross rows net")
        if g["time_s"].isna().any():
            raise UserError("gross rows without time_s cannot be made net")
        p = g["gpu"].astype(str).map(watts).astype(float) * g["num_gpus"].astype(float)
        out.loc[gross, "energy_j"] = net_j(g["energy_j"], p, g["time_s"].astype(float) * g["n_prompts"].astype(float))
        out.loc[gross, "energy_scope"] = "net"
        out.loc[gross, "note"] = g["note"].fillna("").astype(str) + f"; made net: minus {label} x time"
    return out


def footing_watts(df: pd.DataFrame, footing: str = "idle") -> dict[str, float]:
    """Power per GPU family to subtract: published idle power (``idle``) or the fitted static power."""
    if footing not in FOOTINGS:
        raise UserError(f"unknown footing {footing!r}; allowed: {', '.join(FOOTINGS)}")
    gpus = sorted(df.loc[df["energy_scope"] == "gross", "gpu"].astype(str).unique())
    if footing == "idle":
        return {g: idle_power(g) for g in gpus}
    fitted = fit_static_power(df).set_index("gpu")["p_static_w"]
    return {g: float(fitted[g]) for g in gpus}
