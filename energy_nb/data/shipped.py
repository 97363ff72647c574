"""The shipped energy records every law is fitted on by default, and their digest (for caches).

``shipped_data`` = the paper's A100 tables (``data/paper/a100_energy.csv``) plus every full-size GPU
measurement file in ``data/measurements/`` (CPU smoke runs of tiny replicas are left out), ``ok`` rows.
``external_data`` = ML.ENERGY's single-GPU rows of registry models, made net (idle power subtracted,
the paper's footing, by default). ``law_data`` = both, with a ``dataset`` column saying who measured each
row: what every law of ``predict`` fits and what the validation pages score. ``load`` is the notebooks'
``data`` parameter.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..core import paths, provenance
from .schema import dataset_of, ok_rows, read_energy_csv, read_many


def _external_files() -> tuple[Path, ...]:
    """The JSON records under ``data/external`` that :func:`external_data` reads (listed each time: a few dozen
    files): ML.ENERGY's text-to-image records; not its text-to-video file, which no law is fitted on yet."""
    from .mlenergy import V3_VIDEO_FILE

    return tuple(sorted(p for p in (paths.DATA / "external").rglob("*")
                        if p.is_file() and p.suffix == ".json" and p != V3_VIDEO_FILE))


def shipped_files() -> list[Path]:
    """The files the fitted laws depend on, in order: the energy CSVs and external records :func:`law_data` reads,
    the GPU specs, and the counted features the laws' terms are made of."""
    return [paths.A100_ENERGY_CSV, *sorted(paths.MEASUREMENTS.glob("*.csv")), *_external_files(),
            paths.DATA / "gpus.csv", paths.FEATURES_CSV]


_DIGESTS: dict[tuple, str] = {}
_FRAMES: dict[tuple[str, str], tuple[pd.DataFrame, tuple[str, ...]]] = {}


def shipped_sha256() -> str:
    """sha256 over the bytes (and names) of :func:`shipped_files`: the key of every fitted-law cache entry.
    Computed once per process while no file changes size or modification time."""
    files = shipped_files()  # hashed, not read: the readers record what a result reads
    signature = tuple((str(p), st.st_size, st.st_mtime_ns) for p in files for st in (p.stat(),))
    if signature not in _DIGESTS:
        h = hashlib.sha256()
        for p in files:
            h.update(p.relative_to(paths.DATA).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        _DIGESTS[signature] = h.hexdigest()
    return _DIGESTS[signature]


def _memo(name: str, make) -> pd.DataFrame:
    """``make()`` once per data digest and process; a copy each time (callers may change their frame)."""
    key = (name, shipped_sha256())
    if key not in _FRAMES:
        with provenance.recording() as seen:
            frame = make()
        _FRAMES[key] = frame, tuple(seen)
    frame, read = _FRAMES[key]
    provenance.note_relative(*read)  # a frame from the memo names the files it was read from
    return frame.copy()


def shipped_data() -> pd.DataFrame:
    """All shipped energy records: the paper's A100 tables plus every measured full-size GPU file (``ok`` rows)."""
    return _memo("shipped", _read_shipped)


def _read_shipped() -> pd.DataFrame:
    from .paper import a100_energy

    frames = [a100_energy()]
    for p in sorted(paths.MEASUREMENTS.glob("*.csv")):
        with provenance.quiet():
            df = read_energy_csv(p)
        kept = df[(df["size"].fillna("full") == "full") & (df["device"].fillna("cuda") != "cpu")]
        if len(kept):  # a file of CPU smoke runs only adds no row: no result is made from it
            provenance.note_read(p)
        frames.append(kept)
    return ok_rows(pd.concat(frames, ignore_index=True))


def external_data(footing: str = "idle", registry_only: bool = True, single_gpu: bool = True,
                  rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """ML.ENERGY's rows (``energy_nb.data.mlenergy``, or ``rows`` in the same gross form), made net by
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


def law_data(paper_rows: pd.DataFrame | None = None, external: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every energy record the laws learn from: :func:`shipped_data` (or ``paper_rows``, ok rows) plus
    :func:`external_data` (of ``external``, ML.ENERGY's gross rows, when given), with a ``dataset`` column
    (:func:`energy_nb.data.schema.dataset_of`: who measured the row, read from its source)."""
    if paper_rows is None and external is None:
        return _memo("law_data", lambda: law_data(shipped_data(), mlenergy_rows()))
    base = shipped_data() if paper_rows is None else ok_rows(paper_rows)
    df = pd.concat([base, external_data(rows=external)], ignore_index=True)
    df["dataset"] = dataset_of(df)
    return df


def mlenergy_rows() -> pd.DataFrame:
    """ML.ENERGY's shipped rows, gross, as published (:func:`energy_nb.data.mlenergy.shipped`)."""
    from .mlenergy import shipped

    return shipped()


def load(data: Sequence[str] | None = None) -> pd.DataFrame:
    """The notebooks' ``data`` parameter: None -> :func:`shipped_data`; a list of CSV paths (shared schema) ->
    those files' ok rows."""
    return shipped_data() if not data else ok_rows(read_many(data))
