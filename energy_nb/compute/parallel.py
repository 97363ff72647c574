"""One image on several GPUs: the splits xDiT's sequence parallelism allows, and the communication each adds.

xDiT (xfuser) splits a transformer denoiser's token sequence over ``n = U x R`` GPUs (USP, unified sequence
parallelism): every GPU holds ``L / n`` tokens of the joint sequence and the whole weights, and runs every layer on
them; only attention needs the other GPUs' tokens.

- **Ulysses** (degree ``U``): around each attention, all-to-alls (:data:`A2A_PER_ATTENTION`: queries, keys, values
  in, the output back) regroup the tokens so each GPU holds all ``L`` tokens of ``heads / U`` heads -- so ``U`` must
  divide the head count. Each sends ``(U - 1) / U`` of its ``L / n x hidden`` activations per all-to-all.
- **Ring** (degree ``R``): each attention runs as ``R`` block attentions while the key and value blocks
  (``L / n x hidden`` each) pass round the ring ``R - 1`` times, and the blocks' partial results are merged.

The image tokens (the latent grid over the patch) must split evenly over the ``n`` GPUs. The text tokens of a joint
sequence are split too when they divide evenly, and are otherwise held whole by every GPU (xDiT's
``split_text_embed_in_sp``): SD3.5's 333 text tokens are copied to each GPU, FLUX.1's 512 split over 2, 4 or 8.
Each GPU therefore computes :func:`share` of the denoiser's work, at least ``1 / n``. Text encoders, the VAE
decoder and the host's work are not split. A denoiser that is a UNet has no single token sequence to split: xDiT
parallelises transformers only.

:func:`check` refuses an impossible split in one line naming the value and what is allowed; :func:`splits` lists
the valid ones; :func:`geometry` reads heads, sequence and attention layers from the counted shapes; :func:`traffic`
gives a split's communication per denoiser pass; :func:`split_table` shows the splits and shares of some models.
Units: tokens, bytes (per GPU, of one pass at batch 1), counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..core import provenance
from ..core.errors import UserError
from ..models.hardware import get_spec
from ..models.registry import get_model
from .features import component

#: All-to-alls around each attention under Ulysses: queries, keys and values in, the output back.
A2A_PER_ATTENTION = 4


@dataclass(frozen=True)
class Split:
    """How one image is split over ``num_gpus`` GPUs: Ulysses degree x Ring degree."""

    num_gpus: int
    ulysses: int
    ring: int

    def label(self) -> str:
        """``8 GPUs (Ulysses 8 x Ring 1)``, or ``1 GPU``."""
        return "1 GPU" if self.num_gpus == 1 else f"{self.num_gpus} GPUs (Ulysses {self.ulysses} x Ring {self.ring})"


@provenance.cache
def geometry(model: str, height: int, width: int) -> dict[str, int]:
    """``heads`` (attention heads of the denoiser's sequence attention), ``head_dim``, ``sequence`` (its query length:
    image plus joint text tokens), ``tokens`` (image tokens: the latent grid over the patch) and ``attentions``
    (attention calls on that sequence per denoiser pass), from the counted shapes at batch 1; a UNet is refused."""
    spec = get_model(model)
    den = spec.component("denoiser")
    if "unet" in den.cls.lower():
        raise UserError(f"model {spec.key!r} has a UNet denoiser ({den.cls}): xDiT's sequence parallelism splits "
                        "transformer denoisers only; allowed: --num-gpus 1")
    shapes = component(spec.key, "denoiser", height, width).shapes.get("attention", {})
    calls = [(tuple(int(v) for v in k.split(",")), c) for k, c in shapes.items()]
    if not calls:
        raise UserError(f"model {spec.key!r}: its denoiser has no attention to split over GPUs; allowed: --num-gpus 1")
    seq = max(k[1] for k, _ in calls)
    main = [(k, c) for k, c in calls if k[1] == seq]
    heads = math.gcd(*(k[0] for k, _ in main))
    grid = spec.latent_factor * spec.patch
    tokens = (height // grid) * (width // grid)
    return dict(heads=heads, head_dim=main[0][0][3], sequence=seq, attentions=sum(c for _, c in main),
                tokens=tokens, text=max(seq - tokens, 0))


def tokens_per_gpu(model: str, height: int, width: int, num_gpus: int) -> tuple[float, float]:
    """``(split, copied)``: the sequence tokens one of ``num_gpus`` GPUs holds as its own share, and the text tokens it
    holds whole because they do not divide evenly over the GPUs (0 when they do)."""
    g = geometry(model, height, width)
    text_split = g["text"] % num_gpus == 0
    return (g["tokens"] + g["text"] * text_split) / num_gpus, float(g["text"] * (not text_split))


def share(model: str, height: int, width: int, num_gpus: int) -> float:
    """The fraction of the denoiser's work one of ``num_gpus`` GPUs computes: its tokens over the sequence (1 on one
    GPU; ``1 / n`` when the text tokens split evenly too)."""
    if num_gpus == 1:
        return 1.0
    own, copied = tokens_per_gpu(model, height, width, num_gpus)
    return (own + copied) / geometry(model, height, width)["sequence"]



def max_gpus(gpu: str | None) -> int | None:
    """The most GPUs of ``gpu``'s part a node is sold with (``data/gpus.csv``; None: not given or no GPU)."""
    return None if gpu is None else get_spec(gpu).max_gpus_per_node


def splits(model: str, height: int, width: int, num_gpus: int, gpu: str | None = None) -> list[Split]:
    """Every valid split of one image of ``model`` at ``height`` x ``width`` over ``num_gpus`` GPUs, Ulysses-heavy
    first (empty when none is valid)."""
    if num_gpus == 1:
        return [Split(1, 1, 1)]
    g = geometry(model, height, width)
    limit = max_gpus(gpu)
    if num_gpus < 1 or (limit is not None and num_gpus > limit) or g["tokens"] % num_gpus:
        return []
    return [Split(num_gpus, u, num_gpus // u) for u in range(num_gpus, 0, -1)
            if num_gpus % u == 0 and g["heads"] % u == 0]


def check(model: str, height: int, width: int, num_gpus: int, ulysses: int | None = None, ring: int | None = None,
          gpu: str | None = None) -> list[Split]:
    """The splits ``num_gpus`` / ``ulysses`` / ``ring`` allow (one when both degrees are given; every valid one, Ulysses
    first, when neither or one is); an impossible request is refused in one line naming the value and what is
    allowed."""
    for name, v in (("--num-gpus", num_gpus), ("--ulysses", ulysses), ("--ring", ring)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise UserError(f"{name} {v!r} is not allowed: an integer >= 1")
    if num_gpus == 1:
        if (ulysses or 1) != 1 or (ring or 1) != 1:
            raise UserError(f"--ulysses {ulysses} --ring {ring} on 1 GPU: allowed: 1 and 1 (U x R = --num-gpus)")
        return [Split(1, 1, 1)]
    g = geometry(model, height, width)
    limit = max_gpus(gpu)
    if limit is not None and num_gpus > limit:
        raise UserError(f"--num-gpus {num_gpus} on {gpu}: a node of {get_spec(gpu).name} holds at most {limit} GPUs "
                        f"(data/gpus.csv); allowed: 1-{limit}")
    if g["tokens"] % num_gpus:
        ok = [n for n in range(2, (limit or 8) + 1) if g["tokens"] % n == 0]
        raise UserError(f"--num-gpus {num_gpus}: {model} at {height}x{width} has {g['tokens']} image tokens, which do "
                        f"not split evenly over {num_gpus} GPUs; allowed: {', '.join(map(str, ok))}")
    heads_ok = [u for u in range(1, num_gpus + 1) if num_gpus % u == 0 and g["heads"] % u == 0]
    for name, v in (("--ulysses", ulysses), ("--ring", ring)):
        if v is not None and num_gpus % v:
            raise UserError(f"{name} {v} does not divide --num-gpus {num_gpus}: Ulysses x Ring = {num_gpus}; allowed "
                            f"{name}: {', '.join(str(d) for d in range(1, num_gpus + 1) if num_gpus % d == 0)}")
    if ulysses is not None and ring is not None and ulysses * ring != num_gpus:
        raise UserError(f"--ulysses {ulysses} x --ring {ring} = {ulysses * ring}, not --num-gpus {num_gpus}: the "
                        "degrees' product must be the GPU count")
    u = ulysses if ulysses is not None else (num_gpus // ring if ring is not None else None)
    if u is not None and u not in heads_ok:
        raise UserError(f"--ulysses {u}: {model}'s denoiser has {g['heads']} attention heads, which Ulysses {u} does "
                        f"not divide; allowed --ulysses on {num_gpus} GPUs: {', '.join(map(str, heads_ok))}")
    return [s for s in splits(model, height, width, num_gpus, gpu) if u is None or s.ulysses == u]


def traffic(model: str, height: int, width: int, split: Split, bytes_per_element: float) -> dict[str, float]:
    """Communication of one GPU in one denoiser pass at batch 1 under ``split``: ``a2a_bytes`` (sent by its
    Ulysses all-to-alls), ``a2a`` (their count), ``p2p_bytes`` (key and value blocks it passes round the ring) and
    ``ring_steps`` (block passes: ``R - 1`` per attention); zeros on one GPU."""
    out = dict(a2a_bytes=0.0, a2a=0.0, p2p_bytes=0.0, ring_steps=0.0)
    if split.num_gpus == 1:
        return out
    g = geometry(model, height, width)
    own, _ = tokens_per_gpu(model, height, width, split.num_gpus)  # copied text tokens are not exchanged
    shard = own * g["heads"] * g["head_dim"] * bytes_per_element  # one activation of its own tokens, bytes
    if split.ulysses > 1:
        out["a2a"] = A2A_PER_ATTENTION * g["attentions"]
        out["a2a_bytes"] = out["a2a"] * shard * (split.ulysses - 1) / split.ulysses
    if split.ring > 1:
        out["ring_steps"] = (split.ring - 1) * g["attentions"]
        out["p2p_bytes"] = 2 * out["ring_steps"] * shard
    return out


def split_table(models: tuple[str, ...], gpu: str, height: int = 1024, width: int = 1024,
                counts: tuple[int, ...] = (2, 4, 8)) -> pd.DataFrame:
    """Per model and GPU count: the denoiser's heads, image and text tokens, every valid Ulysses x Ring split on
    ``gpu`` (:func:`splits`) and the share of the denoiser's work one GPU computes (%, :func:`share`) beside an even
    split (%)."""
    out = []
    for m in models:
        g = geometry(m, height, width)
        for n in counts:
            out.append(dict(model=m, heads=g["heads"], image_tokens=g["tokens"], text_tokens=g["text"], gpus=n,
                            splits=", ".join(f"U{s.ulysses} x R{s.ring}" for s in splits(m, height, width, n, gpu)),
                            share_pct=100 * share(m, height, width, n), even_pct=100 / n))
    return pd.DataFrame(out)
