"""The cell table: one row per recurrent cell, holding everything rnnkit knows about it.

A row (`Cell`) names the Keras layer, the gate blocks of its kernels in Keras order, how
many state tensors it carries, the `ModelSpec` options that apply to it alone, how many
bias vectors each gate has (for the parameter formula) and its NumPy reference step.
Every other part of rnnkit reads cells from this table: `ModelSpec` validation, the
builders, the parameter formulas, the NumPy reference, seq2seq inference, the
diagnostics, the comparison grid and the CLI choices. Adding a cell is one
`register_cell` call.

`make_recurrent_layer` turns a `ModelSpec` into one configured layer of its cell
(wrapped in `Bidirectional` when asked), passing every option under its Keras name.

This module imports Keras only when a layer is built or looked up, so that validating
settings and building the CLI stay light.

Example:

>>> CELL_TABLE["lstm"].gate_names
('input', 'forget', 'cell', 'output')
>>> from rnnkit.config import ModelSpec
>>> spec = ModelSpec(cell="gru", units=8, bidirectional=True)
>>> layer = make_recurrent_layer(spec, return_sequences=True, name="rnn_1")
>>> type(layer).__name__, layer.name
('Bidirectional', 'rnn_1')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rnnkit.checks import check_choice, check_positive_int, invalid
from rnnkit.models import reference

if TYPE_CHECKING:
    from rnnkit.config import ModelSpec


def _one_bias_vector(options: dict) -> int:
    return 1


def _gru_bias_vectors(options: dict) -> int:
    # With reset_after (the Keras default) the recurrent product has its own bias.
    return 2 if options.get("reset_after", True) else 1


@dataclass(frozen=True)
class Cell:
    """One row of the cell table.

    Attributes:
        name: The name users write (`ModelSpec.cell`, grids, the CLI), e.g. "lstm".
        keras_class: The Keras layer: a class name in `keras.layers` ("LSTM"), or the
            layer class itself (for a cell defined outside Keras).
        gate_names: The blocks of the kernel and recurrent kernel, in Keras order; their
            number is the gate factor of the parameter formula.
        num_states: State tensors the layer carries (LSTM: h and c).
        reference_step: The NumPy step `(x, states, weights, options) -> new states`:
            `weights` is `(kernel, recurrent_kernel, bias or None)` and `options` holds the
            layer's `activation` and `recurrent_activation` as NumPy functions and the
            values of the cell's own `options` (see `rnnkit.models.reference`).
        options: `ModelSpec` fields that apply to this cell only; each is passed to the
            Keras layer under its own name when it is not None.
        bias_vectors: `options -> int`: bias vectors per gate when the layer has a bias,
            given the layer's values of `options` (GRU with `reset_after`: 2).
        build_path: The class the builders make, as "module:Class", when it is not
            `keras_class` itself: a subclass with the same weights and numbers (for the
            three built-in cells, `rnnkit.models.fast_rnn`'s layers, faster on JAX on a
            CPU). Layers are recognised by `keras_class`, so a plain Keras layer still
            belongs to its row.
    """

    name: str
    keras_class: str | type
    gate_names: tuple[str, ...]
    num_states: int
    reference_step: Callable
    options: tuple[str, ...] = ()
    bias_vectors: Callable[[dict], int] = _one_bias_vector
    build_path: str | None = None

    @property
    def layer_class(self) -> type:
        """The Keras layer class (imports Keras)."""
        if isinstance(self.keras_class, str):
            import keras

            return getattr(keras.layers, self.keras_class)
        return self.keras_class

    @property
    def build_class(self) -> type:
        """The layer class the builders make: `build_path` when set, else `layer_class`."""
        if self.build_path is None:
            return self.layer_class
        import importlib

        module, _, name = self.build_path.partition(":")
        return getattr(importlib.import_module(module), name)


# Cell name -> row: the three Keras cells. Add rows with `register_cell`.
CELL_TABLE: dict[str, Cell] = {
    cell.name: cell
    for cell in (
        Cell(
            name="simple_rnn",
            keras_class="SimpleRNN",
            gate_names=("recurrent",),
            num_states=1,
            reference_step=reference.simple_rnn_reference,
            build_path="rnnkit.models.fast_rnn:SimpleRNN",
        ),
        Cell(
            name="lstm",
            keras_class="LSTM",
            gate_names=("input", "forget", "cell", "output"),
            num_states=2,  # h and c
            reference_step=reference.lstm_reference,
            options=("unit_forget_bias",),
            build_path="rnnkit.models.fast_rnn:LSTM",
        ),
        Cell(
            name="gru",
            keras_class="GRU",
            gate_names=("update", "reset", "candidate"),
            num_states=1,
            reference_step=reference.gru_reference,
            options=("reset_after",),
            bias_vectors=_gru_bias_vectors,
            build_path="rnnkit.models.fast_rnn:GRU",
        ),
    )
}


class _CellNames(Sequence):
    """The registered cell names, in registration order, always current."""

    def __getitem__(self, index):
        return tuple(CELL_TABLE)[index]

    def __len__(self) -> int:
        return len(CELL_TABLE)

    def __eq__(self, other) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


# The cell names, e.g. ("simple_rnn", "lstm", "gru"); it follows `register_cell`.
CELLS = _CellNames()


def register_cell(cell: Cell) -> Cell:
    """Adds a row to the cell table (or replaces the row of that name).

    Args:
        cell: The row. Its `options` must be `ModelSpec` fields that default to None.

    Returns:
        The row.

    Raises:
        ConfigError: When `cell` is not a `Cell` or an option is not such a field.
    """
    from rnnkit.config import ModelSpec

    if not isinstance(cell, Cell):
        raise invalid("cell", cell, "a rnnkit Cell")
    if not isinstance(cell.name, str) or not cell.name:
        raise invalid("cell.name", cell.name, "a non-empty string")
    check_positive_int("cell.num_states", cell.num_states)
    defaults = ModelSpec()
    for option in cell.options:
        if getattr(defaults, option, "missing") is not None:
            raise invalid(
                "cell.options", option, "names of ModelSpec fields that default to None"
            )
    CELL_TABLE[cell.name] = cell
    return cell


def get_cell(name: str) -> Cell:
    """Returns the row of cell `name`; the error lists the registered cells."""
    check_choice("cell", name, CELLS)
    return CELL_TABLE[name]


def cell_for_layer(layer) -> Cell | None:
    """Returns the row whose Keras class `layer` is (exactly, else by inheritance), or None."""
    cells = list(CELL_TABLE.values())
    for cell in cells:
        if type(layer) is cell.layer_class:
            return cell
    for cell in cells:
        if isinstance(layer, cell.layer_class):
            return cell
    return None


def cell_only_options() -> dict[str, str]:
    """Returns `{option: cell name}` for every option that applies to one cell only."""
    return {option: cell.name for cell in CELL_TABLE.values() for option in cell.options}


def cell_layer_kwargs(spec: ModelSpec) -> dict:
    """Returns the Keras keyword arguments a recurrent layer takes from `spec`.

    Options of the cell alone (`unit_forget_bias` for LSTM, `reset_after` for GRU) are
    passed only when set, so that `None` keeps the Keras default.

    Args:
        spec: The model spec.

    Returns:
        A dict of keyword arguments for the cell's Keras layer.
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
    for option in get_cell(spec.cell).options:
        if getattr(spec, option) is not None:
            kwargs[option] = getattr(spec, option)
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
):
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
        A layer of the cell's Keras class (`SimpleRNN`, `LSTM`, `GRU`, ...), or a
        `Bidirectional` wrapping one.
    """
    import keras

    kwargs = cell_layer_kwargs(spec)
    if units is not None:
        kwargs["units"] = units
    if bidirectional is None:
        bidirectional = spec.bidirectional
    inner_name = f"{name}_{spec.cell}" if bidirectional else name
    layer = get_cell(spec.cell).build_class(
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
    """Returns True for a layer of a registered cell, or a `Bidirectional` wrapping one."""
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        layer = layer.forward_layer
    return cell_for_layer(layer) is not None
