"""Grid carbon intensity from the energy-mix data CodeCarbon ships (offline, no network).

- Countries: ``codecarbon/data/private_infra/global_energy_mix.json``, keyed by ISO 3166-1 alpha-3
  (``carbon_intensity`` in gCO2e/kWh, with the data year).
- US states: ``codecarbon/data/private_infra/2023/usa_emissions.json`` (lbs CO2e / MWh, converted here:
  1 lb/MWh = 0.453592 g/kWh), addressed as ``USA/california``.

Units: gCO2e per kWh of electricity.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..core.errors import UserError

G_PER_LB = 453.592


def _data_dir() -> Path:
    """CodeCarbon's shipped data, located without importing codecarbon (an import costs seconds)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("codecarbon")
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        raise UserError("codecarbon is not installed: its offline grid data gives the carbon intensities; install "
                        "energy-nb[carbon], or give the grid's intensity (--carbon-intensity, carbon_intensity=)")
    return Path(spec.origin).parent / "data" / "private_infra"


@lru_cache(maxsize=1)
def _codecarbon_version() -> str:
    from importlib import metadata

    return metadata.version("codecarbon")


@lru_cache(maxsize=1)
def _global_mix() -> dict:
    return json.loads((_data_dir() / "global_energy_mix.json").read_text())


@lru_cache(maxsize=1)
def _usa_states() -> dict:
    data = json.loads((_data_dir() / "2023" / "usa_emissions.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def country_codes() -> list[str]:
    """ISO 3166-1 alpha-3 codes with a carbon intensity in CodeCarbon's data."""
    return sorted(k for k, v in _global_mix().items() if v.get("carbon_intensity") is not None)


@dataclass(frozen=True)
class Intensity:
    """A grid's carbon intensity (gCO2e/kWh) and where it comes from."""

    region: str
    name: str
    g_per_kwh: float
    year: int | None
    source: str


def intensity(region: str) -> Intensity:
    """Carbon intensity of ``region`` (``FRA``, ``USA``, ``USA/california``); a clear error otherwise."""
    key = region.strip()
    if "/" in key:
        country, state = key.split("/", 1)
        states = _usa_states()
        if country.upper() != "USA" or state.lower() not in states:
            raise UserError(f"unknown region {region!r}; allowed sub-national regions: USA/<state> with "
                             f"<state> one of {', '.join(sorted(states))}")
        rec = states[state.lower()]
        return Intensity(f"USA/{state.lower()}", f"{state.title()} (USA)", rec["emissions"] * G_PER_LB / 1000.0,
                         2023, f"codecarbon {_codecarbon_version()} data/private_infra/2023/usa_emissions.json")
    mix = _global_mix()
    rec = mix.get(key.upper())
    if rec is None or rec.get("carbon_intensity") is None:
        raise UserError(f"unknown country code {region!r}; allowed: ISO 3166-1 alpha-3 codes in CodeCarbon's "
                         f"energy-mix data, e.g. USA, FRA, DEU, IND, CHN ({len(country_codes())} in all), "
                         "or USA/<state>")
    return Intensity(key.upper(), rec.get("country_name", key), float(rec["carbon_intensity"]), rec.get("year"),
                     f"codecarbon {_codecarbon_version()} data/private_infra/global_energy_mix.json")


def world_average() -> Intensity:
    """CodeCarbon's world-average grid intensity (``carbon_intensity_per_source.json``)."""
    data = json.loads((_data_dir() / "carbon_intensity_per_source.json").read_text())
    return Intensity("world", "world average", float(data["world_average"]), None,
                     f"codecarbon {_codecarbon_version()} carbon_intensity_per_source.json "
                     f"({data.get('world_average_source', '')})")
