"""How fast the command line answers: cold processes, several runs each, median seconds.

    make bench                     # or: .venv/bin/python benchmarks/cli_speed.py --runs 5

Rows: ``energy-nb predict`` with ``auto`` (the default) and every named law, and ``energy-nb plan --compare``. Columns:

- ``warm``: the on-disk cache (fitted laws, counted features) already holds what the command needs
  (one untimed run first); every timed run is a new Python process.
- ``empty``: every run gets a new, empty cache directory (``ENERGY_NB_CACHE``): the law is fitted
  from the shipped data, counted features come from the shipped table ``data/features/counted.csv``.
- ``--no-shipped`` adds a column with the shipped table switched off too: everything is counted on
  the meta device in that process (the worst case; imports torch, diffusers and transformers).

Targets (issue "Predictions that agree"): predict <= 1.5 s warm and <= 30 s empty; plan --compare <= 3 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ["--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--dtype", "fp16", "--cfg",
          "--gpu", "A100"]
TARGETS = {"predict": (1.5, 30.0), "plan": (3.0, None)}


def _time(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "energy_nb", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"energy-nb {' '.join(args)} failed:\n{p.stderr}")
    return dt


def _median(args: list[str], runs: int, fresh_cache: bool, shipped: bool = True) -> float:
    times = []
    for _ in range(runs):
        env = dict(os.environ)
        if not shipped:
            env["ENERGY_NB_NO_SHIPPED_FEATURES"] = "1"
        if fresh_cache:
            with tempfile.TemporaryDirectory() as d:
                env["ENERGY_NB_CACHE"] = d
                times.append(_time(args, env))
        else:
            times.append(_time(args, env))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from energy_nb.laws import LAW_NAMES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed cold processes per cell (median reported)")
    ap.add_argument("--laws", nargs="+", default=["auto", *LAW_NAMES])
    ap.add_argument("--no-shipped", action="store_true", help="also time with the shipped features table off")
    a = ap.parse_args(argv)

    commands = [(f"predict --law {law}", ["predict", *CONFIG, "--law", law], "predict") for law in a.laws]
    commands.append(("plan --compare", ["plan", *CONFIG, "--images-per-day", "1e6", "--compare"], "plan"))
    print(f"cold processes, median of {a.runs} runs, seconds ({os.cpu_count()} cores, {sys.executable})")
    head = f"{'command':<38}{'warm':>8}{'empty':>8}" + (f"{'no table':>10}" if a.no_shipped else "") + "  target"
    print(head)
    print("-" * len(head))
    failed = 0
    for label, args, kind in commands:
        _time(args, dict(os.environ))  # prime the user's cache (untimed)
        warm = _median(args, a.runs, fresh_cache=False)
        empty = _median(args, a.runs, fresh_cache=True)
        line = f"{label:<38}{warm:8.2f}{empty:8.2f}"
        if a.no_shipped:
            line += f"{_median(args, 1, fresh_cache=True, shipped=False):10.2f}"
        t_warm, t_empty = TARGETS[kind]
        ok = warm <= t_warm and (t_empty is None or empty <= t_empty)
        failed += not ok
        line += (f"  <= {t_warm:g} s warm" + (f", <= {t_empty:g} s empty" if t_empty else "")
                 + ("" if ok else "  MISSED"))
        print(line, flush=True)
    print(f"{len(commands) - failed} of {len(commands)} commands within target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
