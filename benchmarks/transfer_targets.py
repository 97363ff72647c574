"""The figures of the issue "Unseen architectures and GPUs", for laws before and after, on the same folds.

    .venv/bin/python benchmarks/transfer_targets.py [--before roofline_tc_kernels achieved] [--after ops]

Prints, from the shipped data (``energy_nb.data.shipped.law_data``) and the laws artifact: leave one model out and
leave one GPU out, the net, gross and time errors of each law (worst fold and mean); the batch effect of a model
never seen (energy and time ratios); one-point calibration A100 <-> H100 with one flat energy ratio and with busy
time and power; the held-out coverage of the intervals for a model never seen (by row and by model); and
Kandinsky 3 in-sample. Every number is computed here, by the package's functions (``energy_nb.evaluation``).
"""
from __future__ import annotations

import argparse

import pandas as pd

from energy_nb.data.shipped import law_data
from energy_nb.evaluation import calibration, held_out, intervals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", nargs="+", default=["roofline_tc_kernels", "achieved"],
                    help="the laws that answered before")
    ap.add_argument("--after", nargs="+", default=["ops"], help="the laws that answer now")
    a = ap.parse_args()
    pd.set_option("display.width", 200)
    pool = law_data()
    names = [*a.before, *a.after]
    for by in ("model", "gpu"):
        t = held_out.time_gross_errors(pool, names, by=by)
        cols = ["mape_pct", "same_method_mape_pct", "gross_mape_pct", "time_mape_pct"]
        agg = t.groupby("law")[cols].agg(["max", "mean"])
        print(f"\nleave one {by} out: worst and mean fold, % (net all rows, net ML.ENERGY rows, gross, time)")
        print(agg.loc[names].round(1).to_string())
        print(t.pivot_table(index="held_out", columns="law", values=["gross_mape_pct", "time_mape_pct"])
              .round(1).to_string())
    b = held_out.batch_effect(pool, names)
    b = b.assign(e=b["error_pct"].abs(), t=b["time_error_pct"].abs())
    print("\nbatch effect, leave one model out: |error| of the batch-b / batch-1 ratio, % (mean, worst)")
    print(b.groupby("law")[["e", "t"]].agg(["mean", "max"]).round(1).to_string())
    print("\none-point calibration by an ML.ENERGY row, median [min-max] of the other ML.ENERGY rows' mean net error, "
          "%; and of every other row")
    for use_time, how in ((False, "one flat energy ratio"), (True, "busy time and power")):
        for base, target in (("A100", "H100"), ("H100", "A100")):
            o = calibration.one_point(pool, base, target, use_time=use_time)
            s = o.loc[o["calibration_dataset"] == calibration.SAME_METHOD, "same_method_mape_pct"]
            print(f"  {how:22s} {base}->{target}: {s.median():.1f} [{s.min():.1f}-{s.max():.1f}], within 5%: "
                  f"{100 * float((s <= 5).mean()):.0f}% of {len(s)} choices; every row {o['mape_pct'].median():.1f}")
    print("\ncoverage of the 95% intervals for a model / GPU never seen (artifact)")
    print(intervals.coverage_summary().round(1).to_string())
    k = held_out.in_sample(pool, "kandinsky3")
    print("\nkandinsky3 in-sample, timed rows")
    print(k.round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
