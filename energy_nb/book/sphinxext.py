"""Sphinx extension: build-time substitutions for the book (git commit, package versions), and a
fix for duplicated inline scripts."""
from __future__ import annotations

import datetime as _dt

from ..core.versions import git_commit, package_versions

#: Pages that use the substitutions: re-read on every build so they never show a stale commit.
PAGES = ("book/intro",)


def _inject(app, config) -> None:
    subs = dict(config.myst_substitutions or {})
    subs["git_commit"] = f"`{git_commit()}`"
    subs["build_date"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subs["package_versions"] = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    config.myst_substitutions = subs


def _outdated(app, env, added, changed, removed):
    return [d for d in PAGES if d in env.found_docs]


def _key(js) -> str:
    return repr((getattr(js, "filename", js) or "", sorted(getattr(js, "attributes", {}).items())))


def _dedupe(items: list) -> None:
    seen, unique = set(), []
    for js in items:
        if _key(js) not in seen:
            seen.add(_key(js))
            unique.append(js)
    items[:] = unique


def _dedupe_scripts(app, *args) -> None:
    """sphinx-thebe and sphinx-togglebutton register their inline config twice under Jupyter Book
    (once with filename None, once with ''); a repeated ``const`` is a console error in the browser,
    so keep the first copy of every script. Connected to html-page-context with the first priority
    and returning None, since that event stops at the first handler that returns a value."""
    builder = getattr(app, "builder", None)
    for attr in ("_js_files", "_orig_js_files"):
        if isinstance(getattr(builder, attr, None), list):
            _dedupe(getattr(builder, attr))


def _root_favicon(app, exception) -> None:
    """Write ``favicon.ico`` at the site root. A page without an icon link (Jupyter Book's root
    ``index.html`` redirect) makes the browser ask for ``/favicon.ico``; without the file that request
    is a 404 console error whenever it goes out before the redirect -- a race that made CI flaky."""
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    from pathlib import Path

    from PIL import Image

    src = Path(app.srcdir) / "book" / "_static" / "favicon.png"
    if src.exists():
        Image.open(src).save(Path(app.outdir) / "favicon.ico", sizes=[(32, 32)])


def _page_downloads(app, exception) -> None:
    """Beside every notebook page's HTML, its MyST source (``.md``) and an executable ``.ipynb``: the
    notebook as executed for this build (its outputs from the notebook cache, where myst-nb keeps them)
    when there is one, else the source converted by jupytext (no outputs). Linked from the page by
    :func:`energy_nb.book.present.page`."""
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    import shutil
    from pathlib import Path

    import jupytext
    import nbformat

    from .build import executed

    src, out = Path(app.srcdir), Path(app.outdir)
    for md in sorted((src / "notebooks").glob("*.md")):
        target = out / "notebooks"
        if not (target / f"{md.stem}.html").exists():
            continue
        shutil.copyfile(md, target / md.name)
        nb = executed(md)
        if nb is not None:
            nbformat.write(nb, target / f"{md.stem}.ipynb")
        else:
            jupytext.write(jupytext.read(md), target / f"{md.stem}.ipynb")


def setup(app):
    app.connect("build-finished", _root_favicon)
    app.connect("build-finished", _page_downloads)
    app.connect("config-inited", _inject, priority=900)
    app.connect("env-get-outdated", _outdated)
    app.connect("html-page-context", _dedupe_scripts, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
