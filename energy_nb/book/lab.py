"""JupyterLab on the notebooks: ``energy-nb lab`` (and ``make lab``).

The pages under ``notebooks/`` are jupytext MyST Markdown. JupyterLab with jupytext's extension (both in the
lock) opens them as notebooks; :data:`SETTINGS` (an ``overrides.json`` shipped with the package) makes the
*Jupytext Notebook* viewer the default for Markdown and MyST files, so a double click (or
``/lab/tree/notebooks/<page>.md``) gives a notebook whose ``parameters`` cell is the one papermill fills, and
saving writes the ``.md`` back. No ``.ipynb`` is written unless you pair one (``jupytext --set-formats``).
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

#: JupyterLab's application settings folder for this project: the default viewers of Markdown and MyST.
SETTINGS = Path(__file__).with_name("lab")


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(root: str | Path = ".", port: int | None = None, extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line: serving ``root`` on localhost ``port`` (a free one when None), no browser
    opened (the URL with its token is printed), the project's viewer settings; ``extra`` options are appended."""
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port or free_port()}",
            "--port-retries=0", f"--ServerApp.root_dir={Path(root).resolve()}",
            f"--LabApp.app_settings_dir={SETTINGS}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI run as root
    return args + list(extra or [])
