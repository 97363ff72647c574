"""Plan for a latency: the GPU count, Ulysses x Ring split and batch size that meet a latency target at the least
energy.

A request waits for its whole batch, so a choice's **latency** is its batch latency: the time per image (what
:func:`energy_nb.laws.answer.predict` answers: batch latency / batch size) times the batch size. Its
**energy** is the gross energy per image summed over every GPU of the job (net + idle power x time: what a meter on
the GPUs reads; the idle draw of the GPUs a split adds is part of its price), and its **cost** the GPU-seconds per
image (time per image x GPUs) and, given a price per kWh, the electricity of 1000 images (gross x PUE x price). Every
choice is the answer ``energy-nb predict`` gives for it, so the planner and ``predict`` agree.

:func:`choices` lists every valid choice (GPU counts from 1 to ``max_gpus``, each valid split, batch sizes
:data:`BATCH_SIZES`); :func:`best` picks the least-energy one that meets the target and refuses, in one line that
names the fastest choice, when none does. Units: s, J, Wh.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..core.errors import UserError
from ..models.configuration import Configuration

#: Batch sizes the planner considers (those of the shipped rows on several GPUs: ML.ENERGY's 1-16).
BATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16)


def gpu_counts(config: Configuration, max_gpus: int | None) -> list[int]:
    """GPU counts to try: 1, 2, 4, ... up to ``max_gpus`` (default: the most GPUs a node of ``config.gpu`` holds), each
    with at least one valid split of the model."""
    from ..compute import parallel

    limit = parallel.max_gpus(config.gpu) or 8
    if max_gpus is not None:
        if isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or max_gpus < 1:
            raise UserError(f"--max-gpus {max_gpus!r} is not allowed: an integer >= 1")
        if max_gpus > limit:
            raise UserError(f"--max-gpus {max_gpus} on {config.gpu}: a node holds at most {limit} of them "
                            f"(data/gpus.csv); allowed: 1-{limit}")
        limit = max_gpus
    out = [1]
    n = 2
    while n <= limit:
        try:
            if parallel.splits(config.model, config.height, config.width, n, config.gpu):
                out.append(n)
        except UserError:  # a UNet: one GPU only
            break
        n *= 2
    return out


def choices(config: Configuration, max_gpus: int | None = None, opts: Any = None) -> pd.DataFrame:
    """Every valid choice for ``config`` (its GPU count, split and batch size replaced): ``num_gpus``, ``ulysses``,
    ``ring``, ``batch_size``, ``latency_s`` (batch latency), ``s_per_image``, ``gross_j`` and ``net_j`` per image
    with the net energy's interval (``net_j_low``, ``net_j_high``), ``gpu_s_per_image``, ``law`` and whether it
    extrapolates, and with a price per kWh in ``opts`` ``cost_per_1000_images`` (gross energy x PUE x price); least
    gross energy first."""
    from ..laws.answer import predict

    level = getattr(opts, "level", 0.95)
    gpu_as = getattr(opts, "gpu_as", None) or None
    from ..compute import parallel
    from ..compute.memory import fits
    from ..laws.split import answers

    rows, several = [], []
    for n in gpu_counts(config, max_gpus):
        for b in BATCH_SIZES:
            c = config.replace(num_gpus=n, ulysses=None, ring=None, batch_size=b, prompts=1)
            if not fits(c):  # a batch its GPUs cannot hold (or a precision they cannot run) is never planned
                continue
            if n == 1:
                p = predict(c, level=level, gpu_as=gpu_as)
                rows.append(_row(p.configuration, p.per_image_s, p.per_image_gross_j, p.per_image_j,
                                 p.per_image_j_low, p.per_image_j_high, p.law,
                                 bool(p.extrapolation or p.time_extrapolation)))
            else:
                several += [c.replace(ulysses=s.ulysses, ring=s.ring)
                            for s in parallel.splits(c.model, c.height, c.width, n, c.gpu)]
    for a in answers(several, level, gpu_as) if several else []:  # one evaluation: the numbers predict gives
        rows.append(_row(a.configuration, a.per_image_s, a.per_image_gross_j, a.per_image_j, a.per_image_j_low,
                         a.per_image_j_high, a.law, bool(a.extrapolation or a.time_extrapolation)))
    if not rows:
        from ..compute.memory import check

        check(config.replace(num_gpus=1, ulysses=None, ring=None, batch_size=1, prompts=1))  # says why
    df = pd.DataFrame(rows).sort_values(["gross_j", "latency_s"], kind="stable").reset_index(drop=True)
    price = getattr(opts, "price_per_kwh", None)
    if price is not None:  # the meter's energy, times the facility's PUE, at the given price
        df["cost_per_1000_images"] = df["gross_j"] / 3.6e6 * getattr(opts, "pue", 1.0) * price * 1000
    df.attrs["configuration"] = config.replace(batch_size=1, num_gpus=1, ulysses=None, ring=None).label()
    return df


def _row(c: Configuration, s: float, gross: float, net: float, low: float, high: float, law: str,
         extrapolating: bool) -> dict[str, Any]:
    return dict(num_gpus=c.num_gpus, ulysses=c.ulysses, ring=c.ring, batch_size=c.batch_size,
                latency_s=s * c.batch_size, s_per_image=s, gross_j=gross, net_j=net, net_j_low=low, net_j_high=high,
                gpu_s_per_image=s * c.num_gpus, law=law, extrapolating=extrapolating)


def best(table: pd.DataFrame, target_s: float) -> pd.Series:
    """The least-energy row of :func:`choices`' ``table`` whose latency meets ``target_s``; a one-line refusal naming
    the fastest choice when none does."""
    if not (isinstance(target_s, (int, float)) and target_s > 0 and math.isfinite(target_s)):
        raise UserError(f"--latency-target {target_s!r} is not allowed: a number of seconds > 0")
    ok = table[table["latency_s"] <= target_s]
    if ok.empty:
        f = table.loc[table["latency_s"].idxmin()]
        raise UserError(f"no choice meets a latency of {target_s:g} s: the fastest is {int(f['num_gpus'])} GPU(s) "
                        f"(Ulysses {int(f['ulysses'])} x Ring {int(f['ring'])}) at batch {int(f['batch_size'])}, "
                        f"{f['latency_s']:.2f} s; allowed: --latency-target >= {f['latency_s']:.2f} (or more GPUs "
                        "with --max-gpus, where a node holds them)")
    return ok.iloc[0]


def chosen(config: Configuration, row: pd.Series) -> Configuration:
    """``config`` at the choice ``row`` (its GPU count, split and batch size)."""
    return config.replace(num_gpus=int(row["num_gpus"]), ulysses=int(row["ulysses"]), ring=int(row["ring"]),
                          batch_size=int(row["batch_size"]))


def format_choices(table: pd.DataFrame, target_s: float | None = None) -> str:
    """The choices as text: one line each, least energy first, marking those that meet ``target_s``."""
    head = "choices, least gross energy per image first" + (f" (latency target {target_s:g} s)" if target_s else "")
    lines = [head + ":", f"  {'GPUs':>4} {'split':>9} {'batch':>5} {'latency s':>10} {'s/image':>8} "
                         f"{'gross J/img':>12} {'net J/img':>10} {'GPU-s/img':>9}"
                         + (f" {'cost/1000':>9}" if "cost_per_1000_images" in table else "")]
    for _, r in table.iterrows():
        meets = "" if target_s is None else ("  meets" if r["latency_s"] <= target_s else "")
        flag = "  (extrapolating)" if r["extrapolating"] else ""
        lines.append(f"  {int(r['num_gpus']):>4} {'U' + str(int(r['ulysses'])) + 'xR' + str(int(r['ring'])):>9} "
                     f"{int(r['batch_size']):>5} {r['latency_s']:>10.2f} {r['s_per_image']:>8.2f} "
                     f"{r['gross_j']:>12,.0f} {r['net_j']:>10,.0f} {r['gpu_s_per_image']:>9.2f}"
                     + (f" {r['cost_per_1000_images']:>9.3f}" if "cost_per_1000_images" in table else "")
                     + f"{meets}{flag}")
    return "\n".join(lines)


def by_gpu_count(table: pd.DataFrame, target_s: float) -> pd.DataFrame:
    """Per GPU count of :func:`choices`' ``table``: the least-energy choice that meets ``target_s``, else the fastest
    (``meets`` False)."""
    out = []
    for _, g in table.groupby("num_gpus", sort=True):
        ok = g[g["latency_s"] <= target_s]
        r = (ok.iloc[0] if len(ok) else g.loc[g["latency_s"].idxmin()]).copy()
        r["meets"] = bool(len(ok))
        out.append(r)
    return pd.DataFrame(out).reset_index(drop=True)
