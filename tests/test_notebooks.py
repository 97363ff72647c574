"""Every notebook runs under papermill with its smoke parameters."""
import nbformat
import pytest

from energy_nb.book import notebooks
from helpers import ROOT

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

#: Every executed page: the results notebooks and the front page (its findings).
NAMES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.md")) + ["book/intro.md"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_with_smoke_parameters(name, tmp_path):
    params = notebooks.smoke_parameters(name)
    out = tmp_path / f"{name.replace('/', '-')}.ipynb"
    notebooks.run(name, params, out, progress=False)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
