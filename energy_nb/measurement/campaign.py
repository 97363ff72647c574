"""The GPU campaign: the independent check and the paper's grid, measured in chunks of a few minutes.

A GPU is lent to a session for minutes at a time, so the campaign advances chunk by chunk, each one short
enough to rerun inside the budget if it fails, and resumes from the rows already committed in
``data/measurements/<gpu_part>.csv`` (the sweep's append-only file: a killed chunk keeps every finished row).

Chunks, most information first (:func:`chunks`):

1. ``independent``: the three configurations ML.ENERGY measured on an H100 (SD2 768^2/25 steps/CFG/fp16,
   FLUX.1-dev 1024^2/50/no CFG/bf16, SD3.5-Large 1024^2/28/CFG/bf16), batch 1, three windows each (seeds
   0-2);
2. ``thinned``: the paper's four models, steps {10, 30, 50} x {256, 512, 1024} px x CFG on/off, in each
   model's native half precision, 2 prompts per window;
3. ``rest``: the paper's remaining steps and resolutions, same footing;
4. ``fp32``: the thinned grid in fp32 (Qwen-Image included, which the paper could not run).

Each group is cut into chunks whose estimated time (:func:`estimate_seconds`) stays under a budget. The
estimate prices a configuration's counted FLOPs at the throughput an H100 achieves on ML.ENERGY's batch-1
rows (counted FLOPs over measured time, :func:`achieved_flops`), plus idle measurement, warm-up and model
builds. The sweep runs batch 1 only, so ML.ENERGY's batch sizes are not a chunk yet.

Units: seconds, FLOP/s, W.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import provenance
from ..core.errors import UserError
from ..models.configuration import Configuration
from ..models.registry import PAPER_MODELS, get_model
from .grid import Grid

#: Columns that identify a measured configuration in a campaign file (its GPU is the file's).
DONE_COLUMNS = ("model", "height", "width", "steps", "dtype", "cfg", "n_prompts", "size", "seed")
#: The independent check: (model, resolution, steps, CFG, dtype) as ML.ENERGY measured them on an H100.
INDEPENDENT = (("sd2", 768, 25, 1, "fp16"), ("flux", 1024, 50, 0, "bf16"), ("sd35", 1024, 28, 1, "bf16"))
THIN_STEPS, THIN_RESOLUTIONS = (10, 30, 50), (256, 512, 1024)
#: The half precision each paper model is released and run in (the independent check's, for SD2 and SD3.5).
NATIVE_DTYPES = {"sd2": "fp16", "sd35": "bf16", "flux": "bf16", "qwen": "bf16"}
#: A chunk's estimated seconds stay under this (a device command may run 10 minutes; a chunk of 5 minutes
#: at most, start-up included, can be rerun inside a session's budget).
BUDGET_S = 210.0
#: What one measurement costs beyond its images: idle power window, model build, warm-up (s).
IDLE_S, BUILD_S, WARMUP_S, STEP_OVERHEAD_S = 5.0, 10.0, 1.0, 0.01


@dataclass(frozen=True)
class Chunk:
    """One piece of the campaign: the configurations it measures, each in ``seeds`` windows."""

    name: str
    note: str
    configs: tuple[Configuration, ...]
    seeds: tuple[int, ...] = (0,)
    size: str = "full"

    def items(self) -> list[tuple[Configuration, int]]:
        """(configuration, seed) pairs, grouped by seed then pipeline (model, dtype): the order they run in."""
        return [(c, s) for s in self.seeds for c in self.configs]

    def grids(self, device: str) -> list[tuple[Grid, int]]:
        """One sweep grid per (model, dtype, resolution, prompts) and seed: what :func:`run_chunk` runs."""
        out = []
        for seed in self.seeds:
            groups: dict[tuple, list[Configuration]] = {}
            for c in self.configs:
                groups.setdefault((c.model, c.dtype, c.height, c.width, c.prompts), []).append(c)
            for (m, d, h, w, n), cs in groups.items():
                g = Grid(models=[m], steps=sorted({c.steps for c in cs}), resolutions=[(h, w)], dtypes=[d],
                         cfg=sorted({int(c.cfg) for c in cs}), prompts=[n], size=self.size, device=device, seed=seed)
                out.append((g, seed))
        return out


def native_dtype(model: str) -> str:
    """The half precision a paper model is released in (:data:`NATIVE_DTYPES`; fp16 for any other)."""
    return NATIVE_DTYPES.get(get_model(model).key, "fp16")


def _grid_configs(models: Iterable[str], steps: Iterable[int], resolutions: Iterable[int], cfgs: Iterable[int],
                  dtype: str | None, prompts: int, budget_s: float = BUDGET_S) -> list[Configuration]:
    """Every combination, in the order a sweep runs them; a configuration whose ``prompts`` images alone would
    take more than ``budget_s`` gets one prompt per window."""
    out = []
    for m in models:
        for r in resolutions:
            for s in steps:
                for c in cfgs:
                    conf = Configuration(m, r, r, s, dtype or native_dtype(m), bool(c), None, prompts=prompts)
                    if prompts > 1 and estimate_seconds([(conf, 0)]) > budget_s:
                        conf = conf.replace(prompts=1)
                    out.append(conf)
    return out


@provenance.cache
def achieved_flops(model: str | None = None) -> float:
    """FLOP/s an H100 achieves on ML.ENERGY's batch-1 rows (counted FLOPs of one image over its measured time
    per image): the median over ``model``'s rows, or over every model's where it has none."""
    from ..compute.flops import scaling_flops
    from ..data.shipped import external_data

    d = external_data()
    d = d[(d["gpu"] == "H100") & (d["batch_size"] == 1) & d["time_s"].notna()]
    if d.empty:
        raise UserError("no ML.ENERGY H100 batch-1 rows with a time to estimate a chunk's seconds from")
    rates = pd.Series([scaling_flops(r.model, int(r.height), int(r.width), int(r.steps), int(r.cfg), 1, "counted")
                       / float(r.time_s) for r in d.itertuples()], index=d["model"].to_numpy())
    own = rates[rates.index == model] if model is not None else rates.iloc[:0]
    return float((own if len(own) else rates).median())


def image_seconds(c: Configuration) -> float:
    """Estimated seconds of one image of ``c`` at :func:`achieved_flops` of its model (fp32 at a quarter of
    it), plus a fixed cost per denoiser call."""
    from ..compute.flops import scaling_flops

    rate = achieved_flops(c.model) / (4.0 if c.dtype == "fp32" else 1.0)
    calls = c.steps * (1 if get_model(c.model).cfg_batched or not c.cfg else 2)
    return scaling_flops(c.model, c.height, c.width, c.steps, int(c.cfg), 1, "counted") / rate \
        + calls * STEP_OVERHEAD_S


def estimate_seconds(items: Iterable[tuple[Configuration, int]]) -> float:
    """Estimated seconds to measure ``items`` ((configuration, seed) pairs) in one process: an idle window and
    a build per sweep (seed and pipeline), a warm-up and the images of each configuration."""
    items = list(items)
    sweeps = {(s, c.model, c.dtype) for c, s in items}
    return len({s for _, s in items}) * IDLE_S + len(sweeps) * BUILD_S + sum(
        WARMUP_S + c.prompts * image_seconds(c) for c, _ in items)


def _cut(name: str, note: str, configs: list[Configuration], seeds: tuple[int, ...], size: str,
         budget_s: float) -> list[Chunk]:
    """``configs`` in order, cut into chunks whose estimate stays under ``budget_s`` (a configuration that alone
    exceeds it is a chunk of its own)."""
    out: list[Chunk] = []
    part: list[Configuration] = []
    for c in configs:
        if part and estimate_seconds((x, s) for x in [*part, c] for s in seeds) > budget_s:
            out.append(Chunk(f"{name}-{len(out) + 1}", note, tuple(part), seeds, size))
            part = []
        part.append(c)
    if part:
        out.append(Chunk(f"{name}-{len(out) + 1}", note, tuple(part), seeds, size))
    return out


def chunks(size: str = "full", budget_s: float = BUDGET_S, prompts: int = 2) -> list[Chunk]:
    """The campaign, in the order it runs (see the module docstring)."""
    if budget_s <= 0:
        raise UserError(f"budget_s {budget_s!r} is not allowed: a number of seconds > 0")
    from .grid import PAPER_GRID

    indep = [Configuration(m, r, r, s, d, bool(c), None, prompts=prompts) for m, r, s, c, d in INDEPENDENT]
    out = _cut("independent", "ML.ENERGY's three H100 configurations, three windows each", indep, (0, 1, 2), size,
               max(budget_s, estimate_seconds((c, s) for c in indep for s in (0, 1, 2))))
    for m in PAPER_MODELS:
        out += _cut(f"thinned-{m}", f"{m}: steps 10/30/50 x 256/512/1024 px x CFG, {native_dtype(m)}",
                    _grid_configs([m], THIN_STEPS, THIN_RESOLUTIONS, (0, 1), None, prompts, budget_s), (0,), size,
                    budget_s)
    thin = {(c.model, c.height, c.steps) for c in _grid_configs(PAPER_MODELS, THIN_STEPS, THIN_RESOLUTIONS, (0,),
                                                                   None, prompts)}
    for m in PAPER_MODELS:
        rest = [c for c in _grid_configs([m], PAPER_GRID["steps"], PAPER_GRID["resolutions"], (0, 1), None, prompts,
                                     budget_s)
                if (c.model, c.height, c.steps) not in thin]
        out += _cut(f"rest-{m}", f"{m}: the paper's other steps and resolutions", rest, (0,), size, budget_s)
    for m in PAPER_MODELS:
        out += _cut(f"fp32-{m}", f"{m}: the thinned grid in fp32", _grid_configs([m], THIN_STEPS, THIN_RESOLUTIONS,
                                                                                 (0, 1), "fp32", prompts, budget_s),
                    (0,), size, budget_s)
    return out


# ---------------------------------------------------------------------------------------------------
# Progress, from the campaign's file
# ---------------------------------------------------------------------------------------------------
def _key(c: Configuration, seed: int, size: str) -> tuple:
    return (c.model, str(c.height), str(c.width), str(c.steps), c.dtype, str(int(c.cfg)), str(c.prompts), size,
            str(seed))


def done(csv: str | Path | None) -> set[tuple]:
    """Keys (:data:`DONE_COLUMNS`) of the configurations a campaign file holds a row of (any status: an error or
    an out-of-memory row is a finished measurement; complete lines only)."""
    if csv is None or not Path(csv).exists():
        return set()
    from ..data.schema import read_energy_csv

    df = read_energy_csv(csv, complete_lines_only=True)
    if df.empty:
        return set()
    cols = df[list(DONE_COLUMNS)].astype(object)
    cols["cfg"] = cols["cfg"].map(lambda v: int(bool(v)) if pd.notna(v) else v)
    return {tuple("" if pd.isna(v) else str(v) for v in r) for r in cols.itertuples(index=False)}


@dataclass
class Progress:
    """A chunk's state against a campaign file: ``remaining`` (configuration, seed) pairs and their estimate."""

    chunk: Chunk
    remaining: list[tuple[Configuration, int]] = field(default_factory=list)

    @property
    def state(self) -> str:
        n = len(self.chunk.items())
        return "done" if not self.remaining else "todo" if len(self.remaining) == n else "partial"


def progress(plan: list[Chunk], csv: str | Path | None) -> list[Progress]:
    """Every chunk of ``plan`` with what ``csv`` still lacks of it."""
    have = done(csv)
    return [Progress(ch, [(c, s) for c, s in ch.items() if _key(c, s, ch.size) not in have]) for ch in plan]


def next_chunk(plan: list[Chunk], csv: str | Path | None) -> Progress | None:
    """The first chunk of ``plan`` that ``csv`` does not finish (None: the campaign is done)."""
    return next((p for p in progress(plan, csv) if p.remaining), None)


def plan_table(plan: list[Chunk], csv: str | Path | None) -> pd.DataFrame:
    """One row per chunk: name, what it holds, configurations x windows, state, estimated seconds of what
    remains."""
    rows = []
    for p in progress(plan, csv):
        rows.append(dict(chunk=p.chunk.name, what=p.chunk.note, windows=len(p.chunk.items()),
                         remaining=len(p.remaining), state=p.state,
                         estimate_s=round(estimate_seconds(p.remaining), 1) if p.remaining else 0.0))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# Running the next chunk
# ---------------------------------------------------------------------------------------------------
class _Deadline(Exception):
    """Raised between two configurations once the chunk's time is up."""


@dataclass
class ChunkResult:
    chunk: str | None
    measured: int
    remaining: int
    seconds: float
    stopped_by_deadline: bool


def run_chunk(plan: list[Chunk], csv: str | Path, device: str = "cuda", deadline_s: float = 280.0,
              meters: list[str] | None = None, idle_seconds: float = IDLE_S, min_window_s: float = 1.0,
              log: Callable[[str], None] = print, on_config: Callable[[dict[str, Any]], None] | None = None
              ) -> ChunkResult:
    """Measure what ``csv`` still lacks of the next unfinished chunk, appending rows to ``csv``; stop between two
    configurations once ``deadline_s`` have passed and one configuration at least is measured (a later call goes
    on from there). ``on_config`` sees the sweep's progress after each configuration. A chunk killed mid-way
    keeps every finished row: the sweep's file is append-only."""
    from .run import run_sweep

    t0 = time.perf_counter()
    nxt = next_chunk(plan, csv)
    if nxt is None:
        log("the campaign is done: every chunk has its rows")
        return ChunkResult(None, 0, 0, 0.0, False)
    ch = nxt.chunk
    log(f"chunk {ch.name} ({ch.note}): {len(nxt.remaining)} of {len(ch.items())} windows to measure, "
        f"estimated {estimate_seconds(nxt.remaining):.0f} s")
    stopped = False
    todo = {_key(c, s, ch.size) for c, s in nxt.remaining}
    before = 0  # configurations measured by the earlier sweeps of this call
    for grid, seed in ch.grids(device):
        if not any(_key(c, seed, ch.size) in todo for c in grid.configs()):
            continue

        def check(p: dict[str, Any], before: int = before) -> None:
            if on_config is not None:
                on_config(p)
            # at least one configuration per call, so a chunk always advances
            if p["current"] is not None and before + p["measured"] >= 1 and time.perf_counter() - t0 > deadline_s:
                raise _Deadline

        try:
            before += run_sweep(grid, csv, meters=meters, idle_seconds=idle_seconds, min_window_s=min_window_s,
                                progress=False, log=log, on_progress=check).measured
        except _Deadline:
            stopped = True
            log(f"deadline of {deadline_s:.0f} s reached: stopping between two configurations")
            break
    left = next_chunk([ch], csv)
    remaining = 0 if left is None else len(left.remaining)
    measured = len(nxt.remaining) - remaining
    secs = time.perf_counter() - t0
    log(f"chunk {ch.name}: {measured} window(s) measured in {secs:.0f} s, {remaining} left")
    return ChunkResult(ch.name, measured, remaining, secs, stopped)
