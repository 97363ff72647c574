"""The claims ledger (issue 41): every claim of the paper keeps its value, ours, a verdict and a link to its page."""
from __future__ import annotations

import math

import pytest
import yaml

from energy_nb.data.paper import published_params
from energy_nb.evaluation import claims
from helpers import ROOT


@pytest.fixture(scope="module")
def ledger():
    return claims.ledger()


def test_every_checkable_claim_has_our_value_and_a_verdict(ledger):
    c = claims.claims()
    assert c["id"].is_unique and len(c) >= 80
    checkable = ledger[~c["checkable"].str.startswith("no").to_numpy()]
    missing = checkable[checkable["why"] == "no function computes ours yet"]["id"].tolist()
    assert not missing, f"checkable claims without our value: {missing}"
    numbers = checkable[checkable["verdict"] != "cannot be checked"]
    assert all(math.isfinite(v) for v in numbers["ours"]), numbers[numbers["ours"].isna()]["id"].tolist()
    assert set(ledger["verdict"]) <= set(claims.VERDICTS)
    assert (ledger.loc[ledger["verdict"] == "cannot be checked", "why"].str.len() > 10).all()


def test_every_claim_links_to_a_page_of_the_book(ledger):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {toc["root"]} | {ch["file"] for part in toc["parts"] for ch in part["chapters"]}
    assert set(ledger["page"]) <= pages, set(ledger["page"]) - pages
    front = (ROOT / "book" / "intro.md").read_text()
    assert "notebooks/claims" in front and "notebooks/claims" in pages


def test_verdicts_follow_the_stated_thresholds():
    assert claims.verdict("abs", 0.989, 0.981)[1] == "reproduced"
    assert claims.verdict("abs", -19.95, -19.69)[1] == "not reproduced"
    assert claims.verdict("rel", 10.0, 10.54)[1] == "partly"
    assert claims.verdict("min", 90.0, 73.2)[1] == "not reproduced"
    assert claims.verdict("min", 0.9, 0.95)[1] == "reproduced"
    assert claims.verdict("rel", 2.0, math.nan)[1] == "cannot be checked"


def test_the_ledger_flags_the_papers_own_slips(ledger):
    t = ledger.set_index("id")
    beta = float(published_params().query("table == 'Table 1' and model == 'flux' and parameter == 'beta_dtype'")
                 ["value"].iloc[0])
    assert abs(math.exp(beta) / 7.4 - 1) > 0.03  # exp(2.04) = 7.69, printed "about 7.4x"
    assert "7.69" in t.loc["s51-flux-fp32-factor", "slip"]
    assert t.loc["s51-qwen-min-j", "slip"] and t.loc["s51-qwen-three-orders", "verdict"] == "not reproduced"
    assert t.loc["s33-denoise-share-sd2", "verdict"] == "not reproduced"  # SD2 denoises 73-82% of its FLOPs
