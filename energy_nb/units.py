"""Unit conversions used across the package (energy: J, Wh, kWh)."""
from __future__ import annotations

J_PER_KWH: float = 3.6e6
J_PER_WH: float = 3600.0
#: Half-precision dtypes: the laws treat them alike (the paper's data has fp16 and fp32 only).
HALF_DTYPES: tuple[str, ...] = ("fp16", "bf16")
