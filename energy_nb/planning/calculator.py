"""The energy calculator of the planning page: the laws that answer ``energy-nb predict`` / ``plan``,
exported at build time as JSON so that a form in the page answers in the browser (no kernel, no network).

For every model, GPU family and discrete setting (resolution, precision, CFG, batch size), the law that
``--law auto`` picks (:func:`energy_nb.laws.answer.answer`, from the laws artifact; always a law that models time) is
compiled into the one model of a run's time and power (:mod:`energy_nb.laws.physics`) in closed form in the step
count ``T``: the GPU and host seconds per image and the busy energy per image are affine in ``T``
(``[g0, g1, h0, h1, static_w, e0, e1, cap_w]``), and the energy per image is ``min(cap_w t, static_w t + e0 + e1 T)``
with ``t`` the smooth maximum of the two times; its interval is ``x exp(-/+ q)``, ``q`` the law's held-out half-width
(or its in-sample one). The compilation is checked against the law's own ``predict`` at further step counts before it
is written (:func:`compile_block` raises otherwise); ``calculator.js`` evaluates the same form, and tests compare it
with the command line (in node, on many configurations, and in the browser).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import laws
from ..compute.memory import check
from ..core.errors import UserError
from ..core.stats import two_sided
from ..core.units import J_PER_KWH
from ..laws import physics
from ..laws.answer import answer
from ..laws.levels import distance
from ..models.configuration import Configuration

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


def _half_width(law: Any) -> float:
    """The half-width (log units) of the law's interval at the calculator's level: its held-out one, else its
    in-sample ``t sigma``."""
    q = law.half_width(INTERVAL)
    return float(q) if q is not None else two_sided(INTERVAL, law.df_resid) * float(law.sigma)


def _compile(law: Any, model: str, gpu: str, cell: tuple[int, int, int], dtype: str, pred: pd.DataFrame,
             parts: pd.DataFrame) -> list[float]:
    """``[g0, g1, h0, h1, static_w, e0, e1, cap_w]`` of one configuration from its rows of the law's
    :data:`~energy_nb.laws.physics.PARTS` (GPU and host seconds and busy energy per image affine in ``T``), checked
    against the law's prediction at every step count of the rows."""
    res, cfg, batch = cell
    n = int(law.reference_prompts)
    check(Configuration(model, res, res, 1, dtype, bool(cfg), gpu, batch))  # one it cannot run gets its refusal
    t0, t1 = PROBE_STEPS

    def affine(col: str) -> tuple[float, float]:
        v = parts[col].to_numpy(float)
        slope = float((v[1] - v[0]) / (t1 - t0))
        return float(v[0] - slope * t0), slope
    (g0, g1), (h0, h1), (e0, e1) = affine("t_gpu_s"), affine("t_host_s"), affine("busy_j")
    a, p = float(parts["static_w"].iloc[0]), float(parts["cap_w"].iloc[0])
    q0 = _half_width(law)
    comp = getattr(law, "composite", None)
    qb = comp.per_doubling("net", INTERVAL) if comp is not None else 0.0
    per_image = pred["energy_pred_j"].to_numpy(float) / n
    low, high = pred["pi_low_j"].to_numpy(float) / n, pred["pi_high_j"].to_numpy(float) / n
    for k, t in enumerate(PROBE_STEPS + CHECK_STEPS):
        wall = physics.wall_time(g0 + g1 * t, h0 + h1 * t)
        j = min(p * wall, a * wall + e0 + e1 * t)
        q = math.hypot(q0, qb * distance(law.domain, gpu, res, res, t, batch))  # wider beyond the law's rows
        got = (j, j * math.exp(-q), j * math.exp(q))
        if any(abs(x / w - 1) > 1e-9 for x, w in zip(got, (per_image[k], low[k], high[k]))):
            raise UserError(f"law {law.name!r} is not of the calculator's timed form at {model} {res}² {dtype} "
                            f"cfg={cfg} batch={batch} T={t}: {got} vs {(per_image[k], low[k], high[k])}")
    return [g0, g1, h0, h1, a, e0, e1, p]


def compile_block(law: Any, model: str, gpu: str, cells: Sequence[tuple[int, int, int]], dtype: str
                  ) -> list[list[float] | UserError]:
    """The closed form of every (resolution, cfg, batch) cell at ``dtype`` from one prediction of the law (one call
    for the block, not one per cell); each cell the law cannot predict, or not in closed form, gets its error."""
    if not law.models_time:
        raise UserError(f"law {law.name!r} models energy only: the calculator serves laws of time and power")
    k = len(PROBE_STEPS + CHECK_STEPS)
    frame = _frame(model, gpu, cells, dtype, int(law.reference_prompts))
    try:
        pred, parts = law.predict(frame, level=INTERVAL), law.run_parts(frame)
    except ValueError:
        if len(cells) == 1:
            raise
        return [c for cell in cells for c in _one(law, model, gpu, cell, dtype)]  # each cell says why
    out: list[list[float] | UserError] = []
    for j, cell in enumerate(cells):
        rows = slice(j * k, (j + 1) * k)
        try:
            out.append(_compile(law, model, gpu, cell, dtype, pred.iloc[rows], parts.iloc[rows]))
        except UserError as exc:
            out.append(exc)
    return out


def _one(law: Any, model: str, gpu: str, cell: tuple[int, int, int], dtype: str) -> list[list[float] | UserError]:
    try:
        return compile_block(law, model, gpu, [cell], dtype)
    except ValueError as exc:
        return [UserError(str(exc))]


def _law_entry(law: Any) -> dict[str, Any]:
    """Law-level constants: the name, kind, whether it prices a GPU from its datasheet, half-widths of the intervals
    (``q`` net energy, ``q_time``, ``q_gross``; log units; and ``q_beyond``, ``q_time_beyond``, ``q_gross_beyond``
    per doubling beyond its rows: :meth:`energy_nb.laws.levels.Composite.per_doubling`), the N of its data, its
    training domain (for the extrapolation warnings and that distance) and the smooth maximum's
    exponent."""
    from ..laws.base import DATASHEET_KINDS

    qt = law.time_half_width(INTERVAL)
    qg = getattr(law, "gross_half_width", lambda level: None)(INTERVAL)
    comp = getattr(law, "composite", None)
    beyond = {k: comp.per_doubling(k, INTERVAL) if comp is not None else 0.0 for k in ("net", "time", "gross")}
    return dict(name=law.name, kind=law.kind, datasheet=law.kind in DATASHEET_KINDS, q=_half_width(law),
                q_time=float(qt) if qt is not None else 0.0, q_gross=float(qg) if qg is not None else 0.0,
                q_beyond=beyond["net"], q_time_beyond=beyond["time"], q_gross_beyond=beyond["gross"],
                reference_prompts=int(law.reference_prompts), domain=law.domain, form="timed",
                smooth=physics.SMOOTH_MAX)


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
                    cells.append([float(f"{v:.12g}") for v in c])
            by_res[str(res)] = cells
        configs.setdefault(m, {})[g] = by_res
    from ..models.hardware import get_spec, idle_power_or_estimate, idle_source

    specs = {}
    for g in gpus:
        sp = get_spec(g)
        specs[g] = dict(tflops_half=float(sp.tflops_half), bandwidth_gb_s=float(sp.bandwidth_gb_s),
                        power_w=float(sp.power_w), idle_w=float(idle_power_or_estimate(g)[0]),
                        idle_source=idle_source(g))
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
            f'<label>GPU utilisation (busy fraction)<input name="utilisation" type="number" min="0.01" max="1" '
            f'step="any" value="0.5"></label>'
            f'</form><div class="enb-calc-out" id="enb-calc-out" aria-live="polite"></div>'
            f'<script>{JS_FILE.read_text()}</script></div>')
