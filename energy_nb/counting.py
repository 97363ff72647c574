"""Counted FLOPs: one forward pass of a real registry component, on the meta device.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products, convolutions and attention
kernels by operator. On the meta device nothing is allocated (a full-size Flux costs no memory) and
attention is counted too (on real CPU tensors PyTorch's attention kernels are not counted).
Element-wise work (norms, activations, softmax) is not counted by PyTorch: the counted numbers are
matrix-multiply-and-convolution FLOPs, which is also what the analytic formulas describe.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from .architectures import build, check_resolution, get_model


@dataclass(frozen=True)
class OpCounts:
    """Counted FLOPs of one forward pass, total and by ATen operator."""

    model: str
    role: str
    height: int
    width: int
    total: float
    by_operator: dict[str, float]


def _inputs(model: str, role: str, height: int, width: int, size: str) -> dict:
    """Keyword inputs of one forward pass, as meta tensors (batch 1)."""
    spec = get_model(model)
    comp = spec.component(role)
    cfg = comp.config(size)
    h, w = height // spec.latent_factor, width // spec.latent_factor
    meta = dict(device="meta")
    if role == "vae":
        c = cfg.get("latent_channels", cfg.get("z_dim"))
        shape = (1, c, 1, h, w) if comp.cls == "AutoencoderKLQwenImage" else (1, c, h, w)
        return dict(z=torch.randn(shape, **meta))
    if role.startswith("text_encoder"):
        n = comp.tokens
        ids = torch.zeros(1, n, dtype=torch.long, **meta)
        if comp.cls.startswith("Qwen2_5_VL"):
            pos = torch.zeros(3, 1, n, dtype=torch.long, **meta)
            return dict(input_ids=ids, position_ids=pos)  # no mask: all tokens valid
        return dict(input_ids=ids)
    # denoisers
    ts = torch.ones(1, **meta)
    if comp.cls == "UNet2DConditionModel":
        return dict(sample=torch.randn(1, cfg["in_channels"], h, w, **meta), timestep=ts,
                    encoder_hidden_states=torch.randn(1, spec.text_tokens, cfg["cross_attention_dim"], **meta))
    if comp.cls == "SD3Transformer2DModel":
        return dict(hidden_states=torch.randn(1, cfg["in_channels"], h, w, **meta), timestep=ts,
                    encoder_hidden_states=torch.randn(1, spec.text_tokens, cfg["joint_attention_dim"], **meta),
                    pooled_projections=torch.randn(1, cfg["pooled_projection_dim"], **meta))
    n = (h // 2) * (w // 2)
    if comp.cls == "FluxTransformer2DModel":
        return dict(hidden_states=torch.randn(1, n, cfg["in_channels"], **meta), timestep=ts,
                    encoder_hidden_states=torch.randn(1, spec.text_tokens, cfg["joint_attention_dim"], **meta),
                    pooled_projections=torch.randn(1, cfg["pooled_projection_dim"], **meta),
                    img_ids=torch.zeros(n, 3, **meta), txt_ids=torch.zeros(spec.text_tokens, 3, **meta),
                    guidance=torch.ones(1, **meta))
    if comp.cls == "QwenImageTransformer2DModel":
        return dict(hidden_states=torch.randn(1, n, cfg["in_channels"], **meta), timestep=ts,
                    encoder_hidden_states=torch.randn(1, spec.text_tokens, cfg["joint_attention_dim"], **meta),
                    img_shapes=[(1, h // 2, w // 2)])
    raise ValueError(f"no counting inputs for {comp.cls}")


@lru_cache(maxsize=None)
def _module(model: str, role: str, size: str) -> torch.nn.Module:
    return build(model, role, size=size, device="meta")


def count_component(model: str, role: str, height: int, width: int, size: str = "full") -> OpCounts:
    """Counted FLOPs of one forward pass of ``role`` of ``model`` at ``height`` x ``width`` (meta device)."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[0]


@lru_cache(maxsize=None)
def _pass(model: str, role: str, height: int, width: int, size: str) -> tuple[OpCounts, int]:
    """One forward pass on meta, counting FLOPs (FlopCounterMode) and ATen operators dispatched (views
    and aliases excluded) at the same time."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Kernels(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = getattr(func, "_schema", None)
            if schema is None or not any(r.alias_info for r in schema.returns):
                _Kernels.n += 1
            return func(*args, **(kwargs or {}))

    module = _module(model, role, size)
    kwargs = _inputs(model, role, height, width, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter, _Kernels():
        if role == "vae":
            module.decode(**kwargs)
        else:
            module(**kwargs)
    ops = {str(k).replace("aten.", ""): float(v) for k, v in counter.get_flop_counts()["Global"].items()}
    return OpCounts(model, role, height, width, float(counter.get_total_flops()), ops), _Kernels.n


@lru_cache(maxsize=None)
def count_parameters(model: str, role: str, size: str = "full") -> int:
    """Parameters of one component (the meta module built for counting)."""
    return sum(p.numel() for p in _module(model, role, size).parameters())


def count_kernels(model: str, role: str, height: int, width: int, size: str = "full") -> int:
    """ATen operators one forward pass dispatches (views and aliases excluded): a proxy for the kernels
    launched on a GPU, i.e. for fixed per-kernel costs. Counted on the meta device."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[1]
