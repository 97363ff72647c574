"""Held-out time, gross energy and batch effect (energy_nb.evaluation.held_out), checked by hand on the rows."""
from __future__ import annotations

import numpy as np
import pytest

from energy_nb.data.power import idle_power
from energy_nb.data.shipped import law_data
from energy_nb.evaluation import held_out, validation


@pytest.fixture(scope="module")
def pool():
    d = law_data()
    return d[d["model"].isin(["sd2", "sd15", "sdxl", "flux"])]


def test_time_gross_errors_score_what_a_meter_reads(pool):
    t = held_out.time_gross_errors(pool, ["achieved", "roofline_tc_kernels"], by="gpu")
    assert set(t["held_out"]) == {"A100", "H100"} and set(t["law"]) == {"achieved", "roofline_tc_kernels"}
    assert t.loc[t.law == "roofline_tc_kernels", "time_mape_pct"].isna().all()  # no time: said so, not zero
    p = validation.held_out(pool, ["achieved"], by="gpu")
    p = p[(p.held_out == "H100") & p.time_s.notna()]
    idle = idle_power("H100")
    gross = p.energy_j / p.n_prompts + idle * p.time_s
    pred = p.energy_pred_j / p.n_prompts + idle * p.time_pred_s
    row = t[(t.law == "achieved") & (t.held_out == "H100")].iloc[0]
    assert row.gross_mape_pct == pytest.approx(float((100 * (pred / gross - 1)).abs().mean()))
    assert row.time_mape_pct == pytest.approx(float((100 * (p.time_pred_s / p.time_s - 1)).abs().mean()))
    assert row.same_method_rows == (p.dataset == "ML.ENERGY").sum() == row.rows  # H100: ML.ENERGY's rows only


def test_batch_effect_is_the_ratio_to_batch_one_of_a_model_never_seen(pool):
    b = held_out.batch_effect(pool, ["roofline_tc_kernels"])
    assert (b["batch_size"] > 1).all() and set(b["model"]) <= {"sd2", "sd15", "sdxl", "flux"}
    r = b[(b.model == "sd2") & (b.gpu == "A100")].sort_values("batch_size").iloc[-1]
    rows = pool[(pool.model == "sd2") & (pool.gpu == "A100") & (pool.dataset == "ML.ENERGY")]
    per = rows.set_index("batch_size").eval("energy_j / n_prompts")
    assert r.measured_ratio == pytest.approx(per[r.batch_size] / per[1])
    assert r.error_pct == pytest.approx(100 * (r.predicted_ratio / r.measured_ratio - 1))
    assert np.isfinite(b["predicted_ratio"]).all()
