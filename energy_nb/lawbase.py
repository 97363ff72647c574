"""What every energy law shares: per-image semantics, the data's domain, extrapolation flags,
provenance, description and JSON persistence.

A law class (:class:`energy_nb.fit.ScalingLaw`, :class:`energy_nb.physical.PhysicalLaw`) implements
``predict(df, alpha, gpu_as)`` -- energy in J of each row's ``n_prompts`` prompts with a prediction
interval -- and ``table()``; this mixin adds the rest of the :class:`energy_nb.laws.Law` protocol.

**Per-image energy, one definition everywhere.** A sequential run of ``N`` prompts costs ``N`` times
the per-image energy, and the per-image energy is what the law predicts at the ``N`` of its data
(:attr:`reference_prompts`, 100 for the paper's tables) divided by that ``N``. The paper's law has
``alpha < 1`` and its data never varies ``N`` (always 100), so evaluating it at ``N = 1`` extrapolates
along a direction the data does not span; that reading stays available as ``n_scaling="law"``.

Units: energy in J (``_j``) and Wh (``_wh``); intervals are (1 - alpha) prediction intervals.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .units import HALF_DTYPES, J_PER_WH

N_SCALINGS: tuple[str, ...] = ("linear", "law")


def t_quantile(q: float, df: float) -> float:
    """Student-t quantile (scipy.special: no scipy.stats import); inf without residual degrees of freedom."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q)) if df > 0 else float("inf")


def data_domain(df: pd.DataFrame, by_gpu: bool = True) -> dict[str, Any]:
    """What a law's training rows cover: models, GPUs, dtypes, CFG, ranges of height, width, steps, N,
    batch size; and the same per GPU (``by_gpu``) when there are several GPUs."""
    def span(col: str, default: int = 1) -> list[int]:
        if col not in df:
            return [default, default]
        v = df[col].astype(float).fillna(default)
        return [int(v.min()), int(v.max())]

    out = dict(models=sorted(df["model"].astype(str).unique()), gpus=sorted(df["gpu"].astype(str).unique()),
               dtypes=sorted(df["dtype"].astype(str).unique()), cfg=sorted(int(v) for v in df["cfg"].unique()),
               height=span("height"), width=span("width"), steps=span("steps"), n_prompts=span("n_prompts"),
               batch_size=span("batch_size"), square_only=bool((df["height"] == df["width"]).all()))
    if by_gpu and len(out["gpus"]) > 1:
        out["by_gpu"] = {g: data_domain(part, by_gpu=False) for g, part in df.groupby(df["gpu"].astype(str))}
    return out


def interval_frame(energy_j, sigma: float, df_resid: float, alpha: float, index) -> "pd.DataFrame":
    """Predicted energies (J) with a (1-alpha) interval from a log-residual spread ``sigma``: the frame every
    linear-in-energy law's ``predict`` returns (``energy_pred_j``, ``pi_low_j``, ``pi_high_j``, ``log_pred``
    in log kWh, ``se_log``)."""
    import numpy as np

    from .units import J_PER_KWH

    e = np.asarray(energy_j, dtype=float)
    q = t_quantile(1 - alpha / 2, df_resid)
    return pd.DataFrame(dict(energy_pred_j=e, pi_low_j=e * np.exp(-q * sigma), pi_high_j=e * np.exp(q * sigma),
                             log_pred=np.log(e / J_PER_KWH), se_log=sigma), index=index)


def reference_prompts_of(df: pd.DataFrame) -> int:
    """The ``N`` at which per-image energy is read off: the most common ``n_prompts`` of the data
    (ties: the largest)."""
    counts = df["n_prompts"].astype(int).value_counts()
    return int(max(counts[counts == counts.max()].index))


def _finite(x: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (strict JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalars
        return _finite(x.item())
    return x


def to_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON (``allow_nan=False``): NaN / inf are written as ``null``."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False, default=str)


class LawMixin:
    """Shared behaviour of fitted laws (fields ``name``, ``kind``, ``convention``, ``domain``,
    ``reference_prompts``, ``provenance``, ``baseline_gpu``, ``gpus``, ``models``, ``dtypes``, ``r2``,
    ``n_obs`` are dataclass fields of the concrete class)."""

    # -- extrapolation ----------------------------------------------------------------------------------
    def extrapolation(self, model: str, height: int, width: int, steps: int, dtype: str, cfg: bool,
                      gpu: str, n_prompts: int = 1, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None, batch_size: int = 1) -> list[str]:
        """Reasons why this configuration lies outside the law's training data (empty: inside)."""
        d = self.domain or {}
        out: list[str] = []
        if not d:
            return ["the law records no training domain (saved by an older version): coverage unknown"]
        if model not in d["models"]:
            out.append(f"model {model} is not in the law's data (fitted on {', '.join(d['models'])})")
        if gpu not in d["gpus"]:
            used = (gpu_as or {}).get(gpu, gpu)
            out.append(f"GPU {gpu} is not in the law's data ({', '.join(d['gpus'])})"
                       + (f"; predicted as {used}" if used != gpu else ""))
        if dtype not in d["dtypes"]:
            twin = next((x for x in d["dtypes"] if x in HALF_DTYPES), None) if dtype in HALF_DTYPES else None
            out.append(f"dtype {dtype} is not in the law's data ({', '.join(d['dtypes'])})"
                       + (f"; treated as {twin} (both half precision)" if twin else ""))
        if int(bool(cfg)) not in d["cfg"]:
            out.append(f"CFG {'on' if cfg else 'off'} is not in the law's data")
        for name, v in (("height", height), ("width", width)):
            lo, hi = d[name]
            if not lo <= v <= hi:
                out.append(f"{name} {v} px is outside the law's data ({lo}-{hi} px)")
        if d.get("square_only") and height != width:
            out.append(f"aspect ratio {height}x{width}: the law's data has square images only")
        lo, hi = d["steps"]
        if not lo <= steps <= hi:
            out.append(f"{steps} steps is outside the law's data ({lo}-{hi} steps)")
        lo, hi = d.get("batch_size", [1, 1])
        if not lo <= batch_size <= hi:
            out.append(f"batch size {batch_size} is outside the law's data ({lo}-{hi})"
                       + ("; the law has no batch term: predicted as batch 1" if hi == 1 else ""))
        g = d.get("by_gpu", {}).get(gpu)
        if g is not None:
            gaps = []
            for name, v in (("height", height), ("steps", steps), ("batch size", batch_size)):
                lo, hi = g[name.replace(" ", "_")]
                if not lo <= v <= hi:
                    gaps.append(f"{name} {lo}-{hi}" if lo != hi else f"{name} {lo}")
            if dtype not in g["dtypes"]:
                gaps.append("dtype " + "/".join(g["dtypes"]))
            if int(bool(cfg)) not in g["cfg"]:
                gaps.append("CFG " + ("on" if g["cfg"] == [1] else "off"))
            if gaps:
                out.append(f"the {gpu} data cover only {', '.join(gaps)}: elsewhere the {gpu} term is assumed "
                           "to hold as fitted")
        if n_scaling == "law":
            lo, hi = d["n_prompts"]
            if not lo <= n_prompts <= hi:
                out.append(f"{n_prompts} prompts with n_scaling='law': the law's data has N = {lo}-{hi} only")
        return out

    # -- prediction of one configuration ---------------------------------------------------------------
    def _frame(self, model, height, width, steps, dtype, cfg, gpu, n_prompts, batch_size=1) -> pd.DataFrame:
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch size {batch_size!r} is not allowed: it must be an integer >= 1")
        return pd.DataFrame([dict(model=model, gpu=gpu, height=int(height), width=int(width), steps=int(steps),
                                  dtype=dtype, cfg=int(bool(cfg)), n_prompts=int(n_prompts),
                                  batch_size=int(batch_size))])

    def _n_law_factor(self, n: int) -> float:
        """E(N) under the law's own N reading over N x per-image energy (1 for laws linear in N)."""
        return 1.0

    def per_image(self, model: str, height: int, width: int, steps: int, dtype: str = "fp16", cfg: bool = False,
                  gpu: str | None = None, alpha: float = 0.05, gpu_as: dict[str, str] | None = None,
                  batch_size: int = 1) -> dict:
        """Energy of one image (J and Wh, with the (1-alpha) interval): the law at ``reference_prompts``
        divided by it. This is the one per-image number of ``predict``, ``plan`` and the book."""
        gpu = gpu or self.baseline_gpu
        n = int(self.reference_prompts)
        p = self.predict(self._frame(model, height, width, steps, dtype, cfg, gpu, n, batch_size), alpha=alpha,
                         gpu_as=gpu_as).iloc[0]
        j, lo, hi = p.energy_pred_j / n, p.pi_low_j / n, p.pi_high_j / n
        return dict(per_image_j=float(j), per_image_j_low=float(lo), per_image_j_high=float(hi),
                    per_image_wh=float(j / J_PER_WH), per_image_wh_low=float(lo / J_PER_WH),
                    per_image_wh_high=float(hi / J_PER_WH))

    def predict_one(self, model: str, height: int, width: int, steps: int, dtype: str = "fp16",
                    cfg: bool = False, gpu: str | None = None, n_prompts: int = 1, alpha: float = 0.05,
                    gpu_as: dict[str, str] | None = None, n_scaling: str = "linear", batch_size: int = 1) -> dict:
        """Energy of ``n_prompts`` images of one configuration, per image and in total, with intervals
        and the reasons the configuration is an extrapolation (``extrapolation``, empty inside the data).

        ``n_scaling="linear"`` (default): total = ``n_prompts`` x :meth:`per_image`.
        ``n_scaling="law"``: the paper's reading, the law evaluated at ``N = n_prompts`` (per image =
        total / N); with ``alpha < 1`` a single image then costs ``(N_data)^(1-alpha)`` times more.
        """
        if n_scaling not in N_SCALINGS:
            raise ValueError(f"unknown n_scaling {n_scaling!r}; allowed: {', '.join(N_SCALINGS)}")
        if isinstance(n_prompts, bool) or int(n_prompts) != n_prompts or n_prompts < 1:
            raise ValueError(f"prompts {n_prompts!r} is not allowed: it must be an integer >= 1")
        gpu = gpu or self.baseline_gpu
        n = int(n_prompts)
        if n_scaling == "linear":
            e = self.per_image(model, height, width, steps, dtype, cfg, gpu, alpha=alpha, gpu_as=gpu_as,
                               batch_size=batch_size)
            total, lo, hi = n * e["per_image_j"], n * e["per_image_j_low"], n * e["per_image_j_high"]
        else:
            p = self.predict(self._frame(model, height, width, steps, dtype, cfg, gpu, n, batch_size), alpha=alpha,
                             gpu_as=gpu_as).iloc[0]
            k = self._n_law_factor(n)
            total, lo, hi = float(p.energy_pred_j) * k, float(p.pi_low_j) * k, float(p.pi_high_j) * k
        return dict(model=model, gpu=gpu, height=int(height), width=int(width), steps=int(steps), dtype=dtype,
                    cfg=bool(cfg), n_prompts=n, batch_size=int(batch_size), law=self.name, kind=self.kind, convention=self.convention,
                    n_scaling=n_scaling, reference_prompts=int(self.reference_prompts), interval=1 - alpha,
                    per_image_j=total / n, per_image_j_low=lo / n, per_image_j_high=hi / n,
                    per_image_wh=total / n / J_PER_WH, per_image_wh_low=lo / n / J_PER_WH,
                    per_image_wh_high=hi / n / J_PER_WH, total_j=total, total_j_low=lo, total_j_high=hi,
                    total_wh=total / J_PER_WH, total_wh_low=lo / J_PER_WH, total_wh_high=hi / J_PER_WH,
                    extrapolation=self.extrapolation(model, height, width, steps, dtype, cfg, gpu, n, n_scaling,
                                                     gpu_as, batch_size))

    # -- description and persistence -------------------------------------------------------------------
    def describe(self) -> dict:
        """What the law is, what it was fitted on and where that came from (JSON-safe)."""
        return _finite(dict(name=self.name, kind=self.kind, convention=self.convention, r2_log=self.r2,
                            n_obs=self.n_obs, reference_prompts=self.reference_prompts, domain=self.domain,
                            provenance=self.provenance,
                            parameters=self.table().reset_index().to_dict(orient="records")))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def save(self, path: str | Path) -> Path:
        """Write the law (coefficients, domain, provenance) as strict JSON."""
        path = Path(path)
        path.write_text(to_json(self.to_dict()))
        return path
