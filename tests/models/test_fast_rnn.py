"""rnnkit's SimpleRNN, LSTM and GRU layers are Keras's: same weights, outputs, states, gradients.

On JAX they run a hand-written backward pass (`rnnkit.models.fast_rnn`); Keras's
own `keras.layers.SimpleRNN`, `LSTM` and `GRU`, whose backward pass JAX derives, are the independent
reference, plus a finite-difference check of two weights. Under TensorFlow the layer is Keras's code
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
from rnnkit.models.fast_rnn import GRU, LSTM, SimpleRNN
from rnnkit.training.gradients import value_and_gradients

pytestmark = pytest.mark.jax

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 5, 4)).astype("float32")


# rnnkit's layer -> Keras's layer it must equal.
KERAS_OF = {SimpleRNN: keras.layers.SimpleRNN, LSTM: keras.layers.LSTM, GRU: keras.layers.GRU}
STATES = {SimpleRNN: 1, LSTM: 2, GRU: 1}  # h; h and c; h
CELLS = [SimpleRNN, LSTM, GRU]


def _pair(cls=LSTM, **kwargs):
    """A Keras layer and rnnkit's with the same (random, non-zero bias) weights.

    The reference runs Keras's own loop, never cuDNN (which a GPU would take for the LSTM),
    so that both sides compute in float32 the same way on any device.
    """
    reference = KERAS_OF[cls](6, **kwargs, **({} if cls is SimpleRNN else {"use_cudnn": False}))
    fast = cls(6, **kwargs)
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


@pytest.mark.parametrize("cls, return_sequences, go_backwards",
                         list(itertools.product(CELLS, [True, False], [False, True])))
def test_outputs_and_states_equal_keras(cls, return_sequences, go_backwards):
    reference, fast = _pair(cls, return_sequences=return_sequences, go_backwards=go_backwards, return_state=True)
    expected, got = _as_list(reference(X)), _as_list(fast(X))
    assert len(expected) == len(got) == 1 + STATES[cls]  # output, then the states
    for want, have in zip(expected, got):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), atol=1e-6)


@pytest.mark.parametrize("cls", CELLS)
def test_the_fast_path_is_the_one_taken_on_jax_and_not_elsewhere(cls):
    _, fast = _pair(cls, return_sequences=True)
    on_jax = keras.backend.backend() == "jax"
    assert bool(fast.fused_applies(None, training=True)) is on_jax
    assert not fast.fused_applies(np.ones((3, 5), bool), training=False)  # a mask: Keras's loop
    dropping = cls(6, dropout=0.5)
    dropping.build(X.shape)
    assert not dropping.fused_applies(None, training=True)
    assert bool(dropping.fused_applies(None, training=False)) is on_jax  # dropout is off at inference
    assert not cls(6, activation="relu").fused_applies(None, training=False)
    assert not cls(6, unroll=True).fused_applies(None, training=False)
    if cls is GRU:
        assert not GRU(6, reset_after=False).fused_applies(None, training=False)
    if cls is not SimpleRNN:  # asking for cuDNN by name gets Keras's path (which refuses it on a CPU)
        assert not cls(6, use_cudnn=True).fused_applies(None, training=False)


@pytest.mark.parametrize("cls, go_backwards", list(itertools.product(CELLS, [False, True])))
def test_gradients_equal_keras_for_weights_inputs_and_initial_state(cls, go_backwards):
    reference, fast = _pair(cls, return_sequences=True, return_state=True, go_backwards=go_backwards)
    target = RNG.normal(size=(3, 5, 6)).astype("float32")
    initial = [RNG.normal(size=(3, 6)).astype("float32") for _ in range(STATES[cls])]

    def gradients(layer):
        def loss(x, *values):
            states, weights = list(values[:STATES[cls]]), list(values[STATES[cls]:])
            outputs, _ = layer.stateless_call(weights, _fixed(layer), x, initial_state=states)
            sequence, last_states = outputs[0], outputs[1:]
            # The last states enter the loss too (for an LSTM the cell state c only there).
            return (keras.ops.sum(keras.ops.square(sequence - target))
                    + sum(keras.ops.sum(state ** 3) for state in last_states))

        _, grads = value_and_gradients(loss, [X, *initial, *[w.value for w in layer.trainable_variables]])
        return [np.asarray(g) for g in grads]

    for want, have in zip(gradients(reference), gradients(fast)):
        np.testing.assert_allclose(have, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_a_weight_gradient_matches_finite_differences(cls):
    _, fast = _pair(cls, return_sequences=False)
    weights = [w.value for w in fast.trainable_variables]

    def loss(*values):
        outputs, _ = fast.stateless_call(list(values), _fixed(fast), X)
        return keras.ops.sum(outputs * outputs)

    _, grads = value_and_gradients(loss, weights)
    # Central difference on one recurrent-kernel entry (in the second gate block: forget for
    # an LSTM, reset for a GRU) and one bias entry (a GRU's recurrent bias row).
    kernel_index = (2, 1) if cls is SimpleRNN else (2, 6 + 1)
    bias_index = (1, 6 + 2) if cls is GRU else (4,)
    for which, index in ((1, kernel_index), (2, bias_index)):
        step = 1e-2
        values = [np.array(w, dtype="float64") for w in weights]
        plus, minus = [v.copy() for v in values], [v.copy() for v in values]
        plus[which][index] += step
        minus[which][index] -= step
        numeric = (float(loss(*[v.astype("float32") for v in plus])) -
                   float(loss(*[v.astype("float32") for v in minus]))) / (2 * step)
        assert float(np.asarray(grads[which])[index]) == pytest.approx(numeric, rel=2e-2, abs=1e-3)


@pytest.mark.parametrize("cell, cls, params", [
    # Gates x units x (inputs + units + bias vectors): adding has 2 input features; a GRU
    # with reset_after has two bias vectors.
    ("simple_rnn", SimpleRNN, 1 * 5 * (2 + 5 + 1)),
    ("lstm", LSTM, 4 * 5 * (2 + 5 + 1)),
    ("gru", GRU, 3 * 5 * (2 + 5 + 2)),
])
def test_builders_make_them_and_they_count_as_their_cell(cell, cls, params):
    from rnnkit.data.tasks import get_task

    task = get_task("adding", timesteps=6, num_samples=40)
    model = build_model(ModelSpec(cell=cell, units=5), task)
    layer = next(layer for layer in model.layers if isinstance(layer, KERAS_OF[cls]))
    assert type(layer) is cls
    assert cell_for_layer(layer).name == cell
    assert cell_for_layer(KERAS_OF[cls](3)).name == cell  # a plain Keras layer still belongs to the row
    assert layer.count_params() == params


@pytest.mark.parametrize("cls", CELLS)
def test_a_saved_model_loads_again_with_the_same_outputs(tmp_path, cls):
    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, cls(3, name="rnn_1")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("rnn_1")) is cls
    np.testing.assert_allclose(np.asarray(loaded(X)), np.asarray(model(X)), atol=1e-6)
