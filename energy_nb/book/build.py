"""Build the book: invalidate cached notebook outputs when data or package change, then Jupyter Book."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..core import paths
from ..core.provenance import inputs_digest

STAMP = paths.BUILD / ".inputs-digest"
CACHE = paths.BUILD / ".jupyter_cache"


def build(strict: bool = True) -> int:
    """``jupyter-book build .`` (warnings as errors, keep going); returns its exit code.

    jupyter-cache keys a notebook on its code only; when ``data/`` or ``energy_nb/`` change, the cache
    is cleared so every number is recomputed from the current data.
    """
    paths.BUILD.mkdir(exist_ok=True)
    digest = inputs_digest()
    if STAMP.exists() and STAMP.read_text().strip() != digest and CACHE.exists():
        print("energy-nb: data/ or energy_nb/ changed since the last build: clearing the notebook cache")
        shutil.rmtree(CACHE)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(paths.ROOT)] + (["-W", "--keep-going"] if strict else [])
    rc = subprocess.call(cmd, cwd=paths.ROOT)
    if rc == 0:
        STAMP.write_text(digest)
    return rc
