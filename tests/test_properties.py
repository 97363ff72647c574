"""Property-based: whatever a user types, ``predict``, ``plan`` and ``calibrate`` answer, or exit 2 with one line
naming what was wrong; the public API answers or raises a one-line ``UserError`` (a ``ValueError``), never another
exception. Hypothesis draws each option's value from edge cases (zero, negative, huge, inf, nan, floats where ints
go, unicode, empty) and from arbitrary text and bytes; derandomized, so every run tries the same cases."""
from __future__ import annotations

import contextlib
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import energy_nb
from energy_nb.cli import main
from energy_nb.core.errors import UserError

SETTINGS = dict(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NUMBERS = ["0", "-1", "1", "2.5", "1e3", "1e308", "-1e308", "inf", "-inf", "nan", "", " ", "ten", "１２", "日本",
           "0x10", "1_000"]
#: Per option: the values worth trying (resolutions that are counted or refused before counting: an uncounted one
#: would count on the meta device, slow).
CONFIG = {
    "--model": ["sdxl", "SDXL", "stabilityai/stable-diffusion-xl-base-1.0", "flux", "qwen", "sdxll", "", "日本"],
    "--height": ["512", "1024.0", "0", "-8", "7", "8200", "1e9", "nan", ""],
    "--width": ["512", "513", "0", "8200", "inf", "x"],
    "--steps": ["1", "30", "0", "-3", "1e3", "2.5", "inf", "nan", "99999999"],
    "--dtype": ["fp16", "bf16", "fp32", "FP16", "fp64", "", "int8"],
    "--batch-size": ["1", "8", "64", "0", "4096", "1e9", "2.5", "nan"],
    "--gpu": ["A100", "h100", "H100-80GB-HBM3", "NVIDIA H100 80GB HBM3", "a100-sxm4-40gb", "V100", "L40S", "B200",
              "A 100", "TPU", "", "日本", "h100\n"],
    "--num-gpus": ["1", "2", "8", "0", "3", "1e9", "-2"],
    "--level": ["0.95", "0.5", "0", "1", "nan", "inf", "95"],
}
PLAN = {
    "--images-per-day": ["0", "1e6", "1e300", "inf", "nan", "-1", "", "many"],
    "--pue": ["1", "1.5", "0.5", "inf", "nan", "1e300"],
    "--days-per-year": ["365", "366", "400", "0", "-1", "nan", "inf"],
    "--utilisation": ["0.5", "1", "0", "1.5", "nan", "-0.2"],
    "--host-w": ["0", "150", "-1", "inf", "nan", "1e300"],
    "--price-kwh": ["0.15", "0", "-1", "inf", "nan"],
    "--currency": ["EUR", "$", "", "日本円", "eur1", "TOOLONGCURRENCY"],
    "--country": ["DEU", "usa", "USA/california", "XYZ", "", "日本"],
    "--carbon-intensity": ["56", "0", "-5", "inf", "nan"],
    "--latency-target": ["10", "0.001", "0", "-1", "inf", "nan", "1e300"],
}


def run(argv: list[str]) -> tuple[int, str, str]:
    """``energy-nb ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def check(argv: list[str]) -> None:
    """An answer (exit 0, something printed, nothing on stderr but notes) or one line with exit 2."""
    rc, out, err = run(argv)
    assert rc in (0, 2), (argv, rc, err)
    if rc == 0:
        assert out.strip(), argv
        return
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], (argv, err)
    assert "Traceback" not in err


def options(table: dict[str, list[str]]) -> st.SearchStrategy[list[str]]:
    """Every option set to one of its values (or left out), one of them sometimes to arbitrary text."""
    picks = {k: st.one_of(st.none(), st.sampled_from(v)) for k, v in table.items()}

    @st.composite
    def draw(d) -> list[str]:
        argv = []
        for k, s in picks.items():
            v = d(s)
            if v is not None:
                argv += [k, v]
        if d(st.booleans()):
            argv += [d(st.sampled_from(list(table))), d(st.text(max_size=12))]
        return argv
    return draw()


@settings(max_examples=120, **SETTINGS)
@given(options(CONFIG), st.booleans())
def test_predict_answers_or_says_what_was_wrong_in_one_line(argv, cfg):
    check(["predict", "--model", "sdxl", "--height", "512", "--width", "512", "--steps", "20", *argv]
          + (["--cfg"] if cfg else []))


@settings(max_examples=120, **SETTINGS)
@given(options({**PLAN, "--gpu": CONFIG["--gpu"], "--batch-size": CONFIG["--batch-size"]}))
def test_plan_answers_or_says_what_was_wrong_in_one_line(argv):
    check(["plan", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "30", "--images-per-day",
           "1000", *argv])


@settings(max_examples=25, **SETTINGS)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.sampled_from([b"", b"\x00\xff\xfe", b"model,gpu\nsdxl,A100\n",
                                  "model,gpu,height,width,steps,dtype,cfg,n_prompts,energy_j\nsdxl,日本,1,1,1,fp16,0,1,"
                                  "nan\n".encode()])))
def test_calibrate_reads_any_file_or_says_what_was_wrong(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("cal") / "rows.csv"
    path.write_bytes(content)
    rc, out, err = run(["calibrate", "--data", str(path), "--name", "propertytest"])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "error:" in err, (content, err)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 12), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=8), st.sampled_from([512, 1024, 1024.0, 30, "sdxl", "H100", "fp16", 0.95]))


@settings(max_examples=150, **SETTINGS)
@given(st.dictionaries(st.sampled_from(["height", "width", "steps", "dtype", "cfg", "gpu", "batch_size", "prompts",
                                        "num_gpus", "level", "model"]), VALUES, max_size=3))
def test_the_api_answers_or_raises_one_line(kwargs):
    args = dict(model="sdxl", height=512, width=512, steps=20)
    args.update(kwargs)
    try:
        p = energy_nb.predict(**args)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc), (args, exc)
        return
    assert math.isfinite(p.per_image_j) and p.per_image_j > 0, args


@settings(max_examples=80, **SETTINGS)
@given(st.dictionaries(st.sampled_from(["images_per_day", "pue", "days_per_year", "utilisation", "host_w",
                                        "price_per_kwh", "currency", "carbon_intensity", "country"]), VALUES,
                       max_size=3))
def test_the_planning_api_answers_or_raises_one_line(kwargs):
    args = dict(images_per_day=1000)
    args.update(kwargs)
    try:
        p = energy_nb.plan("sdxl", 1024, 1024, 30, **args)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc), (args, exc)
        return
    assert p.total["kwh_per_day"] >= p.total["net_kwh_per_day"] >= 0, args


@pytest.mark.parametrize("argv", [["plan", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "30",
                                   "--images-per-day", "1.7e308"]])
def test_huge_workloads_are_refused_not_overflowed(argv):
    rc, _, err = run(argv)
    assert rc == 2 and "images per day" in err


def test_each_refused_value_is_named_with_its_option():
    """One option at a time: a refusal names the option or the value it refuses."""
    for table, base in ((CONFIG, ["predict", "--model", "sdxl", "--height", "512", "--width", "512", "--steps", "20"]),
                        (PLAN, ["plan", "--model", "sdxl", "--height", "1024", "--width", "1024", "--steps", "30",
                                "--images-per-day", "1000"])):
        for opt, values in table.items():
            for v in values:
                rc, _, err = run([*base, opt, v])
                assert rc in (0, 2), (opt, v, err)
                if rc == 2 and v.strip():
                    line = err.strip()
                    assert v.strip() in line or opt in line or opt.lstrip("-").replace("-", " ") in line, (opt, v, line)
