"""One model of a run's time and power: the GPU busy by kind of operation, the host launching its work, their smooth
maximum, busy power by kind with occupancy, static power, the cap, and the net and gross energy that follow.

Every law that models time uses these functions (``ops`` through :func:`run`; ``parallel`` on top of it; ``achieved``,
the calibrated GPUs and the calculator through :func:`wall_time` and :func:`net_energy`), and the page's calculator
(``energy_nb/planning/calculator.js``) evaluates the same form, which a test checks on many configurations.

For ``ops`` (:func:`run`), with ``P`` the GPU's power limit, ``I`` its idle power and ``s`` its datasheet efficiency
(peak per watt) over the reference GPU's, per image:

- **GPU time** ``t_gpu = t_tensor + t_memory + t_comm``: ``t_tensor = s^cap_exponent (k_gemm x_gemm + k_conv x_conv +
  k_attention x_attn + k_softmax x_softmax)`` (fp32 work also times ``fp32``), ``t_memory = k_memory x_memory +
  t_kernel_gpu K``, ``t_comm`` the communication of several GPUs per image (priced by :mod:`.parallel`);
- **host time** ``t_host = t_kernel K + t_call C + t_image`` (times the wait for the slowest host, ``host_x``);
- **wall time** ``t = (t_gpu^q + t_host^q)^(1/q)``, ``q`` = :data:`SMOOTH_MAX` (:func:`wall_time`);
- **net power**: ``static_w = p_static P`` for every second of wall time, the busy energy ``busy_j = occ P (p_tensor
  t_tensor + p_memory t_memory) + p_comm P t_comm`` with ``occ = tau / (tau + t_fill)``; capped at ``cap_w = p_cap P -
  I``: **net energy** ``= min(static_w t + busy_j, cap_w t)`` (:func:`net_energy`); **gross** = net + ``I t``.

Units: s, W, J.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: The exponent of the smooth maximum of GPU and host time (GPU work and host launches overlap; the GPU's own
#: compute and memory phases add up, kernel after kernel).
SMOOTH_MAX = 4.0
#: Kinds of GPU time a run is split into, each with the coefficient of its time.
KINDS: dict[str, str] = dict(gemm="k_gemm", conv="k_conv", attention="k_attention", softmax="k_softmax",
                             memory="k_memory")
#: What every law that models time can say of a run, per image (:func:`parts`): what a calibration scales and the
#: calculator compiles.
PARTS: tuple[str, ...] = ("t_gpu_s", "t_host_s", "static_w", "busy_j", "cap_w")


def wall_time(t_gpu, t_host):
    """The wall time of a run busy ``t_gpu`` on the GPU and ``t_host`` on the host (s): their smooth maximum."""
    return (t_gpu ** SMOOTH_MAX + t_host ** SMOOTH_MAX) ** (1 / SMOOTH_MAX)


def net_energy(t, static_w, busy_j, cap_w):
    """Net energy (J) of ``t`` seconds at ``static_w`` plus the busy energy ``busy_j``, capped at ``cap_w`` x ``t``."""
    return np.minimum(static_w * t + busy_j, cap_w * t)


def run(coef: dict[str, float], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per image, of the rows of ``X`` (:func:`energy_nb.laws.ops.ops_features`): seconds by kind (``gemm``, ``conv``,
    ``attention``, ``softmax``, ``memory``, ``kernels``), the tensor, memory, communication, GPU, host and wall times
    (``time``), ``static_w``, ``cap_w``, ``busy_j``, the idle power ``idle``, net ``energy`` (J) and ``power`` (W) of
    coefficients ``coef`` (see the module docstring)."""
    v = {k: X[k].to_numpy(float) for k in X.columns}
    gain = v["s"] ** coef["cap_exponent"] * np.where(v["fp32"] > 0, coef["fp32"], 1.0)
    out = dict(gemm=gain * coef["k_gemm"] * v["x_gemm"], conv=gain * coef["k_conv"] * v["x_conv"],
               attention=gain * coef["k_attention"] * v["x_attn"], softmax=gain * coef["k_softmax"] * v["x_softmax"],
               memory=coef["k_memory"] * v["x_memory"], kernels=coef["t_kernel_gpu_us"] * 1e-6 * v["K"])
    out["tensor"] = out["gemm"] + out["conv"] + out["attention"] + out["softmax"]
    out["mem"] = out["memory"] + out["kernels"]
    out["comm"] = v.get("comm_s", np.zeros(len(X)))
    out["gpu"] = out["tensor"] + out["mem"] + out["comm"]
    out["host"] = coef["t_kernel_us"] * 1e-6 * v["K"] + coef["t_call_ms"] * 1e-3 * v["C"] + coef["t_image_s"]
    if "host_x" in v:
        out["host"] = out["host"] * v["host_x"]
    t = wall_time(out["gpu"], out["host"])
    P = v["P"]
    occ = v["tau"] / (v["tau"] + coef["t_fill_us"] * 1e-6)
    out.update(time=t, static_w=coef["p_static"] * P, cap_w=np.maximum(coef["p_cap"] * P - v["I"], 1e-3 * P),
               busy_j=occ * P * (coef["p_tensor"] * out["tensor"] + coef["p_memory"] * out["mem"])
               + coef.get("p_comm", 0.0) * P * out["comm"], idle=v["I"])
    out["energy"] = net_energy(t, out["static_w"], out["busy_j"], out["cap_w"])
    out["power"] = out["energy"] / t
    return out


def parts(t_gpu, t_host, static_w, busy_j, cap_w, index=None) -> pd.DataFrame:
    """The :data:`PARTS` of runs (per image): energy = :func:`net_energy` of their :func:`wall_time`."""
    return pd.DataFrame(dict(t_gpu_s=t_gpu, t_host_s=t_host, static_w=static_w, busy_j=busy_j, cap_w=cap_w),
                        index=index)


def scaled(p: pd.DataFrame, speed: float = 1.0, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(net energy J, time s) per image of runs with :data:`PARTS` ``p``, on a GPU ``speed`` times slower when busy
    and drawing ``power`` times their net power (1, 1: the runs as they are)."""
    tg = speed * p["t_gpu_s"].to_numpy(float)
    t = wall_time(tg, p["t_host_s"].to_numpy(float))
    e = power * net_energy(t, p["static_w"].to_numpy(float), speed * p["busy_j"].to_numpy(float),
                           p["cap_w"].to_numpy(float))
    return e, t
