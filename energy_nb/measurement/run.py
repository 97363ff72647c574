"""Running a sweep: every configuration of a grid measured one by one into an append-only CSV.

The CSV is the record schema (:mod:`energy_nb.data.schema`), one row per configuration and meter
(:mod:`energy_nb.measurement.log`). Rerunning the same command skips every configuration that already has a
row (any status), so nothing is measured twice and nothing finished is lost; ``--retry-errors`` re-measures
configurations whose only rows are errors. Out-of-memory is recorded as ``status=oom`` and the sweep goes on.

Units: ``energy_j`` is the net energy (J) of all ``n_prompts`` images: ``energy_raw_j - idle_w x
duration_s``.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..models.configuration import Configuration
from ..models.hardware import gpu_part
from .grid import Grid, describe, parse_shard, shard
from .log import RowLog, done_keys, row_key


@dataclass
class SweepResult:
    out: Path
    planned: int  #: configurations in this shard
    skipped: int  #: already in the file
    measured: int  #: new configurations measured this run (any status)
    statuses: dict[str, int]
    seconds: float


def _versions() -> dict[str, str]:
    import diffusers
    import torch

    return dict(torch_version=torch.__version__, diffusers_version=diffusers.__version__)


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def run_sweep(grid: Grid, out: str | Path, meters: list[str] | None = None, shard_spec: str | None = None,
              idle_seconds: float = 5.0, warmup: int = 1, country: str = "USA", retry_errors: bool = False,
              progress: bool = True, gpu_label_override: str | None = None, min_window_s: float = 1.0,
              log: Callable[[str], None] | None = None, also_done: Iterable[str | Path] = (),
              on_progress: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Measure every configuration of ``grid`` (this shard's part) not yet in ``out``; append rows.

    Per configuration: ``warmup`` uncounted generations (1 prompt, ``min(steps, 2)`` steps), then one
    synchronised window over ``n_prompts`` prompts in sequence (seeds ``seed .. seed + n - 1``), read
    by every meter. Idle power is measured once, before the first measurement, for ``idle_seconds``.
    A window shorter than ``min_window_s`` (tiny models) repeats the N prompts until it is long enough;
    the row then holds the per-run averages (raw energy and duration divided by the repetitions).

    ``also_done``: other sweep files (the other shards of a sharded sweep) whose configurations count as
    done too, so a resubmission with another number of shards redoes nothing. ``on_progress`` is called
    with ``planned``, ``done`` (configurations of this shard with rows), ``measured`` (this run),
    ``statuses`` and ``current`` after the skip check and after each configuration.
    """
    import torch
    from tqdm import tqdm

    from . import meters as measure
    from .pipelines import Replica, check_device

    t_start = time.perf_counter()
    grid.validate()
    device = check_device(grid.device)
    if grid.size == "full" and device.type == "cpu":
        raise UserError("size 'full' on the CPU is refused (tens of GB, hours per image); use --size tiny, "
                         "or --device cuda on a GPU")
    meter_names = meters or measure.default_meters(device)
    meter_objs = measure.make_meters(meter_names, device, country)
    say = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    i, k = parse_shard(shard_spec)
    configs = shard(grid.configs(), i, k)
    rowlog = RowLog(out)
    state0 = measure.device_state(device)
    gpu = gpu_label_override or measure.gpu_label(state0.gpu_name, device)
    base = dict(gpu=gpu, size=grid.size, device=device.type, weights=grid.weights, seed=grid.seed,
                gpu_name=state0.gpu_name,
                gpu_part=gpu_part(state0.gpu_name) if device.type == "cuda" else None, batch_size=1, num_gpus=1,
                energy_scope="net",
                driver=state0.driver, power_limit_w=state0.power_limit_w, source="energy-nb sweep", **_versions())

    def key_of(c: Configuration, meter: str) -> tuple:
        return row_key(dict(c.record(), **base, meter=meter))

    done = done_keys([rowlog.path, *also_done], retry_errors)
    todo = [c for c in configs if not all(key_of(c, m) in done for m in meter_names)]
    skipped = len(configs) - len(todo)
    statuses: dict[str, int] = {}

    def report(measured_now: int, current: Configuration | None) -> None:
        if on_progress is not None:
            on_progress(dict(planned=len(configs), done=skipped + measured_now, measured=measured_now,
                             statuses=dict(statuses), current=None if current is None else current.record()))

    report(0, todo[0] if todo else None)
    if not todo:
        say(f"nothing to do: all {len(configs)} configurations of this shard are in {rowlog.path}")
        return SweepResult(rowlog.path, len(configs), skipped, 0, statuses, time.perf_counter() - t_start)

    idle = measure.idle_power(meter_objs, device, idle_seconds)
    say("idle power: " + ", ".join(f"{m} {w:.2f} W" for m, w in idle.items()) + f" (over {idle_seconds:g} s)")

    replica: Replica | None = None
    replica_key: tuple | None = None
    build_error: BaseException | None = None
    bar = tqdm(total=len(configs), initial=skipped, desc=f"sweep {i}/{k}", unit="config", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    measured = 0
    interrupt = _Interrupt()
    try:
        for c in todo:
            interrupt.check()
            bar.set_postfix_str(describe(c))
            if (c.model, c.dtype) != replica_key:
                if replica is not None:
                    replica.close()
                replica, build_error, replica_key = None, None, (c.model, c.dtype)
                try:
                    t_build = time.perf_counter()
                    replica = Replica(c.model, grid.size, grid.device, c.dtype, grid.weights, grid.pretrained)
                    say(f"built {grid.size} {c.model} {c.dtype} on {grid.device} in "
                        f"{time.perf_counter() - t_build:.1f} s")
                except Exception as exc:  # recorded per configuration below
                    if isinstance(exc, ValueError) and not _is_oom(exc):
                        raise
                    build_error = exc
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
            rows = _measure_config(c, replica, build_error, meter_objs, idle, device, warmup, grid.seed, min_window_s)
            for r in rows:
                row = dict(base, **c.record(), **r)
                rowlog.append(row)
                statuses[row["status"].split(":")[0]] = statuses.get(row["status"].split(":")[0], 0) + 1
                if row["status"] != "ok":
                    say(f"{describe(c)}: "
                        f"{row['status']}")
            measured += 1
            bar.update(1)
            report(measured, todo[measured] if measured < len(todo) else None)
            interrupt.check()
    finally:
        interrupt.restore()
        bar.close()
        if replica is not None:
            replica.close()
    return SweepResult(rowlog.path, len(configs), skipped, measured, statuses, time.perf_counter() - t_start)


class _Interrupt:
    """Ctrl-C (SIGINT) during a sweep: raise KeyboardInterrupt at once, as Python does, and remember it.

    Python drops a KeyboardInterrupt that lands in a destructor or a GC callback ("Exception ignored in
    ..."), and a sweep spends time in both (torch tensors, meters); the remembered signal is raised again at
    the next configuration boundary, so an interrupted sweep always stops, with every finished row kept."""

    def __init__(self) -> None:
        import signal
        import threading

        self.seen = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _measure_config(c: Configuration, replica, build_error: BaseException | None, meters, idle: dict[str, float],
                    device, warmup: int, seed: int, min_window_s: float = 0.0) -> list[dict[str, Any]]:
    """One configuration, every meter: a list of row fragments (status, energies, device state)."""
    import torch

    from . import meters as measure

    def failed(exc: BaseException, when: str) -> list[dict[str, Any]]:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        status = "oom" if _is_oom(exc) else "error: " + f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        return [dict(meter=m.name, status=status, note=f"{when}", timestamp=_now()) for m in meters]

    if build_error is not None:
        return failed(build_error, "while building the pipeline")
    s0 = measure.device_state(device)
    try:
        for w in range(warmup):
            replica(c.height, c.width, min(c.steps, 2), bool(c.cfg), seed=seed + 10_000 + w)

        reps = 0

        def work() -> None:
            # The N prompts, repeated until the window is long enough for the meters to resolve it.
            nonlocal reps
            t0 = time.perf_counter()
            while True:
                for p in range(c.prompts):
                    replica(c.height, c.width, c.steps, bool(c.cfg), seed=seed + p)
                reps += 1
                if time.perf_counter() - t0 >= min_window_s:
                    break

        readings = measure.window(meters, device, work)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return failed(exc, "during generation")
    s1 = measure.device_state(device)
    rows = []
    for r in readings:
        if reps > 1:  # per run of the N prompts: raw energy and duration divided by the repetitions
            r = measure.Reading(r.meter, r.energy_j / reps, r.duration_s / reps,
                                f"{r.note}; averaged over {reps} repetitions of the {c.prompts} prompts "
                                f"(window {r.duration_s:.2f} s >= {min_window_s:g} s)")
        net = r.energy_j - idle[r.meter] * r.duration_s
        status = "ok" if net > 0 else (f"error: net energy {net:.4g} J <= 0 (raw {r.energy_j:.4g} J, idle "
                                       f"{idle[r.meter]:.3g} W x {r.duration_s:.3g} s): below what the meter resolves")
        rows.append(dict(meter=r.meter, status=status, energy_j=net if net > 0 else None, energy_raw_j=r.energy_j,
                         idle_w=idle[r.meter], duration_s=r.duration_s, sm_clock_start_mhz=s0.sm_clock_mhz,
                         sm_clock_end_mhz=s1.sm_clock_mhz, temp_start_c=s0.temp_c, temp_end_c=s1.temp_c,
                         timestamp=_now(), note=r.note))
    return rows


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
