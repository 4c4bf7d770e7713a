"""The NumPy reference cells reproduce Keras' SimpleRNN, LSTM and GRU."""

import keras
import numpy as np
import pytest

from rnnkit.errors import ConfigError
from rnnkit.models.reference import (
    gru_step,
    lstm_step,
    run_reference,
    simple_rnn_step,
    stacked_projection,
)

LAYERS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def random_layer(cell, units, num_features, seed, **options):
    """A built Keras layer with random (not initializer) weights, and a random input batch."""
    rng = np.random.default_rng(seed)
    layer = LAYERS[cell](units, return_sequences=True, return_state=True, **options)
    x = rng.normal(size=(3, 5, num_features)).astype("float32")
    layer.build(x.shape)
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]
    )
    return layer, x


@pytest.mark.parametrize(
    "cell, options",
    [
        ("simple_rnn", {}),
        ("simple_rnn", {"use_bias": False, "activation": "relu"}),
        ("lstm", {}),
        ("lstm", {"use_bias": False}),
        ("gru", {"reset_after": True}),
        ("gru", {"reset_after": False}),
        ("gru", {"reset_after": True, "use_bias": False}),
        ("gru", {"go_backwards": True}),
    ],
)
def test_reference_matches_keras_outputs_and_final_states(cell, options):
    layer, x = random_layer(cell, units=4, num_features=3, seed=7, **options)
    keras_outputs = [np.asarray(tensor) for tensor in layer(x)]
    outputs, states = run_reference(layer, x)
    np.testing.assert_allclose(outputs, keras_outputs[0], atol=1e-5)
    assert len(states) == len(keras_outputs) - 1
    for state, keras_state in zip(states, keras_outputs[1:]):
        np.testing.assert_allclose(state, keras_state, atol=1e-5)


def test_reference_uses_the_given_initial_state():
    layer, x = random_layer("lstm", units=2, num_features=3, seed=3)
    rng = np.random.default_rng(4)
    initial = [rng.normal(size=(3, 2)).astype("float32") for _ in range(2)]
    keras_outputs = np.asarray(layer(x, initial_state=initial)[0])
    outputs, _ = run_reference(layer, x, initial_state=initial)
    np.testing.assert_allclose(outputs, keras_outputs, atol=1e-5)


def test_gru_bias_has_input_and_recurrent_rows_with_reset_after():
    layer, _ = random_layer("gru", units=4, num_features=3, seed=0, reset_after=True)
    assert layer.get_weights()[2].shape == (2, 12)
    layer, _ = random_layer("gru", units=4, num_features=3, seed=0, reset_after=False)
    assert layer.get_weights()[2].shape == (12,)


def test_stacked_weights_identity():
    rng = np.random.default_rng(0)
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    kernel, recurrent_kernel = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(
        stacked_projection(x, h, kernel, recurrent_kernel),
        x @ kernel + h @ recurrent_kernel,
        atol=1e-12,
    )


def test_simple_rnn_step_by_hand():
    # h = tanh(0.5 * 2 + 1 * 0.1 + 0) = tanh(1.1)
    h = simple_rnn_step(
        np.array([[2.0]]), np.array([[0.1]]), np.array([[0.5]]), np.array([[1.0]]), np.zeros(1)
    )
    np.testing.assert_allclose(h, [[np.tanh(1.1)]])


def test_lstm_step_by_hand():
    # All pre-activations 0: gates 0.5, candidate 0, so c = 0.5 * c_prev, h = 0.5 * tanh(c).
    zeros_kernel = np.zeros((1, 4))
    h, c = lstm_step(
        np.array([[1.0]]), np.array([[0.0]]), np.array([[2.0]]), zeros_kernel, zeros_kernel
    )
    np.testing.assert_allclose(c, [[1.0]])
    np.testing.assert_allclose(h, [[0.5 * np.tanh(1.0)]])


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_by_hand(reset_after):
    # Pre-activations 0: z = r = 0.5, candidate tanh(0) = 0, so h = 0.5 * h_prev.
    h = gru_step(
        np.array([[1.0]]),
        np.array([[0.8]]),
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        reset_after=reset_after,
    )
    np.testing.assert_allclose(h, [[0.4]])


def test_refuses_what_it_cannot_reproduce():
    with pytest.raises(
        ConfigError, match="`layer`: got 'Dense'; expected a built SimpleRNN, LSTM or GRU"
    ):
        run_reference(keras.layers.Dense(2), np.zeros((1, 2, 2)))
    layer, x = random_layer("simple_rnn", units=2, num_features=2, seed=0, activation="selu")
    with pytest.raises(ConfigError, match="`activation`: got 'selu'; expected one of 'tanh'"):
        run_reference(layer, x)
