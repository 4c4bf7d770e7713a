"""One model builder per sequence-modeling variety, and `build_model` that picks one.

Every builder returns an uncompiled Functional `keras.Model` named `spec.model_name`.
Input and target arrays follow the conventions in `rnnkit.data.tasks`.

Layer names (look layers up by these, never by position):

- Inputs: `inputs`; seq2seq has `encoder_inputs` and `decoder_inputs`, so
  `model.fit(x={"encoder_inputs": ..., "decoder_inputs": ...})` works.
- Token input: `embedding` (a Keras `Embedding`, when `spec.embedding_dim` is set) or
  `one_hot` (no weights); seq2seq: `encoder_embedding` / `decoder_embedding`, or
  `encoder_one_hot` / `decoder_one_hot`.
- Recurrent layers: `rnn_1`, `rnn_2`, ... from input to output. When bidirectional, the
  `Bidirectional` wrapper carries the name and wraps a layer named `rnn_1_lstm` etc.
  seq2seq: `encoder_rnn_1`, ... and `decoder_rnn_1`, ... (the decoder is never
  bidirectional: at training time it would see the tokens it must predict).
- Output head: `head`, a `Dense` (linear for regression, softmax for classification),
  wrapped in `TimeDistributed` when the output is a sequence (rnnkit's subclass of
  Keras's wrapper, `rnnkit.models.layers.TimeDistributed`, which applies the Dense to all
  steps in one product).
- one_to_one: `flatten` (sequence input), hidden `dense_1`, ... with `dropout_1`, ...
  when `spec.dropout > 0`; a sequence output is `head` (Dense of timesteps * dim),
  `head_reshape` and, for classification, `head_softmax`.
- one_to_many: `context_repeat` (the input vector at every step) or `step_zeros` (zero
  step input when the context is only the initial state); `init_state_{i}_{j}`, a tanh
  Dense giving state j of recurrent layer i from the input vector.
- seq2seq: `bridge_{i}_{j}` carries encoder state j of layer i to decoder layer i (a
  merge of both directions when bidirectional, else an `Identity`); `context` (the
  encoder's final hidden state), `context_repeat` and `decoder_context_concat` when the
  context is fed at every step.
- many_to_many with `go_backwards`: `reverse_time` flips the outputs back in order.

Options that apply only to recurrent layers (`bidirectional`, `recurrent_dropout`,
`unroll`, `go_backwards`, the initializers of the recurrent kernel, `unit_forget_bias`,
`reset_after`) are ignored by the `one_to_one` baseline, so one spec can be reused
across a comparison grid. `go_backwards` reverses the input reading of the first
recurrent layer (of the encoder, in seq2seq).

Example:

>>> spec = ModelSpec(cell="lstm", variety="many_to_one", units=8)
>>> model = build_model(spec, input_spec=InputSpec(timesteps=5, num_features=2),
...                     output_spec=OutputSpec(kind="regression", dim=1))
>>> model.output_shape
(None, 1)
"""

from __future__ import annotations

import keras

from rnnkit.checks import check_positive_int, invalid
from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec
from rnnkit.errors import ConfigError
from rnnkit.models.cells import get_cell, make_recurrent_layer
from rnnkit.models.layers import OneHot, ReverseTime, StepZeros, TimeDistributed

# Merge layers that combine the forward and backward state of a bidirectional encoder,
# matching what `Bidirectional(merge_mode=...)` does to the outputs.
_STATE_MERGES = {
    "concat": keras.layers.Concatenate,
    "sum": keras.layers.Add,
    "ave": keras.layers.Average,
    "mul": keras.layers.Multiply,
}


def build_model(
    spec: ModelSpec,
    task=None,
    *,
    input_spec: InputSpec | None = None,
    output_spec: OutputSpec | None = None,
    batch_size: int | None = None,
) -> keras.Model:
    """Builds the uncompiled Keras model that `spec` describes for a task's shapes.

    Args:
        spec: Which network: cell, variety, sizes and options.
        task: Anything with `.input_spec` and `.output_spec` (e.g. a `Task`); or pass
            both `input_spec` and `output_spec` instead.
        input_spec: What the model receives per sample.
        output_spec: What the model must produce per sample.
        batch_size: Fixed batch size of the inputs; required when `spec.stateful`.

    Returns:
        An uncompiled Functional `keras.Model` named `spec.model_name`.

    Raises:
        ConfigError: When the variety cannot take the given input or output, or an
            option does not apply to it.

    Example:

    ```python
    task = get_task("adding", timesteps=10)
    model = build_model(ModelSpec(cell="gru", units=8), task)
    model.compile(loss=task.loss, optimizer="adam")
    ```
    """
    if not isinstance(spec, ModelSpec):
        raise invalid("spec", spec, "a rnnkit ModelSpec")
    input_spec, output_spec = _resolve_specs(task, input_spec, output_spec)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    if spec.stateful and batch_size is None:
        raise invalid(
            "batch_size",
            batch_size,
            "a positive integer when `stateful` is True (states are kept per sample row)",
        )
    if spec.embedding_dim is not None and not input_spec.is_tokens:
        raise invalid(
            "embedding_dim",
            spec.embedding_dim,
            "None for real-valued input (an Embedding needs token ids)",
        )
    if spec.go_backwards and spec.bidirectional and spec.variety != "one_to_one":
        raise invalid(
            "go_backwards",
            True,
            "False when `bidirectional` is True (Bidirectional already reads the input both ways)",
        )
    if spec.context != "initial_state" and spec.variety not in ("one_to_many", "seq2seq"):
        raise invalid(
            "context",
            spec.context,
            f"'initial_state' (the default) for variety {spec.variety!r} (it has no decoder)",
        )
    return _BUILDERS[spec.variety](spec, input_spec, output_spec, batch_size)


def _resolve_specs(task, input_spec, output_spec) -> tuple[InputSpec, OutputSpec]:
    """Takes the shapes from `task`, or from the two specs, but not from both."""
    if task is not None:
        if input_spec is not None or output_spec is not None:
            raise ConfigError(
                "Invalid arguments: pass either `task` or `input_spec` and `output_spec`, not both."
            )
        if not hasattr(task, "input_spec") or not hasattr(task, "output_spec"):
            raise invalid(
                "task", task, "an object with `input_spec` and `output_spec` (e.g. a rnnkit Task)"
            )
        input_spec, output_spec = task.input_spec, task.output_spec
    if not isinstance(input_spec, InputSpec):
        raise invalid("input_spec", input_spec, "an InputSpec (or pass `task`)")
    if not isinstance(output_spec, OutputSpec):
        raise invalid("output_spec", output_spec, "an OutputSpec (or pass `task`)")
    if input_spec.timesteps is not None:
        check_positive_int("input_spec.timesteps", input_spec.timesteps)
    if input_spec.is_tokens:
        check_positive_int("input_spec.vocab_size", input_spec.vocab_size)
    else:
        check_positive_int("input_spec.num_features", input_spec.num_features)
    check_positive_int("output_spec.dim", output_spec.dim)
    if output_spec.timesteps is not None:
        check_positive_int("output_spec.timesteps", output_spec.timesteps)
    return input_spec, output_spec


# ----------------------------------------------------------------------------------
# Shared pieces


def _require_sequence_input(spec: ModelSpec, input_spec: InputSpec) -> None:
    if input_spec.timesteps is None:
        raise invalid(
            "input_spec.timesteps",
            None,
            f"a sequence length for variety {spec.variety!r} (vector input: 'one_to_many')",
        )


def _require_vector_output(spec: ModelSpec, output_spec: OutputSpec) -> None:
    if output_spec.timesteps is not None:
        raise invalid(
            "output_spec.timesteps",
            output_spec.timesteps,
            f"None (one output per sample) for variety {spec.variety!r}",
        )


def _require_sequence_output(spec: ModelSpec, output_spec: OutputSpec) -> None:
    if output_spec.timesteps is None:
        raise invalid(
            "output_spec.timesteps",
            None,
            f"a sequence length for variety {spec.variety!r} (vector output: 'many_to_one')",
        )


def _refuse_stateful(spec: ModelSpec) -> None:
    if spec.stateful:
        raise invalid("stateful", True, f"False for variety {spec.variety!r}")


def _model_input(input_spec: InputSpec, batch_size: int | None, name: str = "inputs"):
    """Returns a Keras Input: int ids `(T,)`, a sequence `(T, F)` or a vector `(F,)`."""
    if input_spec.is_tokens:
        return keras.Input(
            shape=(input_spec.timesteps,), batch_size=batch_size, dtype="int32", name=name
        )
    if input_spec.timesteps is None:
        return keras.Input(shape=(input_spec.num_features,), batch_size=batch_size, name=name)
    return keras.Input(
        shape=(input_spec.timesteps, input_spec.num_features), batch_size=batch_size, name=name
    )


def _token_features(spec: ModelSpec, tokens, vocab_size: int, prefix: str = ""):
    """Embeds int ids `(batch, T)` to `(batch, T, embedding_dim)`, or one-hot encodes them."""
    if spec.embedding_dim is not None:
        return keras.layers.Embedding(vocab_size, spec.embedding_dim, name=f"{prefix}embedding")(
            tokens
        )
    return OneHot(vocab_size, name=f"{prefix}one_hot")(tokens)


def _sequence_features(spec: ModelSpec, input_spec: InputSpec, inputs):
    if input_spec.is_tokens:
        return _token_features(spec, inputs, input_spec.vocab_size)
    return inputs


def _head(output_spec: OutputSpec, features, sequence: bool):
    """Adds the output head: linear Dense for regression, Dense + softmax for classification."""
    activation = "softmax" if output_spec.kind == "classification" else None
    if sequence:
        dense = keras.layers.Dense(output_spec.dim, activation=activation, name="head_dense")
        return TimeDistributed(dense, name="head")(features)
    return keras.layers.Dense(output_spec.dim, activation=activation, name="head")(features)


def _recurrent_stack(spec: ModelSpec, features, *, last_returns_sequences: bool):
    """Stacks `spec.num_layers` layers `rnn_1..`; all but the last return sequences."""
    for index in range(1, spec.num_layers + 1):
        is_last = index == spec.num_layers
        layer = make_recurrent_layer(
            spec,
            return_sequences=last_returns_sequences or not is_last,
            go_backwards=spec.go_backwards and index == 1,
            stateful=spec.stateful,
            name=f"rnn_{index}",
        )
        features = layer(features)
    return features


# ----------------------------------------------------------------------------------
# The five builders


def build_one_to_one(
    spec: ModelSpec, input_spec: InputSpec, output_spec: OutputSpec, batch_size=None
):
    """Builds the non-sequence baseline: hidden Dense layers on the flattened input.

    Uses `spec.units` as the hidden width and `spec.num_layers` hidden layers (with
    `spec.activation`, `spec.use_bias`, `spec.kernel_initializer`, and `Dropout` at
    rate `spec.dropout`). Sequence input is flattened (token ids are embedded or
    one-hot encoded first); a sequence output is produced all at once and reshaped.
    """
    _refuse_stateful(spec)
    inputs = _model_input(input_spec, batch_size)
    features = _sequence_features(spec, input_spec, inputs)
    if input_spec.timesteps is not None:
        features = keras.layers.Flatten(name="flatten")(features)
    for index in range(1, spec.num_layers + 1):
        features = keras.layers.Dense(
            spec.units,
            activation=spec.activation,
            use_bias=spec.use_bias,
            kernel_initializer=spec.kernel_initializer,
            name=f"dense_{index}",
        )(features)
        if spec.dropout > 0:
            features = keras.layers.Dropout(spec.dropout, name=f"dropout_{index}")(features)
    if output_spec.timesteps is None:
        outputs = _head(output_spec, features, sequence=False)
    else:
        # One Dense predicts all steps at once; the baseline has no notion of time.
        flat = keras.layers.Dense(output_spec.timesteps * output_spec.dim, name="head")(features)
        outputs = keras.layers.Reshape(
            (output_spec.timesteps, output_spec.dim), name="head_reshape"
        )(flat)
        if output_spec.kind == "classification":
            outputs = keras.layers.Activation("softmax", name="head_softmax")(outputs)
    return keras.Model(inputs, outputs, name=spec.model_name)


def build_many_to_one(
    spec: ModelSpec, input_spec: InputSpec, output_spec: OutputSpec, batch_size=None
):
    """Builds sequence -> vector: stacked recurrent layers, the last returning its final output."""
    _require_sequence_input(spec, input_spec)
    _require_vector_output(spec, output_spec)
    inputs = _model_input(input_spec, batch_size)
    features = _sequence_features(spec, input_spec, inputs)
    features = _recurrent_stack(spec, features, last_returns_sequences=False)
    outputs = _head(output_spec, features, sequence=False)
    return keras.Model(inputs, outputs, name=spec.model_name)


def build_many_to_many(
    spec: ModelSpec, input_spec: InputSpec, output_spec: OutputSpec, batch_size=None
):
    """Builds sequence -> aligned sequence: one output per input step."""
    _require_sequence_input(spec, input_spec)
    _require_sequence_output(spec, output_spec)
    if output_spec.timesteps != input_spec.timesteps:
        raise invalid(
            "output_spec.timesteps",
            output_spec.timesteps,
            f"the input length {input_spec.timesteps} (aligned output; use 'seq2seq' otherwise)",
        )
    inputs = _model_input(input_spec, batch_size)
    features = _sequence_features(spec, input_spec, inputs)
    features = _recurrent_stack(spec, features, last_returns_sequences=True)
    if spec.go_backwards:
        features = ReverseTime(name="reverse_time")(features)
    outputs = _head(output_spec, features, sequence=True)
    return keras.Model(inputs, outputs, name=spec.model_name)


def build_one_to_many(
    spec: ModelSpec, input_spec: InputSpec, output_spec: OutputSpec, batch_size=None
):
    """Builds vector -> sequence: a decoder that gets the input vector as its context.

    `spec.context` says how: "initial_state" (a tanh Dense of the vector sets every
    state of every recurrent layer; the steps read zeros), "every_step" (the vector is
    repeated as the input of every step; states start at zero) or "both".
    """
    if input_spec.timesteps is not None or input_spec.is_tokens:
        value = input_spec.timesteps if input_spec.timesteps is not None else input_spec.vocab_size
        name = (
            "input_spec.timesteps" if input_spec.timesteps is not None else "input_spec.vocab_size"
        )
        raise invalid(
            name,
            value,
            "None for variety 'one_to_many' (its input is one real-valued vector per sample)",
        )
    _require_sequence_output(spec, output_spec)
    if spec.go_backwards:
        raise invalid(
            "go_backwards",
            True,
            "False for variety 'one_to_many' (there is no input sequence to reverse)",
        )
    inputs = _model_input(input_spec, batch_size)
    timesteps = output_spec.timesteps
    if spec.context in ("every_step", "both"):
        features = keras.layers.RepeatVector(timesteps, name="context_repeat")(inputs)
    else:
        features = StepZeros(timesteps, name="step_zeros")(inputs)
    num_states = get_cell(spec.cell).num_states * (2 if spec.bidirectional else 1)
    for index in range(1, spec.num_layers + 1):
        layer = make_recurrent_layer(
            spec, return_sequences=True, stateful=spec.stateful, name=f"rnn_{index}"
        )
        if spec.context in ("initial_state", "both"):
            states = [
                keras.layers.Dense(spec.units, activation="tanh", name=f"init_state_{index}_{j}")(
                    inputs
                )
                for j in range(num_states)
            ]
            features = layer(features, initial_state=states)
        else:
            features = layer(features)
    outputs = _head(output_spec, features, sequence=True)
    return keras.Model(inputs, outputs, name=spec.model_name)


def build_seq2seq(spec: ModelSpec, input_spec: InputSpec, output_spec: OutputSpec, batch_size=None):
    """Builds the encoder-decoder training model (teacher forcing).

    The encoder reads `encoder_inputs`; the decoder reads `decoder_inputs` (the target
    shifted right behind the start token) and predicts the target tokens. The context
    goes to the decoder as its initial state (encoder layer i -> decoder layer i), as
    an extra input at every step (the last encoder layer's final hidden state), or both.
    A bidirectional encoder's two directions are merged with `spec.merge_mode`; with
    "concat" the decoder has `2 * units`. Use `Seq2SeqInference` to decode.
    """
    _refuse_stateful(spec)
    if not input_spec.is_tokens or input_spec.timesteps is None:
        raise invalid(
            "input_spec.vocab_size",
            input_spec.vocab_size,
            "a vocabulary size for variety 'seq2seq' (its encoder reads token ids)",
        )
    _require_sequence_output(spec, output_spec)
    if output_spec.kind != "classification":
        raise invalid(
            "output_spec.kind",
            output_spec.kind,
            "'classification' for variety 'seq2seq' (the decoder predicts target tokens)",
        )
    encoder_inputs = keras.Input(
        shape=(input_spec.timesteps,), batch_size=batch_size, dtype="int32", name="encoder_inputs"
    )
    decoder_inputs = keras.Input(
        shape=(output_spec.timesteps,), batch_size=batch_size, dtype="int32", name="decoder_inputs"
    )
    merge = _STATE_MERGES[spec.merge_mode] if spec.bidirectional else None
    decoder_units = spec.units * (2 if spec.bidirectional and spec.merge_mode == "concat" else 1)
    state_count = get_cell(spec.cell).num_states

    features = _token_features(spec, encoder_inputs, input_spec.vocab_size, prefix="encoder_")
    encoder_states = []  # One list of state tensors per layer, directions merged.
    for index in range(1, spec.num_layers + 1):
        layer = make_recurrent_layer(
            spec,
            return_sequences=index < spec.num_layers,
            return_state=True,
            go_backwards=spec.go_backwards and index == 1,
            name=f"encoder_rnn_{index}",
        )
        features, *states = layer(features)
        if spec.bidirectional:
            # Bidirectional returns the forward states, then the backward ones.
            forward, backward = states[:state_count], states[state_count:]
            encoder_states.append(list(zip(forward, backward)))
        else:
            encoder_states.append([(state,) for state in states])

    def combine(parts, name):
        if merge is None:
            return keras.layers.Identity(name=name)(parts[0])
        return merge(name=name)(list(parts))

    initial_states = None
    if spec.context in ("initial_state", "both"):
        initial_states = [
            [combine(parts, f"bridge_{index}_{j}") for j, parts in enumerate(layer_states)]
            for index, layer_states in enumerate(encoder_states, start=1)
        ]

    features = _token_features(spec, decoder_inputs, output_spec.dim, prefix="decoder_")
    if spec.context in ("every_step", "both"):
        context = combine(encoder_states[-1][0], "context")
        repeated = keras.layers.RepeatVector(output_spec.timesteps, name="context_repeat")(context)
        features = keras.layers.Concatenate(name="decoder_context_concat")([features, repeated])
    for index in range(1, spec.num_layers + 1):
        layer = make_recurrent_layer(
            spec,
            return_sequences=True,
            return_state=True,
            bidirectional=False,
            units=decoder_units,
            name=f"decoder_rnn_{index}",
        )
        states = initial_states[index - 1] if initial_states is not None else None
        features, *_ = layer(features, initial_state=states)
    outputs = _head(output_spec, features, sequence=True)
    return keras.Model(
        {"encoder_inputs": encoder_inputs, "decoder_inputs": decoder_inputs},
        outputs,
        name=spec.model_name,
    )


_BUILDERS = {
    "one_to_one": build_one_to_one,
    "many_to_one": build_many_to_one,
    "many_to_many": build_many_to_many,
    "one_to_many": build_one_to_many,
    "seq2seq": build_seq2seq,
}
