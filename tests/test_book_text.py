"""What a reader sees in the built book's text: no pandas dtype names or ``nan`` in outputs, no unrendered ``$...$``,
no count printed as a float, no heading that shows a record's raw source tag, and no per-run joules labelled per
image (issue 41). Reads ``_build/html`` (the book is built once per session, as for the browser tests)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from book_pages import toc_pages

pytestmark = pytest.mark.browser


class _Text(HTMLParser):
    """Visible text of a page's outputs and headings, and its tables as header + rows (code, scripts and styles
    skipped)."""

    SKIP = {"script", "style", "code", "pre", "svg"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.skip = 0
        self.out = 0
        self.outputs: list[str] = []
        self.headings: list[str] = []
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._td = False
        self._heading: list[str] | None = None
        self._caption: list[str] | None = None
        self._last_caption = ""

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class", "") or ""
        if tag in self.SKIP:
            self.skip += 1
        if "cell_output" in cls.split():
            self.out = len(self.stack) + 1
        self.stack.append(tag)
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = []
        elif tag == "figcaption":
            self._caption = []
        elif tag == "table":
            self.tables.append(dict(head=[], rows=[], caption=self._last_caption))
        elif tag == "tr":
            self._row, self._td = [], False
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(self.skip - 1, 0)
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "figcaption" and self._caption is not None:
            self._last_caption = "".join(self._caption).strip()
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._td = self._td or tag == "td"
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            t = self.tables[-1]
            if not t["head"] and not self._td:
                t["head"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        if self.stack:
            self.stack.pop()
        if self.out and len(self.stack) < self.out:
            self.out = 0

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self._caption is not None:
            self._caption.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.out and not self.skip:
            self.outputs.append(data)


@pytest.fixture(scope="module")
def pages(built_book) -> dict[str, _Text]:
    out = {}
    for doc in toc_pages():
        p = _Text()
        p.feed((built_book / f"{doc}.html").read_text())
        out[doc] = p
    return out


def test_outputs_show_no_dtype_names_nan_or_raw_math(pages):
    bad = []
    for doc, p in pages.items():
        text = " ".join(p.outputs)
        for pat, what in ((r"\b(float64|int64|Int64|object)\b", "a pandas dtype name"),
                          (r"(?<![\w.])nan(?![\w])", "nan"), (r"\$[^$\s][^$]{0,80}\$", "unrendered math")):
            bad += [f"{doc}: {what}: ...{text[max(m.start() - 40, 0):m.end() + 20]}..." for m in re.finditer(pat, text)]
    assert not bad, "\n".join(bad[:20])


def test_headings_show_no_raw_source_tags(pages):
    bad = [f"{doc}: {h}" for doc, p in pages.items() for h in p.headings if "(paper:" in h]
    assert not bad, bad


def test_counts_are_whole_numbers(pages):
    bad = []
    for doc, p in pages.items():
        for t in p.tables:
            cols = [i for i, h in enumerate(t["head"])  # a count's column: not a share (%) or a factor (x)
                    if re.search(r"\brows\b|\bcounts?\b|\bpairs\b|\bgroups\b|\bfiles\b", h) and not re.search(r"%|\(x\)", h)]
            for r in t["rows"]:
                bad += [f"{doc}: {t['head'][i]} = {r[i]}" for i in cols
                        if i < len(r) and re.fullmatch(r"-?\d[\d,]*\.\d+", r[i])]
    assert not bad, bad[:20]


def test_joules_per_image_are_per_image(pages):
    """A column or caption that says joules per image holds per-image magnitudes: at most twice the largest per-image
    energy of any shipped record (per-run energies of 100 prompts are a hundred times larger)."""
    from energy_nb.data.shipped import law_data

    d = law_data()
    top = 2 * float((d["energy_j"] / d["n_prompts"]).max())
    bad = []
    for doc, p in pages.items():
        for t in p.tables:
            per_image = "per image" in t["caption"] and "(J)" in t["caption"]
            for i, h in enumerate(t["head"]):
                if not (re.search(r"J per image|J/image", h) or (per_image and h.endswith("(J)"))):
                    continue
                for r in t["rows"]:
                    v = r[i].replace(",", "") if i < len(r) else ""
                    if re.fullmatch(r"-?\d+(\.\d+)?", v) and abs(float(v)) > top:
                        bad.append(f"{doc}: {h} = {r[i]} (> {top:,.0f} J, the largest per-image record x 2)")
    assert not bad, bad[:20]
