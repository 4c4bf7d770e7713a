"""NumPy reference cells: the SimpleRNN, LSTM and GRU equations, step by step.

Each step function mirrors the equations of the course with Keras' weight layout, so
that students can check a Keras layer by hand. Keras multiplies row vectors from the
left (`x @ kernel`), with gate blocks side by side along the last axis:

- SimpleRNN: `kernel (d, h)`, `recurrent_kernel (h, h)`, `bias (h,)`.
- LSTM: blocks `[i, f, c, o]`: `kernel (d, 4h)`, `recurrent_kernel (h, 4h)`, `bias (4h,)`.
- GRU: blocks `[z, r, h]`: `kernel (d, 3h)`, `recurrent_kernel (h, 3h)`; the bias is
  `(3h,)` with `reset_after=False` and `(2, 3h)` (input bias, recurrent bias) with
  `reset_after=True`, the Keras default.

`run_reference(layer, inputs)` reads a Keras layer's weights and options and returns
its whole output sequence and final states, which match Keras to about 1e-6. It finds
the layer's cell in the cell table (`rnnkit.models.cells`), whose row names the step to
run: `simple_rnn_reference`, `lstm_reference` and `gru_reference` adapt the three step
functions to the table's common form `(x, states, weights, options) -> new states`.

Example:

```python
layer = keras.layers.GRU(4, return_sequences=True, return_state=True)
outputs, state = layer(x)
reference_outputs, reference_states = run_reference(layer, x)
np.testing.assert_allclose(reference_outputs, outputs, atol=1e-5)
```
"""

from __future__ import annotations

import numpy as np

from rnnkit.checks import invalid


def sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function `1 / (1 + exp(-x))` (Keras' default recurrent activation)."""
    return 1.0 / (1.0 + np.exp(-values))


# Activation names a reference cell can reproduce -> NumPy functions.
ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda values: np.maximum(values, 0.0),
    "linear": lambda values: values,
}


def stacked_projection(x, h, kernel, recurrent_kernel) -> np.ndarray:
    """Computes `x @ W_xh + h @ W_hh` as one product: `[x, h] @ [W_xh; W_hh]`.

    Stacking the kernel on top of the recurrent kernel and concatenating input and
    state gives the same pre-activation with a single matrix, the form many textbooks
    write as `W [x; h]`.

    Args:
        x: Inputs `(batch, d)`.
        h: Previous hidden state `(batch, h)`.
        kernel: `W_xh`, shape `(d, k)`.
        recurrent_kernel: `W_hh`, shape `(h, k)`.

    Returns:
        `(batch, k)`, equal to `x @ kernel + h @ recurrent_kernel`.
    """
    stacked_inputs = np.concatenate([x, h], axis=-1)  # (batch, d + h)
    stacked_weights = np.concatenate([kernel, recurrent_kernel], axis=0)  # (d + h, k)
    return stacked_inputs @ stacked_weights


def simple_rnn_step(x, h, kernel, recurrent_kernel, bias=None, activation=np.tanh):
    """One SimpleRNN step: `h_t = activation(x_t W_xh + h_{t-1} W_hh + b)`.

    Returns:
        The new hidden state `(batch, h)`.
    """
    pre_activation = x @ kernel + h @ recurrent_kernel
    if bias is not None:
        pre_activation = pre_activation + bias
    return activation(pre_activation)


def lstm_step(
    x, h, c, kernel, recurrent_kernel, bias=None, activation=np.tanh, recurrent_activation=sigmoid
):
    """One LSTM step with gates in Keras order `[i, f, c, o]`.

    `i, f, o = sigmoid(...)`, `c~ = tanh(...)`, `c_t = f * c_{t-1} + i * c~`,
    `h_t = o * tanh(c_t)`.

    Returns:
        `(h_t, c_t)`, each `(batch, h)`.
    """
    z = x @ kernel + h @ recurrent_kernel
    if bias is not None:
        z = z + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    input_gate = recurrent_activation(z_i)
    forget_gate = recurrent_activation(z_f)
    candidate = activation(z_c)
    output_gate = recurrent_activation(z_o)
    c_new = forget_gate * c + input_gate * candidate
    h_new = output_gate * activation(c_new)
    return h_new, c_new


def gru_step(
    x,
    h,
    kernel,
    recurrent_kernel,
    bias=None,
    reset_after=True,
    activation=np.tanh,
    recurrent_activation=sigmoid,
):
    """One GRU step with gates in Keras order `[z, r, h]`.

    `z = sigmoid(...)` (update), `r = sigmoid(...)` (reset), then the candidate
    `h~ = tanh(x W_h + r * (h W_hh + b_hh))` when `reset_after` (Keras default), or
    `h~ = tanh(x W_h + (r * h) W_hh + b_h)` otherwise, and `h_t = z * h + (1 - z) * h~`.

    Args:
        bias: `(3h,)` when `reset_after` is False; `(2, 3h)` (input bias, recurrent
            bias) when it is True; None without bias.

    Returns:
        The new hidden state `(batch, h)`.
    """
    units = h.shape[-1]
    input_bias = 0.0
    recurrent_bias = 0.0
    if bias is not None and reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    elif bias is not None:
        input_bias = bias
    x_z, x_r, x_h = np.split(x @ kernel + input_bias, 3, axis=-1)
    if reset_after:
        # The whole recurrent product (with its own bias) is taken before the reset gate.
        h_z, h_r, h_h = np.split(h @ recurrent_kernel + recurrent_bias, 3, axis=-1)
    else:
        h_z, h_r = np.split(h @ recurrent_kernel[:, : 2 * units], 2, axis=-1)
    update_gate = recurrent_activation(x_z + h_z)
    reset_gate = recurrent_activation(x_r + h_r)
    if reset_after:
        candidate = activation(x_h + reset_gate * h_h)
    else:
        candidate = activation(x_h + (reset_gate * h) @ recurrent_kernel[:, 2 * units :])
    return update_gate * h + (1.0 - update_gate) * candidate


def simple_rnn_reference(x, states, weights, options) -> list[np.ndarray]:
    """The SimpleRNN row's step: `[h] -> [h_t]` (see `rnnkit.models.cells.Cell`)."""
    return [simple_rnn_step(x, states[0], *weights, activation=options["activation"])]


def lstm_reference(x, states, weights, options) -> list[np.ndarray]:
    """The LSTM row's step: `[h, c] -> [h_t, c_t]`."""
    return list(lstm_step(x, *states, *weights, options["activation"], options["recurrent_activation"]))


def gru_reference(x, states, weights, options) -> list[np.ndarray]:
    """The GRU row's step: `[h] -> [h_t]`, with the layer's `reset_after`."""
    return [
        gru_step(
            x, states[0], *weights, options["reset_after"], options["activation"],
            options["recurrent_activation"],
        )
    ]


def _activation(layer, name: str):
    import keras

    function = getattr(layer, name)
    # A built-in activation is found by its name (`serialize` would load TensorFlow on JAX).
    plain = getattr(function, "__name__", None)
    if plain in ACTIVATIONS and keras.activations.get(plain) is function:
        return ACTIVATIONS[plain]
    key = keras.activations.serialize(function)
    key = key if isinstance(key, str) else key.get("config", {}).get("name", str(key))
    if key not in ACTIVATIONS:
        raise invalid(
            name,
            key,
            f"one of {', '.join(repr(k) for k in ACTIVATIONS)} for the NumPy reference",
        )
    return ACTIVATIONS[key]


def run_reference(layer, inputs, initial_state=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Runs a Keras recurrent layer's equations in NumPy over a whole sequence.

    Dropout is ignored (inference behaviour). With `go_backwards` the sequence is read
    last step first and the outputs are returned in that order, as Keras does.

    Args:
        layer: A built layer of a cell in the cell table (`SimpleRNN`, `LSTM`, `GRU`).
        inputs: `(batch, timesteps, d)` float array.
        initial_state: Optional list of state arrays (`[h]`, or `[h, c]` for LSTM);
            zeros by default.

    Returns:
        `(outputs, states)`: outputs `(batch, timesteps, h)` (every step, whatever the
        layer's `return_sequences`) and the list of final states.
    """
    from rnnkit.models.cells import cell_for_layer

    cell = cell_for_layer(layer)
    if cell is None:
        raise invalid("layer", type(layer).__name__, "a built SimpleRNN, LSTM or GRU layer")
    inputs = np.asarray(inputs, dtype=np.float64)
    weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
    kernel, recurrent_kernel = weights[0], weights[1]
    bias = weights[2] if layer.use_bias else None
    batch = inputs.shape[0]
    if initial_state is None:
        states = [np.zeros((batch, layer.units)) for _ in range(cell.num_states)]
    else:
        states = [np.asarray(state, dtype=np.float64) for state in initial_state]
    options = {option: getattr(layer, option) for option in cell.options}
    for name in ("activation", "recurrent_activation"):
        if hasattr(layer, name):
            options[name] = _activation(layer, name)
    steps = range(inputs.shape[1] - 1, -1, -1) if layer.go_backwards else range(inputs.shape[1])
    outputs = []
    for step in steps:
        states = cell.reference_step(inputs[:, step, :], states, (kernel, recurrent_kernel, bias), options)
        outputs.append(states[0])
    return np.stack(outputs, axis=1), states
