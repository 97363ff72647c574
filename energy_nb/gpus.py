"""GPU names: the exact part (``A100-SXM4-40GB``) and the family the laws use (``A100``).

The ``gpu`` column of every record holds the family (``A100``, ``H100``): the paper's Eq. 3 gives
each GPU one indicator, and users ask for ``--gpu H100``. ``gpu_part`` keeps what the driver reports,
normalised (``NVIDIA H100 80GB HBM3`` -> ``H100-80GB-HBM3``), so variants stay visible.
"""
from __future__ import annotations

import re

FAMILIES: tuple[str, ...] = ("A100", "H100", "H200", "L40S", "A10G", "V100", "B200")


def gpu_part(name: str) -> str:
    """The driver's or a publisher's GPU name as a part string: vendor dropped, spaces as dashes."""
    s = re.sub(r"^\s*NVIDIA\s+", "", str(name).strip(), flags=re.I)
    return re.sub(r"\s+", "-", s)


def gpu_family(name: str) -> str:
    """The family of a GPU name or part (``A100-SXM4-40GB`` -> ``A100``); a clear error when unknown."""
    part = gpu_part(name)
    for fam in FAMILIES:
        if part == fam or part.startswith(fam + "-") or part.startswith(fam + " "):
            return fam
    raise ValueError(f"GPU {name!r} is not one we can map to a family; known: {', '.join(FAMILIES)}")
