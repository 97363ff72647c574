"""energy-nb: predict the GPU energy of text-to-image diffusion inference from its compute.

Modules, one hop from any number in the book:

- :mod:`energy_nb.flops`          analytic FLOPs (paper Tables 3-5, Eq. 1-2)
- :mod:`energy_nb.architectures`  the model registry as data (data/models: 15 models, 9 pipeline classes; --model-config DIR)
- :mod:`energy_nb.counting`       counted FLOPs (and kernels per call) on the meta device
- :mod:`energy_nb.features`       counted FLOPs, kernels, parameters computed once (shipped table + disk cache)
- :mod:`energy_nb.schema`         the one tidy CSV schema for energy records
- :mod:`energy_nb.data`           the shipped energy records and their sha256
- :mod:`energy_nb.mlenergy`       ML.ENERGY leaderboard files (v2, v3) read into the schema
- :mod:`energy_nb.gpus`           GPU part and family names
- :mod:`energy_nb.power`          static and idle power; gross vs net energy
- :mod:`energy_nb.timing`         time per image where measured, and gross energy
- :mod:`energy_nb.crosscheck`     the independent check against ML.ENERGY
- :mod:`energy_nb.laws`           one law interface and the registry of named laws (fit, get, load)
- :mod:`energy_nb.lawbase`        what every law shares: per-image energy, extrapolation flags, JSON
- :mod:`energy_nb.fit`            the paper's scaling law (Eq. 3-4), OLS
- :mod:`energy_nb.physical`       laws beyond the paper (linear in energy, roofline-style)
- :mod:`energy_nb.units`          J, Wh, kWh
- :mod:`energy_nb.validate`       cross-validation, leave-one-model-out, nested selection, metrics
- :mod:`energy_nb.pipelines`      runnable diffusers pipelines from the registry (random or pretrained weights)
- :mod:`energy_nb.measure`        energy meters (CodeCarbon, NVML) and measurement windows
- :mod:`energy_nb.sweep`          resumable, append-only measurement sweeps
- :mod:`energy_nb.carbon`         grid carbon intensity from CodeCarbon's offline data
- :mod:`energy_nb.planner`        energy, carbon and cost of a deployment, with intervals
- :mod:`energy_nb.registry_report` registry models: parameters vs published, FLOPs, defaults, leave-one-model-out
- :mod:`energy_nb.report`         tables the book shows
- :mod:`energy_nb.plots`          figures
"""
__version__ = "0.1.0"
