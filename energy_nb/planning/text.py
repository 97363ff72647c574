"""The planner's results as plain text (what ``energy-nb plan`` prints)."""
from __future__ import annotations

import pandas as pd

from ..core.units import EXTRAPOLATING, interval_text
from ..data.carbon import Intensity


def format_plan(df: pd.DataFrame) -> str:
    """A plain-text report of :func:`plan`'s frame."""
    a = df.attrs
    g: Intensity = a["grid"]
    lines = []
    for _, r in df.iterrows():
        if r["configuration"] == "total" and len(df) == 2:
            continue
        lines.append(f"{r['configuration']}  ({r['images_per_day']:,.0f} images/day)")
        lines.append(f"  energy : {r['wh_per_image']:.4f} Wh/image "
                     f"({interval_text(r['wh_per_image_low'], r['wh_per_image_high'], a['interval'])});  "
                     f"{r['kwh_per_day']:,.1f} kWh/day;  {r['mwh_per_year']:,.1f} MWh/year "
                     f"({r['mwh_per_year_low']:,.1f}-{r['mwh_per_year_high']:,.1f})")
        lines.append(f"  carbon : {r['g_co2e_per_image']:.3f} gCO2e/image;  {r['t_co2e_per_year']:,.1f} tCO2e/year "
                     f"({r['t_co2e_per_year_low']:,.1f}-{r['t_co2e_per_year_high']:,.1f})")
        if a["price_per_kwh"] is not None:
            lines.append(f"  cost   : {r['cost_per_year']:,.0f} per year ({r['cost_per_year_low']:,.0f}-"
                         f"{r['cost_per_year_high']:,.0f}) at {a['price_per_kwh']:g} per kWh")
        if r.get("gpu_hours_per_day") is not None and not pd.isna(r["gpu_hours_per_day"]):
            lines.append(f"  time   : {r['gpu_hours_per_day']:,.1f} GPU-hours/day; {int(r['gpus_needed']):,} GPU(s) at "
                         f"{a.get('utilisation', 0.5):.0%} utilisation"
                         + (f" ({r['seconds_per_image']:.3f} s/image)" if pd.notna(r.get("seconds_per_image")) else ""))
        if r["configuration"] != "total" and r["extrapolation"]:
            lines.append(f"  {EXTRAPOLATING}: " + "; ".join(r["extrapolation"]))
        if r["configuration"] != "total" and r.get("time_extrapolation"):
            lines.append("  TIME EXTRAPOLATED: " + "; ".join(r["time_extrapolation"]))
    lines.append(f"grid: {g.name} ({g.region}) {g.g_per_kwh:.1f} gCO2e/kWh [{g.source}]; PUE {a['pue']:g}; "
                 f"{a['days_per_year']:g} days/year")
    lines.append(f"scope: {a['scope']}")
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
               f"Wh/image ({pct}% PI)": f"{r['wh_per_image']:.4f} ({r['wh_per_image_low']:.4f}-"
                                         f"{r['wh_per_image_high']:.4f})",
               f"MWh/year ({pct}% PI)": f"{r['mwh_per_year']:,.1f} ({r['mwh_per_year_low']:,.1f}-"
                                         f"{r['mwh_per_year_high']:,.1f})",
               f"tCO2e/year ({pct}% PI)": f"{r['t_co2e_per_year']:,.1f} ({r['t_co2e_per_year_low']:,.1f}-"
                                           f"{r['t_co2e_per_year_high']:,.1f})"}
        if a["price_per_kwh"] is not None:
            row["cost/year"] = f"{r['cost_per_year']:,.0f}"
        row["GPUs needed"] = "" if gpus is None or pd.isna(gpus) else f"{int(gpus):,}"
        rows.append(row)
        if r["configuration"] != "total" and r["extrapolation"]:
            notes.append(f"Extrapolating ({r['configuration']}): " + "; ".join(r["extrapolation"]) + ".")
        if r["configuration"] != "total" and r.get("time_extrapolation"):
            notes.append(f"Time extrapolated ({r['configuration']}): " + "; ".join(r["time_extrapolation"]) + ".")
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
