"""Model builders for the five varieties, seq2seq inference and NumPy reference cells.

Decoding (greedy and beam search) lives in `rnnkit.training.decoding`.
"""

from rnnkit.models.builders import build_model
from rnnkit.models.reference import run_reference
from rnnkit.models.seq2seq import Seq2SeqInference

__all__ = ["Seq2SeqInference", "build_model", "run_reference"]
