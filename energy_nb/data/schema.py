"""One tidy schema for every energy record: paper transcriptions and our own measurements alike.

A row is one configuration run over ``n_prompts`` prompts. ``energy_j`` is the GPU energy in joules
for all ``n_prompts`` images (or videos: one per prompt): *net* of idle power (``energy_scope = net``: the paper's
tables, our sweeps: raw energy minus idle power x duration) or the counter's total (``gross``: ML.ENERGY's
leaderboard). Measurement columns are empty for transcribed rows.

Record columns added for independent data (every record has them once read; files written before
they existed get the defaults): ``batch_size`` (images per pipeline call, 1), ``num_gpus`` (1),
``time_s`` (seconds per image, empty when unknown), ``energy_scope`` (``net``), ``gpu_part`` (the exact
part, e.g. ``A100-SXM4-40GB``; empty when unknown), ``ulysses_degree`` and ``ring_degree`` (how a run on several
GPUs split each image's sequence: xDiT's Ulysses and Ring degrees, their product ``num_gpus``; defaults: ring 1,
Ulysses the rest -- 1 and 1 on one GPU), ``frames`` (frames per output: 1 for an image, the clip's length for a
video, whose energy and ``time_s`` are then per video) and ``fps`` (frames per second of the video as written: it sets
the seconds of video a clip lasts, not its compute; empty for an image).
``model`` is a registry key, or the Hugging Face
id of a model the registry does not have yet (kept, but not fitted).
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..core.errors import UserError
from ..core.units import DTYPES
from ..models.registry import MODEL_KEYS as MODELS  # the registry (data/models)

STATUSES: tuple[str, ...] = ("ok", "oom", "error: <message>")

#: Columns every record has, in file order. Types: int, float, str; ``cfg`` is 0/1.
CORE_COLUMNS: dict[str, type] = {
    "model": str,
    "gpu": str,
    "height": int,
    "width": int,
    "steps": int,
    "dtype": str,
    "cfg": int,
    "n_prompts": int,
    "energy_j": float,
    "source": str,
}

#: Columns only measurements fill (empty in transcriptions).
MEASUREMENT_COLUMNS: dict[str, type] = {
    "status": str,
    "meter": str,
    "energy_raw_j": float,
    "idle_w": float,
    "duration_s": float,
    "gpu_name": str,
    "driver": str,
    "power_limit_w": float,
    "sm_clock_start_mhz": float,
    "sm_clock_end_mhz": float,
    "temp_start_c": float,
    "temp_end_c": float,
    "device": str,
    "size": str,
    "weights": str,
    "seed": int,
    "torch_version": str,
    "diffusers_version": str,
    "timestamp": str,
    "note": str,
}

#: Columns for batched, multi-GPU and gross (not idle-subtracted) records, with their defaults.
RECORD_COLUMNS: dict[str, type] = {
    "batch_size": int,
    "num_gpus": int,
    "time_s": float,
    "energy_scope": str,
    "gpu_part": str,
    "ulysses_degree": int,
    "ring_degree": int,
    "frames": int,
    "fps": float,
}
RECORD_DEFAULTS: dict[str, object] = {"batch_size": 1, "num_gpus": 1, "energy_scope": "net", "ring_degree": 1,
                                      "frames": 1}
ENERGY_SCOPES: tuple[str, ...] = ("net", "gross")

COLUMNS: dict[str, type] = {**CORE_COLUMNS, **MEASUREMENT_COLUMNS, **RECORD_COLUMNS}
COLUMN_NAMES: list[str] = list(COLUMNS)
#: The header files had before ``RECORD_COLUMNS`` (still read, and appended to, as they are).
LEGACY_COLUMN_NAMES: list[str] = list(CORE_COLUMNS) + list(MEASUREMENT_COLUMNS)
#: Every header a sweep file may have been started with (the current one first; then before ``frames``/``fps``, before
#: ``ulysses_degree``/``ring_degree``, before every record column): each is still read and appended to.
HEADERS: tuple[list[str], ...] = (COLUMN_NAMES, COLUMN_NAMES[:-2], COLUMN_NAMES[:-4], LEGACY_COLUMN_NAMES)
_HF_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")

_GPU_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class SchemaError(UserError):
    """A record does not follow the schema. The message names file, line, column and what is allowed."""


def _fail(path: str, line: int, column: str, value: object, allowed: str) -> None:
    raise SchemaError(f"{path}, line {line}, column '{column}': got {value!r}; allowed: {allowed}")


def _parse(path: str, line: int, column: str, raw: str | None) -> object:
    kind = COLUMNS[column]
    raw = "" if raw is None else raw.strip()
    if raw == "":
        return None
    try:
        if kind is int:
            val = float(raw)
            if not val.is_integer():
                raise ValueError
            return int(val)
        if kind is float:
            val = float(raw)
            if math.isnan(val):
                return None
            return val
    except ValueError:
        _fail(path, line, column, raw, "an integer" if kind is int else "a number")
    return raw


def validate_row(row: dict[str, object], path: str = "<row>", line: int = 0) -> None:
    """Check one parsed record; raise :class:`SchemaError` naming file, line, column and allowed values."""
    from ..models.registry import check_resolution

    for col in CORE_COLUMNS:
        if row.get(col) is None and col != "energy_j":
            _fail(path, line, col, "", "a value (required column)")
    registry = row["model"] in MODELS
    if not registry and not _HF_ID_RE.match(str(row["model"])):
        _fail(path, line, "model", row["model"], ", ".join(MODELS) + ", or a Hugging Face id (org/name)")
    if not _GPU_RE.match(str(row["gpu"])):
        _fail(path, line, "gpu", row["gpu"], "a GPU name of letters, digits, '.', '_' or '-' (e.g. A100, H100)")
    if row["dtype"] not in DTYPES:
        _fail(path, line, "dtype", row["dtype"], ", ".join(DTYPES))
    if row["cfg"] not in (0, 1):
        _fail(path, line, "cfg", row["cfg"], "0 (off) or 1 (on)")
    for col in ("steps", "n_prompts", "batch_size", "num_gpus", "ulysses_degree", "ring_degree", "frames"):
        if row.get(col) is not None and int(row[col]) < 1:  # type: ignore[arg-type]
            _fail(path, line, col, row[col], "an integer >= 1")
    degrees = [int(row.get(c) or 1) for c in ("num_gpus", "ulysses_degree", "ring_degree")]  # type: ignore[arg-type]
    if degrees[1] * degrees[2] != degrees[0]:
        _fail(path, line, "ring_degree", row.get("ring_degree"), f"ulysses_degree x ring_degree = num_gpus "
              f"({degrees[0]}); ulysses_degree is {degrees[1]}")
    for col in ("height", "width"):
        try:
            if registry:
                check_resolution(str(row["model"]), int(row["height"]), int(row["width"]),  # type: ignore[arg-type]
                                 size=row.get("size") or "full")
            elif int(row[col]) < 1:  # type: ignore[arg-type]
                raise UserError("a positive number of pixels")
        except ValueError as exc:
            _fail(path, line, col, row[col], str(exc))
    if row.get("energy_scope") not in (None, *ENERGY_SCOPES):
        _fail(path, line, "energy_scope", row.get("energy_scope"), "net (idle subtracted) or gross (counter total)")
    if row.get("time_s") is not None and not float(row["time_s"]) > 0:  # type: ignore[arg-type]
        _fail(path, line, "time_s", row["time_s"], "a positive number of seconds per image (or video), or empty")
    if row.get("fps") is not None and not float(row["fps"]) > 0:  # type: ignore[arg-type]
        _fail(path, line, "fps", row["fps"], "a positive number of frames per second of video, or empty")
    if row.get("fps") is not None and int(row.get("frames") or 1) == 1:  # type: ignore[arg-type]
        _fail(path, line, "fps", row["fps"], "empty for an image (frames 1); a video has frames > 1")
    status = row.get("status") or "ok"
    if not (status in ("ok", "oom") or str(status).startswith("error")):
        _fail(path, line, "status", status, ", ".join(STATUSES))
    energy = row.get("energy_j")
    if status == "ok":
        if energy is None or not (float(energy) > 0):  # type: ignore[arg-type]
            _fail(path, line, "energy_j", energy, "a positive number of joules when status is ok")
    if row.get("size") not in (None, "full", "tiny"):
        _fail(path, line, "size", row.get("size"), "full, tiny or empty")


#: What a record file is, as the refusals say it.
EXPECTED = ("a UTF-8 CSV in the record schema, its header naming the core columns " + ",".join(CORE_COLUMNS)
            + " (e.g. data/paper/a100_energy.csv)")


def read_energy_csv(path: str | Path, complete_lines_only: bool = False) -> pd.DataFrame:
    """Load and validate an energy CSV in the shared schema; return a typed frame with all columns.

    Unknown columns are refused; missing measurement columns are added empty. ``status`` defaults
    to ``ok``. Raises :class:`SchemaError` on the first bad cell (file, line, column, allowed values),
    and in one line naming the file and :data:`EXPECTED` for a missing file, a folder, an empty file,
    a file that is not UTF-8 text (a binary file) or not a CSV with the schema's header.
    ``complete_lines_only`` ignores a last line without its newline (a writer mid-line, or a kill
    mid-write) and leaves the file as it is: for reading a sweep's file while it is being written.
    """
    path = Path(path)
    from ..core.provenance import note_read

    if path.is_dir():
        raise SchemaError(f"{path} is a folder, not an energy CSV; expected {EXPECTED}")
    if not path.is_file():
        raise SchemaError(f"{path}: no such energy CSV; expected {EXPECTED}")
    try:
        return _read_energy_csv(path, complete_lines_only, note_read)
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path} is not a text CSV (byte 0x{exc.object[exc.start]:02x} is not UTF-8); "
                          f"expected {EXPECTED}") from None
    except csv.Error as exc:
        raise SchemaError(f"{path} is not a CSV ({exc}); expected {EXPECTED}") from None
    except OSError as exc:
        raise SchemaError(f"cannot read {path}: {exc.strerror or exc}; expected {EXPECTED}") from None


def _read_energy_csv(path: Path, complete_lines_only: bool, note_read: Callable[[Path], object]) -> pd.DataFrame:
    """:func:`read_energy_csv` once ``path`` is known to be a file (it turns decoding and CSV errors into one line)."""
    note_read(path)
    rows: list[dict[str, object]] = []
    if complete_lines_only:
        data = path.read_bytes()
        data = data[:data.rfind(b"\n") + 1]
        if not data:  # not even a whole header yet: a file just created
            return to_frame([])
        fh_ctx = io.StringIO(data.decode("utf-8-sig"), newline="")  # a BOM (Excel) is not a column
    else:
        if path.stat().st_size == 0:
            raise SchemaError(f"{path} is empty; expected {EXPECTED}")
        fh_ctx = path.open(newline="", encoding="utf-8-sig")
    with fh_ctx as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if not set(header) & set(COLUMNS):  # not a header of ours at all: another file, not one bad column
            first = ",".join(header)
            raise SchemaError(f"{path} is not an energy CSV: its first line {first[:80]!r}"
                              f"{'...' if len(first) > 80 else ''} names none of the schema's columns; "
                              f"expected {EXPECTED}")
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            _fail(str(path), 1, unknown[0], unknown[0], "one of the schema columns: " + ", ".join(COLUMN_NAMES))
        missing = [c for c in CORE_COLUMNS if c not in header]
        if missing:
            raise SchemaError(f"{path}, line 1 (the header): the core column(s) {', '.join(missing)} are missing; "
                              f"expected {EXPECTED}")
        for i, raw in enumerate(reader, start=2):
            if None in raw:  # more cells than header
                _fail(str(path), i, "(extra cells)", raw[None], f"{len(header)} cells per row")
            row = {c: _parse(str(path), i, c, raw.get(c)) for c in COLUMNS}
            if row["status"] is None:
                row["status"] = "ok"
            fill_defaults(row)
            validate_row(row, str(path), i)
            rows.append(row)
    return to_frame(rows)


def fill_defaults(row: dict[str, object]) -> dict[str, object]:
    """Record columns a row leaves empty get their defaults (batch 1, one GPU, net energy, ring degree 1 and the rest of
    the GPUs by Ulysses, one frame: an image); ``time_s``
    is derived from a measured window (``duration_s / n_prompts``) when there is one."""
    for col, default in RECORD_DEFAULTS.items():
        if row.get(col) is None:
            row[col] = default
    if row.get("ulysses_degree") is None:  # the GPUs the ring does not take split by Ulysses (1 on one GPU)
        ring = int(row["ring_degree"])  # type: ignore[arg-type]
        n = int(row["num_gpus"])  # type: ignore[arg-type]
        row["ulysses_degree"] = n // ring if ring >= 1 and n % ring == 0 else None
    if row.get("time_s") is None and row.get("duration_s") and row.get("n_prompts"):
        row["time_s"] = float(row["duration_s"]) / int(row["n_prompts"])  # type: ignore[arg-type]
    return row


def with_per_image(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``e_img`` (energy per image, J: energy_j / n_prompts) and ``t_img`` (time_s, s)."""
    return df.assign(e_img=df["energy_j"] / df["n_prompts"].astype(float), t_img=df["time_s"].astype(float))


def registry_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of models the registry has (the others are kept in the data but cannot be fitted yet)."""
    return df[df["model"].isin(MODELS)].reset_index(drop=True)


def to_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Rows (dicts) to a frame with every schema column, in schema order, with nullable dtypes."""
    df = pd.DataFrame(list(rows), columns=COLUMN_NAMES)
    for col, kind in COLUMNS.items():
        if kind is int:
            df[col] = pd.to_numeric(df[col]).astype("Int64")
        elif kind is float:
            df[col] = pd.to_numeric(df[col]).astype("float64")
        else:
            df[col] = df[col].astype("string")
    return df


def read_many(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate several validated energy CSVs."""
    frames = [read_energy_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else to_frame([])


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Only rows with ``status == 'ok'`` and a positive energy (what fits use)."""
    status = df["status"].fillna("ok") if "status" in df else pd.Series("ok", index=df.index)
    mask = (status == "ok") & (df["energy_j"] > 0)
    return df.loc[mask].reset_index(drop=True)


#: Who measured a record, from its ``source`` (:func:`dataset_of`).
DATASETS: dict[str, str] = {"paper:": "paper", "ML.ENERGY": "ML.ENERGY", "energy-nb sweep": "ours"}


def dataset_of(df: pd.DataFrame) -> pd.Series:
    """Who measured each row, read from its ``source``: ``paper`` (the paper's tables), ``ML.ENERGY`` (their
    leaderboard), ``ours`` (an ``energy-nb sweep``), else ``other``. Never from the meter: our own sweeps read
    Zeus too, as ML.ENERGY does."""
    src = df["source"].astype(str)
    out = pd.Series("other", index=df.index, dtype=object)
    for prefix, name in DATASETS.items():
        out[src.str.startswith(prefix)] = name
    return out
