"""``energy-nb flops``, ``models``, ``gpus``, ``features``, ``provenance`` and ``import``: what the package
knows (architectures, GPUs, counted features, data files) and bringing published measurements in."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import UserError
from .options import json_parent, model_args, positive_int, print_json, resolve_model

if TYPE_CHECKING:
    import pandas as pd


def cmd_flops(a: argparse.Namespace) -> int:
    from .. import api
    from ..models.registry import get_model

    resolve_model(a)
    steps = a.steps if a.steps is not None else int(get_model(a.model).defaults.get("steps", 1))
    f = api.flops(a.model, a.height, a.width, steps, a.cfg, a.convention)
    print_json(f.to_dict()) if a.json else print(f)
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from ..models.registry import REGISTRY

    rows = [dict(key=k, name=s.name, pipeline=s.pipeline, paper=s.paper, hf_ids=list(s.hf_ids),
                 denoiser=s.component("denoiser").cls, multiple=s.multiple, defaults=s.defaults, origin=s.origin)
            for k, s in REGISTRY.items()]
    if a.json:
        print_json(rows)
        return 0
    for r in rows:
        d = r["defaults"]
        print(f"{r['key']:<13} {r['name']:<48} {r['pipeline']:<26} default {d.get('height')}x{d.get('width')}, "
              f"{d.get('steps')} steps, guidance {d.get('guidance')}")
        print(f"{'':<13} answers to: {', '.join(r['hf_ids'])}")
    return 0


def cmd_gpus(a: argparse.Namespace) -> int:
    from ..models.hardware import table

    t = table()
    if a.json:
        print_json(t.to_dict(orient="records"))
        return 0
    cols = ["gpu_part", "family", "peak_fp16_tflops", "peak_tf32_tflops", "peak_fp32_tflops", "bandwidth_gb_s",
            "power_limit_w", "memory_gb", "dtypes", "idle_w", "interconnect", "interconnect_gb_s", "max_gpus_per_node"]
    print(t[cols].to_string(index=False, na_rep="-"))
    print("TFLOP/s dense; GB/s (interconnect: GPU to GPU, both directions); memory GB; W. A family name answers with "
          "its first part's datasheet and its largest part's memory; names are read in any case and as nvidia-smi "
          "prints them. Sources: data/gpus.csv.")
    return 0


def cmd_features(a: argparse.Namespace) -> int:
    from ..compute import features
    from ..core import paths
    from ..models.registry import resolve

    if a.out and not a.regenerate:
        # Refused rather than writing the table shown: --out is where a recount goes (its help says so), and the
        # shown table (GFLOPs, millions of parameters) is not the counted.csv a user would compare with the shipped one.
        raise UserError(f"--out {a.out} needs --regenerate: it is where the recounted table is written "
                        "(energy-nb features --regenerate --out FILE); without --regenerate nothing is written "
                        "(--json gives the shown table)")
    if a.regenerate:
        models = tuple(resolve(m, flag="--models") for m in a.models) if a.models else None
        if models and not a.out:
            raise UserError("--regenerate --models writes part of the table: give --out FILE (the shipped table holds "
                            "every registry model)")
        path = features.write_table(a.out, progress=not a.no_progress, models=models)
        print(f"wrote {path} ({sum(1 for _ in path.open()) - 1} rows)")
        return 0
    stale = features.stale_rows()
    if stale:
        raise UserError(f"{len(stale)} rows of {paths.FEATURES_CSV.name} were counted with another registry, "
                        f"counting code or library versions (e.g. {stale[0]}): run `energy-nb features --regenerate`")
    rows = [dict(model=f.model, size=f.size, role=f.role, height=f.height, width=f.width, gflops=f.flops / 1e9,
                 kernels=f.kernels, params_m=f.params / 1e6)
            for f in features.table(tuple(resolve(m) for m in a.models) if a.models else None)]
    if a.json:
        print_json(rows)
        return 0
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    return 0


#: Text output of ``energy-nb provenance`` is wrapped at this many columns (the sources run to 600 characters).
WRAP_COLUMNS = 100


def provenance_text(t: pd.DataFrame, width: int = WRAP_COLUMNS) -> str:
    """The provenance table as text no wider than ``width``: per entry a line with its file, file count, rows and
    bytes, then its sha256, source and description, each wrapped with a hanging indent under its label."""
    import textwrap

    import pandas as pd

    labels = ("sha256", "source", "description")
    indent = " " * (2 + max(map(len, labels)) + 2)
    blocks = []
    for r in t.to_dict(orient="records"):
        facts = [f"{r['files']} files" if r["files"] != 1 else "1 file"]
        if pd.notna(r["rows"]):
            facts.append(f"{int(r['rows']):,} rows")
        facts.append(f"{int(r['bytes']):,} bytes")
        lines = textwrap.wrap(f"{r['file']} ({', '.join(facts)})", width, subsequent_indent=indent,
                              break_on_hyphens=False)
        for label in labels:
            text = str(r[label] or "-")
            lines += textwrap.wrap(text, width, initial_indent=f"  {label:<{len(indent) - 4}}  ",
                                   subsequent_indent=indent, break_on_hyphens=False, break_long_words=True)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def cmd_provenance(a: argparse.Namespace) -> int:
    from ..core.provenance import table

    t = table()
    if a.json:
        print_json(t.to_dict(orient="records"))
    else:
        print(provenance_text(t))
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from ..data import mlenergy

    df = mlenergy.read(a.path)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
    summary = mlenergy.summary(df).reset_index()
    if a.json:
        print_json(dict(rows=len(df), out=a.out, summary=summary.to_dict(orient="records")))
        return 0
    print(summary.to_string(index=False))
    print(f"{len(df)} rows (energy_scope gross: GPU energy without idle subtraction)"
          + (f" written to {a.out}" if a.out else ""))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from ..compute.flops import CONVENTIONS
    from ..models.registry import MODEL_KEYS

    f = sub.add_parser("flops", parents=[json_parent()], help="analytic or counted FLOPs of one prompt",
                       description="FLOPs of one prompt (text encoding, denoising steps, decoding; CFG doubles "
                                   "denoising): the paper's printed formulas for its four models, FLOPs counted on "
                                   "the real diffusers modules for the others (--convention to choose).")
    model_args(f)
    f.add_argument("--height", required=True, type=int, help="pixels")
    f.add_argument("--width", required=True, type=int, help="pixels")
    f.add_argument("--steps", type=positive_int, help="denoising steps (default: the model's published default, "
                                                      "energy-nb models)")
    f.add_argument("--cfg", action="store_true", help="classifier-free guidance on (doubles the denoiser's FLOPs)")
    f.add_argument("--convention", choices=CONVENTIONS,
                   help="default: paper for the paper's four models (printed formulas), counted for the others")
    f.set_defaults(func=cmd_flops)

    mo = sub.add_parser("models", parents=[json_parent()],
                        help="the model registry (data/models): keys, Hugging Face ids, defaults",
                        description="Every model of the registry (data/models): its key, name, pipeline class, "
                                    "published default configuration and the Hugging Face ids --model accepts.")
    mo.set_defaults(func=cmd_models)

    gp = sub.add_parser("gpus", parents=[json_parent()],
                        help="the GPU datasheet table (data/gpus.csv): peaks, bandwidth, power",
                        description="Every GPU part of data/gpus.csv, the names --gpu accepts: dense fp16/bf16, TF32 "
                                    "and fp32 peaks (TFLOP/s), memory bandwidth (GB/s), power limit and published "
                                    "idle power (W).")
    gp.set_defaults(func=cmd_gpus)

    fe = sub.add_parser("features", parents=[json_parent()],
                        help="counted FLOPs, kernels and parameters of every component (shipped table)",
                        description="Show the architecture features the laws use, or recount them into "
                                    "data/features/counted.csv (--regenerate). Fails if the table is stale.")
    fe.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)} (or their Hugging Face ids)")
    fe.add_argument("--regenerate", action="store_true", help="recount everything and rewrite the shipped table "
                                                              "(data/features/counted.csv, or --out; needs torch)")
    fe.add_argument("--out", help="with --regenerate: write the recounted table here instead (compare it with the "
                                  "shipped one)")
    fe.add_argument("--no-progress", action="store_true", help="no progress bar while recounting")
    fe.set_defaults(func=cmd_features)

    pv = sub.add_parser("provenance", parents=[json_parent()], help="every data file with source, rows and sha256",
                        description="Every file (or verbatim folder) of the data with its source and description "
                                    "(data/MANIFEST.yml), rows, bytes and sha256; the text is wrapped at "
                                    f"{WRAP_COLUMNS} columns, --json gives every field whole.")
    pv.set_defaults(func=cmd_provenance)

    im = sub.add_parser("import", parents=[json_parent()], help="convert published measurements to the shared schema",
                        description="Read ML.ENERGY leaderboard data (a v2 folder with models.json, or a v3 "
                                    "text-to-image.json or text-to-video.json) into rows of the shared schema "
                                    "(energy_scope gross; a video's rows per video, with frames and fps).")
    im.add_argument("source", choices=["mlenergy"], help="who published it (mlenergy: the ML.ENERGY leaderboard)")
    im.add_argument("path", help="e.g. ../shared/external/mlenergy-leaderboard-v2")
    im.add_argument("--out", help="write the rows as CSV")
    im.set_defaults(func=cmd_import)
