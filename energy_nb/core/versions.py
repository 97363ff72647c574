"""What built this: energy_nb's version, the git commit and package versions (shown on the book's front page)."""
from __future__ import annotations

from . import paths

__version__ = "0.2.0"

PACKAGES = ("torch", "diffusers", "transformers", "codecarbon", "pandas", "statsmodels", "matplotlib",
            "jupyter-book", "papermill", "jupytext")


def git_commit() -> str:
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def package_versions() -> dict[str, str]:
    """Versions of the packages the book's front page lists ("not installed" for a missing one)."""
    return library_versions(PACKAGES, missing="not installed")


def library_versions(names: tuple[str, ...] = ("torch", "diffusers", "transformers"),
                     missing: str = "absent") -> dict[str, str]:
    """Installed versions of ``names`` without importing them (``missing`` when not installed)."""
    from importlib import metadata

    out = {}
    for lib in names:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = missing
    return out
