"""Deployment planner: energy, carbon and cost of an image-generation workload, with intervals.

A workload is one configuration or a mix of configurations with shares, at a number of images per
day. Per image, the energy is the scaling law's prediction with its 95% prediction interval; per year
it is ``per_image x images_per_day x share x days x PUE``.

Scope, stated in every result: the law predicts **dynamic GPU energy** (measured net of idle power,
as in the paper), for batch size 1. Idle GPUs, CPUs, memory, networking, cooling and embodied carbon
are outside it; ``pue`` multiplies the energy by a facility factor, and everything else is for the
user to add.

Intervals: each configuration's prediction interval is carried through every multiplication; across
configurations of a mix the bounds are added (errors treated as fully correlated, which is what a
shared law gives and the conservative choice).

Units: energy in Wh per image, kWh per day, MWh per year; carbon in gCO2e per image and tCO2e per
year; cost in the currency of ``price_per_kwh`` per year.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import pandas as pd
import yaml

from . import laws
from .architectures import check_resolution, check_steps, get_model
from .carbon import Intensity, intensity, world_average
from .laws import Law
from .schema import DTYPES

DAYS_PER_YEAR = 365.0
STANDARD_RESOLUTIONS = (256, 512, 768, 1024)


@dataclass(frozen=True)
class Config:
    """One inference configuration (images per pipeline call: ``batch_size``)."""

    model: str
    height: int
    width: int
    steps: int
    dtype: str = "fp16"
    cfg: bool = False
    gpu: str = "A100"
    batch_size: int = 1

    def check(self) -> "Config":
        """This configuration with its model as a registry key, or a clear error naming the bad value."""
        key = get_model(self.model).key
        if key != self.model:
            return replace(self, model=key).check()
        check_resolution(self.model, self.height, self.width)
        check_steps(self.steps)
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; allowed: {', '.join(DTYPES)}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch size {self.batch_size!r} is not allowed: it must be an integer >= 1")
        return self

    def label(self) -> str:
        return (f"{self.model} {self.height}x{self.width} T={self.steps} {self.dtype} "
                f"CFG {'on' if self.cfg else 'off'} {self.gpu}" + (f" batch {self.batch_size}" if self.batch_size != 1 else ""))


@dataclass(frozen=True)
class Workload:
    """A mix of configurations with shares (summing to 1) at ``images_per_day``."""

    mix: tuple[tuple[Config, float], ...]
    images_per_day: float

    @classmethod
    def single(cls, config: Config, images_per_day: float) -> "Workload":
        return cls(((config, 1.0),), images_per_day).check()

    def check(self) -> "Workload":
        if not (self.images_per_day >= 0) or self.images_per_day != self.images_per_day:
            raise ValueError(f"images per day {self.images_per_day!r} is not allowed: a number >= 0")
        if not self.mix:
            raise ValueError("a workload needs at least one configuration")
        for c, share in self.mix:
            c.check()
            if not (share > 0):
                raise ValueError(f"share {share!r} of {c.label()} is not allowed: a number > 0")
        total = sum(s for _, s in self.mix)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the shares of a mix must add up to 1; these add up to {total:g}")
        return self


def load_mix(path: str, images_per_day: float, defaults: dict[str, Any] | None = None) -> Workload:
    """A mix from YAML: a list of configurations, each with a ``share`` (keys of :class:`Config`;
    ``resolution: 512`` sets height and width)."""
    try:
        items = yaml.safe_load(open(path).read())
    except OSError as exc:
        raise ValueError(f"cannot read mix file {path}: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: a mix file is a list of configurations with a share each")
    allowed = set(Config.__dataclass_fields__) | {"share", "resolution"}
    mix = []
    for i, item in enumerate(items, 1):
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise ValueError(f"{path}, item {i}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        item = {**(defaults or {}), **item}
        share = float(item.pop("share", 0))
        if "resolution" in item:
            item["height"] = item["width"] = item.pop("resolution")
        mix.append((Config(**item), share))
    return Workload(tuple(mix), images_per_day).check()


@dataclass
class Options:
    """Everything around the workload: facility, grid, price, law."""

    pue: float = 1.0
    region: str | None = None  #: ISO3 country or USA/<state>; None with no intensity -> world average
    carbon_intensity: float | None = None  #: gCO2e/kWh, overrides ``region``
    price_per_kwh: float | None = None
    days_per_year: float = DAYS_PER_YEAR
    utilisation: float = 0.5  #: busy fraction of each GPU, for the GPU count
    alpha: float = 0.05
    convention: str | None = None  #: None: the law's default (paper: printed formulas; others: counted)
    law: Law | None = None  #: a fitted law for every configuration; None: ``laws.answer(law_name, model, gpu)``
    law_name: str = "auto"  #: which registry law answers when ``law`` is None (``auto``: see laws.answer)
    gpu_as: dict[str, str] = field(default_factory=dict)

    def check(self) -> "Options":
        if not (self.pue >= 1.0):
            raise ValueError(f"PUE {self.pue!r} is not allowed: a number >= 1 (1.0 = no facility overhead)")
        if self.carbon_intensity is not None and not (self.carbon_intensity >= 0):
            raise ValueError(f"carbon intensity {self.carbon_intensity!r} is not allowed: gCO2e/kWh >= 0")
        if self.price_per_kwh is not None and not (self.price_per_kwh >= 0):
            raise ValueError(f"price per kWh {self.price_per_kwh!r} is not allowed: a number >= 0")
        if not (self.days_per_year > 0):
            raise ValueError(f"days per year {self.days_per_year!r} is not allowed: a number > 0")
        if not (0 < self.utilisation <= 1):
            raise ValueError(f"utilisation {self.utilisation!r} is not allowed: a fraction in (0, 1]")
        return self

    def law_for(self, model: str, gpu: str | None = None) -> Law:
        """The law that answers for ``model`` on ``gpu``: the given one, else the registry's (fitted once,
        cached; ``auto`` picks as :func:`energy_nb.laws.answer` says)."""
        if self.law is not None:
            return self.law
        return laws.answer(self.law_name, model, gpu, self.convention, self.gpu_as or None)[0]

    def grid(self) -> Intensity:
        """The carbon intensity used: given value, region lookup, or CodeCarbon's world average."""
        if self.carbon_intensity is not None:
            return Intensity("given", "given by the user", float(self.carbon_intensity), None, "user")
        if self.region:
            return intensity(self.region)
        return world_average()


def per_image(config: Config, opts: Options) -> dict[str, Any]:
    """Predicted energy of one image (Wh) with its prediction interval: the law's :meth:`per_image`
    (``E(N) / N`` at the N of its data), the same number ``energy-nb predict`` gives."""
    from .timing import time_and_gross

    law = opts.law_for(config.model, config.gpu)
    r = law.per_image(config.model, config.height, config.width, config.steps, config.dtype, config.cfg,
                      config.gpu, alpha=opts.alpha, gpu_as=opts.gpu_as or None, batch_size=config.batch_size)
    flags = law.extrapolation(config.model, config.height, config.width, config.steps, config.dtype, config.cfg,
                              config.gpu, gpu_as=opts.gpu_as or None, batch_size=config.batch_size)
    t = time_and_gross(config.model, config.height, config.width, config.steps, config.dtype, config.cfg, config.gpu,
                       config.batch_size, r["per_image_j"], opts.alpha)
    return dict(wh=r["per_image_wh"], wh_low=r["per_image_wh_low"], wh_high=r["per_image_wh_high"], law=law.name,
                j=r["per_image_j"], extrapolation=flags, seconds=t["per_image_s"])


def plan(workload: Workload, opts: Options | None = None) -> pd.DataFrame:
    """Per configuration of the mix (and a ``total`` row): energy, carbon and cost, per image and per year.

    Columns (``_low``/``_high``: the interval bounds): ``share``, ``images_per_day``, ``wh_per_image``,
    ``kwh_per_day``, ``mwh_per_year``, ``g_co2e_per_image``, ``t_co2e_per_year``, ``cost_per_year``
    (NaN without a price). PUE is applied to everything but nothing else is added.
    """
    opts = (opts or Options()).check()
    workload.check()
    grid = opts.grid()
    rows = []
    for config, share in workload.mix:
        e = per_image(config, opts)
        n_day = workload.images_per_day * share
        row: dict[str, Any] = dict(configuration=config.label(), share=share, images_per_day=n_day, law=e["law"],
                                   extrapolation=e["extrapolation"], seconds_per_image=e["seconds"],
                                   gpu_hours_per_day=(e["seconds"] * n_day / 3600.0 if e["seconds"] is not None
                                                      else None))
        row["gpus_needed"] = (math.ceil(row["gpu_hours_per_day"] / (24.0 * opts.utilisation))
                              if row["gpu_hours_per_day"] is not None else None)
        for suffix in ("", "_low", "_high"):
            wh = e["wh" + suffix] * opts.pue
            kwh_day = wh * n_day / 1000.0
            row["wh_per_image" + suffix] = wh
            row["kwh_per_day" + suffix] = kwh_day
            row["mwh_per_year" + suffix] = kwh_day * opts.days_per_year / 1000.0
            row["g_co2e_per_image" + suffix] = wh / 1000.0 * grid.g_per_kwh
            row["t_co2e_per_year" + suffix] = kwh_day * opts.days_per_year * grid.g_per_kwh / 1e6
            row["cost_per_year" + suffix] = (kwh_day * opts.days_per_year * opts.price_per_kwh
                                             if opts.price_per_kwh is not None else float("nan"))
        rows.append(row)
    df = pd.DataFrame(rows)
    total: dict[str, Any] = dict(configuration="total", share=df["share"].sum(),
                                 images_per_day=workload.images_per_day, law="",
                                 extrapolation=sorted({f for fl in df["extrapolation"] for f in fl}))
    for col in df.columns:
        if col.startswith(("kwh_per_day", "mwh_per_year", "t_co2e_per_year", "cost_per_year")):
            total[col] = df[col].sum(min_count=1)
        elif col.startswith(("wh_per_image", "g_co2e_per_image")):  # image-weighted mean
            total[col] = (df[col] * df["share"]).sum()
    known = df["gpu_hours_per_day"].notna().all()
    total["gpu_hours_per_day"] = float(df["gpu_hours_per_day"].sum()) if known else None
    total["gpus_needed"] = int(df["gpus_needed"].sum()) if known else None
    df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    df.attrs.update(pue=opts.pue, grid=grid, price_per_kwh=opts.price_per_kwh, days_per_year=opts.days_per_year,
                    interval=1 - opts.alpha, scope=SCOPE, utilisation=opts.utilisation)
    return df


SCOPE = ("GPU energy of inference net of idle power (the paper's footing; other sources made net), times PUE; "
         "idle capacity, CPU, memory, network and embodied carbon not included")


# ---------------------------------------------------------------------------------------------------
# Alternatives
# ---------------------------------------------------------------------------------------------------
def alternatives(base: Config, models: Iterable[str] | None = None, gpus: Iterable[str] = (),
                 batch_sizes: Iterable[int] = ()) -> list[tuple[str, Config]]:
    """Cheaper-looking variants of ``base``: fewer steps, lower resolution, fp16, CFG off, other models,
    GPUs and batch sizes."""
    out: list[tuple[str, Config]] = []
    for s in sorted({max(1, base.steps // 2), max(1, round(base.steps * 2 / 3))} - {base.steps}):
        out.append((f"{s} steps instead of {base.steps}", replace(base, steps=s)))
    lower = [r for r in STANDARD_RESOLUTIONS if r < min(base.height, base.width)]
    if lower:
        r = lower[-1]
        out.append((f"{r}x{r} instead of {base.height}x{base.width}", replace(base, height=r, width=r)))
    other_dtype = "fp32" if base.dtype in ("fp16", "bf16") else "fp16"
    out.append((f"{other_dtype} instead of {base.dtype}", replace(base, dtype=other_dtype)))
    if base.cfg:
        out.append(("CFG off", replace(base, cfg=False)))
    for m in models if models is not None else ("sd2", "sd35", "flux", "qwen"):
        if m != base.model:
            out.append((f"{get_model(m).name} instead of {get_model(base.model).name}", replace(base, model=m)))
    for g in gpus:
        if g != base.gpu:
            out.append((f"{g} instead of {base.gpu}", replace(base, gpu=g)))
    for b in batch_sizes:
        if b != base.batch_size:
            out.append((f"batch {b} instead of {base.batch_size}", replace(base, batch_size=b)))
    return out


def compare(base: Config, images_per_day: float, opts: Options | None = None,
            variants: Sequence[tuple[str, Config]] | None = None) -> pd.DataFrame:
    """The base configuration and its alternatives ranked by yearly energy, with savings vs the base.

    A variant the law cannot predict (e.g. fp32 for Qwen-Image, which has no fp32 data) is listed with
    the reason instead of numbers. ``saving_pct`` > 0 means less energy and carbon than the base.
    """
    opts = (opts or Options()).check()
    if variants is None:  # other GPUs and batch sizes where the model's law has data for them
        dom = getattr(opts.law_for(base.model, base.gpu), "domain", None) or {}
        batches = [8] if dom.get("batch_size", [1, 1])[1] >= 8 else []
        variants = alternatives(base, gpus=[g for g in dom.get("gpus", []) if g != base.gpu], batch_sizes=batches)
    variants = list(variants)
    bp = plan(Workload.single(base, images_per_day), opts)
    base_plan = bp.iloc[0]
    rows = [dict(change="(base)", configuration=base.label(), **_summary(base_plan),
                 extrapolation=base_plan["extrapolation"], saving_pct=0.0,
                 saved_mwh_per_year=0.0, saved_t_co2e_per_year=0.0, note="")]
    for change, cfg in variants:
        try:
            p = plan(Workload.single(cfg, images_per_day), opts).iloc[0]
        except ValueError as exc:
            rows.append(dict(change=change, configuration=cfg.label(), note=f"not predicted: {exc}"))
            continue
        rows.append(dict(change=change, configuration=cfg.label(), **_summary(p), extrapolation=p["extrapolation"],
                         saving_pct=100.0 * (1 - p["mwh_per_year"] / base_plan["mwh_per_year"]),
                         saved_mwh_per_year=base_plan["mwh_per_year"] - p["mwh_per_year"],
                         saved_t_co2e_per_year=base_plan["t_co2e_per_year"] - p["t_co2e_per_year"], note=""))
    df = pd.DataFrame(rows)
    df = df.sort_values("mwh_per_year", na_position="last", kind="stable").reset_index(drop=True)
    df.attrs.update(bp.attrs)
    return df


def _summary(p: pd.Series) -> dict[str, float]:
    keys = ["wh_per_image", "wh_per_image_low", "wh_per_image_high", "mwh_per_year", "mwh_per_year_low",
            "mwh_per_year_high", "t_co2e_per_year", "t_co2e_per_year_low", "t_co2e_per_year_high", "cost_per_year"]
    return {k: float(p[k]) for k in keys}


def carbon_by_region(workload: Workload, regions: Sequence[str], opts: Options | None = None) -> pd.DataFrame:
    """The same workload's yearly carbon (tCO2e, with interval) on several grids."""
    opts = opts or Options()
    rows = []
    for r in regions:
        o = replace(opts, region=r, carbon_intensity=None)
        total = plan(workload, o).iloc[-1]
        g = o.grid()
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
                c = Config(m, r, r, s, dtype, cfg, gpu).check()
                e = per_image(c, opts)
                rows.append(dict(model=m, resolution=r, steps=s, wh_per_image=e["wh"] * opts.pue,
                                 wh_low=e["wh_low"] * opts.pue, wh_high=e["wh_high"] * opts.pue))
    return pd.DataFrame(rows)


def format_plan(df: pd.DataFrame) -> str:
    """A plain-text report of :func:`plan`'s frame."""
    a = df.attrs
    g: Intensity = a["grid"]
    pct = int(round(100 * a["interval"]))
    lines = []
    for _, r in df.iterrows():
        if r["configuration"] == "total" and len(df) == 2:
            continue
        lines.append(f"{r['configuration']}  ({r['images_per_day']:,.0f} images/day)")
        lines.append(f"  energy : {r['wh_per_image']:.4f} Wh/image ({pct}% PI {r['wh_per_image_low']:.4f}-"
                     f"{r['wh_per_image_high']:.4f});  {r['kwh_per_day']:,.1f} kWh/day;  {r['mwh_per_year']:,.1f} "
                     f"MWh/year ({r['mwh_per_year_low']:,.1f}-{r['mwh_per_year_high']:,.1f})")
        lines.append(f"  carbon : {r['g_co2e_per_image']:.3f} gCO2e/image;  {r['t_co2e_per_year']:,.1f} tCO2e/year "
                     f"({r['t_co2e_per_year_low']:,.1f}-{r['t_co2e_per_year_high']:,.1f})")
        if a["price_per_kwh"] is not None:
            lines.append(f"  cost   : {r['cost_per_year']:,.0f} per year ({r['cost_per_year_low']:,.0f}-"
                         f"{r['cost_per_year_high']:,.0f}) at {a['price_per_kwh']:g} per kWh")
        if r.get("gpu_hours_per_day") is not None and not pd.isna(r["gpu_hours_per_day"]):
            lines.append(f"  time   : {r['gpu_hours_per_day']:,.1f} GPU-hours/day; {int(r['gpus_needed']):,} GPU(s) at "
                         f"{a.get('utilisation', 0.5):.0%} utilisation"
                         + (f" ({r['seconds_per_image']:.3f} s/image)" if r.get("seconds_per_image") else ""))
        if r["configuration"] != "total" and r["extrapolation"]:
            lines.append("  EXTRAPOLATING, outside the law's data: " + "; ".join(r["extrapolation"]))
    lines.append(f"grid: {g.name} ({g.region}) {g.g_per_kwh:.1f} gCO2e/kWh [{g.source}]; PUE {a['pue']:g}; "
                 f"{a['days_per_year']:g} days/year")
    lines.append(f"scope: {a['scope']}")
    return "\n".join(lines)


def format_compare(df: pd.DataFrame) -> str:
    """A plain-text ranking of :func:`compare`'s frame."""
    lines = ["alternatives, least energy first (saving vs base; negative = more):"]
    for _, r in df.iterrows():
        if r.get("note"):
            lines.append(f"  {r['change']:<50} {r['note']}")
            continue
        flag = "  (extrapolating)" if isinstance(r.get("extrapolation"), list) and r["extrapolation"] else ""
        lines.append(f"  {r['change']:<50} {r['wh_per_image']:8.4f} Wh/image  {r['mwh_per_year']:10,.1f} MWh/yr  "
                     f"{r['t_co2e_per_year']:9,.1f} tCO2e/yr  saving {r['saving_pct']:+6.1f}%{flag}")
    return "\n".join(lines)
