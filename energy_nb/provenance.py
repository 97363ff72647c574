"""Provenance of every file in ``data/``: its source (from ``data/MANIFEST.yml``), rows and sha256."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import yaml

from . import paths


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
            raise ValueError(f"data/{rel} has no entry in data/MANIFEST.yml: add its source and description")
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
        raise ValueError(f"data/MANIFEST.yml lists files that do not exist: {', '.join(stale)}")
    return pd.DataFrame(out)


def inputs_digest() -> str:
    """sha256 over data/ and the package source: when it changes, cached notebook outputs are stale."""
    h = hashlib.sha256()
    for p in sorted([*paths.DATA.rglob("*"), *(paths.ROOT / "energy_nb").rglob("*.py")]):
        if p.is_file():
            h.update(p.relative_to(paths.ROOT).as_posix().encode())
            h.update(sha256(p).encode())
    return h.hexdigest()
