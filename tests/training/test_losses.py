"""rnnkit's compiled loss and accuracy give Keras's numbers (rnnkit/training/losses.py).

References: NumPy by hand (`-log(clip(p[label] / sum(p)))`, `argmax(p) == label`) and
Keras's own functions on the same arrays, ties and labels outside the classes included.
Marked `jax`, so CI runs them under both backends.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import get_task
from rnnkit.models.builders import build_model
from rnnkit.training.fit import train
from rnnkit.training.gradients import value_and_gradients
from rnnkit.training.losses import (
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropy,
    compile_arguments,
    per_entry_loss,
    sparse_categorical_accuracy,
    sparse_categorical_crossentropy,
)

pytestmark = pytest.mark.jax

RNG = np.random.default_rng(11)
# Unnormalised positive scores (the loss divides by the row's sum), one row nearly all on class 0.
PROBS = RNG.uniform(0.01, 1.0, size=(3, 5, 4)).astype("float32")
PROBS[0, 0] = [1.0, 1e-12, 1e-12, 1e-12]
LABELS = RNG.integers(0, 4, size=(3, 5))
LABELS[0, 0] = 2  # a probability below Keras's epsilon: clipped to 1e-7


def _hand_crossentropy(probs, labels):
    chosen = np.take_along_axis(probs, labels[..., None], axis=-1)[..., 0] / probs.sum(axis=-1)
    return -np.log(np.clip(chosen.astype("float64"), 1e-7, 1 - 1e-7))


def test_crossentropy_is_minus_log_of_the_normalised_true_probability():
    ours = np.asarray(sparse_categorical_crossentropy(LABELS, PROBS))
    np.testing.assert_allclose(ours, _hand_crossentropy(PROBS, LABELS), rtol=1e-6)
    assert ours[0, 0] == pytest.approx(-np.log(1e-7), rel=1e-6)  # clipped, finite
    keras_values = np.asarray(keras.losses.sparse_categorical_crossentropy(LABELS, PROBS))
    np.testing.assert_allclose(ours, keras_values, rtol=1e-6)


def test_crossentropy_takes_labels_with_a_trailing_axis_and_flat_batches():
    np.testing.assert_allclose(np.asarray(sparse_categorical_crossentropy(LABELS[..., None], PROBS)),
                               _hand_crossentropy(PROBS, LABELS), rtol=1e-6)
    flat = np.asarray(sparse_categorical_crossentropy(LABELS[:, 0], PROBS[:, 0]))
    np.testing.assert_allclose(flat, _hand_crossentropy(PROBS[:, 0], LABELS[:, 0]), rtol=1e-6)


def test_accuracy_is_argmax_equal_to_label_with_ties_going_to_the_first_class():
    tied = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.3, 0.3, 0.3]], "float32")
    labels = np.array([0, 1, 1, 2])
    # argmax picks the first largest: class 0, 0, 1, 0.
    np.testing.assert_array_equal(np.asarray(sparse_categorical_accuracy(labels, tied)), [1.0, 0.0, 1.0, 0.0])
    expected = (PROBS.argmax(axis=-1) == LABELS).astype("float32")
    np.testing.assert_array_equal(np.asarray(sparse_categorical_accuracy(LABELS, PROBS)), expected)
    np.testing.assert_array_equal(np.asarray(keras.metrics.sparse_categorical_accuracy(LABELS, PROBS)), expected)


def test_a_label_outside_the_classes_costs_nothing_and_is_never_right():
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]], "float32")
    labels = np.array([2, -1, 1])
    np.testing.assert_allclose(np.asarray(sparse_categorical_crossentropy(labels, probs)), [0.0, 0.0, -np.log(0.8)],
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(sparse_categorical_accuracy(labels, probs)), [0.0, 0.0, 1.0])


def test_loss_object_weights_and_reduces_as_keras_does():
    weights = RNG.integers(0, 2, size=LABELS.shape).astype("float32")
    ours = float(SparseCategoricalCrossentropy()(LABELS, PROBS, sample_weight=weights))
    theirs = float(keras.losses.SparseCategoricalCrossentropy()(LABELS, PROBS, sample_weight=weights))
    # sum_over_batch_size: the weighted sum over all tokens divided by the number of tokens.
    hand = float((_hand_crossentropy(PROBS, LABELS) * weights).sum() / weights.size)
    assert ours == pytest.approx(hand, rel=1e-6)
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_gradient_matches_kerass_crossentropy():
    def mean_of(function):
        return lambda probs: keras.ops.mean(function(LABELS, probs))

    _, (ours,) = value_and_gradients(mean_of(sparse_categorical_crossentropy), [PROBS])
    _, (theirs,) = value_and_gradients(mean_of(keras.losses.sparse_categorical_crossentropy), [PROBS])
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-7)
    assert np.asarray(ours)[0, 0, 2] == 0.0  # the clipped probability passes no gradient


def test_compile_arguments_replace_only_the_sparse_crossentropy_and_its_accuracy_on_jax():
    arguments = compile_arguments("sparse_categorical_crossentropy", ("accuracy",))
    assert compile_arguments("mse", ("mae",)) == {"loss": "mse", "weighted_metrics": ["mae"]}
    assert per_entry_loss(SparseCategoricalCrossentropy()) is sparse_categorical_crossentropy
    if keras.backend.backend() == "jax":
        assert isinstance(arguments["loss"], SparseCategoricalCrossentropy)
        assert [type(m) for m in arguments["weighted_metrics"]] == [SparseCategoricalAccuracy]
        assert per_entry_loss("sparse_categorical_crossentropy") is sparse_categorical_crossentropy
    else:  # TensorFlow keeps Keras's own (its loss is one fused kernel there)
        assert arguments == {"loss": "sparse_categorical_crossentropy", "weighted_metrics": ["accuracy"]}
        assert per_entry_loss("sparse_categorical_crossentropy") is keras.losses.sparse_categorical_crossentropy


def test_a_run_reports_the_metrics_keras_would_compute_on_the_same_weights(tmp_path):
    task = get_task("copy", timesteps=8, delay=2, num_samples=64, seed=0)
    model = build_model(ModelSpec(cell="gru", variety="many_to_many", units=4), task)
    result = train(model, task, TrainConfig(epochs=1, batch_size=16, seed=0), gradient_flow=False)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history.columns)
    # The same trained weights under Keras's own loss and accuracy.
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    twin.compile(loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    x, y = task.validation.x, task.validation.y
    theirs = twin.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    ours = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-7)
    # A compiled model saved with them loads again (rnnkit registers both).
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, SparseCategoricalCrossentropy) == (keras.backend.backend() == "jax")
    again = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert again["loss"] == pytest.approx(ours["loss"], rel=1e-6)
