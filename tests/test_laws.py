"""The baselines beside the paper's law: recovery, constraints, honest (nested) selection, CLI; the table of laws."""
import json

import numpy as np
import pytest

from energy_nb import laws
from energy_nb.data.shipped import shipped_data
from energy_nb.evaluation import selection
from energy_nb.evaluation import validation as validate
from energy_nb.laws import physical
from energy_nb.models.configuration import Configuration
from helpers import cli

SMALL = [("paper", "paper"), ("linear", "paper"), ("roofline_tc_kernels", "counted")]


@pytest.fixture(scope="module")
def data():
    return shipped_data()


def test_physical_law_recovers_known_coefficients(data):
    truth = {"e_half": 2.0, "e_mm_fp32": 17.0, "e_byte": 0.2, "e_kernel": 2.5, "c_img": 12.0}
    X = physical.design("roofline_tc_kernels", physical.physical_features(data, "counted"))
    rng = np.random.default_rng(0)
    energy = X @ np.array([truth[t] for t in physical.LAW_TERMS["roofline_tc_kernels"]]) * np.exp(rng.normal(0, 0.005, len(X)))
    law = physical.fit_physical(data.assign(energy_j=energy), "roofline_tc_kernels", convention="counted")
    for term, value in truth.items():
        assert law.coef[term] == pytest.approx(value, rel=0.05), term
    assert law.r2 > 0.999 and law.sigma < 0.01


def test_coefficients_are_non_negative_and_unsupported_terms_dropped(data):
    half = data[data.dtype == "fp16"]
    law = laws.fit("linear", half, convention="paper")
    assert all(v >= 0 for v in law.coef.values())
    assert law.coef["e_fp32"] == 0 and "e_fp32" in law.frozen
    with pytest.raises(ValueError, match="dtype 'fp32' cannot be predicted by this law"):
        law.predict(data[data.dtype == "fp32"].head(2))
    with pytest.raises(ValueError, match="use convention 'counted'"):
        laws.fit("roofline_tc_kernels", data, convention="paper")
    with pytest.raises(ValueError, match="unknown law 'magic'; allowed: paper, linear"):
        laws.fit("magic", data)


def test_the_laws_are_one_table_the_registry_and_the_command_line_read():
    """data/laws.csv lists every law once: the registry's names, kinds and roles, what `laws show` prints; a file
    saved by a law this energy-nb no longer has is refused with the ones it has."""
    from energy_nb.laws import registry
    from helpers import ROOT

    t = registry.table()
    assert list(t["law"]) == list(laws.LAW_NAMES) == ["paper", "linear", "roofline_tc_kernels", "achieved", "ops"]
    assert (ROOT / "data" / "laws.csv").read_text().count("\n") == len(laws.LAW_NAMES) + 1
    assert set(t[t["time"] == "yes"]["law"]) == set(selection.TIMED) == {"achieved", "ops"}
    assert set(t["kind"]) == set(registry.KINDS)
    shown = cli("laws", "show").stdout
    assert all(f"{r.law}" in shown and r.role in shown for r in t.itertuples())
    with pytest.raises(ValueError, match="no longer one of energy-nb's laws; allowed: paper, linear"):
        laws.from_dict({"name": "power_time", "kind": "transfer", "coef": {}})


def test_physical_laws_transfer_better_than_the_papers(data):
    """The finding of the B.1 page: with kernel costs and the TF32 rule, the worst held-out model's
    error falls well below the paper's law's (and SD2, the U-Net, most of all)."""
    table = validate.scores(validate.held_out(data, [("paper", "paper"), ("roofline_tc_kernels", "counted")]))
    mape = table.pivot_table(index="law", columns="held_out", values="mape_pct")
    assert mape.loc["roofline_tc_kernels"].max() < 0.5 * mape.loc["paper"].max()
    assert mape.loc["roofline_tc_kernels", "sd2"] < 15 < mape.loc["paper", "sd2"]


def test_nested_selection_never_looks_at_the_held_out_model(data):
    sel, preds = selection.nested(data, SMALL, common=False)
    assert list(sel.held_out) == ["flux", "qwen", "sd2", "sd35"]
    # Triple the held-out model's energies: the choice and its inner score cannot change, its error must.
    for m in ("sd2", "qwen"):
        changed = data.copy()
        changed.loc[changed.model == m, "energy_j"] *= 3
        sel2, _ = selection.nested(changed, SMALL, common=False)
        a, b = sel.set_index("held_out").loc[m], sel2.set_index("held_out").loc[m]
        assert (a.law, a.convention, a.inner_score_pct) == (b.law, b.convention, b.inner_score_pct)
        assert b.mape_pct != pytest.approx(a.mape_pct)
    with pytest.raises(ValueError, match="unknown selection rule 'median'"):
        selection.nested(data, SMALL, rule="median")


def test_nested_k_fold_never_looks_at_the_held_out_fold(data):
    """The own-rows question nested: the choice inside each outer fold does not change when that fold's rows do."""
    flux = data[data.model == "flux"].reset_index(drop=True)
    sel, preds = selection.nested(flux, ["paper", "linear"], by="rows")
    assert len(sel) == 5 and preds["energy_pred_j"].notna().all() and len(preds) == len(flux)
    fold = validate.fold_ids(len(flux))
    changed = flux.copy()
    changed.loc[fold == 0, "energy_j"] *= 3
    sel2, _ = selection.nested(changed, ["paper", "linear"], by="rows")
    a, b = sel.set_index("held_out").loc["0"], sel2.set_index("held_out").loc["0"]
    assert (a.law, a.inner_score_pct) == (b.law, b.inner_score_pct) and b.mape_pct != pytest.approx(a.mape_pct)


def test_a_nested_selection_is_computed_once_per_rows_question_and_code(data, tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_NB_CACHE", str(tmp_path))
    calls = []
    compute = selection._nested
    monkeypatch.setattr(selection, "_nested", lambda *a: calls.append(a) or compute(*a))
    first = selection.nested(data, SMALL[:2], common=False)
    again = selection.nested(data, SMALL[:2], common=False)
    assert len(calls) == 1 and len(list((tmp_path / "nested").glob("*.pkl"))) == 1
    for a, b in zip(first, again, strict=True):
        assert a.equals(b)
    selection.nested(data.assign(energy_j=data.energy_j * 2), SMALL[:2], common=False)  # other rows
    selection.nested(data, SMALL[:2], common=True)  # another question
    assert len(calls) == 3
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ENERGY_NB_CACHE", str(tmp_path / "a-file"))  # a cache it cannot write costs only speed
    assert selection.nested(data, SMALL[:2], common=False)[0].equals(first[0]) and len(calls) == 4


def test_physical_reading_against_the_datasheet(data):
    law = laws.fit("roofline_tc_kernels", data, convention="counted")
    r = physical.physical_reading(law).set_index("parameter")
    assert r.loc["e_half", "at_power_limit_and_peak"] == pytest.approx(400 / 312)
    assert r.loc["e_mm_fp32", "at_power_limit_and_peak"] == pytest.approx(400 / 19.5)
    assert r.loc["e_half", "implied_fraction"] == pytest.approx(400 / 312 / law.coef["e_half"])
    assert 0.2 < r.loc["e_half", "implied_fraction"] < 1.0  # below peak, as physics demands


def test_cli_fit_and_predict_accept_the_new_laws(tmp_path):
    out = tmp_path / "law.json"
    p = cli("fit", "--law", "roofline_tc_kernels", "--out", str(out), "--json")
    d = json.loads(p.stdout)
    assert d["law"] == "roofline_tc_kernels" and d["convention"] == "counted" and d["n_obs"] == 363
    j = json.loads(cli("predict", "--model", "sd2", "--height", "512", "--width", "512", "--steps", "30",
                       "--law-file", str(out), "--json").stdout)
    k = json.loads(cli("predict", "--model", "sd2", "--height", "512", "--width", "512", "--steps", "30",
                       "--law", "roofline_tc_kernels", "--json").stdout)
    saved = laws.load(out).per_image(Configuration("sd2", 512, 512, 30, "fp16", False, "A100"))
    assert j["per_image_j"] == pytest.approx(saved.per_image_j) and j["law"] == "roofline_tc_kernels"
    # fit and the artifact fit the shared law on the same records (paper tables + ML.ENERGY, both GPUs)
    assert k["law"] == "roofline_tc_kernels" and laws.get("roofline_tc_kernels").n_obs == 363
    assert k["per_image_j"] == pytest.approx(j["per_image_j"], rel=1e-6)
    assert j["per_image_j_low"] < j["per_image_j"] < j["per_image_j_high"]
    bad = cli("predict", "--model", "sd2", "--height", "512", "--width", "512", "--steps", "30", "--law",
              "roofline_tc_kernels", "--convention", "paper", check=False)
    assert bad.returncode == 2 and "use convention 'counted'" in bad.stderr
    bad = cli("fit", "--law", "magic", check=False)
    assert bad.returncode == 2 and "invalid choice: 'magic'" in bad.stderr
