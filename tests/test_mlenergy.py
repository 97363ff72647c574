"""Independent measurements: ML.ENERGY import round-trips, schema extension, static power, H100 and
batch-size predictions, GPU count in the planner."""
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

import energy_nb
from energy_nb import laws
from energy_nb.data import mlenergy, power, schema
from energy_nb.measurement.log import RowLog
from energy_nb.models.configuration import Configuration
from energy_nb.planning import planner
from helpers import ROOT, cli

V2 = ROOT / "data" / "external" / "mlenergy-leaderboard-v2"
V3 = ROOT / "data" / "external" / "mlenergy-leaderboard-v3" / "text-to-image.json"
SHARED = ROOT.parent / "shared" / "external"


def test_v2_every_file_round_trips():
    root = V2 / "data" / "diffusion" / "text-to-image"
    files = sorted(root.glob("*/*/*/bs*+steps*.json"))
    df = mlenergy.read_v2(V2)
    assert len(df) == len(files) == 86
    by_source = df.set_index("source")
    for f in files:
        rec = json.loads(f.read_text())
        row = by_source.loc[f"ML.ENERGY v2: {f.relative_to(V2).as_posix()}"]
        assert row["energy_j"] / row["n_prompts"] == pytest.approx(rec["Energy/image (J)"], rel=1e-12)
        assert row["time_s"] * row["batch_size"] == pytest.approx(rec["Batch latency (s)"], rel=1e-12)
        assert (row["batch_size"], row["steps"]) == (rec["Batch size"], rec["Denoising steps"])
        assert row["gpu_part"] == rec["GPU"].replace("NVIDIA ", "").replace(" ", "-")
        assert row["energy_scope"] == "gross" and row["num_gpus"] == 1 and row["cfg"] == 1
    sd2 = df[df.model == "sd2"]
    assert set(sd2.gpu) == {"A100", "H100"} and set(sd2.height) == {768}
    assert "kandinsky-community/kandinsky-2-2-decoder" in set(df.model)  # not in the registry: kept with its Hugging Face id
    assert "sdxl" in set(df.model) and "stabilityai/sdxl-turbo" not in set(df.model)  # same networks as SDXL


def test_v3_every_configuration_round_trips():
    recs = json.loads(V3.read_text())["configurations"]
    df = mlenergy.read_v3(V3)
    assert len(df) == len(recs) == 85
    for rec, row in zip(recs, df.itertuples()):
        assert row.energy_j / row.n_prompts == pytest.approx(rec["energy_per_image_joules"], rel=1e-12)
        assert row.time_s * row.batch_size == pytest.approx(rec["batch_latency_s"], rel=1e-12)
        assert row.num_gpus == rec["num_gpus"] and row.dtype == "bf16"
        assert row.model == {"black-forest-labs/FLUX.1-dev": "flux", "stabilityai/stable-diffusion-3.5-large": "sd35"}[rec["model_id"]]
        assert row.cfg == (0 if row.model == "flux" else 1)


V3_VIDEO = V3.parent / "text-to-video.json"


def test_v3_video_every_configuration_round_trips(tmp_path):
    """Each text-to-video configuration is one record: energy and time per video as published, frames and fps kept,
    guidance as the pipelines ran it, the split over GPUs; through the command line to a CSV and back unchanged."""
    recs = json.loads(V3_VIDEO.read_text())["configurations"]
    df = mlenergy.read(V3_VIDEO)
    assert len(df) == len(recs) == 172 and set(df.gpu) == {"H100"} and (df.energy_scope == "gross").all()
    for rec, row in zip(recs, df.itertuples()):
        assert row.energy_j / row.n_prompts == pytest.approx(rec["energy_per_video_joules"], rel=1e-12)
        assert row.time_s * row.batch_size == pytest.approx(rec["batch_latency_s"], rel=1e-12)
        assert (row.frames, row.fps, row.height, row.width) == (rec["num_frames"], rec["fps"], rec["video_height"],
                                                                 rec["video_width"])
        assert row.n_prompts == 2 * rec["batch_size"] and row.ulysses_degree * row.ring_degree == row.num_gpus
        assert row.cfg == (0 if rec["model_id"] == "tencent/HunyuanVideo" else 1) and row.dtype == "bf16"
    one = df[(df.model == "tencent/HunyuanVideo") & (df.num_gpus == 1) & (df.batch_size == 1)].iloc[0]
    assert one.energy_j / one.n_prompts / 3600 == pytest.approx(323.4, abs=0.1)  # Wh per clip: the figure
    out = tmp_path / "video.csv"
    j = json.loads(cli("import", "mlenergy", str(V3_VIDEO), "--out", str(out), "--json").stdout)
    back = schema.read_energy_csv(out)
    assert j["rows"] == len(back) == 172
    assert list(back.frames) == list(df.frames) and np.allclose(back.fps, df.fps) and np.allclose(back.energy_j,
                                                                                                  df.energy_j)


def test_video_columns_are_checked_and_default_to_an_image(tmp_path):
    f = tmp_path / "v.csv"
    head = "model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source,frames,fps\n"
    f.write_text(head + "a/b,H100,480,832,50,bf16,1,1,6e4,test,81,15\n")
    row = schema.read_energy_csv(f).iloc[0]
    assert (row.frames, row.fps) == (81, 15.0)
    f.write_text(head + "a/b,H100,480,832,50,bf16,1,1,6e4,test,0,15\n")
    with pytest.raises(schema.SchemaError, match="column 'frames': got 0; allowed: an integer >= 1"):
        schema.read_energy_csv(f)
    f.write_text(head + "a/b,H100,480,832,50,bf16,1,1,6e4,test,1,15\n")
    with pytest.raises(schema.SchemaError, match="column 'fps': got 15.0; allowed: empty for an image"):
        schema.read_energy_csv(f)
    legacy = schema.read_energy_csv(ROOT / "data" / "paper" / "a100_energy.csv")
    assert (legacy.frames == 1).all() and legacy.fps.isna().all()  # written before the columns: images
    data = json.loads(V3_VIDEO.read_text())
    del data["configurations"][5]["num_frames"]
    bad = tmp_path / "t2v.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"configurations\[5\]: field 'num_frames' is missing"):
        mlenergy.read_v3(bad)


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_cli_import_from_shared_writes_the_schema(tmp_path, version):
    src = SHARED / f"mlenergy-leaderboard-{version}"
    if not src.exists():
        src = V2 if version == "v2" else V3.parent
    out = tmp_path / "rows.csv"
    j = json.loads(cli("import", "mlenergy", str(src if version == "v2" else src / "text-to-image.json"),
                       "--out", str(out), "--json").stdout)
    back = schema.read_energy_csv(out)
    assert len(back) == j["rows"] == (86 if version == "v2" else 85)
    direct = mlenergy.read(src)
    assert np.allclose(back["energy_j"], direct["energy_j"], rtol=1e-12)
    assert (back["energy_scope"] == "gross").all()


def _copy_v2(tmp_path):
    dst = tmp_path / "v2"
    shutil.copytree(V2, dst)
    return dst, sorted((dst / "data" / "diffusion" / "text-to-image").glob("A100*/*/*/bs1+steps25.json"))[0]


def test_bad_input_names_file_and_field(tmp_path):
    dst, f = _copy_v2(tmp_path)
    rec = json.loads(f.read_text())
    del rec["Batch latency (s)"]
    f.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"bs1\+steps25.json: field 'Batch latency \(s\)' is missing"):
        mlenergy.read_v2(dst)
    rec["Batch latency (s)"], rec["GPU"] = 1.0, "Radeon 9000"
    f.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"field 'GPU': GPU 'Radeon 9000' is not one we can map to a family"):
        mlenergy.read_v2(dst)
    bad = tmp_path / "v3.json"
    data = json.loads(V3.read_text())
    data["configurations"][3]["weight_precision"] = "int4"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"configurations\[3\]: field 'weight_precision' is 'int4'"):
        mlenergy.read_v3(bad)
    p = cli("import", "mlenergy", str(tmp_path / "nowhere"), check=False)
    assert p.returncode == 2 and "nowhere does not exist" in p.stderr
    (tmp_path / "empty").mkdir()
    p = cli("import", "mlenergy", str(tmp_path / "empty"), check=False)
    assert p.returncode == 2 and "no models.json found" in p.stderr


def test_schema_defaults_and_checks(tmp_path):
    legacy = schema.read_energy_csv(ROOT / "data" / "paper" / "a100_energy.csv")
    assert (legacy.batch_size == 1).all() and (legacy.num_gpus == 1).all() and (legacy.energy_scope == "net").all()
    assert legacy.time_s.isna().all()
    f = tmp_path / "x.csv"
    f.write_text("model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source,energy_scope\n"
                 "sd2,A100,512,512,10,fp16,0,1,10,test,total\n")
    with pytest.raises(schema.SchemaError, match="column 'energy_scope': got 'total'; allowed: net"):
        schema.read_energy_csv(f)
    f.write_text("model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source\n"
                 "not a model,A100,512,512,10,fp16,0,1,10,test\n")
    with pytest.raises(schema.SchemaError, match="or a Hugging Face id"):
        schema.read_energy_csv(f)


def test_a_sweep_file_with_the_old_header_keeps_it(tmp_path):
    f = tmp_path / "old.csv"
    f.write_text(",".join(schema.LEGACY_COLUMN_NAMES) + "\n")
    log = RowLog(f)
    log.append(dict(model="sd2", gpu="cpu", height=64, width=64, steps=2, dtype="fp32", cfg=0, n_prompts=2,
                    energy_j=1.0, source="t", status="ok", size="tiny", duration_s=0.5))
    lines = f.read_text().splitlines()
    assert len(lines) == 2 and len(lines[1].split(",")) == len(schema.LEGACY_COLUMN_NAMES)
    row = schema.read_energy_csv(f).iloc[0]
    assert row.batch_size == 1 and row.time_s == pytest.approx(0.25)  # duration / N


def test_static_power_recovered_and_subtracted():
    rows = []
    for c, (e0, s_per_img) in enumerate([(300.0, 1.0), (900.0, 3.0), (50.0, 0.2)]):
        for b in (1, 2, 4, 8):
            t = s_per_img / b ** 0.3
            rows.append(dict(model="sd2", gpu="A100", height=512 + 64 * c, width=512 + 64 * c, steps=25, dtype="fp16",
                             cfg=1, n_prompts=10 * b, energy_j=(e0 + 120.0 * t) * 10 * b, batch_size=b, num_gpus=1,
                             time_s=t, energy_scope="gross", note=""))
    df = pd.DataFrame(rows)
    fit = power.fit_static_power(df).set_index("gpu")
    assert fit.loc["A100", "p_static_w"] == pytest.approx(120.0, rel=1e-9)
    net = power.to_net(df, {"A100": 120.0}, "test")
    assert np.allclose(net.energy_j / net.n_prompts, [300.0] * 4 + [900.0] * 4 + [50.0] * 4)
    assert (net.energy_scope == "net").all()
    with pytest.raises(ValueError, match="no power given for GPU"):
        power.to_net(df, {}, "test")


def test_predict_h100_batch_json_has_net_gross_and_time():
    base = ["predict", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--dtype", "fp16",
            "--cfg", "--gpu", "H100", "--json"]
    one = json.loads(cli(*base, "--batch-size", "1").stdout)
    many = json.loads(cli(*base, "--batch-size", "16").stdout)
    assert one["extrapolation"] == [] and one["time_extrapolation"] == []
    assert one["per_image_gross_j"] == pytest.approx(one["per_image_j"] + 71.8 * one["per_image_s"], rel=1e-12)
    assert one["per_image_s_low"] < one["per_image_s"] < one["per_image_s_high"]
    assert many["per_image_j"] < one["per_image_j"] and many["per_image_s"] < one["per_image_s"]
    # The H100 per-image energy is predicted below the A100's, as both labs' data say
    a100 = json.loads(cli(*base[:-3], "--gpu", "A100", "--json").stdout)
    assert one["per_image_j"] < a100["per_image_j"]
    law = laws.get("paper", "sd2")
    assert law.value("beta_batch") < 0 and "H100" in law.gpus
    flagged = law.predict_one(Configuration("sd2", 768, 768, 25, "fp16", True, "H100", batch_size=128))
    assert any("batch size 128 is outside" in f for f in flagged.extrapolation)
    q = laws.get("paper", "qwen").predict_one(Configuration("qwen", 1024, 1024, 30, "fp16", True, "A100", batch_size=4))
    assert any("no batch term: predicted as batch 1" in f for f in q.extrapolation)


def test_plan_counts_gpu_hours_and_gpus():
    c = Configuration("sd2", 768, 768, 25, "fp16", True, "H100", batch_size=8)
    opts = planner.Options(carbon_intensity=100.0, utilisation=0.4)
    row = planner.plan(planner.Workload.single(c, 1e6), opts).frame.iloc[0]
    t = energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu="H100", batch_size=8).per_image_s
    assert row["seconds_per_image"] == pytest.approx(t, rel=1e-12)
    assert row["gpu_hours_per_day"] == pytest.approx(t * 1e6 / 3600, rel=1e-12)
    assert row["gpus_needed"] == math.ceil(t * 1e6 / 3600 / (24 * 0.4))
    q = planner.plan(planner.Workload.single(Configuration("qwen", 1024, 1024, 30), 10.0), opts).frame.iloc[0]
    # no measured time for Qwen-Image: its law's time is the physics of the other models' timed rows, and says so
    p = energy_nb.predict("qwen", 1024, 1024, 30, gpu="A100")
    assert p.time_law == p.law and q["gpu_hours_per_day"] == pytest.approx(p.per_image_s * 10 / 3600, rel=1e-9)
    assert any("no training row" in n and "has a latency" in n for n in q["time_extrapolation"])
    out = cli("plan", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--cfg", "--gpu", "H100",
              "--batch-size", "8", "--images-per-day", "1e6", "--utilisation", "0.4").stdout
    assert "GPU-hours/day" in out and "GPU(s) at 40% utilisation" in out
    bad = cli("plan", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--images-per-day", "1",
              "--utilisation", "1.5", check=False)
    assert bad.returncode == 2 and "utilisation: '1.5' is not allowed: a fraction in (0, 1]" in bad.stderr


def test_time_is_extrapolated_only_outside_the_timed_rows():
    """SDXL was timed at 512 and 1024 px, 25 steps, on the A100 and the H100: its law's time inside those rows needs no
    note; 2048 px, or 50 steps, is outside them and says so."""
    def notes(px, steps="25"):
        return json.loads(cli("predict", "--model", "sdxl", "--height", px, "--width", px, "--steps", steps, "--cfg",
                              "--gpu", "A100", "--json").stdout)["time_extrapolation"]

    assert notes("512") == [] and notes("1024") == [] and notes("768") == []
    said = " ".join(notes("1024", "50"))
    assert "50 steps is outside the 21 timed rows of law 'ops (sdxl)'" in said and "A100 rows of" in said
