"""Layer 5, ``laws``: energy (and time) as a function of a configuration.

One protocol and one registry of named laws (:mod:`.registry`: fit, get from the shipped data, load, the
shared law that answers for a model without rows of its own), what every law shares (:mod:`.base`), the
paper's Eq. 3 (:mod:`.scaling`), the physically motivated candidates (:mod:`.physical`), the laws priced by a
GPU's datasheet (:mod:`.transfer`), the time per image (:mod:`.timing`), a law with intervals from
held-out errors (:mod:`.conformal`) and a GPU calibrated from a few measured rows (:mod:`.calibrated`).

May import: the layers before it (``core``, ``models``, ``compute``, ``data``).
"""
from .registry import (
                       AUTO,
                       DEFAULT_DATASHEET,
                       DEFAULT_SHARED,
                       LAW_NAMES,
                       REGISTRY,
                       Law,
                       LawSpec,
                       code_version,
                       default_convention,
                       fallback,
                       fit,
                       get,
                       load,
                       spec,
)

__all__ = ["AUTO", "DEFAULT_DATASHEET", "DEFAULT_SHARED", "LAW_NAMES", "REGISTRY", "Law", "LawSpec", "fallback",
           "code_version", "default_convention", "fit", "get", "load", "spec"]
