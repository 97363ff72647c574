"""Sphinx extension: build-time substitutions for the book (git commit, package versions)."""
from __future__ import annotations

import datetime as _dt

from .versions import git_commit, package_versions


def _inject(app, config) -> None:
    subs = dict(config.myst_substitutions or {})
    subs["git_commit"] = git_commit()
    subs["build_date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subs["package_versions"] = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    config.myst_substitutions = subs


def setup(app):
    app.connect("config-inited", _inject, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
