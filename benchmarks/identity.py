"""Proof of identity: every number the command line and the book give, recorded, then compared.

    .venv/bin/python benchmarks/identity.py record OUT.json[.gz] # after `make book`
    .venv/bin/python benchmarks/identity.py compare A.json B.json
    .venv/bin/python benchmarks/identity.py check               # record now, compare with the baseline

What is recorded (``record``):

- **the command line**: every command of the README that answers (``--json`` where it has it), plus
  ``predict`` for every law and the four paper models, run in one process through ``energy_nb.cli.main``
  (the entry point is the same before and after a reorganisation); stdout and exit status of each;
- **the book**: every executed notebook under ``_build/jupyter_execute`` (``make book`` writes them),
  output by output: each table's full-precision CSV (the download link the book embeds), each Markdown
  or plain-text output, the calculator's exported laws (JSON), the front page's findings as text, and
  the number of figures. Source lines (``Made by energy_nb.x.f from ...``) are dropped: they name
  functions, which a reorganisation moves; the data files and their sha256 are kept as a list.

``compare`` reports every difference: numbers are compared with a relative tolerance of 1e-9 (the
last bits of an optimiser may differ between BLAS builds), everything else exactly, after three
normalisations that keep numbers untouched: a model's display name counts as its registry key (the
registry's ``label``; the last part of a Hugging Face id outside the registry), a sha256 prefix counts as
equal (a data file's digest is provenance, not a result: the changed ones are listed as notes), and a
source line under a finding is dropped. Outputs that change from one build to the next whatever the
code (the measurement page's live sharded sweep: timings, host and process ids; the digest of the package)
are listed in :data:`VOLATILE` and skipped. Exit status 1 when something differs.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).with_name("identity-baseline.json.gz")
EXECUTED = ROOT / "_build" / "jupyter_execute"
CONFIG_DIR = "data/external/model-configs/stabilityai__stable-diffusion-3-medium-diffusers"
PAPER_MODELS = ("sd2", "sd35", "flux", "qwen")  # fixed here: the baseline was recorded for these
LAWS = ("paper", "linear", "roofline_tc_kernels", "achieved", "ops")
#: Differences a reorganisation makes on purpose (path prefix of the difference -> why): shown, not counted. Empty
#: once the baseline is re-recorded after them (last: issue 38, which deleted eight laws, the calculator's dead closed
#: form and the comparisons that named them: 148 intended differences, nothing else).
INTENDED: dict[str, str] = {}
#: (page, substring): outputs that differ from one build to the next whatever the code.
VOLATILE = (("notebooks/measurement", "sweep status"), ("notebooks/measurement", "Sweep: **"),
            ("notebooks/measurement", "measurement file(s),"),
            ("notebooks/provenance", "digest of data and package at build"))


def commands(tmp: str) -> list[list[str]]:
    """The README's commands that answer, then predict for every law and model."""
    base = ["--height", "768", "--width", "768", "--steps", "25", "--dtype", "fp16", "--cfg"]
    out = [
        ["flops", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30", "--cfg", "--convention",
         "counted", "--json"],
        ["models", "--json"],
        ["flops", "--model", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", "--height", "1024", "--width", "1024", "--json"],
        ["flops", "--model-config", CONFIG_DIR, "--height", "1024", "--width", "1024", "--json"],
        ["predict", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "50", "--cfg", "--law",
         "roofline_tc_kernels", "--json"],
        ["fit", "--models", "flux", "--json"],
        ["fit", "--law", "roofline_tc_kernels", "--json"],
        ["fit", "--law", "achieved", "--json"],
        ["predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30", "--dtype", "fp16",
         "--cfg", "--gpu", "A100", "--json"],
        ["predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30", "--dtype", "fp16",
         "--cfg", "--gpu", "A100"],
        ["predict", "--model", "sd2", "--height", "512", "--width", "512", "--steps", "30", "--law",
         "roofline_tc_kernels", "--json"],
        ["predict", "--model", "sd2", *base, "--prompts", "1", "--n-scaling", "law", "--json"],
        ["predict", "--model", "sd2", *base, "--gpu", "H100", "--batch-size", "8", "--json"],
        ["predict", "--model", "sd2", *base, "--gpu", "H100", "--batch-size", "8"],
        ["predict", "--model", "pixart-sigma", "--height", "1024", "--width", "1024", "--steps", "20", "--cfg",
         "--json"],
        ["predict", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "20", "--gpu", "L40S",
         "--json"],
        ["predict", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "20", "--gpu-spec",
         "name=MyGPU,tflops_bf16=400,bandwidth_tbs=2.5,power_w=500", "--json"],
        ["predict", "--model", "flux", "--height", "8192", "--width", "8192", "--steps", "30", "--cfg", "--json"],
        ["predict", "--model-config", CONFIG_DIR, "--height", "1024", "--width", "1024", "--steps", "28", "--cfg",
         "--law", "roofline_tc_kernels", "--json"],
        ["import", "mlenergy", "data/external/mlenergy-leaderboard-v2", "--out", f"{tmp}/mlenergy-v2.csv", "--json"],
        ["import", "mlenergy", "data/external/mlenergy-leaderboard-v3/text-to-image.json", "--out",
         f"{tmp}/mlenergy-v3.csv", "--json"],
        ["features", "--json"],
        ["plan", "--model", "flux", "--gpu", "A100", "--height", "1024", "--width", "1024", "--steps", "30", "--dtype",
         "fp16", "--cfg", "--images-per-day", "1e6", "--country", "FRA", "--price-kwh", "0.15", "--pue", "1.2",
         "--compare", "--json"],
        ["plan", "--model", "flux", "--gpu", "A100", "--height", "1024", "--width", "1024", "--steps", "30", "--dtype",
         "fp16", "--cfg", "--images-per-day", "1e6", "--country", "FRA", "--price-kwh", "0.15", "--pue", "1.2",
         "--compare"],
        ["plan", "--model", "sd2", *base, "--gpu", "H100", "--batch-size", "8", "--images-per-day", "1e6",
         "--utilisation", "0.4", "--json"],
        ["predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "50", "--dtype", "bf16",
         "--gpu", "H100", "--num-gpus", "8", "--json"],
        ["plan", "--model", "sd35", "--height", "1024", "--width", "1024", "--steps", "28", "--dtype", "bf16", "--cfg",
         "--gpu", "H100", "--images-per-day", "1e4", "--latency-target", "4", "--compare", "--json"],
        ["gpus", "--json"],
        ["provenance"],
        ["sweep", "--models", "sd2", "flux", "--size", "tiny", "--device", "cpu", "--steps", "2", "4", "--resolutions",
         "64", "128", "--dtypes", "fp32", "--cfg", "both", "--prompts", "2", "--out", f"{tmp}/never.csv", "--dry-run"],
        # errors: the message and the exit status are part of the answer
        ["predict", "--model", "dalle", "--height", "512", "--width", "512", "--steps", "10"],
        ["predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "10", "--gpu", "TPUv9"],
        ["predict", "--model", "flux", "--height", "1000", "--width", "1024", "--steps", "10"],
        ["plan", "--model", "qwen", "--height", "512", "--width", "512", "--steps", "10", "--images-per-day", "100",
         "--compare", "--json"],
    ]
    for law in LAWS:
        for m in PAPER_MODELS:
            out.append(["predict", "--model", m, *base, "--gpu", "A100", "--law", law, "--json"])
    return out


def run_commands() -> dict[str, dict]:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from energy_nb.cli import main

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for argv in commands(tmp):
            so, se = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
                try:
                    rc = main(list(argv))
                except SystemExit as exc:  # argparse refusals
                    rc = exc.code
            key = " ".join(argv).replace(tmp, "TMP")
            text = so.getvalue().replace(tmp, "TMP")
            entry: dict = dict(rc=rc, stdout=_json_or_text(text))
            if rc:
                entry["stderr"] = se.getvalue().replace(tmp, "TMP")
            for f in sorted(Path(tmp).glob("*.csv")):
                entry.setdefault("files", {})[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
                f.unlink()
            out[key] = entry
            print(f"  {rc} energy-nb {key[:110]}", file=sys.stderr)
    return out


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------------
# The executed notebooks
# ---------------------------------------------------------------------------------------------------
_CSV = re.compile(r'href="data:text/csv;base64,([^"]+)"')
_SOURCE = re.compile(r'<p class="enb-source">.*?</p>', re.S)
_FILES = re.compile(r"<code>(data/[^<]+)</code></a> \(sha256 <code>([0-9a-f]+)</code>\)")
_CALC = re.compile(r'<script type="application/json" id="enb-calc-data">(.*?)</script>', re.S)
_FIGCAP = re.compile(r"<figcaption>(.*?)</figcaption>", re.S)
_TAGS = re.compile(r"<[^>]+>")


def _page_outputs(nb: dict) -> list:
    items = []
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if o.get("output_type") == "stream":
                continue
            if "text/html" in data:
                html = "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
                entry: dict = {}
                files = _FILES.findall(html)
                if files:
                    entry["sources"] = sorted(set(files))
                for m in _CSV.findall(html):
                    entry.setdefault("tables", []).append(base64.b64decode(m).decode())
                calc = _CALC.search(html)
                if calc:
                    entry["calculator"] = json.loads(calc.group(1).replace("<\\/", "</"))
                if "data:image/png" in html:
                    entry["figures"] = html.count("data:image/png")
                if 'class="enb-findings"' in html:
                    entry["findings"] = _TAGS.sub("", html)
                if not entry:
                    entry["html"] = _SOURCE.sub("", html)
                items.append(entry)
            elif "text/markdown" in data:
                md = data["text/markdown"]
                items.append({"markdown": "".join(md) if isinstance(md, list) else md})
            elif "text/plain" in data:
                tp = data["text/plain"]
                items.append({"text": "".join(tp) if isinstance(tp, list) else tp})
    return items


def _from_cache(page: str) -> dict | None:
    """A page's executed notebook from the notebook cache (myst-nb leaves ``jupyter_execute`` without outputs
    when the page came from the cache): the page read as myst-nb reads it, its cached outputs merged."""
    import yaml
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    md = MdParserConfig(enable_extensions=set(config.get("parse", {}).get("myst_enable_extensions", [])))
    path = ROOT / f"{page}.md"
    nb = read_myst_markdown_notebook(path.read_text(), config=md, add_source_map=True, path=str(path))
    try:
        return get_cache(str(ROOT / "_build" / ".jupyter_cache")).merge_match_into_notebook(nb)[1]
    except KeyError:
        return None


def read_book(folder: Path = EXECUTED) -> dict[str, list]:
    if not folder.is_dir():
        raise SystemExit(f"{folder} does not exist: run `make book` first")
    out = {}
    for f in sorted(folder.rglob("*.ipynb")):
        page = f.relative_to(folder).with_suffix("").as_posix()
        nb = json.loads(f.read_text())
        if not any(c.get("outputs") for c in nb.get("cells", [])):
            nb = _from_cache(page) or nb
        out[page] = _page_outputs(nb)
    return out


def save(path: Path, snap: dict) -> None:
    """JSON, gzip-compressed when the name ends in .gz."""
    data = json.dumps(snap, indent=1, sort_keys=True).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def load(path: Path) -> dict:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def record(path: Path, executed: Path = EXECUTED) -> dict:
    print("recording the command line ...", file=sys.stderr)
    snap = json.loads(json.dumps(dict(commands=run_commands(), book=read_book(executed))))
    save(path, snap)
    print(f"wrote {path}: {len(snap['commands'])} commands, {len(snap['book'])} pages", file=sys.stderr)
    return snap


# ---------------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------------
_NUM = re.compile(r"-?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?")


def _close(a: float, b: float, rel: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def _labels() -> dict[str, str]:
    """Display name -> registry key, from the registry files (``label:``), without importing the package."""
    import yaml

    out = {}
    for f in (ROOT / "data" / "models").glob("*.yml"):
        d = yaml.safe_load(f.read_text()) or {}
        if "label" in d:
            out[str(d["label"])] = str(d.get("key", f.stem))
    return out


_SHA = re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{8,64}\b")  # hex with a letter: never a plain number
_HF = re.compile(r"^[A-Za-z0-9_.\-]+/([A-Za-z0-9_.\-]+)$")
_MADE_BY = re.compile(r"Made by energy_nb\S* from .*?Data and provenance\.", re.S)
_shas: list[str] = []


def normalise(text: str) -> str:
    """Display names as registry keys, sha256 prefixes as ``<sha>``, source lines dropped (see the docstring)."""
    import csv
    import io

    text = _MADE_BY.sub("", text)
    labels = _labels()
    if "\n" in text and "," in text.split("\n", 1)[0]:  # a CSV table: cell by cell
        rows = list(csv.reader(io.StringIO(text)))
        fixed = [[labels.get(c, _HF.sub(r"\1", c)) for c in row] for row in rows]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(fixed)
        text = buf.getvalue()
    return _SHA.sub("<sha>", text)


def _text_equal(a: str, b: str, rel: float) -> bool:
    """Equal text, or text equal up to numbers within ``rel`` (a CSV written with full precision)."""
    if a == b:
        return True
    na, nb = normalise(a), normalise(b)
    _shas.extend(sorted(set(_SHA.findall(b)) - set(_SHA.findall(a))))
    a, b = na, nb
    if a == b:
        return True
    if _NUM.sub("#", a) != _NUM.sub("#", b):
        return False
    for x, y in zip(_NUM.findall(a), _NUM.findall(b)):
        try:
            if not _close(float(x.replace(",", "")), float(y.replace(",", "")), rel):
                return False
        except ValueError:
            return False
    return True


def diff(a, b, where: str, rel: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'new' if k in b else 'old'}")
            else:
                diff(a[k], b[k], f"{where}.{k}", rel, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items before, {len(b)} after")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{where}[{i}]", rel, out)
    elif isinstance(a, bool) or isinstance(b, bool):
        if a != b:
            out.append(f"{where}: {a!r} -> {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not _close(float(a), float(b), rel):
            out.append(f"{where}: {a!r} -> {b!r}")
    elif isinstance(a, str) and isinstance(b, str):
        if not _text_equal(a, b, rel) and not _diff_table(a, b, where, rel, out):
            out.append(f"{where}: text differs:\n    - {a[:300]!r}\n    + {b[:300]!r}")
    elif a != b:
        out.append(f"{where}: {a!r} -> {b!r}")


def _diff_table(a: str, b: str, where: str, rel: float, out: list[str]) -> bool:
    """Two CSV tables with the same header whose rows are named by their first column, compared row by row: the rows
    gone, the rows new and each row that differs (False: not such tables; the caller reports the whole text)."""
    import csv

    ra, rb = (list(csv.reader(io.StringIO(normalise(t)))) for t in (a, b))
    if not ra or not rb or ra[0] != rb[0]:
        return False
    ka, kb = ({r[0]: r for r in rows[1:] if r} for rows in (ra, rb))
    if len(ka) != len(ra) - 1 or len(kb) != len(rb) - 1:
        return False
    out += [f"{where}: row {k!r} gone" for k in ka if k not in kb]
    out += [f"{where}: row {k!r} new" for k in kb if k not in ka]
    out += [f"{where}: row {k!r} differs: {ka[k]} -> {kb[k]}"[:400] for k in ka
            if k in kb and not _text_equal(",".join(ka[k]), ",".join(kb[k]), rel)]
    if [k for k in ka if k in kb] != [k for k in kb if k in ka]:
        out.append(f"{where}: the rows both tables have are in another order")
    return True


def _volatile(page: str, item) -> bool:
    text = json.dumps(item)
    return any(page == p and s in text for p, s in VOLATILE)


def _split_sources(items: list) -> tuple[list, list]:
    """(outputs without their source files, the source files of each output)."""
    plain, sources = [], []
    for x in items:
        if isinstance(x, dict) and "sources" in x:
            sources.append(x["sources"])
            x = {k: v for k, v in x.items() if k != "sources"}
        plain.append(x)
    return plain, sources


def compare(old: dict, new: dict, rel: float = 1e-9) -> tuple[list[str], list[str]]:
    """(differences, notes): a difference is a number or text the user sees; a note is a change in the data
    files a source line lists (which files a page had read by then), or an :data:`INTENDED` difference,
    shown but not counted."""
    out: list[str] = []
    notes: list[str] = []
    found: list[str] = []
    _compare(old, new, rel, found, notes)
    for d in found:
        why = next((w for k, w in INTENDED.items() if d.startswith(k)), None)
        (notes if why else out).append(f"{d.splitlines()[0]} [intended: {why}]" if why else d)
    return out, notes


def _compare(old: dict, new: dict, rel: float, out: list[str], notes: list[str]) -> None:
    diff(old["commands"], new["commands"], "commands", rel, out)
    for page in sorted(set(old["book"]) | set(new["book"])):
        if page not in new["book"]:
            out.append(f"book.{page}: a page of the baseline is gone")
            continue
        if page not in old["book"]:
            notes.append(f"book.{page}: a new page (nothing to compare it with)")
            continue
        a, sa = _split_sources([x for x in old["book"][page] if not _volatile(page, x)])
        b, sb = _split_sources([x for x in new["book"][page] if not _volatile(page, x)])
        _diff_outputs(a, b, f"book.{page}", rel, out)
        diff(sa, sb, f"sources.{page}", rel, notes)


def _signature(x) -> str:
    """What a page's output is, not its numbers: its kinds, each table's header, the start of its text (numbers
    masked): what aligns the outputs of a page before and after."""
    if not isinstance(x, dict):
        return repr(type(x))
    bits = sorted(x)
    for t in x.get("tables", []):  # the header, and the first cell of the first row: what the table is about
        bits += [normalise(t.split("\n", 1)[0]), _NUM.sub("#", normalise(t.split("\n")[1].split(",")[0]))]
    for k in ("markdown", "text", "html", "findings"):
        if k in x:
            bits.append(_NUM.sub("#", normalise(x[k]))[:60])
    return "|".join(bits)


def _diff_outputs(a: list, b: list, where: str, rel: float, out: list[str]) -> None:
    """:func:`diff` of a page's outputs, aligned by :func:`_signature`: an output the baseline has and the page no
    longer has (or the reverse) is reported as gone (new), and the outputs around it are compared with their
    counterparts."""
    import difflib

    ops = difflib.SequenceMatcher(None, [_signature(x) for x in a], [_signature(x) for x in b],
                                  autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2)):
                diff(a[i], b[j], f"{where}[{i}]", rel, out)
            continue
        out += [f"{where}[{i}]: an output of the baseline is gone: {_signature(a[i])[:160]}" for i in range(i1, i2)]
        out += [f"{where}[+{j}]: a new output: {_signature(b[j])[:160]}" for j in range(j1, j2)]


def _which_files(old: dict) -> str:
    """Each new sha256 prefix with the data file it names and whether the baseline cites it anywhere (a file
    cited in one more place) or nowhere (a file that changed)."""

    sys.path.insert(0, str(ROOT))
    from energy_nb.core import provenance

    before = json.dumps(old)
    files = dict(zip(provenance.table()["sha256"].astype(str), provenance.table()["file"], strict=True))
    out = []
    for prefix in sorted({x[:8] for x in _shas}):
        name = next((str(f) for sha, f in files.items() if sha.startswith(prefix)), "no data file")
        out.append(f"{prefix} {name} ({'cited elsewhere in the baseline' if prefix in before else 'changed'})")
    return "; ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("record", help="record the command line's answers and the executed book")
    r.add_argument("out", type=Path)
    r.add_argument("--executed", type=Path, default=EXECUTED, help="folder of executed notebooks")
    c = sub.add_parser("compare", help="compare two records")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--rel", type=float, default=1e-9)
    k = sub.add_parser("check", help="record now and compare with the committed baseline")
    k.add_argument("--baseline", type=Path, default=BASELINE)
    k.add_argument("--rel", type=float, default=1e-9)
    a = ap.parse_args(argv)
    if a.what == "record":
        record(a.out, a.executed)
        return 0
    if a.what == "compare":
        old, new = load(a.old), load(a.new)
    else:
        old = load(a.baseline)
        with tempfile.TemporaryDirectory() as d:
            new = record(Path(d) / "now.json")
    problems, notes = compare(old, new, a.rel)
    if _shas:
        notes.append("sha256 prefixes in a text where the baseline's had none of them: " + _which_files(old))
    if notes:
        print(f"{len(notes)} note(s) (intended differences, data files listed by source lines; not numbers):")
        for n in notes:
            if not n.startswith("sources."):
                print(" ", n)
        print(f"  ... and {sum(n.startswith('sources.') for n in notes)} source-line entries")
    n_cmd, n_pages = len(new["commands"]), len(new["book"])
    n_tables = sum(len(x.get("tables", [])) for items in new["book"].values() for x in items if isinstance(x, dict))
    if problems:
        print(f"{len(problems)} difference(s):")
        for p in problems:
            print(" ", p)
        return 1
    print(f"identical: {n_cmd} commands, {n_pages} pages ({n_tables} tables, every Markdown and text output, "
          "the calculator and the findings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
