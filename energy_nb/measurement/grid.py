"""A sweep's grid: the paper's Sec. 4.5 or any subset, from YAML, the command line or a dict; and its shards.

Every combination of the grid is one :class:`~energy_nb.models.configuration.Configuration`. Bad values
(unknown models, dtypes, sizes; impossible resolutions; empty axes) are refused with the value named.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..core.units import DTYPES
from ..models.configuration import Configuration
from ..models.registry import SIZES, check_resolution, get_model

#: The grid of the paper's Sec. 4.5 (A100 tables: N = 100 only).
PAPER_GRID: dict[str, Any] = dict(models=["sd2", "sd35", "flux", "qwen"], steps=[10, 20, 30, 40, 50],
                                  resolutions=[256, 512, 768, 1024], dtypes=["fp16", "fp32"], cfg=[0, 1],
                                  prompts=[25, 50, 100])
#: Keys a grid (YAML file or CLI) may have.
GRID_KEYS = ("models", "steps", "resolutions", "dtypes", "cfg", "prompts", "size", "device", "weights", "seed",
             "pretrained")
def _resolution(value: Any) -> tuple[int, int]:
    """256 -> (256, 256); '512x768' -> (512, 768) (height x width)."""
    if isinstance(value, bool):
        raise UserError(f"resolution {value!r} is not allowed: give 512 or HEIGHTxWIDTH like 512x768")
    if isinstance(value, int):
        return value, value
    text = str(value).lower().strip()
    try:
        if "x" in text:
            h, w = text.split("x", 1)
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise UserError(f"resolution {value!r} is not allowed: give 512 or HEIGHTxWIDTH like 512x768") from None

#: The meters a sweep can read (:mod:`energy_nb.measurement.meters`), named here so that a dry run checks them
#: without importing torch.
METERS: tuple[str, ...] = ("codecarbon", "zeus", "nvml")


def _cfg_values(value: Any) -> list[int]:
    """CFG from the CLI or YAML: on/off/both, 0/1, true/false, or a list of those."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[int] = []
    for v in items:
        s = str(v).lower()
        if s == "both":
            out += [0, 1]
        elif s in ("1", "on", "true", "yes"):
            out.append(1)
        elif s in ("0", "off", "false", "no"):
            out.append(0)
        else:
            raise UserError(f"cfg {v!r} is not allowed; allowed: on, off, both (or 1, 0)")
    return sorted(set(out))


def _ints(name: str, values: Iterable[Any]) -> list[int]:
    out = []
    for v in values:
        try:
            iv = int(v)
            if isinstance(v, bool) or iv != float(v) or iv < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise UserError(f"{name} {v!r} is not allowed: an integer >= 1") from None
        out.append(iv)
    return out


@dataclass
class Grid:
    """A sweep's grid (Sec. 4.5 or any subset): every combination is one
    :class:`~energy_nb.models.configuration.Configuration` (its GPU is whatever GPU runs the sweep)."""

    models: list[str]
    steps: list[int]
    resolutions: list[tuple[int, int]]
    dtypes: list[str] = field(default_factory=lambda: ["fp16"])
    cfg: list[int] = field(default_factory=lambda: [0])
    prompts: list[int] = field(default_factory=lambda: [1])
    size: str = "tiny"
    device: str = "cpu"
    weights: str = "random"
    seed: int = 0
    pretrained: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "grid") -> Grid:
        """Build and validate a grid from a dict (YAML or CLI); unknown keys and bad values are named."""
        unknown = sorted(set(d) - set(GRID_KEYS))
        if unknown:
            raise UserError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(GRID_KEYS)}")
        missing = [k for k in ("models", "steps", "resolutions") if not d.get(k)]
        if missing:
            raise UserError(f"{source}: {missing[0]!r} is required (a list)")

        def as_list(v):
            return list(v) if isinstance(v, (list, tuple)) else [v]

        g = cls(models=[str(m) for m in as_list(d["models"])], steps=_ints("steps", as_list(d["steps"])),
                resolutions=[_resolution(r) for r in as_list(d["resolutions"])],
                dtypes=[str(x) for x in as_list(d.get("dtypes", ["fp16"]))], cfg=_cfg_values(d.get("cfg", 0)),
                prompts=_ints("prompts", as_list(d.get("prompts", [1]))), size=str(d.get("size", "tiny")),
                device=str(d.get("device", "cpu")), weights=str(d.get("weights", "random")),
                seed=int(d.get("seed", 0)), pretrained=d.get("pretrained"))
        g.validate()
        return g

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> Grid:
        from ..core.yamlio import load_file

        d = load_file(path) or {}
        if not isinstance(d, dict):
            raise UserError(f"{path}: a grid file is a mapping of {', '.join(GRID_KEYS)}")
        d.pop("slurm", None)  # the cluster settings: :func:`energy_nb.measurement.slurm.slurm_settings`
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d, source=str(path))

    def validate(self) -> None:
        """Refuse unknown models, dtypes, sizes, weights; impossible resolutions; empty axes."""
        from .pipelines import WEIGHTS

        self.models = [get_model(m).key for m in self.models]  # Hugging Face ids -> registry keys
        for d in self.dtypes:
            if d not in DTYPES:
                raise UserError(f"unknown dtype {d!r}; allowed: {', '.join(DTYPES)}")
        if self.size not in SIZES:
            raise UserError(f"unknown size {self.size!r}; allowed: {', '.join(SIZES)}")
        if self.weights not in WEIGHTS:
            raise UserError(f"unknown weights {self.weights!r}; allowed: {', '.join(WEIGHTS)}")
        if self.weights == "pretrained" and self.size != "full":
            raise UserError("weights 'pretrained' are the released checkpoints: use size 'full'")
        for m in self.models:
            for h, w in self.resolutions:
                check_resolution(m, h, w, self.size)
        for name in ("models", "steps", "resolutions", "dtypes", "cfg", "prompts"):
            if not getattr(self, name):
                raise UserError(f"grid axis {name!r} is empty")

    def configs(self) -> list[Configuration]:
        """Every combination, ordered so that one pipeline (model, dtype) is built once (GPU: None, whatever
        GPU runs the sweep)."""
        out = [Configuration(m, h, w, s, d, bool(c), None, prompts=n) for m, d, (h, w), s, c, n in itertools.product(
            self.models, self.dtypes, self.resolutions, self.steps, self.cfg, self.prompts)]
        return list(dict.fromkeys(out))

    def to_dict(self) -> dict[str, Any]:
        """The grid as plain data (resolutions as 'HxW'): what a sharded sweep's ``sweep.json`` records."""
        return dict(models=list(self.models), steps=list(self.steps),
                    resolutions=[f"{h}x{w}" for h, w in self.resolutions], dtypes=list(self.dtypes),
                    cfg=list(self.cfg), prompts=list(self.prompts), size=self.size, device=self.device,
                    weights=self.weights, seed=self.seed, pretrained=self.pretrained)


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/4' -> (2, 4): this process measures configurations 2, 6, 10, ... of 4 shards (1-based)."""
    if not text:
        return 1, 1
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"shard {text!r} is not allowed: give i/k with 1 <= i <= k, e.g. 1/2") from None
    if not (k >= 1 and 1 <= i <= k):
        raise UserError(f"shard {text!r} is not allowed: give i/k with 1 <= i <= k, e.g. 1/2")
    return i, k


def shard(configs: list[Configuration], i: int, k: int) -> list[Configuration]:
    """The ``i``-th of ``k`` interleaved shards (every model appears in every shard)."""
    return configs[i - 1::k]




def describe(c: Configuration) -> str:
    """``sd2 64x64 T=2 fp32 cfg=0 N=2``: one configuration of a sweep, as its messages name it."""
    return f"{c.model} {c.height}x{c.width} T={c.steps} {c.dtype} cfg={int(c.cfg)} N={c.prompts}"
