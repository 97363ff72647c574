"""energy-nb: predict the GPU energy of text-to-image diffusion inference from its compute.

Use it from Python (the same answers as the command line, see the book's page "Use it from Python")::

    import energy_nb
    p = energy_nb.predict("flux", 1024, 1024, steps=30, cfg=True, gpu="A100")
    p.per_image_wh, p.interval_wh, p.extrapolation        # net energy per image, its 95% interval
    energy_nb.plan("sdxl", 1024, 1024, steps=30, images_per_day=1e6, country="FRA").to_frame()
    energy_nb.flops("sd2", 768, 768, steps=25, cfg=True).total
    energy_nb.fit("paper", models=["flux"]).summary()
    energy_nb.records("paper")                         # the energy records, one tidy schema

The package is organised by layer, each importing only the layers before it:

1. :mod:`energy_nb.core`        paths, units, provenance, versions, strict JSON, errors, statistics, cache
2. :mod:`energy_nb.models`      the model registry, building replicas, GPU hardware, the one Configuration
3. :mod:`energy_nb.compute`     analytic FLOPs, FLOPs counted on the meta device, counted features
4. :mod:`energy_nb.data`     the record schema, shipped data, the paper's tables, ML.ENERGY, gross and net
5. :mod:`energy_nb.laws`        the law protocol and registry: the paper's, physical, datasheet-priced, time
6. :mod:`energy_nb.evaluation`  one validation engine, the independent cross-check, registry tables
7. :mod:`energy_nb.measurement` pipelines, meters, grids, the append-only log, sweeps, shards and executors
8. :mod:`energy_nb.planning`    one prediction, deployment plans, carbon, the book's calculator
9. :mod:`energy_nb.api`         the public functions above
10. :mod:`energy_nb.book`       how the book shows results: tables, figures, findings, the build
11. :mod:`energy_nb.cli`        the command line ``energy-nb`` (one module per command group)
"""
from __future__ import annotations

from typing import Any

from .core.versions import __version__

#: The public API, imported on first use (so that ``import energy_nb`` stays light).
__all__ = ["__version__", "Configuration", "Prediction", "Plan", "predict", "plan", "flops", "fit", "law", "records",
           "registry", "gpus"]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'energy_nb' has no attribute {name!r}")
