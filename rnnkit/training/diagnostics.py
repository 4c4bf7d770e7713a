"""Diagnostics of a recurrent network: gradient flow per time step, gradient norm,
spectral radius of the recurrent matrix, hidden-state saturation, and sample outputs.

All of these run outside the training loop, on a small probe batch, so asking for them
does not slow `model.fit` down; `probe_gradients` (what `train` uses) gives the gradient
norm and the gradient flow in one pass, traced once per run. They are written with
`keras.ops` and run on the TensorFlow and the JAX backend alike; the gradient itself is
taken by `rnnkit.training.gradients`, the one backend-specific module.

- `gradient_flow` measures ||dL/dx_t||, the gradient of the loss with respect to the
  *input sequence of the first recurrent layer* at every time step t (the embedding
  output for token input). For a many_to_one model the loss only sees the last step,
  so this curve shows directly how much step t can still influence learning: with a
  SimpleRNN it typically decays geometrically towards early steps (vanishing gradients).
  We use the layer's input rather than its hidden states because the input sequence is
  always a tensor in the graph, while a layer with `return_sequences=False` never
  exposes h_1..h_{T-1}; dL/dx_t = (dh_t/dx_t)^T dL/dh_t carries the same decay.
- `spectral_radius` is the largest |eigenvalue| of the recurrent kernel W_hh. For LSTM
  and GRU the kernel holds one (units, units) block per gate; `gate_spectral_radii`
  returns each block's radius and `spectral_radius` their maximum.
- `saturation` is the share of hidden-state entries with |h| above a threshold (tanh
  saturates near 1, where its derivative, and thus the gradient, is near 0).
"""

from __future__ import annotations

import keras
import numpy as np

from rnnkit.checks import check_bool, check_positive_int, invalid
from rnnkit.errors import ConfigError
from rnnkit.models.cells import cell_for_layer
from rnnkit.training.gradients import compile_ahead, compiled, value_and_gradients
from rnnkit.training.losses import per_entry_loss
from rnnkit.training.metrics import _take_rows, reset_recurrent_states


def recurrent_layers(model) -> list:
    """Returns the recurrent layers of `model` (SimpleRNN, LSTM, GRU, Bidirectional), input first."""
    return [
        layer for layer in model.layers
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
    ]


def find_recurrent_layer(model, layer_name: str | None = None):
    """Returns the layer named `layer_name`, or the first recurrent layer.

    "First" prefers the names the builders give (`rnn_1`, then `encoder_rnn_1`), else
    the first recurrent layer in the model's order.
    """
    layers = recurrent_layers(model)
    names = [layer.name for layer in layers]
    if layer_name is not None:
        if layer_name not in names:
            raise invalid("layer_name", layer_name, f"the name of a recurrent layer of the model ({', '.join(names) or 'none'})")
        return layers[names.index(layer_name)]
    for preferred in ("rnn_1", "encoder_rnn_1"):
        if preferred in names:
            return layers[names.index(preferred)]
    if not layers:
        raise ConfigError(f"Model {model.name!r} has no recurrent layer (SimpleRNN, LSTM, GRU or Bidirectional).")
    return layers[0]


def _loss_function(model, loss):
    """Returns `f(y, y_pred, sample_weight)`: the mean loss over real (non-zero weight) entries."""
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise invalid("loss", None, "a Keras loss name (the model is not compiled, so its loss is unknown)")
    per_entry = per_entry_loss(loss)

    def mean_loss(y, y_pred, sample_weight=None):
        values = per_entry(y, y_pred)  # (batch,) or (batch, timesteps)
        if sample_weight is None:
            return keras.ops.mean(values)
        weights = keras.ops.cast(keras.ops.reshape(sample_weight, keras.ops.shape(values)), values.dtype)
        return keras.ops.sum(values * weights) / keras.ops.maximum(keras.ops.sum(weights), 1e-12)

    return mean_loss


def _structured(model, x):
    """Wraps a single array in a list when the model was built with a list of inputs
    (Keras warns about a structure mismatch otherwise)."""
    if isinstance(model.input, (list, tuple)) and not isinstance(x, (list, tuple, dict)):
        return [x]
    return x


def gradient_norm(model, x, y, *, loss=None, sample_weight=None) -> float:
    """Returns the global L2 norm of dL/dw over all trainable weights, on one batch.

    This is the gradient before any clipping; the optimizer clips afterwards. The model
    runs in inference mode (no dropout) and its weights and states are left unchanged.

    Args:
        model: A Keras model.
        x: Input batch (an array, or a dict for seq2seq).
        y: Targets.
        loss: A Keras loss name; defaults to the compiled loss.
        sample_weight: Optional weights; 0 marks padding.

    Returns:
        sqrt(sum over weights of ||dL/dw||^2).
    """
    norm_of = _norm_function(model, _structured(model, x), y, _loss_function(model, loss), sample_weight)
    return float(norm_of(*_current_values(model.trainable_variables)))


def compiled_gradient_norm(model, x, y, *, loss=None, sample_weight=None):
    """Returns a zero-argument function that computes `gradient_norm` on this batch as a graph.

    Tracing (`tf.function` or `jax.jit`) costs about as much as four eager calls, after
    which each call is roughly ten times faster; worth it when the same batch is measured
    at many sets of weights (the per-epoch gradient-norm replay). The function reads the
    model's current weights on every call.

    Args:
        model, x, y, loss, sample_weight: As for `gradient_norm`.

    Returns:
        A function `() -> float`.
    """
    graph = compiled(_norm_function(model, _structured(model, x), y, _loss_function(model, loss), sample_weight))
    return lambda: float(graph(*_current_values(model.trainable_variables)))


def _current_values(variables) -> list:
    return [keras.ops.convert_to_tensor(variable) for variable in variables]


def _norm_function(model, inputs, y, loss_fn, sample_weight):
    """Returns `f(*trainable_values) -> global gradient norm` (pure in its arguments)."""
    non_trainable = _current_values(model.non_trainable_variables)

    def loss_at(*trainable):
        outputs, _ = model.stateless_call(list(trainable), non_trainable, inputs, training=False)
        return loss_fn(y, outputs, sample_weight=sample_weight)

    def norm_of(*trainable):
        _, gradients = value_and_gradients(loss_at, trainable)
        return keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(gradient)) for gradient in gradients))

    return norm_of


def gradient_flow(model, x, y, *, layer_name: str | None = None, loss=None, sample_weight=None) -> np.ndarray:
    """Returns ||dL/dx_t|| for every time step t at the input of a recurrent layer.

    The loss is averaged over the batch and the norm is taken over features, then
    averaged over samples, so the values are comparable across batch sizes.

    How: the layer's input sequence is shifted by a zero tensor `delta` of its shape, so
    dL/d(delta) equals dL/d(sequence) on every backend (a tensor inside the model cannot
    be differentiated directly on JAX).

    Args:
        model: A Keras model with a recurrent layer.
        x: A probe batch (array, or dict for seq2seq).
        y: Its targets.
        layer_name: Which recurrent layer; default the first (`rnn_1` / `encoder_rnn_1`).
        loss: A Keras loss name; defaults to the compiled loss.
        sample_weight: Optional weights; 0 marks padding.

    Returns:
        float64 `(timesteps,)`: the gradient norm at each input step of that layer.

    Example:

    ```python
    flow = gradient_flow(model, task.test.x[:32], task.test.y[:32])
    flow[0] / flow[-1]  # << 1 when gradients vanish towards early steps
    ```
    """
    layer = find_recurrent_layer(model, layer_name)
    loss_fn = _loss_function(model, loss)
    inputs = _structured(model, x)
    original_call = layer.call
    shapes = []

    def run_with(call):
        # Shadow the bound method on this instance only, and always restore it. The
        # stateless scope keeps a stateful layer's state (and JAX tracers) out of its variables.
        object.__setattr__(layer, "call", call)
        try:
            reset_recurrent_states(model)
            with keras.StatelessScope():
                return model(inputs, training=False)
        finally:
            object.__delattr__(layer, "call")

    def recording_call(sequences, *args, **kwargs):
        if not shapes:
            shapes.append(tuple(sequences.shape))
        return original_call(sequences, *args, **kwargs)

    run_with(recording_call)
    if not shapes:
        raise ConfigError(f"Layer {layer.name!r} was not called when running the model; cannot measure its gradient.")

    def loss_at(delta):
        shifted = []

        def shifted_call(sequences, *args, **kwargs):
            # Only the first call is the one measured (a shared layer may be called again).
            if not shifted:
                shifted.append(True)
                sequences = sequences + keras.ops.cast(delta, sequences.dtype)
            return original_call(sequences, *args, **kwargs)

        return loss_fn(y, run_with(shifted_call), sample_weight=sample_weight)

    _, (gradient,) = value_and_gradients(loss_at, [np.zeros(shapes[0], dtype="float32")])
    # (batch, timesteps, features) -> norm over features, mean over the batch.
    return np.linalg.norm(np.asarray(gradient, dtype="float64"), axis=-1).mean(axis=0)


def probe_gradients(model, *, loss=None, layer_name: str | None = None, compile: bool = True):
    """Returns `measure(x, y, sample_weight) -> (gradient_norm, gradient_flow)` in one pass.

    One backward pass gives both diagnostics `train` needs on a probe batch: the global
    gradient norm over the trainable weights (as `gradient_norm`) and the gradient per
    time step at the first recurrent layer's input (as `gradient_flow`; None for a model
    without recurrent layers). With `compile=True` the pass is traced once (`tf.function`
    / `jax.jit`) and every later call on batches of the same shape reuses it: the
    per-epoch gradient norms and the flow before and after training then cost one
    compilation per run instead of one eager pass each (on JAX an eager pass through a
    recurrent layer is slow, seconds for an LSTM of 128 units). The weights are read at
    each call; the model, its weights and states are left unchanged.

    Args:
        model: A Keras model.
        loss: A Keras loss name; defaults to the compiled loss.
        layer_name: Which recurrent layer the flow is measured at; default the first.
        compile: Trace the pass once (faster from a few calls on); False runs it eagerly.

    Returns:
        A function `(x, y, sample_weight=None, trainable=None) -> (float, np.ndarray | None)`;
        `trainable` gives weight values to measure at instead of the model's current ones.
        Its `prepare(x, y, sample_weight)` starts compiling the pass for that batch's
        shapes in a background thread (JAX only), so that the compilation overlaps
        whatever runs next (training); `wait()` waits for it.
    """
    loss_fn = _loss_function(model, loss)
    layer = find_recurrent_layer(model, layer_name) if recurrent_layers(model) else None
    original_call = layer.call if layer is not None else None

    def norm_and_flow(trainable, non_trainable, inputs, y, sample_weight, delta):
        def loss_at(delta, *trainable):
            shifted = []

            def shifted_call(sequences, *args, **kwargs):
                if not shifted:  # Only the first call of the layer is measured.
                    shifted.append(True)
                    sequences = sequences + keras.ops.cast(delta, sequences.dtype)
                return original_call(sequences, *args, **kwargs)

            if layer is not None:
                object.__setattr__(layer, "call", shifted_call)
            try:
                outputs, _ = model.stateless_call(list(trainable), non_trainable, inputs, training=False)
            finally:
                if layer is not None:
                    object.__delattr__(layer, "call")
            return loss_fn(y, outputs, sample_weight=sample_weight)

        _, gradients = value_and_gradients(loss_at, [delta, *trainable])
        norm = keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(gradient)) for gradient in gradients[1:]))
        # (batch, timesteps, features) -> norm over features, mean over the batch.
        flow = keras.ops.mean(keras.ops.sqrt(keras.ops.sum(keras.ops.square(gradients[0]), axis=-1)), axis=0)
        return norm, flow

    run = compiled(norm_and_flow) if compile else norm_and_flow
    ahead = []  # Functions compiling in the background for the batches `prepare` was given.

    def arguments(x, y, sample_weight, trainable):
        inputs = _structured(model, x)
        delta = np.zeros(_sequence_shape(layer, x) if layer is not None else (1, 1, 1), dtype="float32")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype="float32")
        trainable = _current_values(model.trainable_variables) if trainable is None else list(trainable)
        return trainable, _current_values(model.non_trainable_variables), inputs, y, weights, delta

    def measure(x, y, sample_weight=None, trainable=None):
        reset_recurrent_states(model)
        values = arguments(x, y, sample_weight, trainable)
        function = ahead[0] if ahead else run
        norm, flow = function(*values)
        return float(norm), (np.asarray(flow, dtype="float64") if layer is not None else None)

    def prepare(x, y, sample_weight=None, calls=None) -> None:
        """Starts compiling the pass for this batch's shapes in the background (JAX; else nothing).

        `calls`, the number of passes expected, lets a pass run only a few times compile
        quickly if the model is small (`rnnkit.training.gradients.FEW_CALLS`)."""
        if compile and not ahead:
            handle = compile_ahead(run, arguments(x, y, sample_weight, None), calls=calls,
                                   weights=model.count_params())
            if handle is not None:
                ahead.append(handle)

    def wait() -> None:
        """Waits for a compilation `prepare` started (so none outlives the run)."""
        for handle in ahead:
            handle.wait()

    measure.prepare, measure.wait = prepare, wait
    return measure


def _sequence_shape(layer, x) -> tuple:
    """The shape of the sequence `layer` receives for the batch `x` (from the model's graph)."""
    sequences = layer.input
    if isinstance(sequences, (list, tuple)):
        sequences = sequences[0]
    batch = len(next(iter(x.values())) if isinstance(x, dict) else x)
    return (batch, *tuple(sequences.shape[1:]))


def _cell_of(layer):
    """Returns the (forward) Keras RNN layer behind `layer` (unwrapping Bidirectional)."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.forward_layer
    return layer


def gate_spectral_radii(model, layer_name: str | None = None) -> dict:
    """Returns the spectral radius of each gate block of the recurrent kernel.

    Args:
        model: A built Keras model.
        layer_name: Which recurrent layer; default the first. For Bidirectional, the
            forward direction.

    Returns:
        {gate name: max |eigenvalue|}, e.g. {"recurrent": 0.93} for SimpleRNN,
        {"input": .., "forget": .., "cell": .., "output": ..} for LSTM,
        {"update": .., "reset": .., "candidate": ..} for GRU.
    """
    rnn = _cell_of(find_recurrent_layer(model, layer_name))
    return kernel_gate_radii(rnn, rnn.cell.recurrent_kernel)


def kernel_gate_radii(rnn, kernel) -> dict:
    """`gate_spectral_radii` of a recurrent kernel array of the (forward) layer `rnn`."""
    kernel = np.asarray(kernel, dtype="float64")
    units = kernel.shape[0]
    # Keras stores the gates side by side in the recurrent kernel, in the cell table's order.
    cell = cell_for_layer(rnn)
    gates = None if cell is None else cell.gate_names
    if gates is None or kernel.shape[1] != units * len(gates):
        gates = tuple(f"block_{index}" for index in range(kernel.shape[1] // units))
    radii = {}
    for index, gate in enumerate(gates):
        block = kernel[:, index * units:(index + 1) * units]
        # Weights that diverged (NaN loss) have no eigenvalues; report NaN instead of failing.
        radii[gate] = float(np.max(np.abs(np.linalg.eigvals(block)))) if np.isfinite(block).all() else float("nan")
    return radii


def spectral_radius(model, layer_name: str | None = None) -> float:
    """Returns the largest |eigenvalue| of a recurrent layer's kernel W_hh.

    For SimpleRNN this is the quantity that decides whether gradients through a linear
    recurrence vanish (< 1) or explode (> 1). For LSTM and GRU it is the maximum over the
    per-gate blocks (see `gate_spectral_radii`).

    Example:

    An orthogonal matrix (the Keras default `recurrent_initializer`) has every
    eigenvalue on the unit circle, so an untrained SimpleRNN starts at radius 1:

    >>> model = keras.Sequential([keras.Input((5, 3)), keras.layers.SimpleRNN(4, name="rnn_1")])
    >>> round(spectral_radius(model), 6)
    1.0
    """
    return max(gate_spectral_radii(model, layer_name).values())


def hidden_states(model, x, layer_name: str | None = None) -> np.ndarray:
    """Returns the hidden states h_1..h_T of a recurrent layer for inputs `x`.

    The layer is re-run with `return_sequences=True` (a copy sharing its weights) on the
    sequence it receives inside `model`, so this works whatever the layer returns.

    Returns:
        float `(num_samples, timesteps, units)` (`2 * units` for a concat Bidirectional).
    """
    layer = find_recurrent_layer(model, layer_name)
    sequences = _layer_inputs(model, layer, x)
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        config["layer"]["config"].update(return_sequences=True, return_state=False, stateful=False)
        if config.get("backward_layer"):
            config["backward_layer"]["config"].update(return_sequences=True, return_state=False, stateful=False)
    else:
        config.update(return_sequences=True, return_state=False, stateful=False)
    copy = type(layer).from_config(config)
    copy.build(sequences.shape)
    copy.set_weights(layer.get_weights())
    outputs = copy(sequences)
    return np.asarray(outputs, dtype="float64")


def _layer_inputs(model, layer, x):
    """The sequence `layer` receives inside `model` for the batch `x` (no pass when it is a model input)."""
    inputs = [tensor for tensor in model.inputs if tensor is layer.input]
    if inputs and not isinstance(x, dict):
        return x
    feature_model = keras.Model(model.inputs, layer.input)
    sequences = feature_model(_structured(feature_model, x), training=False)
    if isinstance(sequences, (list, tuple)):
        sequences = sequences[0]
    return sequences


def saturation(model, x, layer_name: str | None = None, threshold: float = 0.95, *, reference: bool = False) -> float:
    """Returns the share of hidden-state entries with |h| > `threshold`.

    Args:
        model: A Keras model.
        x: A probe batch.
        layer_name: Which recurrent layer; default the first.
        threshold: A number in (0, 1); tanh units above it pass almost no gradient.
        reference: Compute the hidden states with the cell's NumPy equations
            (`rnnkit.models.reference.run_reference`, equal to Keras's to about 1e-6)
            instead of a Keras pass; `train` uses it because it costs no tracing or
            compiling (on JAX an eager recurrent pass runs step by step). Falls back to
            the Keras pass for a layer the reference cannot run (Bidirectional, an
            activation it does not know).

    Returns:
        A share in [0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise invalid("threshold", threshold, "a number in (0, 1)")
    check_bool("reference", reference)
    states = _reference_hidden_states(model, x, layer_name) if reference else None
    if states is None:
        states = hidden_states(model, x, layer_name)
    return float(np.mean(np.abs(states) > threshold))


def _reference_hidden_states(model, x, layer_name):
    """h_1..h_T from the NumPy reference equations, or None when they cannot run this layer."""
    from rnnkit.models.reference import run_reference

    layer = find_recurrent_layer(model, layer_name)
    if isinstance(layer, keras.layers.Bidirectional) or cell_for_layer(layer) is None:
        return None
    try:
        outputs, _ = run_reference(layer, np.asarray(_layer_inputs(model, layer, x)))
    except ConfigError:  # An activation the reference does not know.
        return None
    return outputs


def probe_batch(split, size: int):
    """Returns `(x, y, sample_weight)` of the first `size` rows of a split (a fixed probe)."""
    size = check_positive_int("probe_size", size)
    rows = slice(0, size)
    weights = None if split.sample_weight is None else split.sample_weight[rows]
    return _take_rows(split.x, rows), split.y[rows], weights


def _fixed_batch(model):
    shape = model.inputs[0].shape if model.inputs else (None,)
    return shape[0]


# Tokens of text a language model's run generates for its samples (one forward pass each).
GENERATED_TOKENS = 40


def sample_outputs(
    model, task, split, extras: dict, num_samples: int = 5, seed: int = 0, batch_size: int = 2,
) -> list[dict]:
    """Returns a handful of human-readable examples from a held-out split.

    - language model: `{"prefix", "greedy", "sampled"}` text generated from a test prefix;
    - seq2seq: `{"input", "target", "predicted", "correct"}` from greedy decoding;
    - per-step labels: `{"target", "predicted", "correct"}` id lists;
    - classification: `{"target", "predicted", "correct"}` class ids;
    - regression: `{"target", "predicted"}` in original units when the task has a scaler.

    Args:
        model: The trained model.
        task: Its task.
        split: The held-out split the `extras` were computed on.
        extras: From `held_out_metrics`: `predictions` and, for seq2seq, `decoded`.
        num_samples: How many examples.
        seed: Seed of the text sampler.
        batch_size: Rows of each forward pass that generates text (give the held-out
            predictions' batch size so that their compiled step is reused; at least 2).
    """
    from rnnkit.training.decoding import generate_texts
    from rnnkit.training.metrics import end_mask, task_kind

    kind = task_kind(task)
    count = min(num_samples, split.num_samples)
    predictions = extras.get("predictions")
    samples = []
    if kind == "language_model":
        prefix_ids = np.asarray(split.x[0])[: max(1, min(10, np.shape(split.x)[1]))]
        prefix = task.vocab.decode(prefix_ids) or task.vocab.decode(np.asarray(split.x[0]))
        if not prefix:
            return samples
        # Both texts in one forward pass per token, at the shape of the held-out predictions
        # (`batch_size` rows, the task's time steps), whose compiled step it reuses.
        temperatures = (None, 0.8)
        texts = generate_texts(model, task.vocab, prefix, GENERATED_TOKENS, temperatures, seed=seed,
                               batch_rows=batch_size if _fixed_batch(model) is None else None,
                               window=task.input_spec.timesteps or None)
        for temperature, text in zip(temperatures, texts):
            samples.append({"prefix": prefix, "mode": "greedy" if temperature is None else f"temperature {temperature}", "text": text})
        return samples
    if kind == "seq2seq":
        decoded = extras["decoded"]
        source_vocab, target_vocab = task.vocab, task.target_vocab
        for row in range(count):
            target = split.y[row]
            keep = end_mask(target[None, :], target_vocab.end_id)[0] > 0
            samples.append({
                "input": source_vocab.decode(split.x["encoder_inputs"][row]),
                "target": target_vocab.decode(target),
                "predicted": target_vocab.decode(decoded[row]),
                "correct": bool(np.array_equal(decoded[row][keep], target[keep])),
            })
        return samples
    if kind in ("classification", "sequence_classification"):
        predicted = predictions.argmax(axis=-1)
        for row in range(count):
            target = np.asarray(split.y[row])
            weights = None if split.sample_weight is None else np.asarray(split.sample_weight[row]) > 0
            same = predicted[row] == target if weights is None else (predicted[row] == target)[weights]
            samples.append({
                "target": target.tolist(), "predicted": predicted[row].tolist(), "correct": bool(np.all(same)),
            })
        return samples
    target = np.asarray(split.y[:count], dtype="float64")
    predicted = np.asarray(predictions[:count], dtype="float64").reshape(target.shape)
    if task.scaler is not None:
        target, predicted = task.scaler.inverse_transform(target), task.scaler.inverse_transform(predicted)
    for row in range(count):
        samples.append({"target": np.round(target[row], 4).tolist(), "predicted": np.round(predicted[row], 4).tolist()})
    return samples
