"""Text files, tokenisation and language-model partitions."""

import numpy as np
import pytest

from rnnkit.data.tasks import get_task
from rnnkit.data.text import (
    lm_random_partition,
    lm_sequential_partition,
    lm_task,
    load_text_file,
    tokenize,
)
from rnnkit.errors import ConfigError, DataError


def test_tokenize_chars_and_words():
    assert tokenize("Ab c", "char", lowercase=True) == ["a", "b", " ", "c"]
    assert tokenize("It's 3 o'clock, Bob!", "word") == ["It's", "3", "o'clock", ",", "Bob", "!"]
    with pytest.raises(ConfigError, match=r"`level`: got 'byte'; expected one of 'char', 'word'"):
        tokenize("x", "byte")


def test_lm_target_is_input_shifted_by_one_token():
    task = lm_task("the machine " * 50, "toy", timesteps=6, lowercase=False, seed=0)
    vocab = task.vocab
    for x_row, y_row in zip(task.train.x, task.train.y):
        text_in, text_out = vocab.decode(x_row), vocab.decode(y_row)
        assert text_in[1:] == text_out[:-1]
        assert text_in in ("the machine " * 3) and text_out in ("the machine " * 3)
    assert task.output_spec.dim == vocab.vocab_size == 2 + len(set("the machine "))


def test_vocabulary_comes_from_the_training_part_only():
    # "z" only occurs in the last 10 % of the text: it must be unknown to the vocabulary.
    text = "ab" * 450 + "z" * 100
    task = lm_task(text, "toy", timesteps=4, seed=0)
    assert "z" not in task.vocab.token_to_id
    assert np.all(task.test.x == task.vocab.unk_id)


def test_random_partition_samples_are_whole_windows():
    x, y = lm_random_partition(np.arange(50), timesteps=7, seed=3)
    # 50 ids hold 7 windows of 7 (+1 target) at offset 0, 6 at any later offset.
    assert x.shape[1] == 7 and x.shape[0] == (7 if x[:, 0].min() == 0 else 6)
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    assert len({row[0] % 7 for row in x}) == 1  # all samples share one offset


def test_sequential_partition_rows_continue_across_batches():
    ids = np.arange(1000)
    x, y = lm_sequential_partition(ids, timesteps=5, batch_size=4, seed=1)
    np.testing.assert_array_equal(y, x + 1)
    assert x.shape[0] % 4 == 0
    # Row i of batch k + 1 starts where row i of batch k ended.
    np.testing.assert_array_equal(x[4:, 0], x[:-4, -1] + 1)
    # The 4 streams are consecutive slices of the text.
    first_batch = x[:4, 0]
    assert len(set(np.diff(first_batch))) == 1


def test_sequential_task_option_and_builtin_corpus():
    task = get_task("builtin_lm", timesteps=8, partition="sequential", batch_size=3,
                    max_chars=5000, seed=0)
    assert task.train.x.shape[1] == 8 and task.train.x.shape[0] % 3 == 0
    np.testing.assert_array_equal(task.train.x[3:, 0], task.train.y[:-3, -1])
    # Stream 0 read batch after batch is a piece of the lowercased corpus.
    from rnnkit.data.text import builtin_corpus
    assert task.vocab.decode(np.concatenate(task.train.x[0::3])) in builtin_corpus(5000).lower()


def test_same_seed_same_lm_arrays():
    first = get_task("builtin_lm", timesteps=10, max_chars=3000, seed=4)
    again = get_task("builtin_lm", timesteps=10, max_chars=3000, seed=4)
    np.testing.assert_array_equal(first.train.x, again.train.x)


def test_timesteps_longer_than_the_data_is_refused():
    with pytest.raises(DataError, match=r"`timesteps`: got 50; expected a value that fits the validation part"):
        lm_task("abcdefghij" * 30, "toy", timesteps=50)
    with pytest.raises(ConfigError, match=r"`partition`: got 'shuffled'; expected one of 'random', 'sequential'"):
        get_task("builtin_lm", partition="shuffled")


def test_text_file_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match=r"`path`: got '.*nope.txt'; expected an existing text file"):
        load_text_file(missing)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(DataError, match=r"`path`: got '.*empty.txt', which is empty"):
        load_text_file(empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(DataError, match=r"`path`: got '.*latin.txt', which is not valid utf-8 \(byte 3\)"):
        load_text_file(latin)


def test_text_lm_on_a_user_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world, hello rnn. " * 40, encoding="utf-8")
    task = get_task("text_lm", path=str(corpus), timesteps=5)
    assert task.train.x.shape[1] == 5 and task.variety == "many_to_many"
    with pytest.raises(DataError, match=r"`path`: got None; expected the path of a UTF-8 text file"):
        get_task("text_lm")
