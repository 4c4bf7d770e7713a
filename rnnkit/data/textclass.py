"""Text classification tasks: word tokens, padded or truncated to `timesteps`, one label each.

Texts are de-duplicated (so no text is in two parts), shuffled with the seed and cut
80/10/10; the vocabulary comes from the training texts only. Token ids are padded with 0
at the end (Keras `mask_zero=True` skips them). A one_to_one model trains on these tasks
too, with the id sequence flattened.

Example:

>>> task = make_pydoc_topics(timesteps=12, seed=0)
>>> task.train.x.shape[1], task.output_spec.dim
(12, 4)
"""

from __future__ import annotations

import numpy as np

from rnnkit.checks import check_positive_int, invalid
from rnnkit.data.splits import check_seed, split_in_order, split_sizes
from rnnkit.data.tasks import InputSpec, OutputSpec, Task, register_task
from rnnkit.data.text import PSF_LICENCE, PYDOC_SOURCE, tokenize
from rnnkit.data.vocab import Vocab
from rnnkit.errors import DataError


def pad_ids(sequences, timesteps: int) -> np.ndarray:
    """Returns int32 `(n, timesteps)`: each id sequence truncated or padded with 0 at the end.

    This is `keras.utils.pad_sequences(..., padding="post", truncating="post")`, written
    out in NumPy because importing Keras loads TensorFlow (about 5 s), and building a
    task (`rnnkit tasks` builds all of them) must not wait for it.
    """
    out = np.zeros((len(sequences), timesteps), dtype=np.int32)
    for row, ids in enumerate(sequences):
        ids = ids[:timesteps]
        out[row, : len(ids)] = ids
    return out


def classification_task(texts, labels, class_names, name: str, timesteps: int = 30,
                        min_freq: int = 1, seed: int = 0, source: str = "user data",
                        licence: str = "", description: str = "", params: dict | None = None) -> Task:
    """Builds a many_to_one text classification task.

    Args:
        texts: The texts (strings).
        labels: Their class ids, aligned with `texts`.
        class_names: Names of the classes, indexed by class id.
        name: The task name.
        timesteps: Word tokens kept per text (longer texts are truncated). Default 30.
        min_freq: Training words seen fewer times become `<unk>`. Default 1.
        seed: Seeds the shuffle before splitting.
        source: Where the texts come from.
        licence: Their licence.
        description: One paragraph for `rnnkit tasks`.
        params: Options to record on the task.

    Returns:
        A `Task`: x int32 `(n, timesteps)`, y int32 `(n,)`, loss
        "sparse_categorical_crossentropy", metrics ("accuracy",); `task.vocab` the word vocabulary
        and `task.params["class_names"]` the class names.
    """
    check_positive_int("timesteps", timesteps)
    seed = check_seed(seed)
    unique = {}
    for text, label in zip(texts, labels):
        unique.setdefault(text, int(label))  # The first label wins for a repeated text.
    texts, labels = list(unique), np.asarray(list(unique.values()), dtype=np.int32)
    order = np.random.default_rng(seed).permutation(len(texts))
    tokens = [tokenize(texts[index], "word", lowercase=True) for index in order]
    labels = labels[order]
    num_train = split_sizes(len(tokens), "texts", DataError)[0]
    vocab = Vocab((token for text in tokens[:num_train] for token in text), min_freq=min_freq,
                  separator=" ")
    x = pad_ids([vocab.encode(text) for text in tokens], timesteps)
    splits = split_in_order(x, labels)
    options = {"timesteps": timesteps, "min_freq": min_freq, "seed": seed,
               "class_names": list(class_names)}
    return Task(
        name=name, variety="many_to_one", train=splits[0], validation=splits[1], test=splits[2],
        input_spec=InputSpec(timesteps=timesteps, vocab_size=vocab.vocab_size),
        output_spec=OutputSpec("classification", len(class_names)),
        loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        description=description, source=source, licence=licence, vocab=vocab,
        params=dict(params or {}, **options),
    )


PYDOC_TOPICS = ("compound", "debugger", "specialnames", "string-methods")
PYDOC_TOPICS_TEXT = (
    "Which page of the Python documentation is this line from? Lines of four or more words "
    "from four pages shipped with every Python install (pydoc_data/topics.py): 'compound' "
    "(compound statements), 'debugger' (pdb), 'specialnames' (special method names) and "
    "'string-methods'; about 2,200 distinct lines, word tokens. Real text, no download; the "
    "labels are the pages the lines come from, like a small 20-newsgroups. " 
    "Lines differ slightly between Python versions."
)


def pydoc_topic_lines(topic_names=PYDOC_TOPICS) -> tuple[list[str], np.ndarray]:
    """Returns (lines, class ids) from the named Python documentation topics (>= 4 words each)."""
    from pydoc_data.topics import topics

    lines, labels = [], []
    for label, topic in enumerate(topic_names):
        if topic not in topics:
            raise invalid("topic_names", topic, f"a topic of this Python's pydoc_data ({len(topics)} exist)", DataError)
        for line in topics[topic].split("\n"):
            if len(line.split()) >= 4:
                lines.append(line.strip())
                labels.append(label)
    return lines, np.asarray(labels, dtype=np.int32)


@register_task("pydoc_topics", "many_to_one", PYDOC_TOPICS_TEXT, source=PYDOC_SOURCE)
def make_pydoc_topics(timesteps: int = 20, min_freq: int = 1, seed: int = 0) -> Task:
    """Builds line -> documentation page classification (4 classes).

    Args:
        timesteps: Word tokens kept per line. Default 20.
        min_freq: Rarer training words become `<unk>`. Default 1.
        seed: Seeds the shuffle before splitting.
    """
    lines, labels = pydoc_topic_lines()
    return classification_task(lines, labels, PYDOC_TOPICS, "pydoc_topics", timesteps, min_freq,
                               seed, PYDOC_SOURCE, PSF_LICENCE, PYDOC_TOPICS_TEXT)
