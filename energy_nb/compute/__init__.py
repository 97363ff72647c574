"""Layer 3, ``compute``: the work of one generation.

Analytic FLOPs of the paper's formulas (:mod:`.flops`), FLOPs, kernels and element-wise traffic counted
on the real diffusers modules on the meta device (:mod:`.counting`), and those counted features
computed once (:mod:`.features`: the shipped table ``data/features/counted.csv`` and a disk cache).

May import: the layers before it (``core``, ``models``).
"""
