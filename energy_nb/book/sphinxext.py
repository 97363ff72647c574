"""Sphinx extension: build-time substitutions for the book (version, git commit, package versions), the footer naming
them on every page, the repository and launch buttons where the publishing workflow gives the repository's URL
(:data:`REPOSITORY_ENV`), and a fix for duplicated inline scripts."""
from __future__ import annotations

import datetime as _dt

from ..core.versions import git_commit, package_versions

#: Pages that use the substitutions: re-read on every build so they never show a stale commit.
PAGES = ("book/intro",)


#: Where the publishing workflow says the repository is (``https://github.com/OWNER/NAME``): with it, the pages get
#: the repository and issue buttons and their launch links; without it (a local build), none that would be broken.
REPOSITORY_ENV = "ENERGY_NB_REPOSITORY_URL"


def _inject(app, config) -> None:
    import os

    from ..core.versions import __version__

    subs = dict(config.myst_substitutions or {})
    subs["git_commit"] = f"`{git_commit()}`"
    subs["energy_nb_version"] = __version__
    theme = dict(config.html_theme_options or {})
    theme["extra_footer"] = (f'<p class="enb-built">energy-nb {__version__}, commit <code>{git_commit()}</code> · '
                             'cite it: <code>CITATION.cff</code> (see "How to cite" on the front page)</p>')
    url = os.environ.get(REPOSITORY_ENV, "").strip().rstrip("/")
    if url:
        theme.update(repository_url=url, repository_branch="main", path_to_docs="", use_repository_button=True,
                     use_issues_button=True, launch_buttons=dict(notebook_interface="jupyterlab",
                                                                 binderhub_url="https://mybinder.org",
                                                                 colab_url="https://colab.research.google.com"))
    config.html_theme_options = theme
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
