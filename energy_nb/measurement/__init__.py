"""Layer 7, ``measurement``: measuring energy ourselves.

Runnable pipelines from the registry (:mod:`.pipelines`), energy meters and one measurement window
(:mod:`.meters`), a sweep's grid (:mod:`.grid`), its append-only log (:mod:`.log`), running it
(:mod:`.run`), Slurm settings (:mod:`.slurm`), sweeps over several workers or Slurm jobs
(:mod:`.executors`, :mod:`.shards`), a sharded sweep run and watched as a user would (:mod:`.demo`), the paper's
law fitted on our rows per device (:mod:`.fits`), and the GPU campaign in chunks of a few minutes (:mod:`.campaign`).

May import: the layers before it (``core`` to ``evaluation``; it uses ``core``, ``models``, ``compute``,
``data`` and ``laws``).
"""
