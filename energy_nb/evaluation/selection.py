"""The selection policy: which law answers which question, chosen on held-out rows, with intervals from errors
that took no part in the choice. Run at build time (``energy-nb laws build``); ``predict`` reads its output.

Three questions (:data:`POLICY`), one function that chooses (:func:`choose`) and one that measures the choice
honestly (:func:`nested`):

- **own** -- a model with energy rows of its own: its candidates, each fitted on the model's rows alone, scored by
  :data:`K`-fold cross-validation on those rows (``by="rows"``: every row predicted once by a fit that did not see
  it; the same folds for every candidate). A candidate that cannot predict every row (too few rows for its terms,
  fp32 without fp32 rows) or cannot be fitted on all of them (the paper's law on rows of a single FLOPs value) is
  not chosen.
- **shared** -- a model without rows: every model with rows held out in turn (``by="model"``).
- **datasheet** -- a GPU without rows: every GPU with rows held out in turn (``by="gpu"``), among the laws that
  price any GPU from its datasheet.

Scores are mean absolute percentage errors; the smallest mean (``rule="mean"``; ``"max"``: the worst group) wins,
ties to the earlier candidate. :func:`nested` repeats the whole choice inside each outer fold (k folds of the rows,
or one model or GPU left out), refits the winner on the fold's training rows and predicts the held-out rows: those
errors did not pick the law, so the split-conformal intervals built from them hold for the procedure that answers.
A GPU fold whose training rows hold one GPU only chooses inside by leave-one-model-out (``inner_by`` says so); the
policy (:func:`select`) does not nest a question held out by fewer than three groups (two GPUs with data): the choice
by that fold cannot be repeated without one of them, so its intervals come from the chosen law's own held-out errors,
and say so.

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
from ..laws.registry import code_version
from ..laws.transfer import TRANSFER_LAWS
from .candidates import Candidate, as_candidates
from .metrics import ape, coverage_pct, log_errors, metrics
from .validation import _groups, fold_ids, held_out, kfold, predict_rows, scores

#: Question -> (candidates, how they are held out): the one policy of the law that answers.
POLICY: dict[str, tuple[tuple[str, ...], str]] = {
    "own": (("paper", "overhead", "roofline", "roofline_tc_kernels"), "rows"),
    "shared": (("paper", "linear", "roofline_tc_kernels", "datasheet", "datasheet_ops", "power_time", "achieved"),
               "model"),
    "datasheet": (TRANSFER_LAWS, "gpu"),
}
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
    if law.kind == "paper" and "log_F" in law.dropped:
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
    agg = t.groupby("candidate")["mape_pct"].agg(rule)
    out = []
    for c in cands:
        part = t[t["candidate"] == c.label]
        out.append(dict(candidate=c.label, law=c.law, rows=int(part["rows"].sum()), predicted=int(part["rows"].sum()),
                        mape_pct=float(agg.get(c.label, np.inf)) if rule == "mean" else float(part["mape_pct"].mean()),
                        worst_pct=float(part["worst_pct"].max()) if len(part) else np.nan,
                        median_ape_pct=np.nan, coverage_pct=float(part["coverage_pct"].mean()) if len(part) else np.nan,
                        score_pct=float(agg.get(c.label, np.inf)), eligible=c.label in agg.index))
    table = pd.DataFrame(out)
    best = min(cands, key=lambda c: float(agg.get(c.label, np.inf)))
    return Choice(best, table, by, rule, groups=t)


def _choose_rows(data: pd.DataFrame, cands: list[Candidate], rule: str, k: int, seed: int) -> Choice:
    try:
        preds = kfold(data, cands, k=k, seed=seed)
    except UserError as exc:
        return Choice(None, pd.DataFrame(), "rows", rule, why_not=f"{len(data)} energy rows: {exc}")
    out = []
    for c in cands:
        part = preds[preds["candidate"] == c.label]
        ok = part.dropna(subset=["energy_pred_j"])
        e = ape(ok) if len(ok) else pd.Series(dtype=float)
        score = float(e.agg(rule)) if len(e) else float("nan")
        out.append(dict(candidate=c.label, law=c.law, rows=len(part), predicted=len(ok),
                        mape_pct=float(e.mean()) if len(e) else float("nan"),
                        worst_pct=float(e.max()) if len(e) else float("nan"),
                        median_ape_pct=float(e.median()) if len(e) else float("nan"), coverage_pct=coverage_pct(ok),
                        score_pct=score, eligible=len(ok) == len(part)))
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


def _outer(data: pd.DataFrame, by: str, groups, k: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(name, held-out mask) of every outer fold."""
    if by == "rows":
        fold = fold_ids(len(data), k, seed)
        return [(str(f), fold == f) for f in range(int(fold.max()) + 1)]
    col = data[by].astype(str).to_numpy()
    return [(g, col == g) for g in (list(groups) if groups is not None else _groups(data, by))]


def _nested(data: pd.DataFrame, cands: list[Candidate], by: str, rule: str, common: bool, groups, k: int,
            seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    out, preds = [], []
    for g, mask in _outer(data, by, groups, k, seed):
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
        scored = part.dropna(subset=["energy_pred_j"])
        m = metrics(scored["energy_j"], scored["energy_pred_j"]) if len(scored) else {}
        e = ape(scored)
        out.append(dict(held_out=g, law=law, convention=conv, candidate=label, rule=rule, inner_by=inner_by,
                        inner_score_pct=inner.score.get(label, np.nan) if label else np.nan, rows=len(scored),
                        unpredicted=int(part["energy_pred_j"].isna().sum()),
                        mape_pct=float(e.mean()) if len(e) else np.nan, worst_pct=float(e.max()) if len(e) else np.nan,
                        coverage_pct=coverage_pct(scored),
                        **{key: m.get(key, np.nan) for key in ("r2_log", "r2_linear", "mae_j", "spearman",
                                                                "pearson")}))
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

    @property
    def errors(self) -> list[float]:
        return sorted(log_errors(self.nested_preds.dropna(subset=["energy_pred_j"])).tolist())

    @property
    def errors_by_group(self) -> dict[str, list[float]]:
        """The same errors by outer fold (held-out model, GPU, or fold number), in row order."""
        p = self.nested_preds.dropna(subset=["energy_pred_j"])
        if p.empty:
            return {}
        return {str(g): log_errors(part).tolist() for g, part in p.groupby("held_out", sort=True)}


def select(question: str, rows: pd.DataFrame) -> Selection:
    """Run the policy for ``question`` (``own``: ``rows`` are one model's; ``shared`` and ``datasheet``: every
    model's) and measure it nested."""
    if question not in POLICY:
        raise UserError(f"unknown question {question!r}; allowed: {', '.join(POLICY)}")
    names, by = POLICY[question]
    choice = choose(rows, names, by)
    if choice.best is None:
        return Selection(question, choice, pd.DataFrame(), pd.DataFrame(columns=["energy_pred_j", "energy_j"]))
    if by != "rows" and ok_rows(rows)[by].nunique() < 3:
        # with two groups, a fold's training rows hold one: the choice by this fold cannot be repeated inside it
        preds = held_out(rows, [choice.best], by=by)
        return Selection(question, choice, pd.DataFrame(), preds, is_nested=False)
    table, preds = nested(rows, names, by)
    return Selection(question, choice, table, preds)
