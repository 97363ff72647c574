"""Which data files each output of a page was made from, followed cell by cell.

The package's readers record every file of ``data/`` they open (:func:`energy_nb.core.provenance.note_read`; a
cached result records its files again on each use). A page's cells run one after another in one kernel, so a
result shown in a cell was made from

- the files read while the cell runs, and
- the files behind every variable the cell uses: a variable assigned in an earlier cell carries the files read
  while that cell ran (and the files behind the variables *it* used).

:class:`Tracker` keeps that bookkeeping from the cells' source (their names, through :mod:`ast`); :func:`start`
hooks it into IPython's ``pre_run_cell`` / ``post_run_cell`` events, from the page's first call
(:func:`energy_nb.book.present.page`). :func:`files` is what a source line names; outside a tracked kernel it is
every file the process has read.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from ..core import provenance


def names(source: str) -> tuple[set[str], set[str], set[str]]:
    """Names the cell ``source`` (Python; IPython magics and a cell that does not parse give nothing) loads, assigns
    and changes in place (``x[k] = ...``, ``x.a = ...``, ``x += ...``): three sets."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), set()
    loads, stores, changes = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stores if isinstance(node.ctx, ast.Store) else loads).add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            root = node.value
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name):
                changes.add(root.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            changes.add(node.target.id)
    return loads, stores, changes


@dataclass
class Tracker:
    """The files behind each variable of a kernel, and the open recording of the cell that runs."""

    behind: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: variable -> files of data/ (relative)
    scope: dict[str, None] | None = None  #: the running cell's files so far

    def pre(self, source: str) -> None:
        """A cell starts: open its recording, seeded with the files behind the variables it uses."""
        self.post("")
        loads, _, changes = names(source)
        seed = [f for n in sorted(loads | changes) for f in self.behind.get(n, ())]
        self.scope = provenance.open_scope(seed)

    def post(self, source: str) -> None:
        """A cell ended: what it assigned carries the cell's files (what it changed in place, those added)."""
        if self.scope is None:
            return
        read = tuple(self.scope)
        provenance.close_scope(self.scope)
        self.scope = None
        _, stores, changes = names(source)
        for n in stores:
            self.behind[n] = read
        for n in changes - stores:
            self.behind[n] = tuple(dict.fromkeys(self.behind.get(n, ()) + read))


_TRACKER: dict[str, Tracker] = {}


def start(source: str = "") -> None:
    """Follow this kernel's cells (once per kernel; no-op outside IPython). ``source``: the running cell's, when known
    (the page's first code cell calls this before its own ``post_run_cell``)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a book dependency
        return
    ip = get_ipython()
    if ip is None or "t" in _TRACKER:
        return
    tracker = _TRACKER["t"] = Tracker()
    tracker.pre(source)
    ip.events.register("pre_run_cell", lambda info: tracker.pre(getattr(info, "raw_cell", "") or ""))
    ip.events.register("post_run_cell", lambda result: tracker.post(
        getattr(getattr(result, "info", None), "raw_cell", "") or ""))


def files() -> list[Any]:
    """The files of ``data/`` behind what the running cell shows (every file read so far outside a tracked kernel)."""
    tracker = _TRACKER.get("t")
    if tracker is None or tracker.scope is None:
        return provenance.reads()
    from ..core import paths

    return [paths.DATA / r for r in tracker.scope]
