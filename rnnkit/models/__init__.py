"""Model builders for the five varieties, seq2seq inference and NumPy reference cells."""

from rnnkit.models.builders import build_model
from rnnkit.models.reference import run_reference
from rnnkit.models.seq2seq import Seq2SeqInference, greedy_decode

__all__ = ["Seq2SeqInference", "build_model", "greedy_decode", "run_reference"]
