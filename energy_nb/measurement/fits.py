"""The paper's law fitted on our own measurements, one fit per device and model size (page 4.1).

Units: the law's exponent ``alpha`` and the R² of log energy are dimensionless; ``rows`` counts the observations
fitted (per-image rows of :func:`energy_nb.data.measurements.per_image`: net J per image against FLOPs per image).
"""
from __future__ import annotations

import pandas as pd

from ..laws import fit

#: The meter the paper measured with: a device's fit uses its rows where there are any.
PAPER_METER = "codecarbon"


def paper_law_by_device(per_image: pd.DataFrame) -> pd.DataFrame:
    """The paper's law (Eq. 2) fitted on each ``(gpu, size)`` group of ``per_image``
    (:func:`energy_nb.data.measurements.per_image`), on the group's :data:`PAPER_METER` rows where it has any, else
    on all its rows.

    One row per group, sorted by GPU then size: ``gpu``, ``size``, ``rows`` (observations fitted), ``alpha`` (the
    FLOPs exponent) and ``r2`` (R² of log energy); empty when ``per_image`` is."""
    out = []
    for (gpu, size), part in per_image.groupby(["gpu", "size"]):
        paper_meter = part["meter"] == PAPER_METER
        law = fit("paper", part[paper_meter] if paper_meter.any() else part)
        out.append(dict(gpu=gpu, size=size, rows=law.n_obs, alpha=law.value("alpha"), r2=law.r2))
    return pd.DataFrame(out, columns=["gpu", "size", "rows", "alpha", "r2"])
