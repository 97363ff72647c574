"""Laws that transfer: GPU datasheets, the laws of time and power (ops, parallel, achieved) recovering what they were
simulated with, the same-fold validation, the law that answers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from energy_nb.cli import main
from energy_nb.compute import features
from energy_nb.data.shipped import law_data
from energy_nb.evaluation import selection
from energy_nb.evaluation import validation as validate
from energy_nb.laws import achieved, fitter, ops, parallel, physical, physics
from energy_nb.laws.artifact import current
from energy_nb.models import hardware
from energy_nb.models.configuration import Configuration
from helpers import cli


# -- GPU datasheets ---------------------------------------------------------------------------------
def test_gpu_specs_by_part_family_and_command_line():
    a = hardware.get_spec("A100")
    assert a.name == "A100" and a.tflops_half == 312 and a.bandwidth_gb_s == 1555  # the family's first part
    assert hardware.get_spec("NVIDIA H100 80GB HBM3").power_w == 700
    assert hardware.get_spec("A100-SXM4-80GB").bandwidth_gb_s == 2039
    assert hardware.get_spec("V100").rates("fp32") == (15.7e12, 15.7e12)  # no TF32: convolutions at fp32
    with pytest.raises(ValueError, match=r"GPU 'Z9' is not a GPU of gpus.csv.*all: .*H100.*--gpu-spec"):
        hardware.get_spec("Z9")
    s = hardware.parse_spec("name=MyGPU, tflops_bf16=400, bandwidth_tbs=2.5, power_w=500")
    assert (s.tflops_half, s.bandwidth_gb_s, s.power_w, s.tflops_fp32) == (400, 2500, 500, None)
    with pytest.raises(ValueError, match="has no fp32 peak.*tflops_fp32"):
        s.rates("fp32")
    for bad, msg in (("name=X,tflops_bf16=4", "lacks bandwidth_tbs, power_w"),
                     ("name=X,tflops_bf16=4,bandwidth_tbs=1,power_w=300,flux=1", "key 'flux' is unknown; allowed: name"),
                     ("name=X,tflops_bf16=fast,bandwidth_tbs=1,power_w=3", r"tflops_bf16='fast' is not a number"),
                     ("name=X,tflops_bf16=-4,bandwidth_tbs=1,power_w=3", "must be a positive number"),
                     ("name=a b,tflops_bf16=4,bandwidth_tbs=1,power_w=3", "name 'a b' is not allowed"),
                     ("name=X,tflops_bf16=4,bandwidth_tbs=1,power_w=3,idle_w=5", "idle_w=5 is not below power_w=3")):
        with pytest.raises(ValueError, match=msg):
            hardware.parse_spec(bad)
    with pytest.raises(ValueError, match="already in data/gpus.csv"):
        hardware.register(hardware.parse_spec("name=L40S,tflops_bf16=1,bandwidth_tbs=1,power_w=1"))


# -- counted element-wise traffic -----------------------------------------------------------------
def test_elementwise_traffic_leaves_attention_scores_out():
    """Fused attention never writes its scores: element-wise traffic grows at most with the pixels (x4 from
    512 to 1024; less with text tokens), not with the square of the tokens, even where attention FLOPs grow
    more than x8."""
    for m in ("sd2", "flux", "sd35"):
        lo, hi = features.component(m, "denoiser", 512, 512), features.component(m, "denoiser", 1024, 1024)
        assert hi.flops_attn / lo.flops_attn > 8
        assert 2.5 < hi.elementwise / lo.elementwise < 5, m
        assert hi.elementwise > 0


# -- the laws ---------------------------------------------------------------------------------------
def _rows() -> pd.DataFrame:
    g = [dict(model=m, gpu=gpu, height=r, width=r, steps=s, dtype=d, cfg=c, n_prompts=10, batch_size=b, status="ok",
              energy_j=1.0)
         for m in ("sd2", "flux", "sdxl", "sd35") for gpu in ("A100", "H100") for r in (512, 1024) for s in (10, 30)
         for d in ("fp16", "fp32") for c in (0, 1) for b in (1, 8)]
    return pd.DataFrame(g).assign(time_s=np.nan)


def test_ops_recovers_the_coefficients_it_was_simulated_with():
    """Rows simulated with the one model of a run's time and power (two GPUs, fp16 and fp32, batches, CFG): the fit
    without a prior pull finds every coefficient again, and answers with them."""
    df = _rows()
    true = dict(k_gemm=1.6, k_conv=2.4, k_attention=1.3, k_softmax=2.5, k_memory=2.5, t_kernel_gpu_us=3.0,
                t_kernel_us=15.0, t_call_ms=1.5, t_image_s=0.08, cap_exponent=0.4, fp32=1.3, p_static=0.15,
                p_tensor=0.7, p_memory=0.4, p_cap=0.9, t_fill_us=8.0)
    v = physics.run(true, ops.ops_features(df))
    df["energy_j"], df["time_s"] = v["energy"] * df["n_prompts"], v["time"]
    law = ops.fit_ops(df, prior_weight=0.0)
    assert not law.frozen and law.n_timed == len(df)
    for k, value in true.items():
        assert law.coef[k] == pytest.approx(value, rel=1e-6), k
    assert np.allclose(law.predict(df)["time_pred_s"], df["time_s"], rtol=1e-6)
    assert law.sigma < 1e-6 and law.r2 > 0.999999
    blind = ops.fit_ops(df.assign(time_s=np.nan))  # no latency: power cannot be told from time
    assert {"p_static", "p_tensor", "p_memory", "p_cap", "t_fill_us"} <= set(blind.frozen)


def test_parallel_recovers_the_coefficients_it_was_simulated_with():
    """ML.ENERGY's splits (FLUX.1-dev and SD3.5-Large on 2-8 H100s, batches 1-16) simulated with known coefficients on
    top of the shipped single-GPU ops laws: fitted without a prior pull, every coefficient comes back."""
    from energy_nb.data.shipped import external_data

    d = parallel.split_columns(external_data(single_gpu=False))
    d = d[d.num_gpus > 1].reset_index(drop=True)
    art = current()
    bases = {m: art.law(art.parallel_base(m, "H100")[0]) for m in d.model.unique()}
    true = dict(k_shard=1.2, k_a2a=3.0, k_p2p=1.4, peer_exponent=0.2, sync=0.08, t_collective_us=10.0,
                kernels_a2a=5.6, kernels_ring=6.4, p_comm=0.26)
    for m, g in d.groupby("model"):
        v = parallel.ParallelLaw(coef=true).evaluate(bases[m], g)
        d.loc[g.index, "energy_j"], d.loc[g.index, "time_s"] = v["energy"] * g["n_prompts"], v["time"]
    law = parallel.fit_parallel(d, bases, prior_weight=0.0)
    for k, value in true.items():
        assert law.coef[k] == pytest.approx(value, rel=1e-5), k
    assert law.sigma < 1e-6 and law.time_sigma < 1e-6
    # read as every fit is: its parameters, their intervals, residuals and fitted energies of every row
    assert list(law.params.index) == list(true) and law.r2 > 0.999999 and len(law.resid) == len(d)
    assert law.fittedvalues.to_numpy() == pytest.approx(d.sort_values("model", kind="stable")["energy_j"], rel=1e-5)
    assert (law.conf_int()["upper"] >= law.params).all() and "R^2 (log)" in law.summary()


def test_achieved_fits_how_the_rate_follows_the_datasheet_with_two_gpus_and_holds_the_power_cap_with_one():
    df = _rows()
    true = dict(k_compute=1.5, k_attention=2.5, k_memory=3.0, t_kernel_us=20.0, t_image_s=0.05, p_static=0.15,
                p_dynamic=0.6, cap_exponent=0.4)
    X = achieved.hardware_features(df)
    cols, P, s = achieved._columns(X), X["P"].to_numpy(float), X["s"].to_numpy(float)
    e, t = achieved.evaluate(true, cols, P, s)
    df["energy_j"], df["time_s"] = e, t / df["n_prompts"]
    law = achieved.fit_achieved(df, prior_weight=0.0)
    for k, v in true.items():
        assert law.coef[k] == pytest.approx(v, rel=1e-2), k
    assert "cap_exponent" not in law.frozen and law.n_timed == len(df)
    one = achieved.fit_achieved(df[df.gpu == "A100"])
    assert one.coef["cap_exponent"] == 1.0 and "one datasheet efficiency" in one.frozen["cap_exponent"]
    blind = achieved.fit_achieved(df.assign(time_s=np.nan))
    assert set(blind.frozen) >= {"p_static", "p_dynamic"} and blind.coef["p_static"] == achieved.PRIORS["p_static"]
    # no per-GPU term: an unseen GPU is priced from its datasheet
    assert np.isfinite(law.predict(df.iloc[[0]].assign(gpu="L40S"))["energy_pred_j"]).all()
    assert "priced from its datasheet" in " ".join(law.extrapolation(Configuration("sd2", 512, 512, 10, gpu="L40S")))
    # at the power cap, a compute-only row's GPU time follows the power limit: H100 / A100 = 400 / 700
    cap = dict(true, cap_exponent=1.0, k_memory=1e-9, t_kernel_us=1e-9, t_image_s=1e-9)
    pair = X.loc[(df.model == "sd2") & (df.dtype == "fp16")].head(1)
    h = pair.assign(x_mm=pair.x_mm * 312 / 989, x_attn=pair.x_attn * 312 / 989, x_conv=pair.x_conv * 312 / 989,
                    P=700.0, s=(989 / 700) / (312 / 400))
    ta = achieved.evaluate(cap, achieved._columns(pair), pair["P"].to_numpy(float), pair["s"].to_numpy(float))[1]
    th = achieved.evaluate(cap, achieved._columns(h), h["P"].to_numpy(float), h["s"].to_numpy(float))[1]
    assert th[0] / ta[0] == pytest.approx(400 / 700, rel=1e-3)


def test_a_term_the_training_rows_cannot_identify_is_held_at_its_prior(monkeypatch):
    share = {"a": np.array([0.5, 0.1]), "b": np.array([0.0, 0.001])}
    frozen = fitter.unidentified(share, np.array([1.0, 1.0]), what="ideal time")
    assert list(frozen) == ["b"] and "at most 0.1% of any training row's ideal time" in frozen["b"]
    df = _rows()
    X = achieved.hardware_features(df)
    df["energy_j"], _ = achieved.evaluate(achieved.PRIORS, achieved._columns(X), X["P"].to_numpy(float),
                                          X["s"].to_numpy(float))
    monkeypatch.setattr(fitter, "unidentified", lambda *a, **k: {"k_attention": "not identifiable (test)"})
    law = achieved.fit_achieved(df)
    assert law.coef["k_attention"] == achieved.PRIORS["k_attention"]
    assert law.frozen["k_attention"] == "not identifiable (test)"
    assert "held at prior" in law.table().loc["k_attention", "meaning"]


def test_physical_features_share_weights_and_kernels_across_a_batch():
    one = pd.DataFrame([dict(model="sdxl", gpu="A100", height=1024, width=1024, steps=25, dtype="fp16", cfg=1,
                             n_prompts=8, batch_size=1)])
    f1, f8 = physical.physical_features(one), physical.physical_features(one.assign(batch_size=8))
    assert f8["S"].iloc[0] == pytest.approx(f1["S"].iloc[0] / 8)
    assert f8["W"].iloc[0] == pytest.approx(f1["W"].iloc[0] / 8) and f8["K"].iloc[0] == pytest.approx(f1["K"].iloc[0] / 8)
    assert f8["F_loop"].iloc[0] == f1["F_loop"].iloc[0]  # the FLOPs are per image


# -- validation on the same folds ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    return law_data()


def test_pool_holds_every_model_and_gpu_with_data(pool):
    assert set(pool["model"]) >= {"sd2", "sd35", "flux", "qwen", "sd15", "sdxl", "ssd1b", "sd3m", "kandinsky3"}
    assert set(pool["gpu"]) == {"A100", "H100"} and set(pool["dataset"]) == {"paper", "ML.ENERGY"}
    assert pool["time_s"].notna().sum() == (pool["dataset"] == "ML.ENERGY").sum()


def test_nested_transfer_chooses_inside_the_training_folds_and_scores_what_it_predicts(pool):
    small = pool[pool["model"].isin(["sd2", "sd15", "sdxl", "sd35"])]
    cands = ("paper", "roofline_tc_kernels", "linear")
    rows, preds = selection.nested(small, cands, by="model")
    assert list(rows["held_out"]) == ["sd15", "sd2", "sd35", "sdxl"] and set(rows["law"]) <= set(cands)
    for r in rows.itertuples():
        p = preds[(preds.held_out == r.held_out)].dropna(subset=["energy_pred_j"])
        assert (p["law"] == r.law).all() and len(p) == r.rows
        assert r.mape_pct == pytest.approx(100 * (p.energy_pred_j / p.energy_j - 1).abs().mean())
        # the choice is the one the training models alone make
        assert selection.choose(small[small["model"] != r.held_out], cands, "model").best.law == r.law
    g_rows, g_preds = selection.nested(small, ("roofline_tc_kernels", "linear"), by="gpu")
    assert set(g_rows["held_out"]) == {"A100", "H100"} and (g_rows["rows"] > 0).all()
    with pytest.raises(ValueError, match="unknown fold 'prompt'; allowed: model, gpu"):
        validate.held_out(small, cands, by="prompt")


# -- the law that answers -------------------------------------------------------------------------
def _predict(*args: str) -> dict:
    return json.loads(cli("predict", *args, "--json").stdout)


def test_predict_and_plan_say_which_law_answered_and_agree():
    base = ["--height", "1024", "--width", "1024", "--steps", "20"]
    own = _predict("--model", "sd2", *base)
    assert own["law"] == f"{current().family('sd2')} (sd2)" and "sd2's own 93 rows" in own["law_reason"]
    assert "5-fold cross-validation" in own["law_reason"] and own["interval_kind"].startswith("composed by level: the rows of sd2")
    new = _predict("--model", "pixart-sigma", *base, "--cfg")
    assert new["law"] == current().shared_name and "no energy rows of 'pixart-sigma'" in new["law_reason"]
    unseen = _predict("--model", "sdxl", *base, "--gpu", "L40S")
    assert unseen["law"] == current().datasheet_name and "GPU L40S has no energy data" in unseen["law_reason"]
    assert any("priced from its datasheet" in f for f in unseen["extrapolation"])
    spec = "name=MyGPU,tflops_bf16=400,bandwidth_tbs=2.5,power_w=500"
    mine = _predict("--model", "sdxl", *base, "--gpu-spec", spec)
    assert mine["gpu"] == "MyGPU" and mine["law"] == current().datasheet_name
    plan = json.loads(cli("plan", "--model", "sdxl", *base, "--gpu-spec", spec, "--images-per-day", "1000",
                          "--json").stdout)
    assert plan["workload"][0]["net_wh_per_image"] == pytest.approx(mine["per_image_wh"], rel=1e-9)
    assert plan["workload"][0]["law"] == current().datasheet_name


def test_bad_gpu_input_names_the_value(capsys):
    base = ["predict", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "20"]
    assert main([*base, "--gpu", "TPUv9"]) != 0
    assert "GPU 'TPUv9' is not a GPU of gpus.csv" in capsys.readouterr().err
    assert main([*base, "--gpu-spec", "name=X,tflops_bf16=1"]) != 0
    assert "--gpu-spec lacks bandwidth_tbs, power_w" in capsys.readouterr().err
    assert main([*base, "--gpu", "H100", "--gpu-spec", "name=X,tflops_bf16=1,bandwidth_tbs=1,power_w=9"]) != 0
    assert "disagree" in capsys.readouterr().err
    assert main(["gpus", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"A100-SXM4-40GB", "H100-80GB-HBM3", "L40S", "H200-SXM-141GB"} <= {r["gpu_part"] for r in rows}
