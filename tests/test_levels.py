"""Intervals composed by level, the coverage report, and work priced by the unit that does it (issue 40)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import energy_nb
from energy_nb.cli import main
from energy_nb.compute.workload import workload
from energy_nb.core.stats import two_sided
from energy_nb.evaluation.coverage import clopper_pearson, held_out_intervals, report
from energy_nb.laws.artifact import current
from energy_nb.laws.levels import LEVELS, MIN_GROUPS, PRIOR_GROUPS, compose, fit
from energy_nb.laws.ops import ops_features
from energy_nb.models.hardware import get_spec, parse_spec, table


def _errors(shifts: dict[str, float], n: int = 20, sd: float = 0.05, seed: int = 0, models: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame([dict(group=g, model=f"m{i % models}", net=b + sd * rng.standard_normal())
                         for g, b in shifts.items() for i in range(n)])


def test_two_groups_give_a_prior_bounded_spread_not_a_t_quantile_of_one():
    e = _errors({"A100": -0.2, "H100": 0.05})
    f = fit(e, "gpu", "net", sub=None)
    assert f.groups == 2 and f.dof == 2 + PRIOR_GROUPS and f.is_range and MIN_GROUPS > 2
    b = e.groupby("group")["net"].mean().to_numpy()
    assert f.between == pytest.approx((PRIOR_GROUPS * f.within + (b ** 2).sum()) / (PRIOR_GROUPS + 2))
    q = compose([(f.within, f.rows - f.groups), (f.between, f.dof)])
    old = two_sided(0.95, 2) * math.sqrt(np.mean(b ** 2) + f.within)  # the t-quantile of two groups it replaces
    assert q < old and math.exp(2 * q) < 3
    many = fit(_errors({f"g{i}": s for i, s in enumerate(np.linspace(-0.1, 0.1, 9))}), "model", "net")
    assert many.groups == 9 and not many.is_range


def test_the_prior_of_a_gpu_is_how_differently_models_fare_on_one():
    e = pd.concat([_errors({"A100": 0.0}, models=1).assign(model="a", net=lambda d: d.net + 0.3),
                   _errors({"A100": 0.0}, seed=1).assign(model="b", net=lambda d: d.net - 0.3),
                   _errors({"H100": 0.0}, seed=2).assign(model="a"), _errors({"H100": 0.0}, seed=3).assign(model="b")])
    f = fit(e, "gpu", "net")
    assert f.prior == pytest.approx(0.09, rel=0.1)  # (0.3^2 + 0.3^2 + 0 + 0) / (4 model-GPU means - 2 GPUs)
    assert fit(e, "gpu", "net", sub=None).prior == pytest.approx(fit(e, "gpu", "net", sub=None).within)


def test_compose_adds_variances_and_never_narrows():
    assert compose([(0.01, 10)]) == pytest.approx(two_sided(0.95, 10) * 0.1)
    both = compose([(0.01, 10), (0.04, 3)])
    assert both == pytest.approx(math.hypot(two_sided(0.95, 10) * 0.1, two_sided(0.95, 3) * 0.2))
    assert compose([]) == 0.0 and compose([(0.01, 10), (0.04, 3)]) > compose([(0.04, 3)])


def test_clopper_pearson_is_exact():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0 and hi == pytest.approx(100 * (1 - 0.025 ** (1 / 10)))
    lo, hi = clopper_pearson(10, 10)
    assert hi == 100 and lo == pytest.approx(100 * 0.025 ** (1 / 10))
    lo, hi = clopper_pearson(19, 20)
    assert lo < 95 < hi


def test_a_group_is_judged_by_an_interval_built_without_it():
    e = _errors({f"g{i}": 0.0 for i in range(6)}, sd=0.02)
    e = pd.concat([e, _errors({"odd": 0.5}, sd=0.02)]).assign(level="model", gpu="H100", lab="x", gross=np.nan,
                                                              time=np.nan)
    h = held_out_intervals(e).set_index("group")
    assert h.loc["odd", "inside"] == 0 and (h.drop("odd")["inside"] == h.drop("odd")["rows"]).all()
    r = report(e).iloc[0]
    assert r.groups == 7 and r.groups_inside_pct == pytest.approx(600 / 7) and r.rows_ci_low_pct < r.rows_inside_pct


def test_the_shipped_coverage_report_covers_every_level_and_quantity():
    t = current().coverage()
    assert set(t["level"]) == set(LEVELS)
    for lv, q in (("rows", "net"), ("model", "net"), ("model", "gross"), ("model", "time"), ("gpu", "gross"),
                  ("split", "time")):
        r = t[(t.level == lv) & (t.quantity == q)].iloc[0]
        assert r.rows_ci_low_pct <= r.rows_inside_pct <= r.rows_ci_high_pct and r.median_hi_lo > 1
        assert r.is_range == (lv != "rows" and r.groups < MIN_GROUPS)
    model = t[t.level == "model"].set_index("quantity")  # a model without data: the level the data support
    assert (model["rows_inside_pct"] >= 90).all() and (model["median_hi_lo"] <= 2).all()
    assert model.loc["gross", "mean_error_pct"] <= 10


def test_laws_coverage_prints_the_report(capsys):
    assert main(["laws", "coverage"]) == 0
    out = capsys.readouterr().out
    for lv in LEVELS:
        assert f"  {lv:<7}net" in out
    assert main(["laws", "coverage", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["level"] for r in rows} == set(LEVELS) and all("rows_ci_low_pct" in r for r in rows)


def test_answers_name_their_levels_and_give_gross_intervals():
    own = energy_nb.predict("sdxl", 1024, 1024, 25, gpu="H100")
    assert own.interval_kind.startswith("composed by level: the rows of sdxl")
    assert own.per_image_gross_j_low < own.per_image_gross_j < own.per_image_gross_j_high
    new = energy_nb.predict("pixart-sigma", 1024, 1024, 20, gpu="B200", num_gpus=4)
    assert "an architecture family without data" in new.interval_kind and "a GPU without data" in new.interval_kind
    assert "several GPUs per image without rows for that architecture" in new.interval_kind
    assert new.interval_kind.startswith("a range") and "gpu (2 groups), split (2 groups)" in new.interval_kind
    one = energy_nb.predict("pixart-sigma", 1024, 1024, 20, gpu="B200")
    assert new.per_image_j_high / new.per_image_j > one.per_image_j_high / one.per_image_j
    flux = energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100", num_gpus=4)
    assert "the spread of splits on rows of the architecture" in flux.interval_kind  # its splits were measured
    j = json.loads(energy_nb.predict("sdxl", 1024, 1024, 25, gpu="L40S").to_json())
    assert j["per_image_gross_j_low"] < j["per_image_gross_j"] < j["per_image_gross_j_high"]
    p = energy_nb.plan("sdxl", 1024, 1024, 25, gpu="H100", images_per_day=1000).frame.iloc[0]
    assert p["gross_wh_per_image_low"] * 3600 == pytest.approx(own.per_image_gross_j_low)


def test_every_gpu_has_its_multiprocessors_clock_and_sources():
    t = table()
    assert t[["sm_count", "boost_clock_mhz", "sfu_per_clock_sm"]].notna().all().all()
    assert t["sm_source"].str.len().min() > 40
    rate, how = get_spec("H100").exp_rate()
    assert rate == pytest.approx(3.9e12, rel=0.01) and "132 SMs" in how  # FlashAttention-3's 3.9 TFLOPS of exps
    b200, h100 = get_spec("B200"), get_spec("H100")
    assert b200.tflops_half / h100.tflops_half > 2 and b200.exp_rate()[0] / h100.exp_rate()[0] < 1.25
    custom = parse_spec("name=X,tflops_bf16=500,tflops_fp32=64,bandwidth_tbs=2,power_w=500")
    assert custom.exp_rate()[0] == pytest.approx(4e12) and "estimated" in custom.exp_rate()[1]
    given = parse_spec("name=Y,tflops_bf16=500,bandwidth_tbs=2,power_w=500,sm_count=100,boost_mhz=2000")
    assert given.exp_rate()[0] == pytest.approx(100 * 16 * 2e9)


def test_softmax_is_priced_at_the_special_function_rate():
    rows = pd.DataFrame([dict(model="flux", gpu=g, height=1024, width=1024, steps=20, dtype="bf16", cfg=0,
                              n_prompts=1) for g in ("H100", "B200")])
    x = ops_features(rows)
    w = workload(rows, hardware=True)
    softmax = x["x_softmax"].to_numpy()
    assert softmax[0] / softmax[1] == pytest.approx(w["r_exp"][1] / w["r_exp"][0])
    gemm = x["x_gemm"].to_numpy()
    assert gemm[0] / gemm[1] == pytest.approx(w["r_mm"][1] / w["r_mm"][0])
    assert softmax[1] / gemm[1] > softmax[0] / gemm[0] * 1.8  # the exponentials weigh twice as much on a B200


def test_half_precision_adds_the_casts_and_fp32_traffic_the_counting_saw():
    """The audit of the counted work against what the attention processors run: fp32 norms and rotary embeddings
    cast in a half-precision run (HunyuanDiT's FP32LayerNorm most of all), none in SD2; an fp32 run adds nothing."""
    from energy_nb.compute.features import geometry

    share = {m: geometry(m, 1024, 1024)["den"]["elem_cast"] / geometry(m, 1024, 1024)["den"]["elem"]
             for m in ("hunyuandit", "flux", "sd2")}
    assert share["hunyuandit"] > share["flux"] > 0.05 > 0.001 > share["sd2"]
    assert geometry("hunyuandit", 1024, 1024)["den"]["kernels_cast"] > 0.3 * geometry("hunyuandit", 1024,
                                                                                         1024)["den"]["kernels"]
    rows = pd.DataFrame([dict(model="hunyuandit", gpu="H100", height=1024, width=1024, steps=20, dtype=d, cfg=0,
                              n_prompts=1) for d in ("bf16", "fp32")])
    x = ops_features(rows)
    w = workload(rows, hardware=True)
    plain = sum(w[f"{c}_passes"][1] * w[f"{c}_elem"][1] + w[f"{c}_calls"][1] * w[f"{c}_params"][1]
                for c in ("den", "text", "vae")) * 4 / (w["bw"][1] * 1e9)
    assert x["x_memory"].iloc[1] == pytest.approx(plain)  # fp32: the counted traffic, nothing added
    assert x["K"].iloc[0] > x["K"].iloc[1]  # bf16 launches the casts too
