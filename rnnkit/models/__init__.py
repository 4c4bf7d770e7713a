"""Model builders for the five varieties, seq2seq inference, the cell table and NumPy reference cells.

Decoding (greedy and beam search) lives in `rnnkit.training.decoding`. Names are
imported on first use, so that the cell table (`rnnkit.models.cells`) can be read
without importing Keras.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_model": "rnnkit.models.builders",
    "Seq2SeqInference": "rnnkit.models.seq2seq",
    "run_reference": "rnnkit.models.reference",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Imports a public name from its module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnnkit.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
