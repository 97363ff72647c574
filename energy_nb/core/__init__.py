"""Layer 1, ``core``: what every other layer uses and nothing else defines.

Paths of the repository and its data (:mod:`.paths`), units and precisions (:mod:`.units`), the
provenance of every data file and the reads of this process (:mod:`.provenance`), versions of the code and
libraries (:mod:`.versions`), the pinned numerics of a reproducible fit (:mod:`.numerics`), strict JSON
(:mod:`.jsonio`), YAML a user wrote with one-line errors (:mod:`.yamlio`), the user-error class
(:mod:`.errors`), Student-t quantiles and weighted least squares (:mod:`.stats`), fast rows of a frame
(:mod:`.frames`) and the on-disk cache (:mod:`.cache`).

May import: the standard library and third-party packages only; no other layer of ``energy_nb``.
"""
