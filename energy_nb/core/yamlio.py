"""YAML a user wrote (a mix file, a grid file, a ``-p`` value), read with one clear error: which file, which line and
column, and what the parser expected there, in one line (the command line then exits 2 instead of printing a
parser traceback)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserError


def load_text(text: str, where: str) -> Any:
    """``text`` parsed as YAML (safe loader); malformed YAML is a :class:`UserError` naming ``where`` and the place."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = "; ".join(str(p).strip() for p in (exc.context, exc.problem) if p)
        raise UserError(f"{where} is not valid YAML: {at}{what}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None


def load_file(path: str | Path) -> Any:
    """The YAML file ``path``, parsed; a missing file or malformed YAML is a one-line :class:`UserError`."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_text(text, str(path))
