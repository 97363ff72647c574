"""Layer 4, ``data``: energy records in one tidy schema, and the data they are read from.

The schema and its reader (:mod:`.schema`), the shipped records every law fits on (:mod:`.shipped`), the
paper's transcribed tables and published parameters (:mod:`.paper`), ML.ENERGY's leaderboard files
(:mod:`.mlenergy`), static and idle power, gross and net energy (:mod:`.power`), our own measurement
files (:mod:`.measurements`) and grid carbon intensity from CodeCarbon's offline data (:mod:`.carbon`).

May import: the layers before it (``core``, ``models``, ``compute``).
"""
