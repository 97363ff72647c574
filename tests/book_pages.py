"""One visit per page of the built book in headless Chromium, shared by the browser tests: everything they
check is collected in that visit (a page load costs seconds; the checks cost nothing)."""
from __future__ import annotations

from urllib.parse import urljoin

import yaml

from helpers import ROOT

#: What the browser tests read off every page, in one evaluation.
COLLECT = """() => {
  const vis = e => e.offsetParent !== null;
  const input = e => { const i = e.querySelector('.cell_input'); return i ? i.checkVisibility() : false; };
  return {
    imgs: [...document.images].map(e => [e.src, e.complete && e.naturalWidth > 0, e.naturalWidth]),
    hrefs: [...document.querySelectorAll('a[href]')].map(e => e.getAttribute('href')),
    math: document.querySelectorAll('div.math, span.math').length,
    cells: [...document.querySelectorAll('div.cell')].map(e => [e.className, !!e.querySelector('.cell_input'), input(e)]),
    folded: document.querySelectorAll('details.hide.above-input').length,
    bare_imgs: [...document.querySelectorAll('.cell_output img')].filter(e => !e.closest('figure.enb-figure')).length,
    bare_tables: [...document.querySelectorAll('.cell_output table')]
        .filter(e => !e.closest('figure.enb-result, .enb-calc-root')).length,
    row_labels: document.querySelectorAll('.cell_output table tbody th').length,
    heads: [...document.querySelectorAll('.cell_output table th')].map(e => e.innerText.trim()),
    results: [...document.querySelectorAll('figure.enb-result')].map(r => ({
      caption: (r.querySelector('figcaption') || {innerText: ''}).innerText.trim(),
      sources: r.querySelectorAll('.enb-source').length,
      by: (r.querySelector('.enb-source code') || {innerText: ''}).innerText,
      provenance: [...r.querySelectorAll('.enb-source a')].filter(a => a.innerText.includes('Data and provenance')).length,
      anchors: [...r.querySelectorAll(".enb-source a[href*='#']")].map(a => a.getAttribute('href')),
      table: !!r.querySelector('table'),
      csv: (r.querySelector('a.enb-csv') || {getAttribute: () => null}).getAttribute('href'),
      rows: r.querySelectorAll('table tbody tr').length,
    })),
    figs: [...document.querySelectorAll('figure.enb-figure img')].map(e => ({
      natural: e.naturalWidth, shown: e.getBoundingClientRect().width, pt: parseFloat(e.dataset.fontPt),
      dpi: parseFloat(e.dataset.dpi), per_row: parseInt(e.dataset.panelsPerRow),
      overlaps: parseInt(e.dataset.tickOverlaps), alt: e.alt.slice(0, 70)})),
    sources: [...document.querySelectorAll('figure.enb-result')].map(r => ({
      caption: (r.querySelector('figcaption') || {innerText: ''}).innerText.trim(),
      files: [...r.querySelectorAll('.enb-source details.enb-files a code')].map(c => c.textContent.trim())})),
    ipynb: [...document.querySelectorAll('a.enb-ipynb')].map(a => a.getAttribute('href')),
    wide: [...document.querySelectorAll('main .cell_output, main pre, main .enb-table-wrap, main figure')]
        .filter(e => vis(e) && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth),
    doc_wide: document.documentElement.scrollWidth > document.documentElement.clientWidth + 1,
  };
}"""


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [c["file"] for c in part["chapters"]]
    return pages


def visit(browser, url):
    """Open ``url``; console errors, page errors and failed resources (with their URL) go to ``errors``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(f"{m.text} [{m.location.get('url', '')}]")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors


def seen(browser, server) -> dict[str, dict]:
    """Every table-of-contents page visited once: what :data:`COLLECT` reads, the page's errors (after its
    math is typeset) and its URL."""
    out = {}
    for doc in toc_pages():
        page, errors = visit(browser, urljoin(server, doc + ".html"))
        data = page.evaluate(COLLECT)
        if data["math"]:
            page.wait_for_selector("mjx-container", timeout=15000)
        data["mathjax"] = page.locator("mjx-container").count()
        data["errors"] = list(errors)
        data["url"] = page.url
        out[doc] = data
        page.close()
    return out
