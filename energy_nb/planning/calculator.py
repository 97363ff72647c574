"""The energy calculator of the planning page: the laws that answer ``energy-nb predict`` / ``plan``,
exported at build time as JSON so that a form in the page answers in the browser (no kernel, no network).

For every model, GPU family and discrete setting (resolution, precision, CFG, batch size), the law that
``--law auto`` picks (:func:`energy_nb.laws.answer.answer`, from the laws artifact) is compiled into its closed
form in the step count ``T``. Every law served here has per-image energy

    P(T) = exp(m0 + m1 ln(u0 + u1 T))   [J]

(the paper's law: ``u`` = GFLOPs, affine in ``T``, ``m1`` = alpha; the linear-in-energy laws: ``u`` = P
itself, ``m0 = 0``, ``m1 = 1``), and a log-space standard error ``sqrt(v0 + v1 L + v2 L^2)`` with
``L = ln(u)``, so the interval is ``P exp(-/+ q se)``. A law that models time (``ops``, ``achieved``,
``power_time``: the laws that answer) is served in its own closed form, ``u`` = min(cap t, static t + busy) with the
GPU and host seconds and the busy energy affine in ``T`` (:func:`_timed_form`). The compilation is checked against
the law's own ``predict`` at further step counts before it is written (:func:`compile_config` raises otherwise), and a
browser test compares the form with the command line.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import laws
from ..core.errors import UserError
from ..core.stats import two_sided
from ..core.units import J_PER_KWH
from ..laws.answer import answer

#: Choices offered by the form.
DTYPES: tuple[str, ...] = ("fp16", "bf16", "fp32")
BATCHES: tuple[int, ...] = (1, 2, 4, 8, 16)
#: Step counts the closed form is read from, and those it is checked at.
PROBE_STEPS: tuple[int, ...] = (1, 2)
CHECK_STEPS: tuple[int, ...] = (7, 50, 200)
INTERVAL = 0.95
JS_FILE = Path(__file__).with_name("calculator.js")


def gpu_choices() -> list[str]:
    """GPU families of ``data/gpus.csv`` (the names ``--gpu`` takes), in table order."""
    from ..models.hardware import families

    return list(families())


def _frame(model: str, gpu: str, cells: Sequence[tuple[int, int, int]], dtype: str, n: int) -> pd.DataFrame:
    """Rows of the (resolution, cfg, batch) ``cells`` at every probe and check step count, in that order (each row a
    :meth:`~energy_nb.models.configuration.Configuration.frame`)."""
    from ..models.configuration import Configuration, frame

    steps = PROBE_STEPS + CHECK_STEPS
    return frame([Configuration(model, res, res, int(t), dtype, cfg, gpu, batch)
                  for res, cfg, batch in cells for t in steps], n)


def _closed_form(law: Any, model: str, gpu: str, cell: tuple[int, int, int], dtype: str, X: np.ndarray | None,
                 pred: pd.DataFrame, parts: pd.DataFrame | None = None) -> list[float]:
    """``[u0, u1, m0, m1, v0, v1, v2]`` of one configuration from its rows of the law's prediction (and its
    design rows ``X`` for the paper's law), checked at every step count of the rows."""
    res, cfg, batch = cell
    n = int(law.reference_prompts)
    steps = PROBE_STEPS + CHECK_STEPS
    per_image = pred["energy_pred_j"].to_numpy(float) / n
    low, high = pred["pi_low_j"].to_numpy(float), pred["pi_high_j"].to_numpy(float)
    conformal = _conformal(law)
    if _timed(law):
        return _timed_form(law, model, gpu, cell, dtype, pred, parts)
    if law.kind == "paper":
        fitted = law.fitted
        i = fitted.terms.index("log_F")
        u = np.exp(X[:, i])
        m1 = float(fitted.coef["log_F"])
        x0 = X[0].copy()
        x0[i] = 0.0
        cov = np.asarray(fitted.cov, float)
        v0 = float(x0 @ cov @ x0 + fitted.scale)
        v1 = float(2 * x0 @ cov[:, i])
        v2 = float(cov[i, i])
        if conformal is not None:
            v0, v1, v2 = conformal ** 2, 0.0, 0.0
    else:
        u = per_image
        m1, v0, v1, v2 = 1.0, float(pred["se_log"].to_numpy(float)[0]) ** 2, 0.0, 0.0
    t0, t1 = PROBE_STEPS
    u1 = float((u[1] - u[0]) / (t1 - t0))
    u0 = float(u[0] - u1 * t0)
    m0 = float(math.log(per_image[0]) - m1 * math.log(u[0]))
    q = two_sided(INTERVAL, law.df_resid) if conformal is None else 1.0
    for k, t in enumerate(steps):
        uu = u0 + u1 * t
        p = math.exp(m0 + m1 * math.log(uu))
        se = math.sqrt(v0 + v1 * math.log(uu) + v2 * math.log(uu) ** 2)
        want = (per_image[k], low[k] / n, high[k] / n)
        got = (p, p * math.exp(-q * se), p * math.exp(q * se))
        if any(abs(g / w - 1) > 1e-9 for g, w in zip(got, want)):
            raise UserError(f"law {law.name!r} is not of the calculator's closed form at {model} {res}² {dtype} "
                            f"cfg={cfg} batch={batch} T={t}: {got} vs {want}")
    return [u0, u1, m0, m1, v0, v1, v2]


def _timed(law: Any) -> bool:
    return bool(law.models_time)


def _timed_form(law: Any, model: str, gpu: str, cell: tuple[int, int, int], dtype: str, pred: pd.DataFrame,
                parts: pd.DataFrame | None = None) -> list[float]:
    """``[g0, g1, h0, h1, static_w, e0, e1, cap_w]`` of a law that models time (its ``energy_parts``): GPU and host
    seconds per image and the busy energy per image (J) affine in ``T``; energy per image
    ``min(cap_w t, static_w t + e0 + e1 T)`` with ``t = (t_gpu^s + t_host^s)^(1/s)``, ``s`` the laws' smooth
    maximum; checked like :func:`_closed_form`."""
    from ..laws.transfer import SMOOTH_MAX

    res, cfg, batch = cell
    n = int(law.reference_prompts)
    steps = PROBE_STEPS + CHECK_STEPS
    if parts is None:
        parts = law.fitted.energy_parts(_frame(model, gpu, [cell], dtype, n))
    t0, t1 = PROBE_STEPS

    def affine(col: str) -> tuple[float, float]:
        v = parts[col].to_numpy(float)
        slope = float((v[1] - v[0]) / (t1 - t0))
        return float(v[0] - slope * t0), slope
    (g0, g1), (h0, h1), (e0, e1) = affine("t_gpu_s"), affine("t_host_s"), affine("busy_j")
    a, p = float(parts["static_w"].iloc[0]), float(parts["cap_w"].iloc[0])
    q, v0 = 1.0, float(_conformal(law) or float(pred["se_log"].iloc[0])) ** 2
    if _conformal(law) is None:
        q = two_sided(INTERVAL, law.df_resid)
    per_image = pred["energy_pred_j"].to_numpy(float) / n
    low, high = pred["pi_low_j"].to_numpy(float) / n, pred["pi_high_j"].to_numpy(float) / n
    for k, t in enumerate(steps):
        gt, ht = g0 + g1 * t, h0 + h1 * t
        wall = (gt ** SMOOTH_MAX + ht ** SMOOTH_MAX) ** (1 / SMOOTH_MAX)
        j = min(p * wall, a * wall + e0 + e1 * t)
        got = (j, j * math.exp(-q * math.sqrt(v0)), j * math.exp(q * math.sqrt(v0)))
        if any(abs(x / w - 1) > 1e-9 for x, w in zip(got, (per_image[k], low[k], high[k]))):
            raise UserError(f"law {law.name!r} is not of the calculator's timed form at {model} {res}² {dtype} "
                            f"cfg={cfg} batch={batch} T={t}: {got} vs {(per_image[k], low[k], high[k])}")
    return [g0, g1, h0, h1, a, e0, e1, p]


def compile_block(law: Any, model: str, gpu: str, cells: Sequence[tuple[int, int, int]], dtype: str
                  ) -> list[list[float] | UserError]:
    """The closed form of every (resolution, cfg, batch) cell at ``dtype`` from one prediction of the law (the
    fast path of :func:`export`); each cell the law cannot predict, or not in closed form, gets its error."""
    n = int(law.reference_prompts)
    k = len(PROBE_STEPS + CHECK_STEPS)
    frame = _frame(model, gpu, cells, dtype, n)
    try:
        pred = law.predict(frame, level=INTERVAL)
        X = law.fitted.design_matrix(frame) if law.kind == "paper" else None
        parts = law.fitted.energy_parts(frame) if _timed(law) else None  # one call for the block, not one per cell
    except ValueError:
        return [_compile_one(law, model, gpu, c, dtype) for c in cells]  # each cell says why
    out: list[list[float] | UserError] = []
    for j, cell in enumerate(cells):
        rows = slice(j * k, (j + 1) * k)
        try:
            out.append(_closed_form(law, model, gpu, cell, dtype, None if X is None else X[rows], pred.iloc[rows],
                                    None if parts is None else parts.iloc[rows]))
        except UserError as exc:
            out.append(exc)
    return out


def _compile_one(law: Any, model: str, gpu: str, cell: tuple[int, int, int], dtype: str) -> list[float] | UserError:
    try:
        return compile_config(law, model, gpu, *cell[:1], dtype, *cell[1:])
    except ValueError as exc:
        return UserError(str(exc))


def compile_config(law: Any, model: str, gpu: str, res: int, dtype: str, cfg: int, batch: int) -> list[float]:
    """``[u0, u1, m0, m1, v0, v1, v2]`` of one configuration (see the module docstring); raises
    ``ValueError`` if the law cannot predict it or its prediction is not of that form."""
    frame = _frame(model, gpu, [(res, cfg, batch)], dtype, int(law.reference_prompts))
    pred = law.predict(frame, level=INTERVAL)
    X = law.fitted.design_matrix(frame) if law.kind == "paper" else None
    return _closed_form(law, model, gpu, (res, cfg, batch), dtype, X, pred)


def _law_entry(law: Any) -> dict[str, Any]:
    """Law-level constants: the paper's law stores ``m1`` (alpha) and ``v2``; a linear law ``v0``
    (its squared log spread). Each configuration then stores ``[u0, u1, m0, v0, v1]`` (paper) or
    ``[u0, u1]`` (linear)."""
    conformal = _conformal(law)
    out = dict(name=law.name, kind=law.kind, q=two_sided(INTERVAL, law.df_resid) if conformal is None else 1.0,
               reference_prompts=int(law.reference_prompts), domain=law.domain)
    if _timed(law):
        from ..laws.transfer import SMOOTH_MAX

        out.update(form="timed", smooth=SMOOTH_MAX)
    if law.kind == "paper":
        fitted = law.fitted
        i = fitted.terms.index("log_F")
        out.update(m1=float(fitted.coef["log_F"]),
                   v2=float(np.asarray(fitted.cov, float)[i, i]) if conformal is None else 0.0)
    else:
        sigma = conformal if conformal is not None else law.fitted.sigma
        out.update(m1=1.0, m0=0.0, v0=float(sigma) ** 2 if sigma is not None else None, v1=0.0, v2=0.0)
    return out


def _conformal(law: Any) -> float | None:
    """The half-width (log units) of a law whose intervals come from held-out errors, at the calculator's level;
    None for a law with its own interval."""
    return law.half_width(INTERVAL)


def export(models: Iterable[str] | None = None, gpus: Iterable[str] | None = None, progress: bool = False
           ) -> dict[str, Any]:
    """Everything the page's calculator needs, JSON-safe: laws (with their training domain, for the
    extrapolation warnings), per (model, GPU) the law that answers and why, and per configuration the
    compiled closed form (or the error the command line would give)."""
    from ..compute.features import shipped_resolutions
    from ..core.units import HALF_DTYPES, J_PER_WH
    from ..data.carbon import world_average
    from ..models.registry import MODEL_KEYS, get_model

    models = list(models or MODEL_KEYS)
    gpus = list(gpus or gpu_choices())
    # keyed by what the law is, not by id(): the answer's law may be a fresh wrapper each time, and a freed
    # object's id can be reused by the next one
    law_index: dict[tuple[str, str], int] = {}
    law_list: list[dict[str, Any]] = []
    answers: dict[str, dict[str, Any]] = {}
    configs: dict[str, Any] = {}
    errors: list[str] = []
    jobs = [(m, g) for m in models for g in gpus]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="calculator")
    for m, g in jobs:
        try:
            law, reason = answer(laws.AUTO, m, g)
        except ValueError as exc:
            answers.setdefault(m, {})[g] = dict(error=str(exc))
            continue
        key = (law.name, law.interval_kind)
        if key not in law_index:
            law_index[key] = len(law_list)
            law_list.append(_law_entry(law))
        answers.setdefault(m, {})[g] = dict(law=law_index[key], reason=reason)
        resolutions = shipped_resolutions(m, "full")
        block = [(cfg, batch) for cfg in (0, 1) for batch in BATCHES]
        compiled = {dtype: compile_block(law, m, g, [(res, cfg, batch) for res in resolutions for cfg, batch in block],
                                         dtype) for dtype in DTYPES}
        by_res: dict[str, list[Any]] = {}
        for r, res in enumerate(resolutions):
            cells: list[Any] = []
            for dtype in DTYPES:
                for c in compiled[dtype][r * len(block):(r + 1) * len(block)]:
                    if isinstance(c, Exception):
                        msg = str(c)
                        if msg not in errors:
                            errors.append(msg)
                        cells.append(errors.index(msg))
                        continue
                    if _timed(law):
                        cells.append([float(f"{v:.12g}") for v in c])
                        continue
                    u0, u1, m0, m1, v0, v1, v2 = (float(f"{v:.10g}") for v in c)
                    cells.append([u0, u1, m0, v0, v1] if law.kind == "paper" else [u0, u1])
            by_res[str(res)] = cells
        configs.setdefault(m, {})[g] = by_res
    from ..models.hardware import get_spec

    specs = {}
    for g in gpus:
        sp = get_spec(g)
        specs[g] = dict(tflops_half=float(sp.tflops_half), bandwidth_gb_s=float(sp.bandwidth_gb_s),
                        power_w=float(sp.power_w))
    grid = world_average()
    model_info = {}
    for m in models:
        spec = get_model(m)
        d = spec.defaults
        model_info[m] = dict(name=spec.name, resolutions=list(shipped_resolutions(m, "full")),
                             height=int(d.get("height", 1024)), steps=int(d.get("steps", 28)), cfg=spec.default_cfg)
    return dict(interval=INTERVAL, half_dtypes=list(HALF_DTYPES), j_per_wh=J_PER_WH, j_per_kwh=J_PER_KWH,
                world_g_per_kwh=grid.g_per_kwh, world_source=grid.source, models=model_info, gpus=gpus,
                dtypes=list(DTYPES), batches=list(BATCHES), gpu_specs=specs, laws=law_list, answers=answers,
                configs=configs,
                errors=errors)


def html(data: dict[str, Any]) -> str:
    """The form, the exported JSON and the script, as one HTML block (no external file: works from file://)."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (f'<div class="enb-calc-root">'
            f'<script type="application/json" id="enb-calc-data">{payload}</script>'
            f'<form class="enb-calc" id="enb-calc" onsubmit="return false">'
            f'<label>Model<select name="model"></select></label>'
            f'<label>GPU<select name="gpu"></select></label>'
            f'<label>Resolution (px, square)<select name="resolution"></select></label>'
            f'<label>Steps<input name="steps" type="number" min="1" max="1000" step="1"></label>'
            f'<label>Precision<select name="dtype"></select></label>'
            f'<label>Classifier-free guidance<select name="cfg"><option value="1">on</option>'
            f'<option value="0">off</option></select></label>'
            f'<label>Batch size<select name="batch"></select></label>'
            f'<label>Images per day<input name="images" type="number" min="0" step="any" value="100000"></label>'
            f'<label>Grid intensity (g CO2e/kWh)<input name="intensity" type="number" min="0" step="any"></label>'
            f'</form><div class="enb-calc-out" id="enb-calc-out" aria-live="polite"></div>'
            f'<script>{JS_FILE.read_text()}</script></div>')
