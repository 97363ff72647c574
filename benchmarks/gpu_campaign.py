"""The GPU campaign's entry point: print the plan, or measure the next unfinished chunk.

    python benchmarks/gpu_campaign.py plan [--gpu-part H200]     # the chunks, their state and estimates
    python benchmarks/gpu_campaign.py run --out-dir DIR           # on a GPU: the next chunk, then the file to DIR

``run`` records the machine (GPU part, driver, power limit, clocks, memory) in ``DIR/machine-<part>.json``,
resumes from the rows in ``data/measurements/<part>.csv`` and appends to it, stops between two configurations
once ``--deadline`` seconds have passed, and copies the file to ``DIR/<part>.csv`` (the device tool brings back
only what is under $OUT: copy that file over ``data/measurements/<part>.csv`` and commit it). ``bash
benchmarks/gpu_campaign.sh`` wraps it with the wheels the GPU machine lacks. The chunks and their estimates:
:mod:`energy_nb.measurement.campaign`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from energy_nb.measurement import campaign  # noqa: E402

QUERY = ("name", "driver_version", "power.limit", "power.max_limit", "clocks.max.sm", "clocks.max.memory",
         "memory.total", "pstate", "temperature.gpu")


def campaign_csv(part: str) -> Path:
    return ROOT / "data" / "measurements" / f"{part}.csv"


def machine() -> dict:
    """What the GPU is: torch's device name and properties, and nvidia-smi's fields of :data:`QUERY`."""
    import torch

    from energy_nb.models.hardware import gpu_part

    if not torch.cuda.is_available():
        sys.exit("gpu_campaign: no CUDA GPU on this machine (the campaign measures full-size models on a GPU)")
    props = torch.cuda.get_device_properties(0)
    out = dict(gpu_name=torch.cuda.get_device_name(0), gpu_part=gpu_part(torch.cuda.get_device_name(0)),
               sm_count=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30, 1),
               torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0])
    try:
        line = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(QUERY)}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
        out["nvidia_smi"] = dict(zip(QUERY, (v.strip() for v in line.split(","))))
    except (OSError, IndexError, subprocess.SubprocessError) as exc:
        out["nvidia_smi"] = f"not read: {exc}"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="the chunks, their state against the campaign file, and estimated seconds")
    p.add_argument("--gpu-part", default="H200", help="whose file to read: data/measurements/PART.csv (default H200)")
    r = sub.add_parser("run", help="measure the next unfinished chunk (a GPU)")
    r.add_argument("--out-dir", required=True, help="where the machine record and the campaign file are copied")
    r.add_argument("--deadline", type=float, default=270.0,
                   help="seconds after which the chunk stops between two configurations (default 270)")
    r.add_argument("--idle-seconds", type=float, default=campaign.IDLE_S)
    args = ap.parse_args(argv)
    plan = campaign.chunks()
    if args.command == "plan":
        import pandas as pd

        csv = campaign_csv(args.gpu_part)
        table = campaign.plan_table(plan, csv)
        with pd.option_context("display.width", 200, "display.max_colwidth", 70):
            print(table.to_string(index=False))
        todo = table[table.state != "done"]
        print(f"\n{len(todo)} of {len(table)} chunks to go in {csv.relative_to(ROOT)}, estimated "
              f"{todo.estimate_s.sum() / 60:.0f} min of measurement (ML.ENERGY's H100 times per image, scaled by "
              "counted FLOPs). Batch sizes are not planned: the sweep measures batch 1.")
        return 0
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    part = info["gpu_part"]
    (out / f"machine-{part}.json").write_text(json.dumps(info, indent=1))
    print("machine:", json.dumps(info), flush=True)
    csv = campaign_csv(part)
    csv.parent.mkdir(parents=True, exist_ok=True)
    try:
        res = campaign.run_chunk(plan, csv, device="cuda", deadline_s=args.deadline, idle_seconds=args.idle_seconds,
                                 log=lambda m: print(m, flush=True))
    finally:
        if csv.exists():
            shutil.copy2(csv, out / csv.name)
    print(json.dumps(dict(chunk=res.chunk, measured=res.measured, remaining=res.remaining,
                          seconds=round(res.seconds, 1), stopped_by_deadline=res.stopped_by_deadline)))
    nxt = campaign.next_chunk(plan, csv)
    print("next:", "nothing, the campaign is done" if nxt is None else
          f"{nxt.chunk.name}, {len(nxt.remaining)} windows, about {campaign.estimate_seconds(nxt.remaining):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
