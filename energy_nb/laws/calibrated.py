"""A GPU known by a few rows measured on it: a stored factor against a GPU with data, and the law that applies it.

:func:`energy_nb.evaluation.calibration.calibrate` (``energy-nb calibrate``) computes and stores the factor;
this module reads it back (:func:`calibrated`, from ``$ENERGY_NB_CACHE/calibrated/NAME.json``) and answers for the
calibrated GPU with the base GPU's law times the factor (:class:`CalibratedLaw`). Units: energies in J.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.cache import cache_dir
from ..core.errors import UserError
from .base import LawWrapper


@dataclass
class Calibration:
    """A GPU known by a few measured rows: ``factor`` times the ``base`` GPU's predictions."""

    name: str
    base: str
    factor: float
    rows: list[dict[str, Any]]  #: model, configuration, measured and base-predicted J per image, ratio

    def describe(self) -> str:
        models = ", ".join(sorted({r["model"] for r in self.rows}))
        return (f"GPU {self.name} calibrated from {len(self.rows)} measured row(s) ({models}): {self.base}'s "
                f"prediction x {self.factor:.3f}")


def calibration_dir() -> Path:
    """Where calibrations are stored: ``$ENERGY_NB_CACHE/calibrated``."""
    return cache_dir() / "calibrated"


def calibrated(name: str) -> Calibration | None:
    """The calibration stored under ``name``, or None."""
    path = calibration_dir() / f"{name}.json"
    if not path.exists():
        return None
    try:
        return Calibration(**json.loads(path.read_text()))
    except (ValueError, TypeError, OSError) as exc:
        raise UserError(f"cannot read the calibration {path}: {exc}") from exc


class CalibratedLaw(LawWrapper):
    """``law`` (fitted with ``calibration.base``'s data) answering for the calibrated GPU: its predictions on the
    base GPU times the factor."""

    def __init__(self, law: Any, calibration: Calibration) -> None:
        super().__init__(law)
        self.calibration = calibration
        self.time_gpu = calibration.base  #: whose time and idle power the gross energy uses
        self.name = f"{law.name} x {calibration.name} calibration"

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        on_base = df.assign(gpu=df["gpu"].astype(str).replace(self.calibration.name, self.calibration.base))
        out = self._law.predict(on_base, level=level, gpu_as=gpu_as).copy()
        for col in ("energy_pred_j", "pi_low_j", "pi_high_j"):
            out[col] = out[col] * self.calibration.factor
        return out

    def extrapolation(self, config, n_scaling: str = "linear", gpu_as: dict[str, str] | None = None) -> list[str]:
        base = self._law.extrapolation(config.replace(gpu=self.calibration.base), n_scaling, gpu_as)
        return [self.calibration.describe() + "; the interval is the base GPU's, scaled"] + base
