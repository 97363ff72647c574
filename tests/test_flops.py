"""FLOPs: primitives by hand, analytic vs counted, errors, CLI; the tables of page A.1."""
import json
import math

import pytest

from energy_nb.compute import flop_tables
from energy_nb.compute import flops as F
from energy_nb.compute.features import parameters as count_parameters
from helpers import cli


def test_primitives_hand_computed():
    assert F.conv(3, 4, 320, 64, 64) == 2 * 64 * 64 * 9 * 4 * 320 == 94_371_840
    assert F.resnet(3, 320, 640, 8, 8) == 2 * 64 * 9 * 320 * 640 + 2 * 64 * 9 * 640 * 640
    # Tr(d=4, dff=8, dattn=4, n=1, ctx=2): P = 2*4*1*(8+8) = 128; c = 2P + 2*1*2*4 = 272; x2 = 544
    assert F.transformer(4, 8, 4, 1, 2) == 544
    assert F.transformer(4, 8, 4, 1, 2, attn=2) == 2 * (256 + 32)
    # MMDiT: P = 4*4*1*(16) = 256; c = P + 2*1*2*4 = 272; x2 = 544
    assert F.mmdit(4, 8, 4, 1, 2) == 544
    # CrossTr(dq=4, dk=6, dff=8, dattn=4, n=1, nq=3, nk=5): P = 2[4*12 + 6*4] = 144; c = 288 + 2*5*4 = 328; x3
    assert F.cross_transformer(4, 6, 8, 4, 1, 3, 5) == 984
    # Flux at 1024^2 as printed: n_ctx = 4096 + 512
    n = 4608
    expected = n * (4 * 3072 * 19 * 18432 + 2 * 19 * n * 3072) + n * (2 * 2 * 3072 * 38 * 18432 + 2 * 38 * n * 3072)
    assert F.model_flops("flux", 1024, 1024).denoise_per_step == expected


def test_eq1_total_and_cfg():
    b = F.model_flops("sd35", 512, 512)
    assert b.total(10) == b.text + 10 * b.denoise_per_step + b.decode
    assert b.total(10, cfg=True) - b.total(10) == 10 * b.denoise_per_step
    assert F.scaling_flops("sd35", 512, 512, 10, True, 100) == 100 * 10 * 2 * b.denoise_per_step


@pytest.mark.parametrize("model", ["sd35", "flux", "qwen"])
@pytest.mark.parametrize("res", [256, 512, 1024])
def test_bidirectional_mmdit_matches_counted_within_2pct(model, res):
    b = F.model_flops(model, res, res, "bidirectional").denoise_per_step
    c = F.model_flops(model, res, res, "counted").denoise_per_step
    assert abs(b / c - 1) < 0.02


@pytest.mark.parametrize("res", [256, 512, 768, 1024])
def test_sd2_unet_analytic_matches_counted(res):
    # Justified in the FLOPs appendix: the sum is exact up to ops the counter ignores (norms, activations).
    b = F.model_flops("sd2", res, res, "bidirectional").denoise_per_step
    c = F.model_flops("sd2", res, res, "counted").denoise_per_step
    assert abs(b / c - 1) < 0.005


def test_printed_formula_undercounts_flux_about_11pct():
    p = F.model_flops("flux", 1024, 1024, "paper").denoise_per_step
    c = F.model_flops("flux", 1024, 1024, "counted").denoise_per_step
    assert 1.09 < c / p < 1.13


def test_denoising_dominates_at_10_steps_in_paper_convention():
    for m in ("sd35", "flux", "qwen", "sd2"):
        for r in (256, 512, 768, 1024):
            assert F.model_flops(m, r, r).denoise_share(10) > 0.5


def test_parameter_counts_of_replicas():
    assert count_parameters("flux") == pytest.approx(11.9e9, rel=0.01)
    assert count_parameters("sd35") == pytest.approx(8.06e9, rel=0.01)
    assert count_parameters("qwen") == pytest.approx(20.43e9, rel=0.01)
    assert count_parameters("sd2") == pytest.approx(0.866e9, rel=0.01)


@pytest.mark.parametrize("args, message", [
    (("flux", 1000, 1024), "height 1000 is impossible for flux: it must be a positive multiple of 16"),
    (("sd2", 512, 20), "width 20 is impossible for sd2: it must be a positive multiple of 8"),
    (("dalle", 512, 512), "unknown model 'dalle'; allowed: sd2, sd35, flux, qwen"),
])
def test_bad_input_errors(args, message):
    with pytest.raises(ValueError, match=message):
        F.model_flops(*args)
    with pytest.raises(ValueError, match="unknown convention 'causal'; allowed: paper, bidirectional, counted"):
        F.model_flops("flux", 512, 512, "causal")
    with pytest.raises(ValueError, match="steps 0 is not allowed"):
        F.model_flops("flux", 512, 512).total(0)


def test_cli_flops_json():
    out = json.loads(cli("flops", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "10",
                         "--cfg", "--json").stdout)
    b = F.model_flops("flux", 1024, 1024)
    assert out["denoise_per_step"] == b.denoise_per_step
    assert out["total"] == pytest.approx(b.text + 20 * b.denoise_per_step + b.decode)
    bad = cli("flops", "--model", "flux", "--height", "1000", "--width", "1024", check=False)
    assert bad.returncode == 2 and "multiple of 16" in bad.stderr
    bad = cli("flops", "--model", "flux", "--height", "512", "--width", "512", "--steps", "0", check=False)
    assert bad.returncode == 2 and "integer >= 1" in bad.stderr


@pytest.mark.parametrize("model", ["sd2", "sd35", "flux", "qwen"])
def test_tiny_variants_build_on_cpu_and_full_size_is_refused(model):
    from energy_nb.models.build import build
    from energy_nb.models.registry import get_model

    for comp in get_model(model).components:
        m = build(model, comp.role, size="tiny", device="cpu")
        assert 0 < sum(p.numel() for p in m.parameters()) < 1_000_000
    with pytest.raises(ValueError, match="refusing to allocate full-size"):
        build(model, "denoiser", size="full", device="cpu")


# ---------------------------------------------------------------------------------------------------
# The tables of page A.1 (energy_nb.compute.flop_tables)
# ---------------------------------------------------------------------------------------------------
def test_breakdown_table_has_one_row_per_model_resolution_and_convention_in_that_order():
    t = flop_tables.breakdown_table(["sd2", "flux"], [256, 512], ["paper", "bidirectional"], 10)
    assert list(zip(t.model, t.height, t.convention)) == [
        ("sd2", 256, "paper"), ("sd2", 256, "bidirectional"), ("sd2", 512, "paper"), ("sd2", 512, "bidirectional"),
        ("flux", 256, "paper"), ("flux", 256, "bidirectional"), ("flux", 512, "paper"),
        ("flux", 512, "bidirectional")]
    b = F.model_flops("flux", 512, 512, "bidirectional")
    row = t[(t.model == "flux") & (t.height == 512) & (t.convention == "bidirectional")].iloc[0]
    assert (row.width, row.steps, row.cfg) == (512, 10, False)
    assert (row.text, row.denoise_per_step, row.decode, row.total) == (b.text, b.denoise_per_step, b.decode,
                                                                        b.total(10))


def test_denoise_shares_are_the_denoising_part_of_each_rows_total():
    t = flop_tables.denoise_shares(flop_tables.breakdown_table(["sd2", "qwen"], [256, 1024], ["paper"], 10), 7)
    expected = 7 * t.denoise_per_step / (t.text + 7 * t.denoise_per_step + t.decode)  # at 7 steps, not the table's 10
    assert t.denoise_share.tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    assert ((t.denoise_share > 0) & (t.denoise_share < 1)).all()


@pytest.mark.parametrize("model", ["sd2", "sd35", "flux", "qwen"])
def test_steps_to_dominate_is_the_fewest_steps_past_the_threshold_at_every_resolution(model):
    res = [256, 512, 768, 1024]
    t = flop_tables.steps_to_dominate(model, res)
    fl = [F.model_flops(model, r, r, "paper") for r in res]
    # closed form: T d / (text + T d + decode) >= 0.9  <=>  T >= 0.9 (text + decode) / (0.1 d), at every resolution
    assert t == max(math.ceil(0.9 * (f.text + f.decode) / (0.1 * f.denoise_per_step) - 1e-9) for f in fl)
    assert all(f.denoise_share(t) >= 0.9 for f in fl)
    assert t == 1 or any(f.denoise_share(t - 1) < 0.9 for f in fl)


def test_steps_to_dominate_follows_threshold_resolutions_and_limit():
    assert flop_tables.steps_to_dominate("sd2", [1024], threshold=0.0) == 1
    many = flop_tables.steps_to_dominate("sd2", [256, 512, 768, 1024])
    assert many > 10  # SD2's small denoiser beside its decoder: the paper's claim fails at 10 steps
    assert flop_tables.steps_to_dominate("sd2", [256, 512, 768, 1024], limit=many) is None
    assert flop_tables.steps_to_dominate("sd2", [256, 512, 768, 1024], limit=many + 1) == many
    assert flop_tables.steps_to_dominate("sd2", [256, 512, 768, 1024], threshold=0.95) > many


def test_per_step_by_convention_gives_gflops_and_ratios_to_counted_in_the_tables_order():
    t = flop_tables.breakdown_table(["sd2", "flux"], [256, 512], ["paper", "bidirectional", "counted"], 10)
    den = flop_tables.per_step_by_convention(t)
    assert list(den.columns) == ["bidirectional", "counted", "paper", "paper / counted", "bidirectional / counted"]
    assert den.loc[("flux", 512), "paper"] == F.model_flops("flux", 512, 512, "paper").denoise_per_step / 1e9
    assert den.loc[("sd2", 256), "paper / counted"] == pytest.approx(
        F.model_flops("sd2", 256, 256, "paper").denoise_per_step
        / F.model_flops("sd2", 256, 256, "counted").denoise_per_step, rel=1e-12)
    no_count = flop_tables.per_step_by_convention(flop_tables.breakdown_table(["sd2"], [256], ["paper"], 10))
    assert list(no_count.columns) == ["paper"]


def test_replica_table_counts_each_denoiser():
    t = flop_tables.replica_table(["flux", "sd2"])
    assert list(t.columns) == ["model", "denoiser class", "parameters (B)", "paper (B)", "text tokens",
                               "pixels per token side"]
    assert t["parameters (B)"].tolist() == [count_parameters("flux") / 1e9, count_parameters("sd2") / 1e9]
    assert t["denoiser class"].tolist() == ["FluxTransformer2DModel", "UNet2DConditionModel"]
    assert t["pixels per token side"].tolist() == [16, 8]


def test_operator_gflops_add_up_to_the_counted_denoiser_flops():
    ops = flop_tables.operator_gflops(["sd2", "flux"], 512)
    assert ops.index.name == "operator" and not ops.isna().any().any()
    assert ops.loc["convolution", "Flux.1-dev"] == 0  # no convolution in Flux's transformer: 0, not missing
    for m, name in (("sd2", "Stable Diffusion 2"), ("flux", "Flux.1-dev")):
        assert ops[name].sum() * 1e9 == pytest.approx(F.model_flops(m, 512, 512, "counted").denoise_per_step,
                                                      rel=1e-9)


def test_unet_stage_table_sums_every_term_per_stage_in_the_networks_order():
    rows = F.unet_stages(512, 512, "paper")
    t = flop_tables.unet_stage_table(512, 512, "paper")
    assert list(t.index) == list(dict.fromkeys(r["stage"] for r in rows))
    assert t.index[0] == "ConvIn" and t.index[-1] == "ConvOut"
    assert t["terms"].sum() == len(rows)
    assert t.loc["Down 2", "resolution"] == "32x32"
    assert t.loc["Mid", "gflops"] == pytest.approx(sum(r["flops"] for r in rows if r["stage"] == "Mid") / 1e9,
                                                   rel=1e-12)
    assert t["gflops"].sum() * 1e9 == pytest.approx(sum(r["flops"] for r in rows), rel=1e-12)
