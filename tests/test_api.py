"""The public API (what a notebook calls), the one Configuration, the command line's shape and errors, the
dataset label, and a core install that predicts without torch."""
import numpy as np
import pandas as pd
import pytest

import energy_nb
from energy_nb.cli import main
from energy_nb.core.errors import UserError
from energy_nb.data.schema import dataset_of
from energy_nb.data.shipped import law_data
from energy_nb.laws.artifact import current
from energy_nb.models.configuration import Configuration
from helpers import cli, strict_json


# -- the public API ----------------------------------------------------------------------------------
def test_predict_answers_as_the_command_line_does():
    p = energy_nb.predict("sd2", 768, 768, 25, "fp16", True, "H100", batch_size=8)
    j = strict_json(cli("predict", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--cfg",
                        "--gpu", "H100", "--batch-size", "8", "--json").stdout)
    assert p.to_dict().keys() == j.keys()
    for k in ("per_image_j", "per_image_j_low", "per_image_j_high", "per_image_s", "per_image_gross_j", "total_wh"):
        assert p.to_dict()[k] == pytest.approx(j[k], rel=1e-12), k
    assert p.per_image_wh == pytest.approx(p.per_image_j / 3600)
    lo, hi = p.interval_wh
    assert lo < p.per_image_wh < hi and not p.extrapolating
    assert p.per_image_gross_j == pytest.approx(p.per_image_j + p.idle_w * p.per_image_s)
    assert str(p) == cli("predict", "--model", "sd2", "--height", "768", "--width", "768", "--steps", "25", "--cfg",
                         "--gpu", "H100", "--batch-size", "8").stdout.rstrip("\n")
    frame = p.to_frame()
    assert len(frame) == 1 and frame.loc[0, "model"] == "sd2" and frame.loc[0, "batch_size"] == 8
    assert "sd2 768x768" in p._repr_markdown_()


def test_plan_flops_fit_records_models_gpus_from_python():
    plan = energy_nb.plan("flux", 1024, 1024, 30, cfg=True, images_per_day=1e6, country="FRA", price_per_kwh=0.15,
                          compare=True)
    j = strict_json(cli("plan", "--model", "flux", "--height", "1024", "--width", "1024", "--steps", "30", "--cfg",
                        "--images-per-day", "1e6", "--country", "FRA", "--price-kwh", "0.15", "--compare",
                        "--json").stdout)
    assert plan.total["mwh_per_year"] == pytest.approx(j["workload"][-1]["mwh_per_year"], rel=1e-12)
    assert len(plan.compare) == len(j["compare"]) and plan.intensity.region == "FRA"
    assert "alternatives, least energy first" in str(plan)
    html = plan._repr_html_()  # what a notebook shows: the same numbers, as tables
    assert f"{plan.total['mwh_per_year']:,.1f} ({plan.total['mwh_per_year_low']:,.1f}-" in html
    assert "Alternatives, least energy first" in html and html.count("<tr>") == 1 + len(plan.compare)
    f = energy_nb.flops("flux", 1024, 1024, steps=30, cfg=True, convention="counted")
    assert f.total == pytest.approx(f.breakdown.text + 60 * f.breakdown.denoise_per_step + f.breakdown.decode)
    law = energy_nb.fit("paper", models=["flux"])
    assert law.n_obs == 85 and "alpha" in law.summary() and "R^2 (log)" in law.summary()
    assert law.per_image(Configuration("flux", 512, 512, 10)).per_image_j > 0
    for which, n in (("paper", 280), ("laws", len(law_data())), ("mlenergy", 171)):
        assert len(energy_nb.records(which)) == n, which
    with pytest.raises(UserError, match="unknown record set 'all'; allowed: laws, paper"):
        energy_nb.records("all")
    models = energy_nb.registry()
    assert {"flux", "sdxl"} <= set(models["key"]) and models["colour"].str.startswith("#").all()
    assert models["colour"].nunique() == len(models)  # every registry model has a colour of its own
    assert "H100-80GB-HBM3" in set(energy_nb.gpus()["gpu_part"])
    assert energy_nb.law("auto", "pixart-sigma", "A100").name == current().shared_name


def test_fit_returns_the_law_predict_answers_with_read_as_statsmodels_results():
    """energy_nb.fit on the shipped data and one model is the artifact's law for that model, coefficient for
    coefficient; and it reads like a statsmodels result."""
    for model in ("flux", "sd2"):
        family = current().family(model)
        mine = energy_nb.fit(family, models=[model])
        served = energy_nb.law("auto", model, "A100").fitted
        assert mine.name == served.name == f"{family} ({model})"
        assert mine.params.to_dict() == pytest.approx(served.params.to_dict(), rel=1e-6)
        ci = mine.conf_int()
        assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(mine.params.index)
        ok = ci.dropna()
        assert len(ok) and ((ok["lower"] <= mine.params[ok.index]) & (mine.params[ok.index] <= ok["upper"])).all()
        assert len(mine.resid) == len(mine.fittedvalues) == mine.n_obs
        rows = energy_nb.records("laws")
        measured = rows[rows["model"] == model]["energy_j"].to_numpy(float)
        assert mine.fittedvalues.to_numpy() * np.exp(mine.resid.to_numpy()) == pytest.approx(measured, rel=1e-9)
    eq3 = energy_nb.fit("paper", models=["flux"], gpus=["A100"], eq3=True)
    assert not eq3.per_image_form and eq3.n_obs == 80


def test_a_fit_without_rows_says_what_the_data_hold():
    rows = energy_nb.records("paper").head(6).assign(status="error: energy below what the meter resolves")
    with pytest.raises(UserError, match=r"no ok rows to fit the law on in a data frame: 6 rows \(6 error; e.g. "
                                        r"'error: energy below what the meter resolves'\)"):
        energy_nb.fit("paper", data=rows)
    with pytest.raises(UserError, match="no ok rows left after --models sd2 --gpus B200: the ok rows are of models "
                                        "flux, kandinsky3, qwen, sd15, sd2, sd35, sd3m, sdxl, ssd1b on GPUs A100, H100"):
        energy_nb.fit("paper", models=["sd2"], gpus=["B200"])


def test_configuration_is_checked_once_with_the_value_named():
    c = Configuration("PixArt-alpha/PixArt-Sigma-XL-2-1024-MS", 1024, 1024, 20, "bf16", 1, "H100")
    assert c.model == "pixart-sigma" and c.cfg is True and c.label() == "pixart-sigma 1024x1024 T=20 bf16 CFG on H100"
    assert c.replace(batch_size=4).batch_size == 4 and c.record()["cfg"] == 1
    import numpy as np

    assert Configuration("sd2", np.int64(512), 512, np.int64(10)).height == 512  # numpy integers from a frame
    for kwargs, message in ((dict(model="dalle"), "unknown model 'dalle'"),
                            (dict(height=500), "height 500 is impossible for flux"),
                            (dict(steps=0), "steps 0 is not allowed"),
                            (dict(dtype="fp8"), "unknown dtype 'fp8'; allowed: fp16, fp32, bf16"),
                            (dict(batch_size=0), "batch size 0 is not allowed"),
                            (dict(prompts=2.5), "prompts 2.5 is not allowed"),
                            (dict(gpu="A 1OO"), "GPU 'A 1OO' is not a GPU of gpus.csv; closest: A100"),
                            (dict(cfg="maybe"), "cfg 'maybe' is not allowed")):
        args = dict(model="flux", height=512, width=512, steps=10) | kwargs
        with pytest.raises(UserError, match=message):
            Configuration(**args)


# -- the command line ----------------------------------------------------------------------------------
def test_sweep_is_one_visible_group_and_the_old_spelling_works(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "sweep" in top and "predict" in top and "plan" in top
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "{run,status,merge}" in capsys.readouterr().out
    new = cli("sweep", "run", "--models", "sd2", "--steps", "2", "--resolutions", "64", "--out", "/tmp/x.csv",
              "--dry-run").stdout
    old = cli("sweep", "--models", "sd2", "--steps", "2", "--resolutions", "64", "--out", "/tmp/x.csv",
              "--dry-run").stdout
    assert new == old == "1 configurations in shard 1/1:\n  sd2 64x64 T=2 fp16 cfg=0 N=1\n"


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch):
    bad = cli("predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "10", "--dtype", "fp8",
              check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("energy-nb predict: error: unknown dtype 'fp8'")

    def broken(*a, **k):
        raise ValueError("a bug, not the user's input")

    monkeypatch.setattr("energy_nb.api.predict", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "10"])


def test_level_sets_every_interval():
    wide = energy_nb.predict("flux", 512, 512, 20, level=0.99)
    narrow = energy_nb.predict("flux", 512, 512, 20, level=0.5)
    assert wide.per_image_j == pytest.approx(narrow.per_image_j)
    assert wide.per_image_j_high > narrow.per_image_j_high > narrow.per_image_j > narrow.per_image_j_low
    j = strict_json(cli("predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "20", "--level",
                        "0.99", "--json").stdout)
    assert j["interval"] == 0.99 and j["per_image_j_high"] == pytest.approx(wide.per_image_j_high)
    bad = cli("predict", "--model", "flux", "--height", "512", "--width", "512", "--steps", "20", "--level", "95",
              check=False)
    assert bad.returncode == 2 and "'95' is not allowed: a probability in (0, 1)" in bad.stderr


# -- who measured a row ---------------------------------------------------------------------------------
def test_a_row_is_labelled_by_its_source_not_its_meter():
    """Our own sweeps read Zeus too: a Zeus-metered row of ours is ours, not ML.ENERGY's."""
    rows = pd.DataFrame(dict(source=["paper:Table 6", "ML.ENERGY v2: data/x.json", "energy-nb sweep", "someone else"],
                             meter=["codecarbon (paper)", "zeus (NVML energy counter)", "zeus", "zeus"]))
    assert list(dataset_of(rows)) == ["paper", "ML.ENERGY", "ours", "other"]
    shipped = law_data()
    ours = shipped[shipped["dataset"] == "paper"].head(3).assign(source="energy-nb sweep", meter="zeus")
    pool = law_data(paper_rows=pd.concat([shipped[shipped["dataset"] == "paper"], ours]).drop(columns="dataset"))
    assert (pool[pool["source"] == "energy-nb sweep"]["dataset"] == "ours").sum() == 3
    assert (pool[pool["meter"].str.startswith("zeus (NVML")]["dataset"] == "ML.ENERGY").all()
    assert set(pool["dataset"]) == {"paper", "ML.ENERGY", "ours"}
