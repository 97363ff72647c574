"""The answer for a configuration split over several GPUs per image (:func:`on_several_gpus`): the parallel law
(:mod:`energy_nb.laws.parallel`) on top of the single-GPU ``ops`` law of the model and GPU, read from the laws
artifact, with intervals from its held-out errors; what ``predict`` and ``plan`` call when ``num_gpus > 1``. Nothing
here fits. Units: J, s, W.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..compute import parallel as splits
from ..models.configuration import Configuration, frame
from .artifact import current
from .conformal import conformal_q


@dataclass(frozen=True)
class SplitAnswer:
    """One configuration on several GPUs per image (:func:`on_several_gpus`): per image, net energy summed over the
    GPUs (J), time (s), both with intervals, the idle power of all the GPUs (W) and the gross energy (J); the split
    it was answered at (``configuration``: degrees set), why that split, the law, how the interval was obtained and
    every way the answer extrapolates."""

    configuration: Configuration
    split_reason: str
    law: str
    law_reason: str
    reference_prompts: int
    per_image_j: float
    per_image_j_low: float
    per_image_j_high: float
    per_image_s: float
    per_image_s_low: float
    per_image_s_high: float
    idle_w: float
    per_image_gross_j: float
    interval_kind: str
    extrapolation: tuple[str, ...]
    time_extrapolation: tuple[str, ...]
    #: every valid split with its time and net energy per image (s, J), fastest first
    splits: tuple[tuple[int, int, float, float], ...] = ()


def on_several_gpus(config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> SplitAnswer:
    """``config`` with each image split over ``config.num_gpus`` GPUs, answered by the parallel law on top of the
    single-GPU ``ops`` law of the model and GPU (:meth:`~energy_nb.laws.artifact.Artifact.parallel_base`). Degrees
    left open are chosen: the fastest valid split by the law. Impossible splits are refused
    (:func:`energy_nb.compute.parallel.check`)."""
    gpu = config.gpu or "H100"
    mapped = (gpu_as or {}).get(gpu, gpu)
    valid = splits.check(config.model, config.height, config.width, config.num_gpus, config.ulysses, config.ring,
                         mapped)
    art = current()
    law, entry = art.parallel()
    key, why = art.parallel_base(config.model, gpu, gpu_as)
    base = art.law(key)
    cands = [config.replace(gpu=gpu, ulysses=s.ulysses, ring=s.ring) for s in valid]
    v = law.evaluate(base, frame(cands), gpu_as)
    order = np.argsort(v["time"], kind="stable")
    i = int(order[0])
    chosen = cands[i]
    table = tuple((cands[j].ulysses, cands[j].ring, float(v["time"][j]), float(v["energy"][j])) for j in order)
    if config.ulysses is not None:
        split_reason = "as asked"
    else:
        others = ", ".join(f"Ulysses {u} x Ring {r} {t:.2f} s" for u, r, t, _ in table[1:])
        split_reason = "the fastest valid split by the law" + (f"; the others: {others}" if others else
                                                                "; the only valid one")
    q = conformal_q(entry["interval"]["errors"], level)
    qt = conformal_q(entry["interval"]["time_errors"], level)
    e, t = float(v["energy"][i]), float(v["time"][i])
    idle = float(v["idle"][i]) * config.num_gpus
    single = chosen.replace(num_gpus=1, ulysses=None, ring=None)
    notes = law.extrapolation(config.num_gpus, chosen.ulysses, chosen.ring, config.batch_size, mapped, config.model)
    return SplitAnswer(configuration=chosen, split_reason=split_reason, law=f"{law.name} on {base.name}",
                       law_reason=f"{config.num_gpus} GPUs per image: the parallel law ({law.n_obs} rows on several "
                                  f"GPUs) on the single-GPU law {base.name!r} ({why})",
                       reference_prompts=int(base.reference_prompts), per_image_j=e, per_image_j_low=e * math.exp(-q),
                       per_image_j_high=e * math.exp(q), per_image_s=t, per_image_s_low=t * math.exp(-qt),
                       per_image_s_high=t * math.exp(qt), idle_w=idle,
                       per_image_gross_j=float(v["gross"][i]), interval_kind=entry["interval"]["how"],
                       extrapolation=tuple(base.extrapolation(single, gpu_as=gpu_as)) + tuple(notes),
                       time_extrapolation=tuple(base.time_extrapolation(single, gpu_as)), splits=table)
