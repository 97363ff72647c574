"""One interface for every energy law, and one registry of named laws.

Every fitted law -- the paper's Eq. 3 (:class:`energy_nb.laws.scaling.ScalingLaw`), the physically motivated
candidates (:class:`energy_nb.laws.physical.PhysicalLaw`) and the laws priced by a GPU's datasheet
(:class:`energy_nb.laws.transfer.TransferLaw`) -- satisfies :class:`Law`: ``predict`` a frame, ``per_image`` /
``predict_one`` a configuration (a :class:`~energy_nb.laws.base.LawPrediction`, with the reasons it
extrapolates), ``table``, ``summary`` and ``describe`` itself, ``save`` with its provenance; :func:`load` reads
any of them back.

Three entry points, for every name in :data:`LAW_NAMES`:

- :func:`fit` -- fit a law on a frame you give (the training folds of a validation, ``energy-nb fit``, and
  ``energy-nb laws build``, which fits the laws that answer);
- :func:`energy_nb.laws.answer.get` -- the law fitted on the shipped data, as ``predict``, ``plan`` and the book
  use it (``paper``: one law per model, on that model's rows; the others: one law shared by all models), read
  from the laws artifact (:mod:`energy_nb.laws.artifact`): nothing is fitted when a question is asked;
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

from ..core.errors import UserError
from ..core.versions import __version__
from ..models.configuration import Configuration
from .base import DATASHEET_KINDS
from .physical import LAW_TERMS, PHYSICAL_LAWS
from .transfer import LAW_TERMS as TRANSFER_TERMS
from .transfer import TRANSFER_LAWS

#: The law that models a run's time and power by kind of operation (:mod:`energy_nb.laws.ops`).
OPS_LAWS: tuple[str, ...] = ("ops",)
LAW_NAMES: tuple[str, ...] = ("paper", *PHYSICAL_LAWS, *TRANSFER_LAWS, *OPS_LAWS)
AUTO = "auto"
#: Subpackages whose code shapes a fitted law or the choice among them (the layers up to ``laws``, and
#: ``evaluation``, where the selection runs): a change to any of their files makes the laws artifact stale.
CODE_LAYERS = ("core", "models", "compute", "data", "laws", "evaluation")


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
    time_gpu: str | None  #: whose time and idle power a gross answer uses (None: the GPU asked about)

    @property
    def interval_kind(self) -> str: ...

    @property
    def fitted(self) -> Any: ...

    def half_width(self, level: float = 0.95) -> float | None: ...

    def predict(self, df: pd.DataFrame, level: float = 0.95,
                gpu_as: dict[str, str] | None = None) -> pd.DataFrame: ...

    def per_image(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None): ...

    def predict_one(self, config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None,
                    n_scaling: str = "linear"): ...

    def extrapolation(self, config: Configuration, n_scaling: str = "linear",
                      gpu_as: dict[str, str] | None = None) -> list[str]: ...

    def table(self) -> pd.DataFrame: ...

    def describe(self) -> dict: ...

    def save(self, path: str | Path) -> Path: ...


@dataclass(frozen=True)
class LawSpec:
    """A named law: how to fit it and whether the shipped data hold one per model or one for all."""

    name: str
    kind: str
    per_model: bool  #: True: one law per model (on that model's rows only)
    summary: str
    fitter: Callable[..., Law]


def _fit_paper(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.scaling import fit as fit_paper

    return fit_paper(df, convention=convention, name=name, provenance=provenance, **options)


def _fit_transfer(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.transfer import fit_transfer

    if convention != "counted":
        raise UserError(f"law {name!r} prices counted FLOPs by kind: use convention 'counted'")
    options.pop("per_image", None)
    return fit_transfer(name, df, provenance=provenance, **options)


def _fit_physical(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.physical import fit_physical

    options.pop("per_image", None)
    return fit_physical(name, df, convention=convention, provenance=provenance, **options)


def _fit_ops(name: str, df: pd.DataFrame, convention: str, provenance: dict | None, **options) -> Law:
    from ..laws.ops import fit_ops

    if convention != "counted":
        raise UserError(f"law {name!r} prices counted FLOPs by kind: use convention 'counted'")
    options.pop("per_image", None)
    return fit_ops(df, name=name, provenance=provenance, **options)


REGISTRY: dict[str, LawSpec] = {
    "paper": LawSpec("paper", "paper", True,
                     "Eq. 3 per image: log e = log a + alpha log FLOPs + beta_dtype I_fp32 + sum beta_gpu I_gpu "
                     "+ beta_res log(HW/256) + beta_batch log B, per model", _fit_paper),
    **{n: LawSpec(n, "physical", False,
                  "linear in energy, shared by all models: " + " + ".join(LAW_TERMS[n]), _fit_physical)
       for n in PHYSICAL_LAWS},
    **{n: LawSpec(n, "transfer", False,
                  "priced by the GPU's datasheet (power limit x ideal times), shared by all models and GPUs: "
                  + " + ".join(TRANSFER_TERMS[n]), _fit_transfer)
       for n in TRANSFER_LAWS},
    "ops": LawSpec("ops", "ops", False,
                   "time and power by kind of operation (GEMM, convolution, attention, softmax, memory, kernels, "
                   "host), net energy = power x time, shared by all models and GPUs", _fit_ops),
}


def spec(name: str) -> LawSpec:
    """The registry entry of ``name``; an unknown name lists the allowed ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown law {name!r}; allowed: {', '.join(LAW_NAMES)}") from None


def conventions(name: str) -> tuple[str, ...]:
    """The FLOPs conventions law ``name`` can be fitted in: the laws that price FLOPs by kind (``roofline_*`` and the
    datasheet laws) need counted FLOPs; the others take any."""
    from ..compute.flops import CONVENTIONS

    s = spec(name)
    return ("counted",) if s.kind in DATASHEET_KINDS or name.startswith("roofline_") else CONVENTIONS


def default_convention(name: str, models: Any = None) -> str:
    """The FLOPs convention a law uses unless told otherwise: the paper's law on the paper's printed formulas
    when every model it is fitted on (``models``: keys, or a frame with a ``model`` column; None: any of the
    paper's) has them, else on counted FLOPs; every other law on counted FLOPs."""
    spec(name)
    if name != "paper":
        return "counted"
    if models is None:
        return "paper"
    from ..models.registry import REGISTRY

    keys = models["model"].astype(str).unique() if isinstance(models, pd.DataFrame) else models
    return "paper" if all(str(m) in REGISTRY and REGISTRY[str(m)].paper for m in keys) else "counted"


def fit(name: str, df: pd.DataFrame, convention: str | None = None, provenance: dict | None = None,
        baseline_gpu: str = "A100", **options) -> Law:
    """Fit the law called ``name`` on the ``ok`` rows of ``df`` (shared schema) in ``convention`` (None:
    :func:`default_convention` for those rows); GPUs other than ``baseline_gpu`` get their own term (paper: an
    indicator; physical: a factor). ``options`` go to the law's fitter (``per_image=True`` for the paper's law in
    its per-image form, the one ``predict`` answers with)."""
    s = spec(name)
    return s.fitter(name, df, convention or default_convention(name, df), provenance, baseline_gpu=baseline_gpu,
                    **options)


def from_dict(data: dict[str, Any]) -> Law:
    """A law from its ``to_dict()`` (a saved file, or an entry of the laws artifact)."""
    from ..laws.ops import OpsLaw
    from ..laws.physical import PhysicalLaw
    from ..laws.scaling import ScalingLaw
    from ..laws.transfer import TransferLaw

    cls = {"physical": PhysicalLaw, "transfer": TransferLaw, "ops": OpsLaw}.get(data.get("kind"), ScalingLaw)
    if cls is ScalingLaw and "params" in data and "coef" not in data:  # saved before the field was renamed
        data = {("coef" if k == "params" else k): v for k, v in data.items()}
    return cls(**data)


def load(path: str | Path) -> Law:
    """A law saved with ``save`` / ``energy-nb fit --out``: the paper's, a physical or a transfer one."""
    try:
        return from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise UserError(f"cannot read a law from {path}: {exc}") from exc


@lru_cache(maxsize=4)
def code_version(layers: tuple[str, ...] = CODE_LAYERS) -> str:
    """energy_nb's version plus a digest of the source files of ``layers`` (default: those a fitted law and its
    selection depend on) and of the registry files."""
    h = hashlib.sha256()
    package = Path(__file__).parent.parent
    for layer in layers:
        for f in sorted((package / layer).glob("*.py")):
            h.update(f"{layer}/{f.name}".encode() + b"\0" + f.read_bytes())
    from ..models.registry import MODELS_DIR

    for f in sorted(MODELS_DIR.glob("*.yml")):  # the registry shapes the features a law is fitted on
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"
