"""Layer 8, ``planning``: answers for a user.

A deployment's energy, carbon and cost, from the one prediction of each configuration
(:func:`energy_nb.laws.answer.predict`) (:mod:`.planner`), its cheaper alternatives (:mod:`.alternatives`), both as text
(:mod:`.text`), the GPU count, split and batch size that meet a latency at the least energy (:mod:`.latency`), and the
book's in-page calculator (:mod:`.calculator`).

May import: the layers before it (``core`` to ``measurement``).
"""
