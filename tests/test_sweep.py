"""Measurement harness: pipelines, meters, grids, the append-only resumable sweep (CPU, tiny models)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from energy_nb.data.schema import read_energy_csv
from energy_nb.measurement import grid as grids
from energy_nb.measurement import log as logs
from energy_nb.measurement import meters as measure
from energy_nb.measurement import run as runs
from energy_nb.measurement.pipelines import Replica
from helpers import ROOT, cli, measured

FAST = ["--idle-seconds", "0.5", "--min-window", "0", "--no-progress"]


def _keys(df: pd.DataFrame) -> list[tuple]:
    return [tuple(str(v) for v in r) for r in df[list(logs.KEY_COLUMNS)].astype(object).itertuples(index=False)]


# ---------------------------------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["sd2", "sd35", "flux", "qwen"])
def test_replica_generates_an_image_and_runs_the_text_encoders(model):
    rep = Replica(model, size="tiny", device="cpu", dtype="fp32")
    calls = []
    encoders = [getattr(rep.pipe, n) for n in ("text_encoder", "text_encoder_2", "text_encoder_3")
                if getattr(rep.pipe, n, None) is not None]
    for enc in encoders:
        enc.register_forward_hook(lambda *a: calls.append(1))
    img = rep(64, 128, 2, cfg=False)
    assert tuple(img.shape) == (1, 3, 64, 128) and torch.isfinite(img).all()
    assert len(calls) == len(encoders)  # every text encoder once per prompt
    calls.clear()
    rep(64, 64, 2, cfg=True)
    assert len(calls) == 2 * len(encoders)  # and once more for the negative prompt


def test_cfg_doubles_the_denoiser_work():
    rep = Replica("flux", size="tiny", device="cpu", dtype="fp32")
    batch = []
    rep.pipe.transformer.register_forward_hook(lambda mod, args, kwargs, out: batch.append(1), with_kwargs=True)
    rep(64, 64, 3, cfg=False)
    off = len(batch)
    batch.clear()
    rep(64, 64, 3, cfg=True)
    assert off == 3 and len(batch) == 6  # Flux true CFG: a second full pass per step


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sd2", "flux"])
def test_pretrained_weights_load_from_a_local_folder_without_tokenizers(model, tmp_path):
    """The `pretrained` path: a checkpoint on disk (here our tiny random one, saved) loads offline,
    with no tokenizer files, and generates the same image as the pipeline it was saved from."""
    rep = Replica(model, size="tiny", device="cpu", dtype="fp32")
    rep.pipe.save_pretrained(tmp_path)
    loaded = Replica(model, size="full", device="cpu", dtype="fp32", weights="pretrained", pretrained=str(tmp_path))
    assert type(loaded.pipe) is type(rep.pipe) and loaded.pipe.tokenizer is None
    assert torch.allclose(rep(64, 64, 2, cfg=True, seed=3), loaded(64, 64, 2, cfg=True, seed=3), atol=1e-5)
    with pytest.raises(ValueError, match="cannot load pretrained sd2 from"):
        Replica("sd2", size="full", weights="pretrained", pretrained=str(tmp_path / "missing"))


def test_replica_refuses_what_cannot_run_here():
    with pytest.raises(ValueError, match="full-size flux on the CPU"):
        Replica("flux", size="full", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            Replica("sd2", device="cuda")
    with pytest.raises(ValueError, match="unknown weights 'fake'"):
        Replica("sd2", weights="fake")
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        Replica("sd2", dtype="int8")


# ---------------------------------------------------------------------------------------------------
# Meters and grids
# ---------------------------------------------------------------------------------------------------
def test_meter_errors_and_gpu_labels():
    with pytest.raises(ValueError, match="meter 'nvml'.*device 'cpu' has none"):
        measure.make_meters(["nvml"], torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown meter 'rapl'; allowed: codecarbon, zeus, nvml"):
        measure.make_meters(["rapl"], torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown country code 'XYZ'"):
        measure.make_meters(["codecarbon"], torch.device("cpu"), country="XYZ")
    assert measure.default_meters(torch.device("cpu")) == ["codecarbon"]
    cuda = torch.device("cuda")
    assert measure.gpu_label("NVIDIA H100 80GB HBM3", cuda) == "H100"
    assert measure.gpu_label("NVIDIA A100-SXM4-80GB", cuda) == "A100"
    assert measure.gpu_label("NVIDIA H200", cuda) == "H200"
    assert measure.gpu_label("NVIDIA RTX A6000", cuda) == "A6000"
    assert measure.gpu_label("anything", torch.device("cpu")) == "cpu"


@pytest.mark.parametrize("change, message", [
    (dict(models=["dalle"]), "unknown model 'dalle'; allowed: sd2, sd35, flux, qwen"),
    (dict(dtypes=["int8"]), "unknown dtype 'int8'; allowed: fp16, fp32, bf16"),
    (dict(resolutions=[72]), "height 72 is impossible for flux: it must be a positive multiple of 16"),
    (dict(resolutions=["64xabc"]), "resolution '64xabc' is not allowed"),
    (dict(steps=[0]), "steps 0 is not allowed: an integer >= 1"),
    (dict(prompts=[2.5]), "prompts 2.5 is not allowed"),
    (dict(cfg="maybe"), "cfg 'maybe' is not allowed; allowed: on, off, both"),
    (dict(size="huge"), "unknown size 'huge'; allowed: full, tiny"),
    (dict(colour="red"), "unknown key 'colour'"),
])
def test_invalid_grids_are_refused_with_the_value_named(change, message):
    d = {**dict(models=["sd2", "flux"], steps=[2], resolutions=[64]), **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        grids.Grid.from_dict(d)


def test_grid_expansion_yaml_and_shards(tmp_path):
    f = tmp_path / "g.yml"
    f.write_text("models: [sd2, flux]\nsteps: [2, 4]\nresolutions: [64, 64x128]\ndtypes: [fp32]\ncfg: both\n"
                 "prompts: [1, 2]\n")
    g = grids.Grid.from_yaml(f, steps=[3])  # CLI flags override the file
    configs = g.configs()
    assert len(configs) == 2 * 1 * 2 * 2 * 2 and {c.steps for c in configs} == {3}
    assert (64, 128) in {(c.height, c.width) for c in configs}
    parts = [grids.shard(configs, i, 3) for i in (1, 2, 3)]
    assert sorted(sum(parts, []), key=configs.index) == configs  # a partition: nothing lost or doubled
    with pytest.raises(ValueError, match="shard '4/3' is not allowed"):
        grids.parse_shard("4/3")
    paper = grids.Grid.from_dict(dict(grids.PAPER_GRID, size="full", device="cuda"))
    assert len(paper.configs()) == 4 * 5 * 4 * 2 * 2 * 3


def test_cli_refuses_bad_grid_values():
    p = cli("sweep", "--models", "sd2", "--steps", "2", "--resolutions", "60", "--out", "/tmp/never.csv", check=False)
    assert p.returncode == 2
    assert "energy-nb sweep: error: height 60 is impossible for sd2" in p.stderr
    p = cli("sweep", "--models", "sd2", "--steps", "2", "--resolutions", "64", "--size", "full", "--out",
            "/tmp/never.csv", check=False)
    assert p.returncode == 2 and ("refused" in p.stderr or "no CUDA GPU" in p.stderr)
    assert not Path("/tmp/never.csv").exists()


# ---------------------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_readme_command_measures_every_configuration_and_feeds_fit(tmp_path):
    """The README's CPU command: one row per configuration, net = raw - idle x duration, and the file goes
    through `energy-nb fit`. On a CPU, CodeCarbon's energy is an estimate from the load of the whole machine:
    a window it cannot tell from idle is an error row that says so, never a made-up number. (How long the
    sweep takes is for benchmarks, not tests.)"""
    out = tmp_path / "cpu-smoke.csv"
    cli("sweep", "--models", "sd2", "flux", "--size", "tiny", "--device", "cpu", "--steps", "2", "4",
        "--resolutions", "64", "128", "--dtypes", "fp32", "--cfg", "both", "--prompts", "2", "--out", str(out),
        "--idle-seconds", "1", "--min-window", "0.2", "--no-progress")
    df = read_energy_csv(out)
    assert len(df) == 2 * 2 * 2 * 2 == len(set(_keys(df)))
    ok = df[df.status == "ok"]
    unresolved = df[df.status != "ok"]
    assert unresolved.status.str.contains("below what the meter resolves").all(), list(unresolved.status)
    assert (ok.energy_j - (ok.energy_raw_j - ok.idle_w * ok.duration_s)).abs().max() < 1e-9 if len(ok) else True
    assert set(df.meter) == {"codecarbon"} and df.note.str.contains("ESTIMATE").all()
    assert set(df.gpu) == {"cpu"} and set(df["size"]) == {"tiny"} and df.torch_version.notna().all()
    p = cli("fit", "--data", str(out), "--json", check=False)
    if len(ok) >= 3:
        assert p.returncode == 0 and '"n_obs": ' + str(len(ok)) in p.stdout
    elif len(ok):
        assert p.returncode == 2 and f"need at least 3 ok rows to fit the law, got {len(ok)}" in p.stderr
    else:
        assert p.returncode == 2 and f"no ok rows to fit the law on in {out}: 16 rows (16 error" in p.stderr


@pytest.mark.slow
def test_sweep_runs_registry_models_beyond_the_paper(tmp_path):
    """A tiny sweep of two models the paper never measured, named by Hugging Face id and by key."""
    out = tmp_path / "beyond.csv"
    cli("sweep", "--models", "segmind/SSD-1B", "kandinsky3", "--size", "tiny", "--device", "cpu", "--steps", "2",
        "--resolutions", "64", "--dtypes", "fp32", "--cfg", "on", "--prompts", "1", "--idle-seconds", "0.2",
        "--out", str(out), "--no-progress")
    df = read_energy_csv(out)
    assert sorted(df.model) == ["kandinsky3", "ssd1b"] and measured(df), list(df.status)


class FakeMeter:
    """A meter that reports 10 W x wall time in its first window (the idle window) and 20 W x wall time plus
    2 J in every later one, so the arithmetic can be checked exactly however long a window takes."""

    name = "codecarbon"

    def __init__(self):
        self.windows = 0

    def start(self):
        self.t0 = time.perf_counter()

    def stop(self):
        d = time.perf_counter() - self.t0
        self.windows += 1
        return measure.Reading(self.name, 10.0 * d if self.windows == 1 else 20.0 * d + 2.0, d, "fake")


@pytest.mark.slow
def test_oom_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "make_meters", lambda names, device, country="USA": [FakeMeter()])
    real_call = Replica.__call__
    real_init = Replica.__init__

    def call(self, height, width, steps, cfg=False, seed=0):
        if self.model == "flux" and height == 128:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (simulated)")
        if self.model == "flux" and steps == 3:
            raise RuntimeError("something else broke")
        return real_call(self, height, width, steps, cfg, seed)

    def init(self, model, *a, **k):
        if model == "qwen":
            raise torch.OutOfMemoryError("CUDA out of memory while loading weights (simulated)")
        real_init(self, model, *a, **k)

    monkeypatch.setattr(Replica, "__call__", call)
    monkeypatch.setattr(Replica, "__init__", init)
    grid = grids.Grid.from_dict(dict(models=["flux", "qwen", "sd2"], steps=[2, 3], resolutions=[64, 128],
                                     dtypes=["fp32"], cfg="off", prompts=[1]))
    out = tmp_path / "oom.csv"
    res = runs.run_sweep(grid, out, idle_seconds=1.0, min_window_s=0, progress=False, log=lambda m: None)
    df = read_energy_csv(out)
    assert len(df) == 12 and res.measured == 12
    st = dict(zip(zip(df.model, df.height, df.steps), df.status))
    assert st[("flux", 128, 2)] == "oom" and st[("flux", 128, 3)] == "oom"
    assert st[("flux", 64, 3)].startswith("error: RuntimeError: something else broke")
    assert st[("flux", 64, 2)] == "ok"
    assert all(st[("qwen", r, s)] == "oom" for r in (64, 128) for s in (2, 3))
    assert all(st[("sd2", r, s)] == "ok" for r in (64, 128) for s in (2, 3))  # the sweep went on
    ok = df[df.status == "ok"]
    # the fake meter: idle = 10 W; raw = 20 W x duration + 2 J; net = raw - idle x duration > 0
    assert ((ok.energy_raw_j - 20 * ok.duration_s - 2).abs() < 1e-9).all()
    assert (ok.idle_w - 10.0).abs().max() < 1e-9
    assert (ok.energy_j - (ok.energy_raw_j - ok.idle_w * ok.duration_s)).abs().max() < 1e-9
    # a rerun measures nothing; --retry-errors re-measures only the error row
    again = runs.run_sweep(grid, out, idle_seconds=1.0, min_window_s=0, progress=False, log=lambda m: None)
    assert again.measured == 0 and len(read_energy_csv(out)) == 12
    retry = runs.run_sweep(grid, out, idle_seconds=1.0, min_window_s=0, progress=False, retry_errors=True,
                            log=lambda m: None)
    assert retry.measured == 1 and len(read_energy_csv(out)) == 13


def _start(out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "energy_nb", "sweep", "--models", "sd2", "flux", "--steps", "2", "4", "6",
            "--resolutions", "64", "--dtypes", "fp32", "--cfg", "both", "--prompts", "2", "--out", str(out),
            "--min-window", "0.3", "--idle-seconds", "0.5", "--no-progress", *extra]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _data_rows(out: Path) -> int:
    if not out.exists():
        return 0
    return max(0, out.read_text().count("\n") - 1)


def _wait_rows(proc: subprocess.Popen, out: Path, n: int, timeout: float = 120) -> None:
    t0 = time.time()
    while _data_rows(out) < n:
        assert proc.poll() is None, f"sweep ended before {n} rows: {proc.stderr.read()}"
        assert time.time() - t0 < timeout, "sweep too slow"
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_and_interrupt_then_resume_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "resume.csv"
    total = 2 * 3 * 2  # models x steps x cfg
    proc = _start(out)
    _wait_rows(proc, out, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait()
    after_kill = out.read_bytes()
    killed_rows = len(read_energy_csv(out))  # the file is valid after kill -9
    assert 3 <= killed_rows < total

    proc = _start(out)
    _wait_rows(proc, out, killed_rows + 2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Rerun the same command to resume" in err
    assert out.read_bytes().startswith(after_kill)  # finished rows never rewritten
    interrupted = read_energy_csv(out)
    assert killed_rows + 2 <= len(interrupted) < total

    # a torn last line (as if killed mid-write) is set aside, not kept
    with out.open("a") as fh:
        fh.write("flux,cpu,64,64,2,fp3")
    proc = _start(out)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "torn line" in err and Path(str(out) + ".torn").read_text().startswith("flux,cpu,64,64,2,fp3")
    final = read_energy_csv(out)
    keys = _keys(final)
    assert len(final) == total == len(set(keys))  # none lost, none duplicated
    expected = {(m, s, c) for m in ("sd2", "flux") for s in (2, 4, 6) for c in (0, 1)}
    assert set(zip(final.model, final.steps, final.cfg)) == expected
    with out.open(newline="") as fh:
        assert next(csv.reader(fh)) == list(read_energy_csv(out).columns)


def test_ctrl_c_swallowed_by_a_library_still_stops_the_sweep():
    """A KeyboardInterrupt that lands where Python drops it (a destructor, a GC callback) is raised again at
    the next configuration boundary; the previous SIGINT handler is restored afterwards."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    guard = runs._Interrupt()
    try:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here
        except KeyboardInterrupt:
            pass  # swallowed, as in "Exception ignored in: <function ...__del__>"
        with pytest.raises(KeyboardInterrupt):
            guard.check()
    finally:
        guard.restore()
    assert signal.getsignal(signal.SIGINT) is before
