"""The one answer type: what energy-nb says about one configuration, from the law that computed it to the command
line.

A law's :meth:`~energy_nb.laws.base.LawMixin.predict_one` fills the energy (and the time of a law that models it);
:func:`energy_nb.laws.answer.predict` adds why that law answers, the time and gross energy and their caveats, and on
several GPUs per image the split; ``predict``, ``plan``, the calculator's checks and the book read it.
:meth:`Prediction.to_dict` is what ``energy-nb predict --json`` prints, ``str()`` what it prints without.

Per-image energy has one definition: the law's prediction at the N of its data divided by that N; ``prompts``
images cost ``prompts`` times that (``n_scaling="law"`` is the paper's reading, kept as an option). Net energy
is GPU energy above idle power (the paper's footing); gross = net + idle power x time, what a meter reads.

Units: J and Wh; seconds; W.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.jsonio import to_json
from ..core.units import EXTRAPOLATING, J_PER_WH, interval_text
from ..models.configuration import Configuration

#: What ``energy_scope`` says in every prediction.
SCOPE = "per_image_j: net of idle power (the paper's footing); per_image_gross_j: + idle power x time"


@dataclass(frozen=True)
class Prediction:
    """The answer for one :class:`~energy_nb.models.configuration.Configuration` (see the module docstring).
    ``to_dict()`` is what ``energy-nb predict --json`` prints; ``str()`` what it prints without ``--json``."""

    configuration: Configuration
    law: str  #: the law's name (``ops (flux)``, ``ops``, ``paper (flux)``, ...): the net energy's
    kind: str
    convention: str
    n_scaling: str
    reference_prompts: int  #: the N of the law's data
    interval: float  #: the level of every interval (0.95)
    per_image_j: float
    per_image_j_low: float
    per_image_j_high: float
    total_j: float  #: all ``prompts`` images
    total_j_low: float
    total_j_high: float
    extrapolation: list[str] = field(default_factory=list)
    law_reason: str = ""  #: why that law answers
    per_image_s: float | None = None  #: time per image (None: no timed rows for this model and GPU)
    per_image_s_low: float | None = None
    per_image_s_high: float | None = None
    per_image_gross_j: float | None = None  #: net + idle power x time
    per_image_gross_j_low: float | None = None  #: the gross energy's interval (held-out gross errors by level)
    per_image_gross_j_high: float | None = None
    idle_w: float | None = None
    time_extrapolation: list[str] = field(default_factory=list)
    #: how the energy interval was obtained (held-out errors, or the law's in-sample spread)
    interval_kind: str = ""
    #: the law the time (and so the gross energy) comes from: ``law`` itself unless a named law models energy only
    time_law: str = ""
    #: on several GPUs per image: why this Ulysses x Ring split (empty on one GPU)
    split_reason: str = ""
    #: on several GPUs per image: every valid split with its time and net energy per image (s, J), fastest first
    splits: tuple[tuple[int, int, float, float], ...] = ()
    #: what the answer says about the question itself (the GPU part read as its family, CFG run as true CFG)
    notes: tuple[str, ...] = ()
    #: the idle power the gross energy adds (and the net rests on) and where it comes from
    idle_source: str = ""

    # -- derived ----------------------------------------------------------------------------------------
    @property
    def per_image_wh(self) -> float:
        return self.per_image_j / J_PER_WH

    @property
    def interval_wh(self) -> tuple[float, float]:
        """The per-image interval in Wh."""
        return self.per_image_j_low / J_PER_WH, self.per_image_j_high / J_PER_WH

    @property
    def extrapolating(self) -> bool:
        return bool(self.extrapolation)

    # -- output ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Flat and JSON-safe (``energy-nb predict --json``): the configuration, then the energy, the time."""
        c = self.configuration
        n = c.prompts
        wh = J_PER_WH
        return dict(model=c.model, gpu=c.gpu, height=c.height, width=c.width, steps=c.steps, dtype=c.dtype,
                    cfg=c.cfg, n_prompts=n, batch_size=c.batch_size, num_gpus=c.num_gpus, ulysses=c.ulysses,
                    ring=c.ring, split_reason=self.split_reason, law=self.law, kind=self.kind,
                    convention=self.convention, n_scaling=self.n_scaling, reference_prompts=self.reference_prompts,
                    interval=self.interval, per_image_j=self.per_image_j, per_image_j_low=self.per_image_j_low,
                    per_image_j_high=self.per_image_j_high, per_image_wh=self.per_image_j / wh,
                    per_image_wh_low=self.per_image_j_low / wh, per_image_wh_high=self.per_image_j_high / wh,
                    total_j=self.total_j, total_j_low=self.total_j_low, total_j_high=self.total_j_high,
                    total_wh=self.total_j / wh, total_wh_low=self.total_j_low / wh,
                    total_wh_high=self.total_j_high / wh, extrapolation=list(self.extrapolation),
                    per_image_s=self.per_image_s, per_image_s_low=self.per_image_s_low,
                    per_image_s_high=self.per_image_s_high, time_extrapolation=list(self.time_extrapolation),
                    per_image_gross_j=self.per_image_gross_j, per_image_gross_j_low=self.per_image_gross_j_low,
                    per_image_gross_j_high=self.per_image_gross_j_high, idle_w=self.idle_w, energy_scope=SCOPE,
                    law_reason=self.law_reason, interval_kind=self.interval_kind, time_law=self.time_law,
                    notes=list(self.notes), idle_source=self.idle_source)

    def to_json(self) -> str:
        """Strict JSON (missing values as ``null``)."""
        return to_json(self.to_dict())

    def to_frame(self) -> pd.DataFrame:
        """One row (lists joined with '; ')."""
        d = self.to_dict()
        d["extrapolation"] = "; ".join(d["extrapolation"])
        d["time_extrapolation"] = "; ".join(d["time_extrapolation"])
        d["notes"] = "; ".join(d["notes"])
        return pd.DataFrame([d])

    def __str__(self) -> str:
        """What ``energy-nb predict`` prints."""
        c = self.configuration
        level, wh = self.interval, J_PER_WH
        n_ref = self.reference_prompts
        how = (f"E({n_ref}) / {n_ref}, the N of the law's data" if self.n_scaling == "linear"
               else f"E({c.prompts}) / {c.prompts}, the law extrapolated in N")
        lines = [f"{c.model} {c.height}x{c.width}, {c.steps} steps, {c.dtype}, CFG {'on' if c.cfg else 'off'}, "
                 f"{c.gpu}, batch {c.batch_size}" + (f", {c.split_label()}" if c.num_gpus > 1 else ""),
                 f"  law       : {self.law} ({self.law_reason})"]
        if c.num_gpus > 1:
            lines.append(f"  split     : Ulysses {c.ulysses} x Ring {c.ring}, {self.split_reason}. Energy is summed "
                         f"over the {c.num_gpus} GPUs; time per image = batch latency / batch size")
        per_image = interval_text(self.per_image_j_low / wh, self.per_image_j_high / wh, level, ".4f", "Wh")
        total = interval_text(self.total_j_low / wh, self.total_j_high / wh, level, ",.3f", "Wh")
        lines += [f"  per image : {self.per_image_j:,.1f} J = {self.per_image_j / wh:.4f} Wh ({per_image})  [{how}]",
                  f"  {c.prompts} prompt(s): {self.total_j:,.0f} J = {self.total_j / wh:,.3f} Wh ({total})",
                  f"  interval  : {self.interval_kind}"]
        lines += [f"  note      : {n}" for n in self.notes]
        if self.per_image_s is not None:
            lines.append(f"  time      : {self.per_image_s:.3f} s per image "
                         f"({interval_text(self.per_image_s_low, self.per_image_s_high, level, '.3f')}); "
                         "gross of idle: "
                         f"{self.per_image_gross_j:,.1f} J per image"
                         + (" (" + interval_text(self.per_image_gross_j_low, self.per_image_gross_j_high, level,
                                                 ',.1f') + ")"
                            if self.per_image_gross_j_low is not None else "")
                         + f" (+ {self.idle_w:.1f} W idle x time)"
                         if self.per_image_gross_j is not None else "")
        if self.idle_source:
            lines.append(f"  idle      : {self.idle_source}")
        flags = self.extrapolation + self.time_extrapolation * (self.per_image_s is not None)
        if flags:
            lines.append(f"  {EXTRAPOLATING}:")
            lines += [f"    - {f}" for f in flags]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return "```text\n" + str(self) + "\n```"

    def __repr__(self) -> str:
        flag = ", EXTRAPOLATING" if self.extrapolation else ""
        return (f"Prediction({self.configuration.label()}: {self.per_image_j:,.1f} J/image "
                f"[{self.per_image_j_low:,.1f}-{self.per_image_j_high:,.1f}] by {self.law}{flag})")
