"""Whether a configuration can run on its GPU: a precision the GPU's hardware runs, and at least the memory the
pipeline needs within the GPU's.

The memory is a **lower bound** of what a pipeline held entirely on the GPU (no CPU offloading, as the paper's and
ML.ENERGY's runs) needs: every component's weights at the configuration's precision, plus the output and the input of
the largest operator the counted graph runs (:mod:`.features`' shapes at the configuration's resolution) for every image
the call holds at once (the batch, doubled where CFG is one call on a batch of two; the denoiser's tokens split over the
GPUs of a sequence-parallel job, the VAE and text encoders whole on each). Real runs need more (the allocator's cache,
workspaces, more live tensors), so a configuration refused here cannot run, and one accepted may still not: every
measured configuration of ``data/`` passes (a test checks).

A GPU family (``A100``) is judged on its largest part (``A100-SXM4-80GB``): it fits on one of them. GB are the
datasheets' figures read as GiB (2^30 bytes), the larger reading.

Units: bytes, GB.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core import provenance
from ..core.errors import UserError
from ..core.units import BYTES_PER_ELEMENT
from ..models.configuration import Configuration
from ..models.hardware import get_spec
from ..models.registry import get_model

GIB = 2 ** 30
#: Tensors of the largest operator's size held at once in the lower bound: its input and its output.
LIVE = 2


@dataclass(frozen=True)
class Memory:
    """The lower bound of the memory ``configuration`` needs (bytes), by part."""

    weights: float  #: every component's parameters at the precision
    activations: float  #: the largest operator's input and output for the images held at once
    largest: str  #: which component's operator that is

    @property
    def total(self) -> float:
        return self.weights + self.activations

    def text(self) -> str:
        return (f"at least {self.total / GIB:,.1f} GB: weights {self.weights / GIB:,.1f} GB + activations "
                f"{self.activations / GIB:,.1f} GB (the {self.largest}'s largest operator, input and output)")


def _largest_elements(shapes: dict[str, dict[str, int]]) -> float:
    """Elements of the largest output of one call at batch 1: GEMMs and convolutions (``M,N,K``: M x N) and fused
    attention (``batch x heads, Lq, Lk, d, dv``: batch x heads x Lq x dv)."""
    best = 0.0
    for kind, table in shapes.items():
        for key in table:
            d = [int(x) for x in key.split(",")]
            n = d[0] * d[1] * d[-1] if kind == "attention" else d[0] * d[1]
            best = max(best, float(n))
    return best


@provenance.cache
def _component(model: str, role: str, height: int, width: int) -> tuple[int, float]:
    """Parameters of a component and the elements of its largest output at batch 1."""
    from .features import component

    f = component(model, role, height, width)
    return f.params, _largest_elements(f.shapes)


def need(config: Configuration) -> Memory:
    """The lower bound of the memory ``config`` needs on each of its GPUs (see the module docstring)."""
    spec = get_model(config.model)
    size = BYTES_PER_ELEMENT[config.dtype]
    weights = 0.0
    held: dict[str, float] = {}
    for c in spec.components:
        params, largest = _component(config.model, c.role, config.height, config.width)
        weights += params * size
        images = config.batch_size
        if c.role == "denoiser":
            images *= 2 if (config.cfg and spec.cfg_batched) else 1
            share = 1.0 / config.num_gpus
        else:
            share = 1.0
        held[c.role] = LIVE * images * largest * size * share
    role = max(held, key=held.__getitem__)
    return Memory(weights, held[role], role.replace("_", " "))


def check(config: Configuration) -> None:
    """Refuse, in one line naming the limit, a configuration its GPU cannot run: a precision its hardware lacks, or
    more memory than it has (:func:`need`). A GPU without a memory figure (a ``--gpu-spec`` without ``memory_gb``) is
    checked for precision only; a calibrated GPU and a configuration without a GPU are not checked."""
    if config.gpu is None:
        return
    try:
        gpu = get_spec(config.gpu)
    except UserError:
        return  # a GPU known by a calibration (energy-nb calibrate): no datasheet, so its memory is not checked
    if config.dtype not in gpu.dtypes:
        raise UserError(f"{config.dtype} on {config.gpu} cannot run: its hardware runs {', '.join(gpu.dtypes)} "
                        f"({(gpu.memory_source or gpu.source).split(';')[0]}); allowed: --dtype "
                        f"{' or '.join(gpu.dtypes)}")
    if gpu.memory_gb is None:
        return
    m = need(config)
    if m.total > gpu.memory_gb * GIB:
        fit = largest_batch(config, gpu.memory_gb)
        allowed = (f"batch size up to {fit}" if fit else
                   "a GPU with more memory, or half precision" if config.dtype == "fp32" else "a GPU with more memory")
        where = f"{config.gpu} ({gpu.memory_source.split(';')[0]})"
        what = (f"{config.model} {config.height}x{config.width} {config.dtype} batch {config.batch_size}"
                + (" with CFG" if config.cfg else "") + (f" on {config.num_gpus} GPUs" if config.num_gpus > 1 else ""))
        raise UserError(f"{what} does not fit on {where}: it needs {m.text()}, without CPU offloading; allowed: "
                        f"{allowed}")


def largest_batch(config: Configuration, memory_gb: float, limit: int = 4096) -> int:
    """The largest batch size of ``config`` whose lower bound fits in ``memory_gb`` (0: not even one image)."""
    def fits(b: int) -> bool:
        return need(config.replace(batch_size=b)).total <= memory_gb * GIB

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    if hi > limit:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def fits(config: Configuration) -> bool:
    """Whether :func:`check` accepts ``config``."""
    try:
        check(config)
    except UserError:
        return False
    return True
