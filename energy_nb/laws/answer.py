"""What a question is answered with, and the answer: the law (a named law as asked, the law the laws artifact routes a
model and GPU to, or a GPU the user calibrated), the law ``name`` as the shipped data fit it, and :func:`predict`, the
one :class:`~energy_nb.laws.prediction.Prediction` of a configuration that ``predict``, ``plan``, the calculator and
the book give. Nothing here fits.

Time and gross energy come from the same law as the energy: the laws artifact only lets a law that models time answer
``auto``; a law named by the user that models energy only (the paper's, the baselines) takes its time from the law
``auto`` answers with for the same model and GPU, and the answer says so. Gross energy per image = net + idle power x
time (:func:`energy_nb.data.power.gross_j`, the footing the ML.ENERGY records were made net on). A configuration split
over several GPUs per image is the parallel law's (:mod:`.split`). Units: J, s, W.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..core.errors import UserError
from ..core.stats import check_level
from ..data.power import gross_j
from ..models.configuration import Configuration
from ..models.hardware import idle_power_or_estimate, idle_source
from .artifact import current
from .calibrated import CalibratedLaw, calibrated
from .prediction import Prediction
from .registry import AUTO, Law


def answer(name: str = AUTO, model: str | None = None, gpu: str | None = None, convention: str | None = None,
           gpu_as: dict[str, str] | None = None) -> tuple[Law, str]:
    """The law that answers for ``model`` on ``gpu``, and why it is that one: a named law as asked; ``auto`` as
    :meth:`Artifact.answer` routes it; a GPU calibrated by the user (``energy-nb calibrate``) through its base
    GPU's law scaled by the stored factors."""
    if gpu is not None:
        gpu = current().gpu_with_data(gpu)[0]
        cal = calibrated(gpu)
        if cal is not None:  # a GPU known by a few measured rows (energy-nb calibrate)
            law, why = answer(name, model, cal.base, convention, gpu_as)
            return CalibratedLaw(law, cal), f"{cal.describe()}; on {cal.base}: {why}"
    art = current()
    if name != AUTO:
        return art.named(name, model, convention), f"law {name!r} as asked"
    if model is None:
        law = art.law(art.shared_name)
        return law, f"the shared law {art.shared_name!r}"
    from ..models.registry import get_model

    if convention is not None:
        raise UserError(f"--convention {convention} needs a named law (--law paper, ...): the law auto answers "
                        "with uses the convention it was chosen in")
    return art.answer(get_model(model).key, gpu, gpu_as)


def get(name: str = "paper", model: str | None = None, convention: str | None = None) -> Law:
    """The law ``name`` fitted on the shipped data, as the laws artifact holds it (nothing is fitted here).
    ``paper`` needs ``model``: one law per model, in its per-image form, on that model's rows of
    :func:`energy_nb.data.shipped.law_data` (the paper's tables, our GPU measurements and ML.ENERGY's rows made net
    of idle power: hence its GPU and batch terms). The shared laws are fitted on all of it: every model, both GPUs and
    ML.ENERGY's batches. ``convention``: only the one the artifact holds (the law's default); another is fitted on
    request with ``energy-nb fit --convention ... --out FILE`` (``--law-file FILE``)."""
    return current().named(name, model, convention)


def predict(config: Configuration, law: Law | str = AUTO, convention: str | None = None,
            gpu_as: dict[str, str] | None = None, n_scaling: str = "linear", level: float = 0.95,
            law_reason: str | None = None) -> Prediction:
    """The prediction for ``config``: by ``law`` (a fitted law, or a registry name; ``auto``: the law
    :func:`answer` routes the model and GPU to, and why), with ``level`` intervals; time and gross energy for every
    model and GPU from the same law (see the module docstring); on several GPUs per image, the parallel law's."""
    check_level(level)
    config, notes = ready(config)
    if config.num_gpus > 1:
        p = _several(config, law, convention, n_scaling, level, gpu_as)
        return replace(p, notes=tuple(notes), idle_source=idle_source(config.gpu) if config.gpu else "")
    if isinstance(law, str):
        fitted, why = answer(law, config.model, config.gpu, convention, gpu_as)
    else:
        fitted, why = law, law_reason or f"the law {law.name!r} given"
    p = fitted.predict_one(config, level=level, gpu_as=gpu_as, n_scaling=n_scaling)
    config = p.configuration
    times: list[str] = []
    timed, t = fitted, p
    if p.per_image_s is None:
        timed, _ = answer(AUTO, config.model, config.gpu, gpu_as=gpu_as)
        t = timed.per_image(config, level, gpu_as)
        times.append(f"time from {timed.name!r}, the law auto answers with: law {fitted.name!r} models energy only")
    idle, how = idle_power_or_estimate(fitted.time_gpu or config.gpu)
    times = ([f"idle power of {fitted.time_gpu}, the calibration's base"] if fitted.time_gpu else []) + times
    times += list(timed.time_extrapolation(config, gpu_as)) + ([how] if how else [])
    gross = float(gross_j(p.per_image_j, idle, t.per_image_s))
    qg = timed.gross_half_width(level, config) if hasattr(timed, "gross_half_width") else None
    return replace(p, law_reason=why, per_image_s=t.per_image_s, per_image_s_low=t.per_image_s_low,
                   per_image_s_high=t.per_image_s_high, idle_w=idle, per_image_gross_j=gross,
                   per_image_gross_j_low=gross * math.exp(-qg) if qg is not None else None,
                   per_image_gross_j_high=gross * math.exp(qg) if qg is not None else None, time_extrapolation=times,
                   time_law=timed.name, notes=tuple(notes), idle_source=idle_source(fitted.time_gpu or config.gpu))


def ready(config: Configuration) -> tuple[Configuration, list[str]]:
    """``config`` as the laws answer it, and what the answer must say about it: a GPU part its family's rows were
    measured on is the family; a configuration its GPU cannot run is refused (:func:`energy_nb.compute.memory.check`);
    CFG on a model whose default runs without it is true CFG, a second pass per step."""
    from ..compute.memory import check
    from ..models.registry import get_model

    notes = []
    check(config)  # on the GPU as asked: a part is judged on its own memory, a family on its largest part's
    gpu, note = current().gpu_with_data(config.gpu)
    if gpu != config.gpu:
        config = config.replace(gpu=gpu)
        notes.append(note)
    spec = get_model(config.model)
    if config.cfg and not spec.default_cfg:
        notes.append(f"CFG on {spec.name} is true CFG, {spec.true_cfg}: twice the denoiser's work per step, as in "
                     f"the paper's rows; its default (guidance {spec.defaults.get('guidance', 1.0):g}) runs one pass, "
                     "as ML.ENERGY ran it")
    return config, notes


def _several(config: Configuration, law: Law | str, convention: str | None, n_scaling: str, level: float,
             gpu_as: dict[str, str] | None) -> Prediction:
    """The prediction of ``config`` split over several GPUs per image (:func:`energy_nb.laws.split.on_several_gpus`)."""
    from .split import on_several_gpus

    if not (isinstance(law, str) and law == AUTO) or convention is not None or n_scaling != "linear":
        what = f"--law {law if isinstance(law, str) else law.name}" if not (isinstance(law, str) and law == AUTO) \
            else (f"--convention {convention}" if convention is not None else f"--n-scaling {n_scaling}")
        raise UserError(f"{what} with --num-gpus {config.num_gpus}: several GPUs per image are answered by the "
                        "parallel law on the single-GPU ops law only; allowed: the default law (auto), linear "
                        "n-scaling, no convention")
    if config.gpu is not None and calibrated(config.gpu) is not None:
        raise UserError(f"GPU {config.gpu!r} is known by a calibration (energy-nb calibrate), which answers one GPU "
                        "per image only; allowed: --num-gpus 1, or a GPU of data/gpus.csv")
    return on_several_gpus(config, level, gpu_as)
