"""One answer to one question: `predict`, `plan` and the laws give the same per-image energy; N
multiplies; extrapolation is said out loud; JSON is strict; answering reads the laws artifact and never fits."""
import subprocess
import sys

import pytest

from energy_nb import laws
from energy_nb.models.configuration import Configuration
from energy_nb.planning import planner
from helpers import ROOT, cli
from helpers import strict_json as _strict

MODELS = ("sd2", "sd35", "flux", "qwen")
CONFIG = dict(height=768, width=768, steps=25, dtype="fp16", cfg=True, gpu="A100")


def config(model: str, **changes) -> Configuration:
    return Configuration(model, **{**CONFIG, **changes})


@pytest.mark.parametrize("law_name", laws.LAW_NAMES)
def test_predict_and_plan_agree_for_every_model(law_name):
    opts = planner.Options(carbon_intensity=100.0, law_name=law_name)
    for m in MODELS:
        law = laws.get(law_name, m)
        one = law.predict_one(config(m))
        row = planner.plan(planner.Workload.single(config(m), 1000.0), opts).frame.iloc[0]
        assert row["net_wh_per_image"] == pytest.approx(one.per_image_wh, rel=1e-9, abs=0)
        assert row["net_wh_per_image_low"] == pytest.approx(one.interval_wh[0], rel=1e-9, abs=0)
        # N prompts cost N x the per-image energy, interval included
        many = law.predict_one(config(m, prompts=37))
        assert many.total_j == pytest.approx(37 * one.per_image_j, rel=1e-12)
        assert many.total_j_high == pytest.approx(37 * one.per_image_j_high, rel=1e-12)
        assert many.per_image_j == pytest.approx(one.per_image_j, rel=1e-12)


def test_cli_predict_and_plan_agree_for_every_law():
    for law_name in laws.LAW_NAMES:
        base = ["--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--dtype", "fp16", "--cfg",
                "--gpu", "A100", "--law", law_name, "--json"]
        p = _strict(cli("predict", *base).stdout)
        q = _strict(cli("plan", *base, "--images-per-day", "1000").stdout)
        assert q["workload"][0]["net_wh_per_image"] == pytest.approx(p["per_image_wh"], rel=1e-9, abs=0), law_name
        assert q["workload"][0]["cost_per_year"] is None  # no price: null, not NaN


def test_paper_n_extrapolation_is_explicit_and_documented():
    """n_scaling='law' is the paper's reading: at the data's N it agrees; at N = 1 it inflates one image
    by N_data^(1 - alpha) exactly."""
    for m in MODELS:
        law = laws.get("paper", m)
        alpha = law.value("alpha")
        lin = law.predict_one(config(m))
        at_data = law.predict_one(config(m, prompts=100), n_scaling="law")
        single = law.predict_one(config(m, prompts=1), n_scaling="law")
        assert at_data.per_image_j == pytest.approx(lin.per_image_j, rel=1e-12)
        assert single.per_image_j / lin.per_image_j == pytest.approx(100 ** (1 - alpha), rel=1e-9)
        assert any("n_scaling='law'" in f for f in single.extrapolation)
        assert not lin.extrapolation
    with pytest.raises(ValueError, match="unknown n_scaling 'quadratic'; allowed: linear, law"):
        law.predict_one(config("qwen"), n_scaling="quadratic")


def test_extrapolation_is_flagged_in_text_and_json():
    args = ["predict", "--model", "flux", "--height", "2048", "--width", "2048", "--steps", "30", "--cfg"]
    txt = cli(*args).stdout
    assert "EXTRAPOLATING" in txt and "height 2048 px is outside the law's data (256-1024 px)" in txt
    j = _strict(cli(*args, "--json").stdout)
    assert any("2048" in f for f in j["extrapolation"])
    inside = _strict(cli("predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "30",
                         "--json").stdout)
    assert inside["extrapolation"] == []
    law = laws.get("roofline_tc_kernels")
    flags = law.extrapolation(Configuration("sd35", 512, 1024, 60, "bf16", False, "L40S"), gpu_as={"L40S": "A100"})
    text = " | ".join(flags)
    for part in ("GPU L40S is not in the law's data (A100, H100); predicted as A100",
                 "aspect ratio 512x1024", "60 steps is outside the law's data (10-50 steps)"):
        assert part in text, (part, flags)
    plan = _strict(cli("plan", *args[1:], "--images-per-day", "10", "--json").stdout)
    assert any("2048" in f for f in plan["extrapolation"]) and plan["workload"][0]["extrapolation"]


def test_strict_json_everywhere():
    outs = [cli("predict", "--model", "qwen", "--height", "512", "--width", "512", "--steps", "10", "--json").stdout,
            cli("plan", "--model", "qwen", "--height", "512", "--width", "512", "--steps", "10",
                "--images-per-day", "100", "--compare", "--json").stdout,
            cli("fit", "--models", "qwen", "--json").stdout]
    for o in outs:
        assert "NaN" not in o and "Infinity" not in o
        _strict(o)


def test_answers_come_from_the_artifact_and_write_nothing(tmp_path, monkeypatch):
    """Fit at build time, serve from the artifact: with fitting and counting made impossible and an empty cache,
    predict and plan answer for a model with data, one without, a GPU with data and one without, and the cache
    stays empty."""
    from energy_nb.compute import features
    from energy_nb.laws import registry

    cache = tmp_path / "cache"
    monkeypatch.setenv("ENERGY_NB_CACHE", str(cache))

    def no(*a, **k):
        raise AssertionError("fitted or counted while answering")

    monkeypatch.setattr(registry, "fit", no)
    monkeypatch.setattr(features, "count", no)
    for model, gpu in (("flux", "A100"), ("pixart-sigma", "H100"), ("sdxl", "L40S"), ("sd2", "H200")):
        base = ["--model", model, "--height", "1024", "--width", "1024", "--steps", "20", "--gpu", gpu]
        p = _strict(cli("predict", *base, "--json").stdout)
        assert p["per_image_j"] > 0 and p["per_image_s"] > 0 and "composed by level" in p["interval_kind"]
        assert p["time_law"] == p["law"]  # energy and time from one model
        cli("plan", *base, "--images-per-day", "1000", "--compare")
    art = laws.get("roofline_tc_kernels")
    assert art.provenance["data_sha256"] and art.provenance["code_version"].startswith("0.")
    assert not cache.exists() or not any(cache.rglob("*")), sorted(cache.rglob("*"))


def test_a_prediction_imports_neither_torch_nor_statsmodels():
    """Why `predict` answers in well under a second: neither the selection (evaluation) nor statsmodels, scipy's
    optimisers or torch are imported; the laws artifact has everything."""
    code = ("import sys; from energy_nb.cli import main\n"
            "assert main(['predict','--model','sd35','--height','512','--width','512','--steps','20']) == 0\n"
            "assert main(['predict','--model','sd35','--height','512','--width','512','--steps','20','--law',"
            "'roofline_tc_kernels']) == 0\n"
            "assert main(['plan','--model','pixart-sigma','--height','1024','--width','1024','--steps','20',"
            "'--images-per-day','1e5','--country','FRA','--compare']) == 0\n"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'statsmodels', 'codecarbon', 'scipy.optimize',"
            "'energy_nb.evaluation') if m in sys.modules]\n"
            "assert not heavy, heavy")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
