"""The planner's results as plain text (what ``energy-nb plan`` prints)."""
from __future__ import annotations

import pandas as pd

from ..core.units import EXTRAPOLATING, interval_text
from ..data.carbon import Intensity

WIDTH = 120  #: lines of the report wrap here


def _wrap(text: str, indent: str = "    ") -> list[str]:
    import textwrap

    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [text]


def format_plan(df: pd.DataFrame) -> str:
    """A plain-text report of :func:`plan`'s frame: the fleet's energy first, then its layers (net, gross, idle,
    host, PUE), carbon, cost, time and the notes."""
    a = df.attrs
    g: Intensity = a["grid"]
    cur = a.get("currency", "")
    lines = []
    for _, r in df.iterrows():
        if r["configuration"] == "total" and len(df) == 2:
            continue
        lines.append(f"{r['configuration']}  ({r['images_per_day']:,.0f} images/day)")
        lines += _wrap(f"  energy : {r['wh_per_image']:.4f} Wh/image drawn by the GPUs "
                       f"({interval_text(r['wh_per_image_low'], r['wh_per_image_high'], a['interval'])});  "
                       f"{r['kwh_per_day']:,.1f} kWh/day;  {r['mwh_per_year']:,.1f} MWh/year "
                       f"({r['mwh_per_year_low']:,.1f}-{r['mwh_per_year_high']:,.1f})")
        layers = [("net of idle power (the paper's footing)", r["net_kwh_per_day"],
                   f"{r['net_wh_per_image']:.4f} Wh/image ({r['net_wh_per_image_low']:.4f}-"
                   f"{r['net_wh_per_image_high']:.4f})"),
                  ("+ idle power while working = gross", r["work_idle_kwh_per_day"],
                   f"gross {r['gross_wh_per_image']:.4f} ({r['gross_wh_per_image_low']:.4f}-"
                   f"{r['gross_wh_per_image_high']:.4f}) Wh/image")]
        if r["configuration"] != "total" or len(df) > 2:
            layers.append((f"+ idle power of the {int(r['gpus_needed']):,} GPU(s) while waiting",
                           r["idle_kwh_per_day"], ""))
        if a.get("host_w"):
            layers.append((f"+ host, {a['host_w']:g} W per GPU all day", r["host_kwh_per_day"], ""))
        layers.append((f"+ facility, x (PUE {a['pue']:g} - 1)", r["pue_kwh_per_day"], ""))
        for what, kwh, extra in layers:
            lines.append(f"    {what:<48} {kwh:>12,.1f} kWh/day" + (f"   {extra}" if extra else ""))
        lines.append(f"  carbon : {r['g_co2e_per_image']:.3f} gCO2e/image;  {r['t_co2e_per_year']:,.1f} tCO2e/year "
                     f"({r['t_co2e_per_year_low']:,.1f}-{r['t_co2e_per_year_high']:,.1f})")
        if a["price_per_kwh"] is not None:
            lines.append(f"  cost   : {r['cost_per_year']:,.0f} {cur} per year ({r['cost_per_year_low']:,.0f}-"
                         f"{r['cost_per_year_high']:,.0f}) at {a['price_per_kwh']:g} {cur} per kWh")
        if r.get("gpu_hours_per_day") is not None and not pd.isna(r["gpu_hours_per_day"]):
            lines.append(f"  time   : {r['gpu_hours_per_day']:,.1f} GPU-hours/day; {int(r['gpus_needed']):,} GPU(s) at "
                         f"{a.get('utilisation', 0.5):.0%} utilisation"
                         + (f" ({r['seconds_per_image']:.3f} s/image)" if pd.notna(r.get("seconds_per_image")) else ""))
        if r["configuration"] != "total":
            lines += _wrap(f"  idle   : per GPU {r['idle_source']}")
            lines += [x for n in r.get("notes") or [] for x in _wrap(f"  note   : {n}")]
        if r["configuration"] != "total" and r["extrapolation"]:
            lines += _wrap(f"  {EXTRAPOLATING}: " + "; ".join(r["extrapolation"]))
        if r["configuration"] != "total" and r.get("time_extrapolation"):
            lines += _wrap("  TIME EXTRAPOLATED: " + "; ".join(r["time_extrapolation"]))
    lines += _wrap(f"grid: {g.name} ({g.region}) {g.g_per_kwh:.1f} gCO2e/kWh [{g.source}]; PUE {a['pue']:g}; "
                   f"{a['days_per_year']:g} days/year" + (f"; prices in {cur}" if a["price_per_kwh"] is not None
                                                          else ""), "  ")
    lines += _wrap(f"scope: {a['scope']}", "  ")
    return "\n".join(lines)


def format_compare(df: pd.DataFrame) -> str:
    """A plain-text ranking of :func:`compare`'s frame."""
    lines = ["alternatives, least energy first (saving vs base; negative = more):"]
    for _, r in df.iterrows():
        if r.get("note"):
            lines.append(f"  {r['change']:<50} {r['note']}")
            continue
        flag = "  (extrapolating)" if isinstance(r.get("extrapolation"), list) and r["extrapolation"] else ""
        lines.append(f"  {r['change']:<50} {r['wh_per_image']:8.4f} Wh/image  {r['mwh_per_year']:10,.1f} MWh/yr  "
                     f"{r['t_co2e_per_year']:9,.1f} tCO2e/yr  saving {r['saving_pct']:+6.1f}%{flag}")
    return "\n".join(lines)



def plan_tables(df: pd.DataFrame, compare: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str],
                                                                                pd.DataFrame | None]:
    """:func:`format_plan` and :func:`format_compare` as tables: one row per configuration (values with their
    interval as text), the notes (extrapolation, grid, scope), and the alternatives (None without them)."""
    a = df.attrs
    g: Intensity = a["grid"]
    pct = int(round(100 * a["interval"]))
    rows, notes = [], []
    for _, r in df.iterrows():
        if r["configuration"] == "total" and len(df) == 2:
            continue
        gpus = r.get("gpus_needed")
        row = {"configuration": r["configuration"], "images/day": f"{r['images_per_day']:,.0f}",
               f"Wh/image drawn ({pct}% PI)": f"{r['wh_per_image']:.4f} ({r['wh_per_image_low']:.4f}-"
                                               f"{r['wh_per_image_high']:.4f})",
               "of which net": f"{r['net_wh_per_image']:.4f}",
               "gross": f"{r['gross_wh_per_image']:.4f}",
               "idle waiting (kWh/day)": f"{r['idle_kwh_per_day']:,.1f}",
               f"MWh/year ({pct}% PI)": f"{r['mwh_per_year']:,.1f} ({r['mwh_per_year_low']:,.1f}-"
                                         f"{r['mwh_per_year_high']:,.1f})",
               f"tCO2e/year ({pct}% PI)": f"{r['t_co2e_per_year']:,.1f} ({r['t_co2e_per_year_low']:,.1f}-"
                                           f"{r['t_co2e_per_year_high']:,.1f})"}
        if a["price_per_kwh"] is not None:
            row[f"cost/year ({a.get('currency', '')})"] = f"{r['cost_per_year']:,.0f}"
        row["GPUs needed"] = "" if gpus is None or pd.isna(gpus) else f"{int(gpus):,}"
        rows.append(row)
        if r["configuration"] != "total" and r["extrapolation"]:
            notes.append(f"Extrapolating ({r['configuration']}): " + "; ".join(r["extrapolation"]) + ".")
        if r["configuration"] != "total" and r.get("time_extrapolation"):
            notes.append(f"Time extrapolated ({r['configuration']}): " + "; ".join(r["time_extrapolation"]) + ".")
    idle = {r["idle_source"] for _, r in df.iterrows() if r["configuration"] != "total"}
    notes += [f"Idle power: {s}." for s in sorted(idle)]
    notes.append(f"Grid: {g.name} ({g.region}) {g.g_per_kwh:.1f} gCO2e/kWh [{g.source}]; PUE {a['pue']:g}; "
                 f"{a['days_per_year']:g} days/year; GPUs at {a.get('utilisation', 0.5):.0%} utilisation. "
                 f"Scope: {a['scope']}.")
    if compare is None:
        return pd.DataFrame(rows), notes, None
    alt = []
    for _, r in compare.iterrows():
        if r.get("note"):
            alt.append({"alternative": r["change"], "Wh/image": r["note"], "MWh/year": "", "tCO2e/year": "",
                        "saving": ""})
            continue
        flag = " (extrapolating)" if isinstance(r.get("extrapolation"), list) and r["extrapolation"] else ""
        alt.append({"alternative": r["change"] + flag, "Wh/image": f"{r['wh_per_image']:.4f}",
                    "MWh/year": f"{r['mwh_per_year']:,.1f}", "tCO2e/year": f"{r['t_co2e_per_year']:,.1f}",
                    "saving": f"{r['saving_pct']:+.1f}%"})
    return pd.DataFrame(rows), notes, pd.DataFrame(alt)


def html_plan(df: pd.DataFrame, compare: pd.DataFrame | None = None) -> str:
    """:func:`plan_tables` as HTML (what a notebook shows for a ``Plan``)."""
    import html

    configs, notes, alternatives = plan_tables(df, compare)
    out = [configs.to_html(index=False, classes="enb-plan", border=0)]
    out += [f"<p>{html.escape(n)}</p>" for n in notes]
    if alternatives is not None:
        out.append("<p>Alternatives, least energy first (saving against the base; negative: more):</p>")
        out.append(alternatives.to_html(index=False, classes="enb-plan", border=0))
    return '<div class="enb-plan-out">' + "\n".join(out) + "</div>"
