"""Which modules of energy_nb one ``predict`` runs through, and how often a call climbs back up the layers.

    .venv/bin/python benchmarks/predict_trace.py [--root CHECKOUT] [-- predict arguments]

Runs ``energy-nb predict`` (default: SD2 768 px, 25 steps, CFG, fp16, H100) in a fresh process of the checkout at
``--root`` (default: this one; pass an older checkout, e.g. a ``git worktree``, to compare) with an empty cache, and
records every call of a function whose code lives in ``energy_nb/`` (``sys.setprofile``; the bodies of modules being
imported are not calls). Prints the modules whose functions ran, in the order first reached, each with its layer; the
number of times the walk from one called module to the next climbs from a layer to a later one (below the command
line: answering that reaches back up into fitting, selection or counting); and every caller -> callee edge that goes
up. Layers: the package's order, ``core`` first (tests/test_layers.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("core", "models", "compute", "data", "laws", "evaluation", "measurement", "planning", "api", "book", "cli")
DEFAULT = ["--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--dtype", "fp16", "--cfg",
           "--gpu", "H100"]

#: Run in the child: trace the calls of one predict, print JSON (modules in order, calls between modules).
CHILD = r"""
import json, sys, os
pkg = os.path.join(sys.argv[1], "energy_nb") + os.sep
seen, edges, walk = [], {}, []

def mod(filename):
    rel = filename[len(pkg):-3].replace(os.sep, ".")
    return "energy_nb." + rel.removesuffix(".__init__").removesuffix("__init__").rstrip(".")

def prof(frame, event, arg):
    if event != "call":
        return
    f = frame.f_code.co_filename
    if not f.startswith(pkg) or frame.f_code.co_name == "<module>":  # a function's call, not an import's body
        return
    m = mod(f)
    if not walk or walk[-1] != m:
        walk.append(m)
    if m not in seen:
        seen.append(m)
    back = frame.f_back
    while back is not None and not back.f_code.co_filename.startswith(pkg):
        back = back.f_back
    if back is not None:
        c = mod(back.f_code.co_filename)
        if c != m:
            edges[c + " -> " + m] = edges.get(c + " -> " + m, 0) + 1

sys.path.insert(0, sys.argv[1])
from energy_nb.cli import main
sys.setprofile(prof)
try:
    rc = main(["predict", *sys.argv[2:]])
finally:
    sys.setprofile(None)
print("\n@@" + json.dumps(dict(rc=rc, modules=seen, edges=edges, walk=walk)))
"""


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def trace(root: Path, args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as away:
        env = dict(os.environ, ENERGY_NB_CACHE=cache, ENERGY_NB_USER_DIR=cache, MPLCONFIGDIR=cache)
        p = subprocess.run([sys.executable, "-c", CHILD, str(root), *args], capture_output=True, text=True, env=env,
                           cwd=away)
    if "@@" not in p.stdout:
        raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout.rsplit("@@", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to trace (default: this one)")
    ap.add_argument("--json", action="store_true", help="print the raw trace as JSON")
    ap.add_argument("args", nargs="*", help="predict's arguments (after --)")
    a = ap.parse_args()
    t = trace(a.root.resolve(), a.args or DEFAULT)
    if a.json:
        print(json.dumps(t, indent=1))
        return 0
    below = [m for m in t["walk"] if layer(m) is not None and LAYERS[layer(m)] not in ("cli", "api")]
    climbs = [(a_, b_) for a_, b_ in zip(below, below[1:]) if layer(b_) > layer(a_)]
    up = {e: n for e, n in t["edges"].items()
          if None not in (layer(e.split(" -> ")[0]), layer(e.split(" -> ")[1]))
          and layer(e.split(" -> ")[1]) > layer(e.split(" -> ")[0])
          and e.split(" -> ")[0].split(".")[1] not in ("cli", "api")}
    print(f"{len(t['modules'])} modules of energy_nb whose functions one predict runs ({a.root}):")
    for m in t["modules"]:
        n = layer(m)
        print(f"  {m}" + (f"  [{LAYERS[n]}]" if n is not None else ""))
    print(f"{len(climbs)} climbs in the walk from module to module below the command line and the API "
          f"({len(below)} steps), e.g. " + "; ".join(f"{x} -> {y}" for x, y in climbs[:4]))
    print(f"{len(up)} caller -> callee edges from a layer up to a later one (the command line and the API excepted):")
    for e, n in sorted(up.items()):
        print(f"  {e}  ({n} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
