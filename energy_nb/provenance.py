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


def table() -> pd.DataFrame:
    """One row per data file: path, source, description, rows, bytes, sha256. Missing manifest entries raise."""
    man = manifest()
    out = []
    for p in data_files():
        rel = p.relative_to(paths.DATA).as_posix()
        if rel not in man:
            raise ValueError(f"data/{rel} has no entry in data/MANIFEST.yml: add its source and description")
        out.append(dict(file=f"data/{rel}", source=man[rel]["source"], description=man[rel].get("description", ""),
                        rows=rows(p), bytes=p.stat().st_size, sha256=sha256(p)))
    stale = sorted(set(man) - {p.relative_to(paths.DATA).as_posix() for p in data_files()})
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
