"""``energy-nb laws build|check|show|coverage``: the laws artifact every answer comes from.

``build`` fits every law on the shipped data, runs the selection and writes ``energy_nb/artifacts/laws.json``
(unchanged when nothing differs); ``check`` rebuilds it in memory and lists every difference from the file (exit 1
when there is one: the artifact is stale); ``show`` says what the file holds; ``coverage`` how its intervals held on
the groups left out, by level (computed at build: nothing is fitted when it is asked).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .options import json_parent, print_json


def _rerun_pinned(argv: list[str]) -> int | None:
    """Rerun ``energy-nb laws ARGV`` with the pinned numerics (:mod:`energy_nb.core.numerics`) when this process was
    started without them; None when it was (go on here)."""
    from ..core.numerics import missing

    if not missing():
        return None
    env = {**os.environ, **missing()}
    return subprocess.call([sys.executable, "-m", "energy_nb", "laws", *argv], env=env)


def cmd_build(a: argparse.Namespace) -> int:
    rc = _rerun_pinned(["build", *(["--out", a.out] if a.out else []), *(["--quiet"] if a.quiet else [])])
    if rc is not None:
        return rc
    from ..evaluation.build import write

    path, diff, content = write(a.out, progress=not a.quiet)
    what = "unchanged" if not diff else f"written ({len(diff)} difference(s) from the file before)"
    print(f"{path}: {what}; version {content['version']}, {len(content['laws'])} laws, built in "
          f"{content['seconds']:.1f} s")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    rc = _rerun_pinned(["check", "--max", str(a.max), *(["--quiet"] if a.quiet else [])])
    if rc is not None:
        return rc
    from ..evaluation.build import build, compare, read

    old = read()
    new = build(progress=not a.quiet)
    diff = compare(old, new) if old is not None else ["(no artifact: run energy-nb laws build)"]
    for d in diff[:a.max]:
        print(d)
    if diff:
        print(f"energy-nb laws check: the artifact differs from a rebuild in {len(diff)} place(s): run "
              "`energy-nb laws build` and commit energy_nb/artifacts/laws.json", file=sys.stderr)
        return 1
    print(f"the artifact is current (version {new['version']}; rebuilt in {new['seconds']:.1f} s)")
    return 0


def cmd_show(a: argparse.Namespace) -> int:
    from ..laws.artifact import current
    from ..laws.registry import table

    d = current().describe()
    if a.json:
        print_json(dict(d, table=table().to_dict(orient="records")))
        return 0
    print(f"{d['path']}\n  version {d['version']} (format {d['format']}), code {d['code_version']}\n"
          f"  data sha256 {d['data_sha256'][:16]}... over {len(d['data_files'])} files\n"
          f"  {d['laws']} fitted laws; own laws for {', '.join(d['own'])}\n"
          f"  shared law {d['shared']}; GPUs without data: {d['datasheet']} (each answers energy and time)\n"
          f"  libraries: {', '.join(f'{k} {v}' for k, v in d['libraries'].items())}\nthe laws (data/laws.csv):")
    for r in table().itertuples():
        print(f"  {r.law} ({r.kind}, {r.fitted}; time: {r.time}): {r.role}\n      models {r.models}")
    return 0


def cmd_coverage(a: argparse.Namespace) -> int:
    from ..laws.artifact import current
    from ..laws.levels import LEVELS

    t = current().coverage()
    if a.json:
        print_json(t.to_dict(orient="records"))
        return 0
    print("How the 95% intervals held on held-out groups, by level (each group predicted and its interval built "
          "without it):")
    print(f"  {'level':<7}{'quantity':<9}{'groups':>7}{'rows':>6}  {'rows inside (CP 95%)':<22}"
          f"{'groups inside (CP 95%)':<24}{'hi/lo':>6}{'mean err':>9}{'worst':>7}")
    for r in t.itertuples():
        rows = f"{r.rows_inside_pct:.0f}% ({r.rows_ci_low_pct:.0f}-{r.rows_ci_high_pct:.0f})"
        groups = f"{r.groups_inside_pct:.0f}% ({r.groups_ci_low_pct:.0f}-{r.groups_ci_high_pct:.0f})"
        print(f"  {r.level:<7}{r.quantity:<9}{r.groups:>7}{r.rows:>6}  {rows:<22}{groups:<24}{r.median_hi_lo:>6.2f}"
              f"{r.mean_error_pct:>8.1f}%{r.worst_error_pct:>6.0f}%" + ("  range" if r.is_range else ""))
    print("levels: " + "; ".join(f"{k}: {v[0]} ({v[1]})" for k, v in LEVELS.items()))
    print("range: fewer held-out groups than a 95% level needs; the interval rests on a hierarchical prior and is "
          "called a range in every answer that crosses the level")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    la = sub.add_parser("laws", help="the laws artifact every answer comes from: build, check, show, coverage",
                        description="The fitted laws predict and plan answer with are built once into "
                                    "energy_nb/artifacts/laws.json (shipped in the wheel): `build` writes it, `check` "
                                    "rebuilds it in memory and lists the differences, `show` says what it holds.")
    group = la.add_subparsers(dest="laws_command", required=True, metavar="{build,check,show,coverage}")
    b = group.add_parser("build", help="fit every law, run the selection, write the artifact",
                         description="Fit every law on the shipped data (data/), choose the law that answers for each "
                                     "model and GPU on held-out rows, compute the nested held-out errors the intervals "
                                     "use, and write the artifact (left untouched when nothing differs).")
    b.add_argument("--out", help="where to write it (default: energy_nb/artifacts/laws.json)")
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=cmd_build)
    c = group.add_parser("check", help="rebuild in memory and list every difference from the artifact (exit 1 if any)",
                         description="Rebuild the artifact in memory and compare it with the file: numbers within a "
                                     "relative 1e-6, everything else exactly. Exit status 1 when they differ.")
    c.add_argument("--max", type=int, default=40, help="differences printed at most (default 40)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.set_defaults(func=cmd_check)
    s = group.add_parser("show", parents=[json_parent()], help="what the artifact holds: version, data, laws",
                         description="The artifact's version, the sha256 of the data it was fitted on, the code and "
                                     "library versions, and which law answers for what.")
    s.set_defaults(func=cmd_show)
    v = group.add_parser("coverage", parents=[json_parent()], help="how the intervals held on held-out groups, by "
                         "level", description="Per level of the unknown (a model's rows, a model without data, a GPU "
                         "without data, the lab, a split over several GPUs) and quantity (net, gross, time): the share "
                         "of held-out rows and groups inside the 95% interval built without them, with Clopper-Pearson "
                         "intervals, the median width and the mean and worst error. Computed at `laws build`.")
    v.set_defaults(func=cmd_coverage)
