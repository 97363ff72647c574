"""Registry of the four models: the real diffusers / transformers classes with their public configs.

Energy depends on the architecture, not on the weights, so every model here can be built from its
config dict with random weights: **full size** (the public ``config.json`` values of the released
checkpoints) or **tiny** (same classes, minute widths, for CPU tests and smoke sweeps). Full-size
models are only ever built on the ``meta`` device on a CPU machine (no memory is allocated).

Sources of the full-size configs (Hugging Face model repos, ``*/config.json``):
``stabilityai/stable-diffusion-2``, ``stabilityai/stable-diffusion-3.5-large``,
``black-forest-labs/FLUX.1-dev``, ``Qwen/Qwen-Image`` (text encoder: ``Qwen/Qwen2.5-VL-7B-Instruct``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported only to build a module (a prediction needs none of it)
    import torch

SIZES = ("full", "tiny")


@dataclass(frozen=True)
class Component:
    """One network of a pipeline: its class and its config (full and tiny)."""

    role: str  #: "denoiser", "vae", or "text_encoder", "text_encoder_2", ...
    library: str  #: "diffusers" or "transformers"
    cls: str  #: class name in that library
    full: dict[str, Any]
    tiny: dict[str, Any]
    config_cls: str | None = None  #: transformers config class (None for diffusers)
    tokens: int = 0  #: for text encoders: token ids fed per prompt
    #: Which ``CORE_DIMS`` hold for this component (used by the analytic FLOPs).
    dims: dict[str, Any] = field(default_factory=dict)

    def config(self, size: str = "full") -> dict[str, Any]:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; allowed: {', '.join(SIZES)}")
        return dict(self.full if size == "full" else self.tiny)


@dataclass(frozen=True)
class ModelSpec:
    """A text-to-image model: its pipeline, components and geometry."""

    key: str
    name: str
    hf_id: str
    pipeline: str  #: diffusers pipeline class
    components: tuple[Component, ...]
    text_tokens: int  #: context tokens the denoiser attends to (paper: Flux 512, SD3.5 333, Qwen 12, SD2 77)
    latent_factor: int  #: VAE spatial down-sampling factor
    patch: int  #: denoiser patch size on the latent grid
    latent_channels: int
    denoiser_params_b: float  #: parameters of the denoiser, billions (paper Sec. 4.3)
    true_cfg: str  #: how true CFG doubles the work in the pipeline
    #: True when the pipeline runs CFG as one denoiser call on a batch of 2 (weights read and kernels
    #: launched once per step); False when it makes a second call (Flux, Qwen-Image: true CFG).
    cfg_batched: bool = False

    @property
    def multiple(self) -> int:
        """Height and width must be multiples of this (latent factor x patch size)."""
        return self.latent_factor * self.patch

    def component(self, role: str) -> Component:
        for c in self.components:
            if c.role == role:
                return c
        raise KeyError(f"model {self.key!r} has no component {role!r}; it has: "
                       + ", ".join(c.role for c in self.components))

    @property
    def text_encoders(self) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.role.startswith("text_encoder"))


# ---------------------------------------------------------------------------------------------------
# Text encoders (transformers)
# ---------------------------------------------------------------------------------------------------
_CLIP_TINY = dict(vocab_size=1000, bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, max_position_embeddings=77, projection_dim=32)

CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
              projection_dim=768)
OPENCLIP_BIGG = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                     num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu",
                     projection_dim=1280)
OPENCLIP_H = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                  num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu",
                  projection_dim=512)
T5_XXL = dict(vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
              relative_attention_max_distance=128, is_encoder_decoder=False, use_cache=False)
_T5_TINY = dict(vocab_size=1000, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False)
QWEN25_VL_7B = dict(
    text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                     num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                     rms_norm_eps=1e-6, rope_theta=1000000.0,
                     rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}),
    vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                       out_hidden_size=3584, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                       window_size=112, fullatt_block_indexes=[7, 15, 23, 31], in_chans=3),
)
_QWEN_TINY = dict(
    text_config=dict(vocab_size=1000, bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                     rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}),
    vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                       fullatt_block_indexes=[0]),
)


def _clip(role: str, full: dict, with_projection: bool, dims: dict) -> Component:
    return Component(role, "transformers", "CLIPTextModelWithProjection" if with_projection else "CLIPTextModel",
                     full, _CLIP_TINY, config_cls="CLIPTextConfig", tokens=77, dims=dims)


def _t5(tokens: int, tiny_width: int = 32) -> Component:
    tiny = dict(_T5_TINY, d_model=tiny_width)
    return Component("text_encoder_t5", "transformers", "T5EncoderModel", T5_XXL, tiny,
                     config_cls="T5Config", tokens=tokens,
                     dims=dict(d_model=4096, d_ff=10240, d_attn=4096, n_layer=24, glu=True))


# ---------------------------------------------------------------------------------------------------
# VAEs (diffusers)
# ---------------------------------------------------------------------------------------------------
_KL_BLOCKS = dict(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                  in_channels=3, out_channels=3, layers_per_block=2, norm_num_groups=32, act_fn="silu")
_KL_TINY = dict(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                in_channels=3, out_channels=3, layers_per_block=1, norm_num_groups=4,
                block_out_channels=[8, 8, 16, 16])


def _kl_vae(latent_channels: int, quant: bool, **extra) -> Component:
    full = dict(_KL_BLOCKS, block_out_channels=[128, 256, 512, 512], latent_channels=latent_channels,
                use_quant_conv=quant, use_post_quant_conv=quant, **extra)
    # Tiny denoisers all work on 4 latent channels.
    tiny = dict(_KL_TINY, latent_channels=4, use_quant_conv=quant, use_post_quant_conv=quant, **extra)
    return Component("vae", "diffusers", "AutoencoderKL", full, tiny,
                     dims=dict(kind="kl", block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                               latent_channels=latent_channels, quant=quant))


# ---------------------------------------------------------------------------------------------------
# The four models
# ---------------------------------------------------------------------------------------------------
SD2 = ModelSpec(
    key="sd2", name="Stable Diffusion 2", hf_id="stabilityai/stable-diffusion-2",
    pipeline="StableDiffusionPipeline",
    components=(
        Component("denoiser", "diffusers", "UNet2DConditionModel", dict(
            sample_size=96, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=[320, 640, 1280, 1280], attention_head_dim=[5, 10, 20, 20],
            cross_attention_dim=1024, use_linear_projection=True, norm_num_groups=32,
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
        ), dict(
            sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=[8, 16, 16, 16], attention_head_dim=[2, 2, 2, 2],
            cross_attention_dim=32, use_linear_projection=True, norm_num_groups=4,
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
        ), dims=dict(kind="unet")),
        _kl_vae(4, quant=True, scaling_factor=0.18215),
        _clip("text_encoder", OPENCLIP_H, False,
              dict(d_model=1024, d_ff=4096, d_attn=1024, n_layer=23)),
    ),
    text_tokens=77, latent_factor=8, patch=1, latent_channels=4, denoiser_params_b=0.865,
    true_cfg="batch of 2 (negative + positive embeddings) through the U-Net", cfg_batched=True,
)

SD35 = ModelSpec(
    key="sd35", name="Stable Diffusion 3.5 Large", hf_id="stabilityai/stable-diffusion-3.5-large",
    pipeline="StableDiffusion3Pipeline",
    components=(
        Component("denoiser", "diffusers", "SD3Transformer2DModel", dict(
            sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=38,
            attention_head_dim=64, num_attention_heads=38, joint_attention_dim=4096,
            caption_projection_dim=2432, pooled_projection_dim=2048, pos_embed_max_size=192,
            qk_norm="rms_norm", dual_attention_layers=(),
        ), dict(
            sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=2,
            attention_head_dim=8, num_attention_heads=2, joint_attention_dim=64,
            caption_projection_dim=16, pooled_projection_dim=64, pos_embed_max_size=96,
            qk_norm="rms_norm", dual_attention_layers=(),
        ), dims=dict(kind="mmdit", d_model=2432, d_ff=4 * 2432, d_attn=2432, n_layer=38)),
        _kl_vae(16, quant=False, scaling_factor=1.5305, shift_factor=0.0609),
        _clip("text_encoder", CLIP_L, True, dict(d_model=768, d_ff=3072, d_attn=768, n_layer=12)),
        _clip("text_encoder_2", OPENCLIP_BIGG, True, dict(d_model=1280, d_ff=5120, d_attn=1280, n_layer=32)),
        # Tiny: the two CLIP widths (2 x 32) are zero-padded to the T5 width, as in the pipeline.
        _t5(256, tiny_width=64),
    ),
    text_tokens=333, latent_factor=8, patch=2, latent_channels=16, denoiser_params_b=8.0,
    true_cfg="batch of 2 (negative + positive embeddings) through the MMDiT", cfg_batched=True,
)

FLUX = ModelSpec(
    key="flux", name="Flux.1-dev", hf_id="black-forest-labs/FLUX.1-dev",
    pipeline="FluxPipeline",
    components=(
        Component("denoiser", "diffusers", "FluxTransformer2DModel", dict(
            patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
            guidance_embeds=True, axes_dims_rope=(16, 56, 56),
        ), dict(
            patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
            guidance_embeds=True, axes_dims_rope=(4, 6, 6),
        ), dims=dict(kind="flux", d_model=3072, d_ff=12288, d_attn=3072, n_layer=19, n_single=38)),
        _kl_vae(16, quant=False, scaling_factor=0.3611, shift_factor=0.1159),
        _clip("text_encoder", CLIP_L, False, dict(d_model=768, d_ff=3072, d_attn=768, n_layer=12)),
        _t5(512),
    ),
    # Flux packs 2x2 latent patches into tokens: the transformer's patch_size is 1 on the packed grid.
    text_tokens=512, latent_factor=8, patch=2, latent_channels=16, denoiser_params_b=12.0,
    true_cfg="a second full forward pass with negative embeddings (true_cfg_scale > 1)",
)

QWEN = ModelSpec(
    key="qwen", name="Qwen-Image", hf_id="Qwen/Qwen-Image",
    pipeline="QwenImagePipeline",
    components=(
        Component("denoiser", "diffusers", "QwenImageTransformer2DModel", dict(
            patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=3584, guidance_embeds=False,
            axes_dims_rope=(16, 56, 56),
        ), dict(
            patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, guidance_embeds=False, axes_dims_rope=(4, 6, 6),
        ), dims=dict(kind="mmdit", d_model=3072, d_ff=12288, d_attn=3072, n_layer=60)),
        Component("vae", "diffusers", "AutoencoderKLQwenImage", dict(
            base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
            temperal_downsample=[False, True, True], dropout=0.0,
        ), dict(
            base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
            temperal_downsample=[False, True, True], dropout=0.0,
            latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
        ), dims=dict(kind="wan")),
        Component("text_encoder", "transformers", "Qwen2_5_VLForConditionalGeneration", QWEN25_VL_7B,
                  _QWEN_TINY, config_cls="Qwen2_5_VLConfig", tokens=12 + 34,
                  dims=dict(d_model=3584, d_ff=18944, d_attn=3584, n_layer=28, kv_dim=512, glu=True,
                            vocab=152064)),
    ),
    # The pipeline wraps each prompt in a 34-token chat template and drops those tokens afterwards:
    # the encoder sees 34 + 12 tokens, the denoiser 12.
    text_tokens=12, latent_factor=8, patch=2, latent_channels=16, denoiser_params_b=20.0,
    true_cfg="a second full forward pass with negative embeddings (true_cfg_scale > 1)",
)

REGISTRY: dict[str, ModelSpec] = {m.key: m for m in (SD2, SD35, FLUX, QWEN)}
MODEL_KEYS: tuple[str, ...] = tuple(REGISTRY)


def get_model(key: str) -> ModelSpec:
    """The registry entry for ``key``; a clear error lists the allowed keys."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise ValueError(f"unknown model {key!r}; allowed: {', '.join(MODEL_KEYS)}") from None


def check_resolution(model: str, height: int, width: int, size: str = "full") -> None:
    """Refuse a resolution the model cannot generate (not a positive multiple of latent factor x patch)."""
    spec = get_model(model)
    m = spec.multiple
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, (int,)) or isinstance(v, bool) or v < m or v % m:
            raise ValueError(f"{name} {v!r} is impossible for {model}: it must be a positive multiple of "
                             f"{m} (latent factor {spec.latent_factor} x patch {spec.patch}), e.g. 256, 512, 1024")


def check_steps(steps: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps {steps!r} is not allowed: it must be an integer >= 1")


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


def build(model: str, role: str, size: str = "full", device: "str | torch.device" = "meta",
          dtype: "torch.dtype | None" = None) -> "torch.nn.Module":
    """Build one component with random weights directly on ``device`` (default: meta, no memory).

    A full-size model is refused on a CPU device: it would need tens of GB.
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    spec = get_model(model)
    comp = spec.component(role)
    if size == "full" and torch.device(device).type == "cpu":
        raise ValueError(f"refusing to allocate full-size {model} {role} on the CPU; use device='meta' "
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
                import transformers

                config = getattr(transformers, comp.config_cls)(**cfg)
                if hasattr(config, "_attn_implementation"):
                    config._attn_implementation = "sdpa"
                module = _class(comp)(config)
            else:
                module = _class(comp)(**cfg)
    finally:
        torch.set_default_dtype(previous)
    if dtype != torch.float32:
        module = module.to(dtype=dtype)
    return module.eval()
