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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..compute import parallel
from ..core.errors import UserError
from ..core.frames import rows as frame_rows
from ..core.units import BYTES_PER_ELEMENT
from ..models.hardware import get_spec
from ..models.registry import get_model
from .ops import PRIOR_WEIGHT, OpsLaw, evaluate, ops_features
from .transfer import _gpu_name

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
    out = []
    for r in frame_rows(split_columns(df), ("model", "height", "width", "steps", "cfg", "dtype", "gpu", "num_gpus",
                                             "ulysses_degree", "ring_degree", "batch_size")):
        split = parallel.Split(int(r.num_gpus), int(r.ulysses_degree), int(r.ring_degree))
        if split.num_gpus == 1:
            out.append(dict(x_a2a=0.0, x_p2p=0.0, N_a2a=0.0, N_ring=0.0, U=1.0, R=1.0))
            continue
        spec = get_spec(gpu_as.get(str(r.gpu), _gpu_name(r)))
        if not spec.interconnect_gb_s:
            raise UserError(f"GPU {spec.name!r} has no interconnect bandwidth (data/gpus.csv, or --gpu-spec "
                            "interconnect_gbs=...): several GPUs per image cannot be priced on it")
        t = parallel.traffic(str(r.model), int(r.height), int(r.width), split, BYTES_PER_ELEMENT[str(r.dtype)])
        cfgf = 2.0 if int(r.cfg) else 1.0
        passes = float(r.steps) * cfgf  # per image: the bytes grow with the batch
        batched = get_model(str(r.model)).cfg_batched
        calls = float(r.steps) * (1.0 if batched else cfgf) / float(r.batch_size or 1)  # collectives: per call
        bw = spec.interconnect_gb_s * 1e9 / 2.0
        out.append(dict(x_a2a=passes * t["a2a_bytes"] / bw, x_p2p=passes * t["p2p_bytes"] / bw, N_a2a=calls * t["a2a"],
                        N_ring=calls * t["ring_steps"], U=float(split.ulysses), R=float(split.ring)))
    return pd.DataFrame(out, index=df.index)


def evaluate_job(base: dict[str, float], coef: dict[str, float], X: pd.DataFrame, Xs: pd.DataFrame,
                 Xc: pd.DataFrame, n: np.ndarray) -> dict[str, np.ndarray]:
    """Per image of a job on ``n`` GPUs: :func:`energy_nb.laws.ops.evaluate` of one GPU's share (``X``, with the
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
    v = evaluate(full, Xj)
    t = v["time"]
    serial = evaluate(full, Xs)["busy_j"] if (n > 1).any() else np.zeros(len(X))
    lead = np.minimum(v["static_w"] * t + v["busy_j"], v["cap_w"] * t)
    other = np.minimum(v["static_w"] * t + np.maximum(v["busy_j"] - serial, 0.0), v["cap_w"] * t)
    v["energy"] = lead + (n - 1) * other
    v["gross"] = v["energy"] + n * v["idle"] * t
    return v


@dataclass
class ParallelLaw:
    """The coefficients of several GPUs per image (see the module docstring), on top of an :class:`OpsLaw`."""

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParallelLaw:
        return cls(**d)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([dict(parameter=t, value=v, unit=TERMS[t][3], meaning=TERMS[t][4])
                             for t, v in self.coef.items()]).set_index("parameter")

    def evaluate(self, base: OpsLaw, df: pd.DataFrame, gpu_as: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """:func:`evaluate_job` of ``df``'s rows (split columns default to one GPU) on ``base``'s coefficients."""
        d = split_columns(df)
        return evaluate_job(base.coef, self.coef, ops_features(d, gpu_as), ops_features(d, gpu_as, serial_only=True),
                            comm_features(d, gpu_as), d["num_gpus"].to_numpy(float))

    def energy_parts(self, base: OpsLaw, df: pd.DataFrame) -> pd.DataFrame:
        """Per image of each job, the form every timed law shares (:meth:`OpsLaw.energy_parts`), summed over its GPUs:
        GPU and host seconds (of one GPU: they run side by side), ``static_w`` and ``cap_w`` of all of them, the busy
        energy ``busy_j`` (the serial parts on one)."""
        v = self.evaluate(base, df)
        n = split_columns(df)["num_gpus"].to_numpy(float)
        busy = v["energy"] - np.minimum(v["static_w"] * v["time"], v["cap_w"] * v["time"]) * n
        return pd.DataFrame(dict(t_gpu_s=v["gpu"], t_host_s=v["host"], static_w=n * v["static_w"],
                                 busy_j=np.maximum(busy, 0.0), cap_w=n * v["cap_w"]), index=df.index)

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
    from scipy import optimize

    from .physical import jacobian_se

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

    def resid(theta: np.ndarray) -> np.ndarray:
        coef = dict(zip(COEFS, np.exp(theta)))
        out = []
        for base, X, Xs, Xc, n, y, yt in parts:
            v = evaluate_job(base, coef, X, Xs, Xc, n)
            out += [np.log(v["energy"]) - y, np.log(v["time"]) - yt]
        return np.concatenate(out + [prior_weight * (theta - mid)])

    sol = optimize.least_squares(resid, mid, bounds=(lo, hi), method="trf")
    coef = {c: float(x) for c, x in zip(COEFS, np.exp(sol.x))}
    r = resid(sol.x)[:-len(COEFS)]
    m = len(d)
    e = np.concatenate([r[i:i + k] for i, k in _blocks(parts)])
    t = np.concatenate([r[i + k:i + 2 * k] for i, k in _blocks(parts)])
    se = jacobian_se(sol.jac, float(r @ r / max(len(r) - len(COEFS), 1)))
    dom = {c: sorted(int(x) for x in d[c].unique()) for c in ("num_gpus", "ulysses_degree", "ring_degree",
                                                                "batch_size")}
    return ParallelLaw(coef=coef, se_log=dict(zip(COEFS, map(float, se))), n_obs=m,
                       sigma=float(math.sqrt(e @ e / m)), time_sigma=float(math.sqrt(t @ t / m)),
                       models=sorted(d["model"].astype(str).unique()), gpus=sorted(d["gpu"].astype(str).unique()),
                       domain=dom, provenance=provenance or {})


def _blocks(parts: list[tuple]) -> list[tuple[int, int]]:
    """(start, rows) of each model's block in the residual vector (energy then time)."""
    out, i = [], 0
    for p in parts:
        k = len(p[-1])
        out.append((i, k))
        i += 2 * k
    return out
