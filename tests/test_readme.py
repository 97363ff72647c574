"""Every command of the README's ``bash`` blocks, run as a new user would: for real where this machine can, with
``--dry-run`` where it needs GPUs or Slurm, ``make -n`` for a make target, papermill's prepare-only for a notebook
(test_notebooks.py and the book build execute every notebook already), and the few it cannot run named here with
the reason. The commands write only to the ignored ``out/`` (and ``_build/runs``), never to a tracked file."""
from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from energy_nb.book import notebooks
from helpers import ROOT, Result, cli

pytestmark = pytest.mark.xdist_group("readme")  # in README order, on one worker: the calibrate block builds on itself

#: Commands (by their start) that cannot run here, and why: each must still be in the README.
CANNOT = {
    ".venv/bin/energy-nb sweep status runs/paper": "reads the folder of the Slurm sweep above, which runs on a cluster",
    ".venv/bin/energy-nb sweep merge runs/paper": "merges the shards of the Slurm sweep above",
    "bash benchmarks/fetch_gpu_wheels.sh": "downloads the GPU machine's wheels (several GB)",
    "bash benchmarks/gpu_campaign.sh": "measures on the lent GPU machine",
}
#: Commands that need GPUs or a cluster: run with --dry-run (the grid, shards and options are checked).
DRY = ("--device cuda", "--executor slurm")
#: Commands that execute a notebook. tests/test_notebooks.py runs every notebook under papermill and the book build
#: executes every page, so here papermill only prepares it: the notebook is found, the parameters are parsed, checked
#: and injected, the .ipynb is written where the README says; no kernel starts.
NOTEBOOK = re.compile(r"energy[-_]nb run |\|\s*\S*papermill ")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines, current = [], ""
        for raw in block.splitlines():
            current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") else raw
            if not raw.rstrip().endswith("\\"):
                lines.append(current)
                current = ""
        for line in lines:
            cmd = _strip_comment(line).strip()
            if cmd:
                out.append(" ".join(cmd.split()) if "|" not in cmd and '"' not in cmd else cmd)
    return out


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def main_module(*args: str) -> Result:
    """``python -m energy_nb ARGS`` in this process: ``energy_nb/__main__.py`` run as ``__main__``."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["energy_nb", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_module("energy_nb", run_name="__main__", alter_sys=True)
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
    return Result(rc, out.getvalue(), err.getvalue(), args)


#: The installed command and ``python -m``, run in this process (a Python start-up less per command).
ENTRY_POINTS = {".venv/bin/energy-nb": functools.partial(cli, check=False), ".venv/bin/python -m energy_nb": main_module}


def notebook_run(command: str) -> tuple[str, Path, set[str]]:
    """A README notebook command's notebook, the .ipynb it writes and the names of the parameters it sets."""
    words = shlex.split(command)
    if "|" in words:  # jupytext ... NOTEBOOK | papermill - OUT ... -y YAML
        out = words[next(i for i, w in enumerate(words) if w.endswith("/papermill")) + 2]
        return words[words.index("|") - 1], ROOT / out, set(yaml.safe_load(words[words.index("-y") + 1]))
    name = words[words.index("run") + 1]
    names = {words[i + 1] for i, w in enumerate(words) if w == "-p"}
    if "--smoke" in words:
        names |= set(notebooks.smoke_parameters(name))
    out = words[words.index("-o") + 1] if "-o" in words else f"_build/runs/{Path(name).stem}.ipynb"
    return name, ROOT / out, names


def prepared_parameters(path: Path) -> str:
    """The parameters cell papermill injected into ``path``, a notebook prepared, not executed."""
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path} was executed"
    cells = [c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert cells, f"{path}: papermill injected no parameters"
    return cells[0]


COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("readme-user")


def test_every_command_the_readme_cannot_run_here_is_in_it():
    for start in CANNOT:
        assert any(c.startswith(start) for c in COMMANDS), f"{start!r} is no longer in the README: drop it from CANNOT"
    assert len(COMMANDS) >= 30


def test_no_readme_command_writes_to_a_tracked_file():
    tracked = {p.split("/")[0] for p in subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                                                        text=True).stdout.split()}
    for c in COMMANDS:
        for target in re.findall(r"(?:--out|-o|--into)\s+(\S+)", c):
            assert target.split("/")[0] not in tracked - {"out"} or target.startswith(("runs/", "out/")), (c, target)
        assert "data/measurements" not in c and "--set-formats ipynb,md:myst notebooks" not in c, c


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[c[:60] for c in COMMANDS])
def test_readme_command_runs(command, user_dir, monkeypatch):
    if any(command.startswith(s) for s in CANNOT):
        pytest.skip(CANNOT[next(s for s in CANNOT if command.startswith(s))])
    if command.startswith("make "):
        command = command.replace("make ", "make -n ", 1)  # what it would run, checked to exist
    elif any(flag in command for flag in DRY):
        command += " --dry-run"
    (ROOT / "out").mkdir(exist_ok=True)
    notebook = NOTEBOOK.search(command)
    if notebook:
        name, out, names = notebook_run(command)
        assert names <= set(notebooks.parameters_of(name)), f"{command}: not parameters of {name}"  # papermill adds them
        out.unlink(missing_ok=True)
        if "papermill" in notebook.group():
            command += " --prepare-only"
        else:
            import papermill

            monkeypatch.setattr(papermill, "execute_notebook",
                                functools.partial(papermill.execute_notebook, prepare_only=True))
    entry = next((e for e in ENTRY_POINTS if command.startswith(e + " ")), None)
    if entry and not re.search(r"[|&;<>]", command):
        monkeypatch.setenv("ENERGY_NB_USER_DIR", str(user_dir))
        monkeypatch.chdir(ROOT)
        res = ENTRY_POINTS[entry](*shlex.split(command)[len(entry.split()):])
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
    else:
        env = dict(os.environ, ENERGY_NB_USER_DIR=str(user_dir))
        p = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=ROOT, capture_output=True, text=True,
                           env=env, timeout=300)
        assert p.returncode == 0, f"{command}\n{p.stderr[-3000:]}"
        assert "Traceback" not in p.stderr, p.stderr[-3000:]
    if notebook:
        source = prepared_parameters(out)
        assert names and all(re.search(rf"^{n} = ", source, re.M) for n in names), (names, source)
