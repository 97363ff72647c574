"""Launching a sweep's shards through submitit: worker processes on this node, or Slurm jobs.

- ``local``: ``workers`` processes on this machine through :class:`submitit.LocalExecutor`, one GPU each
  with ``gpus`` (``CUDA_VISIBLE_DEVICES``); the command waits for them and shows their progress.
- ``slurm``: one Slurm job per shard through :class:`submitit.AutoExecutor` (an array job); the command
  returns once they are queued (``wait=True`` waits). Partition, time, GPUs, account and any other
  ``#SBATCH`` option come from the command line or the grid YAML's ``slurm:`` mapping.

Each job runs :func:`run_shard`: shard ``i`` of ``k`` of the grid, appended to its own file
(:mod:`energy_nb.measurement.shards`), skipping every configuration that any shard file already holds. A job that
dies (kill, preemption, OOM kill, time limit) is resumed by submitting the same command again.
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from . import shards
from .slurm import parse_minutes, slurm_parameters

EXECUTORS: tuple[str, ...] = ("local", "slurm")
#: Local workers have no time limit unless ``--time`` gives one (submitit's local default is 2 minutes).
LOCAL_TIMEOUT_MIN = 60 * 24 * 30


@dataclass
class Launch:
    """What a launch did: the folder, the shards submitted (1-based of ``k``), their job ids, the state of
    each at the end when the command waited, and whether everything finished."""

    out: Path
    executor: str
    k: int
    submitted: dict[int, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    waited: bool = False
    nothing_to_do: bool = False


def run_shard(spec: dict[str, Any]) -> dict[str, Any]:
    """What one worker or Slurm job runs: shard ``spec['shard']`` of the sweep in ``spec['out']``.

    Writes ``OUT/shards/shard-i-of-k.csv`` (append-only) and its state file, holding a lock on the shard so
    that two workers never run it at once. Returns the sweep's counts."""
    import fcntl

    from .grid import Grid
    from .run import run_sweep

    out = Path(spec["out"])
    i, k = spec["shard"]
    grid = Grid.from_dict(spec["grid"], "sweep.json")
    csv_path = shards.shard_csv(out, i, k)
    st_path = shards.state_path(out, i, k)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(str(st_path) + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise RuntimeError(f"shard {i}/{k} of {out} is already being run by another worker "
                           f"({shards.read_json(st_path)}); not starting a second one") from None
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID") and (
        f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}")
    job_id = job_id or os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
    state: dict[str, Any] = dict(shard=f"{i}/{k}", state="running", host=socket.gethostname(), pid=os.getpid(),
                                 job_id=job_id, slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                                 executor=spec["executor"], cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                                 started_unix=time.time(), updated_unix=time.time(), measured=0, done=0)
    shards.write_json(st_path, state)

    def on_progress(p: dict[str, Any]) -> None:
        state.setdefault("pace_since_unix", time.time())  # ETA from here: after the imports, not before
        state.update(planned=p["planned"], done=p["done"], measured=p["measured"], statuses=p["statuses"],
                     current=p["current"], updated_unix=time.time())
        shards.write_json(st_path, state)

    others = [p for p in shards.shard_files(out) if p != csv_path]
    opts = spec["options"]
    try:
        res = run_sweep(grid, csv_path, meters=spec["meters"], shard_spec=f"{i}/{k}", progress=False,
                        retry_errors=spec["retry_errors"], also_done=others, on_progress=on_progress,
                        gpu_label_override=spec.get("gpu_label"),
                        log=lambda m: print(f"[shard {i}/{k}] {m}", file=sys.stderr, flush=True), **opts)
    except KeyboardInterrupt:
        state.update(state="interrupted", updated_unix=time.time())
        shards.write_json(st_path, state)
        raise
    except BaseException as exc:
        state.update(state="failed", error=f"{type(exc).__name__}: {exc}"[:500], updated_unix=time.time())
        shards.write_json(st_path, state)
        raise
    state.update(state="finished", updated_unix=time.time(), seconds=res.seconds)
    shards.write_json(st_path, state)
    lock.close()
    return dict(shard=f"{i}/{k}", planned=res.planned, skipped=res.skipped, measured=res.measured,
                statuses=res.statuses)


def _remaining_shards(grid, out: Path, k: int, meters: list[str], retry_errors: bool, gpu_label: str | None
                      ) -> list[int]:
    """Shards of ``k`` that still have configurations without rows (in any shard file)."""
    from .grid import shard

    done = set(shards.done_configs(out, grid, meters, retry_errors, gpu_label))
    return [i for i in range(1, k + 1) if any(c not in done for c in shard(grid.configs(), i, k))]


def launch(grid, out: str | Path, executor: str, workers: int | None = None, gpus: list[int] | None = None,
           meters: list[str] | None = None, options: dict[str, Any] | None = None,
           slurm: dict[str, Any] | None = None, retry_errors: bool = False, wait: bool | None = None,
           gpu_label: str | None = None, cluster: str | None = None, progress: bool = True,
           poll_s: float = 0.5) -> Launch:
    """Split ``grid`` into ``workers`` shards and run them with ``executor`` (``local`` or ``slurm``).

    ``cluster`` picks submitit's backend for ``slurm`` (default ``slurm``; ``local`` runs the same jobs as
    local processes, for testing without a cluster). Refuses while a worker of ``out`` still runs."""
    import submitit
    import torch

    from . import meters as measure
    from .pipelines import check_device

    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise UserError(f"workers {workers!r} is not allowed: an integer >= 1")
    out = shards.check_folder(out)
    grid.validate()
    device = torch.device(grid.device) if grid.device != "cpu" else torch.device("cpu")
    if gpus is not None:
        if executor != "local":
            raise UserError("--gpus is for --executor local (one worker per GPU); Slurm assigns GPUs to its jobs")
        if device.type != "cuda":
            raise UserError(f"--gpus {','.join(map(str, gpus))} needs --device cuda (the grid's device is "
                             f"{grid.device!r})")
        if not gpus or len(set(gpus)) != len(gpus) or any(g < 0 for g in gpus):
            raise UserError(f"--gpus {','.join(map(str, gpus))} is not allowed: distinct GPU indices >= 0")
        if workers is not None and workers != len(gpus):
            raise UserError(f"--workers {workers} and --gpus {','.join(map(str, gpus))} disagree: one worker per GPU")
        workers = len(gpus)
    workers = workers or 1
    if gpus is None and device.type == "cuda" and executor == "local":
        gpus = list(range(workers))
    if device.type == "cuda" and device.index not in (None, 0):
        raise UserError(f"with --executor each worker sees its GPU as cuda:0; give --device cuda, not {grid.device}"
                         + (" (pick GPUs with --gpus)" if executor == "local" else ""))
    if device.type == "cpu" or executor == "local":
        check_device(grid.device)  # a local GPU sweep needs a GPU here; a Slurm one only on the nodes
    meters = meters or measure.default_meters(device)
    for m in meters:
        if m not in measure.METERS:
            raise UserError(f"unknown meter {m!r}; allowed: {', '.join(measure.METERS)}")

    out.mkdir(parents=True, exist_ok=True)
    busy = shards.alive_shards(out)
    if busy:
        raise UserError(f"{len(busy)} shard(s) of {out} are still running or queued: {'; '.join(busy)}. Wait for "
                         "them (energy-nb sweep status OUT), or stop them (scancel JOB / kill PID), then submit again")
    shards.save_spec(out, grid, meters, gpu_label)
    left = _remaining_shards(grid, out, workers, meters, retry_errors, gpu_label)
    result = Launch(out, executor, workers)
    if not left:
        result.nothing_to_do = True
        return result

    base = dict(out=str(out.resolve()), grid=grid.to_dict(), meters=meters, retry_errors=retry_errors,
                gpu_label=gpu_label, options=dict(options or {}), executor=executor)
    specs = [dict(base, shard=(i, workers)) for i in left]
    logs = out / "logs"
    jobs: list[Any] = []
    if executor == "local":
        ex = submitit.LocalExecutor(folder=logs)
        timeout = parse_minutes(slurm["time"]) if slurm and slurm.get("time") else LOCAL_TIMEOUT_MIN
        for sp in specs:
            i = sp["shard"][0]
            gpu = (gpus[i - 1],) if gpus else ()
            ex.update_parameters(timeout_min=timeout, gpus_per_node=len(gpu), visible_gpus=gpu)
            jobs.append(ex.submit(run_shard, sp))
        wait = True if wait is None else wait
    else:
        params = slurm_parameters(dict(slurm or {}), device.type)  # bad settings are named before anything else
        if (cluster or "slurm") == "slurm" and shutil.which("sbatch") is None:
            raise UserError("--executor slurm submits with Slurm's sbatch, which is not on this machine's PATH; "
                            "run it on a login node of the cluster (or use --executor local)")
        ex = submitit.AutoExecutor(folder=logs, cluster=cluster or "slurm")
        ex.update_parameters(**params)
        try:
            with ex.batch():
                for sp in specs:
                    jobs.append(ex.submit(run_shard, sp))
        except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError) as exc:
            raise UserError(f"Slurm refused the submission (nothing was queued; the script is in {logs}): "
                             + " | ".join(str(exc).strip().splitlines()[-3:])) from None
        wait = False if wait is None else wait
    result.submitted = {sp["shard"][0]: str(j.job_id) for sp, j in zip(specs, jobs)}
    shards.record_submission(out, executor, workers, result.submitted,
                             cluster=(cluster or "slurm") if executor == "slurm" else None)
    if wait:
        result.waited = True
        result.unfinished = _wait(out, grid, specs, jobs, progress, poll_s)
    return result


def _wait(out: Path, grid, specs: list[dict[str, Any]], jobs: list[Any], progress: bool, poll_s: float) -> list[str]:
    """Wait for the jobs, with one progress bar over the whole grid; on Ctrl-C stop them (their finished
    rows stay). Returns the shards that did not finish, each with why."""
    from tqdm import tqdm

    total = len(grid.configs())
    bar = tqdm(total=total, desc=f"sweep {out.name}", unit="config", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def states() -> dict[int, dict[str, Any]]:
        return {sp["shard"][0]: shards.read_json(shards.state_path(out, *sp["shard"])) for sp in specs}

    def refresh() -> None:
        done = shards.overall(out)["done"]
        bar.n = done
        bar.refresh()

    try:
        while not all(_finished(j) for j in jobs):
            time.sleep(poll_s)
            if progress:
                refresh()
    except KeyboardInterrupt:
        for j in jobs:
            try:
                j.cancel(check=False)
            except Exception:
                pass
        bar.close()
        raise
    if progress:
        refresh()
    bar.close()
    unfinished = []
    for i, st in states().items():
        if st.get("state") != "finished":
            why = st.get("error") or {"running": "stopped before finishing (killed?)"}.get(st.get("state", ""),
                                                                                          st.get("state", "no state"))
            unfinished.append(f"shard {i}/{specs[0]['shard'][1]}: {why}")
    return unfinished


def _finished(job: Any) -> bool:
    """Whether a submitit job has ended: its process (local jobs), else its result file or Slurm's queue
    (submitit asks ``sacct``, which a cluster without accounting storage does not answer)."""
    import submitit

    if isinstance(job, submitit.LocalJob):
        return job.done()
    if job.paths.result_pickle.exists():
        return True
    return shards._slurm_job_state(str(job.job_id)) is None
