"""Layer 5, ``laws``: energy (and time) as a function of a configuration.

The table of laws and one registry of named laws (:mod:`.registry`: fit, get from the laws artifact, load), what every
law shares and the one results object of a fit (:mod:`.base`), what a law's rows cover (:mod:`.domain`), the one fitter
(:mod:`.fitter`), the one model of a run's time and power (:mod:`.physics`), the paper's Eq. 3 (:mod:`.scaling`), two
simple baselines (:mod:`.physical`), energy and time priced by the datasheet at the rate a power limit allows
(:mod:`.achieved`), time and power by kind of operation (:mod:`.ops`), the same carried to several GPUs per image
(:mod:`.parallel`), intervals composed from the held-out error of
every level an answer crosses (:mod:`.levels`), a GPU calibrated from a few measured
rows (:mod:`.calibrated`), the laws artifact (:mod:`.artifact`: fitted at build time, read when a question is asked),
the one answer type (:mod:`.prediction`), the law that answers a question and its answer (:mod:`.answer`) and the answer
on several GPUs per image (:mod:`.split`).

May import: the layers before it (``core``, ``models``, ``compute``, ``data``).
"""
from .answer import get, predict
from .prediction import Prediction
from .registry import (
           AUTO,
           LAW_NAMES,
           REGISTRY,
           Law,
           LawSpec,
           code_version,
           default_convention,
           fit,
           from_dict,
           load,
           spec,
)

__all__ = ["AUTO", "LAW_NAMES", "REGISTRY", "Law", "LawSpec", "Prediction", "code_version", "default_convention", "fit",
           "from_dict", "get", "load", "predict", "spec"]
