"""The laws artifact: every law that answers, fitted once at build time and shipped in the package. A rebuild from
the data gives the committed file (as `features --regenerate` is checked), and the file says what it was built from."""
import json

import pytest

from energy_nb.core import paths
from energy_nb.data.shipped import shipped_sha256
from energy_nb.evaluation import build
from energy_nb.laws import artifact
from energy_nb.laws.registry import code_version
from helpers import cli, cli_process


@pytest.mark.slow
def test_a_rebuild_gives_the_committed_artifact():
    """What `energy-nb laws check` runs: fit, select and measure nested from the shipped data, and compare with the
    committed file (numbers within 1e-6, everything else exactly). A difference means a change to the data or to
    the code that fits and chooses was not followed by `energy-nb laws build`."""
    assert build.read() is not None, "no artifact: run `energy-nb laws build`"
    p = cli_process("laws", "check", "--quiet", "--max", "30", check=False)
    assert p.returncode == 0, "the laws artifact is stale: run `energy-nb laws build` and commit it\n" + p.stdout


def test_the_build_pins_its_numerics_as_make_does():
    """`make` exports the variables `energy-nb laws build|check` set themselves (core.numerics.ENV): one set of
    BLAS kernels and numpy paths, so that every x86-64 machine fits the same numbers."""
    import re

    from energy_nb.core.numerics import ENV

    make = (paths.ROOT / "Makefile").read_text()
    assert dict(re.findall(r"^export (\w+) := (.+)$", make, re.M)) == ENV


def test_the_artifact_says_what_it_was_built_from():
    art = artifact.current()
    assert art.data_sha256 == shipped_sha256(), "the data changed since the artifact was built: energy-nb laws build"
    assert art.code_version == code_version(), "the fitting code changed since: energy-nb laws build"
    assert art.version == build.version(art.data)
    assert set(art.data["libraries"]) == set(build.LIBRARIES)
    assert "data/features/counted.csv" in art.data["data"]["files"] and "data/gpus.csv" in art.data["data"]["files"]
    d = json.loads(cli("laws", "show", "--json").stdout)
    assert d["version"] == art.version and d["shared"] == art.shared_name and d["datasheet"] == art.datasheet_name


def test_compare_finds_every_kind_of_difference():
    a = {"x": 1.0, "s": "a", "l": [1, 2], "d": {"k": 1}, "seconds": 3}
    assert build.compare(a, dict(a, seconds=9)) == []  # the build's time is not a difference
    assert build.compare(a, dict(a, x=1.0 + 1e-9)) == []
    assert build.compare(a, dict(a, x=1.01)) == ["/x: 1.0 -> 1.01"]
    assert build.compare(a, dict(a, s="b"))[0].startswith("/s:")
    assert build.compare(a, dict(a, l=[1]))[0] == "/l: 2 items -> 1"
    assert build.compare(a, {k: v for k, v in a.items() if k != "d"}) == ["/d: removed"]


def test_a_missing_or_foreign_artifact_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "LAWS_ARTIFACT", tmp_path / "laws.json")
    artifact.current.cache_clear()
    try:
        with pytest.raises(ValueError, match="laws artifact .* is missing: build it with `energy-nb laws build`"):
            artifact.current()
        (tmp_path / "laws.json").write_text(json.dumps({"format": 99}))
        artifact.current.cache_clear()
        with pytest.raises(ValueError, match="has format 99; this energy-nb reads format 5"):
            artifact.current()
    finally:
        artifact.current.cache_clear()
