"""Frozen, validated settings: what model to build and how to train it.

A `ModelSpec` says which network to build (cell, variety, sizes, options) and a
`TrainConfig` says how to train it. Both validate every field on creation, so a bad
value fails before any model is built, with a message that names the field.

Example:

>>> spec = ModelSpec(cell="gru", variety="many_to_one", units=8)
>>> spec.replace(units=16).units
16
>>> ModelSpec(units=0)
Traceback (most recent call last):
...
rnnkit.errors.ConfigError: Invalid value for `units`: got 0; expected a positive integer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rnnkit.checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_non_negative_int,
    check_optional_positive_float,
    check_positive_float,
    check_positive_int,
    invalid,
)
from rnnkit.errors import ConfigError
from rnnkit.models.cells import CELLS, cell_only_options

VARIETIES = ("one_to_one", "one_to_many", "many_to_one", "many_to_many", "seq2seq")
MERGE_MODES = ("concat", "sum", "mul", "ave")
CONTEXT_MODES = ("initial_state", "every_step", "both")
ACTIVATIONS = (
    "tanh", "relu", "sigmoid", "hard_sigmoid", "linear", "elu", "selu", "gelu",
    "softsign", "softplus", "swish", "leaky_relu",
)
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "orthogonal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "random_normal", "random_uniform", "identity",
    "zeros", "ones",
)
OPTIMIZERS = ("adam", "rmsprop", "sgd")


class _Settings:
    """Shared helpers of the settings dataclasses: dict round trip and `replace`."""

    def to_dict(self) -> dict:
        """Returns the settings as a plain, JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        """Builds settings from a dict, refusing keys the class does not have.

        Args:
            values: Field names and values, e.g. from YAML or JSON.

        Returns:
            A validated instance.
        """
        known = [field.name for field in dataclasses.fields(cls)]
        for key in values:
            if key not in known:
                raise ConfigError(
                    f"Unknown setting `{key}` for {cls.__name__}; accepted: {', '.join(known)}."
                )
        return cls(**values)

    def replace(self, **changes):
        """Returns a copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ModelSpec(_Settings):
    """Which network to build; the Keras argument names are kept where values go to Keras."""

    cell: str = "lstm"  # "simple_rnn", "lstm", "gru" or another cell of the cell table.
    variety: str = "many_to_one"  # One of VARIETIES.
    units: int = 32  # Hidden-state size of every recurrent layer (Dense width for one_to_one).
    num_layers: int = 1  # Stacked recurrent layers (hidden Dense layers for one_to_one).
    bidirectional: bool = False  # Wrap recurrent layers in keras.layers.Bidirectional.
    merge_mode: str = "concat"  # How Bidirectional combines directions.
    dropout: float = 0.0  # Input dropout of each recurrent layer, in [0, 1).
    recurrent_dropout: float = 0.0  # Dropout on the recurrent connection, in [0, 1).
    activation: str = "tanh"  # Cell activation (Keras default tanh).
    use_bias: bool = True
    unroll: bool = False  # Unroll the time loop (faster for short sequences on CPU).
    go_backwards: bool = False  # Process the input sequence in reverse.
    kernel_initializer: str = "glorot_uniform"
    recurrent_initializer: str = "orthogonal"
    unit_forget_bias: bool | None = None  # LSTM only; None keeps the Keras default (True).
    reset_after: bool | None = None  # GRU only; None keeps the Keras default (True).
    embedding_dim: int | None = None  # Token inputs: Embedding width; None means one-hot.
    context: str = "initial_state"  # one_to_many / seq2seq decoder context mode.
    stateful: bool = False  # Carry state across batches (needs a fixed batch size).
    name: str | None = None  # Model name; None derives one from cell and variety.

    def __post_init__(self):
        check_choice("cell", self.cell, CELLS)
        check_choice("variety", self.variety, VARIETIES)
        check_positive_int("units", self.units)
        check_positive_int("num_layers", self.num_layers)
        check_bool("bidirectional", self.bidirectional)
        check_choice("merge_mode", self.merge_mode, MERGE_MODES)
        check_fraction("dropout", self.dropout)
        check_fraction("recurrent_dropout", self.recurrent_dropout)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_bool("use_bias", self.use_bias)
        check_bool("unroll", self.unroll)
        check_bool("go_backwards", self.go_backwards)
        check_choice("kernel_initializer", self.kernel_initializer, INITIALIZERS)
        check_choice("recurrent_initializer", self.recurrent_initializer, INITIALIZERS)
        for option, owner in cell_only_options().items():
            value = getattr(self, option)
            if value is not None:
                check_bool(option, value)
                if self.cell != owner:
                    raise invalid(
                        option, value, f"None for cell {self.cell!r} (the option applies to {owner!r} only)"
                    )
        if self.embedding_dim is not None:
            check_positive_int("embedding_dim", self.embedding_dim)
        check_choice("context", self.context, CONTEXT_MODES)
        check_bool("stateful", self.stateful)
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise invalid("name", self.name, "a non-empty string or None")

    @property
    def model_name(self) -> str:
        """The Keras model name: `name` if given, else e.g. `lstm_many_to_one`."""
        return self.name or f"{self.cell}_{self.variety}"


@dataclass(frozen=True)
class TrainConfig(_Settings):
    """How to train: optimizer, schedule, clipping, early stopping and seed."""

    optimizer: str = "adam"  # "adam", "rmsprop" or "sgd".
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 5
    clipnorm: float | None = None  # Clip each gradient tensor to this L2 norm; None is off.
    clipvalue: float | None = None  # Clip each gradient element to [-v, v]; None is off.
    global_clipnorm: float | None = None  # Clip all gradients together to this global L2 norm.
    early_stopping_patience: int | None = None  # Epochs without val improvement; None is off.
    seed: int = 0  # Passed to keras.utils.set_random_seed before building and training.
    shuffle: bool = True  # Shuffle training samples each epoch (off for stateful training).

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive_float("learning_rate", self.learning_rate)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("epochs", self.epochs)
        check_optional_positive_float("clipnorm", self.clipnorm)
        check_optional_positive_float("clipvalue", self.clipvalue)
        check_optional_positive_float("global_clipnorm", self.global_clipnorm)
        clipping = [key for key in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, key) is not None]
        if len(clipping) > 1:
            # Keras optimizers accept only one kind of clipping at a time.
            raise invalid(
                clipping[1], getattr(self, clipping[1]), f"None when `{clipping[0]}` is set (use one kind of clipping)"
            )
        if self.early_stopping_patience is not None:
            check_positive_int("early_stopping_patience", self.early_stopping_patience)
        check_non_negative_int("seed", self.seed)
        check_bool("shuffle", self.shuffle)
