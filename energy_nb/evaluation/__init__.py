"""Layer 6, ``evaluation``: how well a law predicts what it did not see.

One validation engine (:mod:`.validation`: k-fold within a model, leave one model or GPU out, nested
selection among candidate laws), the law that answers for a model and GPU (:mod:`.selection`), one-point
calibration of a new GPU (:mod:`.calibration`), held-out time, gross energy and batch effect
(:mod:`.held_out`), the metrics (:mod:`.metrics`), the independent check against
ML.ENERGY (:mod:`.crosscheck`), the tables about every registry model (:mod:`.registry_report`) and our
refits beside the paper's published values (:mod:`.refit`).

May import: the layers before it (``core``, ``models``, ``compute``, ``data``, ``laws``).
"""
