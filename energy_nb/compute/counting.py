"""Counted FLOPs: one forward pass of a real registry component, on the meta device.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products, convolutions and attention
kernels by operator. On the meta device nothing is allocated (a full-size Flux costs no memory) and
attention is counted too (on real CPU tensors PyTorch's attention kernels are not counted).
Element-wise work (norms, activations, softmax) is not counted by PyTorch: the counted numbers are
matrix-multiply-and-convolution FLOPs, which is also what the analytic formulas describe. Its memory
traffic is counted instead (:func:`count_elementwise`): the elements every other operator reads and
writes, the quantity a memory-bound kernel's time follows.

The pass runs in half precision (:data:`HALF`, as the fp16 / bf16 pipelines do), so that what a half-precision run
adds is seen (:class:`HalfPrecision`): the dtype casts of fp32 norms, rotary embeddings and linear attention (no-ops
in fp32), and which element-wise tensors are fp32 (4 bytes each, not the dtype's 2). Those casts are kept out of the
other counts, which are those of an fp32 run (an fp32 run dispatches none of them).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..core.errors import UserError
from ..models.build import build
from ..models.registry import check_resolution, get_model


@dataclass(frozen=True)
class OpCounts:
    """Counted FLOPs of one forward pass, total and by ATen operator."""

    model: str
    role: str
    height: int
    width: int
    total: float
    by_operator: dict[str, float]


def _inputs(model: str, role: str, height: int, width: int, size: str) -> tuple[str, dict]:
    """The method to call and its keyword inputs for one forward pass, as meta tensors (batch 1).

    One entry per network class (the registry's classes; a new class needs its inputs here)."""
    spec = get_model(model)
    comp = spec.component(role)
    cfg = comp.config(size)
    h, w = height // spec.latent_factor, width // spec.latent_factor
    meta = dict(device="meta")
    rand = lambda *shape: torch.randn(*shape, **meta)  # noqa: E731
    cls = comp.cls
    if role == "vae":
        c = cfg.get("latent_channels", cfg.get("z_dim", 4))
        if cls == "AutoencoderKLQwenImage":
            return "decode", dict(z=rand(1, c, 1, h, w))
        if cls == "VQModel":  # MoVQ: the pipelines decode without re-quantising
            return "decode", dict(h=rand(1, c, h, w), force_not_quantize=True)
        return "decode", dict(z=rand(1, c, h, w))
    if role.startswith("text_encoder"):
        n = comp.tokens
        ids = torch.zeros(1, n, dtype=torch.long, **meta)
        if cls.startswith("Qwen2_5_VL"):
            pos = torch.zeros(3, 1, n, dtype=torch.long, **meta)
            return "forward", dict(input_ids=ids, position_ids=pos)  # no mask: all tokens valid
        return "forward", dict(input_ids=ids)
    # denoisers
    ts = torch.ones(1, **meta)
    ctx = spec.text_tokens
    if cls == "UNet2DConditionModel":
        kw = dict(sample=rand(1, cfg["in_channels"], h, w), timestep=ts,
                  encoder_hidden_states=rand(1, ctx, cfg["cross_attention_dim"]))
        if cfg.get("addition_embed_type") == "text_time":  # SDXL: pooled text + 6 size/crop ids
            pooled = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
            kw["added_cond_kwargs"] = dict(text_embeds=rand(1, pooled), time_ids=rand(1, 6))
        return "forward", kw
    if cls == "SD3Transformer2DModel":
        return "forward", dict(hidden_states=rand(1, cfg["in_channels"], h, w), timestep=ts,
                               encoder_hidden_states=rand(1, ctx, cfg["joint_attention_dim"]),
                               pooled_projections=rand(1, cfg["pooled_projection_dim"]))
    if cls == "PixArtTransformer2DModel":
        return "forward", dict(hidden_states=rand(1, cfg["in_channels"], h, w), timestep=ts,
                               encoder_hidden_states=rand(1, ctx, cfg["caption_channels"]),
                               added_cond_kwargs=dict(resolution=None, aspect_ratio=None))
    if cls == "SanaTransformer2DModel":
        return "forward", dict(hidden_states=rand(1, cfg["in_channels"], h, w), timestep=ts,
                               encoder_hidden_states=rand(1, ctx, cfg["caption_channels"]))
    if cls == "Kandinsky3UNet":
        return "forward", dict(sample=rand(1, cfg["in_channels"], h, w), timestep=ts,
                               encoder_hidden_states=rand(1, ctx, cfg["encoder_hid_dim"]),
                               encoder_attention_mask=torch.ones(1, ctx, **meta))
    if cls == "HunyuanDiT2DModel":
        from diffusers.models.embeddings import get_2d_rotary_pos_embed
        from diffusers.pipelines.hunyuandit.pipeline_hunyuandit import get_resize_crop_region_for_grid

        p = cfg.get("patch_size", 2)
        n_clip, n_t5 = (c.tokens for c in spec.text_encoders)
        base = 512 // 8 // p  # as the pipeline computes its rotary embedding
        rope = get_2d_rotary_pos_embed(cfg["attention_head_dim"],
                                       get_resize_crop_region_for_grid((h // p, w // p), base), (h // p, w // p),
                                       device="meta", output_type="pt")
        return "forward", dict(hidden_states=rand(1, cfg["in_channels"], h, w), timestep=ts,
                               encoder_hidden_states=rand(1, n_clip, cfg["cross_attention_dim"]),
                               text_embedding_mask=torch.ones(1, n_clip, **meta),
                               encoder_hidden_states_t5=rand(1, n_t5, cfg["cross_attention_dim_t5"]),
                               text_embedding_mask_t5=torch.ones(1, n_t5, **meta), image_meta_size=rand(1, 6),
                               style=torch.zeros(1, dtype=torch.long, **meta), image_rotary_emb=rope)
    n = (h // 2) * (w // 2)
    if cls == "FluxTransformer2DModel":
        kw = dict(hidden_states=rand(1, n, cfg["in_channels"]), timestep=ts,
                  encoder_hidden_states=rand(1, ctx, cfg["joint_attention_dim"]),
                  pooled_projections=rand(1, cfg["pooled_projection_dim"]),
                  img_ids=torch.zeros(n, 3, **meta), txt_ids=torch.zeros(ctx, 3, **meta))
        if cfg.get("guidance_embeds"):
            kw["guidance"] = torch.ones(1, **meta)
        return "forward", kw
    if cls == "QwenImageTransformer2DModel":
        return "forward", dict(hidden_states=rand(1, n, cfg["in_channels"]), timestep=ts,
                               encoder_hidden_states=rand(1, ctx, cfg["joint_attention_dim"]),
                               img_shapes=[(1, h // 2, w // 2)])
    raise UserError(f"no counting inputs for {cls} (model {spec.key}); supported denoisers: UNet2DConditionModel, "
                     "SD3Transformer2DModel, FluxTransformer2DModel, QwenImageTransformer2DModel, "
                     "PixArtTransformer2DModel, SanaTransformer2DModel, HunyuanDiT2DModel, Kandinsky3UNet")


#: The dtype of the counting pass: bfloat16 (not float16, whose own code paths -- clamps against overflow -- a
#: bf16 run does not take); casts to and from it are what a half-precision run adds to an fp32 one.
HALF = torch.bfloat16


@cache
def _module(model: str, role: str, size: str) -> torch.nn.Module:
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # its note on casting a model with ``to()``: these weights are random
    try:
        return build(model, role, size=size, device="meta", dtype=HALF)
    finally:
        diffusers_logging.set_verbosity(level)


def _half(kwargs: dict) -> dict:
    """The inputs in :data:`HALF`, as the pipelines give them (the rotary tables HunyuanDiT's pipeline builds stay
    fp32)."""
    from torch.utils._pytree import tree_map

    cast = lambda t: t.to(HALF) if isinstance(t, torch.Tensor) and t.is_floating_point() else t  # noqa: E731
    return {k: v if k == "image_rotary_emb" else tree_map(cast, v) for k, v in kwargs.items()}


def _is_half_cast(name: str, args: tuple, out) -> bool:
    """A dtype cast between fp32 and :data:`HALF` on one device: dispatched by a half-precision run only (a no-op in
    fp32; a copy to another device is one in both)."""
    if name != "_to_copy" or not args or not isinstance(args[0], torch.Tensor) or not isinstance(out, torch.Tensor):
        return False
    if args[0].device != out.device:
        return False
    pair = {args[0].dtype, out.dtype}
    return len(pair) == 2 and HALF in pair and torch.float32 in pair


@dataclass(frozen=True)
class HalfPrecision:
    """What a half-precision run of one forward pass adds to the fp32 counts: ``kernels`` (the dtype casts it
    dispatches), ``elements`` (tensor elements those casts read + write) and ``fp32_elements`` (elements read + written
    as fp32 tensors by the element-wise operators of the half-precision run, casts included: fp32 norms, rotary
    embeddings, linear attention's upcast; 4 bytes each where the dtype's bytes are counted)."""

    kernels: int
    elements: int
    fp32_elements: int


def count_component(model: str, role: str, height: int, width: int, size: str = "full") -> OpCounts:
    """Counted FLOPs of one forward pass of ``role`` of ``model`` at ``height`` x ``width`` (meta device)."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[0]


#: ATen matrix products whose shapes :func:`_pass` records (``M,N,K`` of each; a batched one counts its batch as calls).
_GEMMS = ("mm", "addmm", "bmm", "baddbmm")


def _gemm_shape(name: str, args: tuple, out: torch.Tensor) -> tuple[str, int] | None:
    """``("M,N,K", calls)`` of a matrix product or a convolution (as the implicit GEMM cuDNN runs: M output
    pixels times batch, N output channels, K input channels per group times the kernel's area); None otherwise."""
    if name in ("mm", "addmm"):
        a = args[1] if name == "addmm" else args[0]
        return f"{a.shape[0]},{out.shape[-1]},{a.shape[1]}", 1
    if name in ("bmm", "baddbmm"):
        a = args[1] if name == "baddbmm" else args[0]
        return f"{a.shape[1]},{out.shape[-1]},{a.shape[2]}", int(a.shape[0])
    if name == "convolution":
        w = args[1]
        m = int(out.shape[0]) * int(torch.Size(out.shape[2:]).numel())
        k = int(w.shape[1]) * int(torch.Size(w.shape[2:]).numel())
        groups = int(args[8]) if len(args) > 8 else 1
        return f"{m},{int(w.shape[0]) // groups},{k}", groups
    return None


@dataclass(frozen=True)
class Shapes:
    """The work of one forward pass by shape: ``attention`` calls as ``"BH,Lq,Lk,d,dv" -> calls`` (batch times heads,
    query and key lengths, query/key and value head dimensions), dense matrix products outside attention as
    ``"M,N,K" -> calls`` (``gemm``) and convolutions as the implicit GEMMs they run (``conv``)."""

    attention: dict[str, int]
    gemm: dict[str, int]
    conv: dict[str, int]


def count_shapes(model: str, role: str, height: int, width: int, size: str = "full") -> Shapes:
    """The shapes of the attention calls, matrix products and convolutions of one forward pass (meta device)."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[3]


@cache
def _pass(model: str, role: str, height: int, width: int, size: str
          ) -> tuple[OpCounts, int, int, Shapes, HalfPrecision]:
    """One forward pass on meta, counting FLOPs (FlopCounterMode), ATen operators dispatched (views
    and aliases excluded), the tensor elements those operators other than the FLOP-counted ones
    (matrix products, convolutions, attention) read and write, and the shapes of the attention calls, matrix
    products and convolutions (:class:`Shapes`), all at the same time; and what the pass in half precision adds
    (:class:`HalfPrecision`), kept out of the rest."""
    from collections import Counter

    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    def numel(tree) -> int:
        return sum(t.numel() for t in tree_leaves(tree) if isinstance(t, torch.Tensor))

    attention: Counter = Counter()
    gemm: Counter = Counter()
    conv: Counter = Counter()

    class _Attention(TorchFunctionMode):
        """Fused attention reads q, k, v and writes its output once: the scores it decomposes into on
        the meta device never reach memory on a GPU (flash / memory-efficient kernels)."""
        inside = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is not torch.nn.functional.scaled_dot_product_attention:
                return func(*args, **(kwargs or {}))
            _Attention.inside += 1
            try:
                out = func(*args, **(kwargs or {}))
            finally:
                _Attention.inside -= 1
            _Kernels.elements += numel((args, kwargs or {}, out))
            _Kernels.n += 1  # one fused kernel on a GPU (on the meta device it decomposes into several operators)
            q, k, v = (kwargs or {}).get("query", args[0] if args else None), \
                (kwargs or {}).get("key", args[1] if len(args) > 1 else None), \
                (kwargs or {}).get("value", args[2] if len(args) > 2 else None)
            bh = int(torch.Size(q.shape[:-2]).numel())
            attention[f"{bh},{q.shape[-2]},{k.shape[-2]},{q.shape[-1]},{v.shape[-1]}"] += 1
            return out

    def fp32(tree) -> int:
        return sum(t.numel() for t in tree_leaves(tree) if isinstance(t, torch.Tensor) and t.dtype == torch.float32)

    class _Kernels(TorchDispatchMode):
        n = 0
        elements = 0
        half = [0, 0, 0]  # casts only a half-precision run dispatches, their elements, fp32 element-wise elements

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            schema = getattr(func, "_schema", None)
            if schema is None or not any(r.alias_info for r in schema.returns):
                name = func._overloadpacket.__name__
                elementwise = not _Attention.inside and func._overloadpacket not in counter.flop_registry
                if elementwise:
                    _Kernels.half[2] += fp32((args, kwargs or {}, out))
                if _is_half_cast(name, args, out):
                    _Kernels.half[0] += 0 if _Attention.inside else 1
                    _Kernels.half[1] += numel((args, out)) if elementwise else 0
                    return out
                _Kernels.n += 0 if _Attention.inside else 1  # a fused attention is one kernel (counted below)
                if elementwise:
                    _Kernels.elements += numel((args, kwargs or {}, out))
                shape = None if _Attention.inside else _gemm_shape(name, args, out)
                if shape is not None:
                    (conv if name == "convolution" else gemm)[shape[0]] += shape[1]
            return out

    module = _module(model, role, size)
    method, kwargs = _inputs(model, role, height, width, size)
    kwargs = _half(kwargs)
    with torch.no_grad(), FlopCounterMode(display=False) as counter, _Attention(), _Kernels():
        getattr(module, method)(**kwargs)
    ops = {str(k).replace("aten.", ""): float(v) for k, v in counter.get_flop_counts()["Global"].items()}
    shapes = Shapes(dict(sorted(attention.items())), dict(sorted(gemm.items())), dict(sorted(conv.items())))
    return (OpCounts(model, role, height, width, float(counter.get_total_flops()), ops), _Kernels.n, _Kernels.elements,
            shapes, HalfPrecision(*_Kernels.half))


@cache
def count_parameters(model: str, role: str, size: str = "full") -> int:
    """Parameters of one component (the meta module built for counting)."""
    return sum(p.numel() for p in _module(model, role, size).parameters())


def count_kernels(model: str, role: str, height: int, width: int, size: str = "full") -> int:
    """ATen operators one forward pass dispatches (views and aliases excluded; a fused attention call counts once,
    as the one kernel it is on a GPU): a proxy for the kernels launched on a GPU, i.e. for fixed per-kernel costs.
    Counted on the meta device."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[1]


def count_elementwise(model: str, role: str, height: int, width: int, size: str = "full") -> int:
    """Tensor elements read plus written by the operators of one forward pass that are not FLOP-counted
    (norms, activations, additions, copies, softmax outside fused attention): the activation traffic of
    memory-bound kernels, in elements (multiply by the bytes per element of the dtype). Meta device."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[2]


def count_half_precision(model: str, role: str, height: int, width: int, size: str = "full") -> HalfPrecision:
    """What a half-precision (fp16 / bf16) run of one forward pass adds to the fp32 counts (:class:`HalfPrecision`:
    cast kernels, their elements, and the fp32 elements among the element-wise traffic). Meta device."""
    check_resolution(model, height, width)
    return _pass(model, role, height, width, size)[4]
