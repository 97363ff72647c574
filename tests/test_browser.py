"""The built book in headless Chromium: every TOC page loads cleanly, images render, math is typeset,
internal links resolve; a screenshot of the front page goes to _build/screenshots/."""
from urllib.parse import urljoin, urlparse

import pytest

from book_pages import visit as _visit
from helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("book")]


def test_every_toc_page(pages_seen, built_book):
    broken_links = []
    for doc, seen in pages_seen.items():
        assert not seen["errors"], f"{doc}: console errors {seen['errors']}"
        assert all(ok for _, ok, _ in seen["imgs"]), f"{doc}: broken images {[s for s, ok, _ in seen['imgs'] if not ok]}"
        if seen["math"]:
            assert seen["mathjax"], f"{doc}: math not typeset"
        for h in seen["hrefs"]:
            if h.startswith(("http:", "https:", "mailto:", "#", "javascript:", "data:")):
                continue
            target = urlparse(urljoin(seen["url"], h)).path
            f = built_book / target.lstrip("/")
            if target.endswith("/"):
                f = f / "index.html"
            if not f.exists():
                broken_links.append((doc, h))
    assert not broken_links, broken_links


#: Pages that must show at least this many figures.
FIGURES = {"notebooks/flops": 1, "notebooks/within_model": 1, "notebooks/cross_model": 1,
           "notebooks/cross_architecture": 1, "notebooks/unet": 1, "notebooks/hyperparameters": 1,
           "notebooks/measurement": 2, "notebooks/planning": 3, "notebooks/transfer": 2,
           "notebooks/independent": 4, "notebooks/beyond": 3, "notebooks/parallel": 1, "notebooks/coverage": 1,
           "notebooks/python_api": 1}


def test_figure_pages_show_their_figures(pages_seen):
    for doc, n in FIGURES.items():
        widths = [w for _, _, w in pages_seen[doc]["imgs"]]
        assert sum(w > 100 for w in widths) >= n, f"{doc}: expected {n} figure(s), found widths {widths}"


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


#: The smallest text a figure may show, in points as displayed, and the most panels side by side
#: (the book's figure style: energy_nb.book.style).
MIN_SHOWN_PT, MAX_PER_ROW = 8.0, 3


def test_figures_readable_at_the_page_width(pages_seen):
    """Every figure's smallest text, as the browser shows it (its size in points x its dpi x the shown over the natural
    width, in CSS points of 1/96 in x 72), is at least 8 pt, with at most three panels per row and no tick label over
    its neighbour."""
    bad = []
    for doc, seen in pages_seen.items():
        for f in seen["figs"]:
            assert f["natural"] > 0 and f["pt"] == f["pt"], f"{doc}: figure without its measured size: {f['alt']}"
            shown_pt = f["pt"] * f["dpi"] / 96 * f["shown"] / f["natural"]
            if shown_pt < MIN_SHOWN_PT - 0.05 or f["per_row"] > MAX_PER_ROW or f["overlaps"] != 0:
                bad.append(f"{doc}: {f['alt']!r}: text {shown_pt:.1f} pt as shown ({f['pt']:g} pt drawn, "
                           f"{f['natural']} px shown at {f['shown']:.0f}), {f['per_row']} panels per row, "
                           f"{f['overlaps']} overlapping tick labels")
    assert not bad, "\n".join(bad)


def test_figures_enlarge_on_click(browser, server):
    page, errors = _visit(browser, server + "notebooks/within_model.html")
    img = page.locator("figure.enb-figure img").first
    img.click()
    big = page.locator(".enb-zoom img")
    assert big.count() == 1
    natural = img.evaluate("e => e.naturalWidth")
    assert abs(big.evaluate("e => e.getBoundingClientRect().width") - natural) <= 1  # at its own size
    page.keyboard.press("Escape")
    assert page.locator(".enb-zoom").count() == 0
    assert not errors, errors
    page.close()


def test_sources_name_only_the_files_read(pages_seen):
    """Table 1 is refitted from the paper's A100 tables beside its published parameters: its source names those,
    not the GPU measurements or ML.ENERGY's records the page never used for it."""
    sources = pages_seen["notebooks/within_model"]["sources"]
    t1 = next(s for s in sources if s["caption"].startswith("Table 1 refitted"))
    assert "data/paper/a100_energy.csv" in t1["files"] and "data/paper/published_params.csv" in t1["files"], t1
    assert not [f for f in t1["files"] if "external" in f or "measurements" in f], t1
    every = {f for s in sources for f in s["files"]}
    assert "data/measurements/cpu-smoke.csv" not in every
