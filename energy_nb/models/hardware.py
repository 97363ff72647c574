"""Every fact about a GPU, read from ``data/gpus.csv``: names, datasheet peaks, power limit, idle power.

**Names.** A record's ``gpu`` column holds the *family* (``A100``, ``H100``): the paper's Eq. 3 gives each
GPU one indicator, and users ask for ``--gpu H100``. ``gpu_part`` keeps what the driver reports, normalised
(``NVIDIA H100 80GB HBM3`` -> ``H100-80GB-HBM3``), so variants stay visible. The families are those of the
table (:func:`families`). :func:`canonical_name` reads a name as users type it (any case, nvidia-smi's
``NVIDIA H100 80GB HBM3``) as the table spells it; an unknown name gets the closest ones (:func:`unknown_message`).

**Datasheets.** A :class:`GpuSpec` holds the dense peak rates, the memory bandwidth, the power limit, the
GPU-to-GPU interconnect (kind, bandwidth, and the most GPUs a node is sold with) and, where it is published,
the idle power (bare, and with a CUDA context), the memory and the precisions its hardware runs (a family: its
largest part's memory). :func:`get_spec` answers a part
(``A100-SXM4-40GB``, ``H100 80GB HBM3``), a family (``A100``: the datasheet of the family's first part in
the file, and the idle power of its first part that has one published) or a name registered from the
command line with :func:`parse_spec` (``--gpu-spec name=MyGPU,tflops_bf16=400,bandwidth_tbs=2,power_w=500``).
:func:`idle_power` is the published idle power of any of those, the one figure that turns a gross record
net (:mod:`energy_nb.data.power`) and a net prediction gross (:func:`energy_nb.laws.answer.predict`).

Units: TFLOP/s (dense, no sparsity), GB/s, W.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import pandas as pd

from ..core import paths, provenance
from ..core.errors import UserError


def gpu_part(name: str) -> str:
    """The driver's or a publisher's GPU name as a part string: vendor dropped, spaces as dashes."""
    s = re.sub(r"^\s*NVIDIA\s+", "", str(name).strip(), flags=re.I)
    return re.sub(r"\s+", "-", s)


def families() -> tuple[str, ...]:
    """The GPU families of ``data/gpus.csv``, in table order."""
    return tuple(dict.fromkeys(table()["family"].astype(str)))


def gpu_family(name: str) -> str:
    """The family of a GPU name or part (``A100-SXM4-40GB`` -> ``A100``); a clear error when unknown."""
    part = gpu_part(name)
    for fam in families():
        if part == fam or part.startswith(fam + "-") or part.startswith(fam + " "):
            return fam
    raise UserError(f"GPU {name!r} is not one we can map to a family; known: {', '.join(families())} "
                    f"(the families of {GPUS_CSV.name})")


GPUS_CSV = paths.DATA / "gpus.csv"
#: Fields of ``--gpu-spec`` (name -> (GpuSpec field, scale to the field's unit, meaning)).
SPEC_FIELDS: dict[str, tuple[str, float, str]] = {
    "name": ("name", 1.0, "what to call the GPU (letters, digits, '.', '_', '-')"),
    "tflops_bf16": ("tflops_half", 1.0, "dense fp16/bf16 tensor-core peak, TFLOP/s"),
    "tflops_fp16": ("tflops_half", 1.0, "same as tflops_bf16"),
    "tflops_tf32": ("tflops_tf32", 1.0, "dense TF32 tensor-core peak, TFLOP/s (fp32 convolutions)"),
    "tflops_fp32": ("tflops_fp32", 1.0, "fp32 (non-tensor) peak, TFLOP/s (fp32 matrix products)"),
    "bandwidth_tbs": ("bandwidth_gb_s", 1000.0, "memory bandwidth, TB/s"),
    "bandwidth_gbs": ("bandwidth_gb_s", 1.0, "memory bandwidth, GB/s"),
    "power_w": ("power_w", 1.0, "power limit (TDP), W"),
    "idle_w": ("idle_w", 1.0, "idle power, W (optional)"),
    "interconnect_gbs": ("interconnect_gb_s", 1.0, "GPU-to-GPU bandwidth, GB/s both directions (optional; several "
                         "GPUs per image)"),
    "max_gpus": ("max_gpus_per_node", 1.0, "most GPUs per node (optional; several GPUs per image)"),
    "memory_gb": ("memory_gb", 1.0, "GPU memory, GB (optional: without it, whether a configuration fits is not "
                  "checked)"),
    "sm_count": ("sm_count", 1.0, "streaming multiprocessors (optional, with boost_mhz: the exponential rate)"),
    "boost_mhz": ("boost_clock_mhz", 1.0, "boost clock, MHz (optional, with sm_count)"),
}
#: Exponentials per clock per multiprocessor of the special-function units when a spec does not give its own (CUDA
#: C++ Programming Guide, arithmetic instruction throughput: 16 for compute capability 5.x to 9.0; Blackwell keeps it).
SFU_PER_CLOCK_SM = 16
#: fp32 FLOPs per exponential a GPU described without its multiprocessors is taken to do (``--gpu-spec`` without
#: ``sm_count``): the ratio of fp32 peak to special-function rate of the recent parts of ``data/gpus.csv`` (H100,
#: L40S, B200: 16-17; A100 and V100: 8, which this makes exponentials look twice as fast on).
FP32_PER_EXP = 16.0
REQUIRED = ("name", "tflops_half", "bandwidth_gb_s", "power_w")


@dataclass(frozen=True)
class GpuSpec:
    """Datasheet figures of one GPU (dense peaks)."""

    name: str
    family: str
    tflops_half: float  #: fp16/bf16 tensor cores, TFLOP/s
    tflops_tf32: float | None  #: TF32 tensor cores, TFLOP/s (None: the GPU has none)
    tflops_fp32: float | None  #: fp32 CUDA cores, TFLOP/s
    bandwidth_gb_s: float  #: GB/s
    power_w: float  #: power limit, W
    idle_w: float | None = None  #: published idle power, W (bare: no CUDA context)
    idle_context_w: float | None = None  #: published idle power with a CUDA context, W
    source: str = ""
    interconnect: str = ""  #: how its GPUs talk within a node (``NVLink``, ``PCIe``; empty: not given)
    interconnect_gb_s: float | None = None  #: GPU-to-GPU bandwidth, GB/s, both directions (the datasheet's figure)
    max_gpus_per_node: int | None = None  #: the most GPUs of this part a node is sold with (None: not given)
    memory_gb: float | None = None  #: GPU memory, GB (a family: its largest part's; None: not given)
    dtypes: tuple[str, ...] = ("fp32", "fp16", "bf16")  #: the precisions its hardware runs
    memory_source: str = ""
    sm_count: int | None = None  #: streaming multiprocessors
    boost_clock_mhz: float | None = None  #: boost clock, MHz
    sfu_per_clock_sm: float = SFU_PER_CLOCK_SM  #: exponentials per clock per multiprocessor (special-function units)
    sm_source: str = ""

    def exp_rate(self) -> tuple[float, str]:
        """(exponentials per second of the special-function units, how it was obtained): SMs x per-clock rate x boost
        clock; for a GPU described without its SMs, the fp32 peak over :data:`FP32_PER_EXP`."""
        if self.sm_count and self.boost_clock_mhz:
            return (self.sm_count * self.sfu_per_clock_sm * self.boost_clock_mhz * 1e6,
                    f"{self.sm_count} SMs x {self.sfu_per_clock_sm:g} per clock x {self.boost_clock_mhz:g} MHz")
        fp32 = (self.tflops_fp32 or self.tflops_half / 16) * 1e12
        return fp32 / FP32_PER_EXP, (f"estimated as its fp32 peak / {FP32_PER_EXP:g} (no SM count and clock given: "
                                     "--gpu-spec sm_count=...,boost_mhz=...)")

    def rates(self, dtype: str) -> tuple[float, float]:
        """(matrix-product, convolution) peak FLOP/s for ``dtype``: half precision runs both on the tensor
        cores; fp32 matrix products on the CUDA cores (PyTorch's default ``allow_tf32=False`` for matmul)
        and fp32 convolutions on TF32 tensor cores (cuDNN's default), or CUDA cores without TF32."""
        if dtype in ("fp16", "bf16"):
            return self.tflops_half * 1e12, self.tflops_half * 1e12
        if dtype != "fp32":
            raise UserError(f"unknown dtype {dtype!r}; allowed: fp16, bf16, fp32")
        if self.tflops_fp32 is None:
            raise UserError(f"GPU {self.name!r} has no fp32 peak in its specification: give tflops_fp32=... "
                             "to predict fp32")
        return self.tflops_fp32 * 1e12, (self.tflops_tf32 or self.tflops_fp32) * 1e12

    def describe(self) -> dict:
        return asdict(self)


@provenance.cache(maxsize=1)
def table() -> pd.DataFrame:
    """``data/gpus.csv``: one row per GPU part (datasheet figures, published idle power, sources)."""
    from ..core.provenance import note_read

    note_read(GPUS_CSV)
    return pd.read_csv(GPUS_CSV)


_CUSTOM: dict[str, GpuSpec] = {}


def _opt(v) -> float | None:
    return None if pd.isna(v) else float(v)


def _from_row(r: pd.Series, name: str, idle: pd.Series | None = None, memory: pd.Series | None = None) -> GpuSpec:
    """A spec from a row of the table; ``idle``, ``memory``: the rows whose idle figures and memory it takes (default:
    ``r``)."""
    idle = r if idle is None else idle
    memory = r if memory is None else memory
    return GpuSpec(name=name, family=str(r["family"]), tflops_half=float(r["peak_fp16_tflops"]),
                   tflops_tf32=_opt(r["peak_tf32_tflops"]), tflops_fp32=_opt(r["peak_fp32_tflops"]),
                   bandwidth_gb_s=float(r["bandwidth_gb_s"]), power_w=float(r["power_limit_w"]),
                   idle_w=_opt(idle["idle_w"]), idle_context_w=_opt(idle["idle_context_w"]),
                   source=str(r["spec_source"]), interconnect=str(r["interconnect"]),
                   interconnect_gb_s=_opt(r["interconnect_gb_s"]),
                   max_gpus_per_node=None if pd.isna(r["max_gpus_per_node"]) else int(r["max_gpus_per_node"]),
                   memory_gb=_opt(memory["memory_gb"]), dtypes=tuple(str(r["dtypes"]).split()),
                   memory_source=f"{memory['gpu_part']}: {memory['memory_source']}",
                   sm_count=None if pd.isna(r["sm_count"]) else int(r["sm_count"]),
                   boost_clock_mhz=_opt(r["boost_clock_mhz"]),
                   sfu_per_clock_sm=(float(r["sfu_per_clock_sm"]) if pd.notna(r["sfu_per_clock_sm"])
                                     else SFU_PER_CLOCK_SM),
                   sm_source=str(r["sm_source"]))


def known() -> list[str]:
    """Every name :func:`get_spec` answers: families, parts and registered names."""
    t = table()
    return sorted(set(t["family"]) | set(t["gpu_part"]) | set(_CUSTOM))


def canonical_name(name: str) -> str | None:
    """The spelling ``data/gpus.csv`` (or ``--gpu-spec``) gives the GPU ``name`` names, in any case and as nvidia-smi
    prints it (``NVIDIA H100 80GB HBM3``, ``h100-80gb-hbm3`` -> ``H100-80GB-HBM3``; ``a100`` -> ``A100``); None when
    it names none of them."""
    if name in _CUSTOM:
        return name
    return _spellings().get(gpu_part(name).lower())


@provenance.cache(maxsize=1)
def _spellings() -> dict[str, str]:
    """Every family and part of the table, lower-cased, to the table's spelling."""
    t = table()
    return {str(n).lower(): str(n) for n in [*t["family"], *t["gpu_part"]]}


def closest(name: str, n: int = 3) -> list[str]:
    """The known GPU names closest to ``name`` (for an error message)."""
    import difflib

    names = {k.lower(): k for k in known()}
    return [names[k] for k in difflib.get_close_matches(gpu_part(name).lower(), list(names), n=n, cutoff=0.4)]


def unknown_message(name: str) -> str:
    """One line for a GPU name that names no GPU: the closest known names, and how to describe another GPU."""
    near = closest(name)
    return (f"GPU {name!r} is not a GPU of {GPUS_CSV.name}" + (f"; closest: {', '.join(near)}" if near else "")
            + f" (all: {', '.join(known())}; `energy-nb gpus` lists them). Describe another GPU with "
            "--gpu-spec name=...,tflops_bf16=...,bandwidth_tbs=...,power_w=...")


@provenance.cache
def _named(name: str) -> GpuSpec | None:
    t = table()
    part = gpu_part(name)
    rows = t[t["gpu_part"].str.lower() == part.lower()]
    if not rows.empty:
        return _from_row(rows.iloc[0], name)
    rows = t[t["family"].str.lower() == part.lower()]
    if rows.empty:
        return None
    published = rows[rows["idle_w"].notna()]  # a family's idle power: its first part with a published figure
    largest = rows.loc[rows["memory_gb"].idxmax()]  # a family's memory: its largest part's (what fits on one of them)
    return _from_row(rows.iloc[0], name, published.iloc[0] if len(published) else None, largest)


def get_spec(name: str) -> GpuSpec:
    """The datasheet of ``name``: a registered ``--gpu-spec``, a part of ``data/gpus.csv`` or a family (its
    first part in the file). Unknown names get an error listing the known ones."""
    if name in _CUSTOM:
        return _CUSTOM[name]
    spec = _named(str(name))
    if spec is None:
        raise UserError(unknown_message(str(name)))
    return spec


def parse_spec(text: str) -> GpuSpec:
    """A :class:`GpuSpec` from ``name=...,tflops_bf16=...,bandwidth_tbs=...,power_w=...`` (optional:
    ``tflops_tf32``, ``tflops_fp32``, ``idle_w``; ``tflops_fp16`` and ``bandwidth_gbs`` are synonyms).
    Errors name the field and what is allowed."""
    import re

    values: dict[str, object] = {}
    for item in filter(None, (s.strip() for s in str(text).split(","))):
        if "=" not in item:
            raise UserError(f"--gpu-spec item {item!r} is not key=value; allowed keys: {', '.join(SPEC_FIELDS)}")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in SPEC_FIELDS:
            raise UserError(f"--gpu-spec key {k!r} is unknown; allowed: "
                             + "; ".join(f"{n} ({m})" for n, (_, _, m) in SPEC_FIELDS.items()))
        field, scale, _ = SPEC_FIELDS[k]
        if field == "name":
            if not re.fullmatch(r"[A-Za-z0-9._-]+", v):
                raise UserError(f"--gpu-spec name {v!r} is not allowed: use letters, digits, '.', '_' or '-'")
            values[field] = v
            continue
        try:
            x = float(v)
        except ValueError:
            raise UserError(f"--gpu-spec {k}={v!r} is not a number") from None
        if not x > 0 or x != x or x == float("inf"):
            raise UserError(f"--gpu-spec {k}={v!r} is not allowed: it must be a positive number")
        values[field] = int(x) if field in ("max_gpus_per_node", "sm_count") else x * scale
    missing = [f for f in REQUIRED if f not in values]
    if missing:
        names = {"name": "name", "tflops_half": "tflops_bf16", "bandwidth_gb_s": "bandwidth_tbs", "power_w": "power_w"}
        raise UserError(f"--gpu-spec lacks {', '.join(names[m] for m in missing)}; needed: name, tflops_bf16, "
                         "bandwidth_tbs, power_w (optional: tflops_tf32, tflops_fp32, idle_w, interconnect_gbs, "
                         "max_gpus, memory_gb, sm_count, boost_mhz)")
    if "idle_w" in values and values["idle_w"] >= values["power_w"]:  # type: ignore[operator]
        raise UserError(f"--gpu-spec idle_w={values['idle_w']:g} is not below power_w={values['power_w']:g}")
    return GpuSpec(family="custom", source="given on the command line (--gpu-spec)",
                   memory_source="given on the command line (--gpu-spec)" if "memory_gb" in values else "",
                   tflops_tf32=values.pop("tflops_tf32", None), tflops_fp32=values.pop("tflops_fp32", None),
                   **values)  # type: ignore[arg-type]


def register(spec: GpuSpec) -> GpuSpec:
    """Make ``spec`` answer to its name in this process (what ``--gpu-spec`` does)."""
    if _named(spec.name) is not None and spec.name not in _CUSTOM:
        raise UserError(f"GPU name {spec.name!r} is already in data/gpus.csv: choose another name for --gpu-spec")
    _CUSTOM[spec.name] = spec
    return spec


def idle_power(name: str) -> float:
    """Published bare idle power (W) of a GPU: a part's own figure, a family's first part with one, or a
    ``--gpu-spec``'s ``idle_w``; a clear error when none is published."""
    spec = get_spec(name)
    if spec.idle_w is None:
        t = table()
        known_ = sorted(t.loc[t["idle_w"].notna(), "family"].unique())
        raise UserError(f"no published idle power for GPU {name!r} in {GPUS_CSV.name}; known: {', '.join(known_)}")
    return float(spec.idle_w)


def idle_power_or_estimate(name: str) -> tuple[float, str | None]:
    """Idle power (W) of a GPU and how it was obtained: the published figure (:func:`idle_power`, note None), else
    the GPU's power limit times the mean idle-to-limit ratio of the parts with a published figure (and a note
    that says so)."""
    try:
        return idle_power(name), None
    except ValueError:
        pass
    t = table()
    known = t[t["idle_w"].notna()]
    ratio = float((known["idle_w"] / known["power_limit_w"]).mean())
    spec = get_spec(name)
    return ratio * float(spec.power_w), (f"no published idle power for {name}: estimated as {100 * ratio:.1f}% of its "
                                         f"{spec.power_w:g} W power limit (the mean ratio of "
                                         f"{', '.join(known['gpu_part'])})")


def idle_source(name: str) -> str:
    """Which idle figure :func:`idle_power_or_estimate` gives for ``name`` and where it comes from (one phrase): the
    published bare idle power of the part it is read from (and, beside it, the figure with a CUDA context), a
    ``--gpu-spec``'s ``idle_w``, or the estimate from the power limit."""
    if name in _CUSTOM:
        w, how = idle_power_or_estimate(name)
        return f"{w:.1f} W, estimated: {how}" if how else f"{w:.1f} W, given with --gpu-spec"
    return _idle_source(name)


@provenance.cache
def _idle_source(name: str) -> str:
    w, how = idle_power_or_estimate(name)
    if how:
        return f"{w:.1f} W, estimated: {how}"
    t = table()
    part = gpu_part(name).lower()
    rows = t[(t["gpu_part"].str.lower() == part) & t["idle_w"].notna()]
    if rows.empty:
        rows = t[(t["family"].str.lower() == part) & t["idle_w"].notna()]
    r = rows.iloc[0]
    context = f"; {r['idle_context_w']:g} W with a CUDA context" if pd.notna(r["idle_context_w"]) else ""
    return f"{w:.1f} W, the bare idle power (no CUDA context{context}) of {r['gpu_part']}: {r['idle_source']}"


def tf32_slowdown(family: str = "A100") -> float:
    """How much slower TF32 runs than half precision on ``family``'s tensor cores (fp16 peak over TF32 peak):
    PyTorch runs fp32 convolutions on TF32 by default (``torch.backends.cudnn.allow_tf32``), not fp32 matmuls."""
    spec = get_spec(family)
    if not spec.tflops_tf32:
        raise UserError(f"GPU {family!r} has no TF32 tensor cores in {GPUS_CSV.name}")
    return spec.tflops_half / spec.tflops_tf32
