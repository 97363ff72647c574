"""The selection policy: which law answers which question, chosen on held-out rows, with intervals from errors
that took no part in the choice. Run at build time (``energy-nb laws build``); ``predict`` reads its output.

Three questions (:data:`POLICY`), one function that chooses (:func:`choose`) and one that measures the choice
honestly (:func:`nested`):

- **own** -- a model with energy rows of its own: its candidates, each fitted on the model's rows alone (``ops``
  pulled toward the shared law fitted on the other models: :func:`candidates_for`), scored by :data:`K`-fold
  cross-validation on those rows (``by="rows"``: every row predicted once by a fit that did not see it; the same
  folds for every candidate). A candidate that cannot predict every row (too few rows for its terms, fp32 without
  fp32 rows) or cannot be fitted on all of them is not chosen.
- **shared** -- a model without rows: every model with rows held out in turn (``by="model"``).
- **datasheet** -- a GPU without rows: every GPU with rows held out in turn (``by="gpu"``).

The candidates are the laws that model time as well as energy (:data:`TIMED`), so that an answer's net energy, time and
gross energy come from one model. A candidate's score is the mean of its net-energy, gross-energy and time MAPEs
(:func:`energy_nb.evaluation.metrics.combined_score`; net alone on rows without a latency); the smallest mean
(``rule="mean"``; ``"max"``: the worst group) wins, ties to the earlier candidate. :func:`nested` repeats the whole
choice inside each outer fold (k folds of the rows, or one model or GPU left out), refits the winner on the fold's
training rows and predicts the held-out rows: those errors did not pick the law, so the split-conformal intervals built
from them hold for the procedure that answers. A GPU fold whose training rows hold one GPU only chooses inside by
leave-one-model-out (``inner_by`` says so); the policy (:func:`select`) does not nest a question held out by fewer than
three groups (two GPUs with data): the choice by that fold cannot be repeated without one of them, so its intervals come
from the chosen law's own held-out errors, and say so.

Units: errors in % of the measured energy; interval errors in natural log units.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.cache import cache_dir, write_atomic_bytes
from ..core.errors import UserError
from ..data.schema import ok_rows
from ..laws.registry import REGISTRY, code_version
from .candidates import Candidate, as_candidates
from .metrics import log_errors, score
from .validation import held_out, kfold, predict_rows, scores, splits

#: Question -> (candidates, how they are held out): the one policy of the law that answers.
#: Only laws that model time as well as energy answer (:data:`TIMED`): an answer's net energy, time and gross
#: energy come from one model. The energy-only laws (the paper's, the linear and roofline ones) answer when named. A
#: model with rows of its own is answered by ``ops`` refined on them from the other models' fit, the one candidate
#: whose time the other models' timed rows teach where the model has none (a law fitted on one model's rows alone
#: would take its time from generic priors, which its cross-validation on energy rows cannot see).
POLICY: dict[str, tuple[tuple[str, ...], str]] = {
    "own": (("ops",), "rows"),
    "shared": (("ops", "achieved"), "model"),
    "datasheet": (("ops", "achieved"), "gpu"),
}
#: The laws that predict a run's time as well as its energy (``data/laws.csv``).
TIMED: tuple[str, ...] = tuple(n for n, s in REGISTRY.items() if s.models_time)
K = 5
SEED = 0
BY: tuple[str, ...] = ("rows", "model", "gpu")
RULES: tuple[str, ...] = ("mean", "max")


@dataclass(frozen=True)
class Choice:
    """The outcome of :func:`choose`: the ``best`` candidate (None: none could be chosen, ``why_not`` says why) and
    every candidate's ``table`` (``candidate``, ``law``, ``rows``, ``predicted``, ``mape_pct``, ``worst_pct``,
    ``median_ape_pct``, ``coverage_pct`` of its own interval, ``score_pct``: what the rule ranks, ``eligible``);
    ``groups``: per candidate and held-out group (``by`` model or GPU) the scores of
    :func:`energy_nb.evaluation.validation.scores`."""

    best: Candidate | None
    table: pd.DataFrame
    by: str
    rule: str
    why_not: str = ""
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def score(self) -> dict[str, float]:
        """Every candidate's score (%) by label."""
        return {str(r.candidate): float(r.score_pct) for r in self.table.itertuples()}


def _check(by: str, rule: str) -> None:
    if by not in BY:
        raise UserError(f"unknown fold {by!r}; allowed: {', '.join(BY)}")
    if rule not in RULES:
        raise UserError(f"unknown selection rule {rule!r}; allowed: {', '.join(RULES)}")


def _unusable(c: Candidate, rows: pd.DataFrame) -> str | None:
    """Why ``c`` cannot answer for ``rows`` once fitted on all of them (None: it can)."""
    try:
        law = c.fit(rows)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return str(exc)
    if law.kind == "paper" and "log_F" in law.frozen:
        return ("its rows hold a single FLOPs value (one resolution and step count), so the paper's law cannot say "
                "how energy scales")
    return None


def choose(rows: pd.DataFrame, names, by: str = "rows", rule: str = "mean", common: bool = True, k: int = K,
           seed: int = SEED) -> Choice:
    """The candidate of ``names`` (law names or :class:`Candidate` objects) with the smallest held-out error on the
    ``ok`` rows of ``rows``, held out ``by`` rows (k-fold), model or GPU (see the module docstring). With
    ``common`` (model or GPU folds), rows some candidate cannot predict are left out of every score."""
    _check(by, rule)
    data = ok_rows(rows)
    cands = as_candidates(names, data["model"].astype(str).unique())
    if by == "rows":
        return _choose_rows(data, cands, rule, k, seed)
    t = scores(held_out(data, cands, by=by), common=common)
    agg = t.groupby("candidate")["score_pct"].agg(rule)
    out = []
    for c in cands:
        part = t[t["candidate"] == c.label]
        mean = (lambda col, part=part: float(part[col].mean()) if len(part) else np.nan)
        out.append(dict(candidate=c.label, law=c.law, rows=int(part["rows"].sum()), predicted=int(part["rows"].sum()),
                        mape_pct=mean("mape_pct"), worst_pct=float(part["worst_pct"].max()) if len(part) else np.nan,
                        time_mape_pct=mean("time_mape_pct"), gross_mape_pct=mean("gross_mape_pct"),
                        median_ape_pct=np.nan, coverage_pct=mean("coverage_pct"),
                        score_pct=float(agg.get(c.label, np.inf)), eligible=c.label in agg.index))
    best = min(cands, key=lambda c: float(agg.get(c.label, np.inf)))
    return Choice(best, pd.DataFrame(out), by, rule, groups=t)


def _choose_rows(data: pd.DataFrame, cands: list[Candidate], rule: str, k: int, seed: int) -> Choice:
    try:
        preds = kfold(data, cands, k=k, seed=seed)
    except UserError as exc:
        return Choice(None, pd.DataFrame(), "rows", rule, why_not=f"{len(data)} energy rows: {exc}")
    out = []
    for c in cands:
        part = preds[preds["candidate"] == c.label]
        s = score(part.dropna(subset=["energy_pred_j"]), rule)
        out.append(dict(candidate=c.label, law=c.law, rows=len(part), predicted=s["rows"],
                        **{k: s[k] for k in ("mape_pct", "worst_pct", "time_mape_pct", "gross_mape_pct",
                                             "median_ape_pct", "coverage_pct", "score_pct")},
                        eligible=s["rows"] == len(part)))
    table = pd.DataFrame(out)
    notes = []
    for i in table[table["eligible"]].sort_values("score_pct", kind="stable").index:  # ties: the earlier candidate
        why = _unusable(cands[i], data)
        if why is None:
            return Choice(cands[i], table, "rows", rule)
        table.loc[i, "eligible"] = False
        notes.append(f"{cands[i].label}: {why}")
    unpredicted = [f"{r.candidate} predicts {r.predicted} of {r.rows}" for r in table.itertuples()
                   if r.predicted < r.rows]
    why_not = "; ".join(notes + ([f"under {int(preds['fold'].max()) + 1}-fold cross-validation "
                                   + ", ".join(unpredicted)] if unpredicted else []))
    return Choice(None, table, "rows", rule, why_not=why_not)


# ---------------------------------------------------------------------------------------------------
# The honest measure of a choice: nested
# ---------------------------------------------------------------------------------------------------
def nested(rows: pd.DataFrame, names, by: str = "model", rule: str = "mean", common: bool = True,
           groups=None, k: int = K, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every outer fold (``by`` rows: the :data:`K` folds of :func:`energy_nb.evaluation.validation.kfold`;
    model or GPU: each group left out), the choice of :func:`choose` is made on the fold's training rows alone,
    the winner refitted on all of them and only then asked about the held-out rows, which took no part in the
    choice. Returns one row per outer fold (the choice, ``inner_by``, its inner score, rows scored and not
    predicted, MAPE, worst row, R², Spearman) and the held-out predictions. Kept on disk, keyed by the rows, the
    question and the code, so the book's pages and the laws build ask it once."""
    _check(by, rule)
    data = ok_rows(rows)
    cands = as_candidates(names, data["model"].astype(str).unique())
    path = _path(data, cands, by, rule, common, groups, k, seed)
    try:
        return pd.read_pickle(path)
    except Exception:  # none yet, or unreadable: compute it
        pass
    result = _nested(data, cands, by, rule, common, groups, k, seed)
    write_atomic_bytes(path, pickle.dumps(result))
    return result


def _digest(df: pd.DataFrame) -> str:
    """A digest of a frame's contents (every column, row order included)."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _path(data: pd.DataFrame, cands: list[Candidate], by: str, rule: str, common: bool, groups, k: int,
          seed: int) -> Path:
    key = json.dumps([_digest(data), [repr(c) for c in cands], by, rule, common, list(groups) if groups else None,
                      k, seed, code_version(), pd.__version__])
    return cache_dir() / "nested" / f"{by}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pkl"


def _nested(data: pd.DataFrame, cands: list[Candidate], by: str, rule: str, common: bool, groups, k: int,
            seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    out, preds = [], []
    for g, mask in splits(data, by, groups, k, seed):
        train, test = data[~mask], data[mask]
        inner_by = by if by == "rows" or train[by].nunique() >= 2 else "model"
        inner = choose(train, cands, inner_by, rule, common, k, seed)
        best = inner.best
        if best is None:
            part = test.assign(energy_pred_j=np.nan, pi_low_j=np.nan, pi_high_j=np.nan)
            label = law = conv = None
        else:
            part = predict_rows(best.fit(train), test)
            label, law, conv = best.label, best.law, best.convention
        part["law"], part["convention"], part["candidate"] = law, conv, label
        part["held_out"], part["fold"] = g, by
        preds.append(part)
        s = score(part.dropna(subset=["energy_pred_j"]))
        out.append(dict(held_out=g, law=law, convention=conv, candidate=label, rule=rule, inner_by=inner_by,
                        inner_score_pct=inner.score.get(label, np.nan) if label else np.nan, rows=s["rows"],
                        unpredicted=int(part["energy_pred_j"].isna().sum()),
                        **{key: s[key] for key in ("mape_pct", "worst_pct", "coverage_pct", "r2_log", "r2_linear",
                                                   "mae_j", "spearman", "pearson")}))
    return pd.DataFrame(out), pd.concat(preds, ignore_index=True)


# ---------------------------------------------------------------------------------------------------
# The policy, run: what the laws artifact stores
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """One question answered: the ``choice`` on all the rows and the ``nested`` measure of it (its table and
    predictions); ``errors``: the absolute log errors of the nested predictions, the interval's."""

    question: str
    choice: Choice
    nested_table: pd.DataFrame
    nested_preds: pd.DataFrame
    #: True: every outer fold repeated the choice; False: too few groups for that (see :func:`select`), the errors are
    #: the chosen law's held out the same way
    is_nested: bool = True

    def _scored(self, time: bool = False) -> pd.DataFrame:
        p = self.nested_preds.dropna(subset=["energy_pred_j"])
        if time:
            p = p.dropna(subset=[c for c in ("time_s", "time_pred_s") if c in p]) if "time_pred_s" in p \
                else p.iloc[0:0]
        return p

    @staticmethod
    def _signed(p: pd.DataFrame, time: bool) -> np.ndarray:
        if p.empty:
            return np.zeros(0)
        if time:
            return np.log(p["time_pred_s"].to_numpy(float) / p["time_s"].to_numpy(float))
        return np.log(p["energy_pred_j"].to_numpy(float) / p["energy_j"].to_numpy(float))

    @property
    def errors(self) -> list[float]:
        """Absolute log energy errors of the nested predictions, sorted: the split-conformal interval's."""
        return sorted(log_errors(self._scored()).tolist())

    @property
    def time_errors(self) -> list[float]:
        """Absolute log time errors of the nested predictions with a measured latency, sorted."""
        return sorted(np.abs(self._signed(self._scored(True), True)).tolist())

    def by_group(self, time: bool = False) -> dict[str, list[float]]:
        """Signed log errors (energy, or ``time``) of the nested predictions by outer fold (held-out model, GPU, or
        fold number), in row order: what a by-group interval is built from."""
        p = self._scored(time)
        return {str(g): self._signed(part, time).tolist() for g, part in p.groupby("held_out", sort=True)}


def candidates_for(question: str, rows: pd.DataFrame, pool: pd.DataFrame | None = None) -> list[Candidate]:
    """The candidates of ``question`` for ``rows``. On one model's rows (``own``) with the ``pool`` of every model's,
    ``ops`` is refitted on the model's rows pulled toward the shared ``ops`` fitted on the *other* models (partial
    pooling: what the others teach is the prior, the model's own rows refine it; no row of the model enters the
    prior, so its cross-validation stays honest)."""
    from dataclasses import replace

    from .candidates import candidate

    names, _ = POLICY[question]
    models = ok_rows(rows)["model"].astype(str).unique()
    out = as_candidates(names, models)
    if question == "own" and pool is not None:
        others = ok_rows(pool)
        others = others[~others["model"].astype(str).isin(models)]
        if len(others):
            prior = tuple(sorted(candidate("ops").fit(others).coef.items()))
            out = [replace(c, prior=prior) if c.law == "ops" else c for c in out]
    return out


def select(question: str, rows: pd.DataFrame, pool: pd.DataFrame | None = None) -> Selection:
    """Run the policy for ``question`` (``own``: ``rows`` are one model's, ``pool`` every model's; ``shared`` and
    ``datasheet``: every model's) and measure it nested."""
    if question not in POLICY:
        raise UserError(f"unknown question {question!r}; allowed: {', '.join(POLICY)}")
    _, by = POLICY[question]
    names = candidates_for(question, rows, pool)
    choice = choose(rows, names, by)
    if choice.best is None:
        return Selection(question, choice, pd.DataFrame(), pd.DataFrame(columns=["energy_pred_j", "energy_j"]))
    if by != "rows" and ok_rows(rows)[by].nunique() < 3:
        # with two groups, a fold's training rows hold one: the choice by this fold cannot be repeated inside it
        preds = held_out(rows, [choice.best], by=by)
        return Selection(question, choice, pd.DataFrame(), preds, is_nested=False)
    table, preds = nested(rows, names, by)
    return Selection(question, choice, table, preds)
