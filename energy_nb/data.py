"""The shipped energy records every law is fitted on by default, and their digest (for caches).

``shipped_data`` = the paper's A100 tables (``data/paper/a100_energy.csv``) plus every full-size GPU
measurement file in ``data/measurements/`` (CPU smoke runs of tiny replicas are left out), ``ok`` rows.
``external_data`` = ML.ENERGY's single-GPU rows of registry models, made net (idle power subtracted,
the paper's footing, by default). ``law_data`` = both: what the per-model laws of ``predict`` fit.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from . import paths
from .schema import ok_rows, read_energy_csv


def shipped_files() -> list[Path]:
    """The files :func:`law_data` reads, in order (energy CSVs, external records, GPU specs)."""
    external = sorted(p for p in (paths.DATA / "external").rglob("*") if p.is_file() and p.suffix == ".json")
    return [paths.A100_ENERGY_CSV, *sorted(paths.MEASUREMENTS.glob("*.csv")), *external, paths.DATA / "gpus.csv"]


def shipped_sha256() -> str:
    """sha256 over the bytes (and names) of :func:`shipped_files`: the key of every fitted-law cache entry."""
    from .provenance import note_read

    h = hashlib.sha256()
    note_read(*shipped_files())
    for p in shipped_files():
        h.update(p.relative_to(paths.DATA).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def shipped_data() -> pd.DataFrame:
    """All shipped energy records: the paper's A100 tables plus every measured full-size GPU file (``ok`` rows)."""
    frames = [read_energy_csv(paths.A100_ENERGY_CSV)]
    for p in sorted(paths.MEASUREMENTS.glob("*.csv")):
        df = read_energy_csv(p)
        frames.append(df[(df["size"].fillna("full") == "full") & (df["device"].fillna("cuda") != "cpu")])
    return ok_rows(pd.concat(frames, ignore_index=True))


def external_data(footing: str = "idle", registry_only: bool = True, single_gpu: bool = True,
                  rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """ML.ENERGY's rows (``energy_nb.mlenergy``, or ``rows`` in the same gross form), made net by
    subtracting ``footing`` power x time (``idle``: published idle power, the paper's footing;
    ``static``: the fitted static power)."""
    from .mlenergy import shipped
    from .power import footing_watts, to_net
    from .schema import registry_rows

    df = shipped() if rows is None else rows
    watts = footing_watts(df, footing)
    if registry_only:
        df = registry_rows(df)
    if single_gpu:
        df = df[df["num_gpus"] == 1]
    return ok_rows(to_net(df, watts, f"{footing} power"))


def law_data() -> pd.DataFrame:
    """What :func:`energy_nb.laws.get` fits the per-model laws on: shipped data plus external data (net)."""
    return pd.concat([shipped_data(), external_data()], ignore_index=True)
