"""The scaling law: synthetic recovery, Table 1, prediction, persistence, validation."""
import json

import numpy as np
import pandas as pd
import pytest

from energy_nb import laws
from energy_nb.compute.flops import scaling_flops
from energy_nb.data import paper
from energy_nb.evaluation import validation as validate
from energy_nb.evaluation.metrics import metrics
from energy_nb.laws import scaling as law_mod
from energy_nb.models.configuration import Configuration
from helpers import cli


def _synthetic(seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    rows = []
    for m in ("flux", "sd35"):
        for gpu in ("A100", "H100"):
            for res in (256, 512, 768, 1024):
                for steps in (10, 30, 50):
                    for dtype in ("fp16", "fp32"):
                        for cfg in (0, 1):
                            f = scaling_flops(m, res, res, steps, cfg, 25) / 1e9
                            logE = (-20.0 + 0.97 * np.log(f) + 1.8 * (dtype == "fp32") + 0.3 * (gpu == "H100")
                                    - 0.05 * np.log(res * res / 256) + rng.normal(0, noise))
                            rows.append(dict(model=m, gpu=gpu, height=res, width=res, steps=steps, dtype=dtype,
                                             cfg=cfg, n_prompts=25, energy_j=np.exp(logE) * 3.6e6, source="synthetic"))
    return pd.DataFrame(rows)


def test_fit_recovers_known_parameters():
    law = law_mod.fit(_synthetic())
    t = law.table()["value"]
    assert t["alpha"] == pytest.approx(0.97, abs=0.01)
    assert t["beta_dtype"] == pytest.approx(1.8, abs=0.01)
    assert t["beta_H100"] == pytest.approx(0.3, abs=0.01)
    assert t["beta_res"] == pytest.approx(-0.05, abs=0.02)
    assert t["log_A"] == pytest.approx(-20.0, abs=0.3)
    assert law.r2 > 0.999


def test_constant_columns_are_dropped_and_reported():
    law = law_mod.fit(paper.a100_energy().query("model == 'qwen'"))
    assert "I_fp32" in law.frozen and law.value("beta_dtype") == 0
    with pytest.raises(ValueError, match="dtype 'fp32' cannot be predicted by this law"):
        law.predict_one(Configuration("qwen", 512, 512, 10, "fp32"))


@pytest.mark.parametrize("model, alpha, beta_dtype, beta_res", [
    ("flux", 0.989, 2.04, -0.043), ("sd35", 0.969, 1.90, -0.054), ("qwen", 0.992, 0.0, -0.306)])
def test_table1_reproduced_close_to_published(model, alpha, beta_dtype, beta_res):
    law = law_mod.fit(paper.a100_energy().query("model == @model"))
    assert law.value("alpha") == pytest.approx(alpha, abs=0.025)
    assert law.value("beta_dtype") == pytest.approx(beta_dtype, abs=0.02)
    assert law.value("beta_res") == pytest.approx(beta_res, abs=0.02)
    assert law.r2 > 0.99


def test_predict_interval_save_load(tmp_path):
    law = laws.get("paper", "flux")
    r = law.predict_one(Configuration("flux", 1024, 1024, 50, "fp16", False, "A100", prompts=100))
    assert r.total_j_low < r.total_j < r.total_j_high
    assert r.total_j == pytest.approx(7.65e5, rel=0.1)  # Table 6 cell, in-sample
    assert r.per_image_wh == pytest.approx(r.total_j / 100 / 3600)
    p = law.save(tmp_path / "law.json")
    again = laws.load(p)
    assert again.predict_one(Configuration("flux", 1024, 1024, 50, prompts=100)).total_j == pytest.approx(r.total_j)
    assert again.provenance["data_sha256"] == law.provenance["data_sha256"] and again.domain == law.domain
    with pytest.raises(ValueError, match="cannot read a law"):
        laws.load(tmp_path / "missing.json")


def test_unseen_gpu_refused_unless_told():
    law = laws.get("paper", "flux")
    with pytest.raises(ValueError, match="GPU 'L40S' is not in this law.*--treat-gpu-as"):
        law.predict_one(Configuration("flux", 512, 512, 10, gpu="L40S"))
    r = law.predict_one(Configuration("flux", 512, 512, 10, gpu="L40S"), gpu_as={"L40S": "A100"})
    assert r.total_j == pytest.approx(law.predict_one(Configuration("flux", 512, 512, 10)).total_j)


def test_within_model_cv_and_cross_model():
    df = paper.a100_energy()
    cv = validate.within_model_cv(df, "flux", k=2, seed=0)
    assert len(cv) == 80 and set(cv.fold) == {0, 1}
    assert metrics(cv.energy_j, cv.energy_pred_j)["r2_log"] > 0.99
    law, tr, te = validate.cross_model(df, ["flux", "sd35"], ["qwen"])
    m = metrics(te.energy_j, te.energy_pred_j)
    assert m["spearman"] > 0.9 and len(te) == 40


def test_metrics_by_hand():
    m = metrics([100, 200, 400], [110, 180, 400])
    assert m["mae_j"] == pytest.approx(10)
    assert m["mape_pct"] == pytest.approx(100 * (0.1 + 0.1 + 0) / 3)
    assert m["spearman"] == pytest.approx(1.0)


def test_cross_gpu_with_one_calibration_point():
    df = _synthetic(noise=0.0)
    cal = df[df.gpu == "H100"].head(1)
    law, pred = validate.cross_gpu(df, ["A100"], "H100", calibration=cal)
    assert pred["calibration_shift"].iloc[0] == pytest.approx(0.3, abs=1e-6)
    assert metrics(pred.energy_j, pred.energy_pred_j)["mape_pct"] < 1e-6


def test_cli_fit_and_predict(tmp_path):
    out = json.loads(cli("fit", "--models", "flux", "--json", "--out", str(tmp_path / "l.json")).stdout)
    alpha = next(p for p in out["parameters"] if p["parameter"] == "alpha")
    assert alpha["value"] == pytest.approx(0.98, abs=0.02) and out["n_obs"] == 85  # the paper's 80 + ML.ENERGY's 5
    res = json.loads(cli("predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30",
                         "--dtype", "fp16", "--cfg", "--gpu", "A100", "--json").stdout)
    assert res["per_image_wh_low"] < res["per_image_wh"] < res["per_image_wh_high"]
    txt = cli("predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30",
              "--law-file", str(tmp_path / "l.json")).stdout
    assert "Wh" in txt and "95% PI" in txt
    for args, msg in [(("--gpu", "L40S", "--law", "paper"), "GPU 'L40S' is not in this law"),
                      (("--gpu", "TPUv9"), "GPU 'TPUv9' is not a GPU of gpus.csv"),
                      (("--dtype", "fp8"), "unknown dtype 'fp8'; allowed: fp16, fp32, bf16")]:
        bad = cli("predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "10", *args, check=False)
        assert bad.returncode == 2 and msg in bad.stderr
    bad = cli("predict", "--model", "dalle", "--height", "512", "--width", "512", "--steps", "10", check=False)
    assert bad.returncode == 2 and "unknown model 'dalle'; allowed: sd2, sd35, flux, qwen" in bad.stderr
    assert "--model-config DIR" in bad.stderr  # predict offers a config folder instead
    for args in (("features", "--models", "dalle"), ("fit", "--models", "dalle")):
        bad = cli(*args, check=False)  # these take no --model-config: their error does not offer it
        assert bad.returncode == 2 and "unknown model 'dalle'" in bad.stderr and "--model-config" not in bad.stderr
