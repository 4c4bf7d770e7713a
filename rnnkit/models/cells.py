"""Cell names to Keras layers, plus the few small helper layers the builders need.

`make_recurrent_layer` turns a `ModelSpec` into one configured `SimpleRNN`, `LSTM` or
`GRU` layer (wrapped in `Bidirectional` when asked), passing every option under its
Keras name. The helper layers (`OneHot`, `StepZeros`, `ReverseTime`) have no weights;
they are registered with Keras so that saved models load again once rnnkit is imported.

Example:

>>> spec = ModelSpec(cell="gru", units=8, bidirectional=True)
>>> layer = make_recurrent_layer(spec, return_sequences=True, name="rnn_1")
>>> type(layer).__name__, layer.name
('Bidirectional', 'rnn_1')
"""

from __future__ import annotations

import keras

from rnnkit.config import ModelSpec

# Cell name (as users write it) -> Keras layer class.
CELL_LAYERS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}

# Number of state tensors each cell carries (LSTM has h and c).
STATE_COUNTS = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def cell_layer_kwargs(spec: ModelSpec) -> dict:
    """Returns the Keras keyword arguments a recurrent layer takes from `spec`.

    Cell-specific options (`unit_forget_bias` for LSTM, `reset_after` for GRU) are
    passed only when set, so that `None` keeps the Keras default.

    Args:
        spec: The model spec.

    Returns:
        A dict of keyword arguments for `CELL_LAYERS[spec.cell]`.
    """
    kwargs = {
        "units": spec.units,
        "activation": spec.activation,
        "use_bias": spec.use_bias,
        "kernel_initializer": spec.kernel_initializer,
        "recurrent_initializer": spec.recurrent_initializer,
        "dropout": spec.dropout,
        "recurrent_dropout": spec.recurrent_dropout,
        "unroll": spec.unroll,
    }
    if spec.cell == "lstm" and spec.unit_forget_bias is not None:
        kwargs["unit_forget_bias"] = spec.unit_forget_bias
    if spec.cell == "gru" and spec.reset_after is not None:
        kwargs["reset_after"] = spec.reset_after
    return kwargs


def make_recurrent_layer(
    spec: ModelSpec,
    *,
    return_sequences: bool,
    name: str,
    return_state: bool = False,
    go_backwards: bool = False,
    stateful: bool = False,
    bidirectional: bool | None = None,
    units: int | None = None,
) -> keras.layers.Layer:
    """Builds one recurrent layer from `spec`.

    Args:
        spec: The model spec (cell, units and options).
        return_sequences: Return the whole output sequence (True) or the last step only.
        name: The layer's name; a `Bidirectional` wrapper carries it, and the wrapped
            layer is named `{name}_{cell}`.
        return_state: Also return the final state tensors.
        go_backwards: Read the input sequence in reverse (Keras then returns the output
            sequence in reverse order too).
        stateful: Keep the final state of each batch as the next batch's initial state.
        bidirectional: Wrap in `Bidirectional` with `spec.merge_mode`; None means
            `spec.bidirectional` (decoders pass False).
        units: Overrides `spec.units` (a decoder fed by a concatenated bidirectional
            encoder state needs twice the width).

    Returns:
        A `SimpleRNN`, `LSTM` or `GRU` layer, or a `Bidirectional` wrapping one.
    """
    kwargs = cell_layer_kwargs(spec)
    if units is not None:
        kwargs["units"] = units
    if bidirectional is None:
        bidirectional = spec.bidirectional
    layer_class = CELL_LAYERS[spec.cell]
    inner_name = f"{name}_{spec.cell}" if bidirectional else name
    layer = layer_class(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        stateful=stateful,
        name=inner_name,
        **kwargs,
    )
    if bidirectional:
        return keras.layers.Bidirectional(layer, merge_mode=spec.merge_mode, name=name)
    return layer


def is_recurrent_layer(layer) -> bool:
    """Returns True for `SimpleRNN`, `LSTM`, `GRU` and `Bidirectional` layers."""
    return isinstance(layer, (*CELL_LAYERS.values(), keras.layers.Bidirectional))


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
