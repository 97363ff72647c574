"""The front page's findings are computed: from the data, by energy_nb.book.findings.key_findings, and they
change when the data change."""
import re

import numpy as np
import pytest

from energy_nb.book import findings
from energy_nb.data import mlenergy, paper

pytestmark = pytest.mark.xdist_group("findings")  # one worker computes the shipped findings once, for both tests


@pytest.fixture(scope="module")
def shipped():
    return {f.key: f for f in findings.key_findings()}


def _numbers(text: str) -> list[str]:
    return re.findall(r'<b class="enb-number">([^<]+)</b>', text)


def test_every_finding_states_its_number_and_page(shipped):
    assert list(shipped) == ["refit", "flops", "denoise", "n_scaling", "cross_model", "unseen_model_time", "unseen_gpu",
                             "independent", "gpus"]
    for f in shipped.values():
        assert np.isfinite(f.value)
        assert _numbers(f.text), f.key
        assert f.by.startswith("energy_nb."), f.key
    # the number in the sentence is the finding's value, formatted
    assert _numbers(shipped["refit"].text)[0] == f"{shipped['refit'].value:.3f}"
    assert _numbers(shipped["gpus"].text)[0] == f"{shipped['gpus'].value:.2f}x"
    assert _numbers(shipped["cross_model"].text)[1] == f"{shipped['cross_model'].value:.1f}%"
    assert _numbers(shipped["unseen_gpu"].text)[0] == f"{shipped['unseen_gpu'].value:.1f}%"
    assert _numbers(shipped["unseen_model_time"].text)[0] == f"{shipped['unseen_model_time'].value:.1f}%"


@pytest.mark.slow
def test_findings_follow_the_data(shipped):
    """Bend SD 3.5's and SD2's energy with the step count, make ML.ENERGY's H100 rows dearer: the findings
    that read those rows must change, the ones that only read the architectures must not."""
    rows = paper.a100_energy()
    bend = rows["model"].isin(["sd35", "sd2"])
    rows.loc[bend, "energy_j"] = rows.loc[bend, "energy_j"] * (rows.loc[bend, "steps"] / 25.0) ** 0.3
    ext = mlenergy.shipped()
    h100 = ext["gpu"] == "H100"
    ext.loc[h100, "energy_j"] = ext.loc[h100, "energy_j"] * 1.5
    altered = {f.key: f for f in findings.key_findings(rows, ext)}
    for key in ("refit", "n_scaling", "cross_model", "unseen_model_time", "unseen_gpu", "independent", "gpus"):
        assert altered[key].text != shipped[key].text, key
        assert altered[key].value != pytest.approx(shipped[key].value, rel=1e-6), key
    assert altered["gpus"].value == pytest.approx(1.5 * shipped["gpus"].value, rel=0.2)
    for key in ("flops", "denoise"):
        assert altered[key].text == shipped[key].text


def test_front_page_links_resolve_to_pages():
    import yaml

    from helpers import ROOT

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = {toc["root"]} | {c["file"] for p in toc["parts"] for c in p["chapters"]}
    f = findings.Finding("k", "t", 1.0, "x", "notebooks/within_model#per-image-energy", "energy_nb.x")
    html = findings.html_list([f])
    assert 'href="../notebooks/within_model.html#per-image-energy"' in html
    for f in [findings.Finding("k", "t", 1.0, "x", p, "b") for p in ("notebooks/flops", "notebooks/transfer",
                                                                     "notebooks/independent", "notebooks/within_model")]:
        assert f.page.split("#")[0] in docs
