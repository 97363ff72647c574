"""Layer 2, ``models``: what is run and where.

The model registry as data (:mod:`.registry`: ``data/models``, Hugging Face ids, ``--model-config``
folders), how a model is shown (:mod:`.display`: its label and colour), building a registry component as a
torch module (:mod:`.build`), every fact about a GPU (:mod:`.hardware`: ``data/gpus.csv``, part and family
names, datasheet peaks, published idle power, ``--gpu-spec``) and the one
:class:`~energy_nb.models.configuration.Configuration` (:mod:`.configuration`: model, resolution, steps,
precision, CFG, GPU, batch size, prompts) that every layer above carries.

May import: the layer before it (``core``).
"""
