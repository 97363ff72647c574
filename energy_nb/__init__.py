"""energy-nb: predict the GPU energy of text-to-image diffusion inference from its compute.

Modules, one hop from any number in the book:

- :mod:`energy_nb.flops`          analytic FLOPs (paper Tables 3-5, Eq. 1-2)
- :mod:`energy_nb.architectures`  registry of the four models' real diffusers configs (full and tiny)
- :mod:`energy_nb.counting`       counted FLOPs on the meta device
- :mod:`energy_nb.schema`         the one tidy CSV schema for energy records
- :mod:`energy_nb.fit`            the scaling law (Eq. 3-4) and ``predict``
- :mod:`energy_nb.validate`       cross-validation and metrics
- :mod:`energy_nb.plots`          figures
"""
__version__ = "0.1.0"
