"""Where things live: the repository root, the shipped data and the notebooks.

``ENERGY_NB_ROOT`` overrides the root (for an installed, non-editable copy next to a checkout).
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT: Path = Path(os.environ.get("ENERGY_NB_ROOT", Path(__file__).resolve().parent.parent))
DATA: Path = ROOT / "data"
PAPER_DATA: Path = DATA / "paper"
MEASUREMENTS: Path = DATA / "measurements"
NOTEBOOKS: Path = ROOT / "notebooks"
BUILD: Path = ROOT / "_build"
MANIFEST: Path = DATA / "MANIFEST.yml"

#: The paper's text, beside the checkout (not shipped; used only to re-check transcriptions).
PAPER_TEXT: Path = ROOT.parent / "shared" / "paper" / "energy-scaling-laws-2511.17031v2.txt"

A100_ENERGY_CSV: Path = PAPER_DATA / "a100_energy.csv"
PUBLISHED_PARAMS_CSV: Path = PAPER_DATA / "published_params.csv"
