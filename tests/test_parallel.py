"""Several GPUs per image: the split columns of the records, the splits xDiT allows, the parallel law (exact at one
GPU, held out on the shipped rows), ``predict --num-gpus`` and ``plan --latency-target``."""
import json

import numpy as np
import pandas as pd
import pytest

import energy_nb
from energy_nb.compute import parallel
from energy_nb.core.errors import UserError
from energy_nb.data import mlenergy, schema
from energy_nb.data.shipped import external_data
from energy_nb.evaluation.parallel import FOLDS
from energy_nb.laws.artifact import current
from energy_nb.laws.ops import ops_features
from energy_nb.laws.physics import run
from energy_nb.measurement.log import RowLog
from energy_nb.models.configuration import Configuration
from helpers import ROOT, cli

V3 = ROOT / "data" / "external" / "mlenergy-leaderboard-v3" / "text-to-image.json"
FLUX = ["--model", "flux", "--height", "1024", "--width", "1024", "--steps", "50", "--dtype", "bf16", "--gpu", "H100"]


def _multi() -> pd.DataFrame:
    d = mlenergy.read_v3(V3)
    return d[d["num_gpus"] > 1].reset_index(drop=True)


def test_v3_rows_keep_their_split_and_the_schema_checks_it(tmp_path):
    recs = [r for r in json.loads(V3.read_text())["configurations"]]
    df = mlenergy.read_v3(V3)
    assert [(r["ulysses_degree"], r["ring_degree"]) for r in recs] == list(zip(df.ulysses_degree, df.ring_degree))
    assert (df.ulysses_degree * df.ring_degree == df.num_gpus).all() and (df.num_gpus > 1).sum() == 75
    out = tmp_path / "rows.csv"
    cli("import", "mlenergy", str(V3), "--out", str(out))
    back = schema.read_energy_csv(out)
    assert list(back.ulysses_degree) == list(df.ulysses_degree) and list(back.ring_degree) == list(df.ring_degree)
    f = tmp_path / "bad.csv"
    f.write_text("model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source,num_gpus,ulysses_degree,ring_degree\n"
                 "flux,H100,1024,1024,50,bf16,0,8,10,t,8,2,2\n")
    with pytest.raises(schema.SchemaError, match="ulysses_degree x ring_degree = num_gpus"):
        schema.read_energy_csv(f)
    f.write_text("model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source,num_gpus,ring_degree\n"
                 "flux,H100,1024,1024,50,bf16,0,8,10,t,4,2\n")  # Ulysses defaults to the rest of the GPUs
    assert schema.read_energy_csv(f).iloc[0].ulysses_degree == 2


def test_a_sweep_file_started_before_the_split_columns_is_still_appended_to(tmp_path):
    f = tmp_path / "old.csv"
    f.write_text(",".join(schema.COLUMN_NAMES[:-2]) + "\n")
    RowLog(f).append(dict(model="sd2", gpu="cpu", height=64, width=64, steps=2, dtype="fp32", cfg=0, n_prompts=2,
                          energy_j=1.0, source="t", status="ok", size="tiny", duration_s=0.5))
    assert schema.read_energy_csv(f).iloc[0].ulysses_degree == 1


@pytest.mark.parametrize("kw, match", [
    (dict(model="sd35", num_gpus=8, ulysses=4), "38 attention heads, which Ulysses 4 does not divide; allowed "
                                                "--ulysses on 8 GPUs: 1, 2"),
    (dict(model="flux", num_gpus=6), "4096 image tokens, which do not split evenly over 6 GPUs; allowed: 2, 4, 8"),
    (dict(model="flux", num_gpus=16), "a node of H100 holds at most 8 GPUs"),
    (dict(model="sd2", num_gpus=2), "UNet denoiser"),
    (dict(model="flux", num_gpus=8, ulysses=3), "must divide num_gpus; allowed: 1, 2, 4, 8"),
    (dict(model="flux", num_gpus=8, ulysses=2, ring=2), "ulysses 2 x ring 2 = 4, not num_gpus 8"),
])
def test_impossible_splits_are_refused_naming_the_value(kw, match):
    model = kw.pop("model")
    with pytest.raises(UserError, match=match):
        energy_nb.predict(model, 1024, 1024, 28, "bf16", gpu="H100", **kw)


def test_valid_splits_follow_heads_and_tokens():
    assert [(s.ulysses, s.ring) for s in parallel.splits("flux", 1024, 1024, 8, "H100")] == [(8, 1), (4, 2), (2, 4),
                                                                                           (1, 8)]
    assert [(s.ulysses, s.ring) for s in parallel.splits("sd35", 1024, 1024, 8, "H100")] == [(2, 4), (1, 8)]
    # SD3.5's 333 text tokens do not split over 2 GPUs: each GPU holds them whole (xDiT's split_text_embed_in_sp)
    assert parallel.share("sd35", 1024, 1024, 2) == pytest.approx((4096 / 2 + 333) / 4429)
    assert parallel.share("flux", 1024, 1024, 8) == pytest.approx(1 / 8)


def test_one_gpu_is_the_single_gpu_law_exactly():
    art = current()
    law, _ = art.parallel()
    base = art.law("ops (flux)")
    rows = mlenergy.read_v3(V3)
    one = rows[rows.num_gpus == 1]
    v = law.evaluate(base, one)
    w = run(base.coef, ops_features(one))
    assert np.array_equal(v["time"], w["time"]) and np.allclose(v["energy"], w["energy"], rtol=1e-12)
    c = Configuration("flux", 1024, 1024, 50, "bf16", False, "H100")
    assert energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100", num_gpus=1).to_dict() == \
        energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100").to_dict()
    assert c.record() == Configuration("flux", 1024, 1024, 50, "bf16", False, "H100", num_gpus=1).record()


def test_every_row_on_several_gpus_is_answered_within_its_figures():
    """Every shipped row on several GPUs, asked of ``predict`` at its split and batch: gross energy and time against
    the measured ones (in-sample: the law saw these rows), and the idle power of all the GPUs."""
    net = external_data(single_gpu=False).set_index("source")
    errs = []
    for r in _multi().itertuples():
        p = energy_nb.predict(r.model, r.height, r.width, r.steps, r.dtype, bool(r.cfg), "H100", r.batch_size,
                              num_gpus=r.num_gpus, ulysses=r.ulysses_degree, ring=r.ring_degree)
        gross = r.energy_j / r.n_prompts
        assert p.split_reason == "as asked" and p.configuration.num_gpus == r.num_gpus
        assert p.idle_w == pytest.approx(r.num_gpus * 71.8)
        assert p.per_image_gross_j == pytest.approx(p.per_image_j + p.idle_w * p.per_image_s)
        assert p.per_image_j_low < p.per_image_j < p.per_image_j_high
        net_j = net.loc[r.source, "energy_j"] / r.n_prompts
        errs.append((p.per_image_gross_j / gross - 1, p.per_image_s / r.time_s - 1, p.per_image_j / net_j - 1))
    e = np.abs(np.array(errs))
    assert len(e) == 75
    assert e[:, 0].max() < 0.11 and e[:, 1].max() < 0.22 and np.median(e[:, 1]) < 0.06  # 10.4%, 19.6% since issue 40


def test_held_out_folds_meet_the_energy_target_and_feed_the_interval():
    _, entry = current().parallel()
    for fold in FOLDS:
        d = pd.DataFrame(entry["folds"][fold])
        gross = (d.gross_pred_j / d.gross_j - 1).abs()
        # the physics by unit of issue 40 (softmax at the special-function rate, half precision's fp32 casts) moved
        # the worst held-out row from 8.8% to 11.3% (leave one model out) and 8.4% to 12.1% (largest count out);
        # the means from 4.1% to 3.0% and 3.0% to 3.9%
        assert gross.max() < 0.15 and gross.mean() < 0.05, f"{fold}: held-out gross error {100 * gross.max():.1f}%"
        assert (d.time_pred_s / d.time_s - 1).abs().max() < 0.25
    lomo = pd.DataFrame(entry["folds"]["model"])
    assert set(lomo.fold) == {"without flux", "without sd35"} and len(lomo) == 75
    assert entry["interval"]["errors"] == pytest.approx(list(np.abs(np.log(lomo.net_pred_j / lomo.net_j))))
    split = current().data["levels"]["errors"]  # the split level of the intervals is these errors, by model
    split = pd.DataFrame(split).query("level == 'split'")
    assert sorted(split["net"]) == pytest.approx(sorted(np.log(lomo.net_pred_j / lomo.net_j)))


def test_default_split_is_the_fastest_and_said(capsys):
    p = energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100", num_gpus=8)
    times = {}
    for u, r in ((8, 1), (4, 2), (2, 4), (1, 8)):
        times[(u, r)] = energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100", num_gpus=8, ulysses=u,
                                          ring=r).per_image_s
    assert (p.configuration.ulysses, p.configuration.ring) == min(times, key=times.get)
    assert p.split_reason.startswith("the fastest valid split by the law; the others")
    j = json.loads(cli("predict", *FLUX, "--num-gpus", "8", "--json").stdout)
    assert j["per_image_j"] == pytest.approx(p.per_image_j) and (j["ulysses"], j["ring"]) == (8, 1)
    text = cli("predict", *FLUX, "--num-gpus", "8").stdout
    assert "split     : Ulysses 8 x Ring 1, the fastest valid split" in text
    bad = cli("predict", *FLUX, "--num-gpus", "8", "--law", "paper", check=False)
    assert bad.returncode == 2 and "several GPUs per image are answered by the parallel law" in bad.stderr


def test_plan_meets_a_latency_target_at_the_least_energy():
    j = json.loads(cli("plan", *FLUX, "--images-per-day", "1e4", "--latency-target", "6", "--compare",
                       "--json").stdout)
    choices = pd.DataFrame(j["choices"])
    meets = choices[choices.latency_s <= 6]
    best = meets.loc[meets.gross_j.idxmin()]
    row = j["workload"][0]
    assert f"on {int(best.num_gpus)} GPUs (Ulysses {int(best.ulysses)} x Ring {int(best.ring)})" in row["configuration"]
    assert (choices.num_gpus == 1).any() and choices.latency_s.min() < 6 < choices.latency_s.max()
    p = energy_nb.predict("flux", 1024, 1024, 50, "bf16", gpu="H100", batch_size=int(best.batch_size),
                          num_gpus=int(best.num_gpus), ulysses=int(best.ulysses), ring=int(best.ring))
    assert p.per_image_s * best.batch_size <= 6 and p.per_image_gross_j == pytest.approx(best.gross_j)
    assert row["gpus_needed"] % int(best.num_gpus) == 0
    priced = pd.DataFrame(json.loads(cli("plan", *FLUX, "--images-per-day", "1e4", "--latency-target", "6",
                                         "--compare", "--price-kwh", "0.2", "--pue", "1.5", "--json").stdout)["choices"])
    assert np.allclose(priced.cost_per_1000_images, priced.gross_j / 3.6e6 * 1.5 * 0.2 * 1000)
    text = cli("plan", *FLUX, "--images-per-day", "1e4", "--latency-target", "6", "--compare").stdout
    assert "chosen for a latency of 6 s per request" in text and "meets" in text
    for args, match in ((("--latency-target", "1"), "no choice meets a latency of 1 s: the fastest is 8 GPU(s)"),
                        (("--latency-target", "6", "--max-gpus", "16"), "a node holds at most 8"),
                        (("--max-gpus", "4"), "give --latency-target SECONDS too")):
        bad = cli("plan", *FLUX, "--images-per-day", "1e4", *args, check=False)
        assert bad.returncode == 2 and match in bad.stderr, bad.stderr


def test_a_users_xdit_rows_calibrate_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_NB_USER_DIR", str(tmp_path))
    rows = external_data(single_gpu=False)
    rows = rows[(rows.num_gpus == 4) & (rows.model == "flux") & (rows.batch_size == 4)].head(2).assign(gpu="MyH100")
    cal = energy_nb.laws.calibrated.calibrate(rows, "MyH100", base="H100", save=False)
    assert all("GPUs (Ulysses" in r["configuration"] for r in cal.rows)
    assert 0.9 < cal.factor < 1.1 and 0.8 < cal.speed < 1.25  # the H100's own rows: close to the H100
