"""Run a book notebook (jupytext MyST ``.md``) with papermill and parameters, without leaving a stray .ipynb."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..core import paths
from ..core.errors import UserError

SMOKE_FILE = paths.NOTEBOOKS / "smoke.yml"


def resolve(notebook: str | Path) -> Path:
    """A notebook by path or by name (``flops`` -> ``notebooks/flops.md``)."""
    p = Path(notebook)
    for cand in (p, paths.NOTEBOOKS / p, paths.NOTEBOOKS / f"{p}.md", paths.ROOT / p):
        if cand.is_file():
            return cand.resolve()
    known = ", ".join(sorted(q.stem for q in paths.NOTEBOOKS.glob("*.md")))
    raise UserError(f"no notebook {str(notebook)!r}; known notebooks: {known}")


def parameters_of(notebook: str | Path) -> dict[str, Any]:
    """The default parameters (the cell tagged ``parameters``), evaluated."""
    import jupytext

    nb = jupytext.read(resolve(notebook))
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


def run(notebook: str | Path, parameters: dict[str, Any] | None = None, output: str | Path | None = None,
        progress: bool = True, kernel_name: str = "python3"):
    """Execute ``notebook`` with papermill, overriding ``parameters``; write ``output`` (.ipynb) if given.

    Unknown parameter names are refused (papermill would silently add them). The notebook runs with
    its own folder as working directory. Returns the executed notebook node.
    """
    import jupytext
    import papermill as pm

    path = resolve(notebook)
    parameters = dict(parameters or {})
    allowed = parameters_of(path)
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        raise UserError(f"{path.name}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    nb = jupytext.read(path)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    return pm.execute_notebook(nb, str(output) if output else None, parameters=parameters, kernel_name=kernel_name,
                               progress_bar=progress, cwd=str(path.parent))
