"""Run a book notebook (jupytext MyST ``.md``) with papermill and parameters, without leaving a stray .ipynb.

Parameters are checked against the notebook's ``parameters`` cell before a kernel starts (names, and types against
the defaults); a cell that raises is described in one line by :func:`execution_error`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from ..core import paths
from ..core.errors import UserError

SMOKE_FILE = paths.NOTEBOOKS / "smoke.yml"
#: What a notebook file may be: jupytext's MyST Markdown (the book's pages) or a Jupyter notebook.
SUFFIXES = (".md", ".ipynb")


def resolve(notebook: str | Path) -> Path:
    """A notebook by path or by name (``flops`` -> ``notebooks/flops.md``): one of the book's pages, or a ``.md`` or
    ``.ipynb`` file that exists; anything else is refused naming the book's notebooks."""
    p = Path(notebook)
    found = None
    for cand in (p, paths.NOTEBOOKS / p, paths.NOTEBOOKS / f"{p}.md", paths.ROOT / p):
        if cand.is_file() and cand.suffix in SUFFIXES:
            return cand.resolve()
        found = found or (cand if cand.exists() else None)
    known = ", ".join(sorted(q.stem for q in paths.NOTEBOOKS.glob("*.md")))
    allowed = f"the book's notebooks: {known}; or a .md (jupytext MyST) or .ipynb notebook file"
    if found is not None:
        what = "a folder" if found.is_dir() else f"a {found.suffix or 'suffix-less'} file"
        raise UserError(f"{str(notebook)!r} is not a notebook ({what}); allowed: {allowed}")
    raise UserError(f"no notebook {str(notebook)!r}; allowed: {allowed}")


def read(notebook: str | Path) -> Any:
    """The notebook node of ``notebook`` (:func:`resolve`) read by jupytext; a file it cannot read is one line."""
    import jupytext

    path = resolve(notebook)
    try:
        return jupytext.read(path)
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:  # not UTF-8, JSON or a notebook
        reason = f"{type(exc).__name__}: " + " ".join(str(exc).split())[:300]
        raise UserError(f"cannot read the notebook {path.name} ({path}): {reason}; allowed: a .md (jupytext MyST) "
                        "or .ipynb notebook") from None


def parameters_of(notebook: str | Path) -> dict[str, Any]:
    """The default parameters (the cell tagged ``parameters``), evaluated."""
    nb = read(notebook)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            scope: dict[str, Any] = {}
            exec(cell.source, scope)  # noqa: S102 - our own notebook's literal assignments
            return {k: v for k, v in scope.items() if not k.startswith("__")}
    raise UserError(f"{notebook}: no cell tagged 'parameters'")


def smoke_parameters(notebook: str | Path) -> dict[str, Any]:
    """The fast parameter set of a notebook, from ``notebooks/smoke.yml``."""
    table = yaml.safe_load(SMOKE_FILE.read_text()) or {}
    return dict(table.get(resolve(notebook).stem) or {})


def _expected(default: Any) -> tuple[type | tuple[type, ...], str] | None:
    """The types a parameter whose default is ``default`` takes, and their name; None: any (a default of None)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return bool, "true or false"
    if isinstance(default, int):
        return int, "an integer"
    if isinstance(default, float):
        return (int, float), "a finite number"
    if isinstance(default, str):
        return str, "text"
    if isinstance(default, list | tuple):
        return list, "a list (YAML: [a, b])"
    if isinstance(default, dict):
        return dict, "a mapping (YAML: {key: value})"
    return None


def check_parameters(path: Path, parameters: dict[str, Any], allowed: dict[str, Any]) -> None:
    """Refuse, in one line, a parameter the ``parameters`` cell does not have (papermill would silently add it) or a
    value of another type than its default's (an int where a float is expected is fine; null is always passed)."""
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise UserError(f"{path.name}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    for name, value in parameters.items():
        want = _expected(allowed[name])
        if want is None or value is None:
            continue
        types, what = want
        ok = isinstance(value, types) and (isinstance(allowed[name], bool) or not isinstance(value, bool))
        if ok and isinstance(value, float):
            ok = math.isfinite(value)
        if not ok:
            hint = (" (quote text YAML reads otherwise, e.g. -p NAME '\"on\"')"
                    if what == "text" and isinstance(value, bool | int | float) else "")
            raise UserError(f"{path.name}: parameter {name} = {value!r} ({type(value).__name__}) is not allowed: "
                            f"{what}, as its default {allowed[name]!r}{hint}")


def execution_error(notebook: str | Path, exc: Any, output: str | Path | None = None) -> str:
    """One line for papermill's ``PapermillExecutionError`` ``exc``: the notebook, the cell (its ``In [n]`` and first
    line), the exception's name and message, and where the full traceback is."""
    message = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc.evalue or "")).split())
    first = next((line.strip() for line in str(exc.source or "").splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    where = f"; the traceback is in {output}" if output else ""
    return (f"{Path(notebook).name}: the cell In [{exc.exec_count}]" + (f" ({first})" if first else "")
            + f" raised {exc.ename}: {message or '(no message)'}{where}")


def run(notebook: str | Path, parameters: dict[str, Any] | None = None, output: str | Path | None = None,
        progress: bool = True, kernel_name: str = "python3"):
    """Execute ``notebook`` with papermill, overriding ``parameters``; write ``output`` (.ipynb) if given.

    Unknown parameter names and values of another type than the default's are refused before a kernel starts
    (:func:`check_parameters`). The notebook runs with its own folder as working directory. Returns the executed
    notebook node; a cell that raises raises papermill's ``PapermillExecutionError`` (its full traceback kept, for
    the tests; the command line prints :func:`execution_error`).
    """
    import papermill as pm

    path = resolve(notebook)
    parameters = dict(parameters or {})
    check_parameters(path, parameters, parameters_of(path))
    nb = read(path)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    # The kernel's own log (ipykernel warns on stderr that TCP is unencrypted; at shutdown it may log a caught
    # KeyboardInterrupt as an error) says nothing about the notebook: only a critical one reaches stderr.
    return pm.execute_notebook(nb, str(output) if output else None, parameters=parameters, kernel_name=kernel_name,
                               progress_bar=progress, cwd=str(path.parent),
                               extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
