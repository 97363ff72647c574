"""Named scaling laws with one fit/predict API. ``paper`` is Eq. 3; more candidates join here."""
from __future__ import annotations

import pandas as pd

from .fit import ScalingLaw, fit

LAW_NAMES: tuple[str, ...] = ("paper",)


def fit_law(name: str, df: pd.DataFrame, convention: str = "paper") -> ScalingLaw:
    """Fit the law called ``name`` on ``df``; unknown names list the allowed ones."""
    if name == "paper":
        return fit(df, convention=convention, name="paper")
    raise ValueError(f"unknown law {name!r}; allowed: {', '.join(LAW_NAMES)}")
