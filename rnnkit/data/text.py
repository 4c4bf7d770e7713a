"""Text tokenisation and language-model tasks (the vocabulary lives in `rnnkit.data.vocab`)."""

from rnnkit.data.vocab import Vocab  # noqa: F401 (Task.vocab documents this path)
