"""Build the book: invalidate cached notebook outputs when data or package change, execute the pages the
cache lacks in parallel, then Jupyter Book.

Jupyter Book (myst-nb, ``execute_notebooks: cache``) executes outdated pages one after another while it
reads them. :func:`prepare` executes them first, ``jobs`` at a time, exactly as myst-nb would (the same
reader, so the same jupyter-cache key; a kernel per page in the page's folder; no error allowed) and
stores them in the same cache, so the build that follows reads every page from the cache. A page that
fails is left to Jupyter Book, which then reports the error as it always does.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

from ..core import paths
from ..core.provenance import inputs_digest

STAMP = paths.BUILD / ".inputs-digest"
CACHE = paths.BUILD / ".jupyter_cache"
#: Seconds each page took last time: the longest run first, so that the last page to finish starts early.
SECONDS = paths.BUILD / ".page-seconds.json"
#: The MyST extensions of ``_config.yml`` (``parse.myst_enable_extensions``): the reader needs the same ones.
TIMEOUT_S = 1200


def pages() -> list[Path]:
    """The book's pages that are notebooks (MyST Markdown with a notebook top-matter), in table-of-contents order."""
    from myst_nb.core.read import is_myst_markdown_notebook

    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text())
    docs = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    out = []
    for d in docs:
        p = paths.ROOT / f"{d}.md"
        if p.exists() and is_myst_markdown_notebook(p.read_text()):
            out.append(p)
    return out


def _reader():
    from functools import partial

    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = yaml.safe_load((paths.ROOT / "_config.yml").read_text())
    extensions = set(config.get("parse", {}).get("myst_enable_extensions", []))
    return partial(read_myst_markdown_notebook, config=MdParserConfig(enable_extensions=extensions),
                   add_source_map=True)


def _execute(path: str) -> tuple[str, dict | None, float, str | None]:
    """Execute one page as myst-nb does; returns (path, executed notebook as a dict or None, seconds, error)."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = _reader()(Path(path).read_text(), path=path)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=TIMEOUT_S, allow_errors=False,
                                 meta_override=True)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {result.err}"[:300]
    return path, nbformat.from_dict(nb), result.time, None


def prepare(jobs: int = 2, progress: bool = True) -> dict[str, float]:
    """Execute, ``jobs`` at a time, every page whose outputs the notebook cache lacks, and cache them.
    Returns seconds per executed page."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(CACHE))
    read = _reader()
    todo = []
    for p in pages():
        nb = read(p.read_text(), path=str(p))
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.append(str(p))
    done: dict[str, float] = {}
    if not todo:
        return done
    import json

    last = json.loads(SECONDS.read_text()) if SECONDS.exists() else {}
    todo.sort(key=lambda p: -last.get(Path(p).relative_to(paths.ROOT).as_posix(), 60.0))
    say = (lambda m: print(f"energy-nb: {m}", flush=True)) if progress else (lambda m: None)
    say(f"executing {len(todo)} page(s), {jobs} at a time")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for fut in as_completed([pool.submit(_execute, p) for p in todo]):
            path, nb, seconds, error = fut.result()
            name = Path(path).relative_to(paths.ROOT).as_posix()
            if error is not None:
                say(f"{name} failed ({error}); Jupyter Book will run it again and report it")
                continue
            record = cache.add_nb_to_project(path, read_data={"type": "plugin", "name": "myst_nb_md"})
            cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            done[name] = seconds
            say(f"{name}: {seconds:.1f} s")
    say(f"{len(done)} page(s) executed in {time.perf_counter() - t0:.0f} s")
    SECONDS.write_text(json.dumps({**last, **done}, indent=1, sort_keys=True))
    return done


def executed(page: str | Path):
    """The executed notebook of a page (the page's source with its cached outputs merged), or None when the
    cache does not hold it. (myst-nb writes ``_build/jupyter_execute`` without the outputs when a page comes
    from the cache; this is the notebook the build showed.)"""
    from jupyter_cache import get_cache

    path = Path(page)
    if not CACHE.exists():
        return None
    nb = _reader()(path.read_text(), path=str(path))
    try:
        return get_cache(str(CACHE)).merge_match_into_notebook(nb)[1]
    except KeyError:
        return None


def build(strict: bool = True, jobs: int = 2) -> int:
    """``jupyter-book build .`` (warnings as errors, keep going) after :func:`prepare`; returns its exit code.

    jupyter-cache keys a notebook on its code only; when ``data/`` or ``energy_nb/`` change, the cache
    is cleared so every number is recomputed from the current data.
    """
    paths.BUILD.mkdir(exist_ok=True)
    digest = inputs_digest()
    if STAMP.exists() and STAMP.read_text().strip() != digest and CACHE.exists():
        print("energy-nb: data/ or energy_nb/ changed since the last build: clearing the notebook cache")
        shutil.rmtree(CACHE)
    if jobs > 1:
        prepare(jobs)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(paths.ROOT)] + (["-W", "--keep-going"] if strict else [])
    rc = subprocess.call(cmd, cwd=paths.ROOT)
    if rc == 0:
        STAMP.write_text(digest)
    return rc
