"""Fixtures (helpers live in helpers.py). Markers: ``slow`` (seconds or more), ``browser`` (headless Chromium and
the built book), ``notebook`` (a notebook under papermill), ``cluster`` (worker processes, Slurm)."""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from helpers import ROOT


@pytest.fixture(autouse=True)
def _forget_registrations():
    """--model-config and --gpu-spec register a model or a GPU in the process: forget them after each test."""
    from energy_nb.models import hardware, registry

    models, gpus = dict(registry.REGISTRY), dict(hardware._CUSTOM)
    yield
    if registry.REGISTRY != models:
        registry.REGISTRY.clear()
        registry.REGISTRY.update(models)
        registry._aliases.cache_clear()
    if hardware._CUSTOM != gpus:
        hardware._CUSTOM.clear()
        hardware._CUSTOM.update(gpus)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book (cached notebooks; seconds when nothing changed) and return _build/html. Under
    pytest-xdist, one worker builds while the others wait on a lock."""
    from filelock import FileLock

    from energy_nb.book.build import build

    (ROOT / "_build").mkdir(exist_ok=True)
    with FileLock(str(ROOT / "_build" / ".book-build.lock")):
        assert build(strict=True) == 0, "jupyter-book build -W failed"
    html = ROOT / "_build" / "html"
    assert (html / "index.html").exists()
    return html


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed")
    return path


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(built_book):
    handler = functools.partial(_Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield b
        b.close()
