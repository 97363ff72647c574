"""Our own measurement files (Sec. 4): which files, their rows, provenance, coverage and meters side by side.

Pure functions over frames in the record schema (:mod:`energy_nb.data.schema`); every row is kept
whatever its status, with a ``file`` column. Units: J, W, s; GFLOPs per image.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.flops import scaling_flops
from ..core import paths
from ..core.frames import rows as frame_rows
from ..core.provenance import sha256
from .schema import ok_rows, read_energy_csv


def measurement_files(pattern: str | None = None) -> list[Path]:
    """Measurement CSVs: ``pattern`` (glob relative to the repository root) or ``data/measurements/*.csv``."""
    pattern = pattern or "data/measurements/*.csv"
    return sorted(p for p in paths.ROOT.glob(pattern) if p.is_file())


def measurements(files: Sequence[Path | str]) -> pd.DataFrame:
    """Every row (any status) of the given measurement files, validated, with a ``file`` column."""
    frames = []
    for f in files:
        df = read_energy_csv(f)
        p = Path(f).resolve()
        df.insert(0, "file", p.relative_to(paths.ROOT).as_posix() if p.is_relative_to(paths.ROOT) else str(p))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def measurement_provenance(df: pd.DataFrame) -> pd.DataFrame:
    """Per file: rows by status, meters, devices, sizes, GPUs, versions, first/last timestamp, sha256."""
    rows = []
    for f, part in df.groupby("file", sort=True):
        status = part["status"].astype(str).str.split(":").str[0]
        path = paths.ROOT / f if not str(f).startswith("/") else f
        rows.append(dict(file=f, rows=len(part), ok=int((status == "ok").sum()), oom=int((status == "oom").sum()),
                         error=int((status == "error").sum()),
                         meters=", ".join(sorted(part["meter"].dropna().astype(str).unique())),
                         device=", ".join(sorted(part["device"].dropna().astype(str).unique())),
                         size=", ".join(sorted(part["size"].dropna().astype(str).unique())),
                         gpu_name=", ".join(sorted(part["gpu_name"].dropna().astype(str).unique())),
                         versions=", ".join(sorted({f"torch {t}, diffusers {d}" for t, d in
                                                    zip(part["torch_version"], part["diffusers_version"])})),
                         measured=f"{part['timestamp'].min()} .. {part['timestamp'].max()}",
                         sha256=sha256(path)))
    return pd.DataFrame(rows)


def coverage(df: pd.DataFrame) -> pd.DataFrame:
    """ok configurations per (gpu, size, meter, model) x resolution: how much of the grid is measured."""
    ok = ok_rows(df)
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(resolution=ok["height"].astype(str) + "x" + ok["width"].astype(str))
    return ok.pivot_table(index=["gpu", "size", "meter", "model"], columns="resolution", values="energy_j",
                          aggfunc="count", fill_value=0)


METER_KEY = ["file", "model", "gpu", "height", "width", "steps", "dtype", "cfg", "n_prompts", "size", "device",
             "weights", "seed"]


def meter_pairs(df: pd.DataFrame, a: str = "codecarbon", b: str = "nvml") -> pd.DataFrame:
    """Configurations measured by both meters in the same window: net energies side by side and a / b."""
    ok = ok_rows(df)
    left = ok[ok["meter"] == a][METER_KEY + ["energy_j", "energy_raw_j", "duration_s"]]
    right = ok[ok["meter"] == b][METER_KEY + ["energy_j", "energy_raw_j"]]
    pairs = left.merge(right, on=METER_KEY, suffixes=(f"_{a}", f"_{b}"))
    pairs["ratio"] = pairs[f"energy_j_{a}"] / pairs[f"energy_j_{b}"]
    return pairs


def meters_side_by_side(df: pd.DataFrame, reference: str = "nvml") -> pd.DataFrame:
    """One row per window read by several meters: per-image net energy (J) and idle power (W) of each
    meter, and each meter's net and raw energy relative to ``reference`` (%, 0 = the same reading)."""
    ok = ok_rows(df)
    key = [c for c in METER_KEY if c != "file"]
    meters = [m for m in ("zeus", "nvml", "codecarbon") if m in set(ok["meter"])] + sorted(
        set(ok["meter"].astype(str)) - {"zeus", "nvml", "codecarbon"})
    wide = ok.assign(per_image_j=ok["energy_j"] / ok["n_prompts"], raw_per_image_j=ok["energy_raw_j"] / ok["n_prompts"]
                     ).pivot_table(index=key, columns="meter", values=["per_image_j", "raw_per_image_j", "idle_w"])
    out = pd.DataFrame(index=wide.index)
    for m in meters:
        out[f"{m}_j"] = wide[("per_image_j", m)]
    for m in meters:
        out[f"{m}_idle_w"] = wide[("idle_w", m)]
    if reference in meters:
        for m in meters:
            if m == reference:
                continue
            raw = wide[("raw_per_image_j", m)] / wide[("raw_per_image_j", reference)]
            out[f"{m}_vs_{reference}_raw_pct"] = 100 * (raw - 1)
            out[f"{m}_vs_{reference}_net_pct"] = 100 * (out[f"{m}_j"] / out[f"{reference}_j"] - 1)
    return out.dropna(how="any").reset_index()


def per_image(df: pd.DataFrame, convention: str = "paper") -> pd.DataFrame:
    """ok rows with per-image energy (J) and per-image denoising GFLOPs (``T x FLOPs_denoise x 2^cfg``, the
    paper's regressor for one image; counted FLOPs of the architecture run for tiny replicas) for plotting."""
    ok = ok_rows(df)
    if ok.empty:
        return ok.assign(per_image_j=[], gflops_per_image=[])
    sizes = ok["size"].astype(object).where(ok["size"].notna(), "full")
    gflops = [scaling_flops(str(r.model), int(r.height), int(r.width), int(r.steps), int(r.cfg), 1, convention, str(sz))
              / 1e9 for r, sz in zip(frame_rows(ok, ("model", "height", "width", "steps", "cfg")), sizes)]
    return ok.assign(per_image_j=ok["energy_j"] / ok["n_prompts"], gflops_per_image=np.asarray(gflops, dtype=float))
