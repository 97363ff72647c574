"""The candidate laws, and the one way a law name becomes a candidate.

A :class:`Candidate` is a registry law, the FLOPs convention of its features (for a question about some models: the
paper's printed formulas when every one of them has them, counted FLOPs otherwise) and whether the paper's law is
fitted in its per-image form (with its GPU and batch terms: the form ``predict`` answers with). :func:`candidate`
turns a law name into the candidate every selection uses; the paper-tables chapter also pairs laws with explicit
conventions (:data:`PAPER_CANDIDATES`). Which candidates compete for which question is the selection policy's
(:data:`energy_nb.evaluation.selection.POLICY`).
"""
from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from .. import laws
from ..laws import Law


@dataclass(frozen=True)
class Candidate:
    """A law to validate: registry name, FLOPs convention (None: the law's default for the training rows) and, for
    the paper's law, whether it is fitted per image (with its GPU and batch terms)."""

    law: str
    convention: str | None = None
    per_image: bool = False
    name: str | None = None  #: what tables call it (default: ``law / convention``)
    #: coefficients the fit is pulled toward instead of the law's default priors (``ops`` on one model's rows: the
    #: shared law fitted on the other models), as sorted ``(name, value)`` pairs
    prior: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        """``name``, else ``law / convention`` (``law`` alone without a convention)."""
        return self.name or (f"{self.law} / {self.convention}" if self.convention else self.law)

    def fit(self, train: pd.DataFrame) -> Law:
        """The law fitted on ``train`` (once per candidate and training rows in this process: the nested
        selection meets the same training rows from several outer folds)."""
        key = (self.law, self.convention, self.per_image, self.prior, _quick_digest(train))
        if key not in _FITTED:
            if len(_FITTED) >= _MAX_FITTED:
                _FITTED.pop(next(iter(_FITTED)))
            options = dict(**({"per_image": True} if self.per_image else {}),
                           **({"prior": dict(self.prior)} if self.prior else {}))
            _FITTED[key] = laws.fit(self.law, train, convention=self.convention, **options)
        return _FITTED[key]


#: Fitted candidates by (law, convention, per_image, digest of the training rows), oldest first.
_FITTED: dict[tuple, Law] = {}
_MAX_FITTED = 4096


def _quick_digest(df: pd.DataFrame) -> str:
    """A digest of a frame's values, column by column as Python lists (row order included, index not): for this
    process's memo only, where a spurious difference costs a refit and nothing else."""
    return hashlib.sha256(pickle.dumps((list(map(str, df.columns)), [df[c].tolist() for c in df.columns]),
                                       protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def candidate(name: str, models: Iterable[str] = ()) -> Candidate:
    """The one way a law name becomes a candidate for a question about ``models`` (every model it is fitted on or
    asked about): the paper's law per image (its GPU and batch terms), on the paper's printed formulas when every one
    of ``models`` has them and on counted FLOPs otherwise (:func:`energy_nb.laws.default_convention`); every other
    law on counted FLOPs. Labelled by its name."""
    models = list(models)
    conv = laws.default_convention(name, models) if models else laws.default_convention(name, ["any"])
    return Candidate(name, conv, per_image=name == "paper", name=name)


def as_candidates(items: Iterable[Candidate | str | Sequence[str]], models: Iterable[str] = ()
                  ) -> list[Candidate]:
    """Candidates from :class:`Candidate` objects, law names (:func:`candidate`, for a question about ``models``) or
    ``(law, convention)`` pairs (the paper-tables chapter's form: Eq. 3 as printed, in that convention)."""
    models = list(models)
    out = []
    for c in items:
        if isinstance(c, Candidate):
            out.append(c)
        elif isinstance(c, str):
            out.append(candidate(c, models))
        else:
            law, conv = c
            out.append(Candidate(law, conv))
    return out


#: (law, convention) pairs compared on the paper's A100 tables (page B.1): the paper's law and the simplest baseline in
#: every FLOPs convention, and the baseline with kernel costs on counted FLOPs.
PAPER_CANDIDATES: tuple[Candidate, ...] = (
    *(Candidate(law, conv) for law in ("paper", "linear") for conv in ("paper", "bidirectional", "counted")),
    Candidate("roofline_tc_kernels", "counted"),
)
