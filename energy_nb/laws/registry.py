"""One interface for every energy law, and one registry of named laws.

Every fitted law -- the paper's Eq. 3 (:class:`energy_nb.fit.ScalingLaw`) and the physically
motivated candidates (:class:`energy_nb.physical.PhysicalLaw`) -- satisfies :class:`Law`: ``predict``
a frame, ``per_image`` / ``predict_one`` a configuration (with the reasons it extrapolates), ``table``
and ``describe`` itself, ``save`` with its provenance; :func:`load` reads any of them back.

Three entry points, for every name in :data:`LAW_NAMES`:

- :func:`fit` -- fit a law on a frame you give (e.g. the training folds of a validation);
- :func:`get` -- the law fitted on the shipped data, as ``predict``, ``plan`` and the book use it
  (``paper``: one law per model, on that model's rows; physical laws: one law shared by all models).
  Fitted once and kept on disk, keyed by the data's sha256, the law, the FLOPs convention, the model
  and the code version;
- :func:`load` -- a law saved with ``save`` / ``energy-nb fit --out``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ..core.cache import cache_dir, write_atomic
from ..core.errors import UserError
from ..core.versions import __version__
from ..models.configuration import Configuration
from .physical import LAW_TERMS, PHYSICAL_LAWS
from .transfer import LAW_TERMS as TRANSFER_TERMS
from .transfer import TRANSFER_LAWS

LAW_NAMES: tuple[str, ...] = ("paper", *PHYSICAL_LAWS, *TRANSFER_LAWS)
#: The law that answers when the paper's per-model law cannot (a model without energy rows of its own, or
#: a GPU without data): the candidate the selection of :func:`energy_nb.validate.choose_law` picks on the
#: shipped data (a test checks that it still does).
DEFAULT_SHARED = "roofline_tc_kernels"
#: The law that answers for a GPU without energy data (priced from its datasheet): the transfer law with the
#: smallest mean leave-one-GPU-out error among :data:`energy_nb.transfer.TRANSFER_LAWS` (the question it
#: answers; a test checks that too).
DEFAULT_DATASHEET = "achieved"
AUTO = "auto"
#: Subpackages whose code shapes a fitted law (this layer and every layer below it): a change to any of
#: their files refits cached laws.
CODE_LAYERS = ("core", "models", "compute", "data", "laws")


@runtime_checkable
class Law(Protocol):
    """What every fitted law offers (energies in J; intervals are prediction intervals at ``level``)."""

    name: str
    kind: str  #: "paper", "physical" or "transfer"
    convention: str  #: FLOPs convention of its features
    domain: dict[str, Any]  #: what its training rows cover
    reference_prompts: int  #: per-image energy = E(N) / N at this N
    provenance: dict[str, Any]
    baseline_gpu: str
    gpus: list[str]
    dtypes: list[str]
    r2: float
    n_obs: int

    def predict(self, df: pd.DataFrame, level: float = 0.95,
                gpu_as: dict[str, str] | None = None) -> pd.DataFrame: ...

    def per_image(self, config: Configuration, level: float = 0.95,
                  gpu_as: dict[str, str] | None = None) -> dict: ...

    def predict_one(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None,
                    n_scaling: str = "linear") -> dict: ...

    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]: ...

    def table(self) -> pd.DataFrame: ...

    def describe(self) -> dict: ...

    def save(self, path: str | Path) -> Path: ...


@dataclass(frozen=True)
class LawSpec:
    """A named law: how to fit it and how :func:`get` fits it on the shipped data."""

    name: str
    kind: str
    default_convention: str
    per_model: bool  #: True: :func:`get` fits one law per model (on that model's rows only)
    summary: str
    fitter: Callable[..., Law]
    #: what :func:`get` fits it on: "shipped" (:func:`energy_nb.data.shipped.shipped_data`) or "all" (law_data)
    data: str = "shipped"


def _fit_paper(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.scaling import fit as fit_paper

    return fit_paper(df, convention=convention, name=name, provenance=provenance, **options)


def _fit_transfer(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.transfer import fit_transfer

    if convention != "counted":
        raise UserError(f"law {name!r} prices counted FLOPs by kind: use convention 'counted'")
    return fit_transfer(name, df, provenance=provenance, **options)


def _fit_physical(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.physical import fit_physical

    return fit_physical(name, df, convention=convention, provenance=provenance, **options)


REGISTRY: dict[str, LawSpec] = {
    "paper": LawSpec("paper", "paper", "paper", True,
                     "Eq. 3 per image: log e = log a + alpha log FLOPs + beta_dtype I_fp32 + sum beta_gpu I_gpu "
                     "+ beta_res log(HW/256) + beta_batch log B, per model", _fit_paper),
    **{n: LawSpec(n, "physical", "counted", False,
                  "linear in energy, shared by all models: " + " + ".join(LAW_TERMS[n]), _fit_physical, data="all")
       for n in PHYSICAL_LAWS},
    **{n: LawSpec(n, "transfer", "counted", False,
                  "priced by the GPU's datasheet (power limit x ideal times), shared by all models and GPUs: "
                  + " + ".join(TRANSFER_TERMS[n]), _fit_transfer, data="all")
       for n in TRANSFER_LAWS},
}


def spec(name: str) -> LawSpec:
    """The registry entry of ``name``; an unknown name lists the allowed ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown law {name!r}; allowed: {', '.join(LAW_NAMES)}") from None


def default_convention(name: str) -> str:
    """The FLOPs convention a law uses unless told otherwise (paper: printed formulas; others: counted)."""
    return spec(name).default_convention


def fit(name: str, df: pd.DataFrame, convention: str | None = None, provenance: dict | None = None,
        baseline_gpu: str = "A100", **options) -> Law:
    """Fit the law called ``name`` on the ``ok`` rows of ``df`` (shared schema); GPUs other than
    ``baseline_gpu`` get their own term (paper: an indicator; physical: a factor). ``options`` go to
    the law's fitter (``per_image=True`` for the paper's law in its per-image form)."""
    s = spec(name)
    return s.fitter(name, df, convention or s.default_convention, provenance, baseline_gpu=baseline_gpu, **options)


def load(path: str | Path) -> Law:
    """A law saved with ``save`` / ``energy-nb fit --out``: the paper's or a physical one."""
    from ..laws.physical import PhysicalLaw
    from ..laws.scaling import ScalingLaw
    from ..laws.transfer import TransferLaw

    try:
        data = json.loads(Path(path).read_text())
        cls = {"physical": PhysicalLaw, "transfer": TransferLaw}.get(data.get("kind"), ScalingLaw)
        return cls(**data)
    except (OSError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise UserError(f"cannot read a law from {path}: {exc}") from exc


@lru_cache(maxsize=4)
def code_version(layers: tuple[str, ...] = CODE_LAYERS) -> str:
    """energy_nb's version plus a digest of the source files of ``layers`` (default: those a fitted law depends
    on) and of the registry files."""
    h = hashlib.sha256()
    package = Path(__file__).parent.parent
    for layer in layers:
        for f in sorted((package / layer).glob("*.py")):
            h.update(f"{layer}/{f.name}".encode() + b"\0" + f.read_bytes())
    from ..models.registry import MODELS_DIR

    for f in sorted(MODELS_DIR.glob("*.yml")):  # the registry shapes the features a law is fitted on
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


def _cache_path(name: str, convention: str, model: str | None, data_sha: str) -> Path:
    key = hashlib.sha256(json.dumps([name, convention, model, data_sha, code_version()]).encode()).hexdigest()[:20]
    return cache_dir() / "laws" / f"{name}-{convention}-{model or 'all'}-{key}.json"


_MEMORY: dict[tuple, Law] = {}


def get(name: str = "paper", model: str | None = None, convention: str | None = None, own: bool = False) -> Law:
    """The law ``name`` fitted on the shipped data, from the cache when it is there. ``paper`` needs
    ``model``: one law per model, in its per-image form, on that model's rows of
    :func:`energy_nb.data.law_data` (the paper's tables, our GPU measurements and ML.ENERGY's rows made
    net of idle power: hence its GPU and batch terms). The shared laws (physical and transfer) ignore
    ``model`` and are fitted on all of it too, every model, both GPUs and ML.ENERGY's batches -- unless
    ``own``: then a physical law is fitted on ``model``'s rows alone, as the paper's is (the candidates
    :func:`energy_nb.evaluation.selection.answer` chooses among)."""
    from ..core import paths
    from ..data.shipped import law_data, shipped_data, shipped_files, shipped_sha256
    from ..models.registry import get_model

    s = spec(name)
    if own and s.kind == "physical":
        s = LawSpec(s.name, s.kind, s.default_convention, True, s.summary, s.fitter, s.data)
    if s.per_model:
        if model is None:
            raise UserError(f"law {name!r} is fitted per model: say which model")
        from ..compute.flops import native_convention

        model = get_model(model).key
        # the printed formulas exist for the paper's models only; the others use counted FLOPs
        convention = convention or (native_convention(model) if s.default_convention == "paper"
                                    else s.default_convention)
    else:
        model = None
        convention = convention or s.default_convention
    data_sha = shipped_sha256()
    mem_key = (name, convention, model, data_sha)
    if mem_key in _MEMORY:
        return _MEMORY[mem_key]
    path = _cache_path(name, convention, model, data_sha)
    law: Law | None = None
    if path.exists():
        try:
            law = load(path)
        except ValueError:
            law = None  # damaged entry: refit and rewrite
    if law is None:
        df = law_data() if model is not None or s.data == "all" else shipped_data()
        if model is not None:
            df = df[df["model"] == model]
            if df.empty:
                raise UserError(f"law {name!r} is fitted per model and the shipped data (data/) has no energy "
                                 f"rows of {model!r}; use a shared physical law, which predicts any registry "
                                 f"model from its counted features (e.g. --law roofline_tc_kernels)")
        prov = dict(data_sha256=data_sha, data_files=[str(p.relative_to(paths.ROOT)) for p in shipped_files()],
                    code_version=code_version(),
                    fitted_on=f"shipped data, {'model ' + model if model else 'all models'}")
        law = fit(name, df, convention, provenance=prov, **({"per_image": True} if s.kind == "paper" else {}))
        if model is not None:
            law.name = f"{name} ({model})"
        from ..core.jsonio import to_json

        write_atomic(path, to_json(law.to_dict()))  # a read-only cache only costs speed
    if s.per_model and "log_F" in getattr(law, "dropped", {}):
        raise UserError(f"the shipped energy rows of {model!r} hold a single FLOPs value (one resolution "
                         f"and step count), so law {name!r} cannot say how its energy scales; use a shared "
                         f"physical law (e.g. --law roofline_tc_kernels)")
    _MEMORY[mem_key] = law
    return law


def fallback(model: str | None, gpu: str | None, gpu_as: dict[str, str] | None = None,
             why: str = "") -> tuple[Law, str]:
    """The law that answers when ``model``'s own rows cannot (none, or none on ``gpu``), and why: the shared law
    :data:`DEFAULT_SHARED` when its data hold the GPU (or ``gpu_as`` says how to treat it); else
    :data:`DEFAULT_DATASHEET`, which prices any GPU with a datasheet entry (:mod:`energy_nb.models.hardware`).
    ``why``: what the model's own rows lacked, said first."""
    from ..models.hardware import get_spec

    mapped = (gpu_as or {}).get(gpu, gpu) if gpu else None
    shared = get(DEFAULT_SHARED)
    if mapped is None or mapped in shared.gpus:
        return shared, (f"{why}: " if why else "") + (f"the shared law {DEFAULT_SHARED!r} (chosen by "
                                                      "leave-one-model-out over every model with data) answers")
    get_spec(mapped)  # a GPU without a datasheet: a clear error naming the known ones
    return get(DEFAULT_DATASHEET), (f"GPU {gpu} has no energy data: priced from its datasheet by the transfer law "
                                    f"{DEFAULT_DATASHEET!r}")
