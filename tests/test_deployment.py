"""Answers a deployment can rely on: GPU and model names as users type them, configurations that can run, the
fleet's energy as the plan's headline, and flags that say what they do."""
from __future__ import annotations

import json

import pytest

import energy_nb
from energy_nb.compute import memory
from energy_nb.core.errors import UserError
from energy_nb.data.shipped import law_data
from energy_nb.models.configuration import Configuration
from helpers import cli

SDXL = dict(model="sdxl", height=1024, width=1024, steps=30, cfg=True)


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["H100-80GB-HBM3", "h100-80gb-hbm3", "NVIDIA H100 80GB HBM3", "h100", " H100 "])
def test_h100_names_as_tools_print_them_are_the_h100_with_data(name):
    want = energy_nb.predict(**SDXL, gpu="H100")
    got = energy_nb.predict(**SDXL, gpu=name.strip() if name.startswith(" ") else name)
    assert (got.per_image_j, got.per_image_j_low, got.per_image_j_high, got.law) == (
        want.per_image_j, want.per_image_j_low, want.per_image_j_high, want.law)
    assert got.configuration.gpu == "H100"
    if name.strip().lower() != "h100":
        assert any("the H100 rows were measured on H100-80GB-HBM3" in n for n in got.notes), got.notes


@pytest.mark.parametrize("name", ["A100-SXM4-40GB", "a100-sxm4-80gb", "NVIDIA A100-SXM4-40GB", "a100"])
def test_a100_parts_the_data_were_measured_on_are_the_a100(name):
    assert energy_nb.predict(**SDXL, gpu=name).per_image_j == energy_nb.predict(**SDXL, gpu="A100").per_image_j


def test_a_part_without_data_is_still_priced_from_its_own_datasheet():
    pcie = energy_nb.predict(**SDXL, gpu="h100-pcie-80gb")
    assert pcie.configuration.gpu == "H100-PCIe-80GB" and "has no energy data" in pcie.law_reason


def test_unknown_names_get_the_closest_ones():
    with pytest.raises(UserError, match=r"GPU 'H10' is not a GPU of gpus.csv; closest: H100"):
        energy_nb.predict(**SDXL, gpu="H10")
    with pytest.raises(UserError, match=r"unknown model 'sdxll'; closest: sdxl"):
        energy_nb.predict("sdxll", 512, 512, 20)
    for name in ("SDXL", "STABILITYAI/stable-diffusion-xl-base-1.0", "stable diffusion xl base 1.0 (and sdxl-turbo)"):
        assert Configuration(name, 512, 512, 20).model == "sdxl", name
    out = cli("predict", "--model", "sdxl", "--height", "512", "--width", "512", "--steps", "20", "--gpu",
              "NVIDIA H100 80GB HBM3")
    assert out.stdout.startswith("sdxl 512x512, 20 steps, fp16, CFG off, H100,")


# -- configurations that can run -------------------------------------------------------------------
def test_every_measured_configuration_fits_its_gpu():
    """The memory check is a lower bound: every configuration measured in data/ passes it on its GPU."""
    rows = law_data()
    for r in rows.drop_duplicates(["model", "gpu", "height", "width", "dtype", "cfg", "batch_size"]).itertuples():
        c = Configuration(r.model, int(r.height), int(r.width), int(r.steps), r.dtype, bool(r.cfg), r.gpu,
                          int(r.batch_size))
        assert memory.fits(c), (c.label(), memory.need(c).text())


def test_configurations_that_cannot_run_are_refused_in_one_line():
    with pytest.raises(UserError, match=r"qwen 1024x1024 fp32 batch 16 does not fit on L40S \(L40S: NVIDIA L40S GPU "
                                        r"datasheet: 48 GB GDDR6\): it needs at least 1\d\d\.\d GB: weights 107\.5 GB"):
        energy_nb.predict("qwen", 1024, 1024, 30, "fp32", gpu="L40S", batch_size=16)
    with pytest.raises(UserError, match=r"bf16 on V100 cannot run: its hardware runs fp32, fp16 .*allowed: --dtype "
                                        r"fp32 or fp16"):
        energy_nb.predict("flux", 1024, 1024, 30, "bf16", gpu="V100")
    with pytest.raises(UserError, match=r"allowed: batch size up to \d+"):
        energy_nb.predict("sdxl", 1024, 1024, 30, gpu="L40S", batch_size=4096)
    spec = "name=My24,tflops_bf16=165,bandwidth_tbs=1,power_w=450,memory_gb=24"  # --gpu-spec may give the memory
    bad = cli("predict", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "28", "--dtype", "bf16",
              "--gpu-spec", spec, check=False)
    assert bad.returncode == 2 and "does not fit on My24 (given on the command line (--gpu-spec))" in bad.stderr
    # a family is judged on its largest part: Qwen-Image in half precision (about 54 GB) runs on an 80 GB A100
    assert energy_nb.predict("qwen", 1024, 1024, 30, gpu="A100").per_image_j > 0
    bad = cli("plan", "--model", "qwen", "--height", "1024", "--width", "1024", "--steps", "30", "--dtype", "fp32",
              "--gpu", "L40S", "--batch-size", "16", "--images-per-day", "100", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "does not fit on L40S" in bad.stderr


def test_the_planner_never_plans_a_batch_that_cannot_fit():
    p = energy_nb.plan("flux", 256, 256, 28, "fp16", gpu="V100", images_per_day=1000, latency_target=600,
                       compare=True)
    c = p.workload.mix[0][0]
    largest = memory.largest_batch(c.replace(batch_size=1, num_gpus=1, ulysses=None, ring=None), 32)
    assert memory.fits(c) and 1 <= largest < 16  # FLUX.1-dev's 31 GB of weights leave a 32 GB V100 little room
    assert p.latency["batch_size"].max() <= largest and set(p.latency["num_gpus"]) >= {1, 2}


def test_far_beyond_anything_counted_is_refused_not_answered_within_ten_percent():
    with pytest.raises(UserError, match=r"100000x100000 = 10,000,000,000 px is more than 4x the largest resolution "
                                        r"counted for sdxl \(1024x1024\).*allowed: up to 4,194,304 px"):
        energy_nb.predict("sdxl", 100000, 100000, 30)
    assert Configuration("sdxl", 1024.0, 1024, 30.0).height == 1024  # integral floats are integers


# -- the fleet's energy --------------------------------------------------------------------------
def test_the_plan_heads_with_what_the_gpus_draw_layer_by_layer():
    """The issue's SDXL plan: net is the paper's footing; the GPUs draw it, their idle power while working (gross)
    and while waiting; every layer is on its own line and in --json, and the idle figure is named."""
    args = ["plan", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "30", "--cfg", "--gpu",
            "H100", "--images-per-day", "1e6", "--country", "DEU"]
    j = json.loads(cli(*args, "--json").stdout)
    r = j["workload"][0]
    p = energy_nb.predict(**SDXL, gpu="H100")
    assert r["net_wh_per_image"] == pytest.approx(p.per_image_wh, rel=1e-12)
    assert r["gross_wh_per_image"] == pytest.approx(p.per_image_gross_j / 3600, rel=1e-12)
    busy = p.per_image_s * 1e6 / 3600
    assert r["gpus_needed"] == 60 and r["gpu_hours_per_day"] == pytest.approx(busy)
    assert r["idle_kwh_per_day"] == pytest.approx(71.8 * (24 * 60 - busy) / 1000)
    assert r["kwh_per_day"] == pytest.approx(r["net_kwh_per_day"] + 71.8 * 24 * 60 / 1000)
    assert r["kwh_per_day"] / r["net_kwh_per_day"] > 1.3  # a meter reads well above the paper's net
    assert "71.8 W" in j["idle"] and "no CUDA context" in j["idle"] and "Vadari" in j["idle"]
    assert [k for k, _ in j["layers"]] == ["net_kwh_per_day", "work_idle_kwh_per_day", "idle_kwh_per_day",
                                           "host_kwh_per_day", "pue_kwh_per_day"]
    assert sum(r[k] for k, _ in j["layers"]) == pytest.approx(r["kwh_per_day"], rel=1e-12)  # the layers add up
    text = cli(*args, "--host-w", "100", "--pue", "1.1").stdout
    for line in ("Wh/image drawn by the GPUs", "net of idle power (the paper's footing)", "= gross",
                 "+ idle power of the 60 GPU(s) while waiting", "+ host, 100 W per GPU all day", "(PUE 1.1 - 1)",
                 "idle   : per GPU 71.8 W"):
        assert line in text, line
    assert max(len(x) for x in text.splitlines()) <= 120


def test_costs_name_their_currency():
    base = ["plan", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "30", "--images-per-day",
            "1000", "--price-kwh", "0.2"]
    assert "USD per year" in cli(*base).stdout and "prices in USD" in cli(*base).stdout
    assert "EUR per year" in cli(*base, "--currency", "EUR").stdout
    assert json.loads(cli(*base, "--currency", "EUR", "--json").stdout)["units"]["cost_per_year"] == "EUR"


# -- flags that say what they do -------------------------------------------------------------------
def test_cfg_on_a_guidance_distilled_model_says_it_runs_true_cfg():
    flux = energy_nb.predict("flux", 1024, 1024, 28, cfg=True, gpu="H100")
    assert any("CFG on Flux.1-dev is true CFG" in n and "twice the denoiser's work" in n for n in flux.notes)
    assert "note      : CFG on Flux.1-dev is true CFG" in str(flux)
    assert not energy_nb.predict("sdxl", 1024, 1024, 28, cfg=True).notes  # its default runs CFG: nothing to say
    assert not energy_nb.predict("flux", 1024, 1024, 28).notes


def test_every_answer_names_its_idle_figure():
    for gpu, words in (("A100", "53.7 W"), ("L40S", "estimated")):
        p = energy_nb.predict(**SDXL, gpu=gpu)
        assert words in p.idle_source and f"idle      : {p.idle_source}" in str(p)
        assert p.to_dict()["idle_source"] == p.idle_source


def test_the_limit_beyond_the_counted_is_the_shipped_table_s_largest_resolution():
    """models.configuration cannot import compute.features (a layer above): its limit restates the largest square the
    shipped features count for each model, and this test keeps the two the same."""
    from energy_nb.compute.features import SHIPPED, shipped_resolutions
    from energy_nb.models import configuration
    from energy_nb.models.registry import MODEL_KEYS

    assert configuration.LARGEST_COUNTED == max(dict(SHIPPED)["full"])
    for m in MODEL_KEYS:
        side = max(shipped_resolutions(m, "full"))
        configuration.check_within_counted(m, 2 * side, 2 * side)  # 4x the pixels: allowed
        with pytest.raises(UserError, match=f"more than 4x the largest resolution counted for {m}"):
            configuration.check_within_counted(m, 2 * side, 2 * side + 8)
