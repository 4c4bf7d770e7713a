"""rnnkit's LSTM layer is Keras's LSTM: same weights, outputs, states and gradients.

On JAX on a CPU it runs a hand-written backward pass (`rnnkit.models.fast_lstm`); Keras's
own `keras.layers.LSTM`, whose backward pass JAX derives, is the independent reference,
plus a finite-difference check of one weight. Under TensorFlow the layer is Keras's code
path, and the same comparisons hold trivially. Marked `jax`, so CI runs them under both.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.models.builders import build_model
from rnnkit.models.cells import cell_for_layer
from rnnkit.models.fast_lstm import LSTM
from rnnkit.training.gradients import value_and_gradients

pytestmark = pytest.mark.jax

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 5, 4)).astype("float32")


def _pair(**kwargs):
    """A Keras LSTM and an rnnkit LSTM with the same (random, non-zero bias) weights."""
    reference = keras.layers.LSTM(6, **kwargs)
    fast = LSTM(6, **kwargs)
    reference.build(X.shape)
    fast.build(X.shape)
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    fast.set_weights(weights)
    return reference, fast


def _fixed(layer):
    """The layer's non-trainable variables (Keras's seed state for dropout)."""
    return [variable.value for variable in layer.non_trainable_variables]


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@pytest.mark.parametrize("return_sequences, go_backwards", list(itertools.product([True, False], [False, True])))
def test_outputs_and_states_equal_keras(return_sequences, go_backwards):
    reference, fast = _pair(return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    expected, got = _as_list(reference(X)), _as_list(fast(X))
    assert len(expected) == len(got) == 3  # output, h, c
    for want, have in zip(expected, got):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), atol=1e-6)


def test_the_fast_path_is_the_one_taken_on_jax_and_not_elsewhere():
    _, fast = _pair(return_sequences=True)
    on_jax = keras.backend.backend() == "jax"
    assert fast.fused_applies(None, training=True) is on_jax
    assert fast.fused_applies(np.ones((3, 5), bool), training=False) is False  # a mask: Keras's loop
    dropping = LSTM(6, dropout=0.5)
    dropping.build(X.shape)
    assert dropping.fused_applies(None, training=True) is False
    assert dropping.fused_applies(None, training=False) is on_jax  # dropout is off at inference
    assert LSTM(6, activation="relu").fused_applies(None, training=False) is False
    assert LSTM(6, unroll=True).fused_applies(None, training=False) is False


@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradients_equal_keras_for_weights_inputs_and_initial_state(go_backwards):
    reference, fast = _pair(return_sequences=True, go_backwards=go_backwards)
    target = RNG.normal(size=(3, 5, 6)).astype("float32")
    h0 = RNG.normal(size=(3, 6)).astype("float32")
    c0 = RNG.normal(size=(3, 6)).astype("float32")

    def gradients(layer):
        def loss(x, h, c, *weights):
            outputs, _ = layer.stateless_call(list(weights), _fixed(layer), x, initial_state=[h, c])
            # The last state enters the loss too, through the last output.
            return keras.ops.sum(keras.ops.square(outputs - target)) + keras.ops.sum(outputs[:, -1] ** 3)

        _, grads = value_and_gradients(loss, [X, h0, c0, *[w.value for w in layer.trainable_variables]])
        return [np.asarray(g) for g in grads]

    for want, have in zip(gradients(reference), gradients(fast)):
        np.testing.assert_allclose(have, want, rtol=2e-5, atol=2e-5)


def test_a_weight_gradient_matches_finite_differences():
    _, fast = _pair(return_sequences=False)
    weights = [w.value for w in fast.trainable_variables]

    def loss(*values):
        outputs, _ = fast.stateless_call(list(values), _fixed(fast), X)
        return keras.ops.sum(outputs * outputs)

    _, grads = value_and_gradients(loss, weights)
    # Central difference on one recurrent-kernel entry (a forget-gate column) and one bias entry.
    for which, index in ((1, (2, 6 + 1)), (2, (4,))):
        step = 1e-2
        values = [np.array(w, dtype="float64") for w in weights]
        plus, minus = [v.copy() for v in values], [v.copy() for v in values]
        plus[which][index] += step
        minus[which][index] -= step
        numeric = (float(loss(*[v.astype("float32") for v in plus])) -
                   float(loss(*[v.astype("float32") for v in minus]))) / (2 * step)
        assert float(np.asarray(grads[which])[index]) == pytest.approx(numeric, rel=2e-2, abs=1e-3)


def test_builders_make_it_and_it_counts_as_an_lstm():
    from rnnkit.data.tasks import get_task

    task = get_task("adding", timesteps=6, num_samples=40)
    model = build_model(ModelSpec(cell="lstm", units=5), task)
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
    assert type(layer) is LSTM
    assert cell_for_layer(layer).name == "lstm"
    assert cell_for_layer(keras.layers.LSTM(3)).name == "lstm"  # a plain Keras LSTM still belongs to the row
    # 4 gates x units x (inputs + units + bias): adding has 2 input features.
    assert layer.count_params() == 4 * 5 * (2 + 5 + 1)


def test_a_saved_model_loads_again_with_the_same_outputs(tmp_path):
    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, LSTM(3, name="rnn_1")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("rnn_1")) is LSTM
    np.testing.assert_allclose(np.asarray(loaded(X)), np.asarray(model(X)), atol=1e-6)
