"""Energy meters behind one interface, and one measurement window.

Meters (``METERS``):

- ``codecarbon``: CodeCarbon's :class:`OfflineEmissionsTracker` as in the paper (no network, a
  configurable country code, ``measure_power_secs=1``). On a GPU it reports the GPU energy (CodeCarbon
  integrates NVML power samples); on a machine without one it reports CPU + RAM energy, which
  CodeCarbon *estimates* from the CPU's TDP and load and the RAM size when RAPL is not readable (as
  here). Rows say so in ``note``.
- ``nvml``: the GPU's own total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and
  newer) read through nvidia-ml-py at the edges of the window: no sampling, no integration.

Units: energy in joules, power in watts, time in seconds. A window is bracketed by device
synchronisation; ``net = raw - idle_w x duration`` with ``idle_w`` measured before the sweep.
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from .pipelines import synchronize

METERS: tuple[str, ...] = ("codecarbon", "nvml")
J_PER_KWH = 3.6e6


@dataclass
class Reading:
    """What one meter saw over one window."""

    meter: str
    energy_j: float
    duration_s: float
    note: str = ""


class Meter(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> Reading: ...


def _quiet_codecarbon() -> None:
    import os

    os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")  # read by CodeCarbon at import and at tracker init
    for name in ("codecarbon", "codecarbon.core", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)


class CodeCarbonMeter:
    """CodeCarbon's offline tracker; a fresh tracker per window (after the first, ~10 ms to start)."""

    name = "codecarbon"

    def __init__(self, device: torch.device, country: str = "USA", measure_power_secs: float = 1.0) -> None:
        _quiet_codecarbon()
        from codecarbon import OfflineEmissionsTracker  # noqa: F401  (fail early if missing)

        check_country(country)
        self.device = device
        self.country = country
        self.measure_power_secs = measure_power_secs
        self._tracker = None
        self._t0 = 0.0

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        kw = dict(country_iso_code=self.country, measure_power_secs=self.measure_power_secs,
                  save_to_file=False, log_level="error", allow_multiple_runs=True, tracking_mode="machine")
        if self.device.type == "cuda":
            kw["gpu_ids"] = [self.device.index or 0]
        self._tracker = OfflineEmissionsTracker(**kw)
        _quiet_codecarbon()
        self._t0 = time.perf_counter()
        self._tracker.start()

    def stop(self) -> Reading:
        assert self._tracker is not None, "stop() before start()"
        self._tracker.stop()
        wall = time.perf_counter() - self._t0
        d = self._tracker.final_emissions_data
        self._tracker = None
        if self.device.type == "cuda":
            return Reading(self.name, d.gpu_energy * J_PER_KWH, wall,
                           f"codecarbon {d.codecarbon_version}: GPU energy from NVML power samples")
        cpu, ram = d.cpu_energy * J_PER_KWH, d.ram_energy * J_PER_KWH
        return Reading(self.name, cpu + ram, wall,
                       f"codecarbon {d.codecarbon_version}: CPU {cpu:.3f} J + RAM {ram:.3f} J, an ESTIMATE from "
                       f"TDP x load and RAM size (no RAPL here), not a measurement")


class NvmlMeter:
    """The GPU's cumulative energy counter (mJ), read at the start and end of the window."""

    name = "nvml"

    def __init__(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise ValueError(f"meter 'nvml' reads an NVIDIA GPU's energy counter; device {str(device)!r} has none "
                             "(use --meters codecarbon on the CPU)")
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        self._mj0 = 0
        self._t0 = 0.0

    def _read_mj(self) -> int:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._mj0 = self._read_mj()

    def stop(self) -> Reading:
        mj = self._read_mj()
        return Reading(self.name, (mj - self._mj0) / 1000.0, time.perf_counter() - self._t0,
                       "NVML total-energy counter")


def make_meters(names: list[str], device: torch.device, country: str = "USA") -> list[Meter]:
    """Meters by name (``METERS``); a clear error for an unknown one."""
    out: list[Meter] = []
    for n in names:
        if n == "codecarbon":
            out.append(CodeCarbonMeter(device, country))
        elif n == "nvml":
            out.append(NvmlMeter(device))
        else:
            raise ValueError(f"unknown meter {n!r}; allowed: {', '.join(METERS)}")
    if not out:
        raise ValueError(f"no meter given; allowed: {', '.join(METERS)}")
    return out


def default_meters(device: torch.device) -> list[str]:
    """Both meters on a GPU, CodeCarbon (CPU estimate) elsewhere."""
    return list(METERS) if device.type == "cuda" else ["codecarbon"]


def check_country(code: str) -> str:
    """An ISO 3166-1 alpha-3 code CodeCarbon's offline energy-mix data knows; else a clear error."""
    from .carbon import country_codes

    codes = country_codes()
    if code not in codes:
        raise ValueError(f"unknown country code {code!r}; allowed: ISO 3166-1 alpha-3 codes in CodeCarbon's "
                         f"energy-mix data, e.g. USA, FRA, DEU, IND, CHN ({len(codes)} in all)")
    return code


def window(meters: list[Meter], device: torch.device, work: Callable[[], object]) -> list[Reading]:
    """Run ``work`` between synchronised starts and stops of all meters; return their readings."""
    synchronize(device)
    for m in meters:
        m.start()
    try:
        work()
        synchronize(device)
    finally:
        readings = [m.stop() for m in reversed(meters)][::-1]
    return readings


def idle_power(meters: list[Meter], device: torch.device, seconds: float) -> dict[str, float]:
    """Mean power (W) each meter reports while the device sits idle for ``seconds``."""
    if seconds <= 0:
        return {m.name: 0.0 for m in meters}
    readings = window(meters, device, lambda: time.sleep(seconds))
    return {r.meter: r.energy_j / r.duration_s for r in readings}


@dataclass
class DeviceState:
    """What the device looked like at one instant (GPU fields empty on the CPU)."""

    gpu_name: str
    driver: str | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    temp_c: float | None = None


def device_state(device: torch.device) -> DeviceState:
    """Name, driver, power limit, SM clock and temperature through NVML; CPU model name on the CPU."""
    if device.type != "cuda":
        return DeviceState(gpu_name=_cpu_name())
    import pynvml

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
    name = pynvml.nvmlDeviceGetName(h)
    driver = pynvml.nvmlSystemGetDriverVersion()
    return DeviceState(
        gpu_name=name.decode() if isinstance(name, bytes) else name,
        driver=driver.decode() if isinstance(driver, bytes) else driver,
        power_limit_w=pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
        sm_clock_mhz=float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)),
        temp_c=float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)),
    )


def gpu_label(gpu_name: str, device: torch.device) -> str:
    """The short GPU name used in the ``gpu`` column: 'NVIDIA H100 80GB HBM3' -> 'H100'; 'cpu' on the CPU."""
    if device.type != "cuda":
        return "cpu"
    import re

    for token in re.split(r"[\s\-_]+", gpu_name):
        if re.fullmatch(r"[A-Z]+\d+[A-Za-z]*", token) and token.upper() not in ("NVIDIA", "SXM4", "SXM5", "PCIE"):
            return token
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", gpu_name).strip("-") or "gpu"


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"
