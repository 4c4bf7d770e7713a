"""Text classification: padding, no text in two parts, the built-in pydoc topics set."""

import numpy as np
import pytest

from rnnkit.data.tasks import get_task
from rnnkit.data.textclass import classification_task, pad_ids, pydoc_topic_lines
from rnnkit.errors import DataError


def test_pad_ids_pads_and_truncates_at_the_end():
    np.testing.assert_array_equal(pad_ids([[5, 6, 7, 8], [9]], 3), [[5, 6, 7], [9, 0, 0]])


def test_duplicates_are_dropped_so_no_text_is_in_two_parts():
    texts = [f"sentence number {index % 20}" for index in range(60)]
    task = classification_task(texts, [index % 2 for index in range(60)], ("a", "b"), "toy")
    total = task.train.num_samples + task.validation.num_samples + task.test.num_samples
    assert total == 20


def test_pydoc_topics_lines_come_from_their_pages():
    from pydoc_data.topics import topics

    task = get_task("pydoc_topics", timesteps=50, seed=0)
    names = task.params["class_names"]
    for ids, label in zip(task.test.x[:20], task.test.y[:20]):
        words = task.vocab.decode(ids).split()
        known = [word for word in words if word != "<unk>"]
        page = topics[names[label]].lower()
        assert all(word in page for word in known[:3])


def test_unknown_pydoc_topic_is_refused():
    with pytest.raises(DataError, match=r"`topic_names`: got 'no-such-topic'; expected a topic of this Python's pydoc_data"):
        pydoc_topic_lines(("debugger", "no-such-topic"))
