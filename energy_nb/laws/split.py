"""The answer for a configuration split over several GPUs per image (:func:`on_several_gpus`): the parallel law
(:mod:`energy_nb.laws.parallel`) on top of the single-GPU ``ops`` law of the model and GPU, read from the laws
artifact, with intervals composed by level (the single GPU's levels and the split's:
:meth:`~energy_nb.laws.artifact.Artifact.composite`); what ``predict`` and ``plan`` call when ``num_gpus > 1``. The
answer is a :class:`~energy_nb.laws.prediction.Prediction`: per image, net energy summed over the GPUs (J), time (s),
both with intervals, the idle power of all the GPUs (W) and the gross energy (J); the split it was answered at, why
that split, and every valid split with its time and energy. Nothing here fits. Units: J, s, W.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..compute import parallel as splits
from ..models.configuration import Configuration, frame
from .artifact import current
from .levels import distance
from .prediction import Prediction


def answers(configs: list[Configuration], level: float = 0.95, gpu_as: dict[str, str] | None = None
            ) -> list[Prediction]:
    """Each of ``configs`` (on several GPUs, its split given and valid) answered as asked, in one evaluation of the
    law per single-GPU law: what :func:`on_several_gpus` and the planner's choices call, so they agree."""
    art = current()
    law, entry = art.parallel()
    bases = [art.parallel_base(c.model, c.gpu or "H100", gpu_as) for c in configs]
    comps = {}
    for c in configs:
        g = (gpu_as or {}).get(c.gpu or "H100", c.gpu or "H100")
        if (c.model, g) not in comps:
            comps[c.model, g] = art.composite(c.model, g, art.route(c.model, g)[1], c.num_gpus)
    out: list[Prediction | None] = [None] * len(configs)
    for key in dict.fromkeys(k for k, _ in bases):
        idx = [i for i, (k, _) in enumerate(bases) if k == key]
        base = art.law(key)
        v = law.evaluate(base, frame([configs[i] for i in idx]), gpu_as)
        for j, i in enumerate(idx):
            c = configs[i]
            mapped = (gpu_as or {}).get(c.gpu or "H100", c.gpu or "H100")
            e, t = float(v["energy"][j]), float(v["time"][j])
            single = c.replace(num_gpus=1, ulysses=None, ring=None)
            notes = law.extrapolation(c.num_gpus, c.ulysses, c.ring, c.batch_size, mapped, c.model)
            n = c.prompts
            comp = comps[c.model, mapped]
            far = distance(base.domain, mapped, c.height, c.width, c.steps, c.batch_size)
            q, qt, qg = (comp.half_width(k, level, far) or 0.0 for k in ("net", "time", "gross"))
            lo, hi = e * math.exp(-q), e * math.exp(q)
            gross = float(v["gross"][j])
            out[i] = Prediction(
                configuration=c, law=f"{law.name} on {base.name}", kind="parallel", convention="counted",
                n_scaling="linear", reference_prompts=int(base.reference_prompts), interval=level, per_image_j=e,
                per_image_j_low=lo, per_image_j_high=hi, total_j=e * n, total_j_low=lo * n, total_j_high=hi * n,
                extrapolation=list(base.extrapolation(single, gpu_as=gpu_as)) + list(notes),
                law_reason=f"{c.num_gpus} GPUs per image: the parallel law ({law.n_obs} rows on several GPUs) on the "
                           f"single-GPU law {base.name!r} ({bases[i][1]})",
                per_image_s=t, per_image_s_low=t * math.exp(-qt), per_image_s_high=t * math.exp(qt),
                per_image_gross_j=gross, per_image_gross_j_low=gross * math.exp(-qg),
                per_image_gross_j_high=gross * math.exp(qg), idle_w=float(v["idle"][j]) * c.num_gpus,
                time_extrapolation=list(base.time_extrapolation(single, gpu_as)), interval_kind=comp.kind(far),
                time_law=f"{law.name} on {base.name}", split_reason="as asked")
    return out  # type: ignore[return-value]


def on_several_gpus(config: Configuration, level: float = 0.95, gpu_as: dict[str, str] | None = None) -> Prediction:
    """``config`` with each image split over ``config.num_gpus`` GPUs, answered by the parallel law on top of the
    single-GPU ``ops`` law of the model and GPU (:meth:`~energy_nb.laws.artifact.Artifact.parallel_base`). Degrees
    left open are chosen: the fastest valid split by the law. Impossible splits are refused
    (:func:`energy_nb.compute.parallel.check`)."""
    gpu = config.gpu or "H100"
    valid = splits.check(config.model, config.height, config.width, config.num_gpus, config.ulysses, config.ring,
                         (gpu_as or {}).get(gpu, gpu))
    cands = answers([config.replace(gpu=gpu, ulysses=s.ulysses, ring=s.ring) for s in valid], level, gpu_as)
    order = np.argsort([a.per_image_s for a in cands], kind="stable")
    table = tuple((cands[j].configuration.ulysses, cands[j].configuration.ring, cands[j].per_image_s,
                   cands[j].per_image_j) for j in order)
    if config.ulysses is not None:
        reason = "as asked"
    else:
        others = ", ".join(f"Ulysses {u} x Ring {r} {t:.2f} s" for u, r, t, _ in table[1:])
        reason = "the fastest valid split by the law" + (f"; the others: {others}" if others else
                                                          "; the only valid one")
    return replace(cands[int(order[0])], split_reason=reason, splits=table)
