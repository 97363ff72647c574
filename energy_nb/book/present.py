"""How the book shows a result: every table and figure goes through :func:`table` or :func:`figure`.

Each one is rendered as one HTML ``<figure>`` element that carries

- a caption (``<figcaption>``);
- for a table: readable headers with units (:data:`LABELS`), rounded numbers and no row numbers;
- a source line: the ``energy_nb`` function that made it and the data files it read, each with the
  first characters of its sha256 and a link to its row on the *Data and provenance* page;
- for a table, a download of the full-precision values as CSV (a ``data:`` link, so it works from
  ``file://`` and without a server).

The data files are those the result was made from (:mod:`.cells`: the files read by the cell that shows it and
those behind the variables it uses, cell by cell). Pass ``data=`` to name them explicitly.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core import provenance
from ..core.errors import UserError
from . import cells, style

#: Column names of the package's frames -> headers with units, for the book's tables.
LABELS: dict[str, str] = {
    "model": "model", "gpu": "GPU", "gpu_name": "GPU name", "gpu_part": "GPU part", "dtype": "precision",
    "cfg": "CFG", "height": "height (px)", "width": "width (px)", "steps": "steps", "n_prompts": "prompts N",
    "batch_size": "batch size", "num_gpus": "GPUs", "resolution": "resolution",
    "energy_j": "energy (J)", "energy_pred_j": "predicted energy (J)", "energy_raw_j": "gross energy (J)",
    "energy_kwh": "energy (kWh)", "energy_wh": "energy (Wh)",
    "per_image_j": "per-image energy (J)", "per_image_wh": "per-image energy (Wh)",
    "per_image_j_low": "per-image low (J)", "per_image_j_high": "per-image high (J)",
    "at_n1_j": "law at N = 1 (J)", "inflation": "inflation (x)", "data_n": "data's N",
    "wh_per_image": "per image (Wh)", "kwh_per_day": "per day (kWh)", "mwh_per_year": "per year (MWh)",
    "g_co2e_per_image": "per image (g CO2e)", "t_co2e_per_year": "per year (t CO2e)",
    "cost_per_year": "cost per year", "seconds_per_image": "time per image (s)",
    "gpu_hours_per_day": "GPU-hours per day", "gpus_needed": "GPUs needed",
    "duration_s": "duration (s)", "time_s": "time per image (s)", "latency_s": "latency (s)",
    "mape_pct": "MAPE (%)", "mape": "MAPE (%)", "median_ape_pct": "median APE (%)", "max_ape_pct": "max APE (%)",
    "r2_log": "R² (log)", "r2": "R²", "rmse_log": "RMSE (log)", "bias_pct": "bias (%)",
    "n_rows": "rows", "n": "rows", "rows": "rows", "n_obs": "rows",
    "gflops": "GFLOPs", "tflops": "TFLOPs", "flops": "FLOPs", "gflops_per_image": "GFLOPs per image",
    "params": "parameters", "kernels": "kernels per call", "elementwise": "elements moved per call",
    "ours": "ours", "published": "published", "difference": "difference", "ci_low": "95% CI low",
    "ci_high": "95% CI high", "ratio": "ratio", "share": "share", "value": "value", "std_err": "std. error",
    "parameter": "parameter", "term": "term", "unit": "unit", "meaning": "meaning",
    "bytes": "bytes", "sha256": "sha256", "files": "files", "file": "file", "source": "source",
    "description": "description", "status": "status", "meter": "meter", "law": "law",
    "r2_linear": "R² (linear)", "mae_j": "MAE (J)", "spearman": "Spearman ρ", "pearson": "Pearson r",
    "mean_error_pct": "mean error (%)", "inside_pi_pct": "inside 95% PI (%)", "predicted_j": "predicted (J)",
    "gross_j": "gross (J)", "pi_low_j": "95% PI low (J)", "pi_high_j": "95% PI high (J)",
    "p_static_w": "static power (W)", "idle_w": "idle power (W)", "power_limit_w": "power limit (W)",
    "ci_low_w": "95% CI low (W)", "ci_high_w": "95% CI high (W)", "configs": "configurations",
    "dropped": "dropped", "worst_pct": "worst row (%)", "held_out": "held out", "chosen": "chosen law",
    "inner_score_pct": "inner MAPE (%)", "per_image_s": "time per image (s)",
    "per_image_gross_j": "per-image gross energy (J)", "extrapolation": "extrapolating because",
    "text": "text encoding", "denoise_per_step": "one denoising step", "decode": "decoding",
    "change": "change", "saving_pct": "saving (%)", "saved_mwh_per_year": "saved per year (MWh)",
    "saved_t_co2e_per_year": "saved per year (t CO2e)", "configuration": "configuration",
}

#: Where the provenance page lives (relative to the book's root, without suffix).
PROVENANCE_PAGE = "notebooks/provenance"

_PAGE: dict[str, Any] = {"name": None}


# ---------------------------------------------------------------------------------------------------
# Page
# ---------------------------------------------------------------------------------------------------
def page(name: str) -> Any:
    """Start a page (``name`` as in ``_toc.yml``, e.g. ``notebooks/within_model``): returns the line with
    its downloads (this page as an executable ``.ipynb`` and as its MyST source)."""
    from IPython.display import HTML

    _PAGE["name"] = name
    cells.start()
    style.apply()
    stem = Path(name).name
    return HTML(f'<p class="enb-downloads">Download this page: '
                f'<a class="enb-ipynb" href="{stem}.ipynb" download>notebook (.ipynb)</a> · '
                f'<a class="enb-md" href="{stem}.md" download>MyST source (.md)</a> · rerun it with '
                f'<code>energy-nb run {name}.md -p NAME VALUE</code></p>')


def findings(sentences: Sequence[str] | str, title: str = "Findings", html_items: bool = False) -> Any:
    """The computed findings a results page opens with, as a callout: plain sentences (a string: one finding), HTML-
    escaped, with Markdown's ``**bold**`` and ```code``` kept (``html_items``: sentences the package wrote as HTML,
    such as :class:`energy_nb.book.findings.Finding` texts, kept as they are)."""
    from IPython.display import HTML

    items = [sentences] if isinstance(sentences, str) else list(sentences)
    body = "".join(f"<li>{s if html_items else _inline_markdown(s)}</li>" for s in items if s.strip())
    return HTML(f'<div class="admonition tip enb-findings"><p class="admonition-title">{html.escape(title)}</p>'
                f"<ul>{body}</ul></div>")


def _inline_markdown(text: str) -> str:
    """``text`` escaped for HTML, its ``**bold**``, ```code``` and ``[label](link)`` rendered."""
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return re.sub(r"\$([^$]+)\$", lambda m: m.group(1).replace("^2", "²").replace("\\alpha", "α"), out)


def relative_link(target: str, here: str | None = None) -> str:
    """Link from page ``here`` (default: the current page) to ``target`` (a page name without suffix,
    optionally with ``#anchor``) in the built HTML."""
    import posixpath

    page, _, anchor = target.partition("#")
    base = posixpath.dirname(here or _PAGE["name"] or PROVENANCE_PAGE) or "."
    return posixpath.relpath(page, base) + ".html" + (f"#{anchor}" if anchor else "")


# ---------------------------------------------------------------------------------------------------
# Source line
# ---------------------------------------------------------------------------------------------------
def _qualname(by: Callable | str | Sequence[Callable | str]) -> list[str]:
    items = by if isinstance(by, (list, tuple)) else [by]
    out = []
    for f in items:
        if isinstance(f, str):
            out.append(f if f.startswith("energy_nb") else f"energy_nb.{f}")
        else:
            out.append(f"{f.__module__}.{f.__qualname__}")
    return out


def _where(qualname: str) -> tuple[str, int] | None:
    """The file (relative to the checkout) and first line of the function ``qualname``, or None."""
    import importlib
    import inspect

    from ..core import paths

    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
            obj = inspect.unwrap(obj)
            path = Path(inspect.getsourcefile(obj) or "").resolve()
            return path.relative_to(paths.ROOT.resolve()).as_posix(), inspect.getsourcelines(obj)[1]
        except (AttributeError, TypeError, OSError, ValueError):
            return None
    return None


def _function_link(qualname: str) -> str:
    """The function as the source line names it: one click to its code in the repository at this commit where the
    publishing workflow gives the repository's URL; else its file and line as a tooltip."""
    import os

    from ..core.versions import git_commit
    from .sphinxext import REPOSITORY_ENV

    code = f"<code>{html.escape(qualname)}</code>"
    where = _where(qualname)
    if where is None:
        return code
    path, line = where
    url = os.environ.get(REPOSITORY_ENV, "").strip().rstrip("/")
    commit = git_commit() if url else "unknown"  # two git processes: only where a link will use them
    if "unknown" not in commit:
        ref = commit.removesuffix("-dirty")
        return f'<a class="enb-fn" href="{html.escape(url)}/blob/{ref}/{path}#L{line}">{code}</a>'
    return f'<span class="enb-fn" title="{html.escape(path)}, line {line}">{code}</span>'


def source_files(data: Iterable[str | Path] | pd.DataFrame | None = None) -> list[dict[str, str]]:
    """The data entries behind a result: ``file`` (as on the provenance page), ``sha256``, ``anchor``.

    ``data`` None: the files behind what the running cell shows (:func:`.cells.files`); else the given paths."""
    if data is None:
        files = cells.files()
    elif isinstance(data, pd.DataFrame):
        files = list(data.attrs.get("sources", [])) or cells.files()
    else:
        files = [Path(p) for p in data]
    return provenance.entries_for(files)


def source_line(by: Callable | str | Sequence[Callable | str], data: Any = None) -> str:
    """HTML: 'Made by energy_nb.x.f from N data files' (the files, each with its sha256 and a link to its row of the
    provenance page, folded under that summary) and a link to the provenance page."""
    fns = ", ".join(_function_link(q) for q in _qualname(by))
    link = relative_link(PROVENANCE_PAGE)
    if isinstance(data, str) and data == "all":
        return (f'<div class="enb-source">Made by {fns} from every file of <code>data/</code>. '
                f'<a href="{link}">Data and provenance</a>.</div>')
    ents = source_files(data)
    files = "; ".join(f'<a href="{link}#{e["anchor"]}"><code>{html.escape(e["file"])}</code></a> '
                      f'(sha256 <code>{e["sha256"][:8]}</code>)' for e in ents)
    what = (f'<details class="enb-files"><summary>{len(ents)} data file{"s" if len(ents) != 1 else ""}</summary> '
            f"{files}</details>" if ents else "no data file")
    return f'<div class="enb-source">Made by {fns} (<a href="{link}">Data and provenance</a>) from {what}</div>'


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------
def fmt_number(x: Any, digits: int | None = None) -> str:
    """A number as the book prints it: integers as such; others to ``digits`` decimals when given, else
    to 3 significant digits (4 from 1000 up, with thousands separators); NaN as an en dash."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}" if abs(int(x)) >= 10000 else str(int(x))
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if digits is not None:
        return f"{x:,.{digits}f}"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1e7 or a < 1e-3:
        return f"{x:.3g}"
    if a >= 1000:
        return f"{x:,.0f}"
    decimals = max(0, 2 - int(math.floor(math.log10(a))))
    return f"{x:.{decimals}f}"


def label(col: Any, labels: Mapping[str, str] | None = None) -> str:
    """Header of a column: ``labels``, then :data:`LABELS`, else the name with underscores as spaces.
    Tuples (from a pivot) are joined with ' · '."""
    if isinstance(col, tuple):
        return " · ".join(label(c, labels) for c in col if str(c) != "")
    name = str(col)
    merged = {**LABELS, **(labels or {})}
    if name not in merged:  # an interval's bound: "per image (Wh)" -> "per image low (Wh)"
        base, _, bound = name.rpartition("_")
        if bound in ("low", "high") and base in merged:
            head, paren, unit = merged[base].partition(" (")
            return f"{head} {bound}{paren}{unit}"
    return merged.get(name, name.replace("_", " "))


def readable(df: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``df`` with its (named or non-default) index as columns and headers from :func:`label`."""
    out = df
    if isinstance(out, pd.Series):
        out = out.to_frame()
    idx = out.index
    row_numbers = (idx.name is None and not isinstance(idx, pd.MultiIndex)
                   and pd.api.types.is_integer_dtype(idx.dtype))
    if row_numbers:  # a RangeIndex, or row numbers left over from filtering: not shown
        out = out.reset_index(drop=True)
    else:
        out = out.reset_index()
    out = out.copy()
    out.columns = [label(c, labels) for c in out.columns]
    return out


def _csv_link(df: pd.DataFrame, name: str) -> str:
    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return (f'<a class="enb-csv" download="{html.escape(name)}.csv" '
            f'href="data:text/csv;base64,{data}">CSV</a>')


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "table"


def table(df: pd.DataFrame, caption: str, by: Callable | str | Sequence[Callable | str], data: Any = None,
          labels: Mapping[str, str] | None = None, digits: Mapping[str, int] | int | None = None,
          csv_name: str | None = None, row_ids: Sequence[str] | None = None,
          shade: Mapping[str, tuple[float, float]] | tuple[float, float] | None = None,
          links: Mapping[str, Sequence[str | None]] | None = None):
    """Show ``df`` as the book's table: caption, unit headers, rounded numbers, no row numbers, source line
    and a CSV download (full precision). ``digits``: decimals for all or some columns (by raw name);
    ``row_ids``: an HTML id per row (link targets); ``shade``: (low, high) for every numeric column, or per
    column (raw name), shading each cell from green (low: good, an error) to red (high); ``links``: per column (raw
    name) an href per row, its cell a link."""
    from IPython.display import HTML

    raw = readable(df, labels)
    names = {label(c, labels): c for c in (list(df.index.names) if not isinstance(df.index, pd.RangeIndex) else [])
             + list(df.columns)}
    cells: dict[str, list[str]] = {}
    numeric: set[str] = set()
    for col in raw.columns:
        d = digits if isinstance(digits, int) else (digits or {}).get(names.get(col, col)) if digits else None
        s = raw[col]
        if pd.api.types.is_bool_dtype(s):
            cells[col] = ["yes" if v else "no" for v in s]
        elif pd.api.types.is_numeric_dtype(s):
            vals = s.dropna()
            if pd.api.types.is_float_dtype(s) and len(vals) and bool((vals == vals.round()).all()) \
                    and bool((vals.abs() < 1e15).all()):
                s = s.map(lambda v: v if pd.isna(v) else int(v)).astype(object)  # counts stored as floats
                cells[col] = [fmt_number(v) for v in s]
            else:
                cells[col] = [fmt_number(v, d) for v in s]
            numeric.add(col)
        else:
            cells[col] = ["–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in s]
    if row_ids is not None and len(row_ids) != len(raw):
        raise UserError(f"{len(row_ids)} row ids for {len(raw)} rows")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in raw.columns)
    spans = {c: shade if isinstance(shade, tuple) else (shade or {}).get(names.get(c, c)) for c in numeric}
    hrefs = {c: (links or {}).get(names.get(c, c)) for c in raw.columns}

    def cell(c: str, i: int) -> str:
        text, href = html.escape(cells[c][i]), (hrefs[c] or [None] * len(raw))[i]
        return f'<a href="{html.escape(href)}">{text}</a>' if href else text

    rows = []
    for i in range(len(raw)):
        rid = f' id="{html.escape(row_ids[i])}"' if row_ids is not None else ""
        tds = "".join(f'<td class="{"enb-num" if c in numeric else "enb-text"}"{_shade(raw[c].iloc[i], spans.get(c))}>'
                      f'{cell(c, i)}</td>' for c in raw.columns)
        rows.append(f"<tr{rid}>{tds}</tr>")
    body = f'<table class="enb-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    name = csv_name or _slug(caption)
    return HTML(f'<figure class="enb-result enb-tablefig"><figcaption>{html.escape(caption)}</figcaption>'
                f'<div class="enb-table-wrap">{body}</div>'
                f'<div class="enb-meta">{source_line(by, data)} <p class="enb-dl">Download: {_csv_link(raw, name)}'
                f'</p></div></figure>')


def _shade(value: Any, span: tuple[float, float] | None) -> str:
    """An inline background from green (``span[0]``) through yellow to red (``span[1]``), light enough to read."""
    if span is None or value is None or not isinstance(value, (int, float)) or math.isnan(float(value)):
        return ""
    from matplotlib import colormaps

    lo, hi = span
    x = min(max((float(value) - lo) / (hi - lo), 0.0), 1.0)
    r, g, b, _ = colormaps["RdYlGn_r"](x)
    mix = [round(255 * (0.4 * v + 0.6)) for v in (r, g, b)]  # toward white
    return f' style="background-color: rgb({mix[0]}, {mix[1]}, {mix[2]})"'


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------
def figure(fig, caption: str, by: Callable | str | Sequence[Callable | str], data: Any = None, dpi: int = style.DPI):
    """Show a matplotlib figure with its caption and source line (and close it, so it shows once).

    The image carries what the book's figure-size test checks (:func:`.style.measure`: its smallest text in points,
    its panels per row, its dpi, its overlapping tick labels) as ``data-`` attributes; a click shows it at full size
    (``energy-nb.js``)."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    style.fit_width(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    seen = style.measure(fig)
    plt.close(fig)
    png = base64.b64encode(buf.getvalue()).decode()
    alt = html.escape(caption)
    return HTML(f'<figure class="enb-result enb-figure"><img alt="{alt}" title="Click to enlarge" '
                f'data-font-pt="{seen["font_pt"]:g}" data-panels-per-row="{seen["per_row"]}" data-dpi="{dpi}" '
                f'data-tick-overlaps="{seen["overlaps"]}" '
                f'src="data:image/png;base64,{png}">'
                f'<figcaption>{alt}</figcaption><div class="enb-meta">{source_line(by, data)}</div></figure>')
