"""The law that answers: for a model with energy rows of its own, the candidate that predicts those rows best
under cross-validation; otherwise the shared law, or a GPU's datasheet.

``auto`` (the default of ``predict``, ``plan``, the calculator and the book) fits each of :data:`OWN_CANDIDATES`
on the model's own rows of :func:`energy_nb.data.law_data` and scores it by :data:`K`-fold cross-validation on
those rows (every row predicted once, by a law that did not see it; the same folds for every candidate;
ML.ENERGY's rows of the model are among them). The smallest mean error wins, ties to the earlier candidate;
a candidate that cannot predict every row (too few rows for its terms, fp32 without fp32 rows) is not
chosen. A model without rows of its own, or without rows on the GPU asked about, gets
:func:`energy_nb.laws.fallback`. The scores are kept on disk beside the fitted laws, keyed by the data and
the code, so ``predict`` answers in a fraction of a second.

Units: errors in % of the measured energy.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from .. import laws
from ..core.cache import cache_dir, write_atomic
from ..core.errors import UserError
from ..laws import Law
from ..laws.conformal import ConformalLaw
from ..laws.registry import CODE_LAYERS, code_version
from ..models.registry import get_model
from .metrics import ape, coverage_pct, log_errors
from .validation import Candidate, kfold

#: Laws fitted on one model's own rows that ``auto`` chooses among: the paper's Eq. 3 (per image, with its GPU
#: and batch terms) and the physical laws linear in energy (a cost per FLOP, per denoiser call or kernel, per
#: image and per byte of weights read; a factor per GPU).
OWN_CANDIDATES: tuple[str, ...] = ("paper", "overhead", "roofline", "roofline_tc_kernels")
K = 5
SEED = 0


def _candidate(name: str, model: str) -> Candidate:
    if name == "paper":
        from ..compute.flops import native_convention

        return Candidate("paper", native_convention(model), per_image=True, name="paper")
    return Candidate(name, "counted", name=name)


def own_scores(model: str) -> pd.DataFrame:
    """Every candidate of :data:`OWN_CANDIDATES` under :data:`K`-fold cross-validation on ``model``'s own rows:
    ``candidate``, ``rows``, ``predicted`` (rows it could predict), ``mape_pct``, ``worst_pct``, ``median_ape_pct``,
    ``coverage_pct`` (held-out rows inside the candidate's own 95% interval) and ``errors`` (the absolute log
    errors of its held-out predictions, for conformal intervals). Empty when the model has too few rows to
    cross-validate."""
    from ..data.shipped import law_data, shipped_sha256

    key = get_model(model).key
    path = _path(key, shipped_sha256())
    if path.exists():
        try:
            return pd.DataFrame(json.loads(path.read_text()))
        except (ValueError, OSError):
            pass
    rows = law_data()
    rows = rows[rows["model"] == key]
    try:
        preds = kfold(rows, [_candidate(c, key) for c in OWN_CANDIDATES], k=K, seed=SEED)
    except UserError:
        preds = None
    out = []
    if preds is not None:
        for label, part in preds.groupby("candidate", sort=False):
            ok = part.dropna(subset=["energy_pred_j"])
            e = ape(ok) if len(ok) else pd.Series(dtype=float)
            out.append(dict(candidate=label, rows=len(part), predicted=len(ok), errors=log_errors(ok).tolist(),
                            mape_pct=float(e.mean()) if len(e) else float("nan"),
                            worst_pct=float(e.max()) if len(e) else float("nan"),
                            median_ape_pct=float(e.median()) if len(e) else float("nan"),
                            coverage_pct=coverage_pct(ok)))
    table = pd.DataFrame(out, columns=["candidate", "rows", "predicted", "errors", "mape_pct", "worst_pct",
                                       "median_ape_pct", "coverage_pct"])
    write_atomic(path, table.to_json(orient="records"))
    return table


def _path(model: str, data_sha: str):
    key = json.dumps([model, data_sha, list(OWN_CANDIDATES), K, SEED, code_version(CODE_LAYERS + ("evaluation",))])
    return cache_dir() / "selection" / f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def choose_own(model: str) -> tuple[str, pd.DataFrame] | None:
    """The candidate with the smallest cross-validated mean error on ``model``'s own rows among those that
    predict every row and that fit on all of them (the paper's law refuses rows of a single FLOPs value), and
    the scores; None when none does (or the model has too few rows)."""
    t = own_scores(model)
    if t.empty:
        return None
    full = t[t["predicted"] == t["rows"]].sort_values("mape_pct", kind="stable")  # ties: the earlier candidate
    for best in full["candidate"]:
        try:
            laws.get(str(best), model, own=True)
        except ValueError:
            continue
        return str(best), t
    return None


def answer(name: str = laws.AUTO, model: str | None = None, gpu: str | None = None, convention: str | None = None,
           gpu_as: dict[str, str] | None = None) -> tuple[Law, str]:
    """The law that answers for ``model`` on ``gpu``, and why it is that one. A named law answers as asked;
    ``auto`` takes the best of :data:`OWN_CANDIDATES` on the model's own rows when they hold the GPU (see the
    module docstring), else :func:`energy_nb.laws.fallback`."""
    if gpu is not None:
        from ..laws.calibrated import CalibratedLaw, calibrated

        cal = calibrated(gpu)
        if cal is not None:  # a GPU known by a few measured rows (energy-nb calibrate)
            law, why = answer(name, model, cal.base, convention, gpu_as)
            return CalibratedLaw(law, cal), f"{cal.describe()}; on {cal.base}: {why}"
    if name != laws.AUTO:
        return laws.get(name, model, convention), f"law {name!r} as asked"
    why = ""
    if model is not None:
        key = get_model(model).key
        mapped = (gpu_as or {}).get(gpu, gpu) if gpu else None
        chosen = choose_own(key)
        if chosen is None:
            why = f"{key} has too few energy rows of its own to choose a law by cross-validation"
            try:
                law = laws.get("paper", key, convention)
                if mapped is None or mapped in law.gpus:
                    return law, "the paper's law fitted on the model's own energy rows (" + why + ")"
                why = f"{key}'s own rows hold no {gpu} measurement"
            except ValueError as exc:
                why = str(exc).split(";")[0]
        else:
            best, table = chosen
            fitted = laws.get(best, key, None, own=True)
            if mapped is None or mapped in fitted.gpus:
                t = table.set_index("candidate")
                law = ConformalLaw(fitted, list(t.loc[best, "errors"]),
                                   f"{K}-fold cross-validation on {key}'s own rows")
                others = ", ".join(f"{c} {t.loc[c, 'mape_pct']:.1f}%" for c in t.index
                                   if c != best and t.loc[c, "predicted"] == t.loc[c, "rows"])
                return law, (f"the law that predicts {key}'s own {int(t.loc[best, 'rows'])} energy rows best under "
                             f"{K}-fold cross-validation: {best}, mean error {t.loc[best, 'mape_pct']:.1f}%, worst "
                             f"{t.loc[best, 'worst_pct']:.1f}%" + (f" (the others: {others})" if others else ""))
            why = f"{key}'s own rows hold no {gpu} measurement"
    law, reason = laws.fallback(model, gpu, gpu_as, why)
    by = "gpu" if law.name == laws.DEFAULT_DATASHEET else "model"
    errors = held_out_errors(law.name, by)
    if len(errors):
        law = ConformalLaw(law, errors, f"leave-one-{by}-out: the law fitted without each {by} predicting its rows")
    return law, reason


def held_out_errors(name: str, by: str = "model") -> list[float]:
    """Absolute log errors of the shared law ``name`` predicting every row of :func:`energy_nb.data.law_data`
    with its ``by`` (model or GPU) left out of the fit: the errors a model or GPU without data should expect.
    Kept on disk like :func:`own_scores`."""
    from ..data.shipped import law_data, shipped_sha256
    from .validation import held_out

    key = json.dumps([name, by, shipped_sha256(), code_version(CODE_LAYERS + ("evaluation",))])
    path = cache_dir() / "selection" / f"held-out-{name}-{by}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"
    if path.exists():
        try:
            return [float(e) for e in json.loads(path.read_text())]
        except (ValueError, OSError):
            pass
    p = held_out(law_data(), [name], by=by).dropna(subset=["energy_pred_j"])
    errors = log_errors(p).tolist()
    write_atomic(path, json.dumps(errors))
    return errors


def jackknife_coverage(errors: list[float] | np.ndarray, level: float = 0.95) -> float:
    """How often a held-out error falls inside the conformal interval built from the *other* errors (%): the
    interval's coverage on rows it was not built from (the split-conformal guarantee says at least ``level``)."""
    from ..laws.conformal import conformal_q

    e = np.asarray(errors, dtype=float)
    if len(e) < 2:
        return float("nan")
    inside = [e[i] <= conformal_q(np.delete(e, i), level) for i in range(len(e))]
    return 100.0 * float(np.mean(inside))


def own_table(models: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per model with energy rows: its rows, the law ``auto`` answers with (or the fallback), that law's and the
    paper's law's cross-validated mean and worst error (%), the coverage of the paper's in-sample 95% interval
    and of the chosen law's conformal interval on held-out rows (%), and the conformal half-width as a factor."""
    from ..data.shipped import law_data
    from ..laws.conformal import conformal_q

    models = models or sorted(law_data()["model"].astype(str).unique())
    out = []
    for m in models:
        t = own_scores(m).set_index("candidate") if not own_scores(m).empty else None
        chosen = choose_own(m)
        row = dict(model=m, rows=int(t["rows"].iloc[0]) if t is not None else 0,
                   law=chosen[0] if chosen else f"{laws.DEFAULT_SHARED} (shared)")
        if t is not None and "paper" in t.index and t.loc["paper", "predicted"] == t.loc["paper", "rows"]:
            row.update(paper_mape_pct=t.loc["paper", "mape_pct"], paper_worst_pct=t.loc["paper", "worst_pct"],
                       paper_coverage_pct=t.loc["paper", "coverage_pct"])
        if chosen:
            c = t.loc[chosen[0]]
            q = conformal_q(c["errors"], level)
            row.update(mape_pct=c["mape_pct"], worst_pct=c["worst_pct"],
                       coverage_pct=jackknife_coverage(c["errors"], level),
                       half_width_x=float(np.exp(q)) if np.isfinite(q) else float("nan"))
        out.append(row)
    return pd.DataFrame(out)


def coverage_curve(levels: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95), models: list[str] | None = None
                   ) -> pd.DataFrame:
    """Held-out coverage (%) of the conformal intervals of the law ``auto`` chooses, per model with a law of its
    own and nominal ``level`` (rows whose errors are too few for a level are left out of it)."""
    from ..data.shipped import law_data
    from ..laws.conformal import conformal_q

    out = []
    for m in models or sorted(law_data()["model"].astype(str).unique()):
        chosen = choose_own(m)
        if chosen is None:
            continue
        errors = chosen[1].set_index("candidate").loc[chosen[0], "errors"]
        for lv in levels:
            if np.isfinite(conformal_q(errors[1:], lv)):
                out.append(dict(model=m, level=lv, rows=len(errors), coverage_pct=jackknife_coverage(errors, lv)))
    return pd.DataFrame(out)


def transfer_coverage(name: str = laws.DEFAULT_SHARED, by: str = "model", level: float = 0.95) -> pd.DataFrame:
    """Per held-out ``by`` group (leave-one-``by``-out on :func:`energy_nb.data.law_data`): rows, the coverage (%)
    of the law's own in-sample interval and of a conformal interval built from the *other* groups' held-out
    errors (what a user of an unseen model or GPU gets), and that interval's half-width as a factor."""
    from ..data.shipped import law_data
    from ..laws.conformal import conformal_q
    from .validation import held_out

    p = held_out(law_data(), [name], by=by).dropna(subset=["energy_pred_j"])
    err = log_errors(p)
    out = []
    for g in sorted(p["held_out"].unique()):
        mine = (p["held_out"] == g).to_numpy()
        q = conformal_q(err[~mine], level)
        own = p[mine]
        out.append(dict(held_out=g, rows=int(mine.sum()), mape_pct=float(ape(own).mean()),
                        own_coverage_pct=coverage_pct(own), conformal_coverage_pct=float(100 * np.mean(err[mine] <= q)),
                        half_width_x=float(np.exp(q))))
    return pd.DataFrame(out)
