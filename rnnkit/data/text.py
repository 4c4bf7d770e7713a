"""Text: reading files, tokenising, and language-model tasks with both partitionings.

A language model predicts the next token at every step: for the characters of
"machine", input "machin" has target "achine". The corpus is split by position (first
80 % train, next 10 % validation, last 10 % test) and the vocabulary comes from the
training part only. Each part is cut into samples of `timesteps` tokens (the truncated
backpropagation-through-time length) in one of two ways:

- `partition="random"`: random offsets; samples are independent (shuffle freely).
- `partition="sequential"`: `batch_size` parallel streams; row i of batch k + 1 continues
  row i of batch k, for stateful training (`model.fit(..., batch_size=batch_size,
  shuffle=False)` keeps that order).

Example:

>>> task = make_builtin_lm(timesteps=20, max_chars=20000)
>>> task.train.x.shape[1], task.output_spec.dim == task.vocab.vocab_size
(20, True)
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rnnkit.checks import check_bool, check_choice, check_positive_int, invalid
from rnnkit.data.splits import check_seed, part_slices, split_sizes
from rnnkit.data.tasks import InputSpec, OutputSpec, Split, Task, register_task
from rnnkit.data.vocab import Vocab
from rnnkit.errors import DataError

LEVELS = ("char", "word")
PARTITIONS = ("random", "sequential")
# Words (letters, digits, apostrophes) or single punctuation marks.
WORD_PATTERN = re.compile(r"[\w']+|[^\w\s]")


def load_text_file(path, encoding: str = "utf-8") -> str:
    """Returns the text of a file, or raises one-line `DataError`s for the usual problems.

    Args:
        path: The file to read.
        encoding: Its encoding. Default "utf-8".

    Returns:
        The text (line endings normalised to "\\n").

    Raises:
        DataError: The file is missing, is empty, or does not decode with `encoding`.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"Invalid value for `path`: got {str(path)!r}; expected an existing text file.")
    raw = file.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise DataError(
            f"Invalid value for `path`: got {str(path)!r}, which is not valid {encoding} "
            f"(byte {error.start}); expected a {encoding} text file (re-save it as {encoding})."
        ) from None
    if not text.strip():
        raise DataError(f"Invalid value for `path`: got {str(path)!r}, which is empty; expected some text.")
    return text.replace("\r\n", "\n")


def tokenize(text: str, level: str = "char", lowercase: bool = False) -> list[str]:
    """Splits `text` into tokens.

    Args:
        text: The text.
        level: "char" (every character, spaces and newlines included) or "word" (words and
            punctuation marks; whitespace dropped).
        lowercase: Lowercase the text first. Default False.

    Returns:
        A list of tokens.

    Example:

    >>> tokenize("Hi, you!", level="word", lowercase=True)
    ['hi', ',', 'you', '!']
    """
    check_choice("level", level, LEVELS)
    check_bool("lowercase", lowercase)
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else WORD_PATTERN.findall(text)


def _check_length(ids: np.ndarray, needed: int, part: str, timesteps: int) -> None:
    if len(ids) < needed:
        raise invalid(
            "timesteps", timesteps,
            f"a value that fits the {part} part ({len(ids)} tokens; needs {needed})", DataError,
        )


def lm_random_partition(ids, timesteps: int, seed: int = 0, part: str = "given") -> tuple[np.ndarray, np.ndarray]:
    """Cuts token ids into independent (input, next-token target) samples at a random offset.

    Args:
        ids: 1-D token ids, in text order.
        timesteps: Tokens per sample.
        seed: Seeds the offset (0 .. timesteps - 1) and the sample order.
        part: Which part of the corpus `ids` is (for the error message).

    Returns:
        `x`, `y` int32 `(n, timesteps)` with `y[:, t] == x[:, t + 1]` inside a sample, in
        random order.

    Example:

    >>> x, y = lm_random_partition(np.arange(10), timesteps=3, seed=0)
    >>> bool(np.all(y == x + 1))
    True
    """
    ids = np.asarray(ids, dtype=np.int32)
    check_positive_int("timesteps", timesteps)
    _check_length(ids, timesteps + 1, part, timesteps)
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(0, min(timesteps, len(ids) - timesteps)))
    num_samples = (len(ids) - offset - 1) // timesteps
    starts = offset + timesteps * rng.permutation(num_samples)
    steps = np.arange(timesteps)
    return ids[starts[:, None] + steps], ids[starts[:, None] + steps + 1]


def lm_sequential_partition(ids, timesteps: int, batch_size: int, seed: int = 0,
                            part: str = "given") -> tuple[np.ndarray, np.ndarray]:
    """Cuts token ids into `batch_size` streams whose consecutive batches continue each other.

    The text (after a random offset) is divided into `batch_size` equal streams; batch k
    holds steps k * timesteps .. (k + 1) * timesteps - 1 of every stream. The batches are
    stacked in order, so sample `k * batch_size + i` continues sample `(k - 1) * batch_size + i`.
    Train with `model.fit(x, y, batch_size=batch_size, shuffle=False)` to keep that
    continuity (a stateful model then carries each stream's state across batches).

    Args:
        ids: 1-D token ids, in text order.
        timesteps: Tokens per sample.
        batch_size: Parallel streams (the batch size the model must be trained with).
        seed: Seeds the offset (0 .. timesteps - 1).
        part: Which part of the corpus `ids` is (for the error message).

    Returns:
        `x`, `y` int32 `(num_batches * batch_size, timesteps)`, `y` shifted by one token.

    Example:

    >>> x, y = lm_sequential_partition(np.arange(100), timesteps=5, batch_size=2)
    >>> x.shape
    (18, 5)
    >>> bool(np.all(x[2:, 0] == x[:-2, -1] + 1))  # sample k * 2 + i continues (k - 1) * 2 + i
    True
    """
    ids = np.asarray(ids, dtype=np.int32)
    check_positive_int("timesteps", timesteps)
    check_positive_int("batch_size", batch_size)
    needed = timesteps * batch_size + 1
    _check_length(ids, needed, part, timesteps)
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(0, min(timesteps, len(ids) - needed + 1)))
    stream_length = (len(ids) - offset - 1) // batch_size
    num_batches = stream_length // timesteps
    used = batch_size * stream_length
    streams_x = ids[offset: offset + used].reshape(batch_size, stream_length)
    streams_y = ids[offset + 1: offset + 1 + used].reshape(batch_size, stream_length)

    def stack(streams):
        # (batch_size, num_batches, timesteps) -> batches one after another.
        cut = streams[:, : num_batches * timesteps].reshape(batch_size, num_batches, timesteps)
        return cut.transpose(1, 0, 2).reshape(num_batches * batch_size, timesteps)

    return stack(streams_x), stack(streams_y)


def lm_task(text: str, name: str, timesteps: int = 32, level: str = "char", lowercase: bool = True,
            min_freq: int = 1, partition: str = "random", batch_size: int = 32, seed: int = 0,
            source: str = "user data", licence: str = "", description: str = "",
            params: dict | None = None) -> Task:
    """Builds a many_to_many language-model task from a text.

    Args:
        text: The corpus.
        name: The task name.
        timesteps: Tokens per sample (truncated BPTT length). Default 32.
        level: "char" or "word" tokens. Default "char".
        lowercase: Lowercase the text first (a smaller vocabulary). Default True.
        min_freq: Rarer training tokens become `<unk>`. Default 1.
        partition: "random" (independent samples) or "sequential" (stateful order).
        batch_size: Streams per batch when `partition="sequential"` (ignored otherwise).
        seed: Seeds the offsets and the sample order.
        source: Where the text comes from.
        licence: The text's licence.
        description: One paragraph for `rnnkit tasks`.
        params: Extra options to record on the task.

    Returns:
        A `Task`: x, y int32 `(n, timesteps)`, output classification over the vocabulary,
        loss "sparse_categorical_crossentropy", metrics ("accuracy",); `task.vocab` is the
        vocabulary (`task.vocab.decode(ids)` gives text back). Perplexity is exp(loss).
    """
    check_positive_int("timesteps", timesteps)
    check_choice("partition", partition, PARTITIONS)
    check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    tokens = tokenize(text, level, lowercase)
    parts = part_slices(split_sizes(len(tokens), "text", DataError))
    vocab = Vocab(tokens[parts[0]], min_freq=min_freq, separator="" if level == "char" else " ")
    splits = []
    for index, (part, rows) in enumerate(zip(("train", "validation", "test"), parts)):
        ids = vocab.encode(tokens[rows])
        if partition == "random":
            x, y = lm_random_partition(ids, timesteps, seed + index, part)
        else:
            x, y = lm_sequential_partition(ids, timesteps, batch_size, seed + index, part)
        splits.append(Split(x, y))
    options = {"timesteps": timesteps, "level": level, "lowercase": lowercase, "min_freq": min_freq,
               "partition": partition, "batch_size": batch_size, "seed": seed}
    return Task(
        name=name, variety="many_to_many", train=splits[0], validation=splits[1], test=splits[2],
        input_spec=InputSpec(timesteps=timesteps, vocab_size=vocab.vocab_size),
        output_spec=OutputSpec("classification", vocab.vocab_size, timesteps),
        loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        description=description or f"{level.capitalize()}-level language model: predict the next token.",
        source=source, licence=licence, vocab=vocab, target_vocab=vocab,
        params=dict(params or {}, **options),
    )


def builtin_corpus(max_chars: int | None = None) -> str:
    """Returns the English text of the Python documentation topics shipped with Python.

    `pydoc_data/topics.py` (the text behind `help("topics")`) is in every CPython
    install, so this corpus needs no download. Topics are joined in sorted order.

    Args:
        max_chars: Keep only the first `max_chars` characters (None keeps all, ~470 k).
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    if max_chars is not None:
        check_positive_int("max_chars", max_chars)
        text = text[:max_chars]
    return text


BUILTIN_LM_TEXT = (
    "Character language model on the Python documentation topics shipped with every Python "
    "install (pydoc_data/topics.py, about 470 k characters of English with code examples; "
    "needs no download). Split by position 80/10/10, vocabulary from the training part; "
    "`partition` 'random' or 'sequential' (stateful, `batch_size` streams). The text differs "
    "slightly between Python versions."
)
PYDOC_SOURCE = "Python standard library, pydoc_data/topics.py"
PSF_LICENCE = "PSF License Agreement (Python documentation)"


@register_task("builtin_lm", "many_to_many", BUILTIN_LM_TEXT, source=PYDOC_SOURCE)
def make_builtin_lm(timesteps: int = 32, level: str = "char", lowercase: bool = True,
                    min_freq: int = 1, partition: str = "random", batch_size: int = 32,
                    max_chars: int | None = 100_000, seed: int = 0) -> Task:
    """Builds the language model on the built-in Python documentation corpus.

    Args:
        timesteps: Tokens per sample. Default 32.
        level: "char" or "word". Default "char".
        lowercase: Lowercase first. Default True.
        min_freq: Rarer tokens become `<unk>`. Default 1.
        partition: "random" or "sequential". Default "random".
        batch_size: Streams when sequential. Default 32.
        max_chars: Use the first `max_chars` characters (default 100 000, small enough
            to train in seconds; None for all of it).
        seed: Seeds offsets and order.
    """
    return lm_task(builtin_corpus(max_chars), "builtin_lm", timesteps, level, lowercase, min_freq,
                   partition, batch_size, seed, PYDOC_SOURCE, PSF_LICENCE, BUILTIN_LM_TEXT,
                   {"max_chars": max_chars})


TEXT_LM_TEXT = (
    "Language model on your own UTF-8 text file (option `path`), with the same tokenisation, "
    "splitting and partitioning as `builtin_lm`."
)


@register_task("text_lm", "many_to_many", TEXT_LM_TEXT, source="a text file you give (path)")
def make_text_lm(path: str | None = None, timesteps: int = 32, level: str = "char",
                 lowercase: bool = True, min_freq: int = 1, partition: str = "random",
                 batch_size: int = 32, seed: int = 0) -> Task:
    """Builds a language model on the text file at `path` (see `lm_task` for the options)."""
    if path is None:
        raise DataError("Invalid value for `path`: got None; expected the path of a UTF-8 text file.")
    return lm_task(load_text_file(path), "text_lm", timesteps, level, lowercase, min_freq,
                   partition, batch_size, seed, f"file {path}", "as the file's owner states",
                   TEXT_LM_TEXT, {"path": str(path)})
