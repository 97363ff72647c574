"""The on-disk cache of counted features, fitted laws and nested selections: where it is, and writes a reader
never sees half of.

``$ENERGY_NB_CACHE``, else ``$XDG_CACHE_HOME/energy-nb``, else ``~/.cache/energy-nb``. Every entry is keyed
by what it depends on (see :mod:`energy_nb.compute.features` and :mod:`energy_nb.laws.registry`), so a stale
entry is never used; a read-only cache only costs speed.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ENERGY_NB_CACHE``, else ``$XDG_CACHE_HOME/energy-nb``, else ``~/.cache/energy-nb``."""
    env = os.environ.get("ENERGY_NB_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "energy-nb"


def write_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename; False (and nothing written) when
    the cache cannot be written."""
    return write_atomic_bytes(path, text.encode())


def write_atomic_bytes(path: Path, data: bytes) -> bool:
    """:func:`write_atomic` for bytes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return True
    except OSError:
        return False
