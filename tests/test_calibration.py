"""One-point calibration: a GPU without energy data known by a measured row, by name, in predict and plan."""
import json
import uuid

import pytest

import energy_nb
from energy_nb.core.cache import cache_dir
from energy_nb.data.shipped import law_data
from energy_nb.evaluation import calibration
from helpers import cli


@pytest.fixture
def one_row(tmp_path):
    rows = law_data()
    row = rows[(rows.model == "sdxl") & (rows.gpu == "H100") & (rows.batch_size == 1) & (rows.height == 512)]
    path = tmp_path / "h100-row.csv"
    row.drop(columns=["dataset"]).to_csv(path, index=False)
    return path, float((row.energy_j / row.n_prompts).iloc[0])


def test_calibrate_then_predict_and_plan_by_name(one_row):
    path, measured = one_row
    name = f"test-cal-{uuid.uuid4().hex[:8]}"
    try:
        out = cli("calibrate", "--data", str(path), "--name", name, "--base", "A100", "--json").stdout
        cal = json.loads(out)
        base = energy_nb.predict("sdxl", 512, 512, 25, cfg=True, gpu="A100").per_image_j
        assert cal["factor"] == pytest.approx(measured / base, rel=1e-9)
        p = energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu=name)
        on_base = energy_nb.predict("sd2", 768, 768, 25, cfg=True, gpu="A100")
        assert p.per_image_j == pytest.approx(on_base.per_image_j * cal["factor"], rel=1e-9)
        assert "calibrated from 1 measured row(s) (sdxl)" in p.law_reason and p.per_image_gross_j is not None
        rows = law_data()
        h100 = rows[(rows.model == "sd2") & (rows.gpu == "H100") & (rows.batch_size == 1) & (rows.height == 768)]
        assert p.per_image_j == pytest.approx(float((h100.energy_j / h100.n_prompts).iloc[0]), rel=0.05)
        plan = energy_nb.plan("sd2", 768, 768, 25, cfg=True, gpu=name, images_per_day=1000)
        assert plan.total["wh_per_image"] == pytest.approx(p.per_image_wh, rel=1e-9)
    finally:
        (cache_dir() / "calibrated" / f"{name}.json").unlink(missing_ok=True)


def test_calibration_refuses_what_it_cannot_use(one_row):
    path, _ = one_row
    bad = cli("calibrate", "--data", str(path), "--name", "H100", check=False)
    assert bad.returncode == 2 and "is a GPU of data/gpus.csv" in bad.stderr
    bad = cli("calibrate", "--data", str(path), "--name", "a/b", check=False)
    assert bad.returncode == 2 and "calibration name 'a/b' is not allowed" in bad.stderr


def test_one_point_calibration_scores_every_other_row_both_ways():
    for base, target in (("A100", "H100"), ("H100", "A100")):
        t = calibration.one_point(law_data(), base, target)
        assert len(t) >= 20 and (t.rows == len(t) - 1).all() and t.mape_pct.notna().all()
