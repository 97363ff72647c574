"""The GPU campaign's planner and runner, on the CPU with tiny replicas: the next unfinished chunk is read
from a partial file, a stopped or interrupted chunk keeps every finished row, and the chunks fit the budget."""
import pytest

from energy_nb.data.schema import read_energy_csv
from energy_nb.measurement import campaign
from energy_nb.models.configuration import Configuration
from helpers import measured


def _tiny(steps: int, cfg: bool) -> Configuration:
    return Configuration("sd2", 64, 64, steps, "fp32", cfg, None, prompts=1)


PLAN = [campaign.Chunk("a", "two configurations, two windows", (_tiny(2, False), _tiny(2, True)), (0, 1), "tiny"),
        campaign.Chunk("b", "one more", (_tiny(4, False),), (0,), "tiny")]
FAST = dict(device="cpu", idle_seconds=0.2, min_window_s=0.2, log=lambda m: None)


def test_the_plan_starts_with_the_independent_check_and_every_chunk_fits_its_budget():
    plan = campaign.chunks()
    assert plan[0].name == "independent-1" and len(plan[0].items()) == 9  # three configurations, three windows
    assert {(c.model, c.height, c.steps, int(c.cfg), c.dtype) for c in plan[0].configs} == set(campaign.INDEPENDENT)
    assert len({ch.name for ch in plan}) == len(plan)
    for ch in plan[1:]:
        assert campaign.estimate_seconds(ch.items()) <= campaign.BUDGET_S or len(ch.configs) == 1, ch.name
    thinned = {(c.model, c.height, c.steps, c.cfg) for ch in plan if ch.name.startswith("thinned") for c in ch.configs}
    assert len(thinned) == 4 * 3 * 3 * 2
    with pytest.raises(ValueError, match="budget_s -1"):
        campaign.chunks(budget_s=-1)


@pytest.mark.slow
def test_the_next_chunk_comes_from_the_file_and_an_interrupted_chunk_loses_no_row(tmp_path):
    csv = tmp_path / "cpu.csv"
    first = campaign.next_chunk(PLAN, csv)
    assert first.chunk.name == "a" and len(first.remaining) == 4 and first.state == "todo"

    # a deadline already passed: one configuration, then a stop between two
    res = campaign.run_chunk(PLAN, csv, deadline_s=0.0, **FAST)
    assert (res.chunk, res.measured, res.remaining, res.stopped_by_deadline) == ("a", 1, 3, True)
    kept = csv.read_bytes()
    assert campaign.next_chunk(PLAN, csv).state == "partial"
    assert list(campaign.plan_table(PLAN, csv)["state"]) == ["partial", "todo"]

    # interrupted (Ctrl-C, a kill at a boundary) after one more configuration: both finished rows stay
    def interrupt(p):
        if p["measured"] >= 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        campaign.run_chunk(PLAN, csv, on_config=interrupt, **FAST)
    assert csv.read_bytes().startswith(kept) and len(read_energy_csv(csv)) == 2
    assert len(campaign.next_chunk(PLAN, csv).remaining) == 2

    # the same call again finishes chunk a, measuring only what is missing; then b is next
    res = campaign.run_chunk(PLAN, csv, **FAST)
    assert (res.chunk, res.measured, res.remaining) == ("a", 2, 0)
    df = read_energy_csv(csv)
    assert len(df) == 4 and not df.duplicated(list(campaign.DONE_COLUMNS)).any() and measured(df)
    assert sorted(zip(df.seed, df.cfg.astype(int))) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert campaign.next_chunk(PLAN, csv).chunk.name == "b"
