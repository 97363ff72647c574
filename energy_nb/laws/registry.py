"""One interface for every energy law, and one registry of named laws, read from a table.

The laws are data (``data/laws.csv``: name, kind, whether the shipped data hold one per model, whether it models time,
the FLOPs conventions it takes, its role, what it models), read by :data:`REGISTRY`; the book's pages and ``energy-nb
laws show`` print the same table (:func:`table`). A kind is a class and its fitter (:data:`KINDS`). Every fitted law is
a :class:`Law`: ``predict`` a frame, ``per_image`` / ``predict_one`` a configuration (a
:class:`~energy_nb.laws.prediction.Prediction`, with the reasons it extrapolates), ``table``, ``summary`` and
``describe`` itself, ``save`` with its provenance; :func:`load` reads any of them back.

Three entry points, for every name in :data:`LAW_NAMES`:

- :func:`fit` -- fit a law on a frame you give (the training folds of a validation, ``energy-nb fit``, and
  ``energy-nb laws build``, which fits the laws that answer);
- :func:`energy_nb.laws.answer.get` -- the law fitted on the shipped data, as ``predict``, ``plan`` and the book
  use it, read from the laws artifact (:mod:`energy_nb.laws.artifact`): nothing is fitted when a question is asked;
- :func:`load` -- a law saved with ``save`` / ``energy-nb fit --out``.

Adding a law: a row of ``data/laws.csv``; a kind not there yet also needs its module (a :class:`FittedLaw` subclass
with ``predict`` and ``table``, and a fitter) and an entry of :data:`KINDS` (see CONTRIBUTING.md).
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import paths, provenance
from ..core.errors import UserError
from ..core.versions import __version__
from .achieved import AchievedLaw, fit_achieved
from .base import LawMixin
from .ops import OpsLaw, fit_ops
from .physical import PhysicalLaw, fit_physical
from .scaling import ScalingLaw
from .scaling import fit as fit_scaling

AUTO = "auto"
#: The table of laws.
LAWS_CSV = paths.DATA / "laws.csv"
#: Subpackages whose code shapes a fitted law or the choice among them (the layers up to ``laws``, and
#: ``evaluation``, where the selection runs): a change to any of their files makes the laws artifact stale.
CODE_LAYERS = ("core", "models", "compute", "data", "laws", "evaluation")


#: What every fitted law offers (:class:`energy_nb.laws.base.LawMixin`: ``predict`` a frame, ``per_image`` /
#: ``predict_one`` a configuration, ``table``, ``summary``, ``describe``, ``save``; energies in J).
Law = LawMixin


@dataclass(frozen=True)
class LawSpec:
    """A named law (a row of ``data/laws.csv``): its kind, whether the shipped data hold one per model or one for all,
    whether it models time, the FLOPs conventions its features take (``any``, or ``counted`` for a law that prices
    counted FLOPs by kind), its role and what it models."""

    name: str
    kind: str
    per_model: bool
    models_time: bool
    conventions: str
    role: str
    models: str

    @property
    def summary(self) -> str:
        return f"{self.role}; models {self.models}"


#: Kind -> the class of its fitted laws and its fitter ``(rows, name=, convention=, provenance=, baseline_gpu=,
#: **options) -> Law``.
KINDS: dict[str, tuple[type, Callable[..., Law]]] = {"paper": (ScalingLaw, fit_scaling),
                                                     "physical": (PhysicalLaw, fit_physical),
                                                     "transfer": (AchievedLaw, fit_achieved), "ops": (OpsLaw, fit_ops)}


def _read() -> dict[str, LawSpec]:
    with LAWS_CSV.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["name"]: LawSpec(r["name"], r["kind"], r["per_model"] == "true", r["models_time"] == "true",
                               r["conventions"], r["role"], r["models"]) for r in rows}


REGISTRY: dict[str, LawSpec] = _read()
LAW_NAMES: tuple[str, ...] = tuple(REGISTRY)


def table() -> pd.DataFrame:
    """The laws (``data/laws.csv``): name, kind, one per model or shared, whether it models time, role, what it
    models."""
    return pd.DataFrame([dict(law=s.name, kind=s.kind, fitted="per model" if s.per_model else "shared by all models",
                              time="yes" if s.models_time else "no", role=s.role, models=s.models)
                         for s in REGISTRY.values()])


def spec(name: str) -> LawSpec:
    """The registry entry of ``name``; an unknown name lists the allowed ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown law {name!r}; allowed: {', '.join(LAW_NAMES)}") from None


def conventions(name: str) -> tuple[str, ...]:
    """The FLOPs conventions law ``name`` can be fitted in (``data/laws.csv``): a law that prices counted FLOPs by kind
    needs them; the others take any."""
    from ..compute.flops import CONVENTIONS

    return CONVENTIONS if spec(name).conventions == "any" else (spec(name).conventions,)


def default_convention(name: str, models: Any = None) -> str:
    """The FLOPs convention a law uses unless told otherwise: the paper's law on the paper's printed formulas
    when every model it is fitted on (``models``: keys, or a frame with a ``model`` column; None: any of the
    paper's) has them, else on counted FLOPs; every other law on counted FLOPs."""
    spec(name)
    if name != "paper":
        return "counted"
    if models is None:
        return "paper"
    from ..models.registry import REGISTRY as MODELS

    keys = models["model"].astype(str).unique() if isinstance(models, pd.DataFrame) else models
    return "paper" if all(str(m) in MODELS and MODELS[str(m)].paper for m in keys) else "counted"


def fit(name: str, df: pd.DataFrame, convention: str | None = None, provenance: dict | None = None,
        baseline_gpu: str = "A100", **options) -> Law:
    """Fit the law called ``name`` on the ``ok`` rows of ``df`` (shared schema) in ``convention`` (None:
    :func:`default_convention` for those rows); GPUs other than ``baseline_gpu`` get their own term (paper: an
    indicator; physical: a factor). ``options`` go to the law's fitter (``per_image=True`` for the paper's law in
    its per-image form, the one ``predict`` answers with)."""
    s = spec(name)
    convention = convention or default_convention(name, df)
    if convention not in conventions(name):
        raise UserError(f"law {name!r} prices counted FLOPs by kind: use convention 'counted'")
    return KINDS[s.kind][1](df, name=name, convention=convention, provenance=provenance, baseline_gpu=baseline_gpu,
                            **options)


def from_dict(data: dict[str, Any]) -> Law:
    """A law from its ``to_dict()`` (a saved file, or an entry of the laws artifact)."""
    data = dict(data)
    if "params" in data and "coef" not in data:  # saved before the field was renamed
        data["coef"] = data.pop("params")
    if "dropped" in data:  # saved before every law named its held terms ``frozen``
        data["frozen"] = data.pop("dropped")
    family = data.get("family") or str(data.get("name", "paper")).split(" (")[0]
    kind = data.get("kind", "paper")
    if kind != "paper" and family not in REGISTRY:
        raise UserError(f"the law {data.get('name')!r} of this file is no longer one of energy-nb's laws; allowed: "
                        f"{', '.join(LAW_NAMES)} (fit it again with energy-nb fit --law NAME --out FILE)")
    return KINDS[kind][0](**data)


def load(path: str | Path) -> Law:
    """A law saved with ``save`` / ``energy-nb fit --out``."""
    try:
        return from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, TypeError, AttributeError, KeyError) as exc:
        raise UserError(f"cannot read a law from {path}: {exc}") from exc


@provenance.cache(maxsize=4)
def code_version(layers: tuple[str, ...] = CODE_LAYERS) -> str:
    """energy_nb's version plus a digest of the source files of ``layers`` (default: those a fitted law and its
    selection depend on), of the registry files and of the table of laws."""
    h = hashlib.sha256()
    package = Path(__file__).parent.parent
    for layer in layers:
        for f in sorted((package / layer).glob("*.py")):
            h.update(f"{layer}/{f.name}".encode() + b"\0" + f.read_bytes())
    from ..models.registry import MODELS_DIR

    for f in [*sorted(MODELS_DIR.glob("*.yml")), LAWS_CSV]:  # the registry and the laws shape what is fitted
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"
