"""Grid carbon intensity from the energy-mix tables CodeCarbon ships, copied unchanged into ``data/carbon/``
(so that ``plan`` answers without CodeCarbon installed, from the wheel's copy of the data).

- Countries: ``data/carbon/global_energy_mix.json``, keyed by ISO 3166-1 alpha-3 (``carbon_intensity`` in
  gCO2e/kWh, with the data year).
- US states: ``data/carbon/2023/usa_emissions.json`` (lbs CO2e / MWh, converted here: 1 lb/MWh = 0.453592
  g/kWh), addressed as ``USA/california``.
- The world average: ``data/carbon/carbon_intensity_per_source.json``.

Each is CodeCarbon's ``codecarbon/data/private_infra/`` file of the version named in :data:`SOURCE`
(``data/MANIFEST.yml`` says the same; a test compares the copy with an installed CodeCarbon of that version).

Units: gCO2e per kWh of electricity.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..core import paths, provenance
from ..core.errors import UserError

G_PER_LB = 453.592
#: Where the tables come from (the codecarbon release they were copied from).
SOURCE = "codecarbon 3.3.2 data/private_infra"


def _read(name: str) -> dict:
    from ..core.provenance import note_read

    path = Path(paths.CARBON) / name
    note_read(path)
    return json.loads(path.read_text())


@provenance.cache(maxsize=1)
def _global_mix() -> dict:
    return _read("global_energy_mix.json")


@provenance.cache(maxsize=1)
def _usa_states() -> dict:
    data = _read("2023/usa_emissions.json")
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
    if not isinstance(region, str):
        raise UserError(f"region {region!r} is not allowed: an ISO 3166-1 alpha-3 code (FRA, USA) or USA/<state>")
    key = region.strip()
    if "/" in key:
        country, state = key.split("/", 1)
        states = _usa_states()
        if country.upper() != "USA" or state.lower() not in states:
            raise UserError(f"unknown region {region!r}; allowed sub-national regions: USA/<state> with "
                             f"<state> one of {', '.join(sorted(states))}")
        rec = states[state.lower()]
        return Intensity(f"USA/{state.lower()}", f"{state.title()} (USA)", rec["emissions"] * G_PER_LB / 1000.0,
                         2023, f"{SOURCE}/2023/usa_emissions.json")
    mix = _global_mix()
    rec = mix.get(key.upper())
    if rec is None or rec.get("carbon_intensity") is None:
        raise UserError(f"unknown country code {region!r}; allowed: ISO 3166-1 alpha-3 codes in CodeCarbon's "
                         f"energy-mix data, e.g. USA, FRA, DEU, IND, CHN ({len(country_codes())} in all), "
                         "or USA/<state>")
    return Intensity(key.upper(), rec.get("country_name", key), float(rec["carbon_intensity"]), rec.get("year"),
                     f"{SOURCE}/global_energy_mix.json")


def world_average() -> Intensity:
    """CodeCarbon's world-average grid intensity (``carbon_intensity_per_source.json``)."""
    data = _read("carbon_intensity_per_source.json")
    return Intensity("world", "world average", float(data["world_average"]), None,
                     f"{SOURCE}/carbon_intensity_per_source.json "
                     f"({data.get('world_average_source', '')})")
