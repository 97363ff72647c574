"""The held-out figures of the law for several GPUs per image (issue "Several GPUs per image"), from the laws artifact:
per fold (leave one model out; leave the largest GPU count out) and per model, GPU count and split, the worst and mean
absolute error of gross energy and time per image over the batch sizes, against the 10% target; and the in-sample
errors of every shipped row on several GPUs as ``predict`` answers it.

    .venv/bin/python benchmarks/parallel_targets.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from energy_nb.evaluation.parallel import FOLDS, fold_summary  # noqa: E402
from energy_nb.laws.artifact import current  # noqa: E402

TARGET_PCT = 10.0


def baselines(entry: dict) -> None:
    """What one GPU's answer (the package before this law: --num-gpus did not exist) and an ideal split (one GPU's
    energy, its time over n) give on the same rows."""
    import numpy as np

    from energy_nb.evaluation.parallel import bases, rows
    from energy_nb.laws.parallel import ParallelLaw

    art = current()
    law = ParallelLaw(**entry["law"])
    d = rows()
    one = d.assign(num_gpus=1, ulysses_degree=1, ring_degree=1)
    out = []
    for m, g in one.groupby("model"):
        v = law.evaluate(bases(art, g)[str(m)], g)
        out.append(pd.DataFrame(dict(gross1=v["gross"], t1=v["time"]), index=g.index))
    b = pd.concat(out).sort_index()
    from energy_nb.models.hardware import idle_power_or_estimate

    idle = d["gpu"].astype(str).map(lambda g: idle_power_or_estimate(g)[0])
    gross = d["energy_j"] / d["n_prompts"] + d["num_gpus"] * idle * d["time_s"]  # back to the meter's reading
    for name, gp, tp in (("one GPU's answer", b.gross1, b.t1), ("ideal split (time / n)", b.gross1,
                                                                  b.t1 / d["num_gpus"])):
        ge, te = 100 * np.abs(gp / gross - 1), 100 * np.abs(tp / d["time_s"] - 1)
        print(f"baseline, {name}: gross worst {ge.max():.1f}% mean {ge.mean():.1f}%; time worst {te.max():.1f}% "
              f"mean {te.mean():.1f}%")


def main() -> int:
    law, entry = current().parallel()
    pd.set_option("display.width", 160)
    for fold, what in FOLDS.items():
        s = fold_summary(entry, fold)
        print(f"\n{what}\n" + s.round(1).to_string(index=False))
        print(f"worst gross {s.gross_worst_pct.max():.1f}% ({(s.gross_worst_pct <= TARGET_PCT).sum()} of {len(s)} "
              f"splits <= {TARGET_PCT:g}%), worst time {s.time_worst_pct.max():.1f}% "
              f"({(s.time_worst_pct <= TARGET_PCT).sum()} of {len(s)}); mean gross {s.gross_mean_pct.mean():.1f}%, "
              f"mean time {s.time_mean_pct.mean():.1f}%")
    d = pd.DataFrame(entry["in_sample"])
    g = 100 * (d.gross_pred_j / d.gross_j - 1).abs()
    t = 100 * (d.time_pred_s / d.time_s - 1).abs()
    print(f"\nin sample ({len(d)} rows): gross worst {g.max():.1f}% mean {g.mean():.1f}%; time worst {t.max():.1f}% "
          f"mean {t.mean():.1f}%")
    print("coefficients:", {k: round(v, 3) for k, v in law.coef.items()})
    baselines(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
