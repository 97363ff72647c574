"""Deployment planner: the energy a fleet of GPUs draws for an image-generation workload, its carbon and cost, with
intervals.

A workload is one configuration or a mix of configurations with shares, at a number of images per day; the plan
sizes the GPUs it needs at a utilisation (the busy fraction of each GPU). **The headline is what those GPUs draw**,
in layers, each a column of the frame and a line of the report (kWh per day; per image: divided by the images):

1. ``net``: the work's energy above the GPUs' idle power, the paper's footing (:func:`energy_nb.laws.answer.predict`'s
   ``per_image_j``, the one answer of ``energy-nb predict``);
2. ``work_idle``: + the idle power the GPUs draw while they work (idle W x busy hours); net + this is the gross energy
   (``gross_kwh_per_day``), what a meter reads during the work;
3. ``idle``: + the idle power of the planned GPUs while they wait (idle W x (24 h x GPUs - busy hours));
4. ``host``: + the host's power per GPU all day (``host_w``, default 0: not counted);
5. ``pue``: everything above times PUE - 1 (the facility's overhead).

The sum (``kwh_per_day``, ``wh_per_image``, ``mwh_per_year``, carbon, cost) is the fleet's, the figure to compare with
a meter; net stays a line of its own. Every plan names the idle power it uses and where it comes from
(:func:`energy_nb.models.hardware.idle_source`). The GPUs planned are whole jobs at the point estimate of the time per
image, so the idle layers are fixed by the plan and the fleet's interval is the net interval plus them (idle W x 24 h x
GPUs is the same at either bound while the work fits in the day).

Intervals: across configurations of a mix the bounds are added (errors treated as fully correlated, which is what a
shared law gives and the conservative choice). A configuration its GPU cannot run is refused
(:func:`energy_nb.compute.memory.check`).

:func:`plan` returns a :class:`Plan`: the frame, the grid, the options, ``to_dict()`` (``energy-nb plan --json``) and
``str()`` (the text report).

Units: energy in Wh per image, kWh per day, MWh per year; power in W; carbon in gCO2e per image and tCO2e per year;
cost in ``currency`` per year.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from ..core.errors import UserError
from ..core.jsonio import to_json
from ..core.units import CURRENCY
from ..data.carbon import Intensity, intensity, world_average
from ..laws import Law
from ..laws.answer import answer, predict
from ..models.configuration import Configuration

DAYS_PER_YEAR = 365.0
STANDARD_RESOLUTIONS = (256, 512, 768, 1024)


@dataclass(frozen=True)
class Workload:
    """A mix of configurations with shares (summing to 1) at ``images_per_day``."""

    mix: tuple[tuple[Configuration, float], ...]
    images_per_day: float

    @classmethod
    def single(cls, config: Configuration, images_per_day: float) -> Workload:
        return cls(((config, 1.0),), images_per_day).check()

    def check(self) -> Workload:
        if not isinstance(self.images_per_day, (int, float)) or isinstance(self.images_per_day, bool) or not (
                0 <= self.images_per_day < math.inf):
            raise UserError(f"images per day {self.images_per_day!r} is not allowed: a finite number >= 0")
        if not self.mix:
            raise UserError("a workload needs at least one configuration")
        for c, share in self.mix:
            if not (share > 0):
                raise UserError(f"share {share!r} of {c.label()} is not allowed: a number > 0")
        total = sum(s for _, s in self.mix)
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"the shares of a mix must add up to 1; these add up to {total:g}")
        return self


def load_mix(path: str, images_per_day: float, defaults: dict[str, Any] | None = None) -> Workload:
    """A mix from YAML: a list of configurations, each with a ``share`` (keys of
    :class:`~energy_nb.models.configuration.Configuration`; ``resolution: 512`` sets height and width)."""
    from ..core.yamlio import load_file

    items = load_file(path)
    if not isinstance(items, list) or not items:
        raise UserError(f"{path}: a mix file is a list of configurations with a share each")
    allowed = set(Configuration.__dataclass_fields__) | {"share", "resolution"}
    mix = []
    for i, item in enumerate(items, 1):
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise UserError(f"{path}, item {i}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        item = {**(defaults or {}), **item}
        share = float(item.pop("share", 0))
        if "resolution" in item:
            item["height"] = item["width"] = item.pop("resolution")
        mix.append((Configuration(**item), share))
    return Workload(tuple(mix), images_per_day).check()


@dataclass
class Options:
    """Everything around the workload: facility, grid, price, law."""

    pue: float = 1.0
    region: str | None = None  #: ISO3 country or USA/<state>; None with no intensity -> world average
    carbon_intensity: float | None = None  #: gCO2e/kWh, overrides ``region``
    price_per_kwh: float | None = None
    currency: str = CURRENCY  #: what ``price_per_kwh`` is in
    host_w: float = 0.0  #: the host's power per GPU (CPU, memory, fans), W, all day; 0: not counted
    days_per_year: float = DAYS_PER_YEAR
    utilisation: float = 0.5  #: busy fraction of each GPU, for the GPU count
    level: float = 0.95  #: of every interval
    convention: str | None = None  #: None: the law's default (paper: printed formulas; others: counted)
    law: Law | None = None  #: a fitted law for every configuration; None: ``answer(law_name, model, gpu)``
    law_name: str = "auto"  #: which registry law answers when ``law`` is None (``auto``: see ``answer``)
    gpu_as: dict[str, str] = field(default_factory=dict)

    def check(self) -> Options:
        for name, v in (("PUE", self.pue), ("carbon intensity", self.carbon_intensity),
                        ("price per kWh", self.price_per_kwh), ("days per year", self.days_per_year),
                        ("utilisation", self.utilisation), ("host power", self.host_w)):
            optional = name in ("carbon intensity", "price per kWh")
            if (v is not None or not optional) and (not isinstance(v, (int, float)) or isinstance(v, bool)
                                                    or not math.isfinite(v)):
                raise UserError(f"{name} {v!r} is not allowed: a finite number")
        if not (self.pue >= 1.0):
            raise UserError(f"PUE {self.pue!r} is not allowed: a number >= 1 (1.0 = no facility overhead)")
        if self.carbon_intensity is not None and not (self.carbon_intensity >= 0):
            raise UserError(f"carbon intensity {self.carbon_intensity!r} is not allowed: gCO2e/kWh >= 0")
        if self.price_per_kwh is not None and not (self.price_per_kwh >= 0):
            raise UserError(f"price per kWh {self.price_per_kwh!r} is not allowed: a number >= 0")
        if not (0 < self.days_per_year <= 366):
            raise UserError(f"days per year {self.days_per_year!r} is not allowed: a number of days in (0, 366]")
        if not (self.host_w >= 0):
            raise UserError(f"host power {self.host_w!r} is not allowed: watts per GPU >= 0")
        if not re.fullmatch(r"[A-Za-z$€£¥]{1,8}", str(self.currency)):
            raise UserError(f"currency {self.currency!r} is not allowed: a code or sign of 1-8 letters (EUR, USD, $)")
        if not (0 < self.utilisation <= 1):
            raise UserError(f"utilisation {self.utilisation!r} is not allowed: a fraction in (0, 1]")
        return self

    def law_for(self, model: str, gpu: str | None = None) -> Law:
        """The law that answers for ``model`` on ``gpu``: the given one, else the registry's (fitted once,
        from the laws artifact; ``auto`` as :func:`energy_nb.laws.answer.answer` routes it)."""
        if self.law is not None:
            return self.law
        return answer(self.law_name, model, gpu, self.convention, self.gpu_as or None)[0]

    def intensity(self) -> Intensity:
        """The grid's carbon intensity used: given value, region lookup, or CodeCarbon's world average."""
        if self.carbon_intensity is not None:
            return Intensity("given", "given by the user", float(self.carbon_intensity), None, "user")
        if self.region:
            return intensity(self.region)
        return world_average()


def per_image(config: Configuration, opts: Options) -> dict[str, Any]:
    """Predicted energy of one image (Wh) with its prediction interval, the law, its extrapolation notes and
    the seconds per image: :func:`energy_nb.laws.answer.predict` for one prompt, the same number
    ``energy-nb predict`` gives."""
    law = opts.law if opts.law is not None else opts.law_name
    p = predict(config.replace(prompts=1), law, opts.convention, opts.gpu_as or None, level=opts.level)
    return dict(wh=p.per_image_j / 3600.0, wh_low=p.per_image_j_low / 3600.0, wh_high=p.per_image_j_high / 3600.0,
                gross_wh=(p.per_image_gross_j or math.nan) / 3600.0,
                gross_wh_low=(p.per_image_gross_j_low or math.nan) / 3600.0,
                gross_wh_high=(p.per_image_gross_j_high or math.nan) / 3600.0,
                law=p.law, j=p.per_image_j, extrapolation=p.extrapolation, seconds=p.per_image_s,
                label=p.configuration.label(), time_extrapolation=p.time_extrapolation, idle_w=p.idle_w,
                idle_source=p.idle_source, notes=list(p.notes))


def plan(workload: Workload, opts: Options | None = None) -> Plan:
    """Per configuration of the mix (and a ``total`` row): the fleet's energy by layer (see the module docstring),
    carbon and cost, per image and per year, as a :class:`Plan` (its ``frame``).

    Columns (``_low``/``_high``: the interval bounds): ``share``, ``images_per_day``, ``seconds_per_image``,
    ``gpu_hours_per_day``, ``gpus_needed``, ``idle_w``, ``idle_source``; the layers (:data:`LAYERS`: they add up to
    ``kwh_per_day``) ``net_kwh_per_day`` (with bounds), ``work_idle_kwh_per_day``, ``idle_kwh_per_day``,
    ``host_kwh_per_day``, ``pue_kwh_per_day``, and ``gross_kwh_per_day`` (net + idle while working); per image
    ``net_wh_per_image`` and ``gross_wh_per_image`` (with bounds: the gross energy's own interval, composed by level);
    the fleet's ``wh_per_image``, ``kwh_per_day``,
    ``mwh_per_year``, ``g_co2e_per_image``, ``t_co2e_per_year``, ``cost_per_year`` (NaN without a price), each with
    bounds.
    """
    opts = (opts or Options()).check()
    workload.check()
    grid = opts.intensity()
    rows = []
    for config, share in workload.mix:
        e = per_image(config, opts)
        n_day = workload.images_per_day * share
        if e["seconds"] is None:
            raise UserError(f"{e['label']}: the law {e['law']!r} gives no time, so the GPUs a fleet needs cannot be "
                            "planned; allowed: a law that models time (--law auto)")
        busy_h = e["seconds"] * config.num_gpus * n_day / 3600.0
        if not math.isfinite(busy_h * e["idle_w"] * 24.0 / opts.utilisation):
            raise UserError(f"images per day {workload.images_per_day:g} is too many to plan: the GPU-hours overflow; "
                            "allowed: a number whose GPUs and energy are finite")
        gpus = math.ceil(busy_h / (24.0 * opts.utilisation) / config.num_gpus) * config.num_gpus  # whole jobs
        row: dict[str, Any] = dict(configuration=e["label"], share=share, images_per_day=n_day, law=e["law"],
                                   extrapolation=e["extrapolation"], time_extrapolation=e["time_extrapolation"],
                                   notes=e["notes"], seconds_per_image=e["seconds"], gpu_hours_per_day=busy_h,
                                   gpus_needed=gpus, idle_w=e["idle_w"], idle_source=e["idle_source"])
        idle_kw = e["idle_w"] / 1000.0
        gross_kwh = idle_kw * busy_h
        waiting_kwh = idle_kw * max(24.0 * gpus - busy_h, 0.0)
        host_kwh = opts.host_w / 1000.0 * 24.0 * gpus
        for suffix in ("", "_low", "_high"):
            net = e["wh" + suffix] * n_day / 1000.0
            row["net_kwh_per_day" + suffix] = net
            row["net_wh_per_image" + suffix] = e["wh" + suffix]
            gpu_kwh = net + gross_kwh + waiting_kwh + host_kwh
            row["pue_kwh_per_day" + suffix] = gpu_kwh * (opts.pue - 1.0)
            kwh_day = gpu_kwh * opts.pue
            per_image_wh = kwh_day * 1000.0 / n_day if n_day > 0 else float("nan")
            row["wh_per_image" + suffix] = per_image_wh
            row["kwh_per_day" + suffix] = kwh_day
            row["mwh_per_year" + suffix] = kwh_day * opts.days_per_year / 1000.0
            row["g_co2e_per_image" + suffix] = per_image_wh / 1000.0 * grid.g_per_kwh
            row["t_co2e_per_year" + suffix] = kwh_day * opts.days_per_year * grid.g_per_kwh / 1e6
            row["cost_per_year" + suffix] = (kwh_day * opts.days_per_year * opts.price_per_kwh
                                             if opts.price_per_kwh is not None else float("nan"))
        row["work_idle_kwh_per_day"] = gross_kwh
        row["gross_kwh_per_day"] = row["net_kwh_per_day"] + gross_kwh
        row["gross_wh_per_image"] = e["wh"] + e["idle_w"] * e["seconds"] / 3600.0
        for suffix in ("_low", "_high"):  # the gross energy's own interval (its held-out gross errors by level)
            row["gross_wh_per_image" + suffix] = e["gross_wh" + suffix]
            row["gross_kwh_per_day" + suffix] = e["gross_wh" + suffix] * n_day / 1000.0
        row["idle_kwh_per_day"] = waiting_kwh
        row["host_kwh_per_day"] = host_kwh
        rows.append(row)
    total: dict[str, Any] = dict(configuration="total", share=sum(r["share"] for r in rows),
                                 images_per_day=workload.images_per_day, law="",
                                 extrapolation=sorted({f for r in rows for f in r["extrapolation"]}),
                                 time_extrapolation=sorted({f for r in rows for f in r["time_extrapolation"]}),
                                 notes=sorted({f for r in rows for f in r["notes"]}),
                                 idle_source="; ".join(dict.fromkeys(r["idle_source"] for r in rows)))
    n_day = workload.images_per_day
    for col in rows[0]:
        if col.endswith(("_per_day", "_per_day_low", "_per_day_high")) or col.startswith(("mwh_per_year",
                                                                                          "t_co2e_per_year",
                                                                                          "cost_per_year")):
            values = [r[col] for r in rows if not math.isnan(r[col])]
            total[col] = math.fsum(values) if values else float("nan")
        elif col.startswith(("net_wh_per_image", "gross_wh_per_image")):  # image-weighted mean
            total[col] = math.fsum(r[col] * r["share"] for r in rows)
    for suffix in ("", "_low", "_high"):  # the fleet's per image: what all of it draws over all images
        total["wh_per_image" + suffix] = total["kwh_per_day" + suffix] * 1000.0 / n_day if n_day > 0 else float("nan")
        total["g_co2e_per_image" + suffix] = total["wh_per_image" + suffix] / 1000.0 * grid.g_per_kwh
    total["gpu_hours_per_day"] = math.fsum(r["gpu_hours_per_day"] for r in rows)
    total["gpus_needed"] = sum(r["gpus_needed"] for r in rows)
    df = pd.DataFrame([*rows, total])
    df.attrs["configurations"] = [c for c, _ in workload.mix]
    df.attrs.update(pue=opts.pue, grid=grid, price_per_kwh=opts.price_per_kwh, days_per_year=opts.days_per_year,
                    interval=opts.level, scope=SCOPE, utilisation=opts.utilisation, currency=opts.currency,
                    host_w=opts.host_w)
    return Plan(df, opts, grid, workload=workload)


@dataclass
class Plan:
    """A planned workload: ``frame`` (one row per configuration, then ``total``), the ``options`` and the grid
    ``intensity`` used, and ``compare`` (cheaper alternatives ranked by
    :func:`energy_nb.planning.alternatives.compare`, when asked).
    ``to_dict()`` is what ``energy-nb plan --json`` prints, ``str()`` what it prints without."""

    frame: pd.DataFrame
    options: Options
    intensity: Intensity
    compare: pd.DataFrame | None = None
    workload: Workload | None = None
    #: every GPU count, split and batch size with its latency and energy (:func:`energy_nb.planning.latency.choices`)
    latency: pd.DataFrame | None = None
    latency_target: float | None = None  #: seconds per request (batch latency) the configuration was chosen to meet

    @property
    def total(self) -> pd.Series:
        """The ``total`` row (the only row's values for a single configuration)."""
        return self.frame.iloc[-1]

    @property
    def rows(self) -> pd.DataFrame:
        """The configurations' rows, without the total."""
        return self.frame[self.frame["configuration"] != "total"]

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready: the workload's rows, the grid, PUE, price, days, interval, scope, extrapolation,
        utilisation and units (and ``compare`` when alternatives were ranked)."""
        g = self.intensity
        o = self.options
        out = dict(workload=self.frame.to_dict(orient="records"), grid=dict(region=g.region, name=g.name,
                   g_per_kwh=g.g_per_kwh, year=g.year, source=g.source), pue=o.pue, price_per_kwh=o.price_per_kwh,
                   currency=o.currency, host_w=o.host_w, days_per_year=o.days_per_year, interval=o.level,
                   scope=SCOPE, extrapolation=self.total["extrapolation"], notes=self.total["notes"],
                   utilisation=o.utilisation, idle=self.total["idle_source"], layers=LAYERS,
                   units=dict(wh_per_image="Wh", kwh_per_day="kWh", mwh_per_year="MWh", g_co2e_per_image="gCO2e",
                              t_co2e_per_year="tCO2e", cost_per_year=o.currency, idle_w="W", host_w="W"))
        if self.compare is not None:
            out["compare"] = self.compare.to_dict(orient="records")
        if self.latency_target is not None:
            out["latency_target_s"] = self.latency_target
        if self.latency is not None:
            out["choices"] = self.latency.to_dict(orient="records")
        return out

    def to_json(self) -> str:
        return to_json(self.to_dict())

    def __str__(self) -> str:
        from .latency import format_choices
        from .text import format_compare, format_plan

        text = format_plan(self.frame)
        if self.latency_target is not None:
            c = self.workload.mix[0][0] if self.workload else None
            text = (f"chosen for a latency of {self.latency_target:g} s per request, at the least gross energy per "
                    f"image: {c.split_label() if c else ''}, batch {c.batch_size if c else ''}\n" + text)
        if self.latency is not None:
            text += "\n\n" + format_choices(self.latency, self.latency_target)
        return text if self.compare is None else text + "\n\n" + format_compare(self.compare)

    def _repr_html_(self) -> str:
        from .text import html_plan

        return html_plan(self.frame, self.compare)

    def __repr__(self) -> str:
        t = self.total
        return (f"Plan({len(self.rows)} configuration(s), {t['images_per_day']:,.0f} images/day: "
                f"{t['mwh_per_year']:,.1f} MWh/year, {t['t_co2e_per_year']:,.1f} tCO2e/year on {self.intensity.name})")


SCOPE = ("what the planned GPUs draw: the work's energy net of idle power (the paper's footing), plus their idle power "
         "while working (gross: what a meter on them reads) and while waiting, plus the host's power per GPU when "
         "given, times PUE; networking, storage and embodied carbon not included")
#: The layers of the headline, in order: (column, what it is).
LAYERS = (("net_kwh_per_day", "the work, net of idle power (the paper's footing)"),
          ("work_idle_kwh_per_day", "+ idle power while working (net + this = gross: a meter on the GPUs during the "
                                    "work)"),
          ("idle_kwh_per_day", "+ idle power of the planned GPUs while waiting"),
          ("host_kwh_per_day", "+ the host, per GPU all day"),
          ("pue_kwh_per_day", "+ the facility's overhead, x (PUE - 1)"))
def carbon_by_region(workload: Workload, regions: Sequence[str], opts: Options | None = None) -> pd.DataFrame:
    """The same workload's yearly carbon (tCO2e, with interval) on several grids."""
    opts = opts or Options()
    rows = []
    for r in regions:
        o = replace(opts, region=r, carbon_intensity=None)
        total = plan(workload, o).total
        g = o.intensity()
        rows.append(dict(region=g.region, name=g.name, g_per_kwh=g.g_per_kwh, year=g.year,
                         t_co2e_per_year=total["t_co2e_per_year"], t_co2e_per_year_low=total["t_co2e_per_year_low"],
                         t_co2e_per_year_high=total["t_co2e_per_year_high"], source=g.source))
    return pd.DataFrame(rows)


def energy_surface(models: Sequence[str], steps: Sequence[int], resolutions: Sequence[int], dtype: str = "fp16",
                   cfg: bool = False, gpu: str = "A100", opts: Options | None = None) -> pd.DataFrame:
    """Predicted Wh per image over steps x resolution for each model (for the planning figure)."""
    opts = (opts or Options()).check()
    rows = []
    for m in models:
        for r in resolutions:
            for s in steps:
                c = Configuration(m, r, r, s, dtype, cfg, gpu)
                e = per_image(c, opts)
                rows.append(dict(model=m, resolution=r, steps=s, wh_per_image=e["wh"] * opts.pue,
                                 wh_low=e["wh_low"] * opts.pue, wh_high=e["wh_high"] * opts.pue))  # net x PUE
    return pd.DataFrame(rows)
