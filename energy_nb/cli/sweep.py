"""``energy-nb sweep run|status|merge``: measure energy over a grid, look at a sharded sweep, merge its shards.

``energy-nb sweep --models ...`` (without ``run``) is read as ``sweep run``, the spelling of earlier versions.
"""
from __future__ import annotations

import argparse
import sys

from ..core.errors import UserError
from .options import SLURM_TIME_FORMS, check_options, finite_at_least, json_parent, print_json, slurm_minutes

SUBCOMMANDS = ("run", "status", "merge")


def grid_from_args(a: argparse.Namespace):
    """A :class:`~energy_nb.measurement.grid.Grid` from ``--grid`` (YAML file or ``paper``) overridden by flags."""
    from ..measurement.grid import PAPER_GRID, Grid

    flags = dict(models=a.models, steps=a.steps, resolutions=a.resolutions, dtypes=a.dtypes, cfg=a.cfg,
                 prompts=a.prompts, size=a.size, device=a.device, weights=a.weights, seed=a.seed,
                 pretrained=a.pretrained)
    if a.grid == "paper":
        return Grid.from_dict({**PAPER_GRID, **{k: v for k, v in flags.items() if v is not None}}, "--grid paper")
    if a.grid:
        return Grid.from_yaml(a.grid, **flags)
    return Grid.from_dict({k: v for k, v in flags.items() if v is not None}, "command line")


def _gpu_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise UserError(f"--gpus {text!r} is not allowed: GPU indices separated by commas, e.g. 0,1,2,3") from None


def _print_configs(configs, head: str) -> None:
    from ..measurement.grid import describe

    print(head)
    for c in configs:
        print(f"  {describe(c)}")


def cmd_sweep_executor(a: argparse.Namespace, grid) -> int:
    """``energy-nb sweep run --executor local|slurm``: shards as worker processes or Slurm jobs (submitit)."""
    from ..measurement import shards
    from ..measurement.executors import launch
    from ..measurement.slurm import parse_key_values, slurm_settings

    if a.shard:
        raise UserError("--shard is for one process; with --executor the shards are the workers (--workers N)")
    if a.executor == "local" and (a.slurm or a.partition or a.account or a.gpus_per_job is not None):
        raise UserError("--slurm, --partition, --account and --gpus-per-job need --executor slurm "
                        "(--executor local takes --workers, --gpus and --time)")
    slurm = {**slurm_settings(a.grid), **parse_key_values(a.slurm)} if a.executor == "slurm" else {}
    for key, value in (("partition", a.partition), ("time", a.time), ("account", a.account),
                       ("gpus", a.gpus_per_job)):
        if value is not None:
            slurm[key] = value
    if "time" in slurm and a.time is None:  # from --slurm time=... or the grid YAML's slurm: (--time is checked)
        check_options(("the Slurm time (--slurm time=, or the grid's slurm: time:)", str(slurm["time"]), _is_time,
                       f"a Slurm time > 0: {SLURM_TIME_FORMS}"))
    options = dict(idle_seconds=a.idle_seconds, warmup=a.warmup, country=a.country, min_window_s=a.min_window)
    try:
        res = launch(grid, a.out, a.executor, workers=a.workers, gpus=_gpu_list(a.gpus), meters=a.meters,
                     options=options, slurm=slurm, retry_errors=a.retry_errors, wait=True if a.wait else None,
                     gpu_label=a.gpu_label, progress=not a.no_progress)
    except KeyboardInterrupt:
        print(f"energy-nb sweep: interrupted; the workers were stopped and every row already in {a.out}/shards is "
              "complete. Rerun the same command to resume.", file=sys.stderr)
        return 130
    if res.nothing_to_do:
        print(f"{a.out}: nothing to do: every configuration of the grid has rows in {a.out}/shards "
              f"(merge them: energy-nb sweep merge {a.out})")
        return 0
    jobs = ", ".join(f"shard {i}/{res.k} -> job {j}" for i, j in res.submitted.items())
    if not res.waited:
        print(f"submitted {len(res.submitted)} job(s) to Slurm: {jobs}; logs in {a.out}/logs.\n"
              f"watch:  energy-nb sweep status {a.out}\nmerge:  energy-nb sweep merge {a.out}")
        return 0
    print(shards.status_text(a.out))
    if res.unfinished:
        print(f"energy-nb sweep: {len(res.unfinished)} shard(s) did not finish: " + "; ".join(res.unfinished)
              + f". Finished rows are kept; rerun the same command to resume (logs in {a.out}/logs).",
              file=sys.stderr)
        return 1
    print(f"all {len(res.submitted)} shard(s) finished; merge them: energy-nb sweep merge {a.out}")
    return 0


def _is_time(v: object) -> bool:
    return slurm_minutes(v) is not None


def check_numbers(a: argparse.Namespace) -> None:
    """The numeric options and --time of ``sweep run``, refused in one line (argparse only made them numbers): counts
    >= 1, warm-ups, seeds and GPUs per job >= 0, finite seconds (> 0 for the idle window), a Slurm time."""
    check_options(
        ("--workers", a.workers, lambda v: v >= 1, "an integer >= 1 (the number of shards)"),
        ("--gpus-per-job", a.gpus_per_job, lambda v: v >= 0, "an integer >= 0"),
        ("--warmup", a.warmup, lambda v: v >= 0, "an integer >= 0 (uncounted generations)"),
        ("--seed", a.seed, lambda v: v >= 0, "an integer >= 0"),
        ("--idle-seconds", a.idle_seconds, finite_at_least(0, strict=True), "a finite number of seconds > 0"),
        ("--min-window", a.min_window, finite_at_least(0), "a finite number of seconds >= 0 (0: one pass)"),
        ("--time", a.time, _is_time, f"a Slurm time > 0: {SLURM_TIME_FORMS}"),
    )


def cmd_sweep_run(a: argparse.Namespace) -> int:
    from ..measurement.grid import parse_shard, shard
    from ..measurement.run import run_sweep

    check_numbers(a)
    grid = grid_from_args(a)
    if a.executor and not a.dry_run:
        return cmd_sweep_executor(a, grid)
    if a.executor:
        k = len(_gpu_list(a.gpus) or []) or a.workers or 1
        for i in range(1, k + 1):
            configs = shard(grid.configs(), i, k)
            _print_configs(configs, f"shard {i}/{k}: {len(configs)} configurations")
        return 0
    if a.workers or a.gpus or a.slurm or a.partition or a.time or a.account or a.gpus_per_job is not None or a.wait:
        raise UserError("--workers, --gpus, --wait and the Slurm settings need --executor local or --executor slurm")
    if a.dry_run:
        configs = shard(grid.configs(), *parse_shard(a.shard))
        _print_configs(configs, f"{len(configs)} configurations in shard {a.shard or '1/1'}:")
        return 0
    try:
        res = run_sweep(grid, a.out, meters=a.meters, shard_spec=a.shard, idle_seconds=a.idle_seconds,
                        warmup=a.warmup, country=a.country, retry_errors=a.retry_errors, progress=not a.no_progress,
                        gpu_label_override=a.gpu_label, min_window_s=a.min_window)
    except KeyboardInterrupt:
        print(f"energy-nb sweep: interrupted; every row already in {a.out} is complete. "
              "Rerun the same command to resume.", file=sys.stderr)
        return 130
    st = ", ".join(f"{v} {k}" for k, v in sorted(res.statuses.items())) or "none"
    print(f"{res.out}: {res.measured} configurations measured now (rows: {st}), {res.skipped} already there, "
          f"{res.planned} in this shard; {res.seconds:.1f} s")
    return 0


def cmd_sweep_status(a: argparse.Namespace) -> int:
    from ..measurement import shards

    if a.json:
        st = shards.status(a.out)
        print_json(dict(shards=st.to_dict(orient="records"), overall=shards.overall(a.out)))
    else:
        print(shards.status_text(a.out))
    return 0


def cmd_sweep_merge(a: argparse.Namespace) -> int:
    from ..measurement import shards

    res = shards.merge(a.out, a.into)
    extra = f"; {res.superseded} error row(s) gave way to a retry" if res.superseded else ""
    print(f"{res.path}: {res.rows} rows from {res.files} shard file(s){extra}"
          f"{'' if res.changed else ' (unchanged)'}")
    return 0


def normalise(argv: list[str]) -> list[str]:
    """``sweep --models ...`` (the spelling before ``sweep run``) as ``sweep run --models ...``."""
    if argv and argv[0] == "sweep" and (len(argv) == 1 or argv[1] not in (*SUBCOMMANDS, "-h", "--help")):
        return ["sweep", "run", *argv[1:]]
    return argv


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from ..measurement.grid import METERS
    from ..models.registry import MODEL_KEYS

    sw = sub.add_parser("sweep", help="measure energy over a grid (run), look at a sharded sweep (status), merge it",
                        description="Measure energy over a grid into append-only, resumable CSVs (`sweep run`), "
                                    "look at a sharded sweep's folder (`sweep status OUT`) and merge its shards "
                                    "(`sweep merge OUT`). `energy-nb sweep --models ...` means `sweep run`.")
    group = sw.add_subparsers(dest="sweep_command", required=True, metavar="{run,status,merge}")

    run = group.add_parser("run", help="measure every configuration of a grid into an append-only, resumable CSV",
                           description="Measure energy over a grid (Sec. 4.5 or any subset). Flags override --grid. "
                                       "Rerunning the same command resumes; rows are never rewritten. Sharded sweeps "
                                       "(--executor): `energy-nb sweep status OUT` shows each shard, "
                                       "`energy-nb sweep merge OUT` merges them into OUT/merged.csv.")
    run.add_argument("--out", required=True, help="CSV to append to, e.g. data/measurements/cpu-smoke.csv")
    run.add_argument("--grid", help="a YAML file with the keys below, or 'paper' for Sec. 4.5's grid")
    run.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)}")
    run.add_argument("--steps", nargs="+", help="denoising steps, e.g. 10 20 30")
    run.add_argument("--resolutions", nargs="+", help="square sizes (512) or HEIGHTxWIDTH (512x768)")
    run.add_argument("--dtypes", nargs="+", help="fp16, fp32, bf16")
    run.add_argument("--cfg", nargs="+", help="on, off or both")
    run.add_argument("--prompts", nargs="+", help="prompts per measurement (N), e.g. 25 50 100")
    run.add_argument("--size", help="tiny (default) or full")
    run.add_argument("--device", help="cpu (default), cuda, cuda:N")
    run.add_argument("--weights", help="random (default) or pretrained")
    run.add_argument("--pretrained", help="local path of a checkpoint (with --weights pretrained)")
    run.add_argument("--seed", type=int, help="seed of the random weights and latents (default 0)")
    run.add_argument("--meters", nargs="+", choices=METERS, metavar="METER",
                     help="codecarbon, zeus and/or nvml (default: codecarbon + zeus on a GPU, nvml where Zeus is "
                          "missing; codecarbon on CPU)")
    run.add_argument("--country", default="USA", help="ISO 3166-1 alpha-3 code for CodeCarbon (default USA)")
    run.add_argument("--idle-seconds", type=float, default=5.0, help="idle-power window before the sweep (s)")
    run.add_argument("--warmup", type=int, default=1, help="uncounted generations before each measurement")
    run.add_argument("--min-window", type=float, default=1.0,
                     help="repeat the N prompts until a window lasts this long (s); rows hold per-run averages")
    run.add_argument("--shard", help="i/k: measure every k-th configuration starting at the i-th (1-based)")
    run.add_argument("--retry-errors", action="store_true", help="re-measure configurations whose rows are errors")
    run.add_argument("--gpu-label", help="value of the gpu column (default: from the device name, e.g. H100)")
    run.add_argument("--dry-run", action="store_true", help="list the configurations and stop")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    ex = run.add_argument_group("executors (submitit): --out is then a folder, one append-only CSV per shard")
    ex.add_argument("--executor", choices=["local", "slurm"],
                    help="local: worker processes on this node; slurm: one Slurm job per shard "
                         "(default: this process only)")
    ex.add_argument("--workers", type=int, help="number of shards: local worker processes or Slurm jobs (default 1)")
    ex.add_argument("--gpus", help="local: one worker per GPU, e.g. 0,1,2,3 (CUDA_VISIBLE_DEVICES)")
    ex.add_argument("--partition", help="Slurm partition")
    ex.add_argument("--time", help="time limit per job: minutes (90), MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
    ex.add_argument("--account", help="Slurm account")
    ex.add_argument("--gpus-per-job", type=int, help="GPUs per Slurm job (default 1 with --device cuda, 0 on CPU)")
    ex.add_argument("--slurm", nargs="+", action="extend", metavar="KEY=VALUE",
                    help="more Slurm settings, e.g. qos=high constraint=a100 mem_gb=64 (also a grid YAML's slurm:)")
    ex.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and show their progress")
    run.set_defaults(func=cmd_sweep_run)

    st = group.add_parser("status", parents=[json_parent()],
                          help="per shard: rows ok / oom / error, running or finished, ETA",
                          description="Per shard of a sweep run with --executor: configurations done of planned, "
                                      "rows ok / oom / error, whether its worker runs (a dead one reads 'stopped'), "
                                      "and the time left at its pace.")
    st.add_argument("out", help="the sweep's folder (--out of `energy-nb sweep run --executor ...`)")
    st.set_defaults(func=cmd_sweep_status)

    mg = group.add_parser("merge", help="merge the shard files into one CSV (duplicates refused)",
                          description="Merge OUT/shards/*.csv into one CSV of the shared schema, one row per "
                                      "configuration and meter: a retried error row gives way to its retry; two "
                                      "measured rows of one configuration are refused. Idempotent, and safe while "
                                      "workers still write.")
    mg.add_argument("out", help="the sweep's folder")
    mg.add_argument("--into", help="the merged CSV (default OUT/merged.csv)")
    mg.set_defaults(func=cmd_sweep_merge)
