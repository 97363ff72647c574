"""``parallel``: one image on ``n`` GPUs -- the ``ops`` model of a run (:mod:`energy_nb.laws.ops`) carried to xDiT's
sequence parallelism (:mod:`energy_nb.compute.parallel`), with a few coefficients of its own.

Each of the ``n`` GPUs runs the whole pipeline on its share of the denoiser's tokens
(:func:`energy_nb.compute.parallel.share`: ``1 / n``, more where xDiT keeps the text tokens whole on every GPU): its
GEMM, attention, softmax and element-wise work are the single GPU's times that share (times ``k_shard``), its
weights, kernels and component calls are not (every GPU reads all weights and launches every layer), so the host's
share of the time does not shrink -- it grows, as every step waits for the slowest of ``n`` hosts: host time x
``(1 + sync ln n)``. To that each GPU adds

- **communication** on the GPU: ``k_a2a`` x the ideal time of its Ulysses all-to-all bytes plus ``k_p2p`` x that of
  its Ring block passes, both over half the datasheet's GPU-to-GPU bandwidth (``data/gpus.csv``: the figure counts
  both directions) and times ``(peers / 2)^-peer_exponent``, and ``t_collective_us`` per collective (latency),
  drawing ``p_comm`` x the power limit;
- **kernels**: ``kernels_a2a`` per all-to-all (reshapes, copies, the collective) and ``kernels_ring`` per Ring step
  (a block attention, the merge of its partial result, the send and receive), priced like every kernel by the
  single-GPU law (host and GPU time per kernel);

and its wall time is the smooth maximum of its GPU and host times, as on one GPU. The text encoders, VAE decoder and
per-image host work are not split: one GPU's busy power pays for them while the others wait at static power. Net
energy is summed over the ``n`` GPUs; gross adds ``n`` x idle power x time. At ``n = 1`` every term is zero and the
answer is the single-GPU law's, exactly.

The single-GPU coefficients are those of the ``ops`` law that answers the model on one GPU (its own, or the shared
one); only :data:`TERMS` are fitted here, by least squares on log net energy and log time of rows on several GPUs
(ML.ENERGY v3: FLUX.1-dev and SD3.5-Large on 2-8 H100s), pulled weakly toward their priors. Units: J, s, W, bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import parallel
from ..compute.workload import codes, gpu_name
from ..core.errors import UserError
from ..core.units import BYTES_PER_ELEMENT
from ..models.hardware import get_spec
from ..models.registry import get_model
from . import fitter, physics
from .base import Results, term_table
from .ops import PRIOR_WEIGHT, OpsLaw, ops_features

#: Coefficient -> (prior, lower bound, upper bound, unit, meaning).
TERMS: dict[str, tuple[float, float, float, str, str]] = {
    "k_shard": (1.0, 0.5, 3.0, "x one GPU's", "time of a GPU's share of the denoiser's work over the single GPU's time "
                "for that share (smaller kernels, the parallel runtime's own)"),
    "k_a2a": (2.0, 0.01, 100.0, "x ideal time", "time of Ulysses all-to-alls over bytes / (interconnect / 2)"),
    "k_p2p": (2.0, 0.01, 100.0, "x ideal time", "time of Ring block passes over bytes / (interconnect / 2)"),
    "peer_exponent": (0.1, 1e-3, 2.0, "exponent", "how much faster per byte a collective runs over more peers: its "
                      "time x (peers / 2)^-exponent (NCCL uses more channels and links as peers grow)"),
    "sync": (0.05, 1e-3, 1.0, "x ln(GPUs)", "how much longer the slowest of n hosts takes than one: host time x "
             "(1 + sync ln n)"),
    "t_collective_us": (20.0, 0.1, 2000.0, "us", "GPU time per collective (all-to-all or Ring step) beyond its bytes"),
    "kernels_a2a": (4.0, 0.1, 100.0, "kernels", "kernels launched per all-to-all (reshapes, copies, the collective)"),
    "kernels_ring": (8.0, 0.1, 200.0, "kernels", "kernels launched per Ring step (block attention, merge, send, "
                     "receive)"),
    "p_comm": (0.2, 1e-3, 1.5, "x power limit", "net power per second of communication"),
}
COEFS: tuple[str, ...] = tuple(TERMS)


def split_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``num_gpus``, ``ulysses_degree`` and ``ring_degree`` (1, 1, 1 where absent)."""
    out = df.copy()
    for c in ("num_gpus", "ulysses_degree", "ring_degree"):
        out[c] = out[c].fillna(1).astype(int) if c in out else 1
    return out


def comm_features(df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> pd.DataFrame:
    """Per image of each row, on one of its GPUs: ideal seconds of its all-to-all bytes (``x_a2a``) and Ring passes
    (``x_p2p``) over half its GPU's interconnect bandwidth, and its all-to-alls (``N_a2a``) and Ring steps
    (``N_ring``)."""
    gpu_as = gpu_as or {}
    d = split_columns(df)
    d["gpu_name"] = [gpu_as.get(str(g), gpu_name(g, p)) for g, p in
                     zip(d["gpu"].tolist(), d["gpu_part"].tolist() if "gpu_part" in d else [None] * len(d))]
    d["batched"] = [get_model(str(m)).cfg_batched for m in d["model"].tolist()]
    cols = ["model", "height", "width", "dtype", "gpu_name", "num_gpus", "ulysses_degree", "ring_degree"]
    code, distinct = codes(d, cols, integers=("height", "width", "num_gpus", "ulysses_degree", "ring_degree"))
    per = []  # bytes of one pass and collectives of one call, over half the interconnect: once per distinct split
    for model, h, w, dtype, name, n, u, r in distinct:
        split = parallel.Split(int(n), int(u), int(r))
        if split.num_gpus == 1:
            per.append((0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0))
            continue
        spec = get_spec(name)
        if not spec.interconnect_gb_s:
            raise UserError(f"GPU {spec.name!r} has no interconnect bandwidth (data/gpus.csv, or --gpu-spec "
                            "interconnect_gbs=...): several GPUs per image cannot be priced on it")
        t = parallel.traffic(str(model), h, w, split, BYTES_PER_ELEMENT[str(dtype)])
        per.append((t["a2a_bytes"], t["p2p_bytes"], t["a2a"], t["ring_steps"], spec.interconnect_gb_s * 1e9 / 2.0,
                    float(split.ulysses), float(split.ring)))
    a2a, p2p, n_a2a, n_ring, bw, U, R = (np.array(col, dtype=float)[code] for col in zip(*per))
    cfgf = np.where(d["cfg"].astype(int).to_numpy() != 0, 2.0, 1.0)
    steps = d["steps"].to_numpy(float)
    passes = steps * cfgf  # per image: the bytes grow with the batch
    calls = steps * np.where(d["batched"].to_numpy(bool), 1.0, cfgf) / d["batch_size"].fillna(1).to_numpy(float)
    single = d["num_gpus"].to_numpy() == 1
    return pd.DataFrame(dict(x_a2a=np.where(single, 0.0, passes * a2a / bw),
                             x_p2p=np.where(single, 0.0, passes * p2p / bw), N_a2a=np.where(single, 0.0, calls * n_a2a),
                             N_ring=np.where(single, 0.0, calls * n_ring), U=U, R=R), index=df.index)


def evaluate_job(base: dict[str, float], coef: dict[str, float], X: pd.DataFrame, Xs: pd.DataFrame,
                 Xc: pd.DataFrame, n: np.ndarray) -> dict[str, np.ndarray]:
    """Per image of a job on ``n`` GPUs: :func:`energy_nb.laws.physics.run` of one GPU's share (``X``, with the
    communication of ``Xc`` priced by ``coef``), its net ``energy`` summed over the GPUs (the serial parts ``Xs``
    busy on one of them only), ``time`` (the wall time per image) and ``comm`` (s)."""
    Xj = X.copy()
    wait = 1.0 + coef["sync"] * np.log(n)
    Xj["host_x"] = wait
    split = np.where(n > 1, coef["k_shard"], 1.0)
    for c in ("x_gemm", "x_conv", "x_attn", "x_softmax", "x_memory"):
        Xj[c] = Xs[c] + split * (X[c] - Xs[c])
    Xj["K"] = X["K"] + coef["kernels_a2a"] * Xc["N_a2a"] + coef["kernels_ring"] * Xc["N_ring"]
    g = -coef["peer_exponent"]
    Xj["comm_s"] = (coef["k_a2a"] * Xc["x_a2a"] * (Xc["U"] / 2) ** g + coef["k_p2p"] * Xc["x_p2p"] * (Xc["R"] / 2) ** g
                    + coef["t_collective_us"] * 1e-6 * (Xc["N_a2a"] + Xc["N_ring"]))
    full = {**base, "p_comm": coef["p_comm"]}
    v = physics.run(full, Xj)
    t = v["time"]
    serial = physics.run(full, Xs)["busy_j"] if (n > 1).any() else np.zeros(len(X))
    lead = physics.net_energy(t, v["static_w"], v["busy_j"], v["cap_w"])
    other = physics.net_energy(t, v["static_w"], np.maximum(v["busy_j"] - serial, 0.0), v["cap_w"])
    v["energy"] = lead + (n - 1) * other
    v["gross"] = v["energy"] + n * v["idle"] * t
    return v


@dataclass
class ParallelLaw(Results):
    """The coefficients of several GPUs per image (see the module docstring), on top of an :class:`OpsLaw`, read as
    every fit is (:class:`energy_nb.laws.base.Results`)."""

    coef: dict[str, float]
    name: str = "parallel"
    kind: str = "parallel"
    se_log: dict[str, float] = field(default_factory=dict)
    n_obs: int = 0
    sigma: float = float("nan")  #: in-sample RMS log error of net energy
    time_sigma: float = float("nan")
    models: list[str] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)
    domain: dict[str, Any] = field(default_factory=dict)  #: GPU counts, Ulysses and Ring degrees, batch sizes seen
    provenance: dict[str, Any] = field(default_factory=dict)
    df_resid: float = 1.0  #: energy and time residuals less the coefficients
    r2: float = float("nan")  #: R^2 of log net energy per image
    resid_log: list[float] = field(default_factory=list)  #: ln(measured / fitted net energy) of each row
    fitted_j: list[float] = field(default_factory=list)  #: fitted net energy (J) of each row's prompts

    def table(self) -> pd.DataFrame:
        return term_table(self.coef, {t: v[3] for t, v in TERMS.items()}, {t: v[4] for t, v in TERMS.items()})

    def evaluate(self, base: OpsLaw, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """:func:`evaluate_job` of ``df``'s rows (split columns default to one GPU) on ``base``'s coefficients."""
        d = split_columns(df)
        return evaluate_job(base.coef, self.coef, ops_features(d, gpu_as), ops_features(d, gpu_as, serial_only=True),
                            comm_features(d, gpu_as), d["num_gpus"].to_numpy(float))

    def run_parts(self, base: OpsLaw, df: pd.DataFrame) -> pd.DataFrame:
        """Per image of each job, the :data:`energy_nb.laws.physics.PARTS` of its run summed over its GPUs: GPU and
        host seconds (of one GPU: they run side by side), ``static_w`` and ``cap_w`` of all of them, the busy energy
        ``busy_j`` (the serial parts on one)."""
        v = self.evaluate(base, df)
        n = split_columns(df)["num_gpus"].to_numpy(float)
        busy = v["energy"] - np.minimum(v["static_w"] * v["time"], v["cap_w"] * v["time"]) * n
        return physics.parts(v["gpu"], v["host"], n * v["static_w"], np.maximum(busy, 0.0), n * v["cap_w"], df.index)

    def extrapolation(self, num_gpus: int, ulysses: int, ring: int, batch_size: int, gpu: str,
                      model: str) -> list[str]:
        """Why a split lies outside the rows the coefficients were fitted on (empty: inside)."""
        d = self.domain
        out = []
        if num_gpus > max(d.get("num_gpus", [1])):
            out.append(f"{num_gpus} GPUs: the law's multi-GPU rows reach {max(d['num_gpus'])}")
        for what, v in (("ulysses_degree", ulysses), ("ring_degree", ring)):
            if v not in d.get(what, []):
                out.append(f"{what.replace('_', ' ')} {v}: the law's multi-GPU rows have {d.get(what)}")
        if gpu not in self.gpus:
            out.append(f"{gpu}: the law's multi-GPU rows are on {', '.join(self.gpus)} only (its interconnect is "
                       "priced from the datasheet)")
        if model not in self.models:
            out.append(f"{model}: the law's multi-GPU rows are of {', '.join(self.models)} (its split is priced from "
                       "its counted shapes)")
        b = d.get("batch_size", [1])
        if not min(b) <= batch_size <= max(b):
            out.append(f"batch {batch_size}: the law's multi-GPU rows have batch {min(b)}-{max(b)}")
        return out


def fit_parallel(df: pd.DataFrame, bases: dict[str, OpsLaw], provenance: dict[str, Any] | None = None,
                 prior_weight: float = PRIOR_WEIGHT) -> ParallelLaw:
    """Fit :data:`TERMS` on ``df``'s rows on several GPUs (net energy and time), each priced on top of
    ``bases[model]``'s single-GPU coefficients."""
    d = split_columns(df)
    d = d[d["num_gpus"] > 1].reset_index(drop=True)
    missing = sorted(set(d["model"].astype(str)) - set(bases))
    if d.empty or missing:
        raise UserError("no rows on several GPUs to fit the parallel law on" if d.empty
                        else f"no single-GPU ops law for {', '.join(missing)}")
    parts = []
    for m, g in d.groupby("model", sort=True):
        parts.append((bases[str(m)].coef, ops_features(g), ops_features(g, serial_only=True), comm_features(g),
                      g["num_gpus"].to_numpy(float), np.log(g["energy_j"].to_numpy(float) / g["n_prompts"].to_numpy(
                          float)), np.log(g["time_s"].to_numpy(float))))
    lo, hi = np.log([TERMS[c][1] for c in COEFS]), np.log([TERMS[c][2] for c in COEFS])
    mid = np.log([TERMS[c][0] for c in COEFS])

    def blocks(theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        coef = dict(zip(COEFS, np.exp(theta)))
        out = []
        for base, X, Xs, Xc, n, y, yt in parts:
            v = evaluate_job(base, coef, X, Xs, Xc, n)
            out.append((np.log(v["energy"]) - y, np.log(v["time"]) - yt))
        return out

    def resid(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([x for pair in blocks(theta) for x in pair])

    sol = fitter.solve(resid, mid, lo, hi, pull=mid, weight=prior_weight)
    coef = {c: float(x) for c, x in zip(COEFS, np.exp(sol.x))}
    r = resid(sol.x)
    m = len(d)
    e = np.concatenate([b[0] for b in blocks(sol.x)])
    t = np.concatenate([b[1] for b in blocks(sol.x)])
    y = np.concatenate([p[5] for p in parts])
    n = np.concatenate([g["n_prompts"].to_numpy(float) for _, g in d.groupby("model", sort=True)])
    dof = max(len(r) - len(COEFS), 1)
    se = fitter.jacobian_se(sol.jac, float(r @ r / dof))
    dom = {c: sorted(int(x) for x in d[c].unique()) for c in ("num_gpus", "ulysses_degree", "ring_degree",
                                                                "batch_size")}
    return ParallelLaw(coef=coef, se_log=dict(zip(COEFS, map(float, se))), n_obs=m,
                       sigma=float(math.sqrt(e @ e / m)), time_sigma=float(math.sqrt(t @ t / m)),
                       models=sorted(d["model"].astype(str).unique()), gpus=sorted(d["gpu"].astype(str).unique()),
                       domain=dom, provenance=provenance or {}, df_resid=float(dof), r2=fitter.r_squared(y, e),
                       resid_log=[float(x) for x in -e], fitted_j=[float(x) for x in np.exp(y + e) * n])
