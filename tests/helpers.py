"""What the tests share (imported as ``from helpers import ...``; conftest.py holds fixtures only)."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """What a command gave: its exit status and its output."""

    returncode: int
    stdout: str
    stderr: str
    args: tuple[str, ...] = ()


def cli(*args: str, check: bool = True) -> Result:
    """``energy-nb ARGS`` in this process (``energy_nb.cli.main``): the same parser, code and exit status as
    the installed command, without a Python start-up per call. argparse refusals exit 2, as from a shell."""
    from energy_nb.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
    res = Result(rc, out.getvalue(), err.getvalue(), args)
    if check and rc != 0:
        raise AssertionError(f"energy-nb {' '.join(args)} failed ({rc}):\n{res.stderr}")
    return res


def cli_process(*args: str, check: bool = True, env: dict[str, str] | None = None,
                timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m energy_nb ARGS`` in a new process: where the process itself is under test (start-up,
    imports, signals, exit status from a shell)."""
    proc = subprocess.run([sys.executable, "-m", "energy_nb", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"energy-nb {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def strict_json(text: str):
    """json.loads refusing NaN / Infinity, as a browser's JSON.parse does."""
    def refuse(c):
        raise ValueError(f"non-standard JSON constant {c}")
    return json.loads(text, parse_constant=refuse)


def measured(df) -> bool:
    """Every row of a CPU sweep was measured: ``ok``, or the error row that says CodeCarbon's CPU estimate could not
    tell the window from idle (on a shared 2-core machine the other test worker's load moves that estimate), and
    every row has a raw energy and a duration from a window that ran."""
    unresolved = df[df.status != "ok"]
    return bool(unresolved.status.str.contains("below what the meter resolves").all()
                and (df.energy_raw_j > 0).all() and (df.duration_s > 0).all())
