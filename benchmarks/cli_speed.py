"""How fast the command line answers where the GPUs are: the built wheel in a fresh venv (core requirements only, no
torch), cold processes from a folder outside the checkout, an empty cache each run, median seconds.

    make bench                     # or: .venv/bin/python benchmarks/cli_speed.py --runs 5

Rows: ``python -c "import pandas"`` in the same venv (the floor every command stands on), ``energy-nb predict`` with
``auto`` (the default) and every named law, ``energy-nb plan --compare``, ``predict --num-gpus 8`` and ``plan
--latency-target --compare`` (FLUX.1-dev on H100s); each also in this checkout (editable
install, for reference). Then the time of ``energy-nb laws build`` with an empty cache: what fitting every law,
the selection and its nested measure cost, once, at build time.

Targets (issues "Stand-alone" and "Several GPUs per image"): predict <= 1.3 x the pandas import, plan <= 2 x, all
from the wheel.
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
#: Several GPUs per image (issue "Several GPUs per image"): FLUX.1-dev as ML.ENERGY measured it.
SPLIT_CONFIG = ["--model", "flux", "--height", "1024", "--width", "1024", "--steps", "50", "--dtype", "bf16", "--gpu",
                "H100"]
TARGETS = {"predict": 1.3, "plan": 2.0}


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p


def _median(cmd: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            _run(cmd, cwd=cwd, env=dict(env, ENERGY_NB_CACHE=cache))
            times.append(time.perf_counter() - t)
            if any(Path(cache).rglob("*")):
                raise SystemExit(f"{' '.join(cmd)} wrote to the cache: {sorted(Path(cache).rglob('*'))}")
    return statistics.median(times)


def install(tmp: Path) -> Path:
    """The wheel built from this checkout in a fresh venv with the locked core requirements; its ``bin``."""
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
          str(ROOT)])
    (wheel,) = (tmp / "dist").glob("energy_nb-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")])
    _run([sys.executable, "-m", "pip", "--python", str(tmp / "venv" / "bin" / "python"), "install", "-q", "-c",
          str(ROOT / "requirements.lock"), str(wheel)])
    return tmp / "venv" / "bin"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from energy_nb.laws import LAW_NAMES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed cold processes per cell (median reported)")
    ap.add_argument("--laws", nargs="+", default=["auto", *LAW_NAMES])
    ap.add_argument("--no-build", action="store_true", help="skip timing `energy-nb laws build`")
    a = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGY_NB")}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("building the wheel and a fresh venv (core requirements only) ...", flush=True)
        wheel_bin = install(tmp)
        away = tmp / "elsewhere"
        away.mkdir()
        env["ENERGY_NB_USER_DIR"] = str(tmp / "user")
        floor = _median([str(wheel_bin / "python"), "-c", "import pandas"], a.runs, away, env)
        here_floor = _median([sys.executable, "-c", "import pandas"], a.runs, away, env)
        print(f"cold processes, empty cache, median of {a.runs} runs, seconds ({os.cpu_count()} cores)")
        head = f"{'command':<38}{'wheel':>8}{'x pandas':>10}{'checkout':>10}{'x pandas':>10}  target"
        print(head + "\n" + "-" * len(head))
        label = 'python -c "import pandas"'
        print(f"{label:<38}{floor:8.2f}{1.0:10.2f}{here_floor:10.2f}{1.0:10.2f}")
        commands = [(f"predict --law {law}", ["predict", *CONFIG, "--law", law], "predict") for law in a.laws]
        commands.append(("plan --compare", ["plan", *CONFIG, "--images-per-day", "1e6", "--compare"], "plan"))
        commands.append(("predict --num-gpus 8", ["predict", *SPLIT_CONFIG, "--num-gpus", "8"], "predict"))
        commands.append(("plan --latency-target 6 --compare", ["plan", *SPLIT_CONFIG, "--images-per-day", "1e4",
                                                               "--latency-target", "6", "--compare"], "plan"))
        failed = 0
        for label, args, kind in commands:
            wheel = _median([str(wheel_bin / "energy-nb"), *args], a.runs, away, env)
            here = _median([sys.executable, "-m", "energy_nb", *args], a.runs, away, env)
            ok = wheel / floor <= TARGETS[kind]
            failed += not ok
            print(f"{label:<38}{wheel:8.2f}{wheel / floor:10.2f}{here:10.2f}{here / here_floor:10.2f}  "
                  f"<= {TARGETS[kind]:g} x from the wheel" + ("" if ok else "  MISSED"), flush=True)
        print(f"{len(commands) - failed} of {len(commands)} commands within target")
        if not a.no_build:
            with tempfile.TemporaryDirectory() as cache:
                t = time.perf_counter()
                _run([sys.executable, "-m", "energy_nb", "laws", "build", "--quiet", "--out", str(tmp / "laws.json")],
                     cwd=ROOT, env=dict(env, ENERGY_NB_CACHE=cache))
                print(f"energy-nb laws build, empty cache: {time.perf_counter() - t:.1f} s (once, at build time)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
