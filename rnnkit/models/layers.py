"""The small weightless layers the builders need besides the recurrent ones.

`OneHot` encodes token ids when a model has no `Embedding`, `StepZeros` gives a decoder
that takes its context only as initial state something to read at every step, and
`ReverseTime` flips a backwards-read sequence back in order; `TimeDistributed` is Keras's
wrapper of that name, with a faster path for the `Dense` output head of sequence models.
They are registered with Keras so that saved models load again once rnnkit is imported.

Example:

>>> import numpy as np
>>> np.asarray(OneHot(3)(np.array([[2, 0]]))).tolist()
[[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]]
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rnnkit")
class OneHot(keras.layers.Layer):
    """Turns int ids `(batch, timesteps)` into one-hot floats `(batch, timesteps, vocab_size)`.

    Used instead of an `Embedding` when `ModelSpec.embedding_dim` is None; it has no weights.

    Args:
        vocab_size: Number of token ids (ids lie in `[0, vocab_size)`).
    """

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size

    def call(self, inputs):
        return keras.ops.one_hot(keras.ops.cast(inputs, "int32"), self.vocab_size)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}


@keras.saving.register_keras_serializable(package="rnnkit")
class StepZeros(keras.layers.Layer):
    """Makes an all-zero input sequence `(batch, timesteps, 1)` with the batch size of its input.

    A decoder that takes its context only as the initial state still needs something
    to read at every step; zeros carry no information, so the state must carry it all.

    Args:
        timesteps: Length of the sequence to make.
    """

    def __init__(self, timesteps: int, **kwargs):
        super().__init__(**kwargs)
        self.timesteps = timesteps

    def call(self, inputs):
        batch_size = keras.ops.shape(inputs)[0]
        return keras.ops.zeros((batch_size, self.timesteps, 1), dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.timesteps, 1)

    def get_config(self):
        return {**super().get_config(), "timesteps": self.timesteps}


@keras.saving.register_keras_serializable(package="rnnkit")
class ReverseTime(keras.layers.Layer):
    """Reverses a sequence `(batch, timesteps, features)` along the time axis.

    A layer built with `go_backwards=True` returns its outputs last step first; an
    aligned (many_to_many) model flips them back so output t still matches input t.
    """

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnnkit")
class TimeDistributed(keras.layers.TimeDistributed):
    """`keras.layers.TimeDistributed`, applying a wrapped `Dense` to all time steps at once.

    Keras's wrapper calls its layer once per time step and stacks the results: for the
    output head of a 35-step language model, 35 small matrix products forward and twice as
    many backward. A `Dense` layer acts on the last axis only, so one product over
    `(batch, time, units)` gives the same numbers. On the char LM (2 CPU cores,
    `benchmarks/bench_backends.py`, 32 and 128 units) this made the steady training epoch
    1.1-1.5x faster on JAX and the first epoch, which compiles, 2-3x faster; TensorFlow
    gained too. Any other wrapped layer runs Keras's step-by-step path. The weights, the
    parameter count and the outputs are Keras's.

    >>> import numpy as np
    >>> head = TimeDistributed(keras.layers.Dense(2, activation="softmax"))
    >>> x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    >>> reference = keras.layers.TimeDistributed(head.layer)(x)  # same Dense, same weights
    >>> bool(np.allclose(head(x), reference, atol=1e-6)), head.count_params() == 5 * 2 + 2
    (True, True)
    """

    def call(self, inputs, training=None, mask=None):
        if type(self.layer) is keras.layers.Dense:
            # A mask needs no handling: Dense takes none, and the wrapper passes it on.
            return self.layer.call(inputs)
        return super().call(inputs, training=training, mask=mask)
