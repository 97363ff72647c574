"""Build the laws artifact: fit every law on the shipped data, run the selection policy, measure it nested, and write
``energy_nb/artifacts/laws.json`` (read by :mod:`energy_nb.laws.artifact`; its contents are described there).

``energy-nb laws build`` runs :func:`write` (``make book`` and the identity script run it first); ``energy-nb laws
check`` rebuilds in memory and lists every difference from the committed file (:func:`compare`: numbers within a
relative :data:`RTOL`, everything else exactly), which a test asserts is none. :func:`write` leaves the file
untouched when nothing differs, so a rebuild on another machine (other BLAS, last bits of an optimiser) does not
change the committed artifact or the version calibrations record.

Units: as the laws' (J, s, W); errors in % and in natural log units.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .. import laws
from ..core import paths, provenance
from ..core.errors import UserError
from ..core.jsonio import finite, to_json
from ..core.versions import library_versions
from ..laws.artifact import FORMAT, Artifact
from .selection import POLICY, K, Selection, select

#: Numbers agree when within this relative difference (the last bits of an optimiser differ between BLAS builds).
RTOL = 1e-6
#: Libraries whose numerics shape the fitted laws (recorded, not part of the version).
LIBRARIES = ("numpy", "scipy", "statsmodels", "pandas")
#: Keys of the artifact that are about the build, not its contents (left out of ``version``).
METADATA = ("version", "code_version", "libraries", "seconds")


def _inputs() -> tuple[pd.DataFrame, str, list[str]]:
    """The rows every law is fitted on, the sha256 of the files they and the counted features come from, and the
    files (``data/...``)."""
    from ..data.shipped import law_data, shipped_files, shipped_sha256

    files = [paths.data_relative(p) for p in shipped_files()]
    return law_data(), shipped_sha256(), files


def _fit(name: str, rows: pd.DataFrame, provenance: dict[str, Any], model: str | None = None) -> laws.Law:
    law = laws.fit(name, rows, provenance=provenance, **({"per_image": True} if name == "paper" else {}))
    if model is not None:
        law.name = f"{name} ({model})"
    return law


def _reason_own(model: str, sel: Selection) -> str:
    t = sel.choice.table.set_index("candidate")
    best = sel.choice.best.label

    def errs(c: str) -> str:
        r = t.loc[c]
        return f"net {r['mape_pct']:.1f}%" + (f", gross {r['gross_mape_pct']:.1f}%, time {r['time_mape_pct']:.1f}%"
                                             if pd.notna(r["time_mape_pct"]) else "")
    others = "; ".join(f"{c} {t.loc[c, 'score_pct']:.1f}%" for c in t.index if c != best and t.loc[c, "eligible"])
    pooled = " (refined from the shared law fitted on the other models)" if sel.choice.best.prior else ""
    return (f"the law that predicts {model}'s own {int(t.loc[best, 'rows'])} rows best under {K}-fold "
            f"cross-validation: {best}{pooled}, mean error {errs(best)}, worst net {t.loc[best, 'worst_pct']:.1f}%"
            + (f" (score of the others: {others})" if others else ""))


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records")) if len(df) else []


def _selection_entry(sel: Selection, interval: str | None) -> dict[str, Any]:
    return dict(candidates=list(POLICY[sel.question][0]), by=POLICY[sel.question][1], rule=sel.choice.rule,
                scores=_records(sel.choice.table), groups=_records(sel.choice.groups),
                nested=_records(sel.nested_table), interval=interval)


def build(progress: bool = False) -> dict[str, Any]:
    """The artifact's contents (see :mod:`energy_nb.laws.artifact`), computed from the shipped data; ``data.read``
    lists the files of ``data/`` the build read (what an answer from the artifact names as its source)."""
    with provenance.recording() as seen:
        content = _build(progress)
    content["data"]["read"] = [f"data/{r}" for r in seen]
    content["version"] = version(content)
    return content


def _build(progress: bool) -> dict[str, Any]:
    say = (lambda m: print(f"energy-nb laws: {m}", flush=True)) if progress else (lambda m: None)
    t0 = time.perf_counter()
    rows, sha, files = _inputs()
    prov = dict(data_sha256=sha, code_version=laws.code_version())
    models = sorted(rows["model"].astype(str).unique())
    fitted: dict[str, laws.Law] = {}
    unfitted: dict[str, str] = {}
    for name in laws.LAW_NAMES:  # every law on the shipped data: what --law NAME answers with
        if laws.spec(name).per_model:
            for m in models:
                key = f"{name} ({m})"
                try:
                    law = _fit(name, rows[rows["model"] == m], dict(prov, fitted_on=f"shipped data, model {m}"), m)
                except ValueError as exc:
                    unfitted[key] = str(exc)
                    continue
                if "log_F" in law.frozen:
                    unfitted[key] = (f"the shipped energy rows of {m!r} hold a single FLOPs value (one resolution and "
                                     f"step count), so law {name!r} cannot say how its energy scales; use a shared "
                                     "physical law (e.g. --law roofline_tc_kernels)")
                    continue
                fitted[key] = law
        else:
            fitted[name] = _fit(name, rows, dict(prov, fitted_on="shipped data, all models"))
    say(f"{len(fitted)} laws fitted ({time.perf_counter() - t0:.1f} s)")
    intervals: dict[str, dict[str, Any]] = {}
    own: dict[str, dict[str, Any]] = {}
    chosen: dict[str, Selection] = {}  # the selections, by question (and model): what the levels' errors come from
    for m in models:
        mine = rows[rows["model"] == m]
        sel = select("own", mine, pool=rows)
        gpus = sorted(mine["gpu"].astype(str).unique())
        if sel.choice.best is None:
            own[m] = dict(_selection_entry(sel, None), law=None, family=None, rows=len(mine), gpus=gpus,
                          reason="", why_not=f"no law could be chosen on {m}'s {len(mine)} own energy rows "
                                             f"({sel.choice.why_not})")
            continue
        family = sel.choice.best.law
        key = f"{family} ({m})"
        law = sel.choice.best.fit(mine)
        law.name, law.provenance = key, dict(prov, fitted_on=f"shipped data, model {m}"
                                             + (", pulled toward the shared law fitted on the other models"
                                                if sel.choice.best.prior else ""))
        fitted[key] = law
        chosen[f"own:{m}"] = sel
        ikey = f"own:{m}"
        intervals[ikey] = _interval(sel, False, f"nested {K}-fold cross-validation on {m}'s own rows: each fold "
                                                "predicted by the law chosen and fitted without it")
        own[m] = dict(_selection_entry(sel, ikey), law=key, family=family, rows=len(mine), gpus=gpus,
                      reason=_reason_own(m, sel), why_not="")
        say(f"{m}: {family} ({time.perf_counter() - t0:.1f} s)")
    selections: dict[str, Any] = dict(own=own)
    for question, how, reason in (
            ("shared", "nested leave-one-model-out: each model predicted by the law chosen and fitted without it",
             "the shared law {name!r} (chosen by leave-one-model-out over every model with data) answers"),
            ("datasheet", "nested leave-one-GPU-out: each GPU predicted by the law chosen and fitted without it",
             "priced from its datasheet by the law {name!r} (chosen by leave-one-GPU-out)")):
        sel = select(question, rows)
        if sel.choice.best is None:
            raise UserError(f"no law could be chosen for the {question} question: {sel.choice.why_not}")
        name = sel.choice.best.law
        chosen[question] = sel
        if not sel.is_nested:
            by = POLICY[question][1]
            word = {"gpu": "GPU"}.get(by, by)
            how = (f"leave-one-{word}-out errors of {name}, each {word} predicted by it fitted without it; not nested: "
                   f"with {rows[by].nunique()} {word}s with data the choice cannot be repeated without one, so these "
                   "errors saw the choice")
        intervals[question] = _interval(sel, True, how)
        selections[question] = dict(_selection_entry(sel, question), law=name, reason=reason.format(name=name))
        say(f"{question}: {name} ({time.perf_counter() - t0:.1f} s)")
    for m, entry in own.items():  # a model whose own rows have no time: for time it is a model never timed
        iv = intervals.get(entry["interval"] or "")
        if iv is not None and not iv["time_errors"]:
            iv.update(time_groups=intervals["shared"]["time_groups"], time_by_group=True,
                      how=iv["how"] + f"; time: none of {m}'s rows is timed, so its time interval is that of a model "
                                      "never seen (the shared selection's leave-one-model-out time errors by model)")
    content: dict[str, Any] = dict(
        format=FORMAT, data=dict(sha256=sha, files=files),
        laws={k: fitted[k].to_dict() for k in sorted(fitted)}, unfitted=unfitted, selections=selections,
        intervals=intervals, answers={})
    content = json.loads(to_json(content, indent=None))  # strict JSON, as it will be read back
    content["answers"] = _answers(content)
    content["gpu_parts"] = _gpu_parts(rows)
    from .parallel import entry

    content["parallel"] = json.loads(to_json(entry(content), indent=None))
    say(f"parallel: {content['parallel']['law']['n_obs']} rows on several GPUs ({time.perf_counter() - t0:.1f} s)")
    content["levels"], content["coverage"] = _levels(chosen, rows, content["parallel"])
    content["t_quantiles"] = _quantiles(content)
    say(f"levels and coverage ({time.perf_counter() - t0:.1f} s)")
    content["version"] = version(content)
    content["code_version"] = laws.code_version()
    content["libraries"] = library_versions(LIBRARIES)
    content["seconds"] = round(time.perf_counter() - t0, 1)
    return content


def _interval(sel: Selection, by_group: bool, how: str) -> dict[str, Any]:
    """The interval entry of a selection: absolute log errors of energy and time (split-conformal), signed ones by
    held-out group (``by_group``: the interval of a model or GPU never seen), and how they were obtained."""
    return dict(errors=sel.errors, groups=sel.by_group(), time_errors=sel.time_errors,
                time_groups=sel.by_group(time=True), by_group=by_group, time_by_group=by_group, how=how)


def _levels(chosen: dict[str, Selection], rows: pd.DataFrame, parallel: dict[str, Any]
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The artifact's ``levels`` (each level's spread per quantity, each model's own rows' spread, the labs of each
    model's rows per GPU, and the held-out errors they come from: :mod:`energy_nb.laws.levels`) and ``coverage`` (the
    report of :mod:`.coverage`)."""
    from ..laws.levels import LEVELS, QUANTITIES, fit
    from .coverage import report
    from .levels import held_out_errors, lab

    own = {k.split(":", 1)[1]: v for k, v in chosen.items() if k.startswith("own:")}
    errors = held_out_errors(own, chosen["shared"], chosen["datasheet"], rows, parallel)
    fits: dict[str, dict[str, Any]] = {}
    for lv in LEVELS:
        if lv == "rows":
            continue
        e = errors[errors["level"] == lv]
        fits[lv] = {q: f.to_dict() for q in QUANTITIES if (f := fit(e, lv, q)) is not None}
    mine: dict[str, dict[str, Any]] = {}
    for m in own:
        e = errors[(errors["level"] == "rows") & (errors["model"] == m)]
        mine[m] = {q: f.to_dict() for q in QUANTITIES if (f := fit(e, "rows", q)) is not None}
    labs: dict[str, dict[str, list[str]]] = {}
    for (m, g), part in rows.assign(lab=lab(rows["source"])).groupby(["model", "gpu"], sort=True):
        labs.setdefault(str(m), {})[str(g)] = sorted(part["lab"].unique())
    from ..models.registry import MODEL_KEYS
    from .levels import family

    entry_ = dict(fits=fits, own=mine, labs=labs, parallel_models=sorted(parallel["bases"]),
                  families={m: family(m) for m in MODEL_KEYS},
                  families_with_data=sorted({family(m) for m in rows["model"].astype(str).unique()}),
                  errors=errors.to_dict(orient="list"))
    return json.loads(to_json(entry_, indent=None)), _records(report(errors))


def _quantiles(content: dict[str, Any]) -> list[list[float]]:
    """``[probability, dof, quantile]`` of every law's in-sample energy and time intervals and of the by-group
    intervals at the usual levels (:data:`energy_nb.core.stats.LEVELS`): what an answer needs from scipy, computed
    here once."""
    from ..core.stats import LEVELS, t_quantile

    dofs = {float(d["df_resid"]) for d in content["laws"].values()}
    dofs |= {float(max(int(d["n_timed"]) - len(d["coef"]), 1)) for d in content["laws"].values() if "n_timed" in d}
    dofs |= {float(len(iv["groups"])) for iv in content["intervals"].values()}
    dofs |= {float(len(iv["time_groups"])) for iv in content["intervals"].values()}
    lv = content.get("levels", {})  # the parts an answer's interval is composed of (energy_nb.laws.levels.composite)
    for f in [f for q in lv.get("fits", {}).values() for f in q.values()] + [
            f for q in lv.get("own", {}).values() for f in q.values()]:
        dofs |= {float(f["dof"]), float(max(f["rows"] - f["groups"], 1))}
    return [[0.5 + lv / 2, df, t_quantile(0.5 + lv / 2, df)] for df in sorted(dofs) for lv in LEVELS if df > 0]


def _gpu_parts(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Per GPU family with energy rows, the parts of ``data/gpus.csv`` they were measured on: a question about one of
    them is a question about the family (``--gpu H100-80GB-HBM3`` is answered as ``H100``)."""
    from ..models.hardware import canonical_name

    out: dict[str, list[str]] = {}
    for fam, part in rows[["gpu", "gpu_part"]].dropna().astype(str).drop_duplicates().itertuples(index=False):
        name = canonical_name(part)
        if name is not None and name != fam:
            out.setdefault(fam, []).append(name)
    return {f: sorted(set(p)) for f, p in sorted(out.items())}


def _answers(content: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per registry model and GPU family of ``data/gpus.csv``: the law that answers, why and its interval."""
    from ..models.hardware import families
    from ..models.registry import MODEL_KEYS

    art = Artifact(content, "(being built)")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for m in MODEL_KEYS:
        for g in families():
            key, interval, reason = art.route(m, g)
            out.setdefault(m, {})[g] = dict(law=key, interval=interval, reason=reason)
    return out


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.9g}") if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def _without_code_version(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _without_code_version(v) for k, v in x.items() if k != "code_version"}
    if isinstance(x, list):
        return [_without_code_version(v) for v in x]
    return x


def version(content: dict[str, Any]) -> str:
    """A digest of the artifact's contents (numbers to 9 significant digits), without the build metadata and without
    the code version each law's provenance records: a change to the code that leaves every number as it was keeps
    the version, so calibrations made against it stay valid (``code_version`` still says what built the file)."""
    body = {k: v for k, v in content.items() if k not in METADATA}
    return hashlib.sha256(json.dumps(_rounded(_without_code_version(body)), sort_keys=True).encode()).hexdigest()[:16]


def compare(old: Any, new: Any, where: str = "", rtol: float = RTOL) -> list[str]:
    """Every difference between two artifacts (``where``: the path of each), numbers within ``rtol``; the build's
    seconds are not compared."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            if where == "" and k == "seconds":
                continue
            if k not in old or k not in new:
                out.append(f"{where}/{k}: {'added' if k not in old else 'removed'}")
                continue
            out += compare(old[k], new[k], f"{where}/{k}", rtol)
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} items -> {len(new)}"]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in compare(a, b, f"{where}[{i}]", rtol)]
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        return [] if math.isclose(old, new, rel_tol=rtol, abs_tol=1e-12) else [f"{where}: {old!r} -> {new!r}"]
    return [] if old == new else [f"{where}: {str(old)[:80]!r} -> {str(new)[:80]!r}"]


def read(path: Path | None = None) -> dict[str, Any] | None:
    """The artifact's contents as written (None: no file)."""
    path = Path(path or paths.LAWS_ARTIFACT)
    return json.loads(path.read_text()) if path.exists() else None


def write(path: Path | None = None, progress: bool = True) -> tuple[Path, list[str], dict[str, Any]]:
    """Build the artifact and write it to ``path`` (default: the package's), unless it holds the same contents
    already. Returns the path, the differences from the file that was there and the contents."""
    path = Path(path or paths.LAWS_ARTIFACT)
    content = build(progress)
    old = read(path)
    diff = compare(old, content) if old is not None else ["(no artifact before)"]
    if diff:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(finite(content), indent=1, allow_nan=False) + "\n")
        from ..laws.artifact import current

        current.cache_clear()
    return path, diff, content
