"""Editing the analysis interactively, as a reader would: JupyterLab (``energy-nb lab``, what ``make lab`` runs) on a
copy of the notebooks, in real Chromium. Open a page's ``.md``, run it, change its parameters cell by typing,
run it again, see the output follow, save, and check the ``.md`` holds the edit and still runs under papermill."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("lab")]

PAGE = "notebooks/energy_tables.md"
TOKEN = "energy-nb-test-token"
EDIT = 'models = ["flux"]\ndata = None'


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ (the edit must not touch the repository), shut down cleanly."""
    from energy_nb.book.lab import command, free_port

    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    home = root / ".home"
    env = dict(os.environ, JUPYTER_TOKEN=TOKEN, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"))
    port = free_port()
    log = open(root / "lab.log", "w")
    cmd = [sys.executable, "-m", "energy_nb", "lab", "--root", str(root), "--port", str(port), "--",
           "--LabApp.expose_app_in_browser=True"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            _get(f"{url}/api/status?token={TOKEN}")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    assert command(root, port)[1:3] == ["-m", "jupyterlab"]
    yield url, root
    req = urllib.request.Request(f"{url}/api/shutdown?token={TOKEN}", method="POST")
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except OSError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        pytest.fail("JupyterLab did not shut down within 30 s of /api/shutdown")
    finally:
        log.close()


STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = [];
  for (const c of w.content.model.cells) {
    if (c.type !== "code") continue;
    const outs = c.outputs.toJSON();
    cells.push({count: c.executionCount, errors: outs.filter(o => o.output_type === "error").length,
                tags: c.getMetadata("tags") || [], source: c.sharedModel.getSource()});
  }
  return {cells: cells, busy: w.sessionContext.session?.kernel?.status !== "idle"};
}"""


def _run_all(page) -> dict:
    """Run every cell (the command behind Run > Run All Cells) and wait until each has run and the kernel is idle."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        state = page.evaluate(STATE)
        if not state["busy"] and all(c["count"] for c in state["cells"]):
            return state
    pytest.fail(f"the notebook did not finish running in 120 s: {state}")


def _headings(page) -> list[str]:
    return [h.strip() for h in page.locator(".jp-OutputArea-output h3").all_inner_texts()]


def test_edit_a_parameter_in_jupyterlab_run_save_and_rerun_with_papermill(browser, lab):
    url, root = lab
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/lab/tree/{PAGE}?token={TOKEN}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)  # a notebook, not a text editor
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status"
                           " === 'idle'", timeout=60_000)
    before = _run_all(page)
    params = [i for i, c in enumerate(before["cells"]) if "parameters" in c["tags"]]
    assert len(params) == 1, "one parameters cell, as papermill expects"
    assert not any(c["errors"] for c in before["cells"])
    shown = _headings(page)
    assert len(shown) == 4 and any("Flux" in h for h in shown), shown

    # type the new parameters into the cell's editor, as a reader would
    editor = page.locator(".jp-Notebook .jp-CodeCell").nth(params[0]).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(EDIT)
    page.keyboard.press("Escape")
    after = _run_all(page)
    assert after["cells"][params[0]]["source"] == EDIT
    assert not any(c["errors"] for c in after["cells"]), after
    shown = _headings(page)
    assert len(shown) == 1 and "Flux" in shown[0], shown

    page.keyboard.press("Control+s")
    path = root / PAGE
    deadline = time.monotonic() + 20
    while EDIT not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.25)
    text = path.read_text()
    assert EDIT in text and ":tags: [parameters]" in text and "format_name: myst" in text
    assert not (root / PAGE).with_suffix(".ipynb").exists(), "saving writes the .md, no .ipynb"
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "lab-edited-notebook.png"))
    assert not errors, errors
    page.close()

    # the saved page still runs under papermill, through the documented pipe
    out = root / "out.ipynb"
    bin_dir = Path(sys.executable).parent
    pipe = (f"{bin_dir / 'jupytext'} --to ipynb -o - {path} | "
            f"{bin_dir / 'papermill'} - {out} --cwd {path.parent} --no-progress-bar")
    subprocess.run(pipe, shell=True, check=True, cwd=root, timeout=180, capture_output=True)
    nb = json.loads(out.read_text())
    md = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "Flux" in md and "SD 2" not in md
