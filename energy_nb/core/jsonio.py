"""Strict JSON (RFC 8259): NaN and infinities become ``null``, numpy scalars plain numbers."""
from __future__ import annotations

import json
import math
from typing import Any


def finite(x: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (strict JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # numpy scalars
        return finite(x.item())
    return x


def to_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON (``allow_nan=False``): NaN / inf are written as ``null``."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False, default=str)
