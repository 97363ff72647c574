"""The model registry: every text-to-image model the project can count, predict and replicate.

The registry is **data**: one file per model under ``data/models/`` (``<key>.yml``) and one table of
pipeline classes (``data/models/pipelines.yml``: which argument is the denoiser, text tokens, how CFG
runs, how prompts are conditioned, tiny configs of the CPU replicas). A model file either holds its
component configs inline (the paper's four models: ``sd2``, ``sd35``, ``flux``, ``qwen``) or points
to a folder in the Hugging Face layout (``model_index.json`` plus each component's ``config.json``, no
weights) under ``data/external/model-configs/``. :func:`from_directory` reads such a folder of your
own (CLI: ``--model-config DIR``) the same way.

Energy depends on the architecture, not on the weights, so every model is built from its configs with
random weights (:mod:`energy_nb.models.build`): **full size** (the released configs) or **tiny** (same
classes, minute widths, for CPU tests and smoke sweeps).
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core import paths, provenance
from ..core.errors import UserError

SIZES = ("full", "tiny")
#: Parameter counts agree with the published ones when within this many billions or this fraction
#: (published counts are rounded to one decimal in billions, or to a headline figure).
PARAMS_TOLERANCE_B, PARAMS_TOLERANCE_REL = 0.05, 0.03
MODELS_DIR: Path = paths.DATA / "models"
PIPELINES_YML: Path = MODELS_DIR / "pipelines.yml"


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
    #: Which ``CORE_DIMS`` hold for this component (used by the analytic FLOPs; paper models only).
    dims: dict[str, Any] = field(default_factory=dict)
    pipe: str = ""  #: the pipeline's argument name for it ("unet", "transformer", "movq", ...)
    source: str = ""  #: where its full config comes from (a file under data/, or "inline")

    def config(self, size: str = "full") -> dict[str, Any]:
        """A copy of the ``full`` or ``tiny`` config (deep: building a module may change nested configs in
        place, e.g. Qwen2.5-VL's ``text_config``, and the registry must not change with it)."""
        if size not in SIZES:
            raise UserError(f"unknown size {size!r}; allowed: {', '.join(SIZES)}")
        return copy.deepcopy(self.full if size == "full" else self.tiny)


@dataclass(frozen=True)
class ModelSpec:
    """A text-to-image model: its pipeline, components and geometry (one file of ``data/models``)."""

    key: str
    name: str
    hf_id: str  #: its main Hugging Face id
    pipeline: str  #: diffusers pipeline class
    components: tuple[Component, ...]
    text_tokens: int  #: context tokens the denoiser attends to (paper: Flux 512, SD3.5 333, Qwen 12, SD2 77)
    latent_factor: int  #: VAE spatial down-sampling factor
    patch: int  #: denoiser patch size on the latent grid
    latent_channels: int
    denoiser_params_b: float | None  #: published parameters of the denoiser, billions (None: not published)
    true_cfg: str  #: how CFG doubles the work in the pipeline
    #: True when the pipeline runs CFG as one denoiser call on a batch of 2 (weights read and kernels
    #: launched once per step); False when it makes a second call (Flux, Qwen-Image: true CFG).
    cfg_batched: bool = False
    hf_ids: tuple[str, ...] = ()  #: every Hugging Face id it answers to
    paper: bool = False  #: one of the paper's four models (printed FLOP formulas exist)
    paper_rank: int = 0  #: its place in the paper's tables (1-4; 0: not one of the paper's)
    total_params_b: float | None = None  #: published parameters of the whole pipeline, billions
    published_source: str = ""
    published_gap: str = ""  #: a known disagreement between our count and the published one, explained
    defaults: dict[str, Any] = field(default_factory=dict)  #: steps, height, width, guidance (published defaults)
    scheduler: tuple[str, dict[str, Any]] = ("", {})  #: class and config
    sources: str = ""
    notes: tuple[str, ...] = ()
    resolution_multiple: int = 0  #: where the pipeline needs more than latent factor x patch
    origin: str = ""  #: the registry file or the folder it was read from
    guidance_arg: str = "guidance_scale"
    label: str = ""  #: short name in figures and tables (default: ``name``)
    colour: str = ""  #: its colour in every figure (a matplotlib colour; default: from :data:`FALLBACK_COLOURS`)

    @property
    def multiple(self) -> int:
        """Height and width must be multiples of this (latent factor x patch size, or the pipeline's)."""
        return self.resolution_multiple or self.latent_factor * self.patch

    def component(self, role: str) -> Component:
        for c in self.components:
            if c.role == role:
                return c
        raise KeyError(f"model {self.key!r} has no component {role!r}; it has: "
                       + ", ".join(c.role for c in self.components))

    @property
    def text_encoders(self) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.role.startswith("text_encoder"))

    @property
    def default_cfg(self) -> bool:
        """Whether the published default configuration runs classifier-free guidance."""
        return float(self.defaults.get("guidance", 1.0) or 0.0) > 1.0


# ---------------------------------------------------------------------------------------------------
# Reading the registry files
# ---------------------------------------------------------------------------------------------------
def _yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    from ..core.provenance import note_read

    note_read(path)
    try:
        return yaml.load(path.read_text(), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read registry file {path}: {exc}") from exc


def _json(path: Path) -> dict[str, Any]:
    from ..core.provenance import note_read

    note_read(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"missing config file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object")
    return data


@provenance.cache(maxsize=1)
def pipeline_table() -> dict[str, dict[str, Any]]:
    """``data/models/pipelines.yml``: per diffusers pipeline class, how it is built and conditioned."""
    return _yaml(PIPELINES_YML)


def supported_pipelines() -> tuple[str, ...]:
    return tuple(k for k in pipeline_table() if not k.startswith("_"))


def _pipeline_entry(pipeline: str, where: str) -> dict[str, Any]:
    table = pipeline_table()
    if pipeline not in table or pipeline.startswith("_"):
        raise UserError(f"pipeline {pipeline!r} ({where}) is not supported; supported: "
                         f"{', '.join(supported_pipelines())} (add it to {PIPELINES_YML})")
    return table[pipeline]


#: Keys of a saved config that say who saved it, not what it is.
_META_KEYS = ("architectures", "transformers_version", "torch_dtype", "dtype", "quantization_config")


def _clean(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if not k.startswith("_") and k not in _META_KEYS}


def _tiny(pipeline: str, pipe: str, cls: str, full: dict[str, Any]) -> dict[str, Any]:
    """The tiny config of ``pipe`` for ``pipeline`` plus the behaviour keys it inherits from ``full``."""
    tiny = dict(_pipeline_entry(pipeline, pipe).get("tiny", {}).get(pipe, {}))
    for k in pipeline_table().get("_tiny_inherits", {}).get(cls, ()):
        if k in full:
            tiny[k] = full[k]
    return tiny


def _latent(vae: Component) -> tuple[int, int]:
    """(spatial down-sampling factor, latent channels) of a decoder config."""
    cfg = vae.full
    blocks = cfg.get("encoder_block_out_channels") or cfg.get("block_out_channels")
    if vae.cls == "AutoencoderKLQwenImage":
        return 2 ** (len(cfg["dim_mult"]) - 1), int(cfg["z_dim"])
    if not blocks:
        raise UserError(f"cannot tell the latent factor of {vae.cls} (no block_out_channels in its config)")
    return 2 ** (len(blocks) - 1), int(cfg.get("latent_channels", 4))


def _component(folder: Path, pipeline: str, pipe: str, index: dict[str, Any], override: dict[str, Any]) -> Component:
    entry = _pipeline_entry(pipeline, str(folder))
    where = paths.DATA / override["dir"] if "dir" in override else folder
    cfg_path = where / override.get("file", f"{pipe}/config.json")
    raw = _json(cfg_path)
    listed = index.get(pipe) or [None, None]
    if "model_type" in raw or (listed[0] == "transformers"):
        library = "transformers"
        cls = override.get("class") or listed[1] or (raw.get("architectures") or [None])[0]
    else:
        library = "diffusers"
        cls = override.get("class") or raw.get("_class_name") or listed[1]
    if not cls:
        raise UserError(f"{cfg_path}: cannot tell the class of {pipe!r} (no _class_name, architectures or "
                         "model_index.json entry)")
    full = _clean(raw)
    role = ("denoiser" if pipe == entry["denoiser"] else "vae" if pipe == entry["vae"] else pipe)
    src = _relative(cfg_path)
    return Component(role=role, library=library, cls=cls, full=full, tiny=_tiny(pipeline, pipe, cls, full),
                     tokens=int(entry.get("text_encoders", {}).get(pipe, 0)), pipe=pipe, source=src)


def _scheduler(entry: dict[str, Any], folder: Path | None, index: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if folder is not None and (folder / "scheduler" / "scheduler_config.json").exists():
        raw = _json(folder / "scheduler" / "scheduler_config.json")
        return raw.get("_class_name") or entry["scheduler"], _clean(raw)
    listed = index.get("scheduler") or [None, None]
    return listed[1] or entry["scheduler"], {}


def _spec(data: dict[str, Any], origin: Path) -> ModelSpec:
    """A :class:`ModelSpec` from one registry file's contents (inline configs or a config folder)."""
    key = data.get("key") or origin.stem
    folder = paths.DATA / data["config_dir"] if data.get("config_dir") else None
    index = _json(folder / "model_index.json") if folder and (folder / "model_index.json").exists() else {}
    pipeline = data.get("pipeline") or index.get("_class_name")
    if not pipeline:
        raise UserError(f"{origin}: no pipeline class (neither 'pipeline' nor a model_index.json)")
    entry = _pipeline_entry(pipeline, str(origin))
    if folder is not None:
        overrides = data.get("components") or {}
        pipes = [entry["denoiser"], entry["vae"], *entry.get("text_encoders", {})]
        comps = tuple(_component(folder, pipeline, p, index, overrides.get(p, {})) for p in pipes)
    else:
        comps = tuple(Component(role=c["role"], library=c["library"], cls=c["class"], full=c["config"],
                                tiny=_tiny(pipeline, c["pipe"], c["class"], c["config"]),
                                config_cls=c.get("config_class"), tokens=int(c.get("tokens", 0)),
                                dims=c.get("dims", {}), pipe=c["pipe"], source="inline")
                      for c in data["components"])
    vae = next(c for c in comps if c.role == "vae")
    den = next(c for c in comps if c.role == "denoiser")
    factor, channels = _latent(vae)
    patch = int(data.get("patch") or entry.get("patch") or den.full.get("patch_size") or 1)
    sched_dir = paths.DATA / data["scheduler_dir"] if data.get("scheduler_dir") else folder
    if "scheduler" in data:
        scheduler = (data["scheduler"]["class"], dict(data["scheduler"].get("config", {})))
    else:
        scheduler = _scheduler(entry, sched_dir, index)
    cfg_mode = entry.get("cfg", "batched")
    defaults = dict(entry.get("defaults", {}))
    sample = den.full.get("sample_size")
    native = int(sample) * factor if isinstance(sample, int) else 1024
    defaults.setdefault("height", native)
    defaults.setdefault("width", native)
    defaults.update(data.get("defaults") or {})
    published = data.get("published") or {}
    hf_ids = tuple(data.get("hf_ids") or ())
    return ModelSpec(
        key=key, name=data.get("name", key), hf_id=hf_ids[0] if hf_ids else "", pipeline=pipeline, components=comps,
        text_tokens=int(data.get("text_tokens") or entry["context_tokens"]),
        latent_factor=int(data.get("latent_factor") or factor), patch=patch,
        latent_channels=int(data.get("latent_channels") or channels),
        denoiser_params_b=published.get("denoiser_params_b"),
        true_cfg=data.get("true_cfg") or {
            "batched": "batch of 2 (negative + positive embeddings) through the denoiser",
            "second_call": "a second full forward pass with negative embeddings (true_cfg_scale > 1)",
        }.get(cfg_mode, cfg_mode),
        cfg_batched=bool(data.get("cfg_batched", cfg_mode == "batched")), hf_ids=hf_ids,
        paper=bool(data.get("paper", False)), paper_rank=int(data.get("paper") or 0),
        total_params_b=published.get("total_params_b"),
        published_source=published.get("source", ""), published_gap=published.get("known_gap", ""),
        defaults=defaults, scheduler=scheduler,
        sources=data.get("sources", ""), notes=tuple(data.get("notes") or ()),
        resolution_multiple=int(data.get("multiple") or 0), origin=_relative(origin),
        guidance_arg=entry.get("guidance_arg", "guidance_scale"), label=str(data.get("label") or data.get("name", key)),
        colour=str(data.get("colour") or ""))


def _relative(p: Path) -> str:
    """``data/...`` for a file of the data (the same in a checkout and in a wheel), else relative to the checkout
    when inside it, else the path as given."""
    rel = paths.data_relative(p)
    return rel if rel.startswith("data/") or not p.resolve().is_relative_to(paths.ROOT.resolve()) \
        else p.resolve().relative_to(paths.ROOT.resolve()).as_posix()  # a local folder (--model-config): rare


def _load_registry() -> dict[str, ModelSpec]:
    out = {}
    for f in sorted(MODELS_DIR.glob("*.yml")):
        if f.name == PIPELINES_YML.name:
            continue
        spec = _spec(_yaml(f), f)
        if spec.key in out:
            raise UserError(f"{f}: model key {spec.key!r} is defined twice")
        out[spec.key] = spec
    # paper models first, in the paper's order (their registry files say it); then the others by key
    paper = sorted((k for k, s in out.items() if s.paper), key=lambda k: out[k].paper_rank)
    return {k: out[k] for k in (*paper, *sorted(set(out) - set(paper)))}


REGISTRY: dict[str, ModelSpec] = _load_registry()
#: Every model of the shipped registry (the paper's four first).
MODEL_KEYS: tuple[str, ...] = tuple(REGISTRY)
#: The paper's four models (printed FLOPs, A100 tables) in its order: the registry files with ``paper: <rank>``.
PAPER_MODELS: tuple[str, ...] = tuple(k for k in MODEL_KEYS if REGISTRY[k].paper)
#: The registry models that are not the paper's.
NEW_MODELS: tuple[str, ...] = tuple(k for k in MODEL_KEYS if k not in PAPER_MODELS)


def from_directory(path: str | Path, key: str | None = None) -> ModelSpec:
    """A model read from a local folder in the Hugging Face layout (``model_index.json`` and each
    component's ``config.json``; no weights needed). Its key is ``local:<folder name>`` unless given."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"--model-config {str(path)!r} is not a folder; give a folder in the Hugging Face "
                         "layout (model_index.json and <component>/config.json)")
    if not (folder / "model_index.json").exists():
        raise UserError(f"{folder} has no model_index.json (it names the pipeline class and its components)")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-").lower() or "model"
    data = dict(key=key or f"local:{name}", name=f"{folder.resolve().name} (local config)")
    # config_dir is relative to data/ in registry files; an absolute path works the same way
    data["config_dir"] = str(folder.resolve())
    spec = _spec(data, folder / "model_index.json")
    return replace(spec, sources=f"local configs in {folder.resolve()}")


def register(spec: ModelSpec) -> str:
    """Make ``spec`` known to every function that takes a model key (this process only); returns its key."""
    REGISTRY[spec.key] = spec
    _aliases.cache_clear()
    return spec.key


@provenance.cache(maxsize=1)
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}  # every name a model answers to, lower-cased: its key, name and Hugging Face ids
    for k, s in REGISTRY.items():
        for name in (k, s.name, *s.hf_ids):
            out.setdefault(str(name).strip().lower(), k)
    return out


def resolve(model: str, flag: str | None = None) -> str:
    """The registry key of ``model``: a key (``sdxl``), its name or any Hugging Face id it answers to, in any case.
    ``flag``: the command line option that named it (only ``--model`` offers ``--model-config DIR`` instead)."""
    aliases, asked = _aliases(), str(model).strip().lower()
    if asked in aliases or model in REGISTRY:
        return aliases.get(asked, model)
    near = list(dict.fromkeys(aliases[a] for a in difflib.get_close_matches(asked, list(aliases), 5, 0.5)))[:3]
    raise UserError(f"unknown model {model!r}" + (f"; closest: {', '.join(near)}" if near else "")
                    + f"; allowed: {', '.join(REGISTRY)} or one of their Hugging Face ids (energy-nb models lists "
                    "them)" + (", or --model-config DIR for a local config folder" if flag == "--model" else ""))


def get_model(key: str) -> ModelSpec:
    """The registry entry for ``key`` (a key or a Hugging Face id); a clear error lists the allowed keys."""
    return REGISTRY[resolve(key)]


def params_agree(ours: int, published_b: float) -> bool:
    """Whether a counted parameter number agrees with a published count in billions (see the tolerance)."""
    diff = abs(ours / 1e9 - published_b)
    return diff <= max(PARAMS_TOLERANCE_B, PARAMS_TOLERANCE_REL * published_b)


#: What counted features depend on: the networks and the geometry (not names, defaults or notes).
ARCHITECTURE_FIELDS = ("pipeline", "components", "text_tokens", "latent_factor", "patch", "latent_channels")


def spec_digest(model: str) -> str:
    """sha256 of a model's architecture as built (component classes and configs, tokens, geometry): what its
    counted features depend on. Names, defaults, published counts and notes do not enter it."""
    import dataclasses

    spec = get_model(model)
    arch = {f: getattr(spec, f) for f in ARCHITECTURE_FIELDS}
    arch["components"] = [{k: v for k, v in dataclasses.asdict(c).items() if k not in ("source", "dims")}
                          for c in spec.components]
    return hashlib.sha256(json.dumps(arch, sort_keys=True, default=str).encode()).hexdigest()


def check_resolution(model: str, height: int, width: int, size: str = "full") -> None:
    """Refuse a resolution the model cannot generate (not a positive multiple of latent factor x patch)."""
    spec = get_model(model)
    m = spec.multiple
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, (int,)) or isinstance(v, bool) or v < m or v % m:
            why = (f"latent factor {spec.latent_factor} x patch {spec.patch}" if not spec.resolution_multiple
                   else f"the {spec.pipeline} rounds to multiples of {m}")
            raise UserError(f"{name} {v!r} is impossible for {spec.key}: it must be a positive multiple of "
                             f"{m} ({why}), e.g. {m * max(1, 512 // m)}, {m * max(1, 1024 // m)}")


def check_steps(steps: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise UserError(f"steps {steps!r} is not allowed: it must be an integer >= 1")
