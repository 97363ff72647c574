"""Runnable replicas of the four diffusers pipelines, built from the registry.

``weights="random"`` (default) assembles the real pipeline class from the registry's components with
random weights, full size (on a GPU) or tiny (anywhere). No tokenizer or checkpoint is needed: each
prompt is conditioned by running the model's **real text encoders** on random token ids of the
model's text length, and the pipeline receives ``prompt_embeds`` (and pooled / negative embeddings),
so the text-encoder compute is still inside the measured window. ``weights="pretrained"`` loads a
checkpoint the user already has (a local folder or Hugging Face cache; never downloads) and
conditions it the same way.

Classifier-free guidance (``cfg=True``) is switched on the way each pipeline does it: a batch of two
for SD2 and SD3.5 (``guidance_scale > 1``), a second full forward pass with negative embeddings for
Flux and Qwen-Image (``true_cfg_scale > 1``).
"""
from __future__ import annotations

import importlib
from typing import Any

import torch

from .architectures import build, check_resolution, check_steps, get_model

WEIGHTS = ("random", "pretrained")
TORCH_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}

#: Scheduler class and config of each released pipeline (``scheduler/scheduler_config.json``).
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sd2": ("EulerDiscreteScheduler", dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           num_train_timesteps=1000, prediction_type="v_prediction",
                                           steps_offset=1, timestep_spacing="leading")),
    "sd35": ("FlowMatchEulerDiscreteScheduler", dict(num_train_timesteps=1000, shift=3.0)),
    "flux": ("FlowMatchEulerDiscreteScheduler", dict(num_train_timesteps=1000, shift=3.0,
                                                     use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                     base_image_seq_len=256, max_image_seq_len=4096)),
    "qwen": ("FlowMatchEulerDiscreteScheduler", dict(num_train_timesteps=1000, shift=1.0,
                                                     use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                                     base_image_seq_len=256, max_image_seq_len=8192,
                                                     shift_terminal=0.02, time_shift_type="exponential")),
}

#: Guidance values used when CFG is on (the pipelines' defaults); off means 1.0 (no second pass).
GUIDANCE_ON = {"sd2": 7.5, "sd35": 7.0, "flux": 4.0, "qwen": 4.0}
#: Pipeline argument names of each component role.
PIPE_NAMES = {
    "sd2": {"denoiser": "unet", "vae": "vae", "text_encoder": "text_encoder"},
    "sd35": {"denoiser": "transformer", "vae": "vae", "text_encoder": "text_encoder",
             "text_encoder_2": "text_encoder_2", "text_encoder_t5": "text_encoder_3"},
    "flux": {"denoiser": "transformer", "vae": "vae", "text_encoder": "text_encoder",
             "text_encoder_t5": "text_encoder_2"},
    "qwen": {"denoiser": "transformer", "vae": "vae", "text_encoder": "text_encoder"},
}
#: Tokens of the chat template the Qwen-Image pipeline wraps around each prompt and drops afterwards.
QWEN_TEMPLATE_TOKENS = 34


def torch_dtype(dtype: str) -> torch.dtype:
    try:
        return TORCH_DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(TORCH_DTYPES)}") from None


def check_device(device: str) -> torch.device:
    """A usable torch device, or a clear error (e.g. ``cuda`` on a machine without a GPU)."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; allowed: cpu, cuda, cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu "
                         "(with --size tiny)")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported; allowed: cpu, cuda, cuda:N")
    return dev


def synchronize(device: torch.device) -> None:
    """Wait for all queued work on ``device`` (the edges of every measurement window)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Replica:
    """One pipeline, ready to generate: ``Replica("flux", size="tiny", device="cpu")(64, 64, 2, cfg=True)``."""

    def __init__(self, model: str, size: str = "tiny", device: str = "cpu", dtype: str = "fp32",
                 weights: str = "random", pretrained: str | None = None) -> None:
        self.spec = get_model(model)
        self.model = model
        self.size = size
        self.dtype = dtype
        self.torch_dtype = torch_dtype(dtype)
        self.device = check_device(device)
        if weights not in WEIGHTS:
            raise ValueError(f"unknown weights {weights!r}; allowed: {', '.join(WEIGHTS)}")
        self.weights = weights
        if size == "full" and self.device.type == "cpu" and weights == "random":
            raise ValueError(f"full-size {model} on the CPU would need tens of GB and hours per image; "
                             "use --size tiny on the CPU, or --device cuda")
        self.pipe = self._load_pretrained(pretrained) if weights == "pretrained" else self._assemble()
        self.pipe.set_progress_bar_config(disable=True)

    # -- construction ---------------------------------------------------------------------------------
    def _assemble(self):
        import diffusers

        kwargs: dict[str, Any] = {}
        for comp in self.spec.components:
            kwargs[PIPE_NAMES[self.model][comp.role]] = build(self.model, comp.role, self.size, self.device,
                                                               self.torch_dtype)
        sched_cls, sched_cfg = SCHEDULERS[self.model]
        kwargs["scheduler"] = getattr(diffusers, sched_cls)(**sched_cfg)
        for name in ("tokenizer", "tokenizer_2", "tokenizer_3"):
            if name in _init_args(self.spec.pipeline):
                kwargs[name] = None
        if self.model == "sd2":
            kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        return getattr(diffusers, self.spec.pipeline)(**kwargs)

    def _load_pretrained(self, path: str | None):
        import diffusers

        if self.size != "full":
            raise ValueError("weights='pretrained' means the released checkpoint: use size='full'")
        source = path or self.spec.hf_id
        # Tokenizers, safety checker and image encoders are never used (prompts arrive as embeddings).
        unused = {n: None for n in ("tokenizer", "tokenizer_2", "tokenizer_3", "safety_checker", "feature_extractor",
                                    "image_encoder") if n in _init_args(self.spec.pipeline)}
        if self.model == "sd2":
            unused["requires_safety_checker"] = False
        diffusers.utils.logging.disable_progress_bar()
        try:
            pipe = getattr(diffusers, self.spec.pipeline).from_pretrained(
                source, dtype=self.torch_dtype, local_files_only=True, **unused)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load pretrained {self.model} from {source!r} without the network "
                             f"(give --pretrained PATH to a local copy): {exc}") from exc
        return pipe.to(self.device)

    # -- conditioning ---------------------------------------------------------------------------------
    def _ids(self, encoder, n: int, generator: torch.Generator) -> torch.Tensor:
        cfg = encoder.config
        vocab = getattr(cfg, "vocab_size", None) or cfg.text_config.vocab_size
        return torch.randint(0, vocab, (1, n), generator=generator).to(self.device)

    @torch.no_grad()
    def encode(self, seed: int) -> dict[str, torch.Tensor]:
        """Run the real text encoders on random token ids (seeded); return the pipeline's embeddings.

        Token counts follow the registry (CLIP 77, T5 256 for SD3.5 / 512 for Flux, Qwen 34 + 12).
        """
        g = torch.Generator().manual_seed(seed)
        p, dt = self.pipe, self.torch_dtype
        if self.model == "sd2":
            return dict(prompt_embeds=p.text_encoder(self._ids(p.text_encoder, 77, g))[0].to(dt))
        if self.model == "sd35":
            clip = [enc(self._ids(enc, 77, g), output_hidden_states=True) for enc in (p.text_encoder, p.text_encoder_2)]
            t5_tokens = self.spec.component("text_encoder_t5").tokens
            t5 = p.text_encoder_3(self._ids(p.text_encoder_3, t5_tokens, g))[0]
            hidden = torch.cat([c.hidden_states[-2] for c in clip], dim=-1)
            hidden = torch.nn.functional.pad(hidden, (0, t5.shape[-1] - hidden.shape[-1]))
            return dict(prompt_embeds=torch.cat([hidden, t5], dim=-2).to(dt),
                        pooled_prompt_embeds=torch.cat([c[0] for c in clip], dim=-1).to(dt))
        if self.model == "flux":
            pooled = p.text_encoder(self._ids(p.text_encoder, 77, g)).pooler_output
            t5 = p.text_encoder_2(self._ids(p.text_encoder_2, self.spec.text_tokens, g))[0]
            return dict(prompt_embeds=t5.to(dt), pooled_prompt_embeds=pooled.to(dt))
        if self.model == "qwen":
            n = QWEN_TEMPLATE_TOKENS + self.spec.text_tokens
            ids = self._ids(p.text_encoder, n, g)
            out = p.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
            hidden = out.hidden_states[-1][:, QWEN_TEMPLATE_TOKENS:]
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=self.device)
            return dict(prompt_embeds=hidden.to(dt), prompt_embeds_mask=mask)
        raise AssertionError(self.model)  # pragma: no cover

    # -- generation -----------------------------------------------------------------------------------
    def call_kwargs(self, height: int, width: int, steps: int, cfg: bool, seed: int) -> dict[str, Any]:
        """Everything the pipeline call gets for one prompt (text encoders run here)."""
        check_resolution(self.model, height, width, self.size)
        check_steps(steps)
        kw: dict[str, Any] = dict(height=height, width=width, num_inference_steps=steps, output_type="pt",
                                  generator=torch.Generator(self.device).manual_seed(seed))
        kw.update(self.encode(seed))
        guidance = GUIDANCE_ON[self.model] if cfg else 1.0
        if self.model in ("sd2", "sd35"):
            kw["guidance_scale"] = guidance
        else:
            kw["true_cfg_scale"] = guidance
        if cfg:  # the negative prompt's embeddings come from the same encoders
            neg = self.encode(seed + 1_000_003)
            kw.update({"negative_" + k: v for k, v in neg.items()})
        return kw

    @torch.no_grad()
    def __call__(self, height: int, width: int, steps: int, cfg: bool = False, seed: int = 0) -> torch.Tensor:
        """Generate one image (text encoding, ``steps`` denoising steps, VAE decoding); return it."""
        return self.pipe(**self.call_kwargs(height, width, steps, cfg, seed)).images

    def close(self) -> None:
        """Free the pipeline's memory (between models in a sweep)."""
        del self.pipe
        import gc

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _init_args(pipeline: str) -> set[str]:
    import inspect

    cls = getattr(importlib.import_module("diffusers"), pipeline)
    return set(inspect.signature(cls.__init__).parameters)
