"""``energy-nb run`` (a notebook with papermill and parameters), ``energy-nb book`` (build the book) and
``energy-nb lab`` (JupyterLab on the notebooks)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import UserError
from .options import check_options


def cmd_run(a: argparse.Namespace) -> int:
    """Execute a notebook; a cell that raises is one line (notebook, cell, exception and message), exit 2."""
    from papermill.exceptions import PapermillExecutionError

    from ..book.notebooks import execution_error, resolve, run, smoke_parameters
    from ..core.yamlio import load_text

    params = smoke_parameters(a.notebook) if a.smoke else {}
    for name, value in a.p or []:
        params[name] = load_text(value, f"-p {name} {value!r}")
    out = a.output or str(Path("_build") / "runs" / (Path(a.notebook).stem + ".ipynb"))
    try:
        run(a.notebook, params, out, progress=not a.quiet)
    except PapermillExecutionError as exc:
        raise UserError(execution_error(resolve(a.notebook), exc, out)) from None
    print(f"executed {a.notebook} with {params or 'its defaults'} -> {out}")
    return 0


def cmd_book(a: argparse.Namespace) -> int:
    from ..book.build import build

    check_options(("--jobs", a.jobs, lambda v: v >= 1, "an integer >= 1 (pages executed at a time)"))
    return build(strict=not a.no_strict, jobs=a.jobs)


def cmd_lab(a: argparse.Namespace) -> int:
    import subprocess

    from ..book.lab import command

    check_options(("--port", a.port, lambda v: 1 <= v <= 65535, "a TCP port, an integer from 1 to 65535"))
    args = command(a.root, a.port, a.extra)
    print("starting JupyterLab on the notebooks (open the URL with its token printed below; Ctrl-C stops it)",
          flush=True)
    return subprocess.call(args)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="execute a notebook with papermill and parameters",
                       description="Execute one page of notebooks/ (jupytext MyST .md, converted in memory) with "
                                   "papermill, its parameters cell overridden by -p NAME VALUE (YAML values).")
    r.add_argument("notebook", help="path or name, e.g. notebooks/flops.md or flops")
    r.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="parameter (VALUE parsed as YAML: 3, true, [sd2, flux])")
    r.add_argument("-o", "--output", help="executed .ipynb (default _build/runs/NAME.ipynb)")
    r.add_argument("--smoke", action="store_true", help="start from the notebook's fast parameter set")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("book", help="execute notebooks (cached) and build _build/html",
                       description="What `make book` runs after set-up: execute the pages whose cached outputs are "
                                   "missing or stale, then Jupyter Book with warnings as errors, into _build/html.")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    b.add_argument("--jobs", type=int, default=2, help="pages executed at a time before the build (default 2)")
    b.set_defaults(func=cmd_book)

    lab = sub.add_parser("lab", help="JupyterLab on the notebooks (.md opens as a notebook; saving writes it back)",
                         description="JupyterLab on the repository with jupytext's notebook view as the default for "
                                     "notebooks/*.md; no browser is opened, the URL with its token is printed.")
    lab.add_argument("--root", default=".", help="folder served (default: the current one, the repository root)")
    lab.add_argument("--port", type=int, default=None, help="localhost port (default: a free one)")
    lab.add_argument("extra", nargs="*", help="further jupyter lab options, after --")
    lab.set_defaults(func=cmd_lab)
