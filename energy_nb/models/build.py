"""Build one registry component as a torch module with random weights, directly on its device.

Energy depends on the architecture, not on the weights: every network is built from its registry config
(:mod:`energy_nb.models.registry`), **full size** (the released configs: on a GPU, or on the ``meta``
device for counting) or **tiny** (same classes, minute widths: anywhere). torch, diffusers and
transformers are imported here only, when a module is built.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..core.errors import UserError
from .registry import Component, get_model

if TYPE_CHECKING:
    import torch


def _quiet_libraries() -> None:
    import logging

    for name in ("diffusers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def _class(component: Component):
    return getattr(importlib.import_module(component.library), component.cls)


def _transformers_config(comp: Component, cfg: dict[str, Any]):
    import transformers

    cfg = dict(cfg)
    model_type = cfg.pop("model_type", None)
    if comp.config_cls:
        return getattr(transformers, comp.config_cls)(**cfg)
    if model_type:
        return transformers.AutoConfig.for_model(model_type, **cfg)
    return _class(comp).config_class(**cfg)


def build(model: str, role: str, size: str = "full", device: str | torch.device = "meta",
          dtype: torch.dtype | None = None) -> torch.nn.Module:
    """Build one component with random weights directly on ``device`` (default: meta, no memory).

    A full-size model is refused on a CPU device: it would need tens of GB.
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    spec = get_model(model)
    comp = spec.component(role)
    if size == "full" and torch.device(device).type == "cpu":
        raise UserError(f"refusing to allocate full-size {spec.key} {role} on the CPU; use device='meta' "
                         "(FLOP counting) or a GPU, or size='tiny'")
    cfg = comp.config(size)
    _quiet_libraries()
    # Parameters are created directly in ``dtype`` on ``device`` (a full-size fp16 model never
    # exists in fp32 on the GPU); the final ``.to`` catches buffers created in fp32 on purpose.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if comp.library == "transformers":
                config = _transformers_config(comp, cfg)
                # PyTorch's fused attention where the class has it (as the pipelines run), else eager
                # (Gemma-2's soft-capped attention)
                if hasattr(config, "_attn_implementation"):
                    config._attn_implementation = "sdpa" if getattr(_class(comp), "_supports_sdpa", True) else "eager"
                module = _class(comp)(config)
            else:
                module = _class(comp).from_config(cfg)
    finally:
        torch.set_default_dtype(previous)
    if dtype != torch.float32:
        module = module.to(dtype=dtype)
    return module.eval()
