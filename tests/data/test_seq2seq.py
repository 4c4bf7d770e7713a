"""Generated seq2seq tasks: the answers are right, the format is the documented one."""

import numpy as np
import pytest

from rnnkit.data.tasks import get_task
from rnnkit.errors import ConfigError


def test_digit_addition_answers_are_the_sums_of_the_questions():
    task = get_task("digit_addition", max_digits=2, num_samples=50, seed=0)
    x, y = task.train.x, task.train.y
    assert x["encoder_inputs"].shape == (40, 5) and x["decoder_inputs"].shape == (40, 4)
    assert y.shape == (40, 4) and y.dtype == np.int32
    for encoder_ids, target_ids in zip(x["encoder_inputs"], y):
        question = task.vocab.decode(encoder_ids)
        left, right = question.split("+")
        assert int(task.target_vocab.decode(target_ids)) == int(left) + int(right)
        assert 1 <= len(left) <= 2 and 1 <= len(right) <= 2


def test_digit_addition_teacher_forcing_and_padding_weights():
    task = get_task("digit_addition", max_digits=3, num_samples=30, seed=1)
    vocab = task.target_vocab
    x, y, weight = task.train.x, task.train.y, task.train.sample_weight
    assert (vocab.pad_id, vocab.unk_id, vocab.start_id, vocab.end_id) == (0, 1, 2, 3)
    np.testing.assert_array_equal(x["decoder_inputs"][:, 0], vocab.start_id)
    np.testing.assert_array_equal(x["decoder_inputs"][:, 1:], y[:, :-1])
    for row, target_ids in enumerate(y):
        answer_length = len(vocab.decode(target_ids))
        assert target_ids[answer_length] == vocab.end_id
        # Real digits and <end> weigh 1; padding weighs 0.
        assert weight[row].sum() == answer_length + 1
        assert np.all(target_ids[weight[row] == 0] == vocab.pad_id)
    assert task.output_spec.dim == vocab.vocab_size == 14 and task.output_spec.timesteps == 5
    assert task.input_spec.timesteps == 7 and task.input_spec.vocab_size == 13


def test_digit_addition_reversed_input_and_no_question_in_two_parts():
    plain = get_task("digit_addition", max_digits=2, num_samples=40, seed=5)
    flipped = get_task("digit_addition", max_digits=2, num_samples=40, seed=5, reverse_input=True)
    question = plain.vocab.decode(plain.test.x["encoder_inputs"][0])
    assert flipped.vocab.decode(flipped.test.x["encoder_inputs"][0]) == question[::-1]
    questions = [plain.vocab.decode(row) for part in (plain.train, plain.validation, plain.test)
                 for row in part.x["encoder_inputs"]]
    assert len(set(questions)) == 40


def test_reverse_targets_are_reversed_inputs():
    task = get_task("reverse", timesteps=5, alphabet_size=3, num_samples=30, seed=2)
    for encoder_ids, target_ids in zip(task.test.x["encoder_inputs"], task.test.y):
        source = task.vocab.decode(encoder_ids)
        assert 1 <= len(source) <= 5 and set(source) <= set("abc")
        assert task.target_vocab.decode(target_ids) == source[::-1]


@pytest.mark.parametrize(
    "name, options, pattern",
    [
        ("digit_addition", {"max_digits": 0}, r"`max_digits`: got 0; expected a positive integer"),
        ("digit_addition", {"max_digits": 10}, r"`max_digits`: got 10; expected at most 9"),
        ("digit_addition", {"max_digits": 1, "num_samples": 101}, r"`num_samples`: got 101; expected at most 100"),
        ("digit_addition", {"reverse_input": 1}, r"`reverse_input`: got 1; expected True or False"),
        ("reverse", {"alphabet_size": 1}, r"`alphabet_size`: got 1; expected an integer from 2 to 26"),
        ("reverse", {"timesteps": 1, "alphabet_size": 2, "num_samples": 3}, r"`num_samples`: got 3; expected at most 2"),
    ],
)
def test_bad_seq2seq_options(name, options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        get_task(name, **options)
