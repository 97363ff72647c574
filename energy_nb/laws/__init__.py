"""Layer 5, ``laws``: energy (and time) as a function of a configuration.

One protocol and one registry of named laws (:mod:`.registry`: fit, get from the laws artifact, load), what every law
shares and the one prediction result (:mod:`.base`), the paper's Eq. 3 (:mod:`.scaling`), the physically motivated
candidates (:mod:`.physical`), the laws priced by a GPU's datasheet (:mod:`.transfer`), one model of a run's time and
power by kind of operation (:mod:`.ops`), the same carried to several GPUs per image (:mod:`.parallel`), the time and
gross energy of an answer (:mod:`.timing`), a law with intervals from held-out errors (:mod:`.conformal`), a GPU
calibrated from a few measured rows (:mod:`.calibrated`), the laws artifact (:mod:`.artifact`: fitted at build time,
read when a question is asked) the law that answers a question (:mod:`.answer`) and the answer on several GPUs per
image (:mod:`.split`).

May import: the layers before it (``core``, ``models``, ``compute``, ``data``).
"""
from .answer import get
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

__all__ = ["AUTO", "LAW_NAMES", "REGISTRY", "Law", "LawSpec", "code_version", "default_convention", "fit",
           "from_dict", "get", "load", "spec"]
