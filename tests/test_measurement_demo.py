"""What page 4.1 calls instead of computing: the sharded sweep run and watched from a background thread
(:mod:`energy_nb.measurement.demo`) and the paper's law fitted per device on our rows (:mod:`energy_nb.measurement.fits`).
"""
import os
import shlex
import threading
import time

import pandas as pd
import pytest

from energy_nb.measurement import demo, fits, shards
from energy_nb.measurement import grid as grids
from helpers import ROOT


# ---------------------------------------------------------------------------------------------------
# run_and_watch: a blocking call in a thread, looked at while it runs
# ---------------------------------------------------------------------------------------------------
def test_run_and_watch_returns_the_result_and_the_first_look_that_gave_text():
    release = threading.Event()
    looks: list[int] = []

    def work() -> int:
        assert release.wait(10), "the looks never released the work"
        return 42

    def look() -> str | None:
        looks.append(1)
        if len(looks) < 3:
            return None
        release.set()
        return f"look {len(looks)}"

    assert demo.run_and_watch(work, look, poll_s=0.01) == (42, "look 3")
    assert len(looks) == 3  # no look after the first that gave text, though the work ran a little longer


def test_run_and_watch_gives_none_when_the_work_ends_first_and_raises_the_works_error():
    assert demo.run_and_watch(lambda: "done", lambda: None, poll_s=0.01) == ("done", None)

    def boom() -> None:
        time.sleep(0.05)
        raise RuntimeError("a worker failed")

    with pytest.raises(RuntimeError, match="a worker failed"):
        demo.run_and_watch(boom, lambda: None, poll_s=0.01)


def test_running_status_waits_for_a_running_shard_with_an_eta(tmp_path):
    out = tmp_path / "sweep"
    assert demo.running_status(out) is None  # no sweep.json yet
    grid = grids.Grid.from_dict(dict(demo.DEMO_GRID))
    shards.save_spec(out, grid, ["codecarbon"], None)
    shards.shard_csv(out, 1, 2).parent.mkdir(parents=True)
    shards.shard_csv(out, 1, 2).write_text("")
    now = time.time()
    state = dict(state="running", host=os.uname().nodename, pid=os.getpid(), executor="local", started_unix=now - 60,
                 updated_unix=now, done=0, measured=0)
    shards.write_json(shards.state_path(out, 1, 2), state)
    assert demo.running_status(out) is None  # running, but nothing measured yet: no pace, no ETA
    shards.write_json(shards.state_path(out, 1, 2), dict(state, pace_since_unix=now - 10, done=2, measured=2))
    text = demo.running_status(out)
    assert text == shards.status_text(out) and "1 shard(s) running; ETA 0:10" in text
    shards.write_json(shards.state_path(out, 1, 2), dict(state, state="finished", done=4, measured=4))
    assert demo.running_status(out) is None


def test_demo_command_is_the_command_line_of_the_demo_grid():
    from energy_nb.cli import build_parser, sweep

    cmd = demo.demo_command(3, "_build/measurements/x")
    assert cmd.count(" \\\n    ") == 2  # three lines, as the page shows it
    argv = shlex.split(cmd.replace(" \\\n    ", " "))
    assert argv[0] == "energy-nb"
    a = build_parser().parse_args(sweep.normalise(argv[1:]))
    assert sweep.grid_from_args(a).configs() == grids.Grid.from_dict(dict(demo.DEMO_GRID)).configs()
    assert (a.executor, a.workers, a.out) == ("local", 3, "_build/measurements/x")


# ---------------------------------------------------------------------------------------------------
# paper_law_by_device
# ---------------------------------------------------------------------------------------------------
def test_paper_law_by_device_fits_the_papers_meter_where_a_device_has_it():
    from energy_nb.data import measurements
    from energy_nb.laws import fit

    d = measurements.per_image(measurements.measurements([ROOT / "data" / "measurements" / "cpu-smoke.csv"]))
    assert len(d) > 10 and set(d["meter"]) == {"codecarbon"}
    other_meter = d.assign(meter="nvml", energy_j=3 * d["energy_j"], per_image_j=3 * d["per_image_j"])
    other_gpu = d.assign(gpu="H100", size="full", meter="nvml")  # a device without the paper's meter
    out = fits.paper_law_by_device(pd.concat([d, other_meter, other_gpu], ignore_index=True))
    assert list(out.columns) == ["gpu", "size", "rows", "alpha", "r2"]
    assert list(zip(out["gpu"], out["size"])) == [("H100", "full"), ("cpu", "tiny")]
    law = fit("paper", d)
    cpu = out.set_index("gpu").loc["cpu"]
    assert cpu["rows"] == law.n_obs == len(d)  # the other meter's rows of the same device are left out
    assert (cpu["alpha"], cpu["r2"]) == (law.value("alpha"), law.r2)
    assert out.set_index("gpu").loc["H100", "rows"] == len(d)  # no codecarbon row there: every row
    assert fits.paper_law_by_device(d.iloc[:0]).empty
