"""Analytic FLOPs of diffusion inference (paper Sec. 3.3, Eq. 1-2, Appendix Tables 3-5).

All functions return **FLOPs** (a multiply-add counts 2); divide by 1e9 for the paper's GFLOPs.

Three conventions, used everywhere downstream (``convention=``):

``paper``
    The formulas exactly as printed (Tables 4 and 5; Table 3 written out in full for SD2). Their
    attention term is Kaplan's ``2 n_layer n_ctx d_attn`` per token, which is the causal count.
``bidirectional``
    The same decomposition with attention counted as diffusion models run it (non-causal: scores
    *and* value mixing over all ``n_ctx`` keys, ``4 n_layer n_ctx d_attn`` per token), hyperparameters
    read from the real configs (e.g. SD3.5's feed-forward width is 4 x 2432 = 9728, printed as 9478),
    cross-attention key/value projections charged to the text tokens they run on, and the terms the
    printed tables leave out (ResNet 1x1 shortcuts, GLU / GQA shapes of the text encoders, the Qwen
    LM head).
``counted``
    What ``torch.utils.flop_counter`` counts for one forward pass of the real diffusers /
    transformers module built on the meta device (:mod:`energy_nb.compute.counting`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..core.errors import UserError
from ..models.registry import PAPER_MODELS, check_resolution, check_steps, get_model

CONVENTIONS: tuple[str, ...] = ("paper", "bidirectional", "counted")


def native_convention(model: str) -> str:
    """The paper's printed formulas for its four models; counted FLOPs for every other registry model."""
    return "paper" if get_model(model).paper else "counted"


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise UserError(f"unknown convention {convention!r}; allowed: {', '.join(CONVENTIONS)}")


# ---------------------------------------------------------------------------------------------------
# Table 4 primitives (FLOPs of one forward pass)
# ---------------------------------------------------------------------------------------------------
def conv(k: int, c_in: int, c_out: int, h: int, w: int) -> float:
    """Convolution, ``2 H W k^2 C_in C_out`` (output resolution H x W)."""
    return 2.0 * h * w * k * k * c_in * c_out


def resnet(k: int, c_in: int, c_out: int, h: int, w: int) -> float:
    """ResNet block as printed: two k x k convolutions (C_in->C_out, C_out->C_out)."""
    return conv(k, c_in, c_out, h, w) + conv(k, c_out, c_out, h, w)


def transformer(d_model: float, d_ff: float, d_attn: float, n_layer: int, n_ctx: float,
                attn: float = 1.0) -> float:
    """Kaplan transformer: ``P = 2 d n (2 d_attn + d_ff)``, ``c = 2P + 2 a n n_ctx d_attn``, times ``n_ctx``.

    ``attn=1`` is the printed (causal) attention term; ``attn=2`` counts non-causal attention.
    """
    p = 2.0 * d_model * n_layer * (2 * d_attn + d_ff)
    return n_ctx * (2 * p + 2 * attn * n_layer * n_ctx * d_attn)


def mmdit(d_model: float, d_ff: float, d_attn: float, n_layer: int, n_ctx: float, attn: float = 1.0) -> float:
    """MMDiT (two weight streams, one joint attention): ``P = 4 d n (2 d_attn + d_ff)``, ``c = P + 2 a n n_ctx d_attn``.

    Each token passes through one stream (half of P, 2 FLOPs per weight), hence ``c = P + ...``.
    """
    p = 4.0 * d_model * n_layer * (2 * d_attn + d_ff)
    return n_ctx * (p + 2 * attn * n_layer * n_ctx * d_attn)


def cross_transformer(d_q: float, d_k: float, d_ff: float, d_attn: float, n_layer: int, n_q: float,
                      n_k: float, attn: float = 1.0) -> float:
    """Cross-attention transformer as printed: ``P = 2 n [d_q (d_attn + d_ff) + d_k d_attn]``,
    ``c = 2P + 2 a n n_k d_attn``, times ``n_q`` (key/value projections charged per query token)."""
    p = 2.0 * n_layer * (d_q * (d_attn + d_ff) + d_k * d_attn)
    return n_q * (2 * p + 2 * attn * n_layer * n_k * d_attn)


def linear(d_in: float, d_out: float, n_tokens: float) -> float:
    """A dense layer applied to ``n_tokens`` tokens."""
    return 2.0 * d_in * d_out * n_tokens


def vae_decoder_paper(height: int, width: int) -> float:
    """``FLOPs_Dec(H, W)`` of Table 4 as printed (16 latent channels, 512-256-128 decoder)."""
    h0, w0 = height // 8, width // 8
    return (conv(3, 16, 512, h0, w0) + 2 * resnet(3, 512, 512, h0, w0)
            + transformer(512, 256, 512, 1, h0 * w0)
            + 3 * resnet(3, 512, 512, h0, w0) + conv(3, 512, 512, 2 * h0, 2 * w0)
            + 3 * resnet(3, 512, 512, 2 * h0, 2 * w0) + conv(3, 512, 512, 4 * h0, 4 * w0)
            + resnet(3, 512, 256, 4 * h0, 4 * w0) + 2 * resnet(3, 256, 256, 4 * h0, 4 * w0)
            + conv(3, 256, 256, 8 * h0, 8 * w0) + resnet(3, 256, 128, 8 * h0, 8 * w0)
            + 2 * resnet(3, 128, 128, 8 * h0, 8 * w0) + conv(3, 128, 3, 8 * h0, 8 * w0))


# ---------------------------------------------------------------------------------------------------
# Architecture-faithful pieces (bidirectional convention)
# ---------------------------------------------------------------------------------------------------
def resnet_full(c_in: int, c_out: int, h: int, w: int) -> float:
    """ResNet block with its 1x1 shortcut when the channel count changes."""
    return resnet(3, c_in, c_out, h, w) + (conv(1, c_in, c_out, h, w) if c_in != c_out else 0.0)


def self_attention(d: float, n: float) -> float:
    """Non-causal self-attention: Q, K, V, O projections plus scores and value mixing."""
    return 4 * linear(d, d, n) + 4.0 * n * n * d


def encoder_flops(d_model: float, d_ff: float, n_layer: int, n_ctx: float, kv_dim: float | None = None,
                  glu: bool = False, vocab_head: int = 0) -> float:
    """A text encoder with non-causal attention, optional gated FFN, grouped KV heads and LM head."""
    kv = d_model if kv_dim is None else kv_dim
    per_layer = (2 * linear(d_model, d_model, n_ctx) + 2 * linear(d_model, kv, n_ctx)
                 + 4.0 * n_ctx * n_ctx * d_model
                 + (3 if glu else 2) * linear(d_model, d_ff, n_ctx))
    return n_layer * per_layer + linear(d_model, vocab_head, n_ctx)


def kl_decoder(height: int, width: int, latent_channels: int, quant: bool,
               block_out_channels: tuple[int, ...] = (128, 256, 512, 512), layers_per_block: int = 2) -> float:
    """diffusers ``AutoencoderKL`` decoder, block by block (with shortcuts and real attention)."""
    h, w = height // 8, width // 8
    rev = list(reversed(block_out_channels))
    total = conv(1, latent_channels, latent_channels, h, w) if quant else 0.0
    total += conv(3, latent_channels, rev[0], h, w)
    total += 2 * resnet_full(rev[0], rev[0], h, w) + self_attention(rev[0], h * w)
    c_prev = rev[0]
    for i, c in enumerate(rev):
        for j in range(layers_per_block + 1):
            total += resnet_full(c_prev if j == 0 else c, c, h, w)
        c_prev = c
        if i < len(rev) - 1:
            h, w = 2 * h, 2 * w
            total += conv(3, c, c, h, w)
    return total + conv(3, block_out_channels[0], 3, h, w)


# ---------------------------------------------------------------------------------------------------
# SD2 U-Net: Table 3 written out stage by stage
# ---------------------------------------------------------------------------------------------------
def unet_stages(height: int, width: int, convention: str = "paper", size: str = "full") -> list[dict]:
    """Per-stage FLOPs of one SD2 U-Net forward pass (Table 3 with every term of its "...").

    Each stage lists every ResNet block, self- and cross-attention transformer (with feed-forward),
    ``proj_in``/``proj_out`` and up/down-sampling convolution of the real U-Net config. Returns a list
    of ``{"stage", "resolution", "term", "flops"}`` rows.
    """
    spec = get_model("sd2")
    cfg = spec.component("denoiser").config(size)
    chans = list(cfg["block_out_channels"])
    L = cfg["layers_per_block"]
    d_k, n_k = cfg["cross_attention_dim"], spec.text_tokens
    paper = convention == "paper"
    h, w = height // 8, width // 8
    rows: list[dict] = []

    def add(stage: str, term: str, flops: float, hh: int, ww: int) -> None:
        rows.append(dict(stage=stage, resolution=f"{hh}x{ww}", term=term, flops=float(flops)))

    def res(stage, c_in, c_out, hh, ww):
        f = resnet(3, c_in, c_out, hh, ww) if paper else resnet_full(c_in, c_out, hh, ww)
        add(stage, f"Res({c_in},{c_out})", f, hh, ww)

    def attn(stage, c, hh, ww):
        n = hh * ww
        add(stage, f"proj_in/out({c})", 2 * linear(c, c, n), hh, ww)
        if paper:
            add(stage, f"Tr({c},0,{c},1,n)", transformer(c, 0, c, 1, n), hh, ww)
            add(stage, f"CrossTr({c},{d_k},{6 * c},{c},1,n,{n_k})",
                cross_transformer(c, d_k, 6 * c, c, 1, n, n_k), hh, ww)
        else:
            add(stage, f"self-attn({c})", self_attention(c, n), hh, ww)
            cross = (2 * linear(c, c, n) + 2 * linear(d_k, c, n_k) + 4.0 * n * n_k * c)
            add(stage, f"cross-attn({c},{n_k})", cross, hh, ww)
            # GEGLU feed-forward: d -> 2 x 4d, then 4d -> d
            add(stage, f"FF-GEGLU({c})", linear(c, 8 * c, n) + linear(4 * c, c, n), hh, ww)

    add("ConvIn", "conv(4,320)", conv(3, cfg["in_channels"], chans[0], h, w), h, w)
    skips = [chans[0]]
    c_prev = chans[0]
    for i, btype in enumerate(cfg["down_block_types"]):
        stage = f"Down {i + 1}"
        c = chans[i]
        for j in range(L):
            res(stage, c_prev if j == 0 else c, c, h, w)
            if btype.startswith("CrossAttn"):
                attn(stage, c, h, w)
            skips.append(c)
            c_prev = c
        if i < len(chans) - 1:
            h, w = h // 2, w // 2
            add(stage, f"downsample conv({c})", conv(3, c, c, h, w), h, w)
            skips.append(c)
    stage = "Mid"
    res(stage, c_prev, c_prev, h, w)
    attn(stage, c_prev, h, w)
    res(stage, c_prev, c_prev, h, w)
    rev = list(reversed(chans))
    for i, btype in enumerate(cfg["up_block_types"]):
        stage = f"Up {i + 1}"
        c = rev[i]
        for _ in range(L + 1):
            res(stage, c_prev + skips.pop(), c, h, w)
            if btype.startswith("CrossAttn"):
                attn(stage, c, h, w)
            c_prev = c
        if i < len(rev) - 1:
            h, w = 2 * h, 2 * w
            add(stage, f"upsample conv({c})", conv(3, c, c, h, w), h, w)
    add("ConvOut", "conv(320,4)", conv(3, chans[0], cfg["out_channels"], h, w), h, w)
    assert not skips, "every skip connection must be consumed"
    return rows


# ---------------------------------------------------------------------------------------------------
# Per model: text, denoise (one step, one branch), decode
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlopBreakdown:
    """FLOPs of one prompt: text encoding and decoding once, denoising per step (one CFG branch)."""

    model: str
    height: int
    width: int
    convention: str
    text: float
    denoise_per_step: float
    decode: float

    def total(self, steps: int, cfg: bool = False) -> float:
        """Eq. 1 for one prompt: ``text + T x denoise x 2^cfg + decode`` (CFG doubles the denoiser)."""
        check_steps(steps)
        return self.text + steps * self.denoise_per_step * (2 if cfg else 1) + self.decode

    def denoise_share(self, steps: int, cfg: bool = False) -> float:
        """Fraction of Eq. 1's total spent denoising."""
        return steps * self.denoise_per_step * (2 if cfg else 1) / self.total(steps, cfg)

    def as_dict(self, steps: int | None = None, cfg: bool = False) -> dict:
        d = asdict(self)
        if steps is not None:
            d.update(steps=steps, cfg=bool(cfg), total=self.total(steps, cfg))
        return d


def _denoise(model: str, height: int, width: int, convention: str) -> float:
    spec = get_model(model)
    n_img = (height // spec.multiple) * (width // spec.multiple)
    n_ctx = n_img + spec.text_tokens
    if model == "sd2":
        return sum(r["flops"] for r in unet_stages(height, width, convention))
    if convention == "paper":
        if model == "flux":
            return mmdit(3072, 12288, 3072, 19, n_ctx) + transformer(3072, 12288, 3072, 38, n_ctx)
        if model == "qwen":
            return mmdit(3072, 12288, 3072, 60, n_ctx)
        if model == "sd35":
            return mmdit(2432, 9478, 2432, 38, n_ctx)  # d_ff as printed in Table 5
    dims = spec.component("denoiser").dims
    f = mmdit(dims["d_model"], dims["d_ff"], dims["d_attn"], dims["n_layer"], n_ctx, attn=2)
    if dims.get("n_single"):
        f += transformer(dims["d_model"], dims["d_ff"], dims["d_attn"], dims["n_single"], n_ctx, attn=2)
    return f


def _text(model: str, convention: str) -> float:
    if convention == "paper":
        if model == "flux":
            return (transformer(768, 3072, 768, 12, 77) + transformer(4096, 10240, 4096, 24, 512)
                    + 24 * 10240 * 4097)
        if model == "sd35":
            return (transformer(768, 3072, 768, 12, 77) + transformer(1280, 5120, 1280, 32, 77)
                    + transformer(4096, 10240, 4096, 24, 256) + 24 * 10240 * 4097)
        if model == "qwen":  # printed with a multi-query-attention correction
            return transformer(3584, 18944, 3584, 28, 12) + 28 * 12 * 2 * (2 * 3584 * (512 - 3584))
        if model == "sd2":  # not printed in the paper: the same Kaplan term for OpenCLIP-H, 77 tokens
            return transformer(1024, 4096, 1024, 23, 77)
    total = 0.0
    for enc in get_model(model).text_encoders:
        d = enc.dims
        total += encoder_flops(d["d_model"], d["d_ff"], d["n_layer"], enc.tokens, kv_dim=d.get("kv_dim"),
                               glu=d.get("glu", False), vocab_head=d.get("vocab", 0))
    return total


def _decode(model: str, height: int, width: int, convention: str) -> float:
    if convention == "paper":
        return vae_decoder_paper(height, width)
    spec = get_model(model)
    vae = spec.component("vae")
    if vae.dims.get("kind") == "kl":
        return kl_decoder(height, width, vae.dims["latent_channels"], vae.dims["quant"])
    # Qwen's causal 3-D VAE: analytically we use the 2-D KL decoder, as the paper does; only the
    # counted convention sees the real decoder.
    return kl_decoder(height, width, spec.latent_channels, False)


def model_flops(model: str, height: int, width: int, convention: str = "paper") -> FlopBreakdown:
    """Text-encoding, per-step denoising and decoding FLOPs of ``model`` at ``height`` x ``width``.

    ``paper`` and ``bidirectional`` exist only for the paper's four models (the paper prints formulas for
    them); every registry model has ``counted``."""
    spec = get_model(model)
    model = spec.key
    check_convention(convention)
    if convention != "counted" and not spec.paper:
        raise UserError(f"the {convention!r} FLOPs convention exists only for the paper's models "
                         f"({', '.join(PAPER_MODELS)}), whose formulas the paper prints; {model} has counted FLOPs: "
                         "use convention 'counted' (--convention counted)")
    check_resolution(model, height, width)
    if convention == "counted":
        return counted_breakdown(model, height, width)
    return FlopBreakdown(model, height, width, convention, text=_text(model, convention),
                         denoise_per_step=_denoise(model, height, width, convention),
                         decode=_decode(model, height, width, convention))


def counted_breakdown(model: str, height: int, width: int, size: str = "full") -> FlopBreakdown:
    """:class:`FlopBreakdown` from counted FLOPs (all text encoders summed), via :mod:`energy_nb.compute.features`
    (shipped table or cache; counted on the meta device only when neither has it)."""
    from ..compute import features

    spec = get_model(model)
    model = spec.key
    text = sum(features.component(model, c.role, height, width, size).flops for c in spec.text_encoders)
    return FlopBreakdown(model, height, width, "counted", text=text,
                         denoise_per_step=features.component(model, "denoiser", height, width, size).flops,
                         decode=features.component(model, "vae", height, width, size).flops)


def scaling_flops(model: str, height: int, width: int, steps: int, cfg: bool | int, n_prompts: int,
                  convention: str = "paper", size: str = "full") -> float:
    """The paper's regressor: ``N x T x FLOPs_denoise x 2^cfg`` in FLOPs (Sec. 3.3, Eq. 4).

    ``size='tiny'`` (our CPU smoke measurements) uses the counted FLOPs of the tiny architecture that
    was run, whatever the convention: the analytic formulas describe the full-size models only.
    """
    check_steps(steps)
    if n_prompts < 1:
        raise UserError(f"n_prompts {n_prompts!r} is not allowed: it must be an integer >= 1")
    if size == "tiny":
        per_step = counted_breakdown(model, height, width, size="tiny").denoise_per_step
    elif size == "full":
        per_step = model_flops(model, height, width, convention).denoise_per_step
    else:
        raise UserError(f"unknown size {size!r}; allowed: full, tiny")
    return float(n_prompts) * steps * per_step * (2 if cfg else 1)


@dataclass(frozen=True)
class Flops:
    """FLOPs of one generation: the breakdown of one prompt, ``steps`` denoising steps, CFG on or off."""

    breakdown: FlopBreakdown
    steps: int
    cfg: bool

    @property
    def total(self) -> float:
        """Eq. 1 for one prompt (FLOPs): text + T x denoise x 2^cfg + decode."""
        return self.breakdown.total(self.steps, self.cfg)

    def to_dict(self) -> dict:
        """What ``energy-nb flops --json`` prints."""
        b = self.breakdown
        return dict(model=b.model, height=b.height, width=b.width, steps=self.steps, cfg=self.cfg,
                    convention=b.convention, text=b.text, denoise_per_step=b.denoise_per_step, decode=b.decode,
                    total=self.total, units="FLOPs (multiply-add = 2); total = Eq. 1 for one prompt, CFG doubles "
                                        "denoising")

    def __str__(self) -> str:
        d = self.to_dict()
        keys = ("text", "denoise_per_step", "decode", "total")
        return "\n".join(f"{k:>17}: {d[k] / 1e9:14,.1f} GFLOPs" for k in keys)


def generation_flops(model: str, height: int, width: int, steps: int = 1, cfg: bool = False,
                     convention: str | None = None) -> Flops:
    """:class:`Flops` of one prompt; ``convention`` None: the paper's printed formulas for its four models,
    counted FLOPs for every other model (:func:`native_convention`)."""
    convention = convention or native_convention(model)
    b = model_flops(model, height, width, convention)
    check_steps(steps)
    return Flops(b, int(steps), bool(cfg))
