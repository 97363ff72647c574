"""Energy meters behind one interface, and one measurement window.

Meters (``METERS``):

- ``codecarbon``: CodeCarbon's :class:`OfflineEmissionsTracker` as in the paper (no network, a
  configurable country code, ``measure_power_secs=1``). On a GPU it reports the GPU energy (CodeCarbon
  3 reads NVML's energy counter once per interval, so a window can miss up to its last interval); on a
  machine without one it reports CPU + RAM energy, which
  CodeCarbon *estimates* from the CPU's TDP and load and the RAM size when RAPL is not readable (as
  here). Rows say so in ``note``.
- ``zeus``: ML.ENERGY's Zeus (:class:`zeus.monitor.ZeusMonitor`), the field's library for this
  measurement, used by the ML.ENERGY leaderboard: the GPU's energy counter on Volta and newer, power
  sampling on older GPUs, and ``approx_instant_energy`` (power x time) for a window shorter than the
  counter's update period. The default on a GPU where ``zeus`` imports.
- ``nvml``: the GPU's own total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and
  newer) read through nvidia-ml-py at the edges of the window: no sampling, no integration. The
  fallback on a GPU where Zeus is not installed.

Units: energy in joules, power in watts, time in seconds. A window is bracketed by device
synchronisation; ``net = raw - idle_w x duration`` with ``idle_w`` measured before the sweep.
"""
from __future__ import annotations

import contextlib
import logging
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from ..core.errors import UserError
from .grid import METERS
from .pipelines import synchronize

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


def nvml_id(device: torch.device) -> int | str:
    """The NVML identity (physical index, or a ``GPU-...`` UUID) of a torch CUDA device.

    torch numbers the GPUs that ``CUDA_VISIBLE_DEVICES`` leaves visible (a worker started with
    ``CUDA_VISIBLE_DEVICES=2`` sees that GPU as ``cuda:0``); NVML numbers every GPU of the machine."""
    import os

    index = device.index or 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return index
    items = [x.strip() for x in visible.split(",") if x.strip()]
    if index >= len(items):
        raise UserError(f"device {str(device)!r} is not among the GPUs CUDA_VISIBLE_DEVICES={visible!r} leaves visible")
    item = items[index]
    if item.isdigit():
        return int(item)
    if item.startswith("MIG"):
        raise UserError(f"CUDA_VISIBLE_DEVICES={visible!r} names a MIG slice; NVML cannot measure a slice's energy")
    return item


def nvml_handle(device: torch.device):
    """NVML's handle of a torch CUDA device (:func:`nvml_id`)."""
    import pynvml

    pynvml.nvmlInit()
    ident = nvml_id(device)
    if isinstance(ident, int):
        return pynvml.nvmlDeviceGetHandleByIndex(ident)
    return pynvml.nvmlDeviceGetHandleByUUID(ident)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Library noise printed on stdout goes to stderr instead: importing CodeCarbon imports AMD's ``amdsmi``, which
    prints two lines (``/opt/rocm/lib/libamd_smi.so: cannot open shared object file ...``) with ``print`` on a machine
    without ROCm; stdout carries only the command's own output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _import_codecarbon() -> type:
    """CodeCarbon's ``OfflineEmissionsTracker``, imported with its import-time prints sent to stderr."""
    with _stdout_to_stderr():
        from codecarbon import OfflineEmissionsTracker
    return OfflineEmissionsTracker


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
        _import_codecarbon()  # fail early if missing

        check_country(country)
        self.device = device
        self.country = country
        self.measure_power_secs = measure_power_secs
        self._tracker = None
        self._t0 = 0.0

    def start(self) -> None:
        tracker_class = _import_codecarbon()

        kw = dict(country_iso_code=self.country, measure_power_secs=self.measure_power_secs,
                  save_to_file=False, log_level="error", allow_multiple_runs=True, tracking_mode="machine")
        if self.device.type == "cuda":
            kw["gpu_ids"] = [nvml_id(self.device)]  # NVML's numbering, not torch's
        self._tracker = tracker_class(**kw)
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
                           f"codecarbon {d.codecarbon_version}: GPU energy from NVML's energy counter, read every "
                           f"{self.measure_power_secs:g} s")
        cpu, ram = d.cpu_energy * J_PER_KWH, d.ram_energy * J_PER_KWH
        return Reading(self.name, cpu + ram, wall,
                       f"codecarbon {d.codecarbon_version}: CPU {cpu:.3f} J + RAM {ram:.3f} J, an ESTIMATE from "
                       f"TDP x load and RAM size (no RAPL here), not a measurement")


class NvmlMeter:
    """The GPU's cumulative energy counter (mJ), read at the start and end of the window."""

    name = "nvml"

    def __init__(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise UserError(f"meter 'nvml' reads an NVIDIA GPU's energy counter; device {str(device)!r} has none "
                             "(use --meters codecarbon on the CPU)")
        import pynvml

        self._nvml = pynvml
        self.handle = nvml_handle(device)
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


class ZeusMeter:
    """Zeus's :class:`~zeus.monitor.ZeusMonitor` over one GPU (``device``'s index as the framework sees it,
    after ``CUDA_VISIBLE_DEVICES``). :func:`window` synchronises the device, so Zeus does not again.
    ``monitor`` is for tests: a ZeusMonitor built over Zeus's own GPU objects."""

    name = "zeus"

    def __init__(self, device: torch.device, monitor=None) -> None:
        if device.type != "cuda":
            raise UserError(f"meter 'zeus' reads a GPU's energy through Zeus; device {str(device)!r} is not a GPU "
                             "(use --meters codecarbon on the CPU)")
        self.index = device.index or 0
        if monitor is None:
            try:
                from zeus.monitor import ZeusMonitor
            except ImportError as exc:
                raise UserError(f"meter 'zeus' needs ML.ENERGY's Zeus (pip install zeus): {exc}; "
                                 "or use --meters nvml") from None
            monitor = ZeusMonitor(gpu_indices=[self.index], cpu_indices=[], approx_instant_energy=True)
        if self.index not in monitor.gpu_indices:
            raise UserError(f"meter 'zeus': GPU {self.index} is not among the GPUs Zeus sees "
                             f"({monitor.gpu_indices or 'none'})")
        self.monitor = monitor
        self._key = f"energy-nb-{id(self)}"
        try:
            from importlib.metadata import version

            self._version = version("zeus")
        except Exception:  # pragma: no cover - metadata missing
            self._version = "?"

    def start(self) -> None:
        self.monitor.begin_window(self._key, sync_execution=False, restart=True)

    def stop(self) -> Reading:
        m = self.monitor.end_window(self._key, sync_execution=False)
        return Reading(self.name, float(m.gpu_energy[self.index]), float(m.time),
                       f"zeus {self._version}: ZeusMonitor GPU {self.index}")


def make_meters(names: list[str], device: torch.device, country: str = "USA") -> list[Meter]:
    """Meters by name (``METERS``); a clear error for an unknown one."""
    out: list[Meter] = []
    for n in names:
        if n == "codecarbon":
            out.append(CodeCarbonMeter(device, country))
        elif n == "nvml":
            out.append(NvmlMeter(device))
        elif n == "zeus":
            out.append(ZeusMeter(device))
        else:
            raise UserError(f"unknown meter {n!r}; allowed: {', '.join(METERS)}")
    if not out:
        raise UserError(f"no meter given; allowed: {', '.join(METERS)}")
    return out


def zeus_available() -> bool:
    """Whether ML.ENERGY's Zeus imports here."""
    try:
        import zeus.monitor  # noqa: F401
    except Exception:
        return False
    return True


def default_meters(device: torch.device) -> list[str]:
    """On a GPU: CodeCarbon (the paper's meter) and Zeus, or our raw NVML reader where Zeus does not
    import. Elsewhere: CodeCarbon (a CPU estimate)."""
    if device.type != "cuda":
        return ["codecarbon"]
    return ["codecarbon", "zeus" if zeus_available() else "nvml"]


def check_country(code: str) -> str:
    """An ISO 3166-1 alpha-3 code CodeCarbon's offline energy-mix data knows; else a clear error."""
    from ..data.carbon import country_codes

    codes = country_codes()
    if code not in codes:
        raise UserError(f"unknown country code {code!r}; allowed: ISO 3166-1 alpha-3 codes in CodeCarbon's "
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

    h = nvml_handle(device)
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
