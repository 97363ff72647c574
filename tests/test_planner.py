"""Deployment planner: arithmetic against hand-computed values, carbon lookup, comparisons, CLI."""
import json
import math
from pathlib import Path

import codecarbon
import pytest
from scipy import stats

from energy_nb.compute.flops import scaling_flops
from energy_nb.data import carbon
from energy_nb.laws.scaling import ScalingLaw
from energy_nb.models.configuration import Configuration
from energy_nb.planning import alternatives, planner
from helpers import cli

C_KWH_PER_GFLOP = 2e-9  # the hand-made law: E[kWh] = 2e-9 x GFLOPs (alpha = 1)
SIGMA = 0.1  # residual s.d. in log space
DF = 1000.0


def hand_law() -> ScalingLaw:
    return ScalingLaw(terms=["Intercept", "log_F"], coef={"Intercept": math.log(C_KWH_PER_GFLOP), "log_F": 1.0},
                      cov=[[0.0, 0.0], [0.0, 0.0]], scale=SIGMA ** 2, df_resid=DF, r2=1.0, n_obs=1000,
                      convention="paper", baseline_gpu="A100", gpus=["A100"], models=["flux"], dtypes=["fp16"],
                      name="hand")


def expected_wh(model, res, steps, cfg):
    gflops = scaling_flops(model, res, res, steps, cfg, 1) / 1e9  # alpha = 1: the same at any N
    return C_KWH_PER_GFLOP * gflops * 1000.0  # kWh -> Wh


def test_plan_arithmetic_matches_hand_computation():
    cfg = Configuration("flux", 1024, 1024, 30, "fp16", True, "A100")
    opts = planner.Options(pue=1.2, carbon_intensity=56.0, price_per_kwh=0.15, law=hand_law())
    row = planner.plan(planner.Workload.single(cfg, 1e6), opts).frame.iloc[0]
    net = expected_wh("flux", 1024, 30, True)  # the work, net of idle power, per image
    k = math.exp(stats.t.ppf(0.975, DF) * SIGMA)  # the 95% PI factor in linear space
    assert row["net_wh_per_image"] == pytest.approx(net, rel=1e-12)
    assert row["net_wh_per_image_low"] == pytest.approx(net / k, rel=1e-12)
    # the fleet: GPUs for the busy hours at 50% utilisation, each drawing its idle power all day, then PUE
    s, idle = row["seconds_per_image"], row["idle_w"]
    busy_h = s * 1e6 / 3600
    gpus = math.ceil(busy_h / 12)
    assert row["gpus_needed"] == gpus and idle == 53.7 and "A100-SXM4-80GB" in row["idle_source"]
    assert row["gross_wh_per_image"] == pytest.approx(net + idle * s / 3600, rel=1e-12)
    assert row["gross_kwh_per_day"] == pytest.approx(net * 1e3 + idle * busy_h / 1000, rel=1e-12)
    assert row["idle_kwh_per_day"] == pytest.approx(idle * (24 * gpus - busy_h) / 1000, rel=1e-12)
    day = (net * 1e3 + idle * 24 * gpus / 1000) * 1.2
    day_low = (net / k * 1e3 + idle * 24 * gpus / 1000) * 1.2
    assert row["pue_kwh_per_day"] == pytest.approx(day / 1.2 * 0.2, rel=1e-12)
    assert row["kwh_per_day"] == pytest.approx(day, rel=1e-12)
    assert row["kwh_per_day_low"] == pytest.approx(day_low, rel=1e-12)
    assert row["wh_per_image"] == pytest.approx(day * 1000 / 1e6, rel=1e-12)
    assert row["mwh_per_year"] == pytest.approx(day * 365 / 1000, rel=1e-12)
    assert row["g_co2e_per_image"] == pytest.approx(day / 1e6 * 56.0, rel=1e-12)
    assert row["t_co2e_per_year"] == pytest.approx(day * 365 * 56.0 / 1e6, rel=1e-12)
    assert row["cost_per_year"] == pytest.approx(day * 365 * 0.15, rel=1e-12)
    assert row["cost_per_year_low"] == pytest.approx(day_low * 365 * 0.15, rel=1e-12)
    # a host per GPU adds its watts all day
    host = planner.plan(planner.Workload.single(cfg, 1e6), planner.Options(pue=1.2, carbon_intensity=56.0,
                                                                          law=hand_law(), host_w=150.0)).frame.iloc[0]
    assert host["kwh_per_day"] - row["kwh_per_day"] == pytest.approx(150 * 24 * gpus / 1000 * 1.2, rel=1e-9)
    # PUE scales everything linearly
    no_pue = planner.plan(planner.Workload.single(cfg, 1e6), planner.Options(carbon_intensity=56.0, law=hand_law()))
    assert row["t_co2e_per_year"] / no_pue.frame.iloc[0]["t_co2e_per_year"] == pytest.approx(1.2, rel=1e-12)


def test_mix_totals_add_up_and_shares_are_checked():
    a = Configuration("flux", 1024, 1024, 30, "fp16", True)
    b = Configuration("flux", 512, 512, 20, "fp16", False)
    w = planner.Workload(((a, 0.25), (b, 0.75)), 4000.0).check()
    df = planner.plan(w, planner.Options(carbon_intensity=100.0, law=hand_law())).frame
    wa, wb = expected_wh("flux", 1024, 30, True), expected_wh("flux", 512, 20, False)
    total = df.iloc[-1]
    assert total["configuration"] == "total"
    assert total["net_kwh_per_day"] == pytest.approx((wa * 1000 + wb * 3000) / 1000, rel=1e-12)
    assert total["net_wh_per_image"] == pytest.approx(0.25 * wa + 0.75 * wb, rel=1e-12)
    assert total["kwh_per_day"] == pytest.approx(df["kwh_per_day"].iloc[:2].sum(), rel=1e-12)
    assert total["wh_per_image"] == pytest.approx(total["kwh_per_day"] / 4, rel=1e-12)
    assert total["gpus_needed"] == df["gpus_needed"].iloc[:2].sum()
    assert total["mwh_per_year_low"] == pytest.approx(df["mwh_per_year_low"].iloc[:2].sum(), rel=1e-12)
    with pytest.raises(ValueError, match="shares of a mix must add up to 1; these add up to 0.9"):
        planner.Workload(((a, 0.5), (b, 0.4)), 10.0).check()
    with pytest.raises(ValueError, match="images per day -1 is not allowed"):
        planner.Workload.single(a, -1)
    with pytest.raises(ValueError, match="PUE 0.9 is not allowed"):
        planner.Options(pue=0.9).check()


def test_carbon_lookup_comes_from_codecarbon_data():
    base = Path(codecarbon.__file__).parent / "data" / "private_infra"
    mix = json.loads((base / "global_energy_mix.json").read_text())
    fra = carbon.intensity("FRA")
    assert fra.g_per_kwh == mix["FRA"]["carbon_intensity"] and fra.name == "France"
    assert carbon.intensity("ind").g_per_kwh == mix["IND"]["carbon_intensity"] > fra.g_per_kwh
    usa = json.loads((base / "2023" / "usa_emissions.json").read_text())
    assert carbon.intensity("USA/california").g_per_kwh == pytest.approx(
        usa["california"]["emissions"] * 0.453592, rel=1e-9)
    with pytest.raises(ValueError, match="unknown country code 'XYZ'"):
        carbon.intensity("XYZ")
    with pytest.raises(ValueError, match="unknown region 'USA/atlantis'"):
        carbon.intensity("USA/atlantis")
    assert planner.Options().intensity().g_per_kwh == 475  # CodeCarbon's world average when none is given


def test_compare_ranks_alternatives_and_reports_savings():
    base = Configuration("qwen", 1024, 1024, 30, "fp16", True)
    df = alternatives.compare(base, 1000.0, planner.Options(carbon_intensity=50.0))
    assert df["mwh_per_year"].dropna().is_monotonic_increasing
    b = df[df.change == "(base)"].iloc[0]
    off = df[df.change == "CFG off"].iloc[0]
    assert off["saving_pct"] == pytest.approx(100 * (1 - off["mwh_per_year"] / b["mwh_per_year"]))
    assert off["saving_pct"] > 30  # CFG doubles denoising
    assert df[df.change == "15 steps instead of 30"].iloc[0]["saving_pct"] > 0
    fp32 = df[df.change == "fp32 instead of fp16"].iloc[0]
    # Qwen-Image in fp32 holds about 108 GB of weights: no A100 can run it, so the alternative is not priced
    assert math.isnan(fp32["saving_pct"]) and "does not fit on A100" in fp32["note"]
    sd2 = alternatives.compare(Configuration("sd2", 768, 768, 30, "fp16", True), 1e6,
                               planner.Options(carbon_intensity=50.0))
    # SD2 has fp32 rows of its own: fp32 costs several times fp16
    assert sd2[sd2.change == "fp32 instead of fp16"].iloc[0]["saving_pct"] < -100


def test_cli_plan_issue_example_and_errors():
    args = ["plan", "--model", "flux", "--gpu", "A100", "--height", "1024", "--width", "1024", "--steps", "30",
            "--dtype", "fp16", "--cfg", "--images-per-day", "1e6"]
    p = cli(*args, "--country", "FRA", "--price-kwh", "0.15", "--pue", "1.2", "--compare")
    assert "Wh/image drawn by the GPUs (95% PI" in p.stdout and "tCO2e/year" in p.stdout and "France (FRA)" in p.stdout
    for layer in ("net of idle power (the paper's footing)", "+ idle power while working = gross",
                  "GPU(s) while waiting", "+ facility, x (PUE 1.2 - 1)", "USD per year", "idle   : per GPU 53.7 W"):
        assert layer in p.stdout, layer
    assert "saving" in p.stdout and "CFG off" in p.stdout
    j1 = json.loads(cli(*args, "--carbon-intensity", "56", "--json").stdout)
    j2 = json.loads(cli(*args, "--carbon-intensity", "56", "--pue", "1.2", "--json").stdout)
    r1, r2 = j1["workload"][0], j2["workload"][0]
    assert r2["mwh_per_year"] / r1["mwh_per_year"] == pytest.approx(1.2)
    assert r1["net_wh_per_image"] < r1["gross_wh_per_image"] < r1["wh_per_image"]  # the layers add up
    assert r1["t_co2e_per_year"] == pytest.approx(r1["mwh_per_year"] * 56 / 1000)
    assert r1["wh_per_image_low"] < r1["wh_per_image"] < r1["wh_per_image_high"]
    pred = json.loads(cli("predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30",
                          "--cfg", "--json").stdout)
    assert r1["net_wh_per_image"] == pytest.approx(pred["per_image_wh"], rel=1e-9)  # one answer for one image
    assert r1["gross_wh_per_image"] == pytest.approx(pred["per_image_gross_j"] / 3600, rel=1e-9)
    assert j1["idle"] == pred["idle_source"] and "53.7 W" in pred["idle_source"]
    bad = cli(*args, "--country", "XYZ", check=False)
    assert bad.returncode == 2 and "unknown country code 'XYZ'" in bad.stderr
    bad = cli(*args[:-1], "-5", check=False)
    assert bad.returncode == 2 and "'-5' is not allowed: a finite number >= 0" in bad.stderr
    bad = cli(*args, "--gpu", "L40S", "--law", "paper", check=False)
    assert bad.returncode == 2 and "GPU 'L40S' is not in this law" in bad.stderr


def test_cli_plan_mix_file(tmp_path):
    f = tmp_path / "mix.yml"
    f.write_text("- {model: flux, resolution: 1024, steps: 30, cfg: true, share: 0.2}\n"
                 "- {model: sd35, resolution: 512, steps: 20, share: 0.8}\n")
    j = json.loads(cli("plan", "--mix", str(f), "--images-per-day", "5000", "--country", "USA", "--json").stdout)
    rows = j["workload"]
    assert [r["configuration"] for r in rows][-1] == "total"
    assert rows[-1]["kwh_per_day"] == pytest.approx(rows[0]["kwh_per_day"] + rows[1]["kwh_per_day"])
    text = cli("plan", "--mix", str(f), "--images-per-day", "5000", "--country", "USA").stdout
    assert "nan" not in text.lower() and text.count("s/image)") == 2  # the two configurations; the total has none
    f.write_text("- {model: flux, resolution: 1024, steps: 30, colour: red, share: 1}\n")
    bad = cli("plan", "--mix", str(f), "--images-per-day", "10", check=False)
    assert bad.returncode == 2 and "unknown key 'colour'" in bad.stderr
