"""Inference for seq2seq models: an encoder model and a one-step decoder, sharing the weights.

A seq2seq model from `build_model` is trained with teacher forcing: the decoder reads
the true previous token. To translate new inputs the decoder must read its own
previous prediction instead, one step at a time. `Seq2SeqInference` rebuilds the two
halves from the trained model's layers, looked up by name (see
`rnnkit.models.builders`), so they share the trained weights:

- `encode(encoder_inputs)` returns the decoder's starting state list;
- `step(tokens, states)` feeds one token per row and returns the next-token
  probabilities and the new state list.

`rnnkit.training.decoding` decodes through these two methods: `greedy_decode` repeats
`step` with the most probable token, `beam_search_decode` keeps the best few hypotheses.

Example:

```python
from rnnkit.training.decoding import greedy_decode

inference = Seq2SeqInference(model)
predicted = greedy_decode(inference, task.test.x["encoder_inputs"],
                          start_id=task.target_vocab.start_id, end_id=task.target_vocab.end_id,
                          max_length=task.output_spec.timesteps)
# predicted: int32 (num_samples, max_length)
```
"""

from __future__ import annotations

import keras
import numpy as np

from rnnkit.checks import invalid
from rnnkit.models.cells import cell_for_layer


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


class Seq2SeqInference:
    """The encoder and one-step decoder of a trained seq2seq model, sharing its weights.

    The state list is opaque to callers but always batch-first: for each decoder layer
    its states (`h`, or `h, c` for LSTM), then the encoder context when the model feeds
    it at every step. Rows can be selected or repeated with NumPy indexing on every
    array of the list (as beam search does).

    Args:
        model: A seq2seq model made by `build_model` (trained or not).

    Raises:
        ConfigError: When `model` lacks the seq2seq layer names.
    """

    def __init__(self, model: keras.Model):
        for name in ("encoder_inputs", "decoder_rnn_1", "head"):
            if not _has_layer(model, name):
                raise invalid(
                    "model",
                    model.name,
                    f"a seq2seq model from build_model (it has no layer named {name!r})",
                )
        self.model = model
        self.num_layers = sum(_has_layer(model, f"decoder_rnn_{i}") for i in range(1, 100))
        decoder_layer = model.get_layer("decoder_rnn_1")
        self.state_count = cell_for_layer(decoder_layer).num_states
        self.decoder_units = decoder_layer.units
        self.uses_initial_state = _has_layer(model, "bridge_1_0")
        self.uses_context = _has_layer(model, "context")
        self.vocab_size = model.get_layer("head").layer.units
        self._encoder = self._build_encoder()
        self._step = self._build_step_decoder()

    def _build_encoder(self) -> keras.Model:
        # The encoder part of the training graph, from its input to the bridge / context tensors.
        model = self.model
        outputs = []
        if self.uses_initial_state:
            for index in range(1, self.num_layers + 1):
                for j in range(self.state_count):
                    outputs.append(model.get_layer(f"bridge_{index}_{j}").output)
        if self.uses_context:
            outputs.append(model.get_layer("context").output)
        return keras.Model(model.get_layer("encoder_inputs").output, outputs, name="encoder")

    def _build_step_decoder(self) -> keras.Model:
        # New inputs for one step, run through the trained decoder layers (looked up by name).
        model = self.model
        tokens = keras.Input(shape=(1,), dtype="int32", name="step_tokens")
        state_inputs = [
            keras.Input(shape=(self.decoder_units,), name=f"step_state_{index}_{j}")
            for index in range(1, self.num_layers + 1)
            for j in range(self.state_count)
        ]
        embedding_name = (
            "decoder_embedding" if _has_layer(model, "decoder_embedding") else "decoder_one_hot"
        )
        features = model.get_layer(embedding_name)(tokens)
        inputs = [tokens, *state_inputs]
        if self.uses_context:
            context_width = model.get_layer("context").output.shape[-1]
            context = keras.Input(shape=(context_width,), name="step_context")
            inputs.append(context)
            repeated = keras.layers.Reshape((1, context_width), name="step_context_repeat")(context)
            features = model.get_layer("decoder_context_concat")([features, repeated])
        new_states = []
        for index in range(1, self.num_layers + 1):
            layer_states = state_inputs[(index - 1) * self.state_count : index * self.state_count]
            features, *states = model.get_layer(f"decoder_rnn_{index}")(
                features, initial_state=layer_states
            )
            new_states.extend(states)
        probabilities = model.get_layer("head")(features)  # (batch, 1, vocab_size)
        return keras.Model(inputs, [probabilities, *new_states], name="step_decoder")

    def encode(self, encoder_inputs: np.ndarray) -> list[np.ndarray]:
        """Runs the encoder and returns the decoder's starting state list.

        Args:
            encoder_inputs: int token ids `(batch, encoder_timesteps)`.

        Returns:
            A list of float arrays, each `(batch, width)`.
        """
        encoder_inputs = np.asarray(encoder_inputs, dtype="int32")
        if encoder_inputs.ndim != 2:
            raise invalid(
                "encoder_inputs", encoder_inputs.shape, "an int array of shape (batch, timesteps)"
            )
        # predict_on_batch runs a compiled function: about 10x faster per call than
        # model(...) in eager mode, and without predict()'s per-call setup.
        outputs = self._encoder.predict_on_batch(encoder_inputs)
        outputs = [
            np.asarray(array) for array in (outputs if isinstance(outputs, list) else [outputs])
        ]
        batch = len(encoder_inputs)
        if self.uses_initial_state:
            states = outputs[: self.num_layers * self.state_count]
        else:
            # The context goes in at every step only: the decoder starts from zeros.
            states = [
                np.zeros((batch, self.decoder_units), dtype="float32")
                for _ in range(self.num_layers * self.state_count)
            ]
        if self.uses_context:
            states.append(outputs[-1])
        return states

    def step(self, tokens: np.ndarray, states: list) -> tuple[np.ndarray, list[np.ndarray]]:
        """Feeds one token per row and returns next-token probabilities and the new states.

        Args:
            tokens: int ids `(batch,)`, the previous token of each row.
            states: The list from `encode` or a previous `step`.

        Returns:
            `(probabilities, new_states)`: probabilities `(batch, vocab_size)` (rows sum
            to 1) and the state list for the next step.
        """
        tokens = np.asarray(tokens, dtype="int32").reshape(-1, 1)
        outputs = self._step.predict_on_batch([tokens, *states])
        probabilities = np.asarray(outputs[0])[:, 0, :]
        new_states = [np.asarray(state) for state in outputs[1:]]
        if self.uses_context:
            new_states.append(states[-1])
        return probabilities, new_states
