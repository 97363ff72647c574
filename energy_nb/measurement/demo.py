"""A sharded sweep run and watched the way a user would watch it (the live demo of page 4.1).

:func:`run_and_watch` runs a blocking call in a background thread and looks at its progress while it runs;
:func:`run_sharded_demo` uses it to launch a tiny CPU grid (:data:`DEMO_GRID`) over local worker processes
(:func:`energy_nb.measurement.executors.launch`), reads ``energy-nb sweep status OUT`` while a shard runs and again
once they have all finished, and merges the shard files (``energy-nb sweep merge OUT``).

Units: seconds (``poll_s``, and ``idle_seconds`` and ``min_window_s`` of :data:`DEMO_OPTIONS`).
"""
from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..core import paths
from . import executors, shards
from .grid import Grid

#: The demo's grid: two models, two step counts, one tiny resolution, CFG on and off (8 configurations).
DEMO_GRID: dict[str, Any] = dict(models=["sd2", "flux"], steps=[2, 4], resolutions=[64], dtypes=["fp32"], cfg="both",
                                 prompts=[1])
#: Each worker's sweep options: idle power over half a second, windows of at least 0.3 s.
DEMO_OPTIONS: dict[str, float] = dict(idle_seconds=0.5, min_window_s=0.3)

T = TypeVar("T")


def run_and_watch(work: Callable[[], T], look: Callable[[], str | None], poll_s: float = 0.2
                  ) -> tuple[T, str | None]:
    """Run ``work`` in a background thread; every ``poll_s`` seconds while it runs, call ``look`` until it first
    returns text. Returns what ``work`` returned and that text (None when ``work`` ended before any look gave
    one). An exception raised by ``work`` is raised here, once its thread has ended."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # raised again in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    seen: str | None = None
    while thread.is_alive():
        time.sleep(poll_s)
        if seen is None:
            seen = look()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"], seen


def running_status(out: str | Path) -> str | None:
    """``energy-nb sweep status OUT`` once a shard of ``out`` is running with an ETA; None before that (no
    ``sweep.json`` yet, or no shard with a pace to extrapolate)."""
    out = Path(out)
    if not (out / shards.SPEC).exists():
        return None
    st = shards.status(out)
    if (st["state"] == "running").any() and st["eta_s"].notna().any():
        return shards.status_text(out)
    return None


def demo_command(workers: int, out: str) -> str:
    """The ``energy-nb sweep`` command that runs :data:`DEMO_GRID` over ``workers`` local processes into ``out``,
    on three lines as a shell takes them."""
    g = DEMO_GRID
    return (f"energy-nb sweep --models {_words(g['models'])} --steps {_words(g['steps'])} --resolutions "
            f"{_words(g['resolutions'])} \\\n    --dtypes {_words(g['dtypes'])} --cfg {g['cfg']} --prompts "
            f"{_words(g['prompts'])} --executor local --workers {workers} \\\n    --out {out}")


def _words(values: Sequence[Any]) -> str:
    return " ".join(str(v) for v in values)


@dataclass
class ShardedDemo:
    """What :func:`run_sharded_demo` saw. Paths inside the repository are shown relative to its root."""

    command: str  #: the equivalent command line
    during: str | None  #: ``sweep status`` while a shard ran (None: the run ended before a look)
    after: str  #: ``sweep status`` once every worker had finished
    merged_rows: int  #: rows ``sweep merge`` wrote
    merged_files: int  #: shard files it read
    merged_path: str  #: the merged CSV
    launch: executors.Launch  #: what the launcher did


def run_sharded_demo(out: str, workers: int = 2, poll_s: float = 0.2, root: Path = paths.ROOT) -> ShardedDemo:
    """Run :data:`DEMO_GRID` (tiny models on the CPU) as ``workers`` shards of local worker processes into the
    folder ``out`` (relative to ``root``; emptied first), look at ``sweep status`` every ``poll_s`` seconds while
    they run, then once more, and merge the shards. Takes as long as the sweep (seconds to a minute on a CPU)."""
    folder = root / out
    shutil.rmtree(folder, ignore_errors=True)
    grid = Grid.from_dict(dict(DEMO_GRID), "the demo grid")
    launched, during = run_and_watch(
        lambda: executors.launch(grid, folder, "local", workers=workers, progress=False, options=dict(DEMO_OPTIONS)),
        lambda: running_status(folder), poll_s)
    after = shards.status_text(folder)
    merged = shards.merge(folder)
    prefix = str(root) + "/"
    return ShardedDemo(command=demo_command(workers, out), during=during and during.replace(prefix, ""),
                       after=after.replace(prefix, ""), merged_rows=merged.rows, merged_files=merged.files,
                       merged_path=str(merged.path).replace(prefix, ""), launch=launched)
