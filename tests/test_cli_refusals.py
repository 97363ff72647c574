"""Bad input on the command line is refused in one line naming the value and what is allowed, with exit status 2:
record CSVs that are not, a calibration base without data, notebooks and their parameters, sweep options, features
--out, and the provenance text kept within 100 columns; library noise stays off stdout. In-process
(``energy_nb.cli.main``) but for the notebook that fails in its kernel."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from energy_nb.cli import main
from helpers import ROOT, Result, cli


def one_line(res: Result, *named: str) -> str:
    """The refusal's only stderr line (a UserError): exit 2, ``energy-nb CMD: error: ...`` naming ``named``."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"energy-nb {res.args[0]}: error: "), res.stderr
    for n in named:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# -- 1. energy CSVs that are not -----------------------------------------------------------------------------------
HEADER = "model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source\n"


@pytest.mark.parametrize("kind, expect", [
    ("binary", "is not a text CSV (byte 0x"), ("empty", "is empty"), ("folder", "is a folder"),
    ("missing", "no such energy CSV"), ("not-csv", "names none of the schema's columns"),
    ("columns", "the core column(s) height, width"),
])
def test_calibrate_refuses_a_file_that_is_not_an_energy_csv(tmp_path, kind, expect):
    path = tmp_path / f"{kind}.csv"
    if kind == "binary":
        path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)) * 2)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "not-csv":
        path.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    elif kind == "columns":
        path.write_text("model,gpu\nflux,A100\n")
    line = one_line(cli("calibrate", "--data", str(path), "--name", "x", check=False), str(path))
    assert expect in line and "model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j,source" in line


def test_a_utf8_csv_with_a_byte_order_mark_still_reads(tmp_path):
    from energy_nb.data.schema import read_energy_csv

    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "flux,A100,256,256,10,fp16,0,100,29500,mine\n").encode())
    assert read_energy_csv(path)["energy_j"].tolist() == [29500.0]


# -- 2. a calibration's base must have energy data --------------------------------------------------------------------
def test_calibrate_refuses_a_base_gpu_without_energy_data(tmp_path):
    from energy_nb.laws import calibrated

    allowed = calibrated.base_gpus()
    assert "A100" in allowed and "L40S" not in allowed
    rows = tmp_path / "row.csv"
    rows.write_text(HEADER + "flux,A100,256,256,10,fp16,0,100,29500,mine\n")
    line = one_line(cli("calibrate", "--base", "L40S", "--data", str(rows), "--name", "x", check=False),
                    "'L40S'", "allowed: " + ", ".join(allowed))
    assert "energy data" in line
    assert not (calibrated.calibration_dir() / "x.json").exists()
    assert calibrated.check_base(allowed[0].lower()) == allowed[0]


# -- 3. notebook parameters, and a notebook that raises ---------------------------------------------------------------
@pytest.mark.parametrize("name, value, named", [
    ("steps", '"ten"', "steps = 'ten'"), ("steps", "10.5", "steps = 10.5"), ("models", "sd2", "models = 'sd2'"),
    ("nosuch", "1", "nosuch"),
])
def test_run_refuses_parameters_of_the_wrong_name_or_type_before_a_kernel_starts(name, value, named, monkeypatch):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel was started"))
    line = one_line(cli("run", "flops", "-p", name, value, "--quiet", check=False), "flops.md", named)
    assert "allowed" in line


def test_run_prints_a_failing_cell_in_one_line(tmp_path, capfd):
    """A real kernel: its own log (ipykernel's TCP warning) must not reach stderr either."""
    nb = tmp_path / "boom.md"
    nb.write_text(textwrap.dedent('''\
        ---
        jupytext:
          text_representation: {extension: .md, format_name: myst}
        kernelspec: {display_name: Python 3, language: python, name: python3}
        ---

        ```{code-cell} ipython3
        :tags: [parameters]
        n = 3
        ```

        ```{code-cell} ipython3
        if n > 2:
            raise ValueError(f"n = {n} is too large:\\nat most 2")
        ```
        '''))
    out = tmp_path / "boom.ipynb"
    assert main(["run", str(nb), "--quiet", "-o", str(out)]) == 2
    err = capfd.readouterr().err
    assert err.splitlines() == [f"energy-nb run: error: boom.md: the cell In [2] (if n > 2:) raised ValueError: "
                                f"n = 3 is too large: at most 2; the traceback is in {out}"], err
    assert out.exists()


# -- 4. only notebooks run ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["passwd", "folder", "yml", "missing"])
def test_run_refuses_what_is_not_a_notebook(tmp_path, what):
    path = {"passwd": tmp_path / "passwd", "folder": tmp_path, "yml": ROOT / "notebooks" / "smoke.yml",
            "missing": tmp_path / "nope.md"}[what]
    if what == "passwd":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    line = one_line(cli("run", str(path), check=False), str(path), "flops", "within_model", ".ipynb")
    assert ("no notebook" if what == "missing" else "is not a notebook") in line


def test_run_refuses_a_notebook_file_it_cannot_read(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(b'{"cells": [], "x": "\xff"}')
    one_line(cli("run", str(path), check=False), "bad.ipynb", "cannot read the notebook")


# -- 5 and 10. sweep, book and lab options ---------------------------------------------------------------------------
SWEEP = ("sweep", "run", "--out", "out/never", "--models", "sd2", "--steps", "1", "--resolutions", "64",
         "--prompts", "1", "--dry-run")


@pytest.mark.parametrize("option, value, allowed", [
    ("--workers", "0", "an integer >= 1"), ("--workers", "-2", "an integer >= 1"),
    ("--time", "banana", "D-HH:MM:SS"), ("--time", "1:75:00", "HH:MM:SS"), ("--time", "0", "a Slurm time > 0"),
    ("--idle-seconds", "nan", "a finite number of seconds > 0"), ("--idle-seconds", "0", "seconds > 0"),
    ("--idle-seconds", "-1", "seconds > 0"), ("--min-window", "inf", "a finite number of seconds >= 0"),
    ("--min-window", "-1", "seconds >= 0"), ("--warmup", "-1", "an integer >= 0"), ("--seed", "-1", "an integer >= 0"),
    ("--gpus-per-job", "-1", "an integer >= 0"),
])
def test_sweep_run_refuses_bad_numbers_and_times(option, value, allowed):
    shown = repr(value) if option == "--time" else value
    one_line(cli(*SWEEP, "--executor", "slurm", option, value, check=False), f"{option} {shown} is not allowed",
             allowed)


def test_sweep_run_refuses_bad_numbers_without_an_executor_too():
    one_line(cli(*SWEEP, "--workers", "0", check=False), "--workers 0 is not allowed")
    one_line(cli(*SWEEP[:-1], "--idle-seconds", "nan", check=False), "--idle-seconds nan is not allowed")


def test_sweep_slurm_time_from_key_values_is_checked_too(tmp_path):
    out = tmp_path / "sweep"
    args = (*SWEEP[:2], "--out", str(out), *SWEEP[4:-1])
    one_line(cli(*args, "--executor", "slurm", "--slurm", "time=banana", check=False), "'banana'", "D-HH:MM:SS")
    assert not out.exists()


def test_slurm_time_forms():
    from energy_nb.cli.options import slurm_minutes
    from energy_nb.measurement.slurm import parse_minutes

    ok = {"90": 90, "90:30": 91, "12:00:00": 720, "2-12": 3600, "2-12:30": 3630, "1-0:0:1": 1441}
    assert {k: slurm_minutes(k) for k in ok} == ok == {k: parse_minutes(k) for k in ok}  # what submitit is given
    assert all(slurm_minutes(x) is None for x in ("banana", "0", "-5", "1:2:3:4", "2-24", "1:60:00", "0-0", ""))


@pytest.mark.parametrize("args, named", [
    (("book", "--jobs", "0"), "--jobs 0"), (("lab", "--port", "70000"), "--port 70000"),
    (("lab", "--port", "0"), "--port 0"),
])
def test_book_and_lab_refuse_bad_numbers(args, named):
    one_line(cli(*args, check=False), f"{named} is not allowed")


# -- 6. features --out without --regenerate ---------------------------------------------------------------------------
def test_features_out_needs_regenerate(tmp_path):
    out = tmp_path / "counted.csv"
    one_line(cli("features", "--out", str(out), check=False), f"--out {out}", "--regenerate")
    assert not out.exists()


# -- 7. provenance within 100 columns ---------------------------------------------------------------------------------
def test_provenance_text_is_wrapped_and_json_whole():
    text = cli("provenance").stdout
    assert max(map(len, text.splitlines())) <= 100
    assert "data/paper/a100_energy.csv (1 file, 280 rows," in text
    rows = json.loads(cli("provenance", "--json").stdout)
    assert max(len(r["source"]) for r in rows) > 100 and all(len(r["sha256"]) == 64 for r in rows)


# -- 8. library noise off stdout ----------------------------------------------------------------------------------------
def test_codecarbon_import_noise_goes_to_stderr(tmp_path, monkeypatch, capsys):
    """amdsmi prints on stdout when ROCm is missing, imported by CodeCarbon: a stand-in that does the same (the real
    one prints only once per process and only without ROCm)."""
    from energy_nb.measurement import meters

    pkg = tmp_path / "codecarbon"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("print('libamd_smi.so: cannot open shared object file')\n"
                                     "class OfflineEmissionsTracker:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = sys.modules.pop("codecarbon", None)
    try:
        assert meters._import_codecarbon().__module__ == "codecarbon"
    finally:  # the stand-in must not outlive the test
        sys.modules.pop("codecarbon", None)
        if real is not None:
            sys.modules["codecarbon"] = real
    out, err = capsys.readouterr()
    assert out == "" and "libamd_smi.so" in err


# -- 9. the README says which law predict answers with ----------------------------------------------------------------
def test_readme_says_fit_gives_the_paper_law_and_predict_the_routed_one():
    readme = (ROOT / "README.md").read_text()
    assert "the law predict uses" not in readme and "the law predict answers with for Flux" not in readme
    line = next(x for x in readme.splitlines() if x.startswith(".venv/bin/energy-nb fit --models flux --json"))
    assert "predict --law paper" in line and "the law the artifact routes to" in line
    from energy_nb import law

    assert law("paper", "flux", "A100").name == "paper (flux)"
