"""``energy-nb predict``, ``plan`` and ``fit``: the commands that answer with a law.

Each parses its options into the public API's arguments (:mod:`energy_nb.api`) and prints the result:
strict JSON with ``--json`` (the result's ``to_dict()``), else its text (``str(result)``).
"""
from __future__ import annotations

import argparse

from ..core.units import CURRENCY
from .options import (
    at_least_one,
    configuration_parent,
    days,
    fraction,
    gpu_as,
    gpu_parent,
    json_parent,
    law_parent,
    nonnegative,
    positive_int,
    print_json,
    resolve_gpu,
    resolve_model,
    seconds,
    split_parent,
)


def cmd_predict(a: argparse.Namespace) -> int:
    from .. import api

    resolve_model(a)
    resolve_gpu(a)
    p = api.predict(a.model, a.height, a.width, a.steps, a.dtype, a.cfg, a.gpu, a.batch_size, a.prompts, law=a.law,
                    law_file=a.law_file, convention=a.convention, gpu_as=gpu_as(a), n_scaling=a.n_scaling,
                    level=a.level, num_gpus=a.num_gpus, ulysses=a.ulysses, ring=a.ring)
    print_json(p.to_dict()) if a.json else print(p)
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from .. import api

    resolve_model(a, required=False)
    resolve_gpu(a)
    p = api.plan(a.model, a.height, a.width, a.steps, a.dtype, a.cfg, a.gpu, a.batch_size,
                 images_per_day=a.images_per_day, mix=a.mix, pue=a.pue, country=a.country,
                 carbon_intensity=a.carbon_intensity, price_per_kwh=a.price_kwh, days_per_year=a.days_per_year,
                 utilisation=a.utilisation, host_w=a.host_w, currency=a.currency, compare=a.compare, law=a.law,
                 law_file=a.law_file,
                 convention=a.convention, gpu_as=gpu_as(a), level=a.level, num_gpus=a.num_gpus, ulysses=a.ulysses,
                 ring=a.ring, latency_target=a.latency_target, max_gpus=a.max_gpus)
    print_json(p.to_dict()) if a.json else print(p)
    return 0


def cmd_calibrate(a: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..laws import calibrated

    if a.list:
        t = calibrated.calibrations()
        if a.json:
            print_json(t.to_dict(orient="records"))
        elif t.empty:
            print(f"no calibrations in {calibrated.calibration_dir()}")
        else:
            print(t.to_string(index=False))
        return 0
    if a.remove:
        print(f"removed {calibrated.remove(a.remove)}")
        return 0
    if not a.data or not a.name:
        raise UserError("--data ROWS.csv and --name NAME are needed to calibrate (or --list, --remove NAME)")
    import pandas as pd

    from ..data.schema import read_energy_csv

    rows = pd.concat([read_energy_csv(p) for p in a.data], ignore_index=True)
    cal = calibrated.calibrate(rows, a.name, base=a.base)
    if a.json:
        from dataclasses import asdict

        print_json(asdict(cal))
    else:
        for r in cal.rows:
            print(f"  {r['configuration']}: measured {r['measured_j']:,.1f} J/image, {cal.base} law "
                  f"{r['base_predicted_j']:,.1f} J/image (x{r['ratio']:.3f})")
        print(f"{cal.describe()}; stored in {calibrated.calibration_dir()}: energy-nb predict ... --gpu {cal.name}")
    return 0


def cmd_fit(a: argparse.Namespace) -> int:
    from .. import api

    law = api.fit(a.law, a.data, a.models, a.gpus, a.convention, a.out, eq3=a.eq3)
    if a.json:
        print_json(dict(law=a.law, convention=law.convention, n_obs=law.n_obs, r2=law.r2, models=law.models,
                        gpus=law.gpus, parameters=law.table().reset_index().to_dict(orient="records"),
                        dropped=law.dropped, saved=a.out))
    else:
        print(law.summary())
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from ..compute.flops import CONVENTIONS
    from ..laws import LAW_NAMES
    from ..models.registry import MODEL_KEYS

    pr = sub.add_parser("predict", parents=[configuration_parent(True), split_parent(), gpu_parent(), law_parent(),
                                            json_parent()],
                        help="predicted energy of one configuration, with a 95%% prediction interval",
                        description="Energy of one configuration (net of idle power, and gross where the data have "
                                    "time), with its prediction interval and every reason it extrapolates.")
    pr.add_argument("--prompts", type=positive_int, default=1,
                    help="N prompts run one after another: total = N x per-image energy")
    pr.add_argument("--n-scaling", choices=("linear", "law"), default="linear",
                    help="linear (default): per-image energy = E(N_data)/N_data, total = N x that; law: the "
                         "paper's law evaluated at N = --prompts (alpha < 1 inflates small N; extrapolates)")
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("plan", parents=[configuration_parent(False), split_parent(), gpu_parent(), law_parent(),
                                         json_parent()],
                        help="energy, carbon and cost of a workload per image and per year, with intervals",
                        description="Plan a deployment: the GPUs a workload needs and the energy they draw (with "
                                    "the law's prediction interval, 95% unless --level), carbon and cost, per image, "
                                    "day and year. The headline is the fleet's: the work's energy net of idle power "
                                    "(the paper's footing, shown on its own line), + idle power while working (gross), "
                                    "+ idle power of the planned GPUs while waiting, + --host-w, times --pue.")
    g = pl.add_argument_group("the workload")
    g.add_argument("--images-per-day", required=True, type=nonnegative, help="e.g. 1e6")
    g.add_argument("--mix", help="YAML list of configurations with a share each (instead of one configuration)")
    g.add_argument("--utilisation", type=fraction, default=0.5,
                   help="busy fraction of each GPU, for the number of GPUs needed (default 0.5)")
    g.add_argument("--compare", action="store_true", help="rank cheaper alternatives with their savings (with "
                                                          "--latency-target: list every choice)")
    g.add_argument("--latency-target", type=seconds, metavar="SECONDS",
                   help="seconds a request may wait (its batch latency): plan the GPU count, Ulysses x Ring split and "
                        "batch size (1-16) that meet it at the least gross energy per image")
    g.add_argument("--max-gpus", type=positive_int, help="most GPUs per image --latency-target may use (default: "
                                                         "a node's, data/gpus.csv)")
    g = pl.add_argument_group("the facility and the grid")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--country", help="ISO 3166-1 alpha-3 code (FRA, USA, IND) or USA/<state>; "
                                         "default: CodeCarbon's world average")
    where.add_argument("--carbon-intensity", type=nonnegative, help="grid intensity in gCO2e/kWh")
    g.add_argument("--price-kwh", type=nonnegative, help="electricity price per kWh, in --currency")
    g.add_argument("--currency", default=CURRENCY,
                   help=f"what --price-kwh is in (default {CURRENCY}); costs are printed in it")
    g.add_argument("--pue", type=at_least_one, default=1.0, help="facility power usage effectiveness (>= 1)")
    g.add_argument("--host-w", type=nonnegative, default=0.0,
                   help="the host's power per GPU (CPU, memory, fans), W, drawn all day (default 0: not counted)")
    g.add_argument("--days-per-year", type=days, default=365.0, help="days the workload runs per year (default 365)")
    pl.set_defaults(func=cmd_plan)

    ca = sub.add_parser("calibrate", parents=[json_parent()],
                        help="calibrate a GPU without energy data from a few rows measured on it",
                        description="Fix a GPU's factor against a GPU with data from 1-3 rows measured on it (the "
                                    "record schema: energy_j of all n_prompts images, net of idle power); predict and "
                                    "plan --gpu NAME then answer with the base GPU's law times it. Calibrations live "
                                    "in "
                                    "your user data folder (ENERGY_NB_USER_DIR overrides it), each made against one "
                                    "version of the laws artifact.")
    ca.add_argument("--data", nargs="+", help="CSV files in the record schema: 1-3 measured rows")
    ca.add_argument("--name", help="the name predict and plan will know the GPU by (--gpu NAME)")
    ca.add_argument("--base", default="A100", help="the GPU with data whose predictions are scaled (default A100)")
    ca.add_argument("--list", action="store_true", help="list the stored calibrations")
    ca.add_argument("--remove", metavar="NAME", help="delete the calibration NAME")
    ca.set_defaults(func=cmd_calibrate)

    fi = sub.add_parser("fit", parents=[json_parent()],
                        help="fit a law on energy CSVs (default: the records the shipped laws are fitted on)",
                        description="Fit a registry law on energy records and print it (or save it with --out, for "
                                    "predict --law-file). The paper's law is fitted per image with its GPU and batch "
                                    "terms, as predict answers (--eq3: Eq. 3 as printed); on the shipped data and one "
                                    "model it is the law the laws artifact holds for that model.")
    fi.add_argument("--data", nargs="+", help="CSV files in the record schema (default: the shipped records)")
    fi.add_argument("--models", nargs="+", help=f"of {', '.join(MODEL_KEYS)} (or their Hugging Face ids)")
    fi.add_argument("--gpus", nargs="+", help="keep the rows of these GPU families only (e.g. A100)")
    fi.add_argument("--convention", choices=CONVENTIONS, help="FLOPs convention (default: the paper's formulas for the "
                    "paper's law on the paper's models, counted FLOPs otherwise)")
    fi.add_argument("--law", choices=LAW_NAMES, default="paper", help="which registry law (default paper)")
    fi.add_argument("--eq3", action="store_true", help="the paper's law as Eq. 3 prints it (energy of N prompts "
                                                        "against N x FLOPs), not per image")
    fi.add_argument("--out", help="save the fitted law as JSON (read back with --law-file)")
    fi.set_defaults(func=cmd_fit)
