"""Fixtures (helpers live in helpers.py). Markers: ``slow`` (seconds or more), ``browser`` (headless Chromium and
the built book), ``notebook`` (a notebook under papermill), ``cluster`` (worker processes, Slurm)."""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

# One thread per process: the tests run on two xdist workers that start sweeps, Slurm jobs and notebook kernels
# of their own, each of which would otherwise take every core for tiny matrices (set before torch is imported).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# The user's own state (calibrations) goes to a folder of this test session, never to the real user data folder.
if "ENERGY_NB_USER_DIR" not in os.environ:
    import tempfile

    os.environ["ENERGY_NB_USER_DIR"] = tempfile.mkdtemp(prefix="energy-nb-user-")

import pytest  # noqa: E402

from helpers import ROOT  # noqa: E402

#: The longest modules first (the book build, worker processes, Slurm, notebook kernels), so that two xdist workers
#: end together instead of one waiting on the other's last long test; a module's tests stay together.
LONGEST_FIRST = ["test_browser", "test_reader", "test_cluster", "test_sweep", "test_notebooks", "test_findings"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Order the tests longest module first. Under ``--dist loadgroup`` the tests marked ``xdist_group`` (the browser
    tests, which share one book build) must reach one worker; pytest 9.2 silently broke that in pytest-xdist 3.8, so
    say so instead of running slowly."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the order within a module stays
    if getattr(config.option, "loadgroup", False):
        lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if lost:
            raise pytest.UsageError(
                f"pytest-xdist did not group {len(lost)} tests marked xdist_group (e.g. {lost[0]}) under pytest "
                f"{pytest.__version__}: install the versions in requirements.lock")


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


@pytest.fixture(scope="session")
def pages_seen(browser, server) -> dict:
    """Every page of the book visited once in Chromium, with what the browser tests check (book_pages.seen)."""
    from book_pages import seen

    return seen(browser, server)
