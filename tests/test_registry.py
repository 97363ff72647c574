"""The model registry as data: every model's parameters against the published counts, Hugging Face ids,
--model-config folders, counted FLOPs for every model, and a tiny replica of every pipeline class."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from energy_nb.cli import main
from energy_nb.compute import features
from energy_nb.core import paths
from energy_nb.models import registry as A

SHARED_CONFIGS = paths.ROOT.parent / "shared" / "external" / "model-configs"


def _total_params(model: str) -> int:
    return sum(features.parameters(model, role) for role in features.roles(model))


@pytest.mark.parametrize("model", A.MODEL_KEYS)
def test_parameters_match_published(model):
    """Denoiser and whole-pipeline parameters (counted on meta) agree with the published counts within
    max(0.05 B, 3 %): published counts are rounded to one decimal in billions or to a headline figure. A
    known gap must be explained in the registry file, and must really be a gap."""
    spec = A.get_model(model)
    assert spec.denoiser_params_b, f"{model}: no published denoiser count in {spec.origin}"
    assert spec.published_source, f"{model}: published counts need a source"
    ours = features.parameters(model, "denoiser")
    agree = A.params_agree(ours, spec.denoiser_params_b)
    if spec.published_gap:
        assert not agree, f"{model}: the known gap is gone ({ours / 1e9:.3f}B vs {spec.denoiser_params_b}B); drop it"
    else:
        assert agree, f"{model}: denoiser {ours / 1e9:.3f}B vs published {spec.denoiser_params_b}B"
    if spec.total_params_b:
        total = _total_params(model)
        assert A.params_agree(total, spec.total_params_b), \
            f"{model}: total {total / 1e9:.3f}B vs published {spec.total_params_b}B"


def test_params_tolerance_can_fail():
    assert A.params_agree(2_567_463_684, 2.6)
    assert not A.params_agree(2_243_171_520, 2.5)
    assert not A.params_agree(1_000_000_000, 1.1)


def test_every_model_answers_to_its_hugging_face_ids():
    for key, spec in A.REGISTRY.items():
        assert spec.hf_ids, key
        for hf in spec.hf_ids:
            assert A.resolve(hf) == key
            assert A.resolve(hf.upper()) == key  # Hub ids are case-insensitive
    assert A.resolve("stabilityai/sdxl-turbo") == "sdxl"  # same networks as SDXL base
    assert A.get_model("PixArt-alpha/PixArt-Sigma-XL-2-1024-MS").key == "pixart-sigma"
    with pytest.raises(ValueError, match=r"unknown model 'org/nothing'.*sd2, sd35, flux, qwen"):
        A.resolve("org/nothing")


def test_registry_files_point_to_shipped_configs():
    """Every config a registry model reads lies under data/ (the book builds from data/), and the copied
    folder is the shared one, unchanged."""
    for spec in A.REGISTRY.values():
        for c in spec.components:
            if c.source != "inline":
                assert (paths.ROOT / c.source).is_file() and c.source.startswith("data/"), (spec.key, c.source)
    assert {s.pipeline for s in A.REGISTRY.values()} == set(A.supported_pipelines())
    if SHARED_CONFIGS.is_dir():
        ours = paths.DATA / "external" / "model-configs"
        for f in SHARED_CONFIGS.rglob("*"):
            if f.is_file():
                assert (ours / f.relative_to(SHARED_CONFIGS)).read_bytes() == f.read_bytes(), f


def test_registry_models_keep_the_paper_models_first():
    assert A.MODEL_KEYS[:4] == A.PAPER_MODELS
    assert all(A.get_model(m).paper for m in A.PAPER_MODELS)
    assert not any(A.get_model(m).paper for m in A.NEW_MODELS)
    assert len(A.NEW_MODELS) >= 11


@pytest.mark.parametrize("model", A.NEW_MODELS)
def test_flops_cli_counted_for_every_new_model(model, capsys):
    """`energy-nb flops --model <hf id> --height 1024 --width 1024 --convention counted --json` answers."""
    hf = A.get_model(model).hf_id
    assert main(["flops", "--model", hf, "--height", "1024", "--width", "1024", "--convention", "counted",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == model and out["convention"] == "counted"
    f = features.component(model, "denoiser", 1024, 1024)
    assert out["denoise_per_step"] == f.flops > 1e12
    assert out["decode"] > 0 and out["text"] > 0


def test_paper_convention_only_for_paper_models(capsys):
    assert main(["flops", "--model", "sdxl", "--height", "1024", "--width", "1024", "--convention", "paper"]) == 2
    err = capsys.readouterr().err
    assert "exists only for the paper's models" in err and "--convention counted" in err
    # without --convention: printed formulas for the paper's models, counted FLOPs for the others
    assert main(["flops", "--model", "sdxl", "--height", "1024", "--width", "1024", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["convention"] == "counted"
    assert main(["flops", "--model", "sd2", "--height", "512", "--width", "512", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["convention"] == "paper"


def test_impossible_resolution_names_the_multiple():
    with pytest.raises(ValueError, match="multiple of 32"):
        A.check_resolution("sana15-1.6b", 1000, 1024)
    with pytest.raises(ValueError, match="multiple of 64.*rounds"):
        A.check_resolution("kandinsky3", 1000, 1024)


def _copy_model_folder(tmp_path: Path, model: str) -> Path:
    """A user's folder: a copy of a registry model's Hugging Face layout."""
    root = (paths.ROOT / A.get_model(model).component("denoiser").source).parent.parent
    dst = tmp_path / "my-sd3"
    shutil.copytree(root, dst)
    return dst


@pytest.fixture
def restore_registry():
    """--model-config registers the folder's model in this process: forget it after the test."""
    before = dict(A.REGISTRY)
    yield
    A.REGISTRY.clear()
    A.REGISTRY.update(before)
    A._aliases.cache_clear()


def test_model_config_folder_works_like_the_registry(tmp_path, capsys, restore_registry):
    """--model-config DIR on a copy of SD3-medium's folder gives the registry's counted FLOPs."""
    folder = _copy_model_folder(tmp_path, "sd3m")
    assert main(["flops", "--model-config", str(folder), "--height", "1024", "--width", "1024", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "local:my-sd3" and out["convention"] == "counted"
    ref = features.component("sd3m", "denoiser", 1024, 1024)
    assert out["denoise_per_step"] == ref.flops
    spec = A.from_directory(folder)
    assert A.spec_digest(A.register(spec)) == A.spec_digest("sd3m")  # same architecture, same features key
    # a shared physical law predicts it; the per-model paper law refuses (no energy data), naming the way out
    assert main(["predict", "--model-config", str(folder), "--height", "1024", "--width", "1024", "--steps", "28",
                 "--cfg", "--law", "roofline_tc_kernels", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["per_image_j"] > 0
    assert main(["predict", "--model-config", str(folder), "--height", "1024", "--width", "1024",
                 "--steps", "28", "--law", "paper"]) == 2
    assert "physical law" in capsys.readouterr().err


def test_model_config_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        A.from_directory(tmp_path / "nothing")
    with pytest.raises(ValueError, match="no model_index.json"):
        A.from_directory(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WuerstchenPipeline"}))
    with pytest.raises(ValueError, match="pipeline 'WuerstchenPipeline'.*not supported; supported: .*SanaPipeline"):
        A.from_directory(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "PixArtSigmaPipeline"}))
    with pytest.raises(ValueError, match="missing config file .*transformer/config.json"):
        A.from_directory(tmp_path)
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="malformed JSON in .*transformer/config.json"):
        A.from_directory(tmp_path)


def _one_model_per_pipeline() -> list[str]:
    seen: dict[str, str] = {}
    for key, spec in A.REGISTRY.items():
        seen.setdefault(spec.pipeline, key)
    return list(seen.values())


@pytest.mark.parametrize("model", _one_model_per_pipeline())
def test_tiny_replica_of_every_pipeline_class_runs_on_cpu(model):
    """The real diffusers pipeline class, tiny random weights, conditioned by its real text encoders, CFG on."""
    import torch

    from energy_nb.measurement.pipelines import Replica

    spec = A.get_model(model)
    r = Replica(model, size="tiny", device="cpu")
    calls = []
    den = getattr(r.pipe, spec.component("denoiser").pipe)
    hook = den.register_forward_hook(lambda mod, args, out: calls.append(1))
    h = w = spec.multiple * max(1, 64 // spec.multiple)
    img = r(h, w, 2, cfg=True, seed=0)
    hook.remove()
    assert tuple(img.shape) == (1, 3, h, w) and torch.isfinite(img).all()
    # CFG: one batched call per step, or a second call per step (true CFG)
    assert len(calls) == (2 if spec.cfg_batched else 4)


def test_models_command_lists_the_registry(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == list(A.MODEL_KEYS)
    assert any("PixArt-alpha/PixArt-Sigma-XL-2-1024-MS" in r["hf_ids"] for r in rows)


def test_per_model_paper_law_for_new_models_with_data(capsys):
    """SDXL has ML.ENERGY rows at two resolutions: its own paper-form law, in counted FLOPs (collinear terms
    dropped, not a singular fit). SSD-1B's rows hold one FLOPs value: refused, pointing to the shared laws."""
    from energy_nb import laws

    law = laws.get("paper", "stabilityai/sdxl-turbo")
    assert law.convention == "counted" and "log_F" in law.terms and "log_res" in law.frozen
    assert main(["predict", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "25", "--cfg",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["convention"] == "counted"
    with pytest.raises(ValueError, match="single FLOPs value.*roofline_tc_kernels"):
        laws.get("paper", "ssd1b")
