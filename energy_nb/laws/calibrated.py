"""A GPU known by a few rows measured on it: what it achieves and what it draws against a GPU with data, and the law
that applies it.

``energy-nb calibrate --data ROWS.csv --name NAME`` (:func:`calibrate`) reads one to :data:`MAX_ROWS` measured rows (the
record schema, any model with a law) and asks the law ``auto`` answers with on the base GPU for each row's
configuration, split the way every law that models time splits a run (``run_parts``,
:data:`energy_nb.laws.physics.PARTS`: GPU-busy and host seconds, static power, busy energy, power cap). Two numbers are
fitted, not one flat ratio (:func:`factors`):

- ``speed``: the new GPU's busy time over the base GPU's (a row with a latency: solved from its measured time; the
  host time, Python and launches, stays the base machine's);
- ``power``: its net power over the base GPU's (from the row's energy once its time is known).

Another model then moves with its own mix: a host-bound model gains nothing from a faster GPU, a compute-bound one all
of it (:func:`energy_nb.laws.physics.scaled`). A row on several GPUs (a user's xDiT run, ``num_gpus`` with its Ulysses
and Ring degrees) is asked of the parallel law on the base GPU and split the same way, summed over its GPUs; the
calibrated GPU then answers one GPU per image. Rows without a latency fix ``power`` alone (``speed`` 1). ``predict`` and
``plan --gpu NAME`` answer with the base GPU's law so scaled (:class:`CalibratedLaw`), time and gross energy included,
and say so; a law that models energy only (named with ``--law``) takes the flat ``factor`` (energy measured over
predicted).

A calibration is the user's own state, not a cache entry: it lives in the user data folder
(:func:`energy_nb.core.paths.user_dir` ``/calibrations/NAME.json``), keeps the rows it was made from, and records the
version of the laws it was made against: those that answer on its base GPU
(:meth:`energy_nb.laws.artifact.Artifact.gpu_version`), so that a new GPU in ``data/gpus.csv`` or a refit that leaves
the base GPU's laws as they were keeps it valid; made against other laws, it is refused with the command that redoes
it. ``energy-nb calibrate --list`` and ``--remove NAME`` manage them. Units: energies in J.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core import paths
from ..core.cache import write_atomic
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..models.configuration import Configuration
from . import physics
from .base import LawWrapper

#: What ``--data`` may hold: one to three measured rows (a calibration, not a fit).
MAX_ROWS = 3
#: A factor outside this range says the rows are not on the records' footing (J of all ``n_prompts`` images, net of
#: idle power) rather than that the GPU differs: refused.
FACTOR_RANGE = (0.1, 10.0)
#: Rows whose factors differ by more than this ratio are refused: one GPU's factor against another should not depend
#: much on the row (between the A100 and the H100 the shipped rows' factors span up to x2.8, the paper's A100 rows
#: against laws fitted on ML.ENERGY's H100 rows), so a much wider spread says a row is on another footing.
MAX_SPREAD = 5.0


#: Bounds of the busy-time factor: a GPU 10x slower or faster than the base is not a calibration of the same law.
SPEED_RANGE = (0.1, 10.0)
#: A row teaches the busy-time factor only where the base GPU's busy time is at least this share of its host time:
#: a host-bound row (a small model at batch 1) is as slow on any GPU.
BUSY_SHARE = 1.0


@dataclass
class Calibration:
    """A GPU known by a few measured rows against the ``base`` GPU: its busy-time factor ``speed``, net-power factor
    ``power`` and flat energy ``factor`` (for laws without time), made against the version ``base_version`` of the
    laws that answer on the base GPU, from ``measured`` (the rows as given)."""

    name: str
    base: str
    factor: float
    rows: list[dict[str, Any]]  #: model, configuration, measured and base-predicted J (and s) per image, ratio
    base_version: str = ""
    measured: list[dict[str, Any]] = field(default_factory=list)
    speed: float = 1.0
    power: float = 1.0

    def describe(self) -> str:
        models = ", ".join(sorted({r["model"] for r in self.rows}))
        timed = any(r.get("measured_s") is not None for r in self.rows)
        return (f"GPU {self.name} calibrated from {len(self.rows)} measured row(s) ({models}) against {self.base}: "
                + (f"busy time x {self.speed:.3f}, " if timed else "busy time as the base's (no latency given), ")
                + f"net power x {self.power:.3f}")


def factors(parts: pd.DataFrame, energy_j: np.ndarray, time_s: np.ndarray) -> tuple[float, float]:
    """``(speed, power)`` from measured energies and times per image (NaN: no latency) of the rows of ``parts``: each
    timed row that is not host-bound (:data:`BUSY_SHARE`) gives the speed its time implies, then each row its power
    from its energy; geometric means over the rows, bounded by :data:`SPEED_RANGE` and :data:`FACTOR_RANGE`."""
    q = physics.SMOOTH_MAX
    tg, th = parts["t_gpu_s"].to_numpy(float), parts["t_host_s"].to_numpy(float)
    t = np.asarray(time_s, dtype=float)
    ok = np.isfinite(t) & (tg >= BUSY_SHARE * th)  # a host-bound row says nothing of the GPU's speed
    speed = 1.0
    if ok.any():  # t^q = (speed tg)^q + th^q; a row faster than its host time allows says the host is faster too
        busy = np.maximum(t[ok] ** q - th[ok] ** q, (0.05 * t[ok]) ** q) ** (1 / q)
        speed = float(np.clip(np.exp(np.mean(np.log(busy / tg[ok]))), *SPEED_RANGE))
    e1, _ = physics.scaled(parts, speed, 1.0)
    power = float(np.clip(np.exp(np.mean(np.log(np.asarray(energy_j, dtype=float) / e1))), *FACTOR_RANGE))
    return speed, power


def calibration_dir() -> Path:
    """Where calibrations are stored: the user data folder's ``calibrations``."""
    return paths.user_dir() / "calibrations"


def _path(name: str) -> Path:
    return calibration_dir() / f"{name}.json"


def _redo(name: str) -> str:
    return (f"redo it: energy-nb calibrate --data {calibration_dir() / (name + '.rows.csv')} --name {name} "
            f"(or remove it: energy-nb calibrate --remove {name})")


def calibrated(name: str) -> Calibration | None:
    """The calibration stored under ``name`` (None: none); one made against other laws on its base GPU is refused."""
    path = _path(name)
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        d.pop("artifact_version", None)  # made before calibrations recorded their base GPU's laws: redone below
        cal = Calibration(**d)
    except (ValueError, TypeError, OSError) as exc:
        raise UserError(f"cannot read the calibration {path}: {exc}") from exc
    from .artifact import current

    version = current().gpu_version(cal.base)
    if cal.base_version != version:
        raise UserError(f"the calibration of {name} ({path}) was made against the laws of {cal.base} at version "
                        f"{cal.base_version or '(unversioned)'}, and this energy-nb answers on {cal.base} with "
                        f"{version}: " + _redo(name))
    return cal


def calibrations() -> pd.DataFrame:
    """Every stored calibration: name, base GPU, busy-time and power factors, flat energy factor, rows, the version of
    the base GPU's laws it was made against and whether that is the current one, and its file."""
    from .artifact import current

    art = current()
    rows = []
    for p in sorted(calibration_dir().glob("*.json")):
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            rows.append(dict(name=p.stem, base="", speed=float("nan"), power=float("nan"), factor=float("nan"), rows=0,
                             base_version="unreadable", current=False, file=str(p)))
            continue
        base = d.get("base", "")
        rows.append(dict(name=d.get("name", p.stem), base=base, speed=d.get("speed", 1.0),
                         power=d.get("power", d.get("factor")), factor=d.get("factor"),
                         rows=len(d.get("rows", [])), base_version=d.get("base_version", ""),
                         current=bool(base) and d.get("base_version") == art.gpu_version(base), file=str(p)))
    columns = ["name", "base", "speed", "power", "factor", "rows", "base_version", "current", "file"]
    return pd.DataFrame(rows, columns=columns)


def remove(name: str) -> Path:
    """Delete the calibration ``name`` (and the rows kept with it); a clear error when there is none."""
    path = _path(name)
    if not path.exists():
        known = ", ".join(calibrations()["name"]) or "none"
        raise UserError(f"no calibration named {name!r} in {calibration_dir()}; stored: {known}")
    path.unlink()
    path.with_suffix(".rows.csv").unlink(missing_ok=True)
    return path


def base_gpus() -> list[str]:
    """The GPU families with energy data in the laws artifact, the GPUs a calibration may scale: those whose rows a
    model's own law was chosen on (``selections.own[model].gpus``) and those the shared law was fitted on; on any other
    GPU :meth:`~energy_nb.laws.artifact.Artifact.route` answers from the datasheet, which a calibration cannot
    stand on."""
    from .artifact import current

    art = current()
    gpus = set(art.law(art.shared_name).gpus)
    for own in art.data["selections"]["own"].values():
        gpus.update(own.get("gpus") or [])
    return sorted(map(str, gpus))


def check_base(base: str) -> str:
    """``base`` as the artifact names it (any case) when it is a GPU family with energy data (:func:`base_gpus`);
    else a :class:`UserError` listing them."""
    allowed = base_gpus()
    hit = {g.lower(): g for g in allowed}.get(str(base).strip().lower())
    if hit is None:
        raise UserError(f"base GPU {base!r} (--base) is not allowed: it must have energy data in the laws artifact; "
                        f"allowed: {', '.join(allowed)} (a GPU without data is what a calibration is for)")
    return hit


def calibrate(rows: pd.DataFrame, name: str, base: str = "A100", save: bool = True) -> Calibration:
    """Fix GPU ``name``'s factor against ``base`` (a GPU family with energy data, :func:`base_gpus`) from ``rows``
    (one to :data:`MAX_ROWS` ``ok`` rows)."""
    from ..models.hardware import get_spec
    from .artifact import current

    base = check_base(base)
    if not name or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise UserError(f"calibration name {name!r} is not allowed: letters, digits, '.', '_' or '-'")
    try:
        get_spec(name)
        raise UserError(f"{name!r} is a GPU of data/gpus.csv: give the calibrated GPU a name of its own")
    except UserError as exc:
        if "give the calibrated GPU" in str(exc):
            raise
    data = ok_rows(rows)
    if data.empty:
        raise UserError(f"no ok rows to calibrate {name!r} with: {len(rows)} row(s) given")
    if len(data) > MAX_ROWS:
        raise UserError(f"{len(data)} ok rows given to calibrate {name!r}: a calibration takes 1 to {MAX_ROWS} "
                        "measured rows (to fit a law on more, use energy-nb fit --data)")
    out, laws_, configs, parts = [], [], [], []
    for r in data.itertuples():
        n = int(getattr(r, "num_gpus", 1) or 1)
        split = dict(num_gpus=n, ulysses=_int(getattr(r, "ulysses_degree", None)),
                     ring=_int(getattr(r, "ring_degree", None))) if n > 1 else {}
        c = Configuration(str(r.model), int(r.height), int(r.width), int(r.steps), str(r.dtype), bool(int(r.cfg)),
                          base, batch_size=int(getattr(r, "batch_size", 1) or 1), **split)
        if n > 1:  # an xDiT run on several GPUs: its base-GPU answer and parts are the parallel law's
            law, pred, part = _on_several(c)
        else:
            law, _ = current().answer(c.model, base)
            pred = law.per_image(c)
            part = law.run_parts(c.frame(1)) if law.models_time else None
        measured = float(r.energy_j) / float(r.n_prompts)
        t = getattr(r, "time_s", None)
        t = float(t) if t is not None and pd.notna(t) else None
        out.append(dict(model=c.model, configuration=c.replace(gpu=str(r.gpu)).label(), measured_j=measured,
                        base_predicted_j=pred.per_image_j, ratio=measured / pred.per_image_j, measured_s=t,
                        base_predicted_s=pred.per_image_s))
        laws_.append(law)
        configs.append(c)
        parts.append(part)
    factor = float(math.exp(sum(math.log(x["ratio"]) for x in out) / len(out)))
    lo, hi = FACTOR_RANGE
    for x in out:  # every row, not only their mean: x0.004 and x266 average to x1.06
        if not lo <= x["ratio"] <= hi:
            raise UserError(f"the row {x['configuration']} gives {name!r} a factor of x{x['ratio']:.3g} against "
                            f"{base} (measured {x['measured_j']:,.3g} J per image, {base}'s law "
                            f"{x['base_predicted_j']:,.3g} J), outside x{lo:g}-x{hi:g}: energy_j must be the J of "
                            "all n_prompts images, net of idle power, as the record schema says; check the rows' units")
    low, high = min(out, key=lambda x: x["ratio"]), max(out, key=lambda x: x["ratio"])
    if high["ratio"] / low["ratio"] > MAX_SPREAD:
        raise UserError(f"the rows disagree on {name!r}: {low['configuration']} gives x{low['ratio']:.3g} against "
                        f"{base}, {high['configuration']} x{high['ratio']:.3g} (more than x{MAX_SPREAD:g} apart); "
                        "one GPU's factor should not depend on the row: check the rows (units, GPU, n_prompts)")
    speed, power = 1.0, factor
    if all(p is not None for p in parts):
        speed, power = factors(pd.concat(parts, ignore_index=True), np.array([x["measured_j"] for x in out]),
                               np.array([np.nan if x["measured_s"] is None else x["measured_s"] for x in out]))
    cal = Calibration(name, base, factor, out, base_version=current().gpu_version(base),
                      measured=json.loads(data.to_json(orient="records")), speed=speed, power=power)
    if save:
        path = _path(name)
        if not write_atomic(path, json.dumps(asdict(cal), indent=1)):
            raise UserError(f"cannot write the calibration to {path}: set ENERGY_NB_USER_DIR to a folder you can "
                            "write")
        data.to_csv(path.with_suffix(".rows.csv"), index=False)
    return cal


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _on_several(config: Configuration) -> tuple[Any, Any, pd.DataFrame]:
    """The base-GPU answer of a row on several GPUs (:func:`energy_nb.laws.split.on_several_gpus`, its split as
    measured) and its job's parts (:meth:`energy_nb.laws.parallel.ParallelLaw.run_parts`)."""
    from .artifact import current
    from .split import on_several_gpus

    a = on_several_gpus(config)
    art = current()
    law, _ = art.parallel()
    base = art.law(art.parallel_base(config.model, config.gpu)[0])
    return law, a, law.run_parts(base, a.configuration.frame(1))


class CalibratedLaw(LawWrapper):
    """``law`` (fitted with ``calibration.base``'s data) answering for the calibrated GPU: a law that models time on
    the base GPU with its busy time and power scaled (:func:`energy_nb.laws.physics.scaled`); an energy-only law times
    the flat factor."""

    def __init__(self, law: Any, calibration: Calibration) -> None:
        super().__init__(law)
        self.calibration = calibration
        self.time_gpu = calibration.base  #: whose idle power the gross energy uses
        self.name = f"{law.name} x {calibration.name} calibration"

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        cal = self.calibration
        on_base = df.assign(gpu=df["gpu"].astype(str).replace(cal.name, cal.base))
        out = self._law.predict(on_base, level=level, gpu_as=gpu_as).copy()
        if not self._law.models_time:
            for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
                out[col] = out[col] * cal.factor
            return out
        e, t = physics.scaled(self._law.run_parts(on_base), cal.speed, cal.power)
        ke = e * df["n_prompts"].to_numpy(float) / out["energy_pred_j"].to_numpy(float)
        kt = t / out["time_pred_s"].to_numpy(float)
        for col, k in (("energy_pred_j", ke), ("pi_low_j", ke), ("pi_high_j", ke), ("time_pred_s", kt),
                       ("time_low_s", kt), ("time_high_s", kt)):
            out[col] = out[col].to_numpy(float) * k
        return out

    def run_parts(self, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        cal = self.calibration
        p = self._law.run_parts(df.assign(gpu=df["gpu"].astype(str).replace(cal.name, cal.base)), gpu_as)
        return p.assign(t_gpu_s=cal.speed * p["t_gpu_s"], static_w=cal.power * p["static_w"],
                        busy_j=cal.power * cal.speed * p["busy_j"], cap_w=cal.power * p["cap_w"])

    def extrapolation(self, config, n_scaling: str = "linear", gpu_as: dict[str, str] | None = None) -> list[str]:
        base = self._law.extrapolation(config.replace(gpu=self.calibration.base), n_scaling, gpu_as)
        return [self.calibration.describe() + "; the intervals are the base GPU's, scaled"] + base

    def time_extrapolation(self, config, gpu_as: dict[str, str] | None = None) -> list[str]:
        return self._law.time_extrapolation(config.replace(gpu=self.calibration.base), gpu_as)
