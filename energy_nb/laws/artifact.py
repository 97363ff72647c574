"""The laws artifact: every law that answers, fitted once at build time, read when a question is asked.

``energy-nb laws build`` (:mod:`energy_nb.evaluation.build`, run by ``make book`` and the identity script) fits
every law on the shipped data, runs the selection (:mod:`energy_nb.evaluation.selection`), computes the held-out
errors the intervals use, and writes ``energy_nb/artifacts/laws.json``, committed and shipped in the wheel. This
module reads it: ``predict``, ``plan``, the calculator and the book answer from it and never fit, count a
shipped configuration or cross-validate.

What it holds (strict JSON, ``format`` :data:`FORMAT`):

- ``version`` (a digest of everything below but the build metadata: what a calibration records), ``data``
  (sha256 of the records it was fitted on and their files; ``read``: the files of ``data/`` the build read, what an
  answer names as its source), ``code_version``, ``libraries``;
- ``laws``: every fitted law by key (``paper (flux)``: the paper's law on one model's rows; ``roofline``: a law
  shared by every model), coefficients, domain and provenance as ``Law.to_dict()`` writes them; ``unfitted``:
  the laws that could not be fitted, with the reason;
- ``selections``: per model with energy rows, the law its own rows chose (k-fold), with every candidate's
  scores, or why none could be chosen; the shared law (leave one model out) and the law for GPUs without data
  (leave one GPU out) with their scores; each with the key of its interval;
- ``intervals``: log errors of energy and time of held-out predictions made by the selection *and* the fit without
  the rows predicted (nested), absolute and signed by held-out group, and how they were obtained;
- ``levels``: the held-out errors of every level of the unknown (:mod:`energy_nb.evaluation.levels`), each level's
  spread within and between groups per quantity and each model's own, from which every answer's interval is composed
  (:mod:`energy_nb.laws.levels`); ``coverage``: how those intervals held on the groups left out
  (:mod:`energy_nb.evaluation.coverage`, ``energy-nb laws coverage``);
- ``answers``: per registry model and GPU family, the law that answers, why, and its interval (what
  :meth:`Artifact.answer` gives; any other GPU name is routed the same way when asked);
- ``gpu_parts``: per GPU family with data, the parts of ``data/gpus.csv`` its rows were measured on (a question about
  one of them is answered as the family);
- ``parallel``: the law for several GPUs per image (:mod:`energy_nb.laws.parallel`), the single-GPU law of each
  model it was fitted on, its in-sample and held-out errors (:mod:`energy_nb.evaluation.parallel`) and the errors its
  intervals come from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import paths, provenance
from ..core.errors import UserError
from .registry import Law, conventions, from_dict, spec

#: The artifact's schema version: a reader refuses another.
FORMAT = 5


@dataclass(frozen=True)
class Interval:
    """Held-out errors of a selection (read by :mod:`energy_nb.evaluation.intervals`): absolute log errors of
    energy and time, signed ones by held-out group, whether the interval is by group, and how they were obtained."""

    errors: tuple[float, ...]
    how: str
    groups: dict[str, list[float]]
    time_errors: tuple[float, ...] = ()
    time_groups: dict[str, list[float]] | None = None
    by_group: bool = False
    time_by_group: bool = False  #: the time interval by group (a model never timed), whatever ``by_group`` says



class Artifact:
    """The laws artifact read back (see the module docstring). Laws are built from their entries on first use."""

    def __init__(self, data: dict[str, Any], path: Path | str = "") -> None:
        if data.get("format") != FORMAT:
            raise UserError(f"the laws artifact {path} has format {data.get('format')!r}; this energy-nb reads "
                            f"format {FORMAT}: rebuild it with `energy-nb laws build`")
        self.data = data
        self.path = str(path)
        self._laws: dict[str, Law] = {}
        from ..core.stats import KNOWN_QUANTILES

        KNOWN_QUANTILES.update({(float(q), float(df)): float(v) for q, df, v in data.get("t_quantiles", [])})

    # -- what it is -----------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        """A digest of the laws, selections, intervals and answers: what a calibration records."""
        return str(self.data["version"])

    def gpu_version(self, gpu: str) -> str:
        """A digest of what answers on ``gpu`` (its family, or a part of it): for every model, the law and interval
        that answer there, their coefficients and errors (not their provenance). What a calibration against ``gpu``
        records: a change anywhere else (a new GPU, a refit that leaves these numbers) keeps it valid."""
        import hashlib

        keys = sorted({self.route(m, gpu)[:2] for m in self.data["answers"]}, key=str)
        body = [[k, {f: v for f, v in self.data["laws"][k].items() if f != "provenance"},
                 self.data["intervals"].get(i)] for k, i in keys]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def data_sha256(self) -> str:
        return str(self.data["data"]["sha256"])

    @property
    def code_version(self) -> str:
        return str(self.data["code_version"])

    def describe(self) -> dict[str, Any]:
        """Version, data digest, code version, library versions, counts of laws and answers (JSON-safe)."""
        d = self.data
        return dict(path=self.path, format=d["format"], version=self.version, data_sha256=self.data_sha256,
                    data_files=d["data"]["files"], code_version=self.code_version, libraries=d["libraries"],
                    laws=len(d["laws"]), own=sorted(m for m, s in d["selections"]["own"].items() if s["law"]),
                    shared=self.shared_name, datasheet=self.datasheet_name)

    # -- laws and intervals ---------------------------------------------------------------------------
    def law(self, key: str) -> Law:
        """The fitted law stored under ``key``."""
        if key not in self._laws:
            try:
                entry = self.data["laws"][key]
            except KeyError:
                raise UserError(f"the laws artifact holds no law {key!r}") from None
            self._laws[key] = from_dict(entry)
        return self._laws[key]

    def interval(self, key: str) -> Interval:
        d = self.data["intervals"][key]
        return Interval(tuple(d["errors"]), d["how"], d["groups"], tuple(d["time_errors"]), d["time_groups"],
                        bool(d["by_group"]), bool(d.get("time_by_group", d["by_group"])))

    def composite(self, model: str, gpu: str | None, interval: str | None, num_gpus: int = 1):
        """The levels an answer for ``model`` on ``gpu`` crosses, by the interval key of its route (``own:MODEL``: the
        model's rows, and the lab level where all of them on that GPU are the paper's, net of idle; ``shared``: a
        model without data, or of a family without data; ``datasheet``: a GPU without data, over the model's rows
        where it has some), and on
        several GPUs per image the split level (its spread within a model only, where the parallel law was fitted on
        the model's rows)
        (:class:`energy_nb.laws.levels.Composite`)."""
        from .levels import composite

        lv = self.data["levels"]
        own = lv["own"].get(model)
        family = lv["families"].get(model)
        unseen = "model" if family is None or family in lv["families_with_data"] else "family"
        crossed: list[str] = []
        if interval is not None and interval.startswith("own:"):
            if lv["labs"].get(model, {}).get(gpu or "", []) == ["paper"]:
                crossed.append("source")
        elif interval == "shared":
            own = None
        else:
            crossed.append("gpu")
        if num_gpus > 1:  # the split's spread over configurations, and its shift where the architecture has no rows
            crossed.append("split" if model not in lv["parallel_models"] else "split within")
        return composite(lv["fits"], own, crossed, f"the rows of {model}", unseen)

    @property
    def shared_name(self) -> str:
        """The law that answers for a model without energy rows of its own (chosen by leave-one-model-out)."""
        return str(self.data["selections"]["shared"]["law"])

    @property
    def datasheet_name(self) -> str:
        """The law that answers for a GPU without energy data (chosen by leave-one-GPU-out)."""
        return str(self.data["selections"]["datasheet"]["law"])

    def own(self, model: str) -> dict[str, Any] | None:
        """The selection on ``model``'s own rows (law key or None, rows, GPUs, scores, reason), None without rows."""
        return self.data["selections"]["own"].get(model)

    def family(self, model: str) -> str:
        """The registry law that answers for ``model`` where its own rows hold the GPU: the one chosen on them, else
        the shared law."""
        own = self.own(model)
        return own["family"] if own is not None and own["family"] else self.shared_name

    def named(self, name: str, model: str | None = None, convention: str | None = None) -> Law:
        """The law ``name`` as asked (``--law NAME``): per model for the paper's law, shared otherwise."""
        s = spec(name)
        key = name
        if s.per_model:
            if model is None:
                raise UserError(f"law {name!r} is fitted per model: say which model")
            from ..models.registry import get_model

            model = get_model(model).key
            key = f"{name} ({model})"
            if key in self.data.get("unfitted", {}):
                raise UserError(self.data["unfitted"][key])
            if key not in self.data["laws"]:
                raise UserError(f"law {name!r} is fitted per model and the shipped data (data/) has no energy rows "
                                f"of {model!r}; use a shared physical law, which predicts any registry model from "
                                f"its counted features (e.g. --law {self.shared_name})")
        law = self.law(key)
        if convention is not None and convention not in conventions(name):
            raise UserError(f"law {name!r} prices counted FLOPs by kind: use convention 'counted'")
        if convention is not None and convention != law.convention:
            raise UserError(f"law {key!r} is shipped fitted on {law.convention} FLOPs, not {convention}: fit it in "
                            f"that convention with `energy-nb fit --law {name} --convention {convention} --out "
                            "law.json` and answer with --law-file law.json")
        return law

    # -- the law that answers -------------------------------------------------------------------------
    def route(self, model: str, gpu: str | None, gpu_as: dict[str, str] | None = None
              ) -> tuple[str, str | None, str]:
        """``(law key, interval key, reason)`` of the law that answers for ``model`` on ``gpu``: the law chosen on
        the model's own rows when they hold the GPU (or ``gpu_as`` maps it to one of theirs); else the shared law
        when its rows hold the GPU; else the law chosen for GPUs without data, which any GPU with a datasheet
        entry can be priced by. The builder fills :meth:`answer`'s table with this same function."""
        from ..models.hardware import get_spec

        mapped = (gpu_as or {}).get(gpu, gpu) if gpu else None
        own = self.own(model)
        why = ""
        if own is not None and own["law"] is not None:
            if mapped is None or mapped in own["gpus"]:
                return own["law"], own.get("interval"), own["reason"]
            why = f"{model}'s own rows hold no {gpu} measurement"
        elif own is not None:
            why = own["why_not"]
        else:
            why = f"the shipped data (data/) has no energy rows of {model!r}"
        shared = self.data["selections"]["shared"]
        if mapped is None or mapped in self.law(shared["law"]).gpus:
            return shared["law"], shared.get("interval"), f"{why}: {shared['reason']}"
        get_spec(mapped)  # a GPU without a datasheet: a clear error naming the known ones
        sheet = self.data["selections"]["datasheet"]
        return sheet["law"], sheet.get("interval"), f"GPU {gpu} has no energy data: {sheet['reason']}"

    def answer(self, model: str, gpu: str | None, gpu_as: dict[str, str] | None = None) -> tuple[Law, str]:
        """The law that answers for ``model`` on ``gpu`` with its held-out interval, and why (see :meth:`route`)."""
        entry = None if gpu_as else self.data["answers"].get(model, {}).get(gpu or "")
        key, interval, reason = ((entry["law"], entry["interval"], entry["reason"]) if entry is not None
                                 else self.route(model, gpu, gpu_as))
        from .levels import ComposedLaw

        return ComposedLaw(self.law(key), self.composite(model, (gpu_as or {}).get(gpu, gpu) if gpu else gpu,
                                                         interval)), reason


    def gpu_with_data(self, gpu: str | None) -> tuple[str | None, str]:
        """``gpu`` as the laws know it, and a note when it changed: a part of ``data/gpus.csv`` that a family's rows
        were measured on is that family (``H100-80GB-HBM3`` -> ``H100``); any other name is itself."""
        for family, parts in self.data.get("gpu_parts", {}).items():
            if gpu in parts:
                return family, (f"the {family} rows were measured on {' and '.join(parts)}: {gpu} is answered as "
                                f"{family}")
        return gpu, ""

    def coverage(self):
        """The coverage report built with the artifact (:mod:`energy_nb.evaluation.coverage`) as a frame."""
        import pandas as pd

        if "coverage" not in self.data:
            raise UserError(f"the laws artifact {self.path} holds no coverage report: rebuild it with "
                            "`energy-nb laws build`")
        return pd.DataFrame(self.data["coverage"])

    # -- several GPUs per image ------------------------------------------------------------------------
    def parallel_base(self, model: str, gpu: str | None, gpu_as: dict[str, str] | None = None) -> tuple[str, str]:
        """``(law key, reason)`` of the ``ops`` law a job on several GPUs takes its single-GPU part from: the law that
        answers ``model`` on ``gpu`` (:meth:`route`) when it is an ``ops`` law, else the shared ``ops`` law."""
        key, _, why = self.route(model, gpu, gpu_as)
        if self.data["laws"][key]["kind"] == "ops":
            return key, why
        return "ops", f"the shared ops law (the law that answers on one GPU, {key!r}, does not model time by kind)"

    def parallel(self):
        """The law for several GPUs per image (:class:`energy_nb.laws.parallel.ParallelLaw`) and its entry (held-out
        errors, the interval's errors and how they were obtained)."""
        from .parallel import ParallelLaw

        entry = self.data.get("parallel")
        if entry is None:
            raise UserError(f"the laws artifact {self.path} holds no law for several GPUs per image: rebuild it with "
                            "`energy-nb laws build`")
        return ParallelLaw(**entry["law"]), entry


@provenance.cache(maxsize=1)
def current() -> Artifact:
    """The artifact this package answers with (``energy_nb/artifacts/laws.json``), read once per process."""
    path = paths.LAWS_ARTIFACT
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"the laws artifact {path} is missing: build it with `energy-nb laws build` (in a "
                        "checkout: make book)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the laws artifact {path}: {exc}") from exc
    provenance.note_relative(*(f.removeprefix("data/") for f in data.get("data", {}).get("read", [])))
    return Artifact(data, path)
