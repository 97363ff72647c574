"""No number typed into the prose of the Results pages: every figure a sentence states is computed when the page
runs (Markdown from energy_nb.book.prose / prose_results, or a table), so it follows the data. The check reads the
Markdown outside code cells and removes what is not a result: inline code and math, citations of the paper (Table,
Fig., Sec., Eq.), names that carry digits (A100, SD 3.5, FLUX.1-dev) and a few definitions (the 95% interval
level, batch size 1). Whatever digit is left is a typed number."""
from __future__ import annotations

import re

import pytest

from helpers import ROOT

RESULTS = ("within_model", "cross_gpu", "cross_model", "cross_architecture", "unet", "unet_transformer",
           "hyperparameters", "planning", "transfer", "independent", "beyond", "parallel", "coverage", "claims")
CITATION = (r"(?:Tables?|Figs?\.|Secs?\.|Eqs?\.|Appendix)\s*[A-Z]?\d+(?:\.\d+)*[a-z]?"
            r"(?:\s*(?:,|and|to|-)\s*[A-Z]?\d+(?:\.\d+)*[a-z]?)*")
#: Names with a free-standing number, and definitions rather than results.
NAMES = ("SD 2.1", "SD 3.5", "Kandinsky 2.2", "SANA 1.5", "A100 40 GB", "SXM4 80 GB", "Flux.1", "FLUX.1", "Table 1")
DEFINITIONS = ("95% prediction interval", "95% confidence interval", "95% interval", "batch size 1", "batch 1",
               "PUE 1", "365 days", "guidance scale above 1", "5-fold", "1/k", "batch-b / batch-1", "batch b relative to batch 1")


def prose(text: str) -> str:
    """The page's Markdown outside code cells, front matter, inline code, math, labels and roles."""
    text = text.split("---", 2)[2] if text.startswith("---") else text
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\$[^$]*\$", "", text)
    text = re.sub(r"^\(.*\)=$", "", text, flags=re.M)
    return re.sub(r"\{[a-z]+\}", "", text)


def typed_numbers(text: str) -> list[str]:
    """Lines of ``text``'s prose that state a number (headings excluded: they name the paper's figures)."""
    out = []
    for line in re.sub(CITATION, "", prose(text)).splitlines():
        if line.lstrip().startswith("#"):
            continue
        for phrase in NAMES + DEFINITIONS:
            line = line.replace(phrase, "")
        if re.search(r"(?<![\w.\-])\d+(?:[.,]\d+)*(?![\w])", line):
            out.append(line.strip())
    return out


def test_the_checker_finds_a_typed_number_and_passes_computed_ones():
    page = "Text.\n\n```{code-cell} ipython3\nx = 0.05\n```\n\nIt spans from about 0.05 Wh (Table 9, Fig. 2).\n"
    found = typed_numbers(page)
    assert len(found) == 1 and "0.05 Wh" in found[0] and "Table" not in found[0]
    assert typed_numbers("The A100 and SD3.5-Large (Table 6), with its 95% prediction interval; $R^2 > 0.9$.") == []


@pytest.mark.parametrize("page", RESULTS)
def test_no_typed_number_in_results_prose(page):
    assert typed_numbers((ROOT / "notebooks" / f"{page}.md").read_text()) == []


def test_ratios_to_counted_reads_each_models_largest_resolution_in_the_models_order():
    import pandas as pd

    from energy_nb.book import prose_results

    den = pd.DataFrame({"paper / counted": [0.5, 0.25, 0.9], "bidirectional / counted": [0.99, 0.98, 1.0]},
                       index=pd.MultiIndex.from_tuples([("flux", 256), ("flux", 1024), ("sd2", 512)],
                                                       names=["model", "height"]))
    assert prose_results.ratios_to_counted(den, ["sd2", "flux"]) == (
        "- **Stable Diffusion 2** at 512²: printed formula = 0.900 x counted, bidirectional = 1.0000 x counted.\n"
        "- **Flux.1-dev** at 1024²: printed formula = 0.250 x counted, bidirectional = 0.9800 x counted.")


def test_counted_parameters_agree_names_each_gap_and_ssd1bs_total():
    import pandas as pd

    from energy_nb.book import prose_results

    params = pd.DataFrame(dict(model=["sd2", "odd", "ssd1b", "other"], agrees=[True, False, True, False],
                               **{"known gap": ["", "a missing adapter", "", "its card rounds"],
                                  "total (B)": [1.29, 3.0, 2.23456, 1.0], "published total (B)": [1.3, 3.5, 2.2, 1.1]}))
    text = prose_results.counted_parameters_agree(params)
    assert text.startswith("2 of 4 denoisers agree with the published count (within 0.05 B or 3%, whichever is "
                           "larger). **odd** does not: a missing adapter. **other** does not: its card rounds. ")
    assert text.endswith("its total is then 2.23 B against the published 2.2 B.")
    assert "**sd2**" not in text


def test_parameters_do_not_set_work_contrasts_parameters_tokens_and_tflops():
    import pandas as pd

    from energy_nb.book import prose_results

    col = "TFLOPs/step at 1024²"
    flops = pd.DataFrame({"model": ["sd2", "flux"], "denoiser params (B)": [0.866, 11.9], col: [3.456, 40.0]})
    text = prose_results.parameters_do_not_set_work(flops, 1024, pairs=[("flux", "sd2")])
    assert text == ("Parameters alone do not set the work per step: **flux** (11.90 B parameters, 4,096 latent "
                    "positions per denoiser call at 1024²) runs 40.00 TFLOPs per step; **sd2** (0.87 B, 16,384) "
                    "runs 3.46. The laws therefore use counted FLOPs, kernels and weight bytes, not parameters.")
    flops_512 = flops.rename(columns={col: "TFLOPs/step at 512²"})
    assert "1,024 latent positions per denoiser call at 512²" in prose_results.parameters_do_not_set_work(
        flops_512, 512, pairs=[("flux", "sd2")])


def _markdown(nb) -> str:
    """The sentences a run of a page shows: its Markdown outputs and the text of its HTML callouts (findings), tags and
    bold marks left out."""
    import html
    import re

    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            data = o.get("data", {})
            parts.append("".join(data.get("text/markdown", "")))
            if "enb-findings" in "".join(data.get("text/html", "")):
                parts.append(html.unescape(re.sub(r"<[^>]+>", "", "".join(data["text/html"]))))
    return "\n".join(parts).replace("**", "")


@pytest.mark.notebook
@pytest.mark.slow
def test_prose_numbers_follow_the_parameters(tmp_path):
    """Two pages rerun with other parameters: their sentences state the numbers of the new run, computed here
    independently from the same data."""
    import nbformat
    import numpy as np

    from energy_nb.book import notebooks
    from energy_nb.data import shipped
    from energy_nb.evaluation import refit

    out = tmp_path / "hyper.ipynb"
    notebooks.run("hyperparameters", {"model": "sd35"}, out, progress=False)
    text = _markdown(nbformat.read(out, as_version=4))
    df = shipped.load(None)
    d = df[(df.model == "sd35") & (df.gpu == "A100")].set_index(["height", "steps", "cfg", "dtype"])["energy_j"]
    fp32 = float(np.median((d.xs("fp32", level="dtype") / d.xs("fp16", level="dtype")).dropna()))
    assert "For SD 3.5 Large" in text and f"fp16 to fp32 x{fp32:.2f}" in text
    assert "For Flux" not in text

    out = tmp_path / "within.ipynb"
    notebooks.run("within_model", {"models": ["sd35"]}, out, progress=False)
    text = _markdown(nbformat.read(out, as_version=4))
    c = refit.refit_vs_published(df[df.gpu == "A100"], ["sd35"]).set_index("parameter")
    alpha_gap = abs(c.loc["alpha", "ours"] - c.loc["alpha", "published"])
    assert f"the exponents within {alpha_gap:.3f}" in text
