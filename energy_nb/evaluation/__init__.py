"""Layer 6, ``evaluation``: how well a law predicts what it did not see, and which law answers.

One validation engine (:mod:`.validation`: the folds from scikit-learn, k-fold within a model, leave one model or GPU
out, and the held-out predictions of every candidate on them), the candidate laws (:mod:`.candidates`), the selection
policy (:mod:`.selection`: which law answers which question, chosen on held-out rows, measured nested), the laws
artifact's build (:mod:`.build`: every law fitted and chosen once, written into the package), the held-out
errors of every level of the unknown (:mod:`.levels`) and how the intervals composed from them hold
(:mod:`.coverage`), the coverage of the intervals of a model with data (:mod:`.intervals`), every claim of the
paper beside ours (:mod:`.claims`), one-point calibration of a new GPU measured where the answer is known
(:mod:`.calibration`), held-out time, gross energy and batch effect (:mod:`.held_out`), the metrics and the one scoring
of held-out predictions (:mod:`.metrics`), the independent check against ML.ENERGY (:mod:`.crosscheck`), the tables
about every registry model (:mod:`.registry_report`) and our refits beside the paper's published values (:mod:`.refit`),
and the law for several GPUs per image fitted and measured held-out (:mod:`.parallel`).

May import: the layers before it (``core``, ``models``, ``compute``, ``data``, ``laws``).
"""
