"""Intervals composed by level: an answer's uncertainty is the sum of the held-out error of every level of the unknown
it crosses, each read from its own fold.

The levels (:data:`LEVELS`) and what crosses them: the **rows** of a model with data (its own cross-validation),
a **model** without data whose architecture family has some, a **family** without data, a **GPU** without data, the
**source** (a lab whose footing the answer is not on: the paper's rows are net of idle by CodeCarbon, ML.ENERGY's and
a user's meter gross), a **split** over several GPUs per image without rows for that architecture, and a setting
**beyond** the rows in batch size, steps or resolution (its variance grows with the square of the distance, in
doublings: :func:`distance`). Their held-out errors are built at ``laws build`` (:mod:`energy_nb.evaluation.levels`).

Each level's signed log errors are grouped by what was held out (a model, a GPU, a lab, a fold) and read as a
random-effects model: a held-out group's error is its own shift ``b_g`` (a GPU slow for its datasheet is slow for
every model) plus the spread of its rows around it. :func:`fit` estimates

- ``within``: the pooled variance of the rows around their group's mean;
- ``between``: the variance of a new group's shift, with a hierarchical (scaled inverse chi-square) prior: ``(nu0
  s0^2 + sum b_g^2) / (nu0 + G)`` with :data:`PRIOR_GROUPS` = ``nu0`` and ``s0^2`` the variance of the shifts of the
  models *inside* the held-out groups (how differently models fare on one unseen GPU or lab), or ``within`` where
  groups hold one model. It has ``nu0 + G`` degrees of freedom: two GPUs give a prior-dominated spread with 3 degrees
  of freedom, not the t-quantile of one (a 14x band).

An answer's variance is the base spread of its rows (a model with data: its own cross-validation errors, their mean
square; without: the model level's ``within``) plus the ``between`` of every level crossed; its half-width is the
half-width of each part at its own degrees of freedom, added in quadrature (:func:`compose`). A level
held out over fewer than :data:`MIN_GROUPS` groups cannot support a 95% level on its own: the answer calls its
interval a range and says the prior bounded it. The same for net energy, gross energy and time.

Units: natural log units (variances in log^2).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.stats import two_sided
from .base import LawWrapper

#: Level -> (what it stands for, how its errors were held out).
LEVELS: dict[str, tuple[str, str]] = {
    "rows": ("the rows of a model with data", "nested 5-fold cross-validation on the model's own rows"),
    "model": ("a model without data", "nested leave-one-model-out over the models with data"),
    "family": ("an architecture family without data", "leave-one-family-out (families: the denoiser's class)"),
    "gpu": ("a GPU without data", "leave-one-GPU-out on the rows one lab measured on both GPUs"),
    "source": ("a lab whose footing the rows are not on", "leave-one-lab-out: the shared law fitted on the other "
               "lab's rows"),
    "split": ("several GPUs per image without rows for that architecture", "the parallel law fitted on the other "
              "model's rows on several GPUs (leave one model out)"),
    "beyond": ("a batch size, step count or resolution beyond the rows", "each model's law fitted without its "
               "largest or smallest setting of each, per doubling of the distance"),
}
QUANTITIES: tuple[str, ...] = ("net", "gross", "time")
#: Fewer held-out groups than this: the level's spread rests on its prior, and an interval crossing it is a range.
MIN_GROUPS = 4
#: Weight of the hierarchical prior on a level's between-group variance, in groups.
PRIOR_GROUPS = 1.0


@dataclass(frozen=True)
class LevelFit:
    """One level's spread for one quantity (see the module docstring): variances in log^2, degrees of freedom."""

    level: str
    quantity: str
    groups: int
    rows: int
    within: float
    between: float
    dof: float
    prior: float  #: s0^2, the prior's centre of ``between``
    shifts: tuple[float, ...] = ()  #: each group's mean error ``b_g``

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_range(self) -> bool:
        """Too few groups for the level to support a 95% interval on its own (see :data:`MIN_GROUPS`)."""
        return self.level != "rows" and self.groups < MIN_GROUPS


def fit(errors: pd.DataFrame, level: str, quantity: str, sub: str | None = "model") -> LevelFit | None:
    """The spread of ``level`` for ``quantity`` from its held-out errors (columns ``group``, ``quantity`` and ``sub``,
    the subgroup the prior is read from); None without errors. The ``rows`` level of one model: ``within`` is the mean
    square of its errors, no ``between``."""
    e = errors.dropna(subset=[quantity])
    if e.empty:
        return None
    x = e[quantity].to_numpy(float)
    if level == "beyond":  # errors per doubling of the distance beyond the rows, read as any level's
        d = e["distance"].to_numpy(float)
        e = e[d > 0].assign(**{quantity: x[d > 0] / d[d > 0]})
        f = fit(e, "beyond grouped", quantity, sub=None)
        return None if f is None else LevelFit(level, quantity, f.groups, f.rows, f.within, f.between, f.dof,
                                               f.prior, f.shifts)
    if level == "rows":
        return LevelFit(level, quantity, int(e["group"].nunique()), len(x), float(np.mean(x ** 2)), 0.0,
                        float(max(len(x) - 1, 1)), 0.0)
    g = e.groupby("group", sort=True)[quantity]
    b = g.mean()
    dev = x - e["group"].map(b).to_numpy(float)
    G, n = len(b), len(x)
    within = float(dev @ dev / max(n - G, 1))
    prior = within
    if sub is not None and e.groupby("group")[sub].nunique().max() > 1:
        s = e.groupby(["group", sub])[quantity].mean()
        d = s - s.index.get_level_values("group").map(b).to_numpy(float)
        k = len(s) - G
        if k > 0:
            prior = float((d.to_numpy(float) ** 2).sum() / k)
    between = float((PRIOR_GROUPS * prior + float((b.to_numpy(float) ** 2).sum())) / (PRIOR_GROUPS + G))
    return LevelFit(level, quantity, G, n, within, between, PRIOR_GROUPS + G, prior,
                    tuple(float(v) for v in b.to_numpy(float)))


def compose(parts: list[tuple[float, float]], level: float = 0.95) -> float:
    """The half-width (log units) at ``level`` of a sum of independent errors with ``(variance, dof)`` each: every
    part's own half-width (its Student-t quantile at its degrees of freedom times its standard deviation), added in
    quadrature. One part gives its own interval; a level crossed only ever widens it (a pooled Welch-Satterthwaite
    quantile could narrow it)."""
    return float(math.sqrt(sum((two_sided(level, d) ** 2) * v for v, d in parts if v > 0)))


@dataclass(frozen=True)
class Composite:
    """The levels one answer crosses: per quantity, ``(variance, dof)`` parts, what each part is, and the ``beyond``
    level's variance per doubling of distance (added per configuration: :meth:`half_width`'s ``distance``)."""

    parts: dict[str, tuple[tuple[float, float], ...]]
    names: tuple[str, ...]  #: the levels crossed, in order (``rows``, ``gpu``, ...)
    ranges: tuple[str, ...]  #: the levels crossed that rest on their prior (too few groups)
    text: str
    #: quantity -> the beyond level's between and within variances per doubling^2, each with its dof
    beyond: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def half_width(self, quantity: str, level: float = 0.95, distance: float = 0.0) -> float | None:
        """The half-width (log units) of ``quantity`` at ``level``, ``distance`` doublings beyond the law's rows."""
        p = list(self.parts.get(quantity) or ())
        if not p:
            return None
        b = self.beyond.get(quantity) or self.beyond.get("net")
        if distance > 0 and b is not None:
            p += [(b[0] * distance ** 2, b[1]), (b[2] * distance ** 2, b[3])]
        return compose(p, level)

    def per_doubling(self, quantity: str, level: float = 0.95) -> float:
        """The beyond level's half-width per doubling of distance (log units): the half-width at ``distance`` is
        ``hypot(half_width(quantity), distance x this)`` (the closed form the page's calculator evaluates)."""
        b = self.beyond.get(quantity) or self.beyond.get("net")
        return compose([(b[0], b[1]), (b[2], b[3])], level) if b is not None else 0.0

    def kind(self, distance: float = 0.0) -> str:
        """``interval_kind``: the levels, and whether it is a range."""
        head = ("a range, not a held-out 95% interval: " + ", ".join(self.ranges) + " rest on too few groups, "
                "bounded by a hierarchical prior; " if self.ranges else "")
        b = self.beyond.get("net")
        far = (f" + {distance:.2f} doublings beyond the rows ({LEVELS['beyond'][1]}: "
               f"{100 * math.sqrt(b[0] + b[2]):.1f}% per doubling)" if distance > 0 and b is not None else "")
        return head + "composed by level: " + self.text + far


def composite(fits: dict[str, dict[str, dict[str, Any]]], own: dict[str, dict[str, Any]] | None,
              crossed: list[str], base: str, unseen: str = "model") -> Composite:
    """The :class:`Composite` of an answer: ``fits`` (level -> quantity -> :class:`LevelFit` fields), ``own``: the
    ``rows`` fits of the model (quantity -> fields; None: a model without data, whose level is ``unseen``: ``model``
    when its architecture family has data, else ``family``), ``crossed``: the levels beyond it (``split within``: a
    split's spread only, on an architecture with rows on several GPUs), ``base``: what the rows are."""
    parts: dict[str, list[tuple[float, float]]] = {}
    words, ranges = [], []
    for q in QUANTITIES:
        p: list[tuple[float, float]] = []
        r = (own or {}).get(q)  # a model whose rows have no time: for time and gross it is a model never timed
        u = fits.get(unseen if own is None else "model", {}).get(q)
        if r is not None:
            p.append((r["within"], r["dof"]))
        elif u:
            p += [(u["within"], max(u["rows"] - u["groups"], 1)), (u["between"], u["dof"])]
        for lv in crossed:
            name = lv.split()[0]
            f = fits.get(name, {}).get(q) or (fits.get(name, {}).get("net") if q == "gross" else None)
            if f and name == "split":  # a split's configurations vary around its shift: both parts
                p.append((f["within"], max(f["rows"] - f["groups"], 1)))
            if f and lv == name:
                p.append((f["between"], f["dof"]))
        parts[q] = p
    if own is not None:
        r = own.get("net")
        words.append(f"{base} ({r['rows']} held-out errors, rms {100 * math.sqrt(r['within']):.1f}%)" if r else base)
    else:
        m = fits.get(unseen, {}).get("net")
        words.append(f"{LEVELS[unseen][0]} ({m['groups']} held out, shift sd {100 * math.sqrt(m['between']):.1f}%)"
                     if m else LEVELS[unseen][0])
        if m and m["groups"] < MIN_GROUPS:
            ranges.append(f"{unseen} ({m['groups']} groups)")
    for lv in crossed:
        f = fits.get(lv.split()[0], {}).get("net")
        if f is None:
            continue
        if lv != lv.split()[0]:
            words.append(f"the spread of splits on rows of the architecture ({f['rows']} held-out errors)")
            continue
        words.append(f"{LEVELS[lv][0]} ({f['groups']} held out, shift sd {100 * math.sqrt(f['between']):.1f}%)")
        if f["groups"] < MIN_GROUPS:
            ranges.append(f"{lv} ({f['groups']} groups)")
    beyond = {q: (f["between"], f["dof"], f["within"], max(f["rows"] - f["groups"], 1))
              for q, f in fits.get("beyond", {}).items()}
    return Composite({q: tuple(v) for q, v in parts.items()}, ("rows" if own is not None else unseen,)
                     + tuple(crossed), tuple(ranges), " + ".join(words), beyond)


def distance(domain: dict[str, Any], gpu: str | None, height: float, width: float, steps: float,
             batch_size: float) -> float:
    """How far (doublings, root of the sum of squares over resolution, steps and batch size) a configuration lies
    beyond a law's rows (``domain``: :func:`energy_nb.laws.domain.data_domain`, its GPU's part where it has one)."""
    d = (domain or {}).get("by_gpu", {}).get(gpu or "", domain or {})
    total = 0.0
    for key, v in (("height", max(height, width) if "height" in d else None), ("steps", steps),
                   ("batch_size", batch_size)):
        if v is None or key not in d:
            continue
        lo, hi = (float(x) for x in d[key])
        if v > hi > 0:
            total += math.log2(v / hi) ** 2
        elif 0 < v < lo:
            total += math.log2(lo / v) ** 2
    return math.sqrt(total)


class ComposedLaw(LawWrapper):
    """A fitted law answering with the intervals of a :class:`Composite` (net energy, time, and gross energy through
    :meth:`gross_half_width`), widened row by row by how far each lies beyond the law's rows; everything else is the
    law's own."""

    def __init__(self, law: Any, comp: Composite) -> None:
        super().__init__(law)
        self.composite = comp

    @property
    def interval_kind(self) -> str:
        return self.composite.kind()

    def half_width(self, level: float = 0.95) -> float | None:
        """The net-energy interval's half-width (log units) at ``level``, inside the law's rows."""
        return self.composite.half_width("net", level)

    def time_half_width(self, level: float = 0.95) -> float | None:
        return self.composite.half_width("time", level)

    def gross_half_width(self, level: float = 0.95, config: Any = None) -> float | None:
        """The gross energy's half-width (log units) at ``level`` (at ``config``'s distance beyond the rows)."""
        return self.composite.half_width("gross", level, self._distance(config) if config is not None else 0.0)

    def _distance(self, c: Any) -> float:
        return distance(self._law.domain, c.gpu, c.height, c.width, c.steps, c.batch_size)

    def predict_one(self, config: Any, level: float = 0.95, gpu_as: dict[str, str] | None = None,
                    n_scaling: str = "linear") -> Any:
        from dataclasses import replace

        p = LawWrapper.predict_one(self, config, level=level, gpu_as=gpu_as, n_scaling=n_scaling)
        return replace(p, interval_kind=self.composite.kind(self._distance(p.configuration)))

    def predict(self, df: pd.DataFrame, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
        out = self._law.predict(df, level=level, gpu_as=gpu_as).copy()
        dom = self._law.domain
        far = [distance(dom, str(g), float(h), float(w), float(s), float(b)) for g, h, w, s, b in zip(
            df["gpu"], df["height"], df["width"], df["steps"],
            df["batch_size"].fillna(1) if "batch_size" in df else [1] * len(df))]
        for col, lo, hi, q in (("energy_pred_j", "pi_low_j", "pi_high_j", "net"),
                               ("time_pred_s", "time_low_s", "time_high_s", "time")):
            if col not in out or self.composite.half_width(q, level) is None:
                continue
            w = np.array([self.composite.half_width(q, level, d) for d in far])
            out[lo], out[hi] = out[col] * np.exp(-w), out[col] * np.exp(w)
            if q == "net":
                out["se_log"] = w
        return out

    def describe(self) -> dict:
        return dict(self._law.describe(), interval=self.interval_kind)

    def __repr__(self) -> str:
        return f"ComposedLaw({self._law.name!r}, {self.interval_kind})"
