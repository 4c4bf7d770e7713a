"""Trivial baselines against hand computations on tiny data, and the metric directions."""

import math

import numpy as np
import pytest

from rnnkit.data.tasks import InputSpec, OutputSpec, Split, Task, get_task
from rnnkit.errors import ConfigError
from rnnkit.training.baselines import best_baseline, task_baselines
from rnnkit.training.metrics import (
    METRIC_DIRECTIONS,
    METRICS,
    PRIMARY_METRICS,
    better,
    metric_direction,
    metric_range,
    perfect_score,
)


def make_task(variety, train, validation, test, output, loss="mse", **extra):
    return Task("toy", variety, train, validation, test, InputSpec(3, 1), output, loss, (), "", "", "", **extra)


class Identity:
    """A scaler whose original units are the scaled ones doubled."""

    def inverse_transform(self, values):
        return np.asarray(values) * 2.0


def test_regression_mean_is_the_training_mean_scored_by_hand():
    x = np.zeros((2, 3, 1), "float32")
    task = make_task("many_to_one", Split(x, np.array([[1.0], [3.0]])), Split(x, np.array([[2.0], [6.0]])),
                     Split(x[:1], np.array([[0.0]])), OutputSpec("regression", 1))
    baselines = task_baselines(task)
    assert list(baselines) == ["mean"]
    # Training mean 2: validation errors 0 and 4 -> mse 8, mae 2; test error 2 -> mse 4.
    assert baselines["mean"]["validation"]["mse"] == pytest.approx(8.0)
    assert baselines["mean"]["validation"]["mae"] == pytest.approx(2.0)
    assert baselines["mean"]["test"]["loss"] == pytest.approx(4.0)
    assert baselines["mean"]["test"]["rmse"] == pytest.approx(2.0)


def test_forecast_gets_persistence_and_seasonal_naive_in_original_units():
    # Windows of 3 values, target the next value; the series is 0, 1, 2, ... scaled.
    windows = np.array([[[0.0], [1.0], [2.0]], [[1.0], [2.0], [3.0]]])
    targets = np.array([[3.0], [4.0]])
    task = make_task("many_to_one", Split(windows, targets), Split(windows, targets), Split(windows, targets),
                     OutputSpec("regression", 1), scaler=Identity(), params={"season": 3})
    baselines = task_baselines(task)
    assert set(baselines) == {"mean", "persistence", "seasonal_naive"}
    # Persistence predicts 2 and 3 for targets 3 and 4: error 1 each; doubled in original units.
    assert baselines["persistence"]["test"]["mae"] == pytest.approx(1.0)
    assert baselines["persistence"]["test"]["mae_original"] == pytest.approx(2.0)
    # Three steps back from the target is the window's first value: errors 3 and 3.
    assert baselines["seasonal_naive"]["test"]["mse"] == pytest.approx(9.0)


def test_classification_majority_and_chance():
    x = np.zeros((4, 3, 1), "float32")
    task = make_task("many_to_one", Split(x, np.array([2, 2, 2, 0])), Split(x, np.array([2, 1, 0, 1])),
                     Split(x[:2], np.array([2, 2])), OutputSpec("classification", 3),
                     loss="sparse_categorical_crossentropy")
    baselines = task_baselines(task)
    assert baselines["majority"]["validation"]["accuracy"] == pytest.approx(0.25)
    assert baselines["majority"]["test"]["accuracy"] == pytest.approx(1.0)
    assert baselines["chance"]["test"]["accuracy"] == pytest.approx(1 / 3)
    assert baselines["chance"]["test"]["loss"] == pytest.approx(math.log(3))
    # The prior is (1/4, 0, 3/4): test labels 2, 2 cost -log(3/4) each.
    assert baselines["majority"]["test"]["loss"] == pytest.approx(-math.log(0.75))


def test_language_model_uniform_and_unigram_perplexity():
    ids = np.array([[0, 0, 1], [0, 1, 1]])  # Training: token 0 three times, token 1 three times.
    test = np.array([[0, 0, 0]])
    task = make_task("many_to_many", Split(ids, ids), Split(test, test), Split(test, test),
                     OutputSpec("classification", 4, timesteps=3), loss="sparse_categorical_crossentropy",
                     params={"partition": "random"})
    baselines = task_baselines(task)
    assert baselines["uniform"]["test"]["perplexity"] == pytest.approx(4.0)
    # Unigram probability of token 0 is 1/2, so the perplexity of "000" is 2.
    assert baselines["unigram"]["test"]["perplexity"] == pytest.approx(2.0, rel=1e-5)
    assert best_baseline(baselines, "perplexity") == ("unigram", pytest.approx(2.0, rel=1e-5))


def test_per_step_labels_chance_and_majority_token_per_position():
    train = np.array([[1, 2], [1, 2], [3, 2]])
    test = np.array([[1, 2], [1, 0]])
    weights = np.array([[1.0, 1.0], [1.0, 0.0]])  # The last token of the second row is padding.
    task = make_task("many_to_many", Split(train, train), Split(test, test, weights), Split(test, test, weights),
                     OutputSpec("classification", 4, timesteps=2), loss="sparse_categorical_crossentropy")
    baselines = task_baselines(task)
    # Position majorities are 1 then 2: all three real test tokens right, both rows exact.
    assert baselines["majority_token"]["test"]["token_accuracy"] == pytest.approx(1.0)
    assert baselines["majority_token"]["test"]["exact_match"] == pytest.approx(1.0)
    # Uniform guessing over 4 classes: rows of 2 and 1 real tokens -> (1/16 + 1/4) / 2.
    assert baselines["chance"]["test"]["exact_match"] == pytest.approx((1 / 16 + 1 / 4) / 2)


def test_seq2seq_constant_answer_is_the_most_frequent_training_target():
    train = np.array([[5, 6], [5, 6], [7, 6]])
    test = np.array([[5, 6], [7, 7]])
    x = {"encoder_inputs": np.zeros((3, 2), "int32"), "decoder_inputs": np.zeros((3, 2), "int32")}
    task = Task("toy", "seq2seq", Split(x, train), Split(x, train), Split({k: v[:2] for k, v in x.items()}, test),
                InputSpec(2, vocab_size=8), OutputSpec("classification", 8, timesteps=2),
                "sparse_categorical_crossentropy", (), "", "", "")
    baselines = task_baselines(task)
    assert baselines["constant_answer"]["test"]["exact_match"] == pytest.approx(0.5)
    assert baselines["constant_answer"]["test"]["token_accuracy"] == pytest.approx(0.5)


def test_every_builtin_generated_task_has_baselines_on_both_held_out_splits():
    for name in ("adding", "waveform", "copy", "digit_addition", "parity"):
        task = get_task(name, num_samples=60)
        baselines = task_baselines(task)
        assert baselines, name
        for scores in baselines.values():
            assert set(scores) == {"validation", "test"} and "loss" in scores["test"], name


def test_every_metric_has_a_direction_and_prefixes_do_not_change_it():
    assert metric_direction("best_val_mae") == "min"  # The old rule read this as "max".
    assert metric_direction("test_exact_match") == "max"
    assert metric_direction("val_perplexity") == "min"
    assert set(PRIMARY_METRICS.values()) <= set(METRIC_DIRECTIONS)
    assert better("loss", 0.1, 0.2) and better("accuracy", 0.9, 0.8) and not better("mae", 0.3, 0.2)
    with pytest.raises(ConfigError, match=r"Invalid value for `metric`: got 'grad_norm'; expected a metric"):
        metric_direction("grad_norm")


def test_every_metric_has_its_possible_range_next_to_its_direction():
    # Errors and losses are never negative, a perplexity (exp of a mean NLL >= 0) is at least 1,
    # and every accuracy is a share in [0, 1].
    assert set(METRIC_DIRECTIONS) == set(METRICS)
    for name in ("loss", "mse", "mae", "rmse", "mse_original", "mae_original", "rmse_original"):
        assert metric_range(name) == (0.0, math.inf), name
    assert metric_range("val_perplexity") == (1.0, math.inf)
    for name in ("accuracy", "token_accuracy", "decoded_token_accuracy", "exact_match"):
        assert metric_range(f"test_{name}") == (0.0, 1.0), name
    # The perfect score is the end of the range on the better side.
    assert (perfect_score("mse"), perfect_score("perplexity"), perfect_score("accuracy")) == (0.0, 1.0, 1.0)
    with pytest.raises(ConfigError, match=r"Invalid value for `metric`: got 'grad_norm'; expected a metric"):
        metric_range("grad_norm")
