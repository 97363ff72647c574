"""The frame: pins, provenance, notebook runner."""
import re

import pytest
import yaml

from energy_nb.book import notebooks
from energy_nb.core import provenance
from helpers import ROOT, cli


def _pins(lines):
    return {m.group(1).lower(): m.group(2) for m in (re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==(\S+)\s*$", line) for line in lines) if m}


def test_environment_yml_has_the_lock_pins():
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip)
    assert conda.pop("torch") == "2.13.0"
    assert conda == lock
    assert all("==" in line for line in (ROOT / "requirements.lock").read_text().splitlines() if line.strip())


def test_makefile_installs_torch_first_then_constrained():
    mk = (ROOT / "Makefile").read_text()
    assert mk.index("pip install --quiet torch==2.13.0") < mk.index("-r requirements.lock")
    assert "-c $(VENV)/constraints.txt" in mk
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_provenance_covers_every_data_file():
    t = provenance.table()
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "data").rglob("*") if p.is_file()} - {"data/MANIFEST.yml"}
    folders = {f for f in t["file"] if f.endswith("/")}
    covered = {f for f in files if any(f.startswith(d) for d in folders)}
    assert set(t["file"]) - folders == files - covered  # every other file has its own row
    assert t.set_index("file").loc[sorted(folders), "files"].sum() == len(covered) == 207  # ML.ENERGY 93 (v3: images and video), model configs 95 (19 models), registry 16, carbon 3
    assert t.set_index("file").loc["data/paper/a100_energy.csv", "rows"] == 280
    assert all(len(s) == 64 for s in t["sha256"])


def test_every_notebook_is_in_the_toc_and_has_parameters_and_smoke():
    toc = (ROOT / "_toc.yml").read_text()
    smoke = yaml.safe_load((ROOT / "notebooks/smoke.yml").read_text())
    for nb in (ROOT / "notebooks").glob("*.md"):
        assert f"notebooks/{nb.stem}" in toc, nb
        params = notebooks.parameters_of(nb)
        assert params, nb
        assert nb.stem in smoke and set(smoke[nb.stem]) <= set(params), nb


def test_run_refuses_unknown_parameter():
    with pytest.raises(ValueError, match="unknown parameter.*nonsense.*allowed"):
        notebooks.run("provenance", {"nonsense": 1}, None)
    with pytest.raises(ValueError, match="no notebook 'nope'"):
        notebooks.resolve("nope")


@pytest.mark.notebook
def test_cli_run_executes_with_papermill_and_leaves_no_ipynb(tmp_path):
    out = tmp_path / "prov.ipynb"
    before = set((ROOT / "notebooks").glob("*.ipynb"))
    cli("run", "notebooks/provenance.md", "-p", "sha_chars", "8", "-o", str(out), "--quiet")
    import nbformat

    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "sha_chars = 8" in injected[0].source
    outputs = "".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert "a100_energy.csv" in outputs
    assert set((ROOT / "notebooks").glob("*.ipynb")) == before
