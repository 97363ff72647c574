"""ML.ENERGY leaderboard measurements (v2 tree and v3 JSON) read into the shared schema.

Their method is not the paper's: Zeus reads the NVML energy counter of the GPU(s) around whole
pipeline calls, **without idle subtraction** (``energy_scope = gross``), and reports energy per image
and batch latency at batch sizes 1-64 (see each folder's ``SOURCE.md``). One JSON record becomes one
row: ``n_prompts`` = the images in the measured window (v2: 10 batches; v3: 8 batches, 4 when
steps > 30), ``energy_j`` = energy per image x ``n_prompts``, ``time_s`` = batch latency / batch size.

A v3 record on several GPUs keeps how xDiT split each image (``ulysses_degree``, ``ring_degree``; their product is
``num_gpus``), so such a row -- ML.ENERGY's or a user's own xDiT run in their format -- fits and calibrates the law
for several GPUs per image.

Model ids map to registry keys where the architecture is the paper's (SD 2.1 -> ``sd2``, FLUX.1-dev
-> ``flux``, SD3.5-Large -> ``sd35``); the others keep their Hugging Face ids. Every record of v2 ran
classifier-free guidance (pipeline defaults); in v3 FLUX.1-dev does not (guidance embedding), SD3.5 does.

A v3 ``text-to-video.json`` record becomes one row per configuration too, with ``frames`` and ``fps`` as published
and energy and time per *video* (``n_prompts`` = the videos of the 2 measured batches); Wan 2.1 and CogVideoX ran
classifier-free guidance, HunyuanVideo a guidance embedding (SOURCE.md). The registry does not have the video models
yet, so their rows keep their Hugging Face ids and no law is fitted on them.

Units: J, s, pixels, frames.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import paths, provenance
from ..core.errors import UserError
from ..data.schema import SchemaError, fill_defaults, to_frame, validate_row
from ..models.hardware import gpu_family, gpu_part


def registry_key(hf_id: str) -> str:
    """The registry key a published Hugging Face id answers to (``data/models``: e.g. SDXL and sdxl-turbo
    -> ``sdxl``), or the id itself when no registry model answers to it."""
    from ..models.registry import resolve

    try:
        return resolve(hf_id)
    except ValueError:
        return hf_id


V2_FIELDS = ("Model", "GPU", "Energy/image (J)", "Batch latency (s)", "Batch size", "Denoising steps")
V2_WINDOW_BATCHES = 10
V3_FIELDS = ("model_id", "gpu_model", "num_gpus", "batch_size", "inference_steps", "image_height", "image_width",
             "weight_precision", "energy_per_image_joules", "batch_latency_s")
#: Classifier-free guidance in v3 (SOURCE.md): FLUX.1-dev uses a guidance embedding, SD3.5 runs CFG.
V3_CFG: dict[str, int] = {"black-forest-labs/FLUX.1-dev": 0, "stabilityai/stable-diffusion-3.5-large": 1}
#: The fields of a v3 ``text-to-video.json`` configuration that a record needs.
V3_VIDEO_FIELDS = ("model_id", "gpu_model", "num_gpus", "batch_size", "inference_steps", "num_frames", "video_height",
                   "video_width", "fps", "weight_precision", "energy_per_video_joules", "batch_latency_s")
#: Classifier-free guidance in v3 text-to-video (SOURCE.md: the pipelines' defaults): Wan 2.1 and CogVideoX run it (two
#: transformer passes per step), HunyuanVideo feeds its guidance to an embedding (guidance-distilled, one pass).
V3_VIDEO_CFG: dict[str, int] = {"Wan-AI/Wan2.1-T2V-1.3B-Diffusers": 1, "Wan-AI/Wan2.1-T2V-14B-Diffusers": 1,
                                "tencent/HunyuanVideo": 0, "zai-org/CogVideoX-2b": 1, "zai-org/CogVideoX1.5-5B": 1}
#: Measured batches per text-to-video configuration (``benchmark_iters=2``; SOURCE.md).
V3_VIDEO_BATCHES = 2
PRECISIONS: dict[str, str] = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
V2_DIR = paths.DATA / "external" / "mlenergy-leaderboard-v2"
V3_FILE = paths.DATA / "external" / "mlenergy-leaderboard-v3" / "text-to-image.json"
V3_VIDEO_FILE = paths.DATA / "external" / "mlenergy-leaderboard-v3" / "text-to-video.json"
METER = "zeus (NVML energy counter)"


class MLEnergyInputError(UserError):
    """Input the importer cannot read; the message names the file and the field."""


def _field(rec: dict, name: str, where: str):
    if name not in rec:
        raise MLEnergyInputError(f"{where}: field {name!r} is missing")
    return rec[name]


def _number(rec: dict, name: str, where: str, integer: bool = False) -> float:
    v = _field(rec, name, where)
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise MLEnergyInputError(f"{where}: field {name!r} is {v!r}, not a number") from None
    if not x > 0 or (integer and not x.is_integer()):
        raise MLEnergyInputError(f"{where}: field {name!r} is {v!r}; allowed: a positive "
                                 f"{'integer' if integer else 'number'}")
    return int(x) if integer else x


def _degree(rec: dict, name: str, where: str) -> int | None:
    """A parallel degree (``ulysses_degree``, ``ring_degree``) when the record gives one (older files do not)."""
    return _number(rec, name, where, integer=True) if name in rec else None


def _gpu(name: str, where: str, field: str) -> tuple[str, str]:
    try:
        return gpu_family(name), gpu_part(name)
    except ValueError as exc:
        raise MLEnergyInputError(f"{where}: field {field!r}: {exc}") from None


def _row(where: str, **row) -> dict:
    fill_defaults(row)
    try:
        validate_row(row, where, 0)
    except SchemaError as exc:
        raise MLEnergyInputError(str(exc)) from None
    return row


def _v2_root(path: Path) -> Path:
    """The ``text-to-image`` folder (with ``models.json``) inside or at ``path``."""
    for cand in (path, path / "data" / "diffusion" / "text-to-image", path / "text-to-image"):
        if (cand / "models.json").is_file():
            return cand
    raise MLEnergyInputError(f"{path}: no models.json found (expected the v2 layout data/diffusion/text-to-image/"
                       "<GPU>/<org>/<model>/bs<B>+steps<S>.json with models.json)")


def read_v2(path: str | Path) -> pd.DataFrame:
    """Every ``bs<B>+steps<S>.json`` of a v2 tree as one row each (shared schema, ``gross``)."""
    root = _v2_root(Path(path))
    models = json.loads((root / "models.json").read_text())
    from ..core.provenance import note_read

    note_read(root / "models.json")
    rows = []
    files = sorted(root.glob("*/*/*/bs*+steps*.json"))
    if not files:
        raise MLEnergyInputError(f"{root}: no bs<B>+steps<S>.json files under <GPU>/<org>/<model>/")
    for f in files:
        where = f.relative_to(root.parent.parent.parent).as_posix()  # data/diffusion/text-to-image/...
        note_read(f)
        try:
            rec = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise MLEnergyInputError(f"{where}: not JSON ({exc})") from None
        for name in V2_FIELDS:
            _field(rec, name, where)
        hf = str(rec["Model"])
        if hf not in models:
            raise MLEnergyInputError(f"{where}: field 'Model' is {hf!r}, which models.json does not list")
        res = str(_field(models[hf], "resolution", f"models.json[{hf!r}]"))
        m = re.fullmatch(r"(\d+)x(\d+)", res)
        if not m:
            raise MLEnergyInputError(f"models.json[{hf!r}]: field 'resolution' is {res!r}; allowed: HEIGHTxWIDTH, "
                                     "e.g. 768x768")
        batch = _number(rec, "Batch size", where, integer=True)
        steps = _number(rec, "Denoising steps", where, integer=True)
        fm = re.fullmatch(r"bs(\d+)\+steps(\d+)\.json", f.name)
        if fm is None or (int(fm.group(1)), int(fm.group(2))) != (batch, steps):
            raise MLEnergyInputError(f"{where}: the file name says bs{fm.group(1) if fm else '?'}+steps"
                               f"{fm.group(2) if fm else '?'} but the fields say batch {batch}, steps {steps}")
        family, part = _gpu(str(rec["GPU"]), where, "GPU")
        per_image = _number(rec, "Energy/image (J)", where)
        n = V2_WINDOW_BATCHES * batch
        rows.append(_row(where, model=registry_key(hf), gpu=family, gpu_part=part, height=int(m.group(1)),
                         width=int(m.group(2)), steps=steps, dtype="fp16", cfg=1, n_prompts=n,
                         energy_j=per_image * n, source=f"ML.ENERGY v2: {where}", status="ok", meter=METER,
                         duration_s=_number(rec, "Batch latency (s)", where) * V2_WINDOW_BATCHES,
                         batch_size=batch, num_gpus=1,
                         time_s=_number(rec, "Batch latency (s)", where) / batch, energy_scope="gross",
                         note=f"hf_id={hf}; window of {V2_WINDOW_BATCHES} batches; GPU energy without idle "
                              "subtraction"))
    return to_frame(rows)


#: What differs between v3's two files (by their ``task``): the fields a record needs, who ran guidance, which field
#: holds the energy per output and the size, and how many batches the measured window holds.
V3_TASKS: dict[str, dict[str, Any]] = {
    "text-to-image": dict(fields=V3_FIELDS, cfg=V3_CFG, energy="energy_per_image_joules", height="image_height",
                          width="image_width", batches=lambda steps: 8 if steps <= 30 else 4, per="image"),
    "text-to-video": dict(fields=V3_VIDEO_FIELDS, cfg=V3_VIDEO_CFG, energy="energy_per_video_joules",
                          height="video_height", width="video_width", batches=lambda steps: V3_VIDEO_BATCHES,
                          per="video"),
}


def read_v3(path: str | Path) -> pd.DataFrame:
    """Every configuration of a v3 ``text-to-image.json`` or ``text-to-video.json`` (told apart by its ``task``; a
    file without one is images) as one row (shared schema, ``gross``): ``n_prompts`` the outputs of the measured
    window, ``energy_j`` their energy summed over the job's GPUs, ``time_s`` seconds per output; a video's ``frames``
    and ``fps`` as published. A model the registry does not have keeps its Hugging Face id."""
    path = Path(path)
    from ..core.provenance import note_read

    note_read(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MLEnergyInputError(f"{path}: cannot read ({exc})") from None
    configs = _field(data, "configurations", str(path))
    task = data.get("task", "text-to-image") if isinstance(data, dict) else "text-to-image"
    if task not in V3_TASKS:
        raise MLEnergyInputError(f"{path}: field 'task' is {task!r}; allowed: {', '.join(V3_TASKS)}")
    how = V3_TASKS[task]
    rows = []
    for i, rec in enumerate(configs):
        where = f"{path.name}, configurations[{i}]"
        for name in how["fields"]:
            _field(rec, name, where)
        hf = str(rec["model_id"])
        if hf not in how["cfg"]:
            raise MLEnergyInputError(f"{where}: field 'model_id' is {hf!r}; whether it ran classifier-free guidance is "
                                     f"not known here (known: {', '.join(how['cfg'])})")
        prec = str(rec["weight_precision"])
        if prec not in PRECISIONS:
            raise MLEnergyInputError(f"{where}: field 'weight_precision' is {prec!r}; allowed: {', '.join(PRECISIONS)}")
        family, part = _gpu(str(rec["gpu_model"]), where, "gpu_model")
        batch = _number(rec, "batch_size", where, integer=True)
        steps = _number(rec, "inference_steps", where, integer=True)
        latency = _number(rec, "batch_latency_s", where)
        batches = how["batches"](steps)
        n = batches * batch
        video = dict(frames=_number(rec, "num_frames", where, integer=True), fps=_number(rec, "fps", where)) \
            if how["per"] == "video" else {}
        rows.append(_row(where, model=registry_key(hf), gpu=family, gpu_part=part,
                         height=_number(rec, how["height"], where, integer=True),
                         width=_number(rec, how["width"], where, integer=True), steps=steps,
                         dtype=PRECISIONS[prec], cfg=how["cfg"][hf], n_prompts=n,
                         energy_j=_number(rec, how["energy"], where) * n,
                         source=f"ML.ENERGY v3: {where}", status="ok", meter=METER, duration_s=latency * batches,
                         batch_size=batch, num_gpus=_number(rec, "num_gpus", where, integer=True),
                         ulysses_degree=_degree(rec, "ulysses_degree", where),
                         ring_degree=_degree(rec, "ring_degree", where), time_s=latency / batch, energy_scope="gross",
                         note=f"hf_id={hf}; window of {batches} batches; summed over GPUs; without idle subtraction"
                              + ("; energy and time per video" if video else ""), **video))
    return to_frame(rows)


def read(path: str | Path) -> pd.DataFrame:
    """Either published format: a v2 folder, or a v3 ``text-to-image.json`` or ``text-to-video.json``."""
    path = Path(path)
    if not path.exists():
        raise MLEnergyInputError(f"{path} does not exist (expected a v2 folder or a v3 text-to-image.json or "
                                 "text-to-video.json)")
    if path.is_dir():
        if (path / "text-to-image.json").is_file() and not any(path.glob("**/models.json")):
            return read_v3(path / "text-to-image.json")
        return read_v2(path)
    if path.suffix == ".json":
        return read_v3(path)
    raise MLEnergyInputError(f"{path}: neither a v2 folder (with models.json) nor a v3 text-to-image.json or "
                             "text-to-video.json")


@provenance.cache(maxsize=1)
def _shipped() -> pd.DataFrame:
    return pd.concat([read_v2(V2_DIR), read_v3(V3_FILE)], ignore_index=True)


def shipped() -> pd.DataFrame:
    """The ML.ENERGY rows shipped in ``data/external/`` (v2 and v3), converted at load time."""
    return _shipped().copy()


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Rows per model and GPU part, with the batch sizes, GPU counts, resolution and steps they cover."""
    def joined(s: pd.Series) -> str:
        return ", ".join(str(v) for v in sorted(set(int(x) for x in s)))

    return (df.groupby(["model", "gpu_part"], dropna=False)
            .agg(rows=("energy_j", "size"), batch_sizes=("batch_size", joined), gpus=("num_gpus", joined),
                 resolution=("height", lambda s: f"{s.iloc[0]}²"), steps=("steps", "first")))
