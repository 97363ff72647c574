"""Runnable replicas of every registry pipeline (the paper's four and the others), built from the registry.

``weights="random"`` (default) assembles the real pipeline class from the registry's components with
random weights, full size (on a GPU) or tiny (anywhere). No tokenizer or checkpoint is needed: each
prompt is conditioned by running the model's **real text encoders** on random token ids of the
model's text length, and the pipeline receives ``prompt_embeds`` (and pooled / masks / negative
embeddings), so the text-encoder compute is still inside the measured window. ``weights="pretrained"``
loads a checkpoint the user already has (a local folder or Hugging Face cache; never downloads) and
conditions it the same way.

How each pipeline class is assembled and conditioned is data (``data/models/pipelines.yml``:
``conditioning``, ``guidance_arg``, ``unused``, ``call``); the conditioning recipes are below.
Classifier-free guidance (``cfg=True``) is switched on the way each pipeline does it: a batch of two
(``guidance_scale > 1``), or a second full forward pass with negative embeddings for Flux and
Qwen-Image (``true_cfg_scale > 1``).
"""
from __future__ import annotations

import importlib
from typing import Any

import torch

from ..core.errors import UserError
from ..models.build import build
from ..models.registry import check_resolution, check_steps, get_model, pipeline_table

WEIGHTS = ("random", "pretrained")
TORCH_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}
#: CFG scale used when CFG is on and the model's default runs without it (Flux: true_cfg_scale).
GUIDANCE_FALLBACK = 4.0
#: Tokens of the chat template the Qwen-Image pipeline wraps around each prompt and drops afterwards.
QWEN_TEMPLATE_TOKENS = 34


def torch_dtype(dtype: str) -> torch.dtype:
    try:
        return TORCH_DTYPES[dtype]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r}; allowed: {', '.join(TORCH_DTYPES)}") from None


def check_device(device: str) -> torch.device:
    """A usable torch device, or a clear error (e.g. ``cuda`` on a machine without a GPU)."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UserError(f"unknown device {device!r}; allowed: cpu, cuda, cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu "
                         "(with --size tiny)")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device!r} is not supported; allowed: cpu, cuda, cuda:N")
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
        self.model = self.spec.key
        self.table = pipeline_table()[self.spec.pipeline]
        self.size = size
        self.dtype = dtype
        self.torch_dtype = torch_dtype(dtype)
        self.device = check_device(device)
        if weights not in WEIGHTS:
            raise UserError(f"unknown weights {weights!r}; allowed: {', '.join(WEIGHTS)}")
        self.weights = weights
        if size == "full" and self.device.type == "cpu" and weights == "random":
            raise UserError(f"full-size {self.model} on the CPU would need tens of GB and hours per image; "
                             "use --size tiny on the CPU, or --device cuda")
        self.pipe = self._load_pretrained(pretrained) if weights == "pretrained" else self._assemble()
        self.pipe.set_progress_bar_config(disable=True)

    @property
    def guidance_on(self) -> float:
        """The CFG scale used when CFG is on: the model's default, or 4.0 where its default is off."""
        g = float(self.spec.defaults.get("guidance") or 1.0)
        return g if g > 1.0 else GUIDANCE_FALLBACK

    def _unused(self) -> dict[str, Any]:
        init = _init_args(self.spec.pipeline)
        out: dict[str, Any] = {n: None for n in self.table.get("unused", ()) if n in init}
        out.update(self.table.get("extra_init", {}))
        return out

    # -- construction ---------------------------------------------------------------------------------
    def _assemble(self):
        import diffusers

        kwargs: dict[str, Any] = {}
        for comp in self.spec.components:
            kwargs[comp.pipe] = build(self.model, comp.role, self.size, self.device, self.torch_dtype)
        sched_cls, sched_cfg = self.spec.scheduler
        kwargs["scheduler"] = getattr(diffusers, sched_cls).from_config(sched_cfg)
        kwargs.update(self._unused())
        return getattr(diffusers, self.spec.pipeline)(**kwargs)

    def _load_pretrained(self, path: str | None):
        import diffusers

        if self.size != "full":
            raise UserError("weights='pretrained' means the released checkpoint: use size='full'")
        source = path or self.spec.hf_id
        # Tokenizers, safety checker and image encoders are never used (prompts arrive as embeddings).
        diffusers.utils.logging.disable_progress_bar()
        try:
            pipe = getattr(diffusers, self.spec.pipeline).from_pretrained(
                source, dtype=self.torch_dtype, local_files_only=True, **self._unused())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load pretrained {self.model} from {source!r} without the network "
                             f"(give --pretrained PATH to a local copy): {exc}") from exc
        return pipe.to(self.device)

    # -- conditioning ---------------------------------------------------------------------------------
    def _ids(self, encoder, n: int, generator: torch.Generator) -> torch.Tensor:
        cfg = encoder.config
        vocab = getattr(cfg, "vocab_size", None) or cfg.text_config.vocab_size
        return torch.randint(0, vocab, (1, n), generator=generator).to(self.device)

    def _pipe_component(self, role: str):
        return getattr(self.pipe, self.spec.component(role).pipe)

    @torch.no_grad()
    def encode(self, seed: int) -> dict[str, torch.Tensor]:
        """Run the real text encoders on random token ids (seeded); return the pipeline's embeddings.

        Token counts follow the registry (CLIP 77, T5 256 for SD3 / 512 for Flux / 300 for PixArt, ...).
        """
        g = torch.Generator().manual_seed(seed)
        dt = self.torch_dtype
        encs = [(self._pipe_component(c.role), c.tokens) for c in self.spec.text_encoders]
        recipe = self.table["conditioning"]

        def run(i: int, **kw):
            enc, n = encs[i]
            ids = self._ids(enc, n, g)
            return enc(ids, **kw)

        def masked(i: int):
            enc, n = encs[i]
            ids = self._ids(enc, n, g)
            mask = torch.ones_like(ids)
            return enc(input_ids=ids, attention_mask=mask)[0].to(dt), mask

        if recipe == "clip_last":
            return dict(prompt_embeds=run(0)[0].to(dt))
        if recipe == "sdxl":
            clip = [run(i, output_hidden_states=True) for i in range(2)]
            return dict(prompt_embeds=torch.cat([c.hidden_states[-2] for c in clip], dim=-1).to(dt),
                        pooled_prompt_embeds=clip[1][0].to(dt))
        if recipe == "sd3":
            clip = [run(i, output_hidden_states=True) for i in range(2)]
            t5 = run(2)[0]
            hidden = torch.cat([c.hidden_states[-2] for c in clip], dim=-1)
            hidden = torch.nn.functional.pad(hidden, (0, t5.shape[-1] - hidden.shape[-1]))
            return dict(prompt_embeds=torch.cat([hidden, t5], dim=-2).to(dt),
                        pooled_prompt_embeds=torch.cat([c[0] for c in clip], dim=-1).to(dt))
        if recipe == "flux":
            pooled = run(0).pooler_output
            t5 = run(1)[0]
            return dict(prompt_embeds=t5.to(dt), pooled_prompt_embeds=pooled.to(dt))
        if recipe == "qwen":
            enc, n = encs[0]
            ids = self._ids(enc, n, g)
            out = enc(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
            hidden = out.hidden_states[-1][:, QWEN_TEMPLATE_TOKENS:]
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=self.device)
            return dict(prompt_embeds=hidden.to(dt), prompt_embeds_mask=mask)
        if recipe in ("t5_masked", "gemma_masked"):
            emb, mask = masked(0)
            return dict(prompt_embeds=emb, prompt_attention_mask=mask)
        if recipe == "hunyuan":
            (e1, m1), (e2, m2) = masked(0), masked(1)
            return dict(prompt_embeds=e1, prompt_attention_mask=m1, prompt_embeds_2=e2, prompt_attention_mask_2=m2)
        if recipe == "kandinsky3":
            emb, mask = masked(0)
            return dict(prompt_embeds=emb, attention_mask=mask.bool())
        raise UserError(f"unknown conditioning recipe {recipe!r} for {self.spec.pipeline} "
                         f"(data/models/pipelines.yml)")

    # -- generation -----------------------------------------------------------------------------------
    def call_kwargs(self, height: int, width: int, steps: int, cfg: bool, seed: int) -> dict[str, Any]:
        """Everything the pipeline call gets for one prompt (text encoders run here)."""
        check_resolution(self.model, height, width, self.size)
        check_steps(steps)
        kw: dict[str, Any] = dict(height=height, width=width, num_inference_steps=steps, output_type="pt",
                                  generator=torch.Generator(self.device).manual_seed(seed))
        kw.update(self.table.get("call", {}))
        kw.update(self.encode(seed))
        kw[self.spec.guidance_arg] = self.guidance_on if cfg else 1.0
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
