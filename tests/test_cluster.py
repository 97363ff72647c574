"""Sweeps beyond one process: local workers, submitit standing in for Slurm, a real single-node Slurm,
``sweep status`` / ``sweep merge``, and the Zeus meter (wired through Zeus's own objects over a fake NVML)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import slurm_local
from energy_nb.data.schema import read_energy_csv
from energy_nb.measurement import executors, shards, slurm
from energy_nb.measurement import grid as grids
from energy_nb.measurement import log as logs
from energy_nb.measurement import meters as measure
from helpers import ROOT, cli, measured

pytestmark = pytest.mark.cluster
#: A tiny grid: 12 configurations, about 0.5 s each on this CPU.
GRID = ["--models", "sd2", "flux", "--steps", "2", "4", "6", "--resolutions", "64", "--dtypes", "fp32", "--cfg",
        "both", "--prompts", "1"]
FAST = ["--idle-seconds", "0.3", "--min-window", "0.3", "--no-progress"]
GRID_DICT = dict(models=["sd2", "flux"], steps=[2, 4, 6], resolutions=[64], dtypes=["fp32"], cfg="both", prompts=[1])
OPTIONS = dict(idle_seconds=0.3, min_window_s=0.3)
IDENTITY = list(logs.KEY_COLUMNS)


def identities(df: pd.DataFrame) -> list[tuple]:
    return sorted(tuple(str(v) for v in r) for r in df[IDENTITY].astype(object).itertuples(index=False))


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> pd.DataFrame:
    """The reference: the same grid measured by one in-process sweep."""
    out = tmp_path_factory.mktemp("single") / "single.csv"
    cli("sweep", *GRID, *FAST, "--out", str(out))
    df = read_energy_csv(out)
    assert len(df) == 12 and measured(df), list(df.status)
    return df


def _state(out: Path, i: int, k: int) -> dict:
    return shards.read_json(shards.state_path(out, i, k))


def _data_lines(path: Path) -> int:
    return max(0, path.read_bytes().count(b"\n") - 1) if path.exists() else 0


# ---------------------------------------------------------------------------------------------------
# Local workers: 3 processes, one killed mid-run, the command submitted again
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_three_local_workers_killed_worker_resubmitted_same_rows_as_one_run(tmp_path, single_run):
    out = tmp_path / "local"
    cmd = [sys.executable, "-m", "energy_nb", "sweep", *GRID, *FAST, "--executor", "local", "--workers", "3",
           "--out", str(out)]
    launcher = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = shards.shard_csv(out, 2, 3)
    t0 = time.time()
    while _data_lines(victim) < 1:  # shard 2 has finished one of its 4 configurations
        assert launcher.poll() is None, launcher.communicate()
        assert time.time() - t0 < 240, "the workers did not start"
        time.sleep(0.05)
    pid = _state(out, 2, 3)["pid"]
    assert pid != launcher.pid and _state(out, 2, 3)["state"] == "running"
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-run: no clean-up, no last words
    stdout, stderr = launcher.communicate(timeout=240)
    assert launcher.returncode == 1, stderr
    assert "1 shard(s) did not finish: shard 2/3" in stderr and "rerun the same command" in stderr
    killed_rows = _data_lines(victim)
    assert 1 <= killed_rows < 4

    # status sees the dead worker; the others finished
    st = json.loads(cli("sweep", "status", str(out), "--json").stdout)
    by = {s["shard"]: s for s in st["shards"]}
    assert by["2/3"]["state"] == "stopped" and "process gone" in by["2/3"]["where"]
    assert by["1/3"]["state"] == by["3/3"]["state"] == "finished"
    assert by["1/3"]["ok"] == 4 and by["2/3"]["ok"] == killed_rows and by["2/3"]["planned"] == 4
    assert st["overall"]["done"] == 8 + killed_rows and st["overall"]["configs"] == 12
    text = cli("sweep", "status", str(out)).stdout
    assert "stopped" in text and f"{8 + killed_rows}/12 configurations done" in text

    # a torn line (a kill mid-write) is not merged, and the shard file is left alone
    with victim.open("a") as fh:
        fh.write("sd2,cpu,64,64,6,fp3")
    before = victim.read_bytes()
    part = cli("sweep", "merge", str(out)).stdout
    assert f"{8 + killed_rows} rows from 3 shard file(s)" in part and victim.read_bytes() == before

    # the same command again: only shard 2 runs, and only its missing configurations
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "all 1 shard(s) finished" in again.stdout
    spec = shards.load_spec(out)
    assert [list(s["jobs"]) for s in spec["submissions"]] == [["1", "2", "3"], ["2"]]
    log = (out / "logs" / f"{spec['submissions'][1]['jobs']['2']}_0_log.err").read_text()
    assert "torn line" in log  # the worker set the torn line aside before appending
    assert _data_lines(victim) == 4 and victim.read_bytes().startswith(before[:before.rfind(b"\n") + 1])

    merged = cli("sweep", "merge", str(out)).stdout
    assert "12 rows from 3 shard file(s)" in merged
    df = read_energy_csv(out / "merged.csv")
    assert identities(df) == identities(single_run)  # same rows, none lost, none twice
    assert measured(df) and len(set(identities(df))) == 12
    first = (out / "merged.csv").read_bytes()
    assert "(unchanged)" in cli("sweep", "merge", str(out)).stdout and (out / "merged.csv").read_bytes() == first
    # nothing left: a third submission does nothing
    assert "nothing to do" in subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).stdout


# ---------------------------------------------------------------------------------------------------
# The Slurm path through submitit's local executor; errors retried across another number of shards
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_submitit_local_executor_stands_in_for_slurm_and_errors_retry_across_shards(tmp_path, single_run):
    out = tmp_path / "standin"
    grid = grids.Grid.from_dict(dict(GRID_DICT))
    res = executors.launch(grid, out, "slurm", workers=2, slurm=dict(partition="debug", time="0:20:00", qos="x"),
                           cluster="local", wait=True, progress=False, options=OPTIONS)
    assert res.unfinished == [] and sorted(res.submitted) == [1, 2]
    assert shards.merge(out).rows == 12
    assert identities(read_energy_csv(out / "merged.csv")) == identities(single_run)

    # make one measured configuration an error, as a failed run would have left it
    path = shards.shard_csv(out, 1, 2)
    lines = path.read_text().splitlines(keepends=True)
    df = read_energy_csv(path)
    victim = df.iloc[1]
    cells = lines[2].rstrip("\n").split(",")
    header = lines[0].rstrip("\n").split(",")
    for col in ("energy_j", "energy_raw_j"):
        cells[header.index(col)] = ""
    cells[header.index("status")] = "error: RuntimeError: simulated"
    path.write_text("".join(lines[:2] + [",".join(cells) + "\n"] + lines[3:]))
    assert executors.launch(grid, out, "slurm", workers=3, cluster="local", wait=True, progress=False,
                            options=OPTIONS).nothing_to_do  # an error row counts as done ...
    again = executors.launch(grid, out, "slurm", workers=3, cluster="local", wait=True, progress=False,
                             options=OPTIONS, retry_errors=True)  # ... unless errors are retried
    assert len(again.submitted) == 1 and again.unfinished == []
    owner = list(again.submitted)[0]
    new = read_energy_csv(shards.shard_csv(out, owner, 3))
    assert len(new) == 1 and (new.model.iloc[0], new.steps.iloc[0], new.cfg.iloc[0]) == (
        victim.model, victim.steps, victim.cfg)
    m = shards.merge(out)
    assert m.rows == 12 and m.superseded == 1 and m.files == 3
    merged = read_energy_csv(out / "merged.csv")
    assert identities(merged) == identities(single_run) and measured(merged)
    assert not merged.status.str.contains("simulated").any()

    # two measured rows of one configuration: refused, naming it
    dup = shards.shard_csv(out, 1, 3)
    dup.write_text(lines[0] + lines[3])
    p = cli("sweep", "merge", str(out), check=False)
    assert p.returncode == 2 and "measured twice, refused" in p.stderr and "shards/shard-1-of-3.csv line 2" in p.stderr


# ---------------------------------------------------------------------------------------------------
# A real single-node Slurm
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm_cluster():
    reason = slurm_local.why_not()
    if reason:
        pytest.skip(reason)
    cluster = slurm_local.start()
    yield cluster
    cluster.stop()


@pytest.mark.slow
def test_real_slurm_two_jobs_one_cancelled_and_resubmitted_same_rows_as_one_run(tmp_path, single_run, slurm_cluster):
    out = tmp_path / "slurm"
    grid_file = tmp_path / "grid.yml"  # the grid and some Slurm settings in one file, as a user keeps them
    grid_file.write_text(yaml.safe_dump(dict(GRID_DICT, slurm=dict(partition="debug", comment="from-the-grid-file",
                                                                    time="1:00:00"))))
    args = [sys.executable, "-m", "energy_nb", "sweep", "--grid", str(grid_file), *FAST, "--executor", "slurm",
            "--workers", "2", "--time", "0:20:00", "--slurm", "cpus_per_task=1", "--out", str(out)]
    p = subprocess.run(args, cwd=ROOT, env=slurm_cluster.env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "submitted 2 job(s) to Slurm" in p.stdout
    script = next((out / "logs").glob("*_submission.sh")).read_text()
    assert "#SBATCH --partition=debug" in script and "#SBATCH --comment=from-the-grid-file" in script
    assert "#SBATCH --time=20" in script  # the command line wins over the grid file's 1:00:00
    assert "#SBATCH --cpus-per-task=1" in script and "--gpus-per-node" not in script
    env = slurm_cluster.env

    def status() -> dict:  # what a user does: watch `sweep status`
        p = subprocess.run([sys.executable, "-m", "energy_nb", "sweep", "status", str(out), "--json"], cwd=ROOT,
                           env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    # the second job's worker dies once it has a row, as in an out-of-memory kill. (scancel is no stand-in
    # here: in this container, proctrack/linuxproc leaves the step's processes running after a cancel.)
    job2 = shards.load_spec(out)["submissions"][0]["jobs"]["2"]
    t0 = time.time()
    while _data_lines(shards.shard_csv(out, 2, 2)) < 1:
        assert time.time() - t0 < 300, (status(), slurm_cluster.log())
        time.sleep(0.1)
    os.kill(_state(out, 2, 2)["pid"], signal.SIGKILL)

    def wait(done: set) -> dict:
        t0 = time.time()
        while True:
            st = status()
            states = {s["shard"]: s["state"] for s in st["shards"]}
            if len(states) == 2 and set(states.values()) <= done and "running" not in states.values():
                return st
            assert time.time() - t0 < 300, (st, slurm_cluster.log())
            time.sleep(0.5)

    st = wait({"finished", "stopped"})
    by = {s["shard"]: s for s in st["shards"]}
    assert by["2/2"]["state"] == "stopped" and 1 <= by["2/2"]["ok"] < 6, st
    assert by["1/2"]["state"] == "finished" and by["1/2"]["ok"] == 6
    assert st["overall"]["done"] < 12 and f"job {job2}" in by["2/2"]["where"]

    # the same command again: one job, for the cancelled shard's missing configurations
    p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "submitted 1 job(s) to Slurm: shard 2/2" in p.stdout, p.stderr
    st = wait({"finished"})
    assert all("job " in s["where"] for s in st["shards"]) and st["overall"]["done"] == 12
    m = shards.merge(out)
    assert m.rows == 12 and m.files == 2
    assert identities(read_energy_csv(out / "merged.csv")) == identities(single_run)  # none lost, none twice
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "nothing to do" in again.stdout


# ---------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------
def test_a_grid_file_carries_slurm_settings(tmp_path):
    f = tmp_path / "grid.yml"
    f.write_text(yaml.safe_dump(dict(GRID_DICT, slurm=dict(partition="gpu", time="4:00:00", reservation="maint"))))
    assert slurm.slurm_settings(f) == dict(partition="gpu", time="4:00:00", reservation="maint")
    assert grids.Grid.from_yaml(f).configs() == grids.Grid.from_dict(dict(GRID_DICT)).configs()
    f.write_text(yaml.safe_dump(dict(GRID_DICT, slurm=["partition=gpu"])))
    with pytest.raises(ValueError, match="'slurm' is a mapping of Slurm settings"):
        slurm.slurm_settings(f)


def test_slurm_settings_map_to_submitit_and_bad_ones_are_named():
    assert [slurm.parse_minutes(v) for v in (90, "90", "1:30:00", "2-00:00:00", "2-1", "45:00")] == [
        90, 90, 90, 2880, 2940, 45]
    for bad in ("soon", "0", "1:xx"):
        with pytest.raises(ValueError, match=f"time '{bad}' is not allowed"):
            slurm.parse_minutes(bad)
    with pytest.raises(ValueError, match="--slurm 'partition' is not allowed: give KEY=VALUE"):
        slurm.parse_key_values(["partition"])
    p = slurm.slurm_parameters(dict(partition="gpu", time="4:00:00", account="proj", qos="high",
                                        reservation="maint", gpus="2", mem_gb="64"), "cuda")
    assert p["slurm_partition"] == "gpu" and p["timeout_min"] == 240 and p["slurm_account"] == "proj"
    assert p["slurm_qos"] == "high" and p["gpus_per_node"] == 2 and p["mem_gb"] == 64
    assert p["slurm_additional_parameters"] == {"reservation": "maint"}  # -> #SBATCH --reservation=maint
    assert slurm.slurm_parameters({}, "cuda")["gpus_per_node"] == 1
    assert slurm.slurm_parameters(dict(setup="module load cuda"), "cuda")["slurm_setup"] == ["module load cuda"]
    assert "gpus_per_node" not in slurm.slurm_parameters({}, "cpu")


@pytest.mark.parametrize("extra, message", [
    (["--executor", "local", "--gpus", "0,1"], "--gpus 0,1 needs --device cuda"),
    (["--executor", "local", "--partition", "gpu"], "need --executor slurm"),
    (["--executor", "slurm", "--gpus", "0"], "--gpus is for --executor local"),
    (["--executor", "local", "--workers", "0"], "workers 0 is not allowed"),
    (["--executor", "local", "--shard", "1/2"], "--shard is for one process"),
    (["--workers", "2"], "need --executor local or --executor slurm"),
    (["--executor", "slurm", "--time", "soon"], "time 'soon' is not allowed"),
])
def test_executor_arguments_are_refused_with_the_value_named(tmp_path, extra, message):
    p = cli("sweep", *GRID, "--out", str(tmp_path / "x"), *extra, check=False)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_a_folder_holds_one_sweep_and_a_file_is_not_a_folder(tmp_path):
    grid = grids.Grid.from_dict(dict(GRID_DICT))
    shards.save_spec(tmp_path / "a", grid, ["codecarbon"], None)
    other = grids.Grid.from_dict(dict(GRID_DICT, steps=[2]))
    with pytest.raises(ValueError, match=r"grid has steps \[2, 4, 6\], not \[2\]"):
        executors.launch(other, tmp_path / "a", "local", progress=False)
    (tmp_path / "f.csv").write_text("x")
    with pytest.raises(ValueError, match="f.csv is a file; with --executor local|slurm give a folder"):
        executors.launch(grid, tmp_path / "f.csv", "local", progress=False)
    p = cli("sweep", "status", str(tmp_path / "nothing"), check=False)
    assert p.returncode == 2 and "is not a sharded sweep's folder" in p.stderr


def test_a_running_shard_blocks_a_second_submission(tmp_path):
    grid = grids.Grid.from_dict(dict(GRID_DICT))
    out = tmp_path / "busy"
    shards.save_spec(out, grid, ["codecarbon"], None)
    shards.shard_csv(out, 1, 2).parent.mkdir(parents=True)
    shards.shard_csv(out, 1, 2).write_text("")
    now = time.time()
    shards.write_json(shards.state_path(out, 1, 2), dict(state="running", host=os.uname().nodename, pid=os.getpid(),
                                                         executor="local", started_unix=now - 60,
                                                         pace_since_unix=now - 10, updated_unix=now, done=2,
                                                         measured=2))
    st = shards.status(out).iloc[0]
    assert st["state"] == "running" and st["planned"] == 6
    assert st["eta_s"] == pytest.approx(4 * 10 / 2)  # 4 left at 5 s each (the pace since the first configuration)
    with pytest.raises(ValueError, match=r"1 shard\(s\) of .* are still running or queued: 1/2 \(running"):
        executors.launch(grid, out, "local", workers=2, progress=False)


# ---------------------------------------------------------------------------------------------------
# The Zeus meter, through Zeus's own GPU objects over a fake NVML
# ---------------------------------------------------------------------------------------------------
class FakeNVML:
    """The few NVML calls Zeus and our NVML meter make, over two programmable GPUs (mJ, mW)."""

    def __init__(self):
        self.energy_mj = {0: 1_000_000, 1: 5_000_000}
        self.power_mw = {0: 250_000, 1: 300_000}

    def install(self, monkeypatch):
        import pynvml
        import zeus.device.gpu as zgpu

        handles = {i: f"handle-{i}" for i in self.energy_mj}
        index_of = {h: i for i, h in handles.items()}

        class Field:
            def __init__(self, mw):
                self.nvmlReturn = pynvml.NVML_SUCCESS
                self.value = type("V", (), {"uiVal": mw})()

        def not_supported(*a, **k):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

        for name, fn in dict(
                nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: len(handles),
                nvmlDeviceGetHandleByIndex=lambda i: handles[i], nvmlDeviceGetC2cModeInfoV=not_supported,
                nvmlDeviceGetArchitecture=lambda h: pynvml.NVML_DEVICE_ARCH_HOPPER,
                nvmlDeviceGetTotalEnergyConsumption=lambda h: self.energy_mj[index_of[h]],
                nvmlDeviceGetFieldValues=lambda h, fields: [Field(self.power_mw[index_of[h]])],
        ).items():
            monkeypatch.setattr(pynvml, name, fn)
        monkeypatch.setattr(zgpu, "_gpus", None)  # Zeus keeps one GPUs object per process
        monkeypatch.delenv("ZEUSD_SOCK_PATH", raising=False)


def test_zeus_meter_reads_the_counter_through_zeus_and_agrees_with_our_nvml_reader(monkeypatch):
    nvml = FakeNVML()
    nvml.install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # the worker's one GPU is the machine's GPU 1
    dev = torch.device("cuda:0")
    zm, nm = measure.ZeusMeter(dev), measure.NvmlMeter(dev)
    from zeus.device.gpu.nvidia import NVIDIAGPUs

    assert isinstance(zm.monitor.gpus, NVIDIAGPUs)  # Zeus's own objects, not ours

    def work():
        time.sleep(0.05)
        nvml.energy_mj[1] += 12_345  # 12.345 J on the visible GPU ...
        nvml.energy_mj[0] += 99_999  # ... and none of GPU 0's counts

    zr, nr = measure.window([zm, nm], torch.device("cpu"), work)
    assert zr.meter == "zeus" and zr.energy_j == pytest.approx(12.345) and zr.duration_s >= 0.05
    assert nr.energy_j == pytest.approx(12.345) and "zeus" in zr.note
    # a window shorter than the counter's update period: Zeus estimates power x time, our reader sees 0
    zr, nr = measure.window([zm, nm], torch.device("cpu"), lambda: time.sleep(0.02))
    assert nr.energy_j == 0 and zr.energy_j == pytest.approx(300.0 * zr.duration_s, rel=0.2)
    assert measure.nvml_id(dev) == 1


def test_zeus_is_the_default_on_a_gpu_where_it_imports(monkeypatch):
    assert measure.default_meters(torch.device("cpu")) == ["codecarbon"]
    assert measure.default_meters(torch.device("cuda")) == ["codecarbon", "zeus"]
    monkeypatch.setattr(measure, "zeus_available", lambda: False)
    assert measure.default_meters(torch.device("cuda")) == ["codecarbon", "nvml"]
    with pytest.raises(ValueError, match="meter 'zeus' reads a GPU's energy through Zeus; device 'cpu'"):
        measure.make_meters(["zeus"], torch.device("cpu"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234,MIG-5")
    assert measure.nvml_id(torch.device("cuda:0")) == "GPU-1234"
    with pytest.raises(ValueError, match="names a MIG slice"):
        measure.nvml_id(torch.device("cuda:1"))
    with pytest.raises(ValueError, match="is not among the GPUs"):
        measure.nvml_id(torch.device("cuda:2"))


def test_merge_keeps_one_row_per_configuration_and_refuses_two_measurements():
    cols = list(logs.KEY_COLUMNS) + ["status", "timestamp"]
    base = dict(model="sd2", gpu="cpu", height=64, width=64, steps=2, dtype="fp32", cfg=0, n_prompts=1, size="tiny",
                device="cpu", weights="random", seed=0, meter="codecarbon")
    a = pd.DataFrame([dict(base, status="error: x", timestamp="2026-01-01T00:00:00Z"),
                      dict(base, steps=4, status="error: first", timestamp="2026-01-01T00:00:01Z")], columns=cols)
    b = pd.DataFrame([dict(base, status="ok", timestamp="2026-01-01T00:00:00Z"),
                      dict(base, steps=4, status="error: second", timestamp="2026-01-02T00:00:00Z")], columns=cols)
    merged, superseded = shards.merge_frames([("a", a), ("b", b)])
    assert list(merged.status) == ["ok", "error: second"] and superseded == 2
    with pytest.raises(shards.DuplicateRows, match="1 configuration"):
        shards.merge_frames([("a", b), ("b", b)])


def test_a_submission_slurm_refuses_is_a_clear_error(tmp_path):
    if Path("/etc/slurm/slurm.conf").exists():
        pytest.skip("this machine has a Slurm configuration: sbatch might accept the jobs")
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    p = subprocess.run([sys.executable, "-m", "energy_nb", "sweep", *GRID, "--executor", "slurm", "--out",
                        str(tmp_path / "s")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert ("Slurm refused the submission (nothing was queued" in p.stderr
            or "sbatch, which is not on this machine's PATH" in p.stderr), p.stderr
