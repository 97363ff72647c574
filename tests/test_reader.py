"""The book as a reader meets it, in headless Chromium at 1280 px: findings first, code folded, every
table and figure captioned with a source line and a download, nothing scrolling sideways, and the
calculator on the planning page giving the command line's numbers (also from file://)."""
import base64
import io
import json
from urllib.parse import unquote, urljoin, urlparse

import pandas as pd
import pytest

from book_pages import toc_pages
from book_pages import visit as _visit
from helpers import ROOT, cli

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("book")]

NOTEBOOK_PAGES = [d for d in toc_pages() if d.startswith("notebooks/")]
#: Pages whose code is the content (how to call the package): shown, not folded.
CODE_PAGES = {"notebooks/python_api"}
#: Raw column names that must never reach a header.
RAW_HEADERS = {"mape_pct", "r2_log", "energy_j", "per_image_j", "wh_per_image", "r2_linear", "mae_j", "n_prompts",
               "energy_pred_j", "g_per_kwh", "saving_pct", "inner_score_pct", "index", "level_0"}
SHOTS = ROOT / "_build" / "screenshots"


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=False)
    assert (SHOTS / name).stat().st_size > 10_000


def test_front_page_opens_with_computed_findings(browser, server):
    page, errors = _visit(browser, urljoin(server, "book/intro.html"))
    items = page.locator("ol.enb-findings li")
    assert items.count() == 9  # every finding (test_findings fixes their keys) reaches the page
    first_h2 = page.locator("article.bd-article h2").first.inner_text()
    assert "Key findings" in first_h2, "the findings come before every other section"
    for i in range(items.count()):
        li = items.nth(i)
        assert li.locator("b.enb-number").count() >= 1, li.inner_text()
        href = li.locator("a").last.get_attribute("href")
        target = urlparse(urljoin(page.url, href)).path
        assert (ROOT / "_build" / "html" / target.lstrip("/")).exists(), href
    assert page.locator("figure.enb-figure img").count() == 1, "one headline figure"
    _shot(page, "reader-front-page.png")
    assert not errors, errors
    page.close()


def test_code_folded_parameters_shown(pages_seen):
    for doc in NOTEBOOK_PAGES:
        seen = pages_seen[doc]
        cells = seen["cells"]
        params = [c for c in cells if "tag_parameters" in c[0]]
        assert len(params) == 1 and params[0][2], f"{doc}: the parameters cell is shown"
        shown = [c[0] for c in cells if c[1] and c[2] and "tag_parameters" not in c[0]]
        if doc in CODE_PAGES:
            assert shown, f"{doc}: its calls must be shown"
        else:
            assert not shown, f"{doc}: code cells shown unfolded: {shown}"
        assert seen["folded"] >= 1, f"{doc}: no folded code"


def test_tables_and_figures_are_captioned_sourced_and_downloadable(pages_seen):
    html_root = ROOT / "_build" / "html"
    for doc in NOTEBOOK_PAGES:
        seen = pages_seen[doc]
        assert seen["bare_imgs"] == 0, f"{doc}: {seen['bare_imgs']} figure(s) without caption"
        assert seen["bare_tables"] == 0, f"{doc}: {seen['bare_tables']} table(s) outside the book's table format"
        assert seen["row_labels"] == 0, f"{doc}: tables show row labels/numbers"
        assert not set(seen["heads"]) & RAW_HEADERS, f"{doc}: raw headers {set(seen['heads']) & RAW_HEADERS}"
        for i, r in enumerate(seen["results"]):
            assert r["caption"], f"{doc}: result {i} has no caption"
            assert r["sources"] == 1 and r["by"].startswith("energy_nb."), f"{doc}: result {i}"
            assert r["provenance"] == 1, f"{doc}: result {i} has no link to the provenance page"
            for href in r["anchors"]:
                target, anchor = urlparse(urljoin(seen["url"], href)).path, urlparse(href).fragment
                html = (html_root / target.lstrip("/")).read_text()
                assert f'id="{anchor}"' in html, f"{doc}: source link {href} has no target"
            if r["table"]:
                assert r["csv"].startswith("data:text/csv;base64,")
                csv = pd.read_csv(io.StringIO(base64.b64decode(r["csv"].split(",", 1)[1]).decode()))
                assert len(csv) == r["rows"], f"{doc}: CSV rows differ from the table"
        assert len(seen["ipynb"]) == 1, f"{doc}: no notebook download"
        path = urlparse(urljoin(seen["url"], seen["ipynb"][0])).path
        ipynb = json.loads((html_root / unquote(path).lstrip("/")).read_text())
        tags = [c.get("metadata", {}).get("tags", []) for c in ipynb["cells"] if c["cell_type"] == "code"]
        assert any("parameters" in t for t in tags), f"{doc}: the downloaded notebook has no parameters cell"
        outputs = sum(len(c.get("outputs", [])) for c in ipynb["cells"] if c["cell_type"] == "code")
        assert outputs > 0, f"{doc}: the downloaded notebook has no outputs (the executed notebook is expected)"


def test_nothing_scrolls_sideways_at_1280(pages_seen):
    for doc, seen in pages_seen.items():
        assert not seen["wide"], f"{doc}: scrolls sideways: {seen['wide'][:5]}"
        assert not seen["doc_wide"], f"{doc}: the page scrolls sideways"


#: Configurations the calculator must answer exactly as `energy-nb plan` does (--law auto).
CALC_CASES = [
    dict(model="flux", gpu="A100", resolution=1024, steps=30, dtype="fp16", cfg=1, batch=1, images=100000, intensity=400),
    dict(model="sd2", gpu="H100", resolution=512, steps=25, dtype="fp32", cfg=0, batch=1, images=5e5, intensity=56),
    dict(model="sdxl", gpu="A100", resolution=1024, steps=40, dtype="fp16", cfg=1, batch=4, images=1e4, intensity=475),
    dict(model="pixart-sigma", gpu="H100", resolution=1024, steps=20, dtype="bf16", cfg=1, batch=1, images=2e6, intensity=120),
    dict(model="sana15-1.6b", gpu="B200", resolution=1024, steps=20, dtype="bf16", cfg=1, batch=8, images=1e6, intensity=300),
    dict(model="qwen", gpu="B200", resolution=512, steps=50, dtype="fp16", cfg=1, batch=2, images=3e3, intensity=700),
    dict(model="sd3m", gpu="L40S", resolution=1024, steps=28, dtype="fp16", cfg=1, batch=4, images=3e3, intensity=700),
]
PLAN_KEYS = ["wh_per_image", "wh_per_image_low", "wh_per_image_high", "net_wh_per_image", "net_wh_per_image_low",
             "net_wh_per_image_high", "gross_wh_per_image", "gpus_needed", "kwh_per_day", "mwh_per_year",
             "g_co2e_per_image", "t_co2e_per_year", "t_co2e_per_year_low", "t_co2e_per_year_high"]


def _fill(page, case: dict) -> dict:
    page.select_option("#enb-calc select[name=model]", case["model"])
    for name in ("gpu", "resolution", "dtype", "cfg", "batch"):
        page.select_option(f"#enb-calc select[name={name}]", str(case[name]))
    for name in ("steps", "images", "intensity"):
        page.fill(f"#enb-calc input[name={name}]", str(case[name]))
    out = {}
    for td in page.locator("#enb-calc-out [data-value]").all():
        out[td.get_attribute("data-out")] = float(td.get_attribute("data-value"))
    out["law"] = page.locator("#enb-calc-out code[data-out=law]").inner_text()
    text = page.locator("#enb-calc-out [data-out=extrapolation]").inner_text()
    out["extrapolation"] = text
    return out


def _plan(case: dict) -> dict:
    args = ["plan", "--model", case["model"], "--gpu", case["gpu"], "--height", str(case["resolution"]),
            "--width", str(case["resolution"]), "--steps", str(case["steps"]), "--dtype", case["dtype"],
            "--batch-size", str(case["batch"]), "--images-per-day", str(case["images"]),
            "--carbon-intensity", str(case["intensity"]), "--json"] + (["--cfg"] if case["cfg"] else [])
    return json.loads(cli(*args).stdout)["workload"][0]


@pytest.mark.parametrize("where", ["http", "file"])
def test_calculator_matches_the_command_line(browser, server, where, built_book):
    url = urljoin(server, "notebooks/planning.html") if where == "http" else (built_book / "notebooks" / "planning.html").as_uri()
    page, errors = _visit(browser, url)
    page.locator("#enb-calc").scroll_into_view_if_needed()
    cases = CALC_CASES if where == "http" else CALC_CASES[:2]
    for case in cases:
        got, want = _fill(page, case), _plan(case)
        for k in PLAN_KEYS:
            assert got[k] == pytest.approx(want[k], rel=1e-6), (case, k, got[k], want[k])
        assert got["law"] == want["law"].split(" (")[0] or got["law"] == want["law"], (got["law"], want["law"])
        for reason in want["extrapolation"]:
            assert reason in got["extrapolation"], (case, reason, got["extrapolation"])
        if not want["extrapolation"]:
            assert got["extrapolation"] == ""
    if where == "http":
        _fill(page, CALC_CASES[0])
        page.locator("#enb-calc").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('#enb-calc').scrollIntoView({block: 'start'})")
        _shot(page, "reader-calculator.png")
    assert not errors, errors
    page.close()


def test_calculator_says_what_it_cannot_answer(browser, server):
    page, errors = _visit(browser, urljoin(server, "notebooks/planning.html"))
    page.select_option("#enb-calc select[name=model]", "sdxl")
    page.select_option("#enb-calc select[name=gpu]", "A100")
    page.select_option("#enb-calc select[name=resolution]", "1024")
    page.select_option("#enb-calc select[name=dtype]", "fp32")  # priced (the fp32 factor), and says it extrapolates
    said = page.locator("#enb-calc-out").inner_text()
    assert "dtype fp32 is not in the law's data" in said, said
    page.select_option("#enb-calc select[name=model]", "qwen")
    page.select_option("#enb-calc select[name=gpu]", "L40S")  # about 54 GB of weights on a 48 GB card
    assert "does not fit on L40S" in page.locator("#enb-calc-out [data-out=error]").inner_text()
    page.select_option("#enb-calc select[name=model]", "sdxl")
    page.select_option("#enb-calc select[name=gpu]", "A100")
    page.select_option("#enb-calc select[name=dtype]", "fp16")
    page.fill("#enb-calc input[name=steps]", "0")
    page.select_option("#enb-calc select[name=dtype]", "fp16")
    assert "steps" in page.locator("#enb-calc-out [data-out=error]").inner_text()
    assert not errors, errors
    page.close()


def test_results_page_screenshot(browser, server):
    page, errors = _visit(browser, urljoin(server, "notebooks/within_model.html"))
    _shot(page, "reader-results-page.png")
    assert not errors, errors
    page.close()
