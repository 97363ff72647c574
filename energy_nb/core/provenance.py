"""Provenance of every file in ``data/``: its source (from ``data/MANIFEST.yml``), rows and sha256."""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..core import paths
from .errors import UserError


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def manifest() -> dict[str, dict]:
    """``data/MANIFEST.yml``: relative path -> {source, description}."""
    return yaml.safe_load(paths.MANIFEST.read_text()) or {}


def data_files() -> list[Path]:
    return sorted(p for p in paths.DATA.rglob("*") if p.is_file() and p != paths.MANIFEST)


def rows(path: Path) -> int | None:
    if path.suffix == ".csv":
        return int(len(pd.read_csv(path)))
    return None


def _entry_for(rel: str, man: dict[str, dict]) -> str | None:
    """The manifest key that covers ``rel``: the file itself, or a folder entry (key ending in '/')."""
    if rel in man:
        return rel
    folders = [k for k in man if k.endswith("/") and rel.startswith(k)]
    return max(folders, key=len) if folders else None


def table() -> pd.DataFrame:
    """One row per data file (or per folder listed in the manifest with a trailing '/', e.g. a copied
    external data set kept verbatim): path, files, source, description, rows, bytes, sha256 (of a
    folder: over its files' relative paths and sha256s). Missing manifest entries raise."""
    man = manifest()
    groups: dict[str, list[Path]] = {}
    for p in data_files():
        rel = p.relative_to(paths.DATA).as_posix()
        key = _entry_for(rel, man)
        if key is None:
            raise UserError(f"data/{rel} has no entry in data/MANIFEST.yml: add its source and description")
        groups.setdefault(key, []).append(p)
    out = []
    for key in sorted(groups):
        files = sorted(groups[key])
        if key.endswith("/"):
            h = hashlib.sha256()
            for p in files:
                h.update(p.relative_to(paths.DATA).as_posix().encode() + sha256(p).encode())
            digest, n_rows = h.hexdigest(), None
        else:
            digest, n_rows = sha256(files[0]), rows(files[0])
        out.append(dict(file=f"data/{key}", files=len(files), source=man[key]["source"],
                        description=man[key].get("description", ""), rows=n_rows,
                        bytes=sum(p.stat().st_size for p in files), sha256=digest))
    stale = sorted(set(man) - set(groups))
    if stale:
        raise UserError(f"data/MANIFEST.yml lists files that do not exist: {', '.join(stale)}")
    out = pd.DataFrame(out)
    out["rows"] = out["rows"].astype("Int64")  # a count: blank for a folder, never "24.0"
    return out


def inputs_digest() -> str:
    """sha256 over data/ and the package (its source, the laws artifact, the calculator's script; not its bytecode):
    when it changes, cached notebook outputs are stale."""
    h = hashlib.sha256()
    package = [p for p in (paths.ROOT / "energy_nb").rglob("*")
               if "__pycache__" not in p.parts and "_data" not in p.parts and p.suffix != ".pyc"]
    for p in sorted([*paths.DATA.rglob("*"), *package]):
        if p.is_file():
            h.update(p.relative_to(paths.ROOT).as_posix().encode())
            h.update(sha256(p).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# What this process has read (for the source line under every table and figure of the book)
# ---------------------------------------------------------------------------------------------------
_READS: dict[str, None] = {}
_SCOPES: list[dict[str, None]] = []  # open recordings (innermost last): each collects what is read while it is open


_DATA_PREFIX: list[str] = []


def note_read(*files: str | Path) -> None:
    """Record that ``files`` were read (called by the package's readers; files outside ``data/`` ignored).
    String work only (no ``resolve``): it runs on every law lookup of the command line."""
    import os

    if not _DATA_PREFIX:
        _DATA_PREFIX.append(os.path.abspath(paths.DATA) + os.sep)
    prefix = _DATA_PREFIX[0]
    note_relative(*(a[len(prefix):].replace(os.sep, "/") for a in map(os.path.abspath, files) if a.startswith(prefix)))


_QUIET: list[bool] = []


def note_relative(*rels: str) -> None:
    """Record files by their path relative to ``data/`` (as :func:`recording` yields them)."""
    if _QUIET:
        return
    for rel in rels:
        _READS.setdefault(rel, None)
        for scope in _SCOPES:
            scope.setdefault(rel, None)


def reads() -> list[Path]:
    """Files of ``data/`` read by this process so far, in the order first read."""
    return [paths.DATA / r for r in _READS]


@contextmanager
def recording(seed: Iterable[str] = ()) -> Iterator[dict[str, None]]:
    """Collect the files of ``data/`` (relative paths) read while the block runs, ``seed`` first (nested
    recordings all see an inner read)."""
    scope = dict.fromkeys(seed)
    _SCOPES.append(scope)
    try:
        yield scope
    finally:
        close_scope(scope)


@contextmanager
def quiet() -> Iterator[None]:
    """Record nothing while the block runs: for a reader that decides afterwards whether a file counts (a file whose
    rows are all filtered out is opened but no result is made from it)."""
    _QUIET.append(True)
    try:
        yield
    finally:
        _QUIET.pop()


def open_scope(seed: Iterable[str] = ()) -> dict[str, None]:
    """:func:`recording` without a block (for hooks that start and end apart): close with :func:`close_scope`."""
    scope = dict.fromkeys(seed)
    _SCOPES.append(scope)
    return scope


def close_scope(scope: dict[str, None]) -> None:
    """Stop a recording (by identity: two recordings of the same files are still two)."""
    for i in range(len(_SCOPES) - 1, -1, -1):
        if _SCOPES[i] is scope:
            del _SCOPES[i]
            return


def cache(fn: Callable | None = None, *, maxsize: int | None = None) -> Callable:
    """``functools.cache`` (or an LRU of ``maxsize``) that also remembers the files of ``data/`` the first call read
    and records them again on every hit, so a result shown later names the files behind it even when it comes from
    the cache. Keeps ``cache_clear()``."""
    def decorate(f: Callable) -> Callable:
        memo: dict[Any, tuple[Any, tuple[str, ...]]] = {}

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
            hit = memo.get(key)
            if hit is None:
                with recording() as seen:
                    value = f(*args, **kwargs)
                hit = memo[key] = (value, tuple(seen))
                if maxsize is not None and len(memo) > maxsize:
                    memo.pop(next(iter(memo)))
            elif hit[1]:
                note_relative(*hit[1])
            return hit[0]

        wrapper.cache_clear = memo.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate(fn) if fn is not None else decorate


def anchor(entry: str) -> str:
    """HTML id of a provenance-table entry (``data/paper/a100_energy.csv`` -> ``data-paper-a100-energy-csv``)."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", entry.lower()).strip("-")


_TABLE: dict[str, pd.DataFrame] = {}


def entries_for(files: list[Path]) -> list[dict[str, str]]:
    """The provenance entries (a file, or a folder listed in the manifest) that cover ``files``, each
    with its sha256 as on the provenance page and its anchor there; in first-seen order, no repeats."""
    if "t" not in _TABLE:
        _TABLE["t"] = table()
    t = _TABLE["t"].set_index("file")
    man = manifest()
    out: dict[str, dict[str, str]] = {}
    for f in files:
        p = Path(f)
        p = p if p.is_absolute() else paths.ROOT / p
        try:
            rel = p.resolve().relative_to(paths.DATA.resolve()).as_posix()
        except ValueError:
            raise UserError(f"{f} is not a file of data/: the book's results come from data/ only") from None
        key = _entry_for(rel, man)
        if key is None:
            raise UserError(f"data/{rel} has no entry in data/MANIFEST.yml: add its source and description")
        name = f"data/{key}"
        out.setdefault(name, dict(file=name, sha256=str(t.loc[name, "sha256"]), anchor=anchor(name)))
    return list(out.values())
