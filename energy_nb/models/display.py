"""How a model is shown: its short label and its colour in every figure and table, from the registry.

Registry models carry ``label`` and ``colour`` in their file (``data/models/<key>.yml``); a local
``--model-config`` folder or an id outside the registry (ML.ENERGY's Kandinsky 2.2) gets the last part of
its name and a fallback colour, the same every time.
"""
from __future__ import annotations

import hashlib

from .registry import get_model

#: Colours of models without one of their own (a local ``--model-config`` folder, an id outside the registry).
FALLBACK_COLOURS: tuple[str, ...] = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#31a354",
                                     "#756bb1", "#636363", "#e6550d")


def display(model: str) -> tuple[str, str]:
    """(label, colour) of ``model`` for figures and tables: the registry's, else the last part of a Hugging Face
    id and a fallback colour chosen from the name (the same every time)."""
    try:
        spec = get_model(model)
    except ValueError:
        spec = None
    if spec is not None and spec.colour:
        return spec.label, spec.colour
    name = spec.label if spec is not None else str(model).split("/")[-1]
    h = int(hashlib.sha256(str(model).encode()).hexdigest(), 16)
    return name, FALLBACK_COLOURS[h % len(FALLBACK_COLOURS)]


def label(model: str) -> str:
    """The short name of ``model`` in figures and tables (:func:`display`)."""
    return display(model)[0]


def colour(model: str) -> str:
    """The colour of ``model`` in every figure (:func:`display`)."""
    return display(model)[1]
