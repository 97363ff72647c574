"""The shipped energy records every law is fitted on by default, and their digest (for caches).

``shipped_data`` = the paper's A100 tables (``data/paper/a100_energy.csv``) plus every full-size GPU
measurement file in ``data/measurements/`` (CPU smoke runs of tiny replicas are left out), ``ok`` rows.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from . import paths
from .schema import ok_rows, read_energy_csv


def shipped_files() -> list[Path]:
    """The CSV files :func:`shipped_data` reads, in order."""
    return [paths.A100_ENERGY_CSV, *sorted(paths.MEASUREMENTS.glob("*.csv"))]


def shipped_sha256() -> str:
    """sha256 over the bytes (and names) of :func:`shipped_files`: the key of every fitted-law cache entry."""
    h = hashlib.sha256()
    for p in shipped_files():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def shipped_data() -> pd.DataFrame:
    """All shipped energy records: the paper's A100 tables plus every measured full-size GPU file (``ok`` rows)."""
    frames = [read_energy_csv(paths.A100_ENERGY_CSV)]
    for p in shipped_files()[1:]:
        df = read_energy_csv(p)
        frames.append(df[(df["size"].fillna("full") == "full") & (df["device"].fillna("cuda") != "cpu")])
    return ok_rows(pd.concat(frames, ignore_index=True))
