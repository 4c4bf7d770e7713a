"""Decoding and sampling: text generation for language models, greedy and beam search for seq2seq.

Language models (`generate_text`) warm up on a prefix, then sample one token at a time
from the model's next-token distribution, sharpened or flattened by a temperature
(`greedy=True` always takes the most likely token).

seq2seq models decode through the small interface of
`rnnkit.models.seq2seq.Seq2SeqInference`: `encode(encoder_inputs) -> states` (a list of
arrays, batch first) and `step(tokens, states) -> (probs, new_states)`.
`greedy_decode` always takes the most probable next token; `beam_search_decode` keeps
the `beam_width` most likely partial outputs (width 1 is greedy). Beam search accepts any
object with those two methods, which is how the tests check it against answers worked
out by hand; greedy decoding takes a `Seq2SeqInference`, whose target vocabulary size it
checks the ids against.

Decoded arrays are int32 `(num_samples, max_length)`: the tokens after the start token,
the end token included, then `pad_id`.

`beam_search_decode` and `generate_text` hide TensorFlow's retracing notice while they
run: decoding right after building or training models trips it although nothing is
traced more than once per shape (see `rnnkit.training.tracing`).
"""

from __future__ import annotations

import numpy as np

from rnnkit.checks import (
    check_bool,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    invalid,
)
from rnnkit.models.seq2seq import Seq2SeqInference
from rnnkit.training.metrics import predict_batch, reset_recurrent_states
from rnnkit.training.tracing import retracing_notice_hidden


def _tile_states(states, times: int):
    return [np.repeat(np.asarray(state), times, axis=0) for state in states]


def greedy_decode(
    inference: Seq2SeqInference,
    encoder_inputs,
    *,
    start_id: int,
    end_id: int,
    max_length: int,
    pad_id: int = 0,
) -> np.ndarray:
    """Decodes a batch by always taking the most probable next token.

    Every row starts from `start_id`; a row is finished once it produces `end_id`
    (kept in the output), and its later positions are filled with `pad_id`. Decoding
    stops when every row has finished or after `max_length` tokens.

    Args:
        inference: A `Seq2SeqInference` of the trained model.
        encoder_inputs: int token ids `(batch, encoder_timesteps)`.
        start_id: The target vocabulary's start token id.
        end_id: The target vocabulary's end token id.
        max_length: Most tokens to produce per row.
        pad_id: Fills positions after the end token (0 by convention).

    Returns:
        int32 `(batch, max_length)` predicted ids.
    """
    if not isinstance(inference, Seq2SeqInference):
        raise invalid("inference", type(inference).__name__, "a Seq2SeqInference")
    check_non_negative_int("start_id", start_id)
    check_non_negative_int("end_id", end_id)
    check_non_negative_int("pad_id", pad_id)
    check_positive_int("max_length", max_length)
    for name, value in (("start_id", start_id), ("end_id", end_id), ("pad_id", pad_id)):
        if value >= inference.vocab_size:
            expected = f"an id below the target vocab_size {inference.vocab_size}"
            raise invalid(name, value, expected)
    states = inference.encode(encoder_inputs)
    batch = len(states[0])
    predicted = np.full((batch, max_length), pad_id, dtype="int32")
    finished = np.zeros(batch, dtype=bool)
    tokens = np.full(batch, start_id, dtype="int32")
    for position in range(max_length):
        probabilities, states = inference.step(tokens, states)
        tokens = np.argmax(probabilities, axis=-1).astype("int32")
        tokens = np.where(finished, pad_id, tokens)
        predicted[:, position] = tokens
        finished |= tokens == end_id
        if finished.all():
            break
    return predicted


@retracing_notice_hidden()
def beam_search_decode(
    inference,
    encoder_inputs,
    *,
    start_id: int,
    end_id: int,
    max_length: int,
    beam_width: int = 3,
    pad_id: int = 0,
    length_normalize: bool = True,
) -> np.ndarray:
    """Batched beam search: keeps the `beam_width` most likely partial outputs per input.

    At each step every live hypothesis is extended by every token; the `beam_width`
    best extensions (by summed log-probability) survive. A hypothesis that produced
    `end_id` is finished and keeps its score. At the end the best hypothesis is picked
    by score, divided by its length when `length_normalize` (so short outputs are not
    favoured just for having fewer factors below 1).

    Args:
        inference: An object with `encode(encoder_inputs) -> list of (n, ...) arrays` and
            `step(tokens (m,), states) -> (probs (m, vocab_size), new_states)`.
        encoder_inputs: Int ids `(num_samples, T_in)`.
        start_id: Id fed as the first decoder input.
        end_id: Id that finishes a hypothesis.
        max_length: Number of output positions (the end token included).
        beam_width: Hypotheses kept per input; 1 is greedy decoding.
        pad_id: Id written after the end token.
        length_normalize: Rank finished hypotheses by mean instead of summed log-probability.

    Returns:
        int32 `(num_samples, max_length)`.

    Example:

    ```python
    inference = Seq2SeqInference(model)
    ids = beam_search_decode(inference, task.test.x["encoder_inputs"], start_id=2,
                             end_id=3, max_length=5, beam_width=4)  # (n, 5)
    ```
    """
    for name, value in (("start_id", start_id), ("end_id", end_id), ("pad_id", pad_id)):
        check_non_negative_int(name, value)
    max_length = check_positive_int("max_length", max_length)
    beam_width = check_positive_int("beam_width", beam_width)
    check_bool("length_normalize", length_normalize)
    encoder_inputs = np.asarray(encoder_inputs)
    num_samples = len(encoder_inputs)
    states = _tile_states(inference.encode(encoder_inputs), beam_width)

    # Row r = sample * beam_width + beam. Only beam 0 is live at first; the others start at
    # -inf so the first step does not fill the beam with copies of one hypothesis.
    scores = np.full((num_samples, beam_width), -np.inf)
    scores[:, 0] = 0.0
    tokens = np.full((num_samples, beam_width, max_length), pad_id, dtype="int32")
    lengths = np.zeros((num_samples, beam_width), dtype="int64")
    finished = np.zeros((num_samples, beam_width), dtype=bool)
    last = np.full(num_samples * beam_width, start_id, dtype="int32")

    for position in range(max_length):
        probs, new_states = inference.step(last, states)
        log_probs = np.log(np.clip(np.asarray(probs, dtype="float64"), 1e-30, 1.0))
        vocab_size = log_probs.shape[-1]
        log_probs = log_probs.reshape(num_samples, beam_width, vocab_size)
        # A finished hypothesis may only "extend" by padding, at no cost, so it keeps its score.
        log_probs[finished] = -np.inf
        log_probs[finished, pad_id] = 0.0
        candidates = (scores[:, :, None] + log_probs).reshape(num_samples, -1)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :beam_width]
        parent, token = best // vocab_size, best % vocab_size
        rows = np.arange(num_samples)[:, None]

        scores = candidates[rows, best]
        tokens = tokens[rows, parent]
        was_finished = finished[rows, parent]
        tokens[:, :, position] = np.where(was_finished, pad_id, token)
        lengths = lengths[rows, parent] + (~was_finished)
        finished = was_finished | (token == end_id)
        flat_parent = (np.arange(num_samples)[:, None] * beam_width + parent).ravel()
        states = [np.asarray(state)[flat_parent] for state in new_states]
        last = tokens[:, :, position].ravel()
        if finished.all():
            break

    ranking = scores / np.maximum(lengths, 1) if length_normalize else scores
    choice = np.argmax(ranking, axis=1)
    return tokens[np.arange(num_samples), choice].astype("int32")


def _fixed_shape(model) -> tuple[int | None, int | None]:
    """Returns the (batch_size, timesteps) a token model's input fixes, None where free."""
    shape = tuple(model.inputs[0].shape)
    return shape[0], (shape[1] if len(shape) > 1 else None)


def next_token_probs(model, context_ids) -> np.ndarray:
    """Returns the model's distribution over the token that follows `context_ids`.

    Recurrent language models are causal: the output at step t depends only on tokens
    up to t. So a context shorter than the model's fixed `timesteps` is padded on the
    right and read at its last real position, and a longer one is cut to its last
    `timesteps` tokens (the window length the model was trained on). Stateful models are
    reset first and the row is repeated to fill their fixed batch.

    Args:
        model: A Keras model mapping ids `(batch, T)` to probabilities `(batch, T, vocab_size)`.
        context_ids: 1-D int ids, at least one.

    Returns:
        float64 `(vocab_size,)`.
    """
    batch_size, timesteps = _fixed_shape(model)
    context = np.asarray(context_ids, dtype="int32").reshape(1, -1)
    return _last_token_probs(model, context, timesteps, batch_size or 1)[0]


def sample_from_probs(probs, *, temperature: float = 1.0, greedy: bool = False, rng=None) -> int:
    """Draws one token id from `probs` after applying `temperature` to the log-probabilities.

    `softmax(log(p) / temperature)`: a temperature below 1 sharpens the distribution
    (towards greedy), above 1 flattens it (towards uniform); 1 samples from the model.

    Args:
        probs: `(vocab_size,)` probabilities.
        temperature: A number > 0.
        greedy: Take the most likely id instead of sampling.
        rng: A `numpy.random.Generator` (a fresh unseeded one if None).

    Returns:
        The chosen id.
    """
    probs = np.asarray(probs, dtype="float64")
    if greedy:
        return int(np.argmax(probs))
    temperature = check_positive_float("temperature", temperature)
    logits = np.log(np.clip(probs, 1e-30, 1.0)) / temperature
    # Subtracting the max keeps exp() finite even for a temperature near 0.
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(len(weights), p=weights))


@retracing_notice_hidden()
def generate_text(
    model,
    vocab,
    prefix: str,
    num_tokens: int,
    *,
    temperature: float = 1.0,
    greedy: bool = False,
    seed: int | None = None,
) -> str:
    """Generates text from a language model: warm up on `prefix`, then sample `num_tokens`.

    Args:
        model: A trained many_to_many language model, ids `(1, T)` -> probabilities `(1, T, V)`.
        vocab: The task's vocabulary (`encode(text) -> ids`, `decode(ids) -> text`).
        prefix: Non-empty text to start from; it is part of the returned text.
        num_tokens: Tokens to generate after the prefix.
        temperature: Sampling temperature (> 0); ignored when `greedy`.
        greedy: Always take the most likely next token.
        seed: Seed of the sampler; same seed, same text.

    Returns:
        The prefix followed by the generated tokens, decoded.

    Example:

    ```python
    generate_text(model, task.vocab, "the time ", 50, temperature=0.8, seed=0)
    ```
    """
    check_bool("greedy", greedy)
    (text,) = generate_texts(model, vocab, prefix, num_tokens, [None if greedy else temperature], seed=seed)
    return text


@retracing_notice_hidden()
def generate_texts(
    model,
    vocab,
    prefix: str,
    num_tokens: int,
    temperatures,
    *,
    seed: int | None = None,
    batch_rows: int | None = None,
    window: int | None = None,
) -> list[str]:
    """Generates one text per temperature from the same prefix, all rows in one forward pass per token.

    Each text is what `generate_text` gives with that temperature (None: greedy) and
    `seed`: every row draws from its own generator seeded with `seed`. Running the rows
    together costs one forward pass per generated token instead of one per token and
    text; with `batch_rows` (and `window`) every pass has the same shape, so it reuses a
    compiled prediction step of that shape instead of tracing new ones (the rows are
    padded by repeating the first).

    Args:
        model: A trained many_to_many language model.
        vocab: The task's vocabulary.
        prefix: Non-empty text to start from; it is part of every returned text.
        num_tokens: Tokens to generate after the prefix.
        temperatures: A list of sampling temperatures (> 0), or None for greedy rows.
        seed: Seed of each row's sampler.
        batch_rows: Rows of every forward pass (at least the number of temperatures);
            default the model's fixed batch size, else the number of temperatures.
        window: Time steps of every forward pass for a model whose input does not fix
            them (contexts are padded on the right and read at their last real token);
            default the context's own length, which changes at every token.

    Returns:
        The texts, in the order of `temperatures`.
    """
    if not isinstance(prefix, str) or not prefix:
        raise invalid("prefix", prefix, "a non-empty string")
    num_tokens = check_non_negative_int("num_tokens", num_tokens)
    temperatures = list(temperatures)
    if not temperatures:
        raise invalid("temperatures", temperatures, "at least one temperature (None for greedy)")
    for temperature in temperatures:
        if temperature is not None:
            check_positive_float("temperature", temperature)
    ids = [int(token) for token in np.asarray(vocab.encode(prefix)).ravel()]
    if not ids:
        raise invalid("prefix", prefix, "text that encodes to at least one token")
    fixed_batch, timesteps = _fixed_shape(model)
    rows = len(temperatures)
    if batch_rows is not None:
        batch_rows = check_positive_int("batch_rows", batch_rows)
        if batch_rows < rows or (fixed_batch is not None and batch_rows != fixed_batch):
            expected = f"at least {rows} (one row per temperature)"
            if fixed_batch is not None:
                expected = f"the model's fixed batch size {fixed_batch}"
            raise invalid("batch_rows", batch_rows, expected)
    else:
        batch_rows = fixed_batch or rows
    if fixed_batch is not None and fixed_batch < rows:
        raise invalid("temperatures", f"{rows} temperatures", f"at most the model's fixed batch size {fixed_batch}")
    window = timesteps or (check_positive_int("window", window) if window is not None else None)
    generators = [np.random.default_rng(seed) for _ in temperatures]
    texts = np.repeat(np.asarray(ids, dtype="int32")[None, :], rows, axis=0)
    for _ in range(num_tokens):
        probs = _last_token_probs(model, texts, window, batch_rows)
        chosen = [
            sample_from_probs(probs[row], temperature=temperature or 1.0, greedy=temperature is None, rng=generator)
            for row, (temperature, generator) in enumerate(zip(temperatures, generators))
        ]
        texts = np.concatenate([texts, np.asarray(chosen, dtype="int32")[:, None]], axis=1)
    return [vocab.decode(row.tolist()) for row in texts]


def _last_token_probs(model, contexts, window, batch_rows) -> np.ndarray:
    """Next-token probabilities `(rows, vocab_size)` of equal-length contexts `(rows, length)`."""
    if window is not None and contexts.shape[1] > window:
        contexts = contexts[:, -window:]
    read_at = contexts.shape[1] - 1
    if window is not None and contexts.shape[1] < window:
        contexts = np.pad(contexts, ((0, 0), (0, window - contexts.shape[1])))
    rows = len(contexts)
    batch = np.concatenate([contexts, np.repeat(contexts[:1], batch_rows - rows, axis=0)]) if batch_rows > rows else contexts
    reset_recurrent_states(model)
    probs = np.asarray(predict_batch(model, batch), dtype="float64")
    if probs.ndim != 3:
        raise invalid("model", f"output of shape {probs.shape}", "a language model with output (batch, timesteps, vocab_size)")
    return probs[:rows, read_at]


__all__ = [
    "beam_search_decode", "generate_text", "generate_texts", "greedy_decode", "next_token_probs", "sample_from_probs",
]
