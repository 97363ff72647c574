"""Measurement sweeps: a grid of configurations, measured one by one into an append-only CSV.

The CSV is the shared schema (:mod:`energy_nb.schema`), one row per configuration and meter. Rows are
appended one at a time, flushed and fsync'ed, never rewritten: a crash, Ctrl-C or ``kill -9`` leaves a
valid file, and rerunning the same command skips every configuration that already has a row (any
status), so nothing is measured twice and nothing finished is lost. ``--retry-errors`` re-measures
configurations whose only rows are errors. Out-of-memory is recorded as ``status=oom`` and the sweep
goes on.

Units: ``energy_j`` is the net energy (J) of all ``n_prompts`` images: ``energy_raw_j - idle_w x
duration_s``.
"""
from __future__ import annotations

import csv
import io
import itertools
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .architectures import SIZES, check_resolution, get_model
from .gpus import gpu_part
from .schema import COLUMN_NAMES, DTYPES, LEGACY_COLUMN_NAMES, fill_defaults, read_energy_csv, validate_row

#: The grid of the paper's Sec. 4.5 (A100 tables: N = 100 only).
PAPER_GRID: dict[str, Any] = dict(models=["sd2", "sd35", "flux", "qwen"], steps=[10, 20, 30, 40, 50],
                                  resolutions=[256, 512, 768, 1024], dtypes=["fp16", "fp32"], cfg=[0, 1],
                                  prompts=[25, 50, 100])
#: Keys a grid (YAML file or CLI) may have.
GRID_KEYS = ("models", "steps", "resolutions", "dtypes", "cfg", "prompts", "size", "device", "weights", "seed",
             "pretrained")
#: Columns that identify a row: a rerun skips a configuration that has a row with these values.
KEY_COLUMNS = ("model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts", "size", "device",
               "weights", "seed", "meter")


@dataclass(frozen=True)
class Config:
    """One measured configuration: ``n_prompts`` images of ``model`` at ``height x width``."""

    model: str
    height: int
    width: int
    steps: int
    dtype: str
    cfg: int
    n_prompts: int


def _resolution(value: Any) -> tuple[int, int]:
    """256 -> (256, 256); '512x768' -> (512, 768) (height x width)."""
    if isinstance(value, bool):
        raise ValueError(f"resolution {value!r} is not allowed: give 512 or HEIGHTxWIDTH like 512x768")
    if isinstance(value, int):
        return value, value
    text = str(value).lower().strip()
    try:
        if "x" in text:
            h, w = text.split("x", 1)
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise ValueError(f"resolution {value!r} is not allowed: give 512 or HEIGHTxWIDTH like 512x768") from None


def _cfg_values(value: Any) -> list[int]:
    """CFG from the CLI or YAML: on/off/both, 0/1, true/false, or a list of those."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[int] = []
    for v in items:
        s = str(v).lower()
        if s == "both":
            out += [0, 1]
        elif s in ("1", "on", "true", "yes"):
            out.append(1)
        elif s in ("0", "off", "false", "no"):
            out.append(0)
        else:
            raise ValueError(f"cfg {v!r} is not allowed; allowed: on, off, both (or 1, 0)")
    return sorted(set(out))


def _ints(name: str, values: Iterable[Any]) -> list[int]:
    out = []
    for v in values:
        try:
            iv = int(v)
            if isinstance(v, bool) or iv != float(v) or iv < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"{name} {v!r} is not allowed: an integer >= 1") from None
        out.append(iv)
    return out


@dataclass
class Grid:
    """A sweep's grid (Sec. 4.5 or any subset): every combination is one :class:`Config`."""

    models: list[str]
    steps: list[int]
    resolutions: list[tuple[int, int]]
    dtypes: list[str] = field(default_factory=lambda: ["fp16"])
    cfg: list[int] = field(default_factory=lambda: [0])
    prompts: list[int] = field(default_factory=lambda: [1])
    size: str = "tiny"
    device: str = "cpu"
    weights: str = "random"
    seed: int = 0
    pretrained: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "grid") -> "Grid":
        """Build and validate a grid from a dict (YAML or CLI); unknown keys and bad values are named."""
        unknown = sorted(set(d) - set(GRID_KEYS))
        if unknown:
            raise ValueError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(GRID_KEYS)}")
        missing = [k for k in ("models", "steps", "resolutions") if not d.get(k)]
        if missing:
            raise ValueError(f"{source}: {missing[0]!r} is required (a list)")

        def as_list(v):
            return list(v) if isinstance(v, (list, tuple)) else [v]

        g = cls(models=[str(m) for m in as_list(d["models"])], steps=_ints("steps", as_list(d["steps"])),
                resolutions=[_resolution(r) for r in as_list(d["resolutions"])],
                dtypes=[str(x) for x in as_list(d.get("dtypes", ["fp16"]))], cfg=_cfg_values(d.get("cfg", 0)),
                prompts=_ints("prompts", as_list(d.get("prompts", [1]))), size=str(d.get("size", "tiny")),
                device=str(d.get("device", "cpu")), weights=str(d.get("weights", "random")),
                seed=int(d.get("seed", 0)), pretrained=d.get("pretrained"))
        g.validate()
        return g

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "Grid":
        try:
            d = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ValueError(f"cannot read grid file {path}: {exc}") from exc
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a grid file is a mapping of {', '.join(GRID_KEYS)}")
        d.pop("slurm", None)  # the cluster settings: :func:`slurm_settings`
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d, source=str(path))

    def validate(self) -> None:
        """Refuse unknown models, dtypes, sizes, weights; impossible resolutions; empty axes."""
        from .pipelines import WEIGHTS

        self.models = [get_model(m).key for m in self.models]  # Hugging Face ids -> registry keys
        for d in self.dtypes:
            if d not in DTYPES:
                raise ValueError(f"unknown dtype {d!r}; allowed: {', '.join(DTYPES)}")
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; allowed: {', '.join(SIZES)}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"unknown weights {self.weights!r}; allowed: {', '.join(WEIGHTS)}")
        if self.weights == "pretrained" and self.size != "full":
            raise ValueError("weights 'pretrained' are the released checkpoints: use size 'full'")
        for m in self.models:
            for h, w in self.resolutions:
                check_resolution(m, h, w, self.size)
        for name in ("models", "steps", "resolutions", "dtypes", "cfg", "prompts"):
            if not getattr(self, name):
                raise ValueError(f"grid axis {name!r} is empty")

    def configs(self) -> list[Config]:
        """Every combination, ordered so that one pipeline (model, dtype) is built once."""
        out = [Config(m, h, w, s, d, c, n) for m, d, (h, w), s, c, n in itertools.product(
            self.models, self.dtypes, self.resolutions, self.steps, self.cfg, self.prompts)]
        return list(dict.fromkeys(out))


def slurm_settings(path: str | Path | None) -> dict[str, Any]:
    """The ``slurm:`` mapping of a grid YAML (partition, time, account, gpus, any ``#SBATCH`` option)."""
    if not path or str(path) == "paper":
        return {}
    d = yaml.safe_load(Path(path).read_text()) or {}
    s = d.get("slurm") or {} if isinstance(d, dict) else {}
    if not isinstance(s, dict):
        raise ValueError(f"{path}: 'slurm' is a mapping of Slurm settings, e.g. {{partition: gpu, time: '4:00:00'}}")
    return s


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/4' -> (2, 4): this process measures configurations 2, 6, 10, ... of 4 shards (1-based)."""
    if not text:
        return 1, 1
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"shard {text!r} is not allowed: give i/k with 1 <= i <= k, e.g. 1/2") from None
    if not (k >= 1 and 1 <= i <= k):
        raise ValueError(f"shard {text!r} is not allowed: give i/k with 1 <= i <= k, e.g. 1/2")
    return i, k


def shard(configs: list[Config], i: int, k: int) -> list[Config]:
    """The ``i``-th of ``k`` interleaved shards (every model appears in every shard)."""
    return configs[i - 1::k]


# ---------------------------------------------------------------------------------------------------
# The append-only CSV
# ---------------------------------------------------------------------------------------------------
class RowLog:
    """Append-only CSV in the shared schema: header once, then one flushed, fsync'ed line per row."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_torn_tail()
        self.header = list(COLUMN_NAMES)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write_line(COLUMN_NAMES)
        else:
            with self.path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            if header not in (COLUMN_NAMES, LEGACY_COLUMN_NAMES):
                raise ValueError(f"{self.path} exists but is not a sweep file of this schema (its header differs); "
                                 "give another --out")
            self.header = header  # a file started before the record columns keeps its header

    def _repair_torn_tail(self) -> None:
        """A line cut by a kill mid-write (no final newline) is moved to ``<out>.torn`` and removed."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(str(self.path) + ".torn", "ab") as fh:
            fh.write(data[cut:] + b"\n")
        with self.path.open("r+b") as fh:
            fh.truncate(cut)
        print(f"note: {self.path} ended in a torn line (a kill mid-write); it was moved to {self.path}.torn",
              file=sys.stderr)

    def _write_line(self, cells: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        with self.path.open("a", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, row: dict[str, Any]) -> None:
        fill_defaults(row)
        validate_row(row, str(self.path), 0)
        self._write_line(["" if row.get(c) is None else row[c] for c in self.header])

    def done(self, retry_errors: bool = False) -> set[tuple]:
        """Keys (``KEY_COLUMNS``) of rows already in the file."""
        return done_keys([self.path], retry_errors)


def done_keys(paths: Iterable[str | Path], retry_errors: bool = False) -> set[tuple]:
    """Keys (``KEY_COLUMNS``) of the rows in these sweep files (complete lines only, so a file being
    written is read safely); with ``retry_errors``, rows whose status is an error do not count."""
    import pandas as pd

    out: set[tuple] = set()
    for path in paths:
        if not Path(path).exists():
            continue
        df = read_energy_csv(path, complete_lines_only=True)
        if retry_errors:
            df = df[~df["status"].astype(str).str.startswith("error")]
        out |= {tuple("" if pd.isna(v) else str(v) for v in r) for r in
                df[list(KEY_COLUMNS)].astype(object).itertuples(index=False)}
    return out


def row_key(row: dict[str, Any]) -> tuple:
    return tuple("" if row.get(c) is None else str(row[c]) for c in KEY_COLUMNS)


# ---------------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------------
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

    from . import measure
    from .pipelines import Replica, check_device

    t_start = time.perf_counter()
    grid.validate()
    device = check_device(grid.device)
    if grid.size == "full" and device.type == "cpu":
        raise ValueError("size 'full' on the CPU is refused (tens of GB, hours per image); use --size tiny, "
                         "or --device cuda on a GPU")
    meter_names = meters or measure.default_meters(device)
    meter_objs = measure.make_meters(meter_names, device, country)
    say = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    i, k = parse_shard(shard_spec)
    configs = shard(grid.configs(), i, k)
    rowlog = RowLog(out)
    state0 = measure.device_state(device)
    gpu = gpu_label_override or measure.gpu_label(state0.gpu_name, device)
    base = dict(gpu=gpu, size=grid.size, device=device.type, weights=grid.weights, seed=grid.seed, gpu_name=state0.gpu_name,
                gpu_part=gpu_part(state0.gpu_name) if device.type == "cuda" else None, batch_size=1, num_gpus=1,
                energy_scope="net",
                driver=state0.driver, power_limit_w=state0.power_limit_w, source="energy-nb sweep", **_versions())

    def key_of(c: Config, meter: str) -> tuple:
        return row_key(dict(asdict(c), **base, meter=meter))

    done = done_keys([rowlog.path, *also_done], retry_errors)
    todo = [c for c in configs if not all(key_of(c, m) in done for m in meter_names)]
    skipped = len(configs) - len(todo)
    statuses: dict[str, int] = {}

    def report(measured_now: int, current: Config | None) -> None:
        if on_progress is not None:
            on_progress(dict(planned=len(configs), done=skipped + measured_now, measured=measured_now,
                             statuses=dict(statuses), current=None if current is None else asdict(current)))

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
            bar.set_postfix_str(f"{c.model} {c.height}x{c.width} T={c.steps} {c.dtype} cfg={c.cfg} N={c.n_prompts}")
            if (c.model, c.dtype) != replica_key:
                if replica is not None:
                    replica.close()
                replica, build_error, replica_key = None, None, (c.model, c.dtype)
                try:
                    replica = Replica(c.model, grid.size, grid.device, c.dtype, grid.weights, grid.pretrained)
                except Exception as exc:  # recorded per configuration below
                    if isinstance(exc, ValueError) and not _is_oom(exc):
                        raise
                    build_error = exc
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
            rows = _measure_config(c, replica, build_error, meter_objs, idle, device, warmup, grid.seed, min_window_s)
            for r in rows:
                row = dict(base, **asdict(c), **r)
                rowlog.append(row)
                statuses[row["status"].split(":")[0]] = statuses.get(row["status"].split(":")[0], 0) + 1
                if row["status"] != "ok":
                    say(f"{c.model} {c.height}x{c.width} T={c.steps} {c.dtype} cfg={c.cfg} N={c.n_prompts}: "
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


def _measure_config(c: Config, replica, build_error: BaseException | None, meters, idle: dict[str, float],
                    device, warmup: int, seed: int, min_window_s: float = 0.0) -> list[dict[str, Any]]:
    """One configuration, every meter: a list of row fragments (status, energies, device state)."""
    import torch

    from . import measure

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
                for p in range(c.n_prompts):
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
                                f"{r.note}; averaged over {reps} repetitions of the {c.n_prompts} prompts "
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
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
