"""Parameter counts from the formulas alone, and a per-layer table that checks them against Keras.

With `h = units`, `d = input_dim` (the width each step reads) and `y` output units:

| layer | parameters |
|---|---|
| SimpleRNN | `h * (h + d + 1)` |
| LSTM | `4 * h * (h + d + 1)` (gates i, f, c, o) |
| GRU, `reset_after=True` (default) | `3 * h * (h + d + 2)` (input and recurrent biases) |
| GRU, `reset_after=False` | `3 * h * (h + d + 1)` |
| Bidirectional | twice the wrapped layer |
| Dense (also inside TimeDistributed) | `d * y + y` |
| Embedding | `vocab_size * output_dim` |

Without bias (`use_bias=False`) the bias terms (`+ 1`, `+ 2`, `+ y`) drop out.

`param_table(model)` lists every layer that has weights, with the formula filled in
and Keras' own count beside it; `param_totals(model)` gives the sums, whose `keras`
value is `model.count_params()`. Layers without weights (inputs, reshapes, merges) are
left out of the table.

Example:

>>> recurrent_params("lstm", units=32, input_dim=10)
5504
>>> recurrent_formula("gru", units=5, input_dim=4, reset_after=False)
'3*units*(units+input_dim+1) = 3*5*(5+4+1)'
"""

from __future__ import annotations

import keras
import pandas as pd

from rnnkit.checks import check_bool, check_positive_int
from rnnkit.models.cells import cell_for_layer, get_cell

TABLE_COLUMNS = ["layer", "type", "input_width", "units", "formula", "analytic", "keras", "match"]


def _recurrent_terms(cell, units, input_dim, use_bias, reset_after, bidirectional):
    """Validates the options and returns `(directions, gates, units, input_dim, bias)`.

    The gates (weight blocks) and the bias vectors per gate come from the cell table:
    GRU with `reset_after` has two (input and recurrent), every other layer with bias
    one, a layer without bias none.
    """
    row = get_cell(cell)
    units = check_positive_int("units", units)
    input_dim = check_positive_int("input_dim", input_dim)
    check_bool("use_bias", use_bias)
    check_bool("reset_after", reset_after)
    check_bool("bidirectional", bidirectional)
    bias = row.bias_vectors({"reset_after": reset_after}) if use_bias else 0
    return (2 if bidirectional else 1), len(row.gate_names), units, input_dim, bias


def recurrent_params(
    cell: str,
    units: int,
    input_dim: int,
    *,
    use_bias: bool = True,
    reset_after: bool = True,
    bidirectional: bool = False,
) -> int:
    """Returns the parameter count of one recurrent layer from its formula.

    Args:
        cell: A cell of the cell table: "simple_rnn", "lstm" or "gru".
        units: Hidden-state size `h`.
        input_dim: Features each step reads, `d`.
        use_bias: Whether the layer has bias vectors.
        reset_after: GRU only: Keras' default True keeps separate input and recurrent
            biases (`+ 2`); ignored for other cells.
        bidirectional: Count both directions (twice the one-direction count).

    Returns:
        The number of parameters.

    Example:

    >>> recurrent_params("gru", units=5, input_dim=4, reset_after=False)
    150
    """
    directions, gates, units, input_dim, bias = _recurrent_terms(
        cell, units, input_dim, use_bias, reset_after, bidirectional
    )
    return directions * gates * units * (units + input_dim + bias)


def recurrent_formula(
    cell: str,
    units: int,
    input_dim: int,
    *,
    use_bias: bool = True,
    reset_after: bool = True,
    bidirectional: bool = False,
) -> str:
    """Returns the formula of `recurrent_params` as one line of text, with the numbers put in.

    Args:
        cell: A cell of the cell table: "simple_rnn", "lstm" or "gru".
        units: Hidden-state size `h`.
        input_dim: Features each step reads, `d`.
        use_bias: Whether the layer has bias vectors.
        reset_after: GRU only (see `recurrent_params`).
        bidirectional: Count both directions (the formula gets a `2*` prefix).

    Returns:
        `"<symbolic formula> = <formula with the numbers>"`.

    Example:

    >>> recurrent_formula("lstm", units=32, input_dim=10)
    '4*units*(units+input_dim+1) = 4*32*(32+10+1)'
    """
    directions, gates, units, input_dim, bias = _recurrent_terms(
        cell, units, input_dim, use_bias, reset_after, bidirectional
    )
    prefix = "2*" if directions == 2 else ""
    gate_text = f"{gates}*" if gates > 1 else ""
    bias_text = f"+{bias}" if bias else ""
    symbolic = f"{prefix}{gate_text}units*(units+input_dim{bias_text})"
    numeric = f"{prefix}{gate_text}{units}*({units}+{input_dim}{bias_text})"
    return f"{symbolic} = {numeric}"


def dense_params(input_dim: int, units: int, use_bias: bool = True) -> int:
    """Returns the parameter count of a Dense layer: `input_dim * units (+ units)`.

    Example:

    >>> dense_params(32, 10)
    330
    """
    input_dim = check_positive_int("input_dim", input_dim)
    units = check_positive_int("units", units)
    check_bool("use_bias", use_bias)
    return input_dim * units + (units if use_bias else 0)


def dense_formula(input_dim: int, units: int, use_bias: bool = True) -> str:
    """Returns the Dense formula as text, e.g. `'input_dim*units+units = 32*10+10'`."""
    if use_bias:
        return f"input_dim*units+units = {input_dim}*{units}+{units}"
    return f"input_dim*units = {input_dim}*{units}"


def embedding_params(vocab_size: int, output_dim: int) -> int:
    """Returns the parameter count of an Embedding: one `output_dim` vector per token id."""
    vocab_size = check_positive_int("vocab_size", vocab_size)
    output_dim = check_positive_int("output_dim", output_dim)
    return vocab_size * output_dim


def embedding_formula(vocab_size: int, output_dim: int) -> str:
    """Returns the Embedding formula as text, e.g. `'vocab_size*output_dim = 7*3'`."""
    return f"vocab_size*output_dim = {vocab_size}*{output_dim}"


def _input_width(layer) -> int | None:
    """The last-axis width of the (first) tensor a layer reads in the model's graph."""
    inputs = layer.input
    if isinstance(inputs, (list, tuple)):
        # Recurrent layers called with `initial_state` list the sequence first.
        inputs = inputs[0]
    return inputs.shape[-1]


def _recurrent_row(layer, input_width: int, bidirectional: bool) -> dict:
    cell = cell_for_layer(layer).name
    options = {
        "use_bias": layer.use_bias,
        "reset_after": bool(getattr(layer, "reset_after", True)),
        "bidirectional": bidirectional,
    }
    return {
        "units": layer.units,
        "formula": recurrent_formula(cell, layer.units, input_width, **options),
        "analytic": recurrent_params(cell, layer.units, input_width, **options),
    }


def _layer_row(layer) -> dict:
    """One table row: the formula for the layer's class, or none for an unknown class."""
    kind = type(layer).__name__
    row = {
        "layer": layer.name,
        "type": kind,
        "input_width": None,
        "units": None,
        "formula": f"no formula for {kind}",
        "analytic": None,
    }
    inner = layer
    if isinstance(layer, keras.layers.Bidirectional):
        inner = layer.forward_layer
        row["type"] = f"Bidirectional({type(inner).__name__})"
    elif isinstance(layer, keras.layers.TimeDistributed):
        inner = layer.layer
        row["type"] = f"TimeDistributed({type(inner).__name__})"
    if isinstance(inner, keras.layers.Embedding):
        row.update(
            input_width=inner.input_dim,
            units=inner.output_dim,
            formula=embedding_formula(inner.input_dim, inner.output_dim),
            analytic=embedding_params(inner.input_dim, inner.output_dim),
        )
    elif cell_for_layer(inner) is not None:
        width = _input_width(layer)
        row["input_width"] = width
        row.update(_recurrent_row(inner, width, bidirectional=inner is not layer))
    elif isinstance(inner, keras.layers.Dense):
        width = _input_width(layer)
        row.update(
            input_width=width,
            units=inner.units,
            formula=dense_formula(width, inner.units, inner.use_bias),
            analytic=dense_params(width, inner.units, inner.use_bias),
        )
    return row


def param_table(model: keras.Model) -> pd.DataFrame:
    """Lists every layer with weights: its formula, the analytic count and Keras' count.

    Args:
        model: A built Keras model (any model `build_model` makes; other layer classes
            get a row with no formula and `match` False).

    Returns:
        A DataFrame with columns `layer` (name), `type`, `input_width`, `units`,
        `formula` (text with the numbers put in), `analytic` (from the formula),
        `keras` (`layer.count_params()`) and `match`. Layers without weights are left
        out, so the `keras` column sums to `model.count_params()`.

    Example:

    ```python
    table = param_table(model)
    table[["layer", "formula", "analytic", "keras"]]
    #   layer                                      formula  analytic  keras
    # 0 rnn_1  4*units*(units+input_dim+1) = 4*32*(32+10+1)      5504   5504
    ```
    """
    rows = []
    for layer in model.layers:
        if not layer.weights:
            continue
        row = _layer_row(layer)
        row["keras"] = int(layer.count_params())
        row["match"] = row["analytic"] == row["keras"]
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for column in ("input_width", "units", "analytic"):
        table[column] = table[column].astype("Int64")
    return table


def param_totals(model: keras.Model) -> dict:
    """Returns the total counts: `{"analytic": ..., "keras": model.count_params(), "match": ...}`.

    `analytic` is the sum of the table's formula counts; it is None when some layer
    has no formula.
    """
    table = param_table(model)
    analytic = None if table["analytic"].isna().any() else int(table["analytic"].sum())
    keras_total = int(model.count_params())
    return {"analytic": analytic, "keras": keras_total, "match": analytic == keras_total}
