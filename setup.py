"""The wheel carries the data: ``build_py`` copies the repository's ``data/`` (the one source of every input, listed
in ``data/MANIFEST.yml``) byte for byte into the package as ``energy_nb/_data``, where an installed energy-nb reads
it (:mod:`energy_nb.core.paths`). An editable install reads ``data/`` itself. Everything else is in pyproject.toml.

Each build works in a folder of its own (removed at exit), not in the checkout's ``build/``: two builds at once (the
README's ``pip wheel`` and the wheel test) would share it, and one that crashed leaves a ``.dist-info`` there that
makes every later build fail with "File exists"."""
import atexit
import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = Path(__file__).resolve().parent / "data"


class BuildPyWithData(build_py):
    """``build_py``, then ``data/`` copied into the built package as ``_data`` (not in editable mode)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if not DATA.is_dir():
            raise SystemExit(f"energy-nb: {DATA} is missing: the wheel carries the data, build it from a checkout "
                             "or an sdist that has data/")
        target = Path(self.build_lib) / "energy_nb" / "_data"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("__pycache__"))


BUILD = tempfile.mkdtemp(prefix="energy-nb-build-")
atexit.register(shutil.rmtree, BUILD, True)

setup(cmdclass={"build_py": BuildPyWithData}, options={"build": {"build_base": BUILD}})
