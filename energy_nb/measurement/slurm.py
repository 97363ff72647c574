"""Slurm settings of a sweep: from the grid YAML's ``slurm:`` mapping, ``--slurm KEY=VALUE`` and the flags, to
submitit's parameters (and ``#SBATCH`` lines for anything else). Times in minutes or Slurm's [D-]HH:MM:SS.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import UserError

#: submitit's own names for the common Slurm settings (AutoExecutor); anything else in ``--slurm KEY=VALUE``
#: that is not a submitit ``slurm_*`` parameter becomes an ``#SBATCH --KEY=VALUE`` line.
SLURM_SHORTCUTS = {"partition": "slurm_partition", "account": "slurm_account", "time": "timeout_min",
                   "gpus": "gpus_per_node", "gpus_per_node": "gpus_per_node", "cpus": "cpus_per_task",
                   "cpus_per_task": "cpus_per_task", "mem_gb": "mem_gb", "name": "name", "qos": "slurm_qos",
                   "constraint": "slurm_constraint", "exclude": "slurm_exclude", "comment": "slurm_comment",
                   "setup": "slurm_setup"}

def parse_minutes(value: Any) -> int:
    """Slurm's time forms -> minutes: 90, '90', '1:30:00', '2-00:00:00', '30:00' (MM:SS)."""
    text = str(value).strip()
    try:
        if text.isdigit():
            if int(text) < 1:
                raise ValueError
            return int(text)
        days = 0
        if "-" in text:
            d, text = text.split("-", 1)
            days = int(d)
        parts = [int(x) for x in text.split(":")]
        if len(parts) == 3:
            h, m, s = parts
        elif len(parts) == 2:
            h, m, s = (0, *parts) if not days else (*parts, 0)
        else:
            h, m, s = parts[0], 0, 0
        minutes = days * 1440 + h * 60 + m + (1 if s else 0)
        if minutes < 1:
            raise ValueError
        return minutes
    except ValueError:
        raise UserError(f"time {value!r} is not allowed: minutes (90) or Slurm's [D-]HH:MM:SS (1:30:00)") from None


def parse_key_values(items: list[str] | None) -> dict[str, str]:
    """``['partition=gpu', 'qos=high']`` -> dict; an item without '=' is named in the error."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise UserError(f"--slurm {item!r} is not allowed: give KEY=VALUE, e.g. --slurm partition=gpu "
                             "qos=high constraint=a100")
        k, v = item.split("=", 1)
        out[k.strip().lstrip("-").replace("-", "_")] = v.strip()
    return out


def _number(v: Any) -> Any:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


def slurm_parameters(settings: dict[str, Any], device_type: str) -> dict[str, Any]:
    """submitit AutoExecutor parameters from our settings (YAML ``slurm:`` then ``--slurm``, then flags).

    One GPU per job on a GPU sweep (none on the CPU) unless ``gpus`` says otherwise; ``time`` in minutes
    or [D-]HH:MM:SS; submitit's own ``slurm_*`` names pass through; any other key is an extra
    ``#SBATCH --KEY=VALUE``."""
    import submitit

    valid = set(submitit.AutoExecutor._valid_parameters()) | {
        f"slurm_{k}" for k in submitit.SlurmExecutor._valid_parameters()}
    params: dict[str, Any] = dict(name="energy-nb-sweep", gpus_per_node=1 if device_type == "cuda" else 0,
                                  tasks_per_node=1, nodes=1)
    extra: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        key = str(key).replace("-", "_")
        name = SLURM_SHORTCUTS.get(key, key)
        if name == "timeout_min":
            params[name] = parse_minutes(value)
        elif name in valid or f"slurm_{key}" in valid:
            name = name if name in valid else f"slurm_{key}"
            if name in ("slurm_setup", "slurm_srun_args") and isinstance(value, str):
                value = [value]  # shell lines / srun arguments: a list in submitit
            params[name] = _number(value)
        else:
            extra[key] = value
    if not params.get("gpus_per_node"):
        params.pop("gpus_per_node", None)  # no --gpus-per-node line at all on a CPU sweep
    if extra:
        params["slurm_additional_parameters"] = {**params.get("slurm_additional_parameters", {}), **extra}
    return params


def slurm_settings(path: str | Path | None) -> dict[str, Any]:
    """The ``slurm:`` mapping of a grid YAML (partition, time, account, gpus, any ``#SBATCH`` option)."""
    if not path or str(path) == "paper":
        return {}
    from ..core.yamlio import load_file

    d = load_file(path) or {}
    s = d.get("slurm") or {} if isinstance(d, dict) else {}
    if not isinstance(s, dict):
        raise UserError(f"{path}: 'slurm' is a mapping of Slurm settings, e.g. {{partition: gpu, time: '4:00:00'}}")
    return s
