"""rnnkit's TimeDistributed gives Keras's numbers, with the Dense head applied in one product.

The reference is computed by hand in NumPy from the head's weights (softmax of `h @ W + b`
at every step), and the gradients against Keras's own step-by-step wrapper around the same
Dense. Marked `jax`, so CI runs them under both backends.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec
from rnnkit.models.builders import build_model
from rnnkit.models.layers import TimeDistributed
from rnnkit.params import param_table
from rnnkit.training.gradients import value_and_gradients

pytestmark = pytest.mark.jax

X = np.random.default_rng(3).normal(size=(2, 6, 4)).astype("float32")


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_the_dense_head_gives_softmax_of_the_affine_map_at_every_step():
    head = TimeDistributed(keras.layers.Dense(3, activation="softmax", bias_initializer="random_normal"))
    out = np.asarray(head(X))
    kernel, bias = (np.asarray(w) for w in head.layer.get_weights())
    expected = np.stack([_softmax(X[:, t] @ kernel + bias) for t in range(X.shape[1])], axis=1)
    assert out.shape == (2, 6, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_gradients_equal_those_through_keras_step_by_step_wrapper():
    dense = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=5),
                               bias_initializer=keras.initializers.RandomNormal(seed=6))
    ours, reference = TimeDistributed(dense), keras.layers.TimeDistributed(dense)  # the same weights
    ours.build(X.shape)
    reference.build(X.shape)
    target = np.random.default_rng(4).normal(size=(2, 6, 3)).astype("float32")

    def gradients(wrapper):
        def loss(x, kernel, bias):
            outputs, _ = wrapper.stateless_call([kernel, bias], [], x)
            return keras.ops.sum(keras.ops.square(outputs - target))

        value, grads = value_and_gradients(loss, [X, dense.kernel.value, dense.bias.value])
        return float(value), [np.asarray(g) for g in grads]

    (value_ours, grads_ours), (value_ref, grads_ref) = gradients(ours), gradients(reference)
    np.testing.assert_allclose(value_ours, value_ref, rtol=1e-6)
    for got, want in zip(grads_ours, grads_ref, strict=True):  # at the input, the kernel, the bias
        # Float32 sums over 12 rows in another order: an entry that nearly cancels (0.0394 among
        # entries of 30, seen once with unseeded weights) differs by a few ulps of the largest.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(want).max())))


class StepShapes(keras.layers.Layer):
    """Records the rank of what it is called with; doubles its input."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ranks = []

    def call(self, inputs):
        self.ranks.append(len(inputs.shape))
        return inputs * 2.0


def test_any_other_layer_runs_step_by_step_as_in_keras():
    inner = StepShapes()
    out = TimeDistributed(inner)(X)
    np.testing.assert_allclose(np.asarray(out), 2.0 * X)
    assert inner.ranks and set(inner.ranks) == {2}  # one (batch, features) slice per call


def test_the_builders_head_is_it_and_its_parameters_follow_the_dense_formula():
    # Tokens in (vocabulary 6), a class out at each of the 4 steps (5 classes), 3 GRU units.
    model = build_model(ModelSpec(cell="gru", units=3, variety="many_to_many"),
                        input_spec=InputSpec(timesteps=4, vocab_size=6),
                        output_spec=OutputSpec(kind="classification", dim=5, timesteps=4))
    head = model.get_layer("head")
    assert type(head) is TimeDistributed
    assert head.count_params() == 3 * 5 + 5  # Dense: d * y + y
    row = param_table(model).set_index("layer").loc["head"]
    assert (row["type"], row["analytic"], bool(row["match"])) == ("TimeDistributed(Dense)", 20, True)


def test_a_saved_model_loads_again_with_the_same_outputs(tmp_path):
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, TimeDistributed(keras.layers.Dense(3), name="head")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("head")) is TimeDistributed
    np.testing.assert_allclose(np.asarray(loaded(X)), np.asarray(model(X)), atol=1e-6)
