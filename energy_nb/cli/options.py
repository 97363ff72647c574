"""What the command's parsers share: argument types, parent parsers of option groups, and turning options
into a :class:`~energy_nb.models.configuration.Configuration`.

``predict`` and ``plan`` take the same configuration, GPU and law options from :func:`configuration_parent`,
:func:`gpu_parent` and :func:`law_parent`; bad values are refused by argparse (one line, exit 2) or by the
package (:class:`~energy_nb.core.errors.UserError`, one line, exit 2).
"""
from __future__ import annotations

import argparse
from typing import Any

from ..compute.flops import CONVENTIONS
from ..core.errors import UserError
from ..core.jsonio import to_json


def positive_int(s: str) -> int:
    """An integer >= 1 (``1e3`` is read as 1000)."""
    try:
        v = int(float(s))
        if v < 1 or float(s) != v:
            raise ValueError
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{s!r} is not allowed: an integer >= 1") from None
    return v


def _number(s: str, ok, allowed: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"{s!r} is not allowed: {allowed}")
    return v


def nonnegative(s: str) -> float:
    """A finite number >= 0."""
    return _number(s, lambda v: 0 <= v < float("inf"), "a finite number >= 0")


def fraction(s: str) -> float:
    """A number in (0, 1]."""
    return _number(s, lambda v: 0 < v <= 1, "a fraction in (0, 1], e.g. 0.5")


def at_least_one(s: str) -> float:
    """A finite number >= 1 (PUE)."""
    return _number(s, lambda v: 1 <= v < float("inf"), "a finite number >= 1 (1.0: no facility overhead)")


def days(s: str) -> float:
    """Days per year: a number in (0, 366]."""
    return _number(s, lambda v: 0 < v <= 366, "a number of days in (0, 366]")


def seconds(s: str) -> float:
    """A finite number of seconds > 0."""
    return _number(s, lambda v: 0 < v < float("inf"), "a finite number of seconds > 0")


def level(s: str) -> float:
    """A probability in (0, 1): the level of every interval."""
    return _number(s, lambda v: 0 < v < 1, "a probability in (0, 1), e.g. 0.95")


def print_json(obj: Any) -> None:
    """Strict JSON for jq and browsers: NaN and infinities are written as null."""
    print(to_json(obj))


def model_args(p: argparse.ArgumentParser) -> None:
    """--model KEY_OR_HF_ID and --model-config DIR (read by :func:`resolve_model`)."""
    p.add_argument("--model", help="a registry key (energy-nb models) or a Hugging Face id it answers to, "
                                    "e.g. sdxl or PixArt-alpha/PixArt-Sigma-XL-2-1024-MS")
    p.add_argument("--model-config", metavar="DIR",
                   help="a local folder in the Hugging Face layout (model_index.json, <component>/config.json; "
                        "no weights)")


def configuration_parent(required: bool) -> argparse.ArgumentParser:
    """The configuration: model, resolution, steps, precision, CFG, batch size (``required``: height, width
    and steps must be given)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("the configuration")
    model_args(g)
    g.add_argument("--height", required=required, type=int, help="pixels")
    g.add_argument("--width", required=required, type=int, help="pixels")
    g.add_argument("--steps", required=required, type=positive_int, help="denoising steps")
    g.add_argument("--dtype", default="fp16", help="fp16 (default), bf16 or fp32")
    g.add_argument("--cfg", action="store_true", help="classifier-free guidance on")
    g.add_argument("--batch-size", type=positive_int, default=1, help="images per pipeline call (default 1)")
    return p


def split_parent() -> argparse.ArgumentParser:
    """Several GPUs per image: --num-gpus, --ulysses, --ring (xDiT's sequence parallelism)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("several GPUs per image (xDiT sequence parallelism)")
    g.add_argument("--num-gpus", type=positive_int, default=1,
                   help="GPUs each image is split over (default 1); energy is summed over them")
    g.add_argument("--ulysses", type=positive_int, help="Ulysses degree (divides the head count; default: the "
                                                        "fastest valid split, said in the answer)")
    g.add_argument("--ring", type=positive_int, help="Ring degree (--ulysses x --ring = --num-gpus)")
    return p


def gpu_parent() -> argparse.ArgumentParser:
    """The GPU: a name of data/gpus.csv, a datasheet given on the command line, or one to stand in for it."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("the GPU")
    g.add_argument("--gpu", help="a GPU family or part of data/gpus.csv (default A100; `energy-nb gpus` lists them)")
    g.add_argument("--gpu-spec", help="describe a GPU by its datasheet: name=X,tflops_bf16=...,bandwidth_tbs=...,"
                                      "power_w=... (optional tflops_tf32, tflops_fp32, idle_w)")
    g.add_argument("--treat-gpu-as", help="predict an unseen GPU as this one (e.g. A100)")
    return p


def law_parent(auto: bool = True) -> argparse.ArgumentParser:
    """The law that answers: a registry name (``auto`` by default) or a saved law, and its FLOPs convention."""
    from ..laws import AUTO, LAW_NAMES

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("the law")
    g.add_argument("--law", choices=(AUTO, *LAW_NAMES), default=AUTO,
                   help="which law answers, from the laws artifact (auto, the default: the law chosen by 5-fold "
                        "cross-validation on the model's own rows where they hold the GPU, else the shared law chosen "
                        "by leave-one-model-out, else the datasheet law chosen by leave-one-GPU-out for a GPU "
                        "without data; a name: that law fitted on the shipped data)")
    g.add_argument("--law-file", help="a law saved with `energy-nb fit --out` (overrides --law)")
    g.add_argument("--convention", choices=CONVENTIONS, help="FLOPs convention of a named law (the shipped ones: "
                                                             "the paper's formulas for the paper's law on its four "
                                                             "models, counted FLOPs otherwise)")
    g.add_argument("--level", type=level, default=0.95, help="level of every interval (default 0.95)")
    return p


def json_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="strict JSON (missing values as null)")
    return p


def resolve_model(a: argparse.Namespace, required: bool = True) -> str | None:
    """--model (a registry key or a Hugging Face id) or --model-config DIR, as a registry key."""
    from ..api import use_model_config
    from ..models.registry import resolve

    if getattr(a, "model_config", None):
        if a.model:
            raise UserError("give --model or --model-config, not both")
        a.model = use_model_config(a.model_config)
    elif a.model:
        a.model = resolve(a.model, flag="--model")
    elif required:
        raise UserError("--model or --model-config DIR is required")
    return a.model


def resolve_gpu(a: argparse.Namespace) -> None:
    """--gpu-spec: register the described GPU for this process and answer for it; --gpu defaults to A100."""
    if getattr(a, "gpu_spec", None):
        from ..api import use_gpu_spec

        name = use_gpu_spec(a.gpu_spec)
        if a.gpu not in (None, name):
            raise UserError(f"--gpu {a.gpu} and --gpu-spec name={name} disagree: give one GPU")
        a.gpu = name
    elif getattr(a, "gpu", None) is None:
        a.gpu = "A100"


def gpu_as(a: argparse.Namespace) -> dict[str, str] | None:
    return {a.gpu: a.treat_gpu_as} if getattr(a, "treat_gpu_as", None) else None


# -- Checks of numeric options, appended for sweep, book and lab (the functions above are unchanged) -----------------
# Done in the command, not as argparse types: a UserError is one line on stderr, an argparse refusal adds its usage.
#: Slurm's time forms, as the messages name them.
SLURM_TIME_FORMS = "minutes (90), MM:SS (90:00), HH:MM:SS (12:00:00), D-HH (2-12), D-HH:MM (2-12:30) or D-HH:MM:SS"
_SLURM_TIME = (r"^(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?"
               r"|(?P<h>\d+):(?P<m>\d+):(?P<s>\d+)|(?P<mm>\d+):(?P<ss>\d+)|(?P<min>\d+))$")


def check_options(*checks: tuple[str, Any, Any, str]) -> None:
    """Refuse in one line (:class:`UserError`) the first ``(flag, value, ok, allowed)`` whose ``value`` is given (not
    None) and fails ``ok(value)``: ``--workers 0 is not allowed: an integer >= 1``. Text values are quoted."""
    for flag, value, ok, allowed in checks:
        if value is not None and not ok(value):
            shown = (repr(value) if isinstance(value, str) else str(int(value))
                     if isinstance(value, float) and value.is_integer() else str(value))  # -1.0 typed as -1
            raise UserError(f"{flag} {shown} is not allowed: {allowed}")


def finite_at_least(minimum: float, strict: bool = False) -> Any:
    """A check for :func:`check_options`: a finite number >= ``minimum`` (> with ``strict``); nan and inf fail."""
    import math

    return lambda v: math.isfinite(v) and (v > minimum if strict else v >= minimum)


def slurm_minutes(value: object) -> int | None:
    """Minutes (rounded up) of a Slurm time limit in one of :data:`SLURM_TIME_FORMS`; None when it is none of them or
    not > 0. Minutes and seconds must be below 60, and hours below 24 after a day count."""
    import re

    m = re.match(_SLURM_TIME, str(value).strip())
    if m is None:
        return None
    g = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    if "min" in g:
        minutes, secs = g["min"], 0
    elif "mm" in g:
        minutes, secs = g["mm"], g["ss"]
    elif "h" in g:
        if g["m"] >= 60:
            return None
        minutes, secs = 60 * g["h"] + g["m"], g["s"]
    else:
        if g["dh"] >= 24 or g.get("dm", 0) >= 60:
            return None
        minutes, secs = 1440 * g["days"] + 60 * g["dh"] + g.get("dm", 0), g.get("ds", 0)
    if secs >= 60 or minutes * 60 + secs <= 0:
        return None
    return minutes + (1 if secs else 0)
