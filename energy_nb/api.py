"""Layer 9, ``api``: the public functions the command line, the book and a user's notebook call.

Each answers one question the way ``energy-nb`` does, and returns an object to read in a notebook
(a readable ``repr``, ``to_dict()`` for JSON, ``to_frame()`` for pandas)::

    import energy_nb
    p = energy_nb.predict("sd2", 768, 768, steps=25, cfg=True, gpu="H100", batch_size=8)
    p.per_image_j, p.interval_wh, p.per_image_gross_j, p.extrapolation
    energy_nb.plan("flux", 1024, 1024, steps=30, cfg=True, images_per_day=1e6, country="FRA", compare=True)
    energy_nb.flops("flux", 1024, 1024, steps=30, cfg=True, convention="counted").total
    energy_nb.fit("paper", models=["flux"]).summary()
    energy_nb.records("laws")        # every energy record the laws fit on, one tidy schema

Bad input raises :class:`energy_nb.core.errors.UserError` (a ``ValueError``) naming the value and what is
allowed. Units: J and Wh (energy), s (time), W (power), FLOPs (a multiply-add counts 2).

May import: the layers before it (``core`` to ``planning``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import laws as _laws
from .compute.flops import Flops
from .core.errors import UserError
from .laws import Law
from .laws.prediction import Prediction
from .models.configuration import Configuration

if TYPE_CHECKING:  # the planner is imported when a plan is asked for: a prediction does not need it
    from .planning.planner import Plan

__all__ = ["Configuration", "Prediction", "Plan", "Flops", "predict", "plan", "flops", "fit", "law", "records",
           "registry", "gpus", "use_model_config", "use_gpu_spec"]


def __getattr__(name: str) -> Any:
    if name == "Plan":
        from .planning.planner import Plan

        return Plan
    raise AttributeError(f"module 'energy_nb.api' has no attribute {name!r}")


def use_model_config(folder: str | Path) -> str:
    """Register a local folder in the Hugging Face layout (``model_index.json`` and each component's
    ``config.json``, no weights) for this process; returns its key (``local:<folder name>``)."""
    from .models.registry import from_directory, register

    return register(from_directory(folder))


def use_gpu_spec(spec: str) -> str:
    """Register a GPU described by its datasheet (``name=X,tflops_bf16=...,bandwidth_tbs=...,power_w=...``;
    optional ``tflops_tf32``, ``tflops_fp32``, ``idle_w``) for this process; returns its name."""
    from .models.hardware import parse_spec, register

    return register(parse_spec(spec)).name


def _law(law: str | Law, law_file: str | Path | None) -> tuple[str | Law, str | None]:
    if law_file is not None:
        return _laws.load(law_file), f"the law saved in {law_file}"
    return law, None


def predict(model: str, height: int, width: int, steps: int, dtype: str = "fp16", cfg: bool = False,
            gpu: str = "A100", batch_size: int = 1, prompts: int = 1, *, law: str | Law = _laws.AUTO,
            law_file: str | Path | None = None, convention: str | None = None,
            gpu_as: dict[str, str] | None = None, n_scaling: str = "linear", level: float = 0.95, num_gpus: int = 1,
            ulysses: int | None = None, ring: int | None = None) -> Prediction:
    """Energy (net and gross), time and caveats of ``prompts`` images of one configuration: what
    ``energy-nb predict`` answers. ``law``: a registry name, ``auto`` (the law that answers for this model and
    GPU, and why) or a fitted law; ``law_file``: a law saved with ``energy-nb fit --out``; ``gpu_as``: predict
    an unseen GPU as another one (``{"L40S": "A100"}``). ``num_gpus``: GPUs each image is split over (xDiT's
    sequence parallelism, ``ulysses`` x ``ring`` = ``num_gpus``; degrees left None: the fastest valid split, said in
    the answer's ``split_reason``); energy is summed over the GPUs, time is batch latency / batch size."""
    from .laws.answer import predict as _predict

    config = Configuration(model, height, width, steps, dtype, cfg, gpu, batch_size, prompts, num_gpus, ulysses, ring)
    chosen, reason = _law(law, law_file)
    return _predict(config, chosen, convention, gpu_as, n_scaling, level, law_reason=reason)


def plan(model: str | None = None, height: int | None = None, width: int | None = None, steps: int | None = None,
         dtype: str = "fp16", cfg: bool = False, gpu: str = "A100", batch_size: int = 1, *,
         images_per_day: float, mix: str | Path | None = None, pue: float = 1.0, country: str | None = None,
         carbon_intensity: float | None = None, price_per_kwh: float | None = None, days_per_year: float = 365.0,
         utilisation: float = 0.5, host_w: float = 0.0, currency: str = "USD", compare: bool = False,
         law: str | Law = _laws.AUTO,
         law_file: str | Path | None = None, convention: str | None = None, gpu_as: dict[str, str] | None = None,
         level: float = 0.95, num_gpus: int = 1, ulysses: int | None = None, ring: int | None = None,
         latency_target: float | None = None, max_gpus: int | None = None) -> Plan:
    """Energy, carbon and cost per image, day and year of a workload (one configuration at
    ``images_per_day``, or a ``mix`` YAML file of configurations with shares), with the law's intervals:
    what ``energy-nb plan`` answers: the fleet's energy (net, + idle while working, + idle of the planned GPUs while
    waiting, + ``host_w`` W per GPU, x ``pue``), costs in ``currency``. ``compare`` ranks cheaper alternatives (one
    configuration only).
    ``latency_target`` (seconds a request waits: the batch latency): the GPU count (up to ``max_gpus``), split and
    batch size that meet it at the least gross energy per image are planned, and ``compare`` lists every choice
    (:mod:`energy_nb.planning.latency`)."""
    from .planning import planner

    if (not isinstance(images_per_day, (int, float)) or isinstance(images_per_day, bool)
            or not 0 <= images_per_day < float("inf")):
        raise UserError(f"images per day {images_per_day!r} is not allowed: a finite number >= 0")
    chosen, _ = _law(law, law_file)
    opts = planner.Options(pue=pue, region=country, carbon_intensity=carbon_intensity, price_per_kwh=price_per_kwh,
                           days_per_year=days_per_year, convention=convention, utilisation=utilisation,
                           host_w=host_w, currency=currency,
                           law=None if isinstance(chosen, str) else chosen,
                           law_name=chosen if isinstance(chosen, str) else _laws.AUTO, gpu_as=dict(gpu_as or {}),
                           level=level).check()
    opts.intensity()  # an unknown country fails here, before any fitting
    if mix is not None:
        workload = planner.load_mix(str(mix), images_per_day, defaults=dict(gpu=gpu))
    else:
        missing = [f"--{k}" for k, v in (("model", model), ("height", height), ("width", width), ("steps", steps))
                   if v is None]
        if missing:
            raise UserError(f"{', '.join(missing)} required (or --mix FILE.yml)")
        base = Configuration(model, height, width, steps, dtype, cfg, gpu, batch_size, 1, num_gpus, ulysses, ring)
        workload = planner.Workload.single(base, images_per_day)
    if max_gpus is not None and latency_target is None:
        raise UserError("--max-gpus bounds the choices of --latency-target: give --latency-target SECONDS too")
    if latency_target is not None:
        from .planning import latency

        if len(workload.mix) != 1:
            raise UserError("--latency-target needs one configuration, not a --mix")
        if not isinstance(chosen, str) or chosen != _laws.AUTO or convention is not None:
            raise UserError("--latency-target is answered by the default law (auto): drop --law, --law-file and "
                            "--convention")
        table = latency.choices(workload.mix[0][0], max_gpus, opts)
        pick = latency.chosen(workload.mix[0][0], latency.best(table, latency_target))
        result = planner.plan(planner.Workload.single(pick, images_per_day), opts)
        return replace(result, latency=table if compare else None, latency_target=float(latency_target))
    result = planner.plan(workload, opts)
    if compare:
        from .planning.alternatives import compare as alternatives

        if len(workload.mix) != 1:
            raise UserError("--compare needs one configuration, not a --mix")
        result = replace(result, compare=alternatives(workload.mix[0][0], images_per_day, opts))
    return result


def flops(model: str, height: int, width: int, steps: int = 1, cfg: bool = False,
          convention: str | None = None) -> Flops:
    """FLOPs of one prompt (text encoding, ``steps`` denoising steps, decoding; CFG doubles denoising):
    ``convention`` ``paper`` (the printed formulas), ``bidirectional`` or ``counted`` (on the real modules);
    default: the paper's formulas for its four models, counted FLOPs for the others."""
    from .compute.flops import generation_flops

    return generation_flops(model, height, width, steps, cfg, convention)


def fit(law: str = "paper", data: Sequence[str | Path] | pd.DataFrame | None = None,
        models: Sequence[str] | None = None, gpus: Sequence[str] | None = None,
        convention: str | None = None, out: str | Path | None = None, eq3: bool = False) -> Law:
    """A law fitted on ``data`` (CSV paths in the record schema, a frame, or None: the records the shipped laws are
    fitted on, :func:`records` ``("laws")``), its rows of ``models`` and ``gpus``; saved to ``out`` when given (what
    ``energy-nb fit`` does). The paper's law is fitted per image with its GPU and batch terms, the form ``predict``
    answers with (``eq3``: Eq. 3 as printed, energy of N prompts against N x FLOPs); on the shipped data and one
    model it is the law the laws artifact holds for that model (``paper (flux)``). Read it as a statsmodels result:
    ``.params``, ``.conf_int()``, ``.resid``, ``.fittedvalues``, ``.summary()``,
    ``.predict_one(Configuration(...))``."""
    from .data.schema import ok_rows, read_many
    from .data.shipped import law_data
    from .models.registry import resolve

    source = "a data frame" if isinstance(data, pd.DataFrame) else [str(p) for p in data] if data else "shipped data"
    if isinstance(data, pd.DataFrame):
        every = data
    else:
        every = read_many([str(p) for p in data]) if data else None
    df = ok_rows(every) if every is not None else law_data()
    if df.empty:
        status = every["status"].fillna("ok") if "status" in every else pd.Series("ok", index=every.index)
        kinds = ", ".join(f"{n} {s}" for s, n in status.str.split(":").str[0].value_counts().items())
        example = f"; e.g. {status.iloc[0]!r}" if len(status) else ""
        where = source if isinstance(source, str) else ", ".join(source)
        raise UserError(f"no ok rows to fit the law on in {where}: {len(every)} rows ({kinds}{example})")
    models = [resolve(m, flag="--models") for m in models] if models else None
    ok = df
    if models:
        df = df[df["model"].isin(models)]
    if gpus:
        df = df[df["gpu"].isin(list(gpus))]
    if df.empty:
        asked = " ".join(([f"--models {' '.join(models)}"] if models else [])
                         + ([f"--gpus {' '.join(gpus)}"] if gpus else []))
        raise UserError(f"no ok rows left after {asked}: the ok rows are of models "
                        f"{', '.join(sorted(ok['model'].unique()))} on GPUs {', '.join(sorted(ok['gpu'].unique()))}")
    options: dict = {"per_image": True} if law == "paper" and not eq3 else {}
    if law == "ops" and models and len(df) < len(ok):  # refined from the other models' rows, as the own laws are
        from .evaluation.selection import candidates_for

        options["prior"] = dict(next(c for c in candidates_for("own", df, ok) if c.law == "ops").prior)
    fitted = _laws.fit(law, df, convention=convention,
                       provenance=dict(data_files=source, models=models, gpus=list(gpus) if gpus else None),
                       **options)
    if models and len(models) == 1:
        fitted.name = f"{law} ({models[0]})"
    if out is not None:
        fitted.save(out)
    return fitted


def law(name: str = _laws.AUTO, model: str | None = None, gpu: str | None = None) -> Law:
    """The law ``predict`` uses, from the laws artifact: ``name`` as asked, or ``auto`` for ``model`` on ``gpu``
    (with its held-out interval; see :func:`energy_nb.laws.answer.answer`)."""
    from .laws.answer import answer

    return answer(name, model, gpu)[0]


#: What :func:`records` can return.
RECORD_SETS = ("laws", "paper", "mlenergy", "shipped", "measured")


def records(which: str = "laws") -> pd.DataFrame:
    """Energy records in the one tidy schema: ``laws`` (everything the laws fit on: the paper's tables, our
    full-size GPU measurements, ML.ENERGY made net of idle power; with ``dataset``), ``paper`` (the paper's
    A100 tables), ``mlenergy`` (ML.ENERGY's rows, gross, as published), ``shipped`` (the paper's tables and
    our GPU measurements) or ``measured`` (every row of ``data/measurements``, any status, with ``file``)."""
    from .data import measurements, paper, shipped

    if which == "laws":
        return shipped.law_data()
    if which == "paper":
        return paper.a100_energy()
    if which == "mlenergy":
        return shipped.mlenergy_rows()
    if which == "shipped":
        return shipped.shipped_data()
    if which == "measured":
        return measurements.measurements(measurements.measurement_files())
    raise UserError(f"unknown record set {which!r}; allowed: {', '.join(RECORD_SETS)}")


def registry() -> pd.DataFrame:
    """The model registry (``data/models``): key, name, display label and colour, pipeline, whether it is one
    of the paper's models, Hugging Face ids, denoiser class, resolution multiple, defaults, source file."""
    from .models.registry import REGISTRY

    return pd.DataFrame([dict(key=k, name=s.name, label=s.label, colour=s.colour, pipeline=s.pipeline,
                              paper=s.paper, hf_ids=list(s.hf_ids), denoiser=s.component("denoiser").cls,
                              multiple=s.multiple, defaults=s.defaults, origin=s.origin)
                         for k, s in REGISTRY.items()])


def gpus() -> pd.DataFrame:
    """The GPU datasheet table (``data/gpus.csv``): peaks (TFLOP/s), bandwidth (GB/s), power limit and idle
    power (W), sources."""
    from .models.hardware import table

    return table().copy()
