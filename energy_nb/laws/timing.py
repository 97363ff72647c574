"""Time per image and the gross energy that follows, from the same law as the energy.

A law that models time (``ops``, and the datasheet laws ``power_time`` and ``achieved``) predicts a run's time with
its energy: the laws artifact only lets such a law answer ``auto``, so an answer's net energy, time and gross energy
come from one model. A law named by the user that models energy only (the paper's, the roofline laws) takes its
time from the law ``auto`` answers with for the same model and GPU, and the answer says so. Gross energy per image =
net + idle power x time (:func:`energy_nb.data.power.gross_j`, the footing the ML.ENERGY records were made net on).
Units: s, J, W.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeAnswer:
    """Time per image of one configuration (s, with the interval at the prediction's level), the idle power that
    turns the net energy gross (W), the gross energy per image (J), the law the time comes from and how (``notes``:
    every way it extrapolates)."""

    per_image_s: float
    per_image_s_low: float
    per_image_s_high: float
    idle_w: float
    per_image_gross_j: float
    law: str
    notes: tuple[str, ...] = ()
