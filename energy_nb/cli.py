"""Command line: ``energy-nb {run,book,flops,fit,predict,plan,sweep,import,features,models,gpus,provenance}``
(also ``python -m energy_nb``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .architectures import MODEL_KEYS
from .flops import CONVENTIONS


def _json(obj) -> str:
    """Strict JSON for jq and browsers: NaN and infinities are written as null."""
    from .lawbase import to_json

    return to_json(obj)


# ---------------------------------------------------------------------------------------------------
def cmd_run(a: argparse.Namespace) -> int:
    from .notebooks import run, smoke_parameters

    params = smoke_parameters(a.notebook) if a.smoke else {}
    for name, value in a.p or []:
        params[name] = yaml.safe_load(value)
    out = a.output or str(Path("_build") / "runs" / (Path(a.notebook).stem + ".ipynb"))
    run(a.notebook, params, out, progress=not a.quiet)
    print(f"executed {a.notebook} with {params or 'its defaults'} -> {out}")
    return 0


def cmd_book(a: argparse.Namespace) -> int:
    from .book import build

    return build(strict=not a.no_strict)


def _model(a: argparse.Namespace, required: bool = True) -> str | None:
    """--model (a registry key or a Hugging Face id) or --model-config DIR, as a registry key."""
    from .architectures import from_directory, register, resolve

    if getattr(a, "model_config", None):
        if a.model:
            raise ValueError("give --model or --model-config, not both")
        a.model = register(from_directory(a.model_config))
    elif a.model:
        a.model = resolve(a.model)
    elif required:
        raise ValueError("--model or --model-config DIR is required")
    return a.model


def cmd_models(a: argparse.Namespace) -> int:
    from .architectures import REGISTRY

    rows = [dict(key=k, name=s.name, pipeline=s.pipeline, paper=s.paper, hf_ids=list(s.hf_ids),
                 denoiser=s.component("denoiser").cls, multiple=s.multiple, defaults=s.defaults, origin=s.origin)
            for k, s in REGISTRY.items()]
    if a.json:
        print(_json(rows))
    else:
        for r in rows:
            d = r["defaults"]
            print(f"{r['key']:<13} {r['name']:<48} {r['pipeline']:<26} default {d.get('height')}x{d.get('width')}, "
                  f"{d.get('steps')} steps, guidance {d.get('guidance')}")
            print(f"{'':<13} answers to: {', '.join(r['hf_ids'])}")
    return 0


def cmd_gpus(a: argparse.Namespace) -> int:
    from .hardware import table

    t = table()
    if a.json:
        print(_json(t.to_dict(orient="records")))
    else:
        cols = ["gpu_part", "family", "peak_fp16_tflops", "peak_tf32_tflops", "peak_fp32_tflops", "bandwidth_gb_s",
                "power_limit_w", "idle_w"]
        print(t[cols].to_string(index=False, na_rep="-"))
        print("TFLOP/s dense; GB/s; W. A family name answers with its first part. Sources: data/gpus.csv.")
    return 0


def cmd_flops(a: argparse.Namespace) -> int:
    from .flops import model_flops, native_convention

    _model(a)
    if a.convention is None:  # the printed formulas where the paper has them, counted FLOPs elsewhere
        a.convention = native_convention(a.model)
    b = model_flops(a.model, a.height, a.width, a.convention)
    out = dict(model=a.model, height=a.height, width=a.width, steps=a.steps, cfg=a.cfg, convention=a.convention,
               text=b.text, denoise_per_step=b.denoise_per_step, decode=b.decode, total=b.total(a.steps, a.cfg),
               units="FLOPs (multiply-add = 2); total = Eq. 1 for one prompt, CFG doubles denoising")
    if a.json:
        print(_json(out))
    else:
        for k in ("text", "denoise_per_step", "decode", "total"):
            print(f"{k:>17}: {out[k] / 1e9:14,.1f} GFLOPs")
    return 0


def _load_data(paths_: list[str] | None):
    from .data import shipped_data
    from .schema import ok_rows, read_many

    return ok_rows(read_many(paths_)) if paths_ else shipped_data()


def _convention(a: argparse.Namespace) -> str:
    """--convention, defaulting to the paper's for its law and to counted FLOPs for the physical laws."""
    from .flops import native_convention
    from .laws import default_convention

    if a.convention:
        return a.convention
    conv = default_convention(getattr(a, "law", "paper"))
    model = getattr(a, "model", None)
    return native_convention(model) if conv == "paper" and model else conv


def _law(a: argparse.Namespace, model: str | None, gpu_as: dict[str, str] | None = None):
    """The law that answers and why: --law-file, else the registry's --law fitted on the shipped data
    (cached; ``auto``: see :func:`energy_nb.laws.answer`)."""
    from . import laws

    if a.law_file:
        return laws.load(a.law_file), f"the law saved in {a.law_file}"
    return laws.answer(a.law, model, getattr(a, "gpu", None), a.convention, gpu_as)


def _gpu_spec(a: argparse.Namespace) -> None:
    """--gpu-spec: register the described GPU for this process and predict on it."""
    if getattr(a, "gpu_spec", None):
        from .hardware import parse_spec, register

        spec = register(parse_spec(a.gpu_spec))
        if a.gpu not in (None, spec.name):
            raise ValueError(f"--gpu {a.gpu} and --gpu-spec name={spec.name} disagree: give one GPU")
        a.gpu = spec.name
    elif getattr(a, "gpu", None) is None:
        a.gpu = "A100"


def cmd_fit(a: argparse.Namespace) -> int:
    from . import laws

    a.convention = _convention(a)
    df = _load_data(a.data)
    if a.models:
        from .architectures import resolve

        a.models = [resolve(m) for m in a.models]
        df = df[df["model"].isin(a.models)]
    if a.gpus:
        df = df[df["gpu"].isin(a.gpus)]
    if df.empty:
        raise ValueError("no ok rows left after --models / --gpus filters")
    law = laws.fit(a.law, df, convention=a.convention,
                   provenance=dict(data_files=a.data or "shipped data", models=a.models, gpus=a.gpus))
    if a.out:
        law.save(a.out)
    table = law.table()
    if a.json:
        print(_json(dict(law=a.law, convention=a.convention, n_obs=law.n_obs, r2=law.r2, models=law.models,
                         gpus=law.gpus, parameters=table.reset_index().to_dict(orient="records"),
                         dropped=law.dropped, saved=a.out)))
    else:
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        print(f"R^2 (log) = {law.r2:.4f} on {law.n_obs} rows; models {law.models}; GPUs {law.gpus}")
    return 0


def _print_extrapolation(flags: list[str]) -> None:
    if flags:
        print("  EXTRAPOLATING, outside the law's data:")
        for f in flags:
            print(f"    - {f}")


def cmd_predict(a: argparse.Namespace) -> int:
    _model(a)
    _gpu_spec(a)
    gpu_as = {a.gpu: a.treat_gpu_as} if a.treat_gpu_as else None
    law, why = _law(a, a.model, gpu_as)
    if a.convention is None:
        a.convention = law.convention
    from .timing import time_and_gross

    res = law.predict_one(a.model, a.height, a.width, a.steps, a.dtype, a.cfg, a.gpu, a.prompts, gpu_as=gpu_as,
                          n_scaling=a.n_scaling, batch_size=a.batch_size)
    res.update(time_and_gross(a.model, a.height, a.width, a.steps, a.dtype, a.cfg, a.gpu, a.batch_size,
                              res["per_image_j"]))
    res["energy_scope"] = "per_image_j: net of idle power (the paper's footing); per_image_gross_j: + idle power x time"
    res["law_reason"] = why
    if a.json:
        print(_json(res))
        return 0
    pct = int(round(100 * res["interval"]))
    print(f"{a.model} {a.height}x{a.width}, {a.steps} steps, {a.dtype}, CFG {'on' if a.cfg else 'off'}, "
          f"{res['gpu']}, batch {a.batch_size}")
    print(f"  law       : {res['law']} ({why})")
    how = (f"E({res['reference_prompts']}) / {res['reference_prompts']}, the N of the law's data"
           if a.n_scaling == "linear" else f"E({a.prompts}) / {a.prompts}, the law extrapolated in N")
    print(f"  per image : {res['per_image_j']:,.1f} J = {res['per_image_wh']:.4f} Wh "
          f"({pct}% PI {res['per_image_wh_low']:.4f}-{res['per_image_wh_high']:.4f} Wh)  [{how}]")
    print(f"  {a.prompts} prompt(s): {res['total_j']:,.0f} J = {res['total_wh']:,.3f} Wh "
          f"({pct}% PI {res['total_wh_low']:,.3f}-{res['total_wh_high']:,.3f} Wh)")
    if res["per_image_s"] is not None:
        print(f"  time      : {res['per_image_s']:.3f} s per image ({pct}% PI {res['per_image_s_low']:.3f}-"
              f"{res['per_image_s_high']:.3f}); gross of idle: {res['per_image_gross_j']:,.1f} J per image "
              f"(+ {res['idle_w']:g} W idle x time)" if res["per_image_gross_j"] is not None else "")
    _print_extrapolation(res["extrapolation"] + res["time_extrapolation"] * (res["per_image_s"] is not None))
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from . import planner

    if a.images_per_day is None or a.images_per_day < 0 or a.images_per_day != a.images_per_day:
        raise ValueError(f"--images-per-day {a.images_per_day!r} is not allowed: a number >= 0")
    _model(a, required=False)
    _gpu_spec(a)
    law = None
    if a.law_file:
        from . import laws

        law = laws.load(a.law_file)
    opts = planner.Options(pue=a.pue, region=a.country, carbon_intensity=a.carbon_intensity,
                           price_per_kwh=a.price_kwh, days_per_year=a.days_per_year, convention=a.convention,
                           utilisation=a.utilisation,
                           law=law, law_name=a.law,
                           gpu_as={a.gpu: a.treat_gpu_as} if a.treat_gpu_as else {}).check()
    opts.grid()  # an unknown country fails here, before any fitting
    if a.mix:
        workload = planner.load_mix(a.mix, a.images_per_day, defaults=dict(gpu=a.gpu))
    else:
        missing = [f"--{k}" for k in ("model", "height", "width", "steps") if getattr(a, k) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} required (or --mix FILE.yml)")
        base = planner.Config(a.model, a.height, a.width, a.steps, a.dtype, a.cfg, a.gpu, a.batch_size).check()
        workload = planner.Workload.single(base, a.images_per_day)
    df = planner.plan(workload, opts)
    cmp = None
    if a.compare:
        if len(workload.mix) != 1:
            raise ValueError("--compare needs one configuration, not a --mix")
        cmp = planner.compare(workload.mix[0][0], a.images_per_day, opts)
    if a.json:
        g = df.attrs["grid"]
        out = dict(workload=df.to_dict(orient="records"), grid=dict(region=g.region, name=g.name,
                   g_per_kwh=g.g_per_kwh, year=g.year, source=g.source), pue=opts.pue, price_per_kwh=opts.price_per_kwh,
                   days_per_year=opts.days_per_year, interval=df.attrs["interval"], scope=planner.SCOPE,
                   extrapolation=df.iloc[-1]["extrapolation"], utilisation=opts.utilisation,
                   units=dict(wh_per_image="Wh", kwh_per_day="kWh", mwh_per_year="MWh", g_co2e_per_image="gCO2e",
                              t_co2e_per_year="tCO2e", cost_per_year="currency of --price-kwh"))
        if cmp is not None:
            out["compare"] = cmp.to_dict(orient="records")
        print(_json(out))
        return 0
    print(planner.format_plan(df))
    if cmp is not None:
        print()
        print(planner.format_compare(cmp))
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from . import mlenergy

    df = mlenergy.read(a.path)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
    summary = mlenergy.summary(df).reset_index()
    if a.json:
        print(_json(dict(rows=len(df), out=a.out,
                         summary=summary.to_dict(orient="records"))))
    else:
        print(summary.to_string(index=False))
        print(f"{len(df)} rows (energy_scope gross: GPU energy without idle subtraction)"
              + (f" written to {a.out}" if a.out else ""))
    return 0


def cmd_features(a: argparse.Namespace) -> int:
    from . import features, paths
    from .architectures import resolve

    if a.regenerate:
        path = features.write_table(progress=not a.no_progress)
        print(f"wrote {path.relative_to(paths.ROOT)} ({sum(1 for _ in path.open()) - 1} rows)")
        return 0
    stale = features.stale_rows()
    if stale:
        raise ValueError(f"{len(stale)} rows of {paths.FEATURES_CSV.name} were counted with another registry, "
                         f"counting code or library versions (e.g. {stale[0]}): run `energy-nb features --regenerate`")
    rows = [dict(model=f.model, size=f.size, role=f.role, height=f.height, width=f.width, gflops=f.flops / 1e9,
                 kernels=f.kernels, params_m=f.params / 1e6)
            for f in features.table(tuple(resolve(m) for m in a.models) if a.models else None)]
    if a.json:
        print(_json(rows))
    else:
        import pandas as pd

        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    return 0


def _nonnegative(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"{s!r} is not allowed: a number >= 0")
    return v


def grid_from_args(a: argparse.Namespace):
    """A :class:`~energy_nb.sweep.Grid` from ``--grid`` (YAML file or ``paper``) overridden by CLI flags."""
    from .sweep import PAPER_GRID, Grid

    flags = dict(models=a.models, steps=a.steps, resolutions=a.resolutions, dtypes=a.dtypes, cfg=a.cfg,
                 prompts=a.prompts, size=a.size, device=a.device, weights=a.weights, seed=a.seed,
                 pretrained=a.pretrained)
    if a.grid == "paper":
        return Grid.from_dict({**PAPER_GRID, **{k: v for k, v in flags.items() if v is not None}}, "--grid paper")
    if a.grid:
        return Grid.from_yaml(a.grid, **flags)
    return Grid.from_dict({k: v for k, v in flags.items() if v is not None}, "command line")


def _gpu_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise ValueError(f"--gpus {text!r} is not allowed: GPU indices separated by commas, e.g. 0,1,2,3") from None


def cmd_sweep_executor(a: argparse.Namespace, grid) -> int:
    """``energy-nb sweep --executor local|slurm``: shards as worker processes or Slurm jobs (submitit)."""
    from . import shards
    from .executors import launch, parse_key_values
    from .sweep import slurm_settings

    if a.shard:
        raise ValueError("--shard is for one process; with --executor the shards are the workers (--workers N)")
    if a.executor == "local" and (a.slurm or a.partition or a.account or a.gpus_per_job is not None):
        raise ValueError("--slurm, --partition, --account and --gpus-per-job need --executor slurm "
                         "(--executor local takes --workers, --gpus and --time)")
    slurm = {**slurm_settings(a.grid), **parse_key_values(a.slurm)} if a.executor == "slurm" else {}
    for key, value in (("partition", a.partition), ("time", a.time), ("account", a.account),
                       ("gpus", a.gpus_per_job)):
        if value is not None:
            slurm[key] = value
    options = dict(idle_seconds=a.idle_seconds, warmup=a.warmup, country=a.country, min_window_s=a.min_window)
    try:
        res = launch(grid, a.out, a.executor, workers=a.workers, gpus=_gpu_list(a.gpus), meters=a.meters,
                     options=options, slurm=slurm, retry_errors=a.retry_errors, wait=True if a.wait else None,
                     gpu_label=a.gpu_label, progress=not a.no_progress)
    except KeyboardInterrupt:
        print(f"energy-nb sweep: interrupted; the workers were stopped and every row already in {a.out}/shards is "
              "complete. Rerun the same command to resume.", file=sys.stderr)
        return 130
    if res.nothing_to_do:
        print(f"{a.out}: nothing to do: every configuration of the grid has rows in {a.out}/shards "
              f"(merge them: energy-nb sweep merge {a.out})")
        return 0
    jobs = ", ".join(f"shard {i}/{res.k} -> job {j}" for i, j in res.submitted.items())
    if not res.waited:
        print(f"submitted {len(res.submitted)} job(s) to Slurm: {jobs}; logs in {a.out}/logs.\n"
              f"watch:  energy-nb sweep status {a.out}\nmerge:  energy-nb sweep merge {a.out}")
        return 0
    print(shards.status_text(a.out))
    if res.unfinished:
        print(f"energy-nb sweep: {len(res.unfinished)} shard(s) did not finish: " + "; ".join(res.unfinished)
              + f". Finished rows are kept; rerun the same command to resume (logs in {a.out}/logs).",
              file=sys.stderr)
        return 1
    print(f"all {len(res.submitted)} shard(s) finished; merge them: energy-nb sweep merge {a.out}")
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from .sweep import run_sweep

    grid = grid_from_args(a)
    if a.executor and not a.dry_run:
        return cmd_sweep_executor(a, grid)
    if a.executor:
        from .sweep import shard

        k = len(_gpu_list(a.gpus) or []) or a.workers or 1
        for i in range(1, k + 1):
            configs = shard(grid.configs(), i, k)
            print(f"shard {i}/{k}: {len(configs)} configurations")
            for c in configs:
                print(f"  {c.model} {c.height}x{c.width} T={c.steps} {c.dtype} cfg={c.cfg} N={c.n_prompts}")
        return 0
    if a.workers or a.gpus or a.slurm or a.partition or a.time or a.account or a.gpus_per_job is not None or a.wait:
        raise ValueError("--workers, --gpus, --wait and the Slurm settings need --executor local or --executor slurm")
    if a.dry_run:
        from .sweep import parse_shard, shard

        configs = shard(grid.configs(), *parse_shard(a.shard))
        print(f"{len(configs)} configurations in shard {a.shard or '1/1'}:")
        for c in configs:
            print(f"  {c.model} {c.height}x{c.width} T={c.steps} {c.dtype} cfg={c.cfg} N={c.n_prompts}")
        return 0
    try:
        res = run_sweep(grid, a.out, meters=a.meters, shard_spec=a.shard, idle_seconds=a.idle_seconds,
                        warmup=a.warmup, country=a.country, retry_errors=a.retry_errors, progress=not a.no_progress,
                        gpu_label_override=a.gpu_label, min_window_s=a.min_window)
    except KeyboardInterrupt:
        print(f"energy-nb sweep: interrupted; every row already in {a.out} is complete. "
              "Rerun the same command to resume.", file=sys.stderr)
        return 130
    st = ", ".join(f"{v} {k}" for k, v in sorted(res.statuses.items())) or "none"
    print(f"{res.out}: {res.measured} configurations measured now (rows: {st}), {res.skipped} already there, "
          f"{res.planned} in this shard; {res.seconds:.1f} s")
    return 0


def cmd_provenance(a: argparse.Namespace) -> int:
    from .provenance import table

    print(table().to_string(index=False))
    return 0


# ---------------------------------------------------------------------------------------------------
def _positive_int(s: str) -> int:
    v = int(float(s))
    if v < 1 or float(s) != v:
        raise argparse.ArgumentTypeError(f"{s!r} is not allowed: an integer >= 1")
    return v


def _model_args(p: argparse.ArgumentParser) -> None:
    """--model KEY_OR_HF_ID and --model-config DIR (read by :func:`_model`)."""
    p.add_argument("--model", help="a registry key (energy-nb models) or a Hugging Face id it answers to, "
                                    "e.g. sdxl or PixArt-alpha/PixArt-Sigma-XL-2-1024-MS")
    p.add_argument("--model-config", metavar="DIR",
                   help="a local folder in the Hugging Face layout (model_index.json, <component>/config.json; "
                        "no weights)")


def build_parser() -> argparse.ArgumentParser:
    from .laws import AUTO, LAW_NAMES

    p = argparse.ArgumentParser(prog="energy-nb", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute a notebook with papermill and parameters")
    r.add_argument("notebook", help="path or name, e.g. notebooks/flops.md or flops")
    r.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="parameter (VALUE parsed as YAML: 3, true, [sd2, flux])")
    r.add_argument("-o", "--output", help="executed .ipynb (default _build/runs/NAME.ipynb)")
    r.add_argument("--smoke", action="store_true", help="start from the notebook's fast parameter set")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("book", help="execute notebooks (cached) and build _build/html")
    b.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    b.set_defaults(func=cmd_book)

    f = sub.add_parser("flops", help="analytic or counted FLOPs of one prompt")
    _model_args(f)
    f.add_argument("--height", required=True, type=int)
    f.add_argument("--width", required=True, type=int)
    f.add_argument("--steps", type=_positive_int, default=1)
    f.add_argument("--cfg", action="store_true")
    f.add_argument("--convention", choices=CONVENTIONS,
                   help="default: paper for the paper's four models (printed formulas), counted for the others")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_flops)

    fi = sub.add_parser("fit", help="fit a scaling law on energy CSVs (default: the shipped data)")
    fi.add_argument("--data", nargs="+", help="CSV files in the shared schema")
    fi.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)} (or their Hugging Face ids)")
    fi.add_argument("--gpus", nargs="+")
    fi.add_argument("--convention", choices=CONVENTIONS, help="FLOPs convention (default: paper for the paper's "
                    "law, counted for the others)")
    fi.add_argument("--law", choices=LAW_NAMES, default="paper")
    fi.add_argument("--out", help="save the fitted law as JSON")
    fi.add_argument("--json", action="store_true")
    fi.set_defaults(func=cmd_fit)

    pr = sub.add_parser("predict", help="predicted energy of one configuration, with a 95%% prediction interval")
    _model_args(pr)
    pr.add_argument("--height", required=True, type=int)
    pr.add_argument("--width", required=True, type=int)
    pr.add_argument("--steps", required=True, type=_positive_int)
    pr.add_argument("--dtype", default="fp16")
    pr.add_argument("--cfg", action="store_true")
    pr.add_argument("--gpu", help="a GPU family or part of data/gpus.csv (default A100; `energy-nb gpus` lists them)")
    pr.add_argument("--gpu-spec", help="describe a GPU by its datasheet: name=X,tflops_bf16=...,bandwidth_tbs=...,"
                                       "power_w=... (optional tflops_tf32, tflops_fp32, idle_w)")
    pr.add_argument("--prompts", type=_positive_int, default=1,
                    help="N prompts run one after another: total = N x per-image energy")
    pr.add_argument("--batch-size", type=_positive_int, default=1, help="images per pipeline call (default 1)")
    pr.add_argument("--n-scaling", choices=("linear", "law"), default="linear",
                    help="linear (default): per-image energy = E(N_data)/N_data, total = N x that; law: the "
                         "paper's law evaluated at N = --prompts (alpha < 1 inflates small N; extrapolates)")
    pr.add_argument("--law", choices=(AUTO, *LAW_NAMES), default=AUTO,
                    help="which law to fit on the shipped data (auto, the default: the paper's law on the model's "
                         "own rows where they exist and hold the GPU, else the shared law chosen by "
                         "leave-one-model-out, else a datasheet-priced law for a GPU without data)")
    pr.add_argument("--law-file", help="a law saved with `energy-nb fit --out` (overrides --law)")
    pr.add_argument("--convention", choices=CONVENTIONS, help="default: paper for the paper's law, else counted")
    pr.add_argument("--treat-gpu-as", help="predict an unseen GPU as this one (e.g. A100)")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("plan", help="energy, carbon and cost of a workload per image and per year, with intervals",
                        description="Plan a deployment: energy (with the law's 95%% interval), carbon and cost of "
                                    "a workload. Scope: GPU energy net of idle power, times --pue.")
    _model_args(pl)
    pl.add_argument("--height", type=int)
    pl.add_argument("--width", type=int)
    pl.add_argument("--steps", type=_positive_int)
    pl.add_argument("--dtype", default="fp16")
    pl.add_argument("--cfg", action="store_true")
    pl.add_argument("--gpu", help="a GPU family or part of data/gpus.csv (default A100; `energy-nb gpus` lists them)")
    pl.add_argument("--gpu-spec", help="describe a GPU by its datasheet: name=X,tflops_bf16=...,bandwidth_tbs=...,"
                                       "power_w=... (optional tflops_tf32, tflops_fp32, idle_w)")
    pl.add_argument("--batch-size", type=_positive_int, default=1, help="images per pipeline call (default 1)")
    pl.add_argument("--utilisation", type=float, default=0.5,
                    help="busy fraction of each GPU, for the number of GPUs needed (default 0.5)")
    pl.add_argument("--mix", help="YAML list of configurations with a share each (instead of one configuration)")
    pl.add_argument("--images-per-day", required=True, type=_nonnegative, help="e.g. 1e6")
    grid_group = pl.add_mutually_exclusive_group()
    grid_group.add_argument("--country", help="ISO 3166-1 alpha-3 code (FRA, USA, IND) or USA/<state>; "
                                              "default: CodeCarbon's world average")
    grid_group.add_argument("--carbon-intensity", type=_nonnegative, help="grid intensity in gCO2e/kWh")
    pl.add_argument("--price-kwh", type=_nonnegative, help="electricity price per kWh (any currency)")
    pl.add_argument("--pue", type=float, default=1.0, help="facility power usage effectiveness (>= 1)")
    pl.add_argument("--days-per-year", type=float, default=365.0)
    pl.add_argument("--compare", action="store_true", help="rank cheaper alternatives with their savings")
    pl.add_argument("--law", choices=(AUTO, *LAW_NAMES), default=AUTO, help="as for predict (default auto)")
    pl.add_argument("--law-file", help="a law saved with `energy-nb fit --out`")
    pl.add_argument("--convention", choices=CONVENTIONS, help="default: paper for the paper's law, else counted")
    pl.add_argument("--treat-gpu-as", help="predict an unseen GPU as this one (e.g. A100)")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plan)

    sw = sub.add_parser("sweep", help="measure energy over a grid into an append-only, resumable CSV",
                        description="Measure energy over a grid (Sec. 4.5 or any subset). Flags override --grid. "
                                    "Rerunning the same command resumes; rows are never rewritten. Sharded sweeps "
                                    "(--executor): `energy-nb sweep status OUT` shows each shard, "
                                    "`energy-nb sweep merge OUT` merges them into OUT/merged.csv.")
    sw.add_argument("--out", required=True, help="CSV to append to, e.g. data/measurements/cpu-smoke.csv")
    sw.add_argument("--grid", help="a YAML file with the keys below, or 'paper' for Sec. 4.5's grid")
    sw.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)}")
    sw.add_argument("--steps", nargs="+", help="denoising steps, e.g. 10 20 30")
    sw.add_argument("--resolutions", nargs="+", help="square sizes (512) or HEIGHTxWIDTH (512x768)")
    sw.add_argument("--dtypes", nargs="+", help="fp16, fp32, bf16")
    sw.add_argument("--cfg", nargs="+", help="on, off or both")
    sw.add_argument("--prompts", nargs="+", help="prompts per measurement (N), e.g. 25 50 100")
    sw.add_argument("--size", help="tiny (default) or full")
    sw.add_argument("--device", help="cpu (default), cuda, cuda:N")
    sw.add_argument("--weights", help="random (default) or pretrained")
    sw.add_argument("--pretrained", help="local path of a checkpoint (with --weights pretrained)")
    sw.add_argument("--seed", type=int)
    sw.add_argument("--meters", nargs="+", help="codecarbon, zeus and/or nvml (default: codecarbon + zeus on a GPU, nvml where Zeus is missing; codecarbon on CPU)")
    sw.add_argument("--country", default="USA", help="ISO 3166-1 alpha-3 code for CodeCarbon (default USA)")
    sw.add_argument("--idle-seconds", type=float, default=5.0, help="idle-power window before the sweep (s)")
    sw.add_argument("--warmup", type=int, default=1, help="uncounted generations before each measurement")
    sw.add_argument("--min-window", type=float, default=1.0,
                    help="repeat the N prompts until a window lasts this long (s); rows hold per-run averages")
    sw.add_argument("--shard", help="i/k: measure every k-th configuration starting at the i-th (1-based)")
    sw.add_argument("--retry-errors", action="store_true", help="re-measure configurations whose rows are errors")
    sw.add_argument("--gpu-label", help="value of the gpu column (default: from the device name, e.g. H100)")
    sw.add_argument("--dry-run", action="store_true", help="list the configurations and stop")
    sw.add_argument("--no-progress", action="store_true")
    ex = sw.add_argument_group("executors (submitit): --out is then a folder, one append-only CSV per shard")
    ex.add_argument("--executor", choices=["local", "slurm"],
                    help="local: worker processes on this node; slurm: one Slurm job per shard "
                         "(default: this process only)")
    ex.add_argument("--workers", type=int, help="number of shards: local worker processes or Slurm jobs (default 1)")
    ex.add_argument("--gpus", help="local: one worker per GPU, e.g. 0,1,2,3 (CUDA_VISIBLE_DEVICES)")
    ex.add_argument("--partition", help="Slurm partition")
    ex.add_argument("--time", help="time limit per job: minutes or [D-]HH:MM:SS")
    ex.add_argument("--account", help="Slurm account")
    ex.add_argument("--gpus-per-job", type=int, help="GPUs per Slurm job (default 1 with --device cuda, 0 on CPU)")
    ex.add_argument("--slurm", nargs="+", action="extend", metavar="KEY=VALUE",
                    help="more Slurm settings, e.g. qos=high constraint=a100 mem_gb=64 (also a grid YAML's slurm:)")
    ex.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and show their progress")
    sw.set_defaults(func=cmd_sweep)

    im = sub.add_parser("import", help="convert published measurements to the shared schema",
                        description="Read ML.ENERGY leaderboard data (a v2 folder with models.json, or a v3 "
                                    "text-to-image.json) into rows of the shared schema (energy_scope gross).")
    im.add_argument("source", choices=["mlenergy"])
    im.add_argument("path", help="e.g. ../shared/external/mlenergy-leaderboard-v2")
    im.add_argument("--out", help="write the rows as CSV")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_import)

    fe = sub.add_parser("features", help="counted FLOPs, kernels and parameters of every component (shipped table)",
                        description="Show the architecture features the laws use, or recount them into "
                                    "data/features/counted.csv (--regenerate). Fails if the table is stale.")
    fe.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)} (or their Hugging Face ids)")
    fe.add_argument("--regenerate", action="store_true", help="recount everything and rewrite the shipped table")
    fe.add_argument("--json", action="store_true")
    fe.add_argument("--no-progress", action="store_true")
    fe.set_defaults(func=cmd_features)

    mo = sub.add_parser("models", help="the model registry (data/models): keys, Hugging Face ids, defaults")
    mo.add_argument("--json", action="store_true")
    mo.set_defaults(func=cmd_models)

    gp = sub.add_parser("gpus", help="the GPU datasheet table (data/gpus.csv): peaks, bandwidth, power")
    gp.add_argument("--json", action="store_true")
    gp.set_defaults(func=cmd_gpus)

    pv = sub.add_parser("provenance", help="every data file with source, rows and sha256")
    pv.set_defaults(func=cmd_provenance)
    return p


def sweep_tools_parser() -> argparse.ArgumentParser:
    """``energy-nb sweep status OUT`` and ``energy-nb sweep merge OUT``: a sharded sweep's folder."""
    p = argparse.ArgumentParser(prog="energy-nb sweep", description="Look at or merge a sharded sweep's folder.")
    sub = p.add_subparsers(dest="tool", required=True)
    st = sub.add_parser("status", help="per shard: rows ok / oom / error, running or finished, ETA",
                        description="Per shard of a sweep run with --executor: configurations done of planned, "
                                    "rows ok / oom / error, whether its worker runs (a dead one reads 'stopped'), "
                                    "and the time left at its pace.")
    st.add_argument("out", help="the sweep's folder (--out of `energy-nb sweep --executor ...`)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_sweep_status, command="sweep status")
    mg = sub.add_parser("merge", help="merge the shard files into one CSV (duplicates refused)",
                        description="Merge OUT/shards/*.csv into one CSV of the shared schema, one row per "
                                    "configuration and meter: a retried error row gives way to its retry; two "
                                    "measured rows of one configuration are refused. Idempotent, and safe while "
                                    "workers still write.")
    mg.add_argument("out", help="the sweep's folder")
    mg.add_argument("--into", help="the merged CSV (default OUT/merged.csv)")
    mg.set_defaults(func=cmd_sweep_merge, command="sweep merge")
    return p


def cmd_sweep_status(a: argparse.Namespace) -> int:
    from . import shards

    if a.json:
        st = shards.status(a.out)
        print(_json(dict(shards=st.to_dict(orient="records"), overall=shards.overall(a.out))))
    else:
        print(shards.status_text(a.out))
    return 0


def cmd_sweep_merge(a: argparse.Namespace) -> int:
    from . import shards

    res = shards.merge(a.out, a.into)
    extra = f"; {res.superseded} error row(s) gave way to a retry" if res.superseded else ""
    print(f"{res.path}: {res.rows} rows from {res.files} shard file(s){extra}"
          f"{'' if res.changed else ' (unchanged)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "sweep" and argv[1] in ("status", "merge"):
        parser = sweep_tools_parser()
        args = parser.parse_args(argv[1:])
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"energy-nb {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
