"""The package as an engineer on a GPU node meets it: the wheel, built from this checkout, installed into a fresh
virtual environment with the core requirements only (no torch, no CodeCarbon, no checkout), run from a folder outside
the checkout with an empty cache. It answers with the numbers the checkout gives, writes nothing to the cache, and
carries a byte-for-byte copy of data/."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT, cli, strict_json

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.xdist_group("wheel")]

#: What the fresh environment runs, each also run in this checkout: (name, arguments).
COMMANDS = (
    ("own model, GPU with data", ["predict", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25",
                                  "--cfg", "--gpu", "H100", "--batch-size", "8", "--json"]),
    ("model without data, GPU with data", ["predict", "--model", "pixart-sigma", "--height", "1024", "--width",
                                           "1024", "--steps", "20", "--gpu", "A100", "--json"]),
    ("own model, GPU without data", ["predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps",
                                     "30", "--cfg", "--gpu", "L40S", "--json"]),
    ("model without data, GPU without data", ["predict", "--model", "sana15-1.6b", "--height", "1024", "--width",
                                              "1024", "--steps", "20", "--gpu", "B200", "--json"]),
    ("plan", ["plan", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30", "--cfg",
              "--images-per-day", "1e6", "--country", "FRA", "--price-kwh", "0.15", "--compare", "--json"]),
    ("models", ["models", "--json"]),
    ("flops", ["flops", "--model", "sdxl", "--height", "1024", "--width", "1024", "--json"]),
)
API = """
import json, energy_nb
p = energy_nb.predict("sdxl", 1024, 1024, 30, cfg=True, gpu="H100")
q = energy_nb.plan("sd2", 768, 768, 25, cfg=True, images_per_day=1e5, country="USA")
law = energy_nb.fit("paper", models=["flux"])
print(json.dumps(dict(p=p.per_image_j, s=p.per_image_s, q=float(q.total["mwh_per_year"]),
                      alpha=float(law.params["alpha"]), n=len(energy_nb.records("laws")))))
"""


def _run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kw)


def _source_copy(dest: Path) -> Path:
    """The checkout's files as a fresh clone of it with the uncommitted changes would hold them, copied to ``dest``."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        f = ROOT / name
        if f.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, energy-nb, environment, folder outside the checkout) of a fresh venv holding the built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    # built from a copy of the files git would commit (tracked, and new ones not ignored): setuptools builds in the
    # source's build/ folder, which the README's `pip wheel` test (another xdist worker) would share; and the wheel
    # must not depend on a file only this working tree has (a venv, _build, a cache)
    src = _source_copy(tmp / "src")
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                  str(src)], cwd=tmp)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("energy_nb-*.whl")
    venv = tmp / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    # the core requirements only, at the versions the checkout runs (the lock; torch is only a constraint there)
    install = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "-c",
                    str(ROOT / "requirements.lock"), str(wheel)], cwd=tmp)
    assert install.returncode == 0, install.stderr
    away = tmp / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY_NB", "PYTHON"))}
    env.update(ENERGY_NB_CACHE=str(tmp / "cache"), ENERGY_NB_USER_DIR=str(tmp / "user"), HOME=str(tmp / "home"),
               XDG_CACHE_HOME=str(tmp / "xdg"))
    return python, venv / "bin" / "energy-nb", env, away, wheel, tmp


def test_the_wheel_has_no_torch_and_reads_its_own_copy_of_the_data(installed):
    python, _, env, away, wheel, _ = installed
    probe = _run([str(python), "-c", "import importlib.util as u, energy_nb.core.paths as p; "
                  "print(u.find_spec('torch') is None, u.find_spec('codecarbon') is None, p.IN_CHECKOUT, p.DATA)"],
                 cwd=away, env=env)
    no_torch, no_codecarbon, in_checkout, data = probe.stdout.split()
    assert (no_torch, no_codecarbon, in_checkout) == ("True", "True", "False"), probe.stderr
    assert not Path(data).resolve().is_relative_to(ROOT.resolve()) and data.endswith("energy_nb/_data")
    # data/ is the source; the wheel's _data is its copy made when the wheel was built: byte for byte, nothing more
    with zipfile.ZipFile(wheel) as z:
        copied = {n.removeprefix("energy_nb/_data/"): hashlib.sha256(z.read(n)).hexdigest()
                  for n in z.namelist() if n.startswith("energy_nb/_data/")}
        assert "energy_nb/artifacts/laws.json" in z.namelist()
    source = {p.relative_to(ROOT / "data").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (ROOT / "data").rglob("*") if p.is_file()}
    assert copied == source


def test_the_installed_command_answers_as_the_checkout_and_writes_nothing(installed):
    _, exe, env, away, _, tmp = installed
    for name, args in COMMANDS:
        got = _run([str(exe), *args], cwd=away, env=env)
        assert got.returncode == 0, (name, got.stderr)
        assert strict_json(got.stdout) == strict_json(cli(*args).stdout), name
    text = _run([str(exe), "models"], cwd=away, env=env)
    assert text.returncode == 0 and "sd2" in text.stdout and "flux" in text.stdout
    for folder in ("cache", "xdg", "home"):
        left = sorted(p for p in (tmp / folder).rglob("*") if p.is_file()) if (tmp / folder).exists() else []
        assert not left, f"answering wrote {left}"


def test_the_python_api_answers_as_the_checkout(installed):
    python, _, env, away, _, _ = installed
    got = _run([str(python), "-c", API], cwd=away, env=env)
    assert got.returncode == 0, got.stderr
    here = subprocess.run([sys.executable, "-c", API], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(got.stdout) == json.loads(here.stdout)


def test_what_needs_torch_says_so_in_one_line(installed):
    _, exe, env, away, _, _ = installed
    off = _run([str(exe), "predict", "--model", "sd2", "--height", "640", "--width", "640", "--steps", "25"],
               cwd=away, env=env)
    assert off.returncode == 2 and off.stderr.count("\n") == 1, off.stderr
    assert "not in the shipped features table" in off.stderr and "energy-nb[count]" in off.stderr
