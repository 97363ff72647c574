"""Every command of the README's ``bash`` blocks, run as a new user would: for real where this machine can, with
``--dry-run`` where it needs GPUs or Slurm, ``make -n`` for a make target, and the few it cannot run named here with
the reason. The commands write only to the ignored ``out/`` (and ``_build/runs``), never to a tracked file."""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from helpers import ROOT, cli

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
    if command.startswith(".venv/bin/energy-nb ") and not re.search(r"[|&;<>]", command):
        # the installed command's own entry point, in this process (a Python start-up less per command)
        monkeypatch.setenv("ENERGY_NB_USER_DIR", str(user_dir))
        res = cli(*shlex.split(command)[1:], check=False)
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
        return
    env = dict(os.environ, ENERGY_NB_USER_DIR=str(user_dir))
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, f"{command}\n{p.stderr[-3000:]}"
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
