"""Layer 10, ``book``: how the book shows results.

Tables and figures with captions, units and source lines (:mod:`.present`; which data files each output was made
from, cell by cell, in :mod:`.cells`), the figures (:mod:`.plots`, in the one style of :mod:`.style`, and a run's time
by kind of operation in :mod:`.kinds`, energy against latency on several GPUs in :mod:`.splits`) and their tick labels
(:mod:`.ticks`), the front page's findings (:mod:`.findings`), Markdown the pages show (:mod:`.prose`, and the Results
pages' sentences in :mod:`.prose_results`), the sections of the page on laws that transfer (:mod:`.transfer`: the
paper's tables; :mod:`.unseen`: models and GPUs never seen, the law that answers and its intervals), whether the
intervals hold by level (:mod:`.coverage`), running a notebook with papermill (:mod:`.notebooks`), building the book
(:mod:`.build`), its Sphinx extension (:mod:`.sphinxext`) and JupyterLab on the notebooks (:mod:`.lab`).

May import: the layers before it (``core`` to ``planning``) and ``energy_nb.api``.
"""
