"""The same fitted numbers on every x86-64 machine: the BLAS kernels and numpy's SIMD code paths a build uses.

OpenBLAS (numpy's and scipy's) picks its kernels by CPU, and numpy dispatches ``exp`` and ``log`` to AVX-512 code where
the CPU has it. Each choice is exact to the last bits, but a fit by nonlinear least squares amplifies last bits: the
laws artifact rebuilt on an AMD EPYC (AVX2) differed from the one built on a CPU with AVX-512 in 984 numbers by more
than 1e-6 (up to 1e-4 in held-out errors). :data:`ENV` pins the kernels every x86-64 CPU since 2013 runs (Haswell's,
one BLAS thread) and switches numpy's AVX-512 paths off, so ``energy-nb laws build`` and ``check`` give one artifact
everywhere. It takes effect only when set before numpy is loaded: ``make`` exports it, and the two commands rerun
themselves with it when it is missing (:func:`missing`).
"""
from __future__ import annotations

import os
import platform

#: Environment of a reproducible build on x86-64 (other architectures: nothing to pin).
ENV: dict[str, str] = {
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
}


def pinned_env() -> dict[str, str]:
    """What :data:`ENV` sets on this machine (empty off x86-64)."""
    return dict(ENV) if platform.machine().lower() in ("x86_64", "amd64") else {}


def missing() -> dict[str, str]:
    """The variables of :func:`pinned_env` this process was not started with (empty: its numbers are reproducible)."""
    return {k: v for k, v in pinned_env().items() if os.environ.get(k) != v}
