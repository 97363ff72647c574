"""What a question is answered with: the law (a named law as asked, the law the laws artifact routes a model and GPU
to, or a GPU the user calibrated), the law ``name`` as the shipped data fit it, and the time and gross energy of a
configuration (:func:`time_and_gross`). What ``predict``, ``plan``, the calculator and the book call; nothing here
fits.
"""
from __future__ import annotations

from ..core.errors import UserError
from ..data.power import gross_j
from ..models.configuration import Configuration
from ..models.hardware import idle_power_or_estimate
from .artifact import current
from .calibrated import CalibratedLaw, calibrated
from .registry import AUTO, Law
from .timing import TimeAnswer


def answer(name: str = AUTO, model: str | None = None, gpu: str | None = None, convention: str | None = None,
           gpu_as: dict[str, str] | None = None) -> tuple[Law, str]:
    """The law that answers for ``model`` on ``gpu``, and why it is that one: a named law as asked; ``auto`` as
    :meth:`Artifact.answer` routes it; a GPU calibrated by the user (``energy-nb calibrate``) through its base
    GPU's law times the stored factor."""
    if gpu is not None:
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
    of idle power: hence its GPU and batch terms). The shared laws (physical and transfer) are fitted on all of it:
    every model, both GPUs and ML.ENERGY's batches. ``convention``: only the one the artifact holds (the law's default);
    another is fitted on request with ``energy-nb fit --convention ... --out FILE`` (``--law-file FILE``)."""
    return current().named(name, model, convention)


def time_and_gross(config: Configuration, prediction, law: Law, level: float = 0.95,
                   gpu_as: dict[str, str] | None = None, idle_gpu: str | None = None) -> TimeAnswer:
    """Time per image (with interval), idle power (of ``idle_gpu``, default the configuration's) and gross energy of
    ``config``, whose ``prediction`` (a :class:`~energy_nb.laws.base.LawPrediction`) ``law`` made: from the same law
    when it models time; an energy-only law takes its time from the law ``auto`` answers with for the model and GPU,
    and says so."""
    notes: list[str] = []
    timed, p = law, prediction
    if prediction.per_image_s is None:
        timed, _ = answer(AUTO, config.model, config.gpu, gpu_as=gpu_as)
        p = timed.per_image(config, level, gpu_as)
        notes.append(f"time from {timed.name!r}, the law auto answers with: law {law.name!r} models energy only")
    idle, how = idle_power_or_estimate(idle_gpu or config.gpu)
    notes += list(timed.time_extrapolation(config, gpu_as)) + ([how] if how else [])
    return TimeAnswer(per_image_s=p.per_image_s, per_image_s_low=p.per_image_s_low, per_image_s_high=p.per_image_s_high,
                      idle_w=idle, per_image_gross_j=float(gross_j(prediction.per_image_j, idle, p.per_image_s)),
                      law=timed.name, notes=tuple(notes))
