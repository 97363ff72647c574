"""Rows of a data frame as plain Python values, fast.

``DataFrame.itertuples`` goes through pandas' element access for every cell of an extension column (the
record schema's strings and nullable integers), which made it the largest single cost of fitting a law
hundreds of times in a nested selection. :func:`rows` reads each column once with ``tolist``.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pandas as pd


@lru_cache(maxsize=64)
def _row_type(columns: tuple[str, ...]) -> type:
    return namedtuple("Row", columns, rename=True)


def rows(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[Any]:
    """One named tuple per row of ``df`` with the fields ``columns`` (default: every column whose name is an
    identifier), values as ``Series.tolist`` gives them (missing: ``None``, ``nan`` or ``pd.NA``, as pandas
    stores them). A column of ``columns`` that ``df`` lacks is an error, as attribute access would be."""
    cols = tuple(c for c in df.columns if isinstance(c, str) and c.isidentifier()) if columns is None \
        else tuple(columns)
    Row = _row_type(cols)
    return [Row(*vals) for vals in zip(*(df[c].tolist() for c in cols))] if cols else [Row() for _ in range(len(df))]
