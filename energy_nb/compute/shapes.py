"""The work of one forward pass read by the kernels a GPU runs it with: what the shapes the counting recorded
(:class:`energy_nb.compute.counting.Shapes`, the ``shapes`` of the counted features) cost beyond their FLOPs.

- **Attention** (:func:`attention`). The fused kernels PyTorch dispatches half-precision attention to
  (FlashAttention-2, vendored in PyTorch) are compiled for the head dimensions :data:`FLASH_HEAD_DIMS` and
  round a head dimension up to the next one (``HEADDIM_SWITCH`` in FlashAttention's ``static_switch.h``): a
  head dimension of 88 is computed as 96 (x1.09), 40 as 64 (x1.6), 72 as 96 (x1.33). ``flops_padded`` is the
  attention's FLOPs at the padded head dimension. Beside its two matrix products, a fused kernel takes the
  softmax of every score (exponent, maximum, sum: not on the tensor cores): ``scores`` counts them (batch x
  heads x query length x key length), the term that makes long sequences and small head dimensions slow for
  their FLOPs. A head dimension above the largest template (the VAEs' single head over 512 channels) has no
  flash kernel: ``scores_unfused`` counts its scores, which the memory-efficient kernel streams (priced like
  the others, and listed so a law can price them apart).
- **Matrix products and convolutions** (:func:`gemm`). A GEMM runs as tiles of its ``M x N`` output; a product
  whose ``M`` (tokens, or pixels for a convolution) or ``N`` (output channels) is small fills few of a GPU's
  multiprocessors and runs below the rate its FLOPs suggest. ``flops_small`` is the FLOPs of the products
  with fewer than :data:`SMALL_TILES` output tiles of :data:`TILE` x :data:`TILE` (under one wave on any GPU of
  ``data/gpus.csv``).

Units: FLOPs (a multiply-add counts 2) and score elements of one forward pass at batch 1.
"""
from __future__ import annotations

import math

#: Head dimensions FlashAttention-2 compiles a kernel for; a head dimension is computed as the next one up.
FLASH_HEAD_DIMS: tuple[int, ...] = (32, 64, 96, 128, 160, 192, 224, 256)
#: Output tile side of a half-precision tensor-core GEMM (cuBLAS / CUTLASS's common 128 x 128 tile).
TILE = 128
#: A GEMM with fewer output tiles than this fills under one wave of the smallest GPU of the table (V100: 80 SMs).
SMALL_TILES = 80


def padded_head_dim(d: int) -> int:
    """The head dimension a fused attention kernel computes ``d`` with (``d`` itself above the templates)."""
    return next((t for t in FLASH_HEAD_DIMS if d <= t), d)


def _ints(key: str) -> list[int]:
    return [int(v) for v in key.split(",")]


def attention(shapes: dict[str, dict[str, int]]) -> dict[str, float]:
    """``flops`` (4 BH Lq Lk d, as counted), ``flops_padded`` (at the padded head dimension), ``scores`` (BH Lq Lk, of
    the fused calls) and ``scores_unfused`` (of calls whose head dimension has no flash kernel) of one pass."""
    out = dict(flops=0.0, flops_padded=0.0, scores=0.0, scores_unfused=0.0)
    for key, calls in shapes.get("attention", {}).items():
        bh, lq, lk, d, dv = _ints(key)
        s = float(bh) * lq * lk * calls
        out["flops"] += 2.0 * s * (d + dv)
        out["flops_padded"] += 2.0 * s * (padded_head_dim(d) + padded_head_dim(dv))
        out["scores" if d <= FLASH_HEAD_DIMS[-1] else "scores_unfused"] += s
    return out


def gemm(shapes: dict[str, dict[str, int]]) -> dict[str, float]:
    """``flops`` of the dense matrix products and convolutions of one pass, and ``flops_small``: those of the products
    with fewer than :data:`SMALL_TILES` output tiles (see the module docstring)."""
    out = dict(flops=0.0, flops_small=0.0)
    for kind in ("gemm", "conv"):
        for key, calls in shapes.get(kind, {}).items():
            m, n, k = _ints(key)
            f = 2.0 * m * n * k * calls
            out["flops"] += f
            if math.ceil(m / TILE) * math.ceil(n / TILE) < SMALL_TILES:
                out["flops_small"] += f
    return out
