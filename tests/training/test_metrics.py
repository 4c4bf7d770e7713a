"""Fair metrics against numbers worked out by hand."""

import math

import keras
import numpy as np
import pytest

from rnnkit.data.series import StandardScaler
from rnnkit.errors import ConfigError
from rnnkit.training.metrics import (
    confusion_matrix,
    end_mask,
    exact_match,
    mae,
    mse,
    perplexity,
    perplexity_from_probs,
    predict_in_order,
    prepare_prediction,
    regression_metrics,
    rmse,
    token_accuracy,
)


def test_uniform_distribution_has_perplexity_equal_to_vocab_size():
    for vocab_size in (2, 7, 30):
        probs = np.full((3, 4, vocab_size), 1.0 / vocab_size)
        targets = np.random.default_rng(0).integers(0, vocab_size, size=(3, 4))
        assert perplexity_from_probs(probs, targets) == pytest.approx(vocab_size)


def test_perplexity_is_exp_of_mean_nll_over_real_tokens_only():
    probs = np.zeros((1, 3, 3))
    probs[0, 0] = [0.5, 0.25, 0.25]  # target 0: p = 0.5
    probs[0, 1] = [0.1, 0.8, 0.1]  # target 1: p = 0.8
    probs[0, 2] = [0.9, 0.05, 0.05]  # padding: must not count, although p(target) is tiny
    targets = np.array([[0, 1, 2]])
    expected = math.exp(-(math.log(0.5) + math.log(0.8)) / 2)
    assert perplexity_from_probs(probs, targets, mask=[[1, 1, 0]]) == pytest.approx(expected)
    assert perplexity_from_probs(probs, targets) > expected  # unmasked, the padding drags it up


def test_perfect_predictions_have_perplexity_one():
    targets = np.array([[1, 0, 2]])
    assert perplexity_from_probs(np.eye(3)[targets], targets) == pytest.approx(1.0)


def test_perplexity_rejects_bad_shapes_and_empty_masks():
    with pytest.raises(ConfigError, match=r"`probs`: got 'array of shape \(2, 3\)'"):
        perplexity_from_probs(np.ones((2, 3)), np.zeros((2, 3), int))
    with pytest.raises(ConfigError, match="`mask`: got 'all zeros'; expected at least one real"):
        perplexity_from_probs(np.full((1, 2, 2), 0.5), np.zeros((1, 2), int), mask=[[0, 0]])
    with pytest.raises(ConfigError, match=r"`mask`: got 'array of shape \(1, 3\)'; expected an array of shape \(1, 2\)"):
        perplexity_from_probs(np.full((1, 2, 2), 0.5), np.zeros((1, 2), int), mask=[[1, 1, 1]])


def test_token_accuracy_ignores_padding():
    predicted = [[4, 5, 9, 9], [4, 0, 0, 0]]
    target = [[4, 6, 0, 0], [4, 0, 0, 0]]
    mask = [[1, 1, 0, 0], [1, 1, 0, 0]]
    # Real tokens: (4 ok, 6 wrong), (4 ok, 0 ok) -> 3 of 4.
    assert token_accuracy(predicted, target, mask) == pytest.approx(0.75)
    # Without a mask every position counts: row 0 has 1 of 4 right, row 1 all 4 -> 5 of 8.
    assert token_accuracy(predicted, target) == pytest.approx(5 / 8)
    with pytest.raises(ConfigError, match=r"`pred_ids`: got 'array of shape \(1, 2\)'"):
        token_accuracy([[1, 2]], [[1, 2, 3]])


def test_exact_match_counts_whole_sequences():
    end = 3
    target = np.array([[5, 6, end, 0], [5, end, 0, 0], [7, 7, 7, end]])
    predicted = np.array([[5, 6, end, 8], [5, 6, end, 0], [7, 7, 7, end]])
    # Row 0 is right up to its end (what follows does not count); row 1 misses the end.
    assert exact_match(predicted, target, end_id=end) == pytest.approx(2 / 3)
    assert exact_match(predicted, target, mask=(target != 0)) == pytest.approx(2 / 3)
    assert exact_match(predicted, target) == pytest.approx(1 / 3)
    assert end_mask(target, end).tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]


def test_confusion_matrix_by_hand():
    y_true = [0, 0, 0, 1, 1]
    y_pred = [0, 1, 0, 1, 0]
    # Rows are true classes, columns predictions: two 0->0, one 0->1, one 1->0, one 1->1.
    assert confusion_matrix(y_true, y_pred, 2).tolist() == [[2, 1], [1, 1]]
    with pytest.raises(ConfigError, match=r"`y_pred`: got 'class ids in \[0, 3\]'; expected ids in \[0, 1\]"):
        confusion_matrix([0, 1], [0, 3], 2)
    with pytest.raises(ConfigError, match="`num_classes`: got 0; expected a positive integer"):
        confusion_matrix([0], [0], 0)


def test_regression_errors_by_hand_and_in_original_units():
    y_true = np.array([[0.0], [1.0], [2.0]])
    y_pred = np.array([[1.0], [1.0], [0.0]])
    # Errors 1, 0, -2: MSE = 5/3, MAE = 1, RMSE = sqrt(5/3).
    assert mse(y_true, y_pred) == pytest.approx(5 / 3)
    assert mae(y_true, y_pred) == pytest.approx(1.0)
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(5 / 3))
    # Standardised with std 10: errors scale by 10 in original units, MSE by 100.
    scaler = StandardScaler(mean=50.0, std=10.0)
    values = regression_metrics(y_true, y_pred, scaler)
    assert values["mse_original"] == pytest.approx(500 / 3)
    assert values["mae_original"] == pytest.approx(10.0)
    assert values["rmse_original"] == pytest.approx(math.sqrt(500 / 3))
    assert "mse_original" not in regression_metrics(y_true, y_pred)


def uniform_language_model(vocab_size=6, timesteps=4):
    """Zero weights before the softmax: every next token has probability 1 / vocab_size."""
    inputs = keras.Input((timesteps,), dtype="int32")
    features = keras.layers.Embedding(vocab_size, 3)(inputs)
    head = keras.layers.Dense(vocab_size, activation="softmax", kernel_initializer="zeros")
    return keras.Model(inputs, head(features))


def test_perplexity_of_a_model_runs_it_batch_by_batch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=(7, 4))
    y = rng.integers(0, 6, size=(7, 4))
    # 7 rows in batches of 3: the last batch is shorter, and the uniform model scores 6 anyway.
    assert perplexity(uniform_language_model(), x, y, batch_size=3) == pytest.approx(6.0, rel=1e-5)
    with pytest.raises(ConfigError, match="`sample_weight`: got 'all zeros'; expected at least one real"):
        perplexity(uniform_language_model(), x, y, sample_weight=np.zeros((7, 4)))
    with pytest.raises(ConfigError, match="`batch_size`: got 0; expected a positive integer"):
        perplexity(uniform_language_model(), x, y, batch_size=0)


def test_exact_match_needs_one_sequence_per_row():
    with pytest.raises(ConfigError, match=r"`target_ids`: got 'array of shape \(3,\)'; expected an array \(num_samples, timesteps\)"):
        exact_match([1, 2, 3], [1, 2, 3])


@pytest.mark.jax
def test_predict_in_order_pads_the_last_batch_and_drops_the_padding():
    # y = 2 * (sum of the inputs over time and features) + 1, by hand-set weights.
    inputs = keras.Input((3, 2))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")(flat * 2.0))
    x = np.arange(7 * 3 * 2, dtype="float32").reshape(7, 3, 2)
    expected = 2.0 * x.sum(axis=(1, 2))[:, None] + 1.0
    for batch_size in (3, 7, 10):  # a partial last batch, exact batches, fewer rows than a batch
        predicted = predict_in_order(model, x, batch_size)
        assert predicted.shape == (7, 1)
        assert np.allclose(predicted, expected)
    with pytest.raises(ConfigError, match="`batch_size`: got 0; expected a positive integer"):
        predict_in_order(model, x, 0)


@pytest.mark.jax
def test_a_prediction_step_compiled_ahead_gives_the_same_predictions_at_the_current_weights():
    from rnnkit.training.metrics import _PREDICTION_AHEAD

    inputs = keras.Input((3, 2))
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")
    model = keras.Model(inputs, dense(flat * 2.0))
    x = np.arange(7 * 3 * 2, dtype="float32").reshape(7, 3, 2)
    prepare_prediction(model, x, 3)  # On JAX: compiling for batches of 3 rows from here.
    assert (model in _PREDICTION_AHEAD) is (keras.backend.backend() == "jax")
    # Weights changed after the compilation started (as training does) are the ones used:
    # y = 3 * (2 * sum of inputs) + 1.
    dense.kernel.assign(np.full((6, 1), 3.0, "float32"))
    expected = 3.0 * 2.0 * x.sum(axis=(1, 2))[:, None] + 1.0
    for batch_size in (3, 4):  # the prepared shape, and another one (compiled as usual)
        assert np.allclose(predict_in_order(model, x, batch_size), expected)


@pytest.mark.jax
def test_a_stateful_model_keeps_kerass_own_prediction():
    from rnnkit.training.metrics import _PREDICTION_AHEAD

    inputs = keras.Input((3, 2), batch_size=2)
    model = keras.Model(inputs, keras.layers.SimpleRNN(2, stateful=True)(inputs))
    prepare_prediction(model, np.zeros((4, 3, 2), "float32"), 2)
    assert model not in _PREDICTION_AHEAD
