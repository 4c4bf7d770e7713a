"""The loss and the accuracy a run compiles: Keras's, computed with less work.

Every task with integer class labels (language models, copying, tagging, translation,
text classification) trains with `"sparse_categorical_crossentropy"` on the softmax
probabilities the model outputs, and reports `"accuracy"`. On Keras's JAX backend rnnkit
compiles these two with the same definitions as Keras and fewer operations:

- Keras's cross-entropy divides every probability by the row's sum, clips it and takes
  its logarithm, then keeps the true class's value with a one-hot product: a logarithm
  per class. `sparse_categorical_crossentropy` here takes the true class's probability
  first, then the same division, clip and logarithm: one logarithm per token.
- Keras's accuracy compares `argmax(y_pred)` with the label. On JAX's CPU backend an
  argmax compiles to a reduction over (value, index) pairs that took 0.3 ms of a 1.8 ms
  training step of the LSTM 32 char LM (64 x 35 tokens, 47 classes). Here the label
  counts as predicted when its probability is above every earlier class's and at least
  every later class's, which is exactly when `argmax` (the first largest) returns it;
  that is two comparisons and a plain reduction.

Same numbers: tests compare both with Keras's functions and with NumPy (ties, labels
outside the classes, sample weights and the loss's gradient included). A label outside
`[0, classes)` counts as Keras counts it on JAX: a loss of 0 and not accurate.
`SparseCategoricalCrossentropy` and `SparseCategoricalAccuracy` are the `keras.losses` /
`keras.metrics` objects a compiled model holds (registered, so a saved model loads again
once rnnkit is imported).

Measured on the LSTM 32 char LM (2 cores, JAX, steady epochs): 1.10-1.16M tokens/s
before, 1.36-1.40M after. On TensorFlow, whose own cross-entropy is one fused kernel,
nothing measurable was gained (its epochs vary 10-30 % between runs) and the first epoch
traced a little longer, so Keras's loss and accuracy stay there.

>>> import numpy as np
>>> probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]], "float32")
>>> labels = np.array([1, 1])
>>> np.round(np.asarray(sparse_categorical_crossentropy(labels, probs)), 4)  # -log 0.5, -log 0.4
array([0.6931, 0.9163], dtype=float32)
>>> np.asarray(sparse_categorical_accuracy(labels, probs))  # the tie goes to class 0
array([1., 0.], dtype=float32)
"""

from __future__ import annotations

import keras
from keras import ops

SPARSE_CROSSENTROPY = "sparse_categorical_crossentropy"


def _labels_and_scores(y_true, y_pred):
    """`y_pred` as a tensor, integer labels of shape `y_pred.shape[:-1]`, whether each is a
    class, and its probability."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    labels = ops.cast(y_true, "int32")
    classes = y_pred.shape[-1]
    valid = ops.logical_and(ops.greater_equal(labels, 0), ops.less(labels, classes))
    index = ops.where(valid, labels, 0)
    score = ops.take_along_axis(y_pred, ops.expand_dims(index, -1), axis=-1)
    return y_pred, labels, valid, score


def sparse_categorical_crossentropy(y_true, y_pred):
    """Per-token `-log(clip(p[label] / sum(p)))`: Keras's cross-entropy on probabilities.

    Args:
        y_true: Integer class labels, shape `y_pred.shape[:-1]` (or with a trailing 1).
        y_pred: Probabilities over the last axis (a softmax output).

    Returns:
        The loss of each token, shape `y_pred.shape[:-1]`; 0 where the label is not a class.
    """
    y_pred, _, valid, score = _labels_and_scores(y_true, y_pred)
    epsilon = keras.backend.epsilon()
    chosen = ops.squeeze(score, -1) / ops.sum(y_pred, axis=-1)
    loss = -ops.log(ops.clip(chosen, epsilon, 1.0 - epsilon))
    return ops.where(valid, loss, ops.zeros_like(loss))


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where `argmax(y_pred)` (the first largest) is the label, else 0.0.

    Args:
        y_true: Integer class labels, shape `y_pred.shape[:-1]` (or with a trailing 1).
        y_pred: Scores over the last axis.

    Returns:
        Floats of shape `y_pred.shape[:-1]`.
    """
    y_pred, labels, valid, score = _labels_and_scores(y_true, y_pred)
    earlier = ops.less(ops.arange(y_pred.shape[-1], dtype="int32"), ops.expand_dims(labels, -1))
    # Earlier classes must score strictly less (argmax keeps the first of a tie), later ones no more.
    beaten = ops.where(earlier, ops.less(y_pred, score), ops.less_equal(y_pred, score))
    correct = ops.logical_and(ops.all(beaten, axis=-1), valid)
    return ops.cast(correct, keras.backend.floatx())


@keras.saving.register_keras_serializable(package="rnnkit")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """`keras.losses.SparseCategoricalCrossentropy()` (on probabilities), one logarithm per token."""

    def __init__(self, reduction="sum_over_batch_size", name=SPARSE_CROSSENTROPY, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="rnnkit")
class SparseCategoricalAccuracy(keras.metrics.MeanMetricWrapper):
    """`keras.metrics.SparseCategoricalAccuracy(name="accuracy")`, without an argmax."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _replaced() -> bool:
    """Whether rnnkit compiles its own sparse cross-entropy and accuracy (on JAX only)."""
    return keras.backend.backend() == "jax"


def per_entry_loss(loss):
    """The per-entry function of a loss given by name or object (rnnkit's for the sparse cross-entropy on JAX).

    Args:
        loss: A Keras loss name or function, or this module's `SparseCategoricalCrossentropy`.

    Returns:
        `f(y_true, y_pred)` giving one value per sample (or per token).
    """
    if isinstance(loss, SparseCategoricalCrossentropy) or (_replaced() and isinstance(loss, str)
                                                           and loss == SPARSE_CROSSENTROPY):
        return sparse_categorical_crossentropy
    return keras.losses.get(loss)


def compile_arguments(loss, metrics) -> dict:
    """`loss` and `weighted_metrics` for `model.compile`, with rnnkit's loss and accuracy where they apply.

    Args:
        loss: The task's loss name (`Task.loss`).
        metrics: The task's metric names (`Task.metrics`).

    Returns:
        `{"loss": ..., "weighted_metrics": [...]}`. Names stay as Keras reports them
        (`loss`, `accuracy`, `val_accuracy`, ...); only the sparse cross-entropy and the
        accuracy that goes with it change, and only on JAX.

    >>> compile_arguments("mse", ("mae",))
    {'loss': 'mse', 'weighted_metrics': ['mae']}
    """
    if loss != SPARSE_CROSSENTROPY or not _replaced():
        return {"loss": loss, "weighted_metrics": list(metrics)}
    return {
        "loss": SparseCategoricalCrossentropy(),
        "weighted_metrics": [SparseCategoricalAccuracy() if name == "accuracy" else name for name in metrics],
    }


__all__ = [
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "compile_arguments",
    "per_entry_loss",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
]
