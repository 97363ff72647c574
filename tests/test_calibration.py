"""Calibration of a GPU without energy data from a few measured rows: user state outside the cache, made against
one version of the laws artifact; by name in predict and plan; and how well one row calibrates where both GPUs have
data."""
import json
import uuid

import pytest

import energy_nb
from energy_nb.data.shipped import law_data
from energy_nb.evaluation import calibration
from energy_nb.laws import calibrated
from helpers import cli


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_NB_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("ENERGY_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "user"


@pytest.fixture
def one_row(tmp_path):
    """One H100 row with a latency, of a model busy on its GPU (SDXL, 1024 px, batch 8)."""
    rows = law_data()
    row = rows[(rows.model == "sdxl") & (rows.gpu == "H100") & (rows.batch_size == 8) & (rows.height == 1024)]
    path = tmp_path / "h100-row.csv"
    row.drop(columns=["dataset"]).to_csv(path, index=False)
    return path, float((row.energy_j / row.n_prompts).iloc[0])


def test_calibrate_then_predict_and_plan_by_name(one_row, user_dir):
    path, measured = one_row
    name = f"test-cal-{uuid.uuid4().hex[:8]}"
    out = cli("calibrate", "--data", str(path), "--name", name, "--base", "A100", "--json").stdout
    cal = json.loads(out)
    base = energy_nb.predict("sdxl", 1024, 1024, 25, cfg=True, gpu="A100", batch_size=8)
    assert cal["factor"] == pytest.approx(measured / base.per_image_j, rel=1e-9)
    # an H100 against an A100: busy about half as long, drawing nearly twice the net power
    assert 0.35 < cal["speed"] < 0.6 and 1.5 < cal["power"] < 2.2
    assert (user_dir / "calibrations" / f"{name}.json").exists() and not (user_dir.parent / "cache").exists()
    same = energy_nb.predict("sdxl", 1024, 1024, 25, cfg=True, gpu=name, batch_size=8)
    assert same.per_image_j == pytest.approx(measured, rel=1e-6)  # the row it was made from, back exactly
    # another model, at batch 1: its host-bound share does not speed up, only its busy share does
    p = energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu=name)
    assert "calibrated from 1 measured row(s) (sdxl)" in p.law_reason and p.time_law == p.law
    rows = law_data()
    h100 = rows[(rows.model == "sd2") & (rows.gpu == "H100") & (rows.batch_size == 1) & (rows.height == 768)]
    assert p.per_image_j == pytest.approx(float((h100.energy_j / h100.n_prompts).iloc[0]), rel=0.10)
    assert p.per_image_s == pytest.approx(float(h100.time_s.iloc[0]), rel=0.10)
    flat = energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu=name, law="paper")  # energy only: the flat factor
    assert flat.per_image_j == pytest.approx(energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu="A100",
                                                               law="paper").per_image_j * cal["factor"], rel=1e-9)
    plan = energy_nb.plan("sd2", 768, 768, 25, cfg=True, gpu=name, images_per_day=1000)
    assert plan.total["net_wh_per_image"] == pytest.approx(p.per_image_wh, rel=1e-9)
    listed = json.loads(cli("calibrate", "--list", "--json").stdout)
    assert [(c["name"], c["current"]) for c in listed] == [(name, True)]
    assert name in cli("calibrate", "--list").stdout
    assert "removed" in cli("calibrate", "--remove", name).stdout
    assert "no calibrations" in cli("calibrate", "--list").stdout
    gone = cli("calibrate", "--remove", name, check=False)
    assert gone.returncode == 2 and f"no calibration named {name!r}" in gone.stderr


def test_a_calibration_made_against_other_laws_is_refused_with_how_to_redo_it(one_row, user_dir):
    path, _ = one_row
    cli("calibrate", "--data", str(path), "--name", "old-gpu")
    stored = user_dir / "calibrations" / "old-gpu.json"
    d = json.loads(stored.read_text())
    art = energy_nb.laws.artifact.current()
    assert d["base_version"] == art.gpu_version(d["base"]) and len(d["measured"]) == 1
    stored.write_text(json.dumps(dict(d, base_version="0123456789abcdef")))
    bad = cli("predict", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--gpu", "old-gpu",
              check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert f"made against the laws of {d['base']} at version 0123456789abcdef" in bad.stderr
    assert f"energy-nb calibrate --data {stored.with_suffix('.rows.csv')} --name old-gpu" in bad.stderr
    assert not json.loads(cli("calibrate", "--list", "--json").stdout)[0]["current"]
    cli("calibrate", "--data", str(stored.with_suffix(".rows.csv")), "--name", "old-gpu")  # the way out works
    assert energy_nb.predict("sd2", 768, 768, 25, gpu="old-gpu").per_image_j > 0


def test_calibration_refuses_what_it_cannot_use(one_row, user_dir, tmp_path):
    path, _ = one_row
    bad = cli("calibrate", "--data", str(path), "--name", "H100", check=False)
    assert bad.returncode == 2 and "is a GPU of data/gpus.csv" in bad.stderr
    bad = cli("calibrate", "--data", str(path), "--name", "a/b", check=False)
    assert bad.returncode == 2 and "calibration name 'a/b' is not allowed" in bad.stderr
    rows = law_data()
    many = tmp_path / "many.csv"
    rows[(rows.gpu == "H100")].head(16).drop(columns=["dataset"]).to_csv(many, index=False)
    bad = cli("calibrate", "--data", str(many), "--name", "x", check=False)
    assert bad.returncode == 2 and "16 ok rows given" in bad.stderr and "1 to 3" in bad.stderr
    per_image = tmp_path / "per-image.csv"  # energy of one image where the schema wants all n_prompts images
    row = rows[(rows.model == "sd2") & (rows.gpu == "A100") & (rows.dataset == "paper")].head(1)
    row.assign(energy_j=row.energy_j / 250).drop(columns=["dataset"]).to_csv(per_image, index=False)
    bad = cli("calibrate", "--data", str(per_image), "--name", "x", check=False)
    assert bad.returncode == 2 and "outside x0.1-x10" in bad.stderr and "check the rows' units" in bad.stderr
    two = tmp_path / "two.csv"  # x0.004 and x266: each row off, their mean (x1.06) plausible
    pair = rows[(rows.model == "sd2") & (rows.gpu == "A100") & (rows.dataset == "paper")].head(2)
    pair.assign(energy_j=pair.energy_j * [1 / 250, 250]).drop(columns=["dataset"]).to_csv(two, index=False)
    bad = cli("calibrate", "--data", str(two), "--name", "x", check=False)
    assert bad.returncode == 2 and "the row " in bad.stderr and "outside x0.1-x10" in bad.stderr
    apart = tmp_path / "apart.csv"  # both within the range, x8 apart
    pair.assign(energy_j=pair.energy_j * [1 / 3, 3]).drop(columns=["dataset"]).to_csv(apart, index=False)
    bad = cli("calibrate", "--data", str(apart), "--name", "x", check=False)
    assert bad.returncode == 2 and "the rows disagree on 'x'" in bad.stderr
    assert calibrated.calibrations().empty
    assert cli("calibrate", check=False).returncode == 2


def test_one_point_calibration_scores_every_other_row_both_ways():
    for base, target in (("A100", "H100"), ("H100", "A100")):
        t = calibration.one_point(law_data(), base, target)
        assert len(t) >= 20 and (t.rows == len(t) - 1).all() and t.mape_pct.notna().all()


def test_a_new_gpu_leaves_the_calibrations_of_other_gpus_valid():
    """A calibration records the version of the laws that answer on its base GPU, not of the whole artifact: a GPU
    added to data/gpus.csv (a new family in the answers, new data digests in every law's provenance) keeps it; a
    change to a law that answers on the base GPU does not."""
    import copy

    from energy_nb.laws.artifact import Artifact

    art = energy_nb.laws.artifact.current()
    before = {g: art.gpu_version(g) for g in ("A100", "H100")}
    grown = copy.deepcopy(art.data)
    for m in grown["answers"]:
        grown["answers"][m]["Z100"] = dict(grown["answers"][m]["H100"])
    for law in grown["laws"].values():
        law["provenance"] = dict(law["provenance"], data_sha256="0" * 64)
    grown["data"]["sha256"] = "0" * 64
    assert {g: Artifact(grown).gpu_version(g) for g in before} == before
    key = art.data["answers"]["sd2"]["A100"]["law"]
    grown["laws"][key]["coef"] = dict(grown["laws"][key]["coef"], t_image_s=0.5)
    assert Artifact(grown).gpu_version("A100") != before["A100"]
