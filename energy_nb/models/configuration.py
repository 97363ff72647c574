"""One inference configuration, validated once and carried everywhere.

A :class:`Configuration` is what a prediction, a plan, a law, the calculator and a sweep talk about:
``prompts`` images of ``model`` at ``height`` x ``width`` pixels, ``steps`` denoising steps, precision
``dtype``, classifier-free guidance on or off, on ``gpu``, ``batch_size`` images per pipeline call, each image
split over ``num_gpus`` GPUs (xDiT's sequence parallelism: ``ulysses`` x ``ring`` = ``num_gpus``; a degree left
None is chosen when the question is answered, :mod:`energy_nb.compute.parallel`). Building
one checks every field (the model is resolved to its registry key, a Hugging Face id included), so a bad
value is refused where it enters, with its name and what is allowed, and nothing downstream checks again.

Units: pixels, steps, images.
"""
from __future__ import annotations

import operator
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..core.errors import UserError
from ..core.units import check_dtype
from .hardware import canonical_name, unknown_message
from .registry import check_resolution, check_steps, get_model

_GPU_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

#: The largest square side the shipped features count for every model (:data:`energy_nb.compute.features.SHIPPED`'s
#: full-size grid; a model's default resolution may be larger), and how far beyond the largest counted pixel count a
#: question may go: past it the counted work is extrapolated too far for any interval to hold (refused).
LARGEST_COUNTED = 1024
FAR_BEYOND = 4


def check_within_counted(model: str, height: int, width: int) -> None:
    """Refuse a resolution more than :data:`FAR_BEYOND` times the largest pixel count counted for ``model``."""
    spec = get_model(model)
    d = spec.defaults  # a square default resolution is counted too (features.shipped_resolutions; a test checks)
    side = max(LARGEST_COUNTED, int(d["height"]) if d.get("height") and d.get("height") == d.get("width") else 0)
    limit = FAR_BEYOND * side * side
    if height * width > limit:
        raise UserError(f"{height}x{width} = {height * width:,} px is more than {FAR_BEYOND}x the largest resolution "
                        f"counted for {spec.key} ({side}x{side}): too far beyond the data for an answer; allowed: up "
                        f"to {limit:,} px (e.g. {2 * side}x{2 * side})")


def _integer(name: str, value: Any) -> Any:
    """``value`` as an int when it is one (numpy integers included); unchanged otherwise (the field's own
    check then names it)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():  # 1024.0 from a computation or a JSON number
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        return value


@dataclass(frozen=True)
class Configuration:
    """``prompts`` images of ``model`` at ``height`` x ``width`` px, ``steps`` steps, ``dtype``, CFG on or off,
    on ``gpu`` (a family, a part or a ``--gpu-spec`` name; None in a sweep's grid: whatever GPU runs it),
    ``batch_size`` images per pipeline call."""

    model: str
    height: int
    width: int
    steps: int
    dtype: str = "fp16"
    cfg: bool = False
    gpu: str | None = "A100"
    batch_size: int = 1
    prompts: int = 1
    num_gpus: int = 1  #: GPUs one image is split over
    ulysses: int | None = None  #: Ulysses degree (None: chosen when answered; 1 on one GPU)
    ring: int | None = None  #: Ring degree (None: chosen when answered; 1 on one GPU)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "model", get_model(str(self.model)).key)
        for name in ("height", "width", "steps", "batch_size", "prompts", "num_gpus", "ulysses", "ring"):
            set_(self, name, _integer(name, getattr(self, name)))
        check_resolution(self.model, self.height, self.width)
        check_within_counted(self.model, self.height, self.width)
        check_steps(self.steps)
        check_dtype(self.dtype)
        if self.cfg not in (True, False, 0, 1):
            raise UserError(f"cfg {self.cfg!r} is not allowed; allowed: on or off (True/False, 1/0)")
        set_(self, "cfg", bool(self.cfg))
        if self.gpu is not None:
            canonical = canonical_name(str(self.gpu))
            if canonical is not None:  # any case, nvidia-smi's spelling: the name data/gpus.csv gives it
                set_(self, "gpu", canonical)
            elif not _GPU_RE.match(str(self.gpu)):  # a calibrated GPU's name is checked when it is answered
                raise UserError(unknown_message(str(self.gpu)))
        for name, what in (("batch_size", "batch size"), ("prompts", "prompts")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"{what} {v!r} is not allowed: it must be an integer >= 1")
        self._check_split()

    def _check_split(self) -> None:
        n, u, r = self.num_gpus, self.ulysses, self.ring
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"num_gpus {n!r} is not allowed: it must be an integer >= 1")
        for name, v in (("ulysses", u), ("ring", r)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1 or n % v):
                small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
                divisors = ", ".join(map(str, sorted(set(small) | {n // d for d in small})))
                raise UserError(f"{name} degree {v!r} is not allowed on {n} GPU(s): it must divide num_gpus; "
                                f"allowed: {divisors}")
        if u is not None and r is not None and u * r != n:
            raise UserError(f"ulysses {u} x ring {r} = {u * r}, not num_gpus {n}: the degrees' product must be the "
                            "GPU count")
        if n == 1:
            object.__setattr__(self, "ulysses", 1)
            object.__setattr__(self, "ring", 1)
        elif u is not None and r is None:
            object.__setattr__(self, "ring", n // u)
        elif r is not None and u is None:
            object.__setattr__(self, "ulysses", n // r)

    def replace(self, **changes: Any) -> Configuration:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)

    def record(self) -> dict[str, Any]:
        """The configuration as a record's columns (``cfg`` as 0/1, ``prompts`` as ``n_prompts``; no ``gpu``; the
        split's columns only on several GPUs)."""
        out = dict(model=self.model, height=self.height, width=self.width, steps=self.steps, dtype=self.dtype,
                   cfg=int(self.cfg), n_prompts=self.prompts, batch_size=self.batch_size)
        if self.num_gpus > 1:
            out.update(num_gpus=self.num_gpus, ulysses_degree=self.ulysses, ring_degree=self.ring)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def frame(self, n_prompts: int | None = None):
        """The configuration as a one-row frame of the record schema's columns (:func:`frame`)."""
        return frame([self], n_prompts)

    def label(self) -> str:
        """``flux 1024x1024 T=30 fp16 CFG on A100`` (and ``batch B`` when it is not 1, the split on several GPUs)."""
        return (f"{self.model} {self.height}x{self.width} T={self.steps} {self.dtype} CFG {'on' if self.cfg else 'off'}"
                + (f" {self.gpu}" if self.gpu else "") + (f" batch {self.batch_size}" if self.batch_size != 1 else "")
                + (f" on {self.split_label()}" if self.num_gpus > 1 else ""))

    def split_label(self) -> str:
        """``8 GPUs (Ulysses 8 x Ring 1)``, ``8 GPUs`` while the degrees are open, or ``1 GPU``."""
        if self.num_gpus == 1:
            return "1 GPU"
        return f"{self.num_gpus} GPUs" + (f" (Ulysses {self.ulysses} x Ring {self.ring})" if self.ulysses else "")

    def __str__(self) -> str:
        return self.label()


def frame(configs, n_prompts: int | None = None):
    """Configurations as a frame of the record schema's columns, ``gpu`` included, one row each (``n_prompts``
    defaults to each one's prompts): the one way configurations meet a law."""
    import pandas as pd

    rows = [{**c.record(), "gpu": c.gpu} for c in configs]
    if any(c.num_gpus > 1 for c in configs):  # one GPU's columns where a frame mixes GPU counts
        for r in rows:
            r.setdefault("num_gpus", 1), r.setdefault("ulysses_degree", 1), r.setdefault("ring_degree", 1)
    if n_prompts is not None:
        for r in rows:
            r["n_prompts"] = int(n_prompts)
    return pd.DataFrame(rows)
