"""A sharded sweep's folder: shard files and their state, ``sweep status`` and ``sweep merge``.

A sweep launched with ``--executor local|slurm`` writes into a folder ``OUT``::

    OUT/sweep.json                 the grid, the meters and every submission (executor, time, job ids)
    OUT/shards/shard-2-of-3.csv    shard 2 of 3: append-only rows in the shared schema (energy_nb.data.schema)
    OUT/shards/shard-2-of-3.json   its state, rewritten atomically: running / finished / failed /
                                   interrupted, host, pid, job id, configurations done, timings
    OUT/logs/                      submitit's job folder (pickles, stdout and stderr of each job)
    OUT/merged.csv                 ``energy-nb sweep merge OUT``

Every shard file counts for every worker: a configuration with a row in any shard file is not measured
again, whatever the number of shards of a later submission. Units: seconds, configurations, rows.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.errors import UserError

SPEC = "sweep.json"
MERGED = "merged.csv"


def shard_stem(i: int, k: int) -> str:
    """'shard-02-of-12': zero-padded so that names sort in shard order."""
    return f"shard-{i:0{len(str(k))}d}-of-{k}"


def shard_csv(out: str | Path, i: int, k: int) -> Path:
    return Path(out) / "shards" / f"{shard_stem(i, k)}.csv"


def state_path(out: str | Path, i: int, k: int) -> Path:
    return Path(out) / "shards" / f"{shard_stem(i, k)}.json"


def parse_stem(stem: str) -> tuple[int, int]:
    """'shard-02-of-12' -> (2, 12)."""
    _, i, _, k = stem.split("-")
    return int(i), int(k)


def shard_files(out: str | Path) -> list[Path]:
    """Every shard CSV in ``OUT/shards`` (of any number of shards), in shard order."""
    folder = Path(out) / "shards"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("shard-*-of-*.csv"), key=lambda p: (parse_stem(p.stem)[1], parse_stem(p.stem)[0]))


def check_folder(out: str | Path) -> Path:
    """``OUT`` must be a folder (or not exist yet): with an executor the sweep writes one file per shard."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with --executor local|slurm give a folder (one CSV per shard "
                         "goes into OUT/shards), or run without --executor to append to that CSV")
    return out


# ---------------------------------------------------------------------------------------------------
# Files written atomically
# ---------------------------------------------------------------------------------------------------
def write_json(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load_spec(out: str | Path) -> dict[str, Any]:
    """``OUT/sweep.json``; a clear error if ``OUT`` is not a sharded sweep's folder."""
    out = Path(out)
    spec = read_json(out / SPEC)
    if not spec:
        raise UserError(f"{out} is not a sharded sweep's folder (no {SPEC}); it is made by "
                         "`energy-nb sweep --executor local|slurm --out FOLDER ...`")
    return spec


def save_spec(out: str | Path, grid, meters: list[str], gpu_label: str | None) -> dict[str, Any]:
    """Write ``sweep.json`` for a new folder, or check that a resubmission asks for the same sweep."""
    out = Path(out)
    want = dict(grid=grid.to_dict(), meters=list(meters), gpu_label=gpu_label)
    spec = read_json(out / SPEC)
    if spec:
        for key in ("meters", "gpu_label"):
            if spec.get(key) != want[key]:
                raise UserError(f"{out} holds a sweep with {key} {spec.get(key)!r}, not {want[key]!r}; "
                                 "resubmit the same sweep, or give another --out")
        for key, value in want["grid"].items():
            if spec["grid"].get(key) != value:
                raise UserError(f"{out} holds a sweep whose grid has {key} {spec['grid'].get(key)!r}, not "
                                 f"{value!r}; resubmit the same grid, or give another --out")
        return spec
    spec = dict(want, submissions=[])
    write_json(out / SPEC, spec)
    return spec


def record_submission(out: str | Path, executor: str, k: int, jobs: dict[int, str], cluster: str | None = None,
                      ) -> None:
    """Append one submission (which shards, which job ids) to ``sweep.json``."""
    out = Path(out)
    spec = load_spec(out)
    spec.setdefault("submissions", []).append(dict(
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), executor=executor, cluster=cluster, shards=k,
        jobs={str(i): str(j) for i, j in jobs.items()}, host=socket.gethostname()))
    write_json(out / SPEC, spec)


# ---------------------------------------------------------------------------------------------------
# Is a worker alive?
# ---------------------------------------------------------------------------------------------------
def _slurm_job_state(job_id: str) -> str | None:
    """Slurm's state of a job (RUNNING, PENDING, ...) from ``squeue``; None when the job has left the
    queue or Slurm cannot be asked from here."""
    try:
        p = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = p.stdout.split()
    return lines[0] if p.returncode == 0 and lines else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def liveness(state: dict[str, Any]) -> tuple[str, str]:
    """A worker's state as the world sees it: ``(state, where)``. A state file that says ``running``
    whose process is gone (a kill, an OOM kill, a preemption, a time limit) reads ``stopped``."""
    st = state.get("state", "?")
    where = f"{state.get('host', '?')} pid {state.get('pid', '?')}"
    if state.get("job_id"):
        where += f", job {state['job_id']}"
    if st != "running":
        return st, where
    if state.get("executor") == "slurm" and state.get("slurm_job_id"):
        slurm = _slurm_job_state(state["slurm_job_id"])
        if slurm is not None:
            return ("running" if slurm in ("RUNNING", "COMPLETING", "CONFIGURING") else slurm.lower()), where
        if state.get("host") != socket.gethostname():
            return "stopped", where + " (no longer in Slurm's queue)"
    if state.get("host") == socket.gethostname():
        return ("running", where) if _pid_alive(int(state.get("pid", 0))) else ("stopped", where + " (process gone)")
    return "running?", where + f" (another host; last update {_age(state)} ago)"


def _age(state: dict[str, Any]) -> str:
    t = state.get("updated_unix")
    return "?" if t is None else f"{time.time() - float(t):.0f} s"


# ---------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------
def _rows(path: Path) -> pd.DataFrame:
    from ..data.schema import read_energy_csv

    return read_energy_csv(path, complete_lines_only=True)


def status(out: str | Path) -> pd.DataFrame:
    """One row per shard of ``OUT``: ``shard``, ``ok``, ``oom``, ``error`` (rows), ``done`` and
    ``planned`` (configurations), ``state`` (running, finished, stopped, failed, interrupted, pending),
    ``where`` (host, pid, job), ``eta_s`` (seconds left at this run's pace; NaN when unknown), ``note``."""
    from .grid import Grid, shard

    out = Path(out)
    spec = load_spec(out)
    grid = Grid.from_dict(spec["grid"], str(out / SPEC))
    configs = grid.configs()
    n_meters = len(spec["meters"])
    rows = []
    seen: set[tuple[int, int]] = set()
    for path in shard_files(out):
        i, k = parse_stem(path.stem)
        seen.add((i, k))
        df = _rows(path)
        st = read_json(state_path(out, i, k))
        state, where = liveness(st) if st else ("?", "")
        planned = len(shard(configs, i, k))
        done = int(st.get("done", 0)) if st else 0
        eta = float("nan")
        measured, t1 = st.get("measured", 0), st.get("updated_unix")
        t0 = st.get("pace_since_unix", st.get("started_unix"))
        if state == "running" and measured and t0 and t1:
            eta = (planned - done) * (float(t1) - float(t0)) / measured
        status_col = df["status"].astype(str)
        rows.append(dict(shard=f"{i}/{k}", ok=int((status_col == "ok").sum()), oom=int((status_col == "oom").sum()),
                         error=int(status_col.str.startswith("error").sum()), done=done, planned=planned,
                         state=state, where=where, eta_s=eta, note=st.get("error", "") if st else "",
                         rows=len(df), meters=n_meters))
    # submitted Slurm jobs that have not started yet
    for sub in spec.get("submissions", []):
        for i, job in sub.get("jobs", {}).items():
            key = (int(i), int(sub["shards"]))
            if key in seen or sub.get("executor") != "slurm":
                continue
            seen.add(key)
            slurm = _slurm_job_state(job)
            rows.append(dict(shard=f"{i}/{sub['shards']}", ok=0, oom=0, error=0, done=0,
                             planned=len(shard(configs, *key)), state=(slurm or "gone").lower(),
                             where=f"job {job}", eta_s=float("nan"),
                             note="" if slurm else "left the queue without starting: see OUT/logs", rows=0,
                             meters=n_meters))
    return pd.DataFrame(rows, columns=["shard", "ok", "oom", "error", "done", "planned", "state", "where", "eta_s",
                                       "note", "rows", "meters"])


def done_configs(out: str | Path, grid, meters: list[str], retry_errors: bool = False,
                 gpu_label: str | None = None) -> list:
    """The grid's configurations that have a row for every meter in some shard file of ``out`` (with
    ``retry_errors``, error rows do not count): what no worker measures again."""
    from .log import KEY_COLUMNS, done_keys

    col = {c: KEY_COLUMNS.index(c) for c in KEY_COLUMNS}
    fields = ("model", "height", "width", "steps", "dtype", "cfg", "n_prompts")  # a configuration's record columns
    run = (grid.size, grid.weights, str(grid.seed))
    have: dict[tuple, set[str]] = {}
    for key in done_keys(shard_files(out), retry_errors):
        if (key[col["size"]], key[col["weights"]], key[col["seed"]]) != run:
            continue
        if gpu_label and key[col["gpu"]] != gpu_label:
            continue
        have.setdefault(tuple(key[col[f]] for f in fields), set()).add(key[col["meter"]])
    return [c for c in grid.configs()
            if set(meters) <= have.get(tuple(str(c.record()[f]) for f in fields), set())]


def overall(out: str | Path) -> dict[str, Any]:
    """The whole sweep: configurations in the grid, configurations with rows for every meter (in any
    shard file), rows by status, shards running, and the ETA of the slowest running shard (s)."""
    from .grid import Grid

    out = Path(out)
    spec = load_spec(out)
    grid = Grid.from_dict(spec["grid"], str(out / SPEC))
    done = len(done_configs(out, grid, spec["meters"], gpu_label=spec.get("gpu_label")))
    st = status(out)
    return dict(configs=len(grid.configs()), done=done, ok=int(st["ok"].sum()), oom=int(st["oom"].sum()),
                error=int(st["error"].sum()), running=int((st["state"] == "running").sum()),
                eta_s=float(st["eta_s"].max()) if st["eta_s"].notna().any() else float("nan"))




def format_eta(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "-"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def status_text(out: str | Path) -> str:
    """What ``energy-nb sweep status OUT`` prints: a table of shards, then the whole sweep."""
    st = status(out)
    tot = overall(out)
    if st.empty:
        return f"{out}: no shard has started yet ({tot['configs']} configurations in the grid)"
    show = st.assign(eta=st["eta_s"].map(format_eta),
                     configs=st["done"].astype(str) + "/" + st["planned"].astype(str))
    table = show[["shard", "state", "configs", "ok", "oom", "error", "eta", "where"]].to_string(index=False)
    notes = [f"  shard {r.shard}: {r.note}" for r in st.itertuples() if r.note]
    line = (f"{out}: {tot['done']}/{tot['configs']} configurations done; rows {tot['ok']} ok, {tot['oom']} oom, "
            f"{tot['error']} error; {tot['running']} shard(s) running; ETA {format_eta(tot['eta_s'])}")
    return "\n".join([table, *notes, line])


def alive_shards(out: str | Path) -> list[str]:
    """Shards whose worker still runs or waits in the queue: a new submission would race them."""
    if not (Path(out) / SPEC).exists():
        return []
    st = status(out)
    busy = st[st["state"].isin(["running", "running?", "pending", "configuring", "completing", "requeued"])]
    return [f"{r.shard} ({r.state}, {r.where})" for r in busy.itertuples()]


# ---------------------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------------------
@dataclass
class MergeResult:
    path: Path
    rows: int  #: rows written
    files: int  #: shard files read
    superseded: int  #: error rows replaced by a later row of the same configuration (--retry-errors)
    changed: bool  #: whether the merged file changed


class DuplicateRows(UserError):
    """Two measured rows (ok or oom) of one configuration and meter: refused, never averaged away."""


def merge_frames(frames: Iterable[tuple[str, pd.DataFrame]]) -> tuple[pd.DataFrame, int]:
    """Rows of several shard files as one frame with one row per key (``sweep.KEY_COLUMNS``).

    Per key: the measured row (``ok`` or ``oom``) if there is one; else the latest error row. Two
    measured rows of one key raise :class:`DuplicateRows` naming the key and the files. Returns the
    frame (sorted by key) and how many error rows were superseded."""
    from .log import KEY_COLUMNS

    parts = [df.assign(_file=name, _line=range(len(df))) for name, df in frames if len(df)]
    if not parts:
        return pd.DataFrame(), 0
    d = pd.concat(parts, ignore_index=True)
    key = d[list(KEY_COLUMNS)].astype(object).astype(str)
    d["_key"] = key.agg("|".join, axis=1)
    d["_error"] = d["status"].astype(str).str.startswith("error")
    measured = d[~d["_error"]]
    dup = measured[measured["_key"].duplicated(keep=False)]
    if len(dup):
        first = dup[dup["_key"] == dup["_key"].iloc[0]]
        where = ", ".join(f"{f} line {n + 2}" for f, n in zip(first["_file"], first["_line"]))
        k = dict(zip(KEY_COLUMNS, first[list(KEY_COLUMNS)].iloc[0]))
        raise DuplicateRows(f"{len(dup['_key'].unique())} configuration(s) measured twice, refused; e.g. "
                            f"{k['model']} {k['height']}x{k['width']} T={k['steps']} {k['dtype']} cfg={k['cfg']} "
                            f"N={k['n_prompts']} meter {k['meter']} in {where}. Two workers ran the same shard: "
                            "keep one of the rows by hand, then merge again")
    d["_rank"] = (~d["_error"]).astype(int)  # the measured row first; among error rows the latest
    d = d.sort_values(["_key", "_rank", "timestamp", "_file", "_line"], ascending=[True, False, False, False, False],
                      na_position="last", kind="stable")
    keep = d.drop_duplicates("_key", keep="first")
    superseded = len(d) - len(keep)
    keep = keep.sort_values(list(KEY_COLUMNS), kind="stable")
    return keep.drop(columns=["_file", "_line", "_key", "_error", "_rank"]).reset_index(drop=True), superseded


def merge(out: str | Path, into: str | Path | None = None) -> MergeResult:
    """Merge ``OUT``'s shard files into one CSV (default ``OUT/merged.csv``), atomically.

    Safe while workers still write (a last line without its newline is not read) and idempotent: the
    same shard files give the same bytes. Duplicates are refused (:func:`merge_frames`)."""
    from ..data.schema import COLUMN_NAMES

    out = Path(out)
    load_spec(out)
    files = shard_files(out)
    target = Path(into) if into else out / MERGED
    frames = [(str(p.relative_to(out)), _rows(p)) for p in files]
    merged, superseded = merge_frames(frames)
    text = _csv_text(merged, COLUMN_NAMES)
    old = target.read_text() if target.exists() else None
    if old != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
    return MergeResult(target, len(merged), len(files), superseded, old != text)


def _csv_text(df: pd.DataFrame, columns: list[str]) -> str:
    """The schema's columns in order, missing values as empty cells."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    if len(df):
        for rec in df[columns].astype(object).itertuples(index=False):
            w.writerow(["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in rec])
    return buf.getvalue()
