"""Units and precisions used across the package (energy: J, Wh, kWh; precisions by name).

A precision (``dtype``) is one of :data:`DTYPES`; fp16 and bf16 are the half precisions, which the laws
treat alike (the paper's data has fp16 and fp32 only), and :data:`BYTES_PER_ELEMENT` gives the bytes a
weight or an activation takes in each.
"""
from __future__ import annotations

J_PER_KWH: float = 3.6e6
J_PER_WH: float = 3600.0
#: Every precision a record, a sweep or a prediction may name.
DTYPES: tuple[str, ...] = ("fp16", "fp32", "bf16")
#: Half-precision dtypes: the laws treat them alike (the paper's data has fp16 and fp32 only).
HALF_DTYPES: tuple[str, ...] = ("fp16", "bf16")
#: Bytes per element of each precision.
BYTES_PER_ELEMENT: dict[str, int] = {"fp16": 2, "bf16": 2, "fp32": 4}


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is one of :data:`DTYPES`; else a clear error naming it and the allowed ones."""
    if dtype not in DTYPES:
        from .errors import UserError

        raise UserError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    return dtype


#: How every answer heads the reasons it lies outside its law's data.
EXTRAPOLATING = "EXTRAPOLATING, outside the law's data"


def interval_text(low: float, high: float, level: float, fmt: str = ".4f", unit: str = "") -> str:
    """A prediction interval as every answer prints it: ``95% PI 2.5384-2.8101 Wh`` (``level`` 0.95, ``fmt`` of
    both bounds, ``unit`` after them)."""
    return f"{int(round(100 * level))}% PI {low:{fmt}}-{high:{fmt}}" + (f" {unit}" if unit else "")

#: What a price per kWh is in unless the user names a currency (``--currency``).
CURRENCY = "USD"
