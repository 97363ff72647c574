"""The append-only CSV of a sweep: rows in the record schema, one flushed, fsync'ed line at a time.

Rows are never rewritten: a crash, Ctrl-C or ``kill -9`` leaves a valid file (a line cut mid-write is set
aside in ``<out>.torn``), and :func:`done_keys` tells which configurations a rerun skips.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..data.schema import COLUMN_NAMES, HEADERS, fill_defaults, read_energy_csv, validate_row

#: Columns that identify a row: a rerun skips a configuration that has a row with these values.
KEY_COLUMNS = ("model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts", "size", "device",
               "weights", "seed", "meter")


class RowLog:
    """Append-only CSV in the shared schema: header once, then one flushed, fsync'ed line per row."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_torn_tail()
        self.header = list(COLUMN_NAMES)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write_line(COLUMN_NAMES)
        else:
            with self.path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            if header not in HEADERS:
                raise UserError(f"{self.path} exists but is not a sweep file of this schema (its header differs); "
                                 "give another --out")
            self.header = header  # a file started under an earlier schema keeps its header

    def _repair_torn_tail(self) -> None:
        """A line cut by a kill mid-write (no final newline) is moved to ``<out>.torn`` and removed."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(str(self.path) + ".torn", "ab") as fh:
            fh.write(data[cut:] + b"\n")
        with self.path.open("r+b") as fh:
            fh.truncate(cut)
        print(f"note: {self.path} ended in a torn line (a kill mid-write); it was moved to {self.path}.torn",
              file=sys.stderr)

    def _write_line(self, cells: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        with self.path.open("a", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, row: dict[str, Any]) -> None:
        fill_defaults(row)
        validate_row(row, str(self.path), 0)
        self._write_line(["" if row.get(c) is None else row[c] for c in self.header])

    def done(self, retry_errors: bool = False) -> set[tuple]:
        """Keys (``KEY_COLUMNS``) of rows already in the file."""
        return done_keys([self.path], retry_errors)


def done_keys(paths: Iterable[str | Path], retry_errors: bool = False) -> set[tuple]:
    """Keys (``KEY_COLUMNS``) of the rows in these sweep files (complete lines only, so a file being
    written is read safely); with ``retry_errors``, rows whose status is an error do not count."""
    import pandas as pd

    out: set[tuple] = set()
    for path in paths:
        if not Path(path).exists():
            continue
        df = read_energy_csv(path, complete_lines_only=True)
        if retry_errors:
            df = df[~df["status"].astype(str).str.startswith("error")]
        out |= {tuple("" if pd.isna(v) else str(v) for v in r) for r in
                df[list(KEY_COLUMNS)].astype(object).itertuples(index=False)}
    return out


def row_key(row: dict[str, Any]) -> tuple:
    return tuple("" if row.get(c) is None else str(row[c]) for c in KEY_COLUMNS)
