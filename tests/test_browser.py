"""The built book in headless Chromium: every TOC page loads cleanly, images render, math is typeset,
internal links resolve; a screenshot of the front page goes to _build/screenshots/."""
from urllib.parse import urljoin, urlparse

import pytest
import yaml

from helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [c["file"] for c in part["chapters"]]
    return pages


def _visit(browser, url):
    """Open ``url``; console errors, page errors and failed resources (with their URL) go to ``errors``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(f"{m.text} [{m.location.get('url', '')}]") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors


def test_every_toc_page(browser, server, built_book):
    broken_links = []
    for doc in toc_pages():
        url = urljoin(server, doc + ".html")
        page, errors = _visit(browser, url)
        assert not errors, f"{doc}: console errors {errors}"
        imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
        assert all(ok for _, ok in imgs), f"{doc}: broken images {[s for s, ok in imgs if not ok]}"
        if page.locator("div.math, span.math").count():
            page.wait_for_selector("mjx-container", timeout=15000)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        for h in hrefs:
            if h.startswith(("http:", "https:", "mailto:", "#", "javascript:", "data:")):
                continue
            target = urlparse(urljoin(url, h)).path
            f = built_book / target.lstrip("/")
            if target.endswith("/"):
                f = f / "index.html"
            if not f.exists():
                broken_links.append((doc, h))
        page.close()
    assert not broken_links, broken_links


#: Pages that must show at least this many figures.
FIGURES = {"notebooks/flops": 1, "notebooks/within_model": 1, "notebooks/cross_model": 1,
           "notebooks/cross_architecture": 1, "notebooks/unet": 1, "notebooks/hyperparameters": 1,
           "notebooks/measurement": 2, "notebooks/planning": 3, "notebooks/transfer": 2,
           "notebooks/independent": 4, "notebooks/beyond": 3}


def test_figure_pages_show_their_figures(browser, server):
    for doc, n in FIGURES.items():
        page, errors = _visit(browser, urljoin(server, doc + ".html"))
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert sum(w > 100 for w in widths) >= n, f"{doc}: expected {n} figure(s), found widths {widths}"
        page.close()


def test_math_typeset_on_methodology(browser, server):
    page, errors = _visit(browser, urljoin(server, "book/methodology.html"))
    page.wait_for_selector("mjx-container", timeout=15000)
    assert page.locator("mjx-container").count() >= 5
    assert not errors, errors
    page.close()


def test_front_page_screenshot_and_build_info(browser, server):
    page, errors = _visit(browser, server)  # index.html redirects to the front page
    page.wait_for_url("**/book/intro.html")
    text = page.inner_text("body")
    assert "git commit" in text and "torch 2.13.0" in text
    out = ROOT / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "front-page.png"), full_page=True)
    assert (out / "front-page.png").stat().st_size > 10_000
    assert not errors, errors
    page.close()


def test_root_favicon_exists(built_book):
    """The root redirect page has no icon link: browsers ask for /favicon.ico (the cause of a flaky 404)."""
    assert (built_book / "favicon.ico").stat().st_size > 0


def test_opens_from_file_url(browser, built_book):
    page, errors = _visit(browser, (built_book / "book" / "methodology.html").as_uri())
    page.wait_for_selector("mjx-container", timeout=15000)
    assert not errors, errors
    page.close()
