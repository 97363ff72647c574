"""Layer 3, ``compute``: the work of one generation.

Analytic FLOPs of the paper's formulas (:mod:`.flops`), FLOPs, kernels, element-wise traffic and the shapes of the
work counted on the real diffusers modules on the meta device (:mod:`.counting`), those counted features computed
once (:mod:`.features`: the shipped table ``data/features/counted.csv`` and a disk cache), and what the shapes cost
on a GPU's kernels beyond their FLOPs (:mod:`.shapes`: padded attention head dimensions, softmax scores, GEMMs
under one wave), and one image split over several GPUs (:mod:`.parallel`: the valid Ulysses x Ring splits, each GPU's
share of the work and the communication each adds), and the FLOPs of several models, resolutions and conventions as
frames with the fewest steps at which denoising dominates (:mod:`.flop_tables`). Every law reads a batch of
configurations through one workload frame (:mod:`.workload`: passes, calls and counted features per component, and the
GPU's datasheet, built once per frame), and whether a configuration can run on its GPU (:mod:`.memory`: a precision its
hardware runs, weights and activations within its memory).

May import: the layers before it (``core``, ``models``).
"""
