"""Citable and published (issue 41): CITATION.cff for the book and package, the version and commit in every page's
footer, repository and launch buttons only where the publishing workflow gives the repository's URL."""
from __future__ import annotations

from types import SimpleNamespace

import yaml

from energy_nb.book import sphinxext
from energy_nb.core.versions import __version__
from helpers import ROOT


def test_citation_file_names_this_version_and_the_paper():
    c = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert c["cff-version"] == "1.2.0" and c["version"] == __version__ and c["authors"]
    ids = [i["value"] for r in c["references"] for i in r.get("identifiers", [])]
    assert "arXiv:2511.17031" in ids and "arXiv:2505.06371" in ids


def _config(**theme):
    return SimpleNamespace(myst_substitutions={}, html_theme_options=dict(theme))


def test_every_page_footer_names_version_and_commit_and_buttons_follow_the_workflow(monkeypatch):
    monkeypatch.delenv(sphinxext.REPOSITORY_ENV, raising=False)
    local = _config(search_bar_text="x")
    sphinxext._inject(None, local)
    assert f"energy-nb {__version__}, commit" in local.html_theme_options["extra_footer"]
    assert local.myst_substitutions["energy_nb_version"] == __version__
    assert "repository_url" not in local.html_theme_options  # a local build: no button that would be broken
    monkeypatch.setenv(sphinxext.REPOSITORY_ENV, "https://github.com/someone/energy-nb/")
    published = _config()
    sphinxext._inject(None, published)
    t = published.html_theme_options
    assert t["repository_url"] == "https://github.com/someone/energy-nb" and t["use_issues_button"]
    assert t["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert f"{sphinxext.REPOSITORY_ENV}: ${{{{ github.server_url }}}}/${{{{ github.repository }}}}" in workflow
