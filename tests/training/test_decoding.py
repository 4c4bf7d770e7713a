"""Decoding: beam search and greedy on hand-written models whose answers are known by hand."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec, get_task
from rnnkit.errors import ConfigError
from rnnkit.models.builders import build_model
from rnnkit.models.seq2seq import Seq2SeqInference
from rnnkit.training.decoding import (
    beam_search_decode,
    generate_text,
    generate_texts,
    greedy_decode,
    next_token_probs,
)

# Backend-neutral: CI also runs this module under KERAS_BACKEND=jax (`pytest -m jax`).
pytestmark = pytest.mark.jax

PAD, START, END, A, B = 0, 1, 2, 3, 4


class MarkovInference:
    """A fake seq2seq decoder: the next-token distribution depends on the previous token.

    The state of each row holds its source value s (0 or 1): for s = 1 the tokens A and B
    swap roles, so beam search must keep each row's state with its hypotheses.
    """

    def __init__(self, table):
        self.table = table  # {previous token: {next token: probability}}

    def encode(self, encoder_inputs):
        return [np.asarray(encoder_inputs)[:, :1].astype("float32")]

    def step(self, tokens, states):
        swap = {A: B, B: A}
        probs = np.full((len(tokens), 5), 1e-9)
        for row, (token, source) in enumerate(zip(tokens, states[0][:, 0])):
            token = swap.get(int(token), int(token)) if source else int(token)
            for next_token, p in self.table.get(token, {PAD: 1.0}).items():
                next_token = swap.get(next_token, next_token) if source else next_token
                probs[row, next_token] = p
        return probs / probs.sum(axis=1, keepdims=True), [states[0].copy()]


# Greedy takes A (0.6) and then at best END (0.4): 0.24. B then END is 0.4 * 0.9 = 0.36.
TRAP = {START: {A: 0.6, B: 0.4}, A: {A: 0.3, B: 0.3, END: 0.4}, B: {END: 0.9, A: 0.05, B: 0.05}}


def test_beam_search_finds_the_more_likely_sequence_greedy_misses():
    inference = MarkovInference(TRAP)
    sources = np.array([[0], [1]])
    kwargs = {"start_id": START, "end_id": END, "max_length": 4, "pad_id": PAD}
    greedy = beam_search_decode(inference, sources, beam_width=1, **kwargs)
    beam = beam_search_decode(inference, sources, beam_width=2, **kwargs)
    assert greedy.dtype == np.int32 and greedy.shape == (2, 4)
    assert greedy.tolist() == [[A, END, PAD, PAD], [B, END, PAD, PAD]]
    assert beam.tolist() == [[B, END, PAD, PAD], [A, END, PAD, PAD]]  # row 1 has A/B swapped


def test_length_normalization_changes_the_choice_between_short_and_long():
    # [END] alone: p = 0.4 (log -0.92 per token). [A, END]: 0.6 * 0.6 = 0.36 (log -0.51 per
    # token). [A, B, END]: 0.6 * 0.4 * 0.5 = 0.12 (log -0.71 per token).
    table = {START: {END: 0.4, A: 0.6}, A: {END: 0.6, B: 0.4}, B: {END: 0.5, A: 0.5}}
    inference = MarkovInference(table)
    kwargs = {"start_id": START, "end_id": END, "max_length": 3, "beam_width": 3}
    raw = beam_search_decode(inference, np.array([[0]]), length_normalize=False, **kwargs)
    normalized = beam_search_decode(inference, np.array([[0]]), length_normalize=True, **kwargs)
    assert raw.tolist() == [[END, PAD, PAD]]
    assert normalized.tolist() == [[A, END, PAD]]


def test_beam_search_rejects_bad_arguments():
    inference = MarkovInference(TRAP)
    with pytest.raises(ConfigError, match="`beam_width`: got 0; expected a positive integer"):
        beam_search_decode(inference, np.array([[0]]), start_id=1, end_id=2, max_length=3, beam_width=0)
    with pytest.raises(ConfigError, match="`end_id`: got -1; expected an integer >= 0"):
        beam_search_decode(inference, np.array([[0]]), start_id=1, end_id=-1, max_length=3)


def test_beam_of_width_one_equals_greedy_on_a_real_seq2seq_model():
    keras.utils.set_random_seed(0)
    task = get_task("reverse", timesteps=4, num_samples=60, seed=0)
    model = build_model(ModelSpec(cell="gru", variety="seq2seq", units=6), task)
    inference = Seq2SeqInference(model)
    vocab = task.target_vocab
    kwargs = {"start_id": vocab.start_id, "end_id": vocab.end_id, "max_length": task.test.y.shape[1],
              "pad_id": vocab.pad_id}
    sources = task.test.x["encoder_inputs"][:6]
    assert np.array_equal(beam_search_decode(inference, sources, beam_width=1, **kwargs),
                          greedy_decode(inference, sources, **kwargs))


class ScriptedInference(Seq2SeqInference):
    """Returns scripted next tokens per row, to check greedy_decode's bookkeeping alone."""

    def __init__(self, scripts, vocab_size=6):
        self.scripts = np.asarray(scripts)
        self.vocab_size = vocab_size
        self.steps = 0

    def encode(self, encoder_inputs):
        return [np.zeros((len(encoder_inputs), 1), dtype="float32")]

    def step(self, tokens, states):
        position = int(states[0][0, 0])
        self.steps += 1
        probabilities = (
            np.eye(self.vocab_size)[self.scripts[:, position]] * 0.9 + 0.1 / self.vocab_size
        )
        return probabilities, [states[0] + 1]


def test_greedy_decode_keeps_end_and_pads_after_it():
    end_id = 2
    scripted = ScriptedInference([[3, 4, 2, 5, 5, 5], [2, 5, 5, 5, 5, 5], [4, 4, 4, 4, 4, 4]])
    predicted = greedy_decode(scripted, np.zeros((3, 5)), start_id=1, end_id=end_id, max_length=6)
    expected = [[3, 4, 2, 0, 0, 0], [2, 0, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4]]
    np.testing.assert_array_equal(predicted, expected)
    assert predicted.dtype == np.int32


def test_greedy_decode_stops_once_every_row_has_ended():
    scripted = ScriptedInference([[3, 2, 5, 5, 5, 5], [2, 5, 5, 5, 5, 5]])
    predicted = greedy_decode(
        scripted, np.zeros((2, 5)), start_id=1, end_id=2, max_length=6, pad_id=0
    )
    assert scripted.steps == 2
    np.testing.assert_array_equal(predicted, [[3, 2, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]])


def test_greedy_decode_on_a_real_model_returns_valid_ids():
    keras.utils.set_random_seed(0)
    model = build_model(
        ModelSpec(cell="lstm", variety="seq2seq", units=3, context="both"),
        input_spec=InputSpec(timesteps=5, vocab_size=7),
        output_spec=OutputSpec(kind="classification", dim=6, timesteps=4),
    )
    encoder_inputs = np.random.default_rng(0).integers(1, 7, size=(5, 5)).astype("int32")
    predicted = greedy_decode(
        Seq2SeqInference(model), encoder_inputs, start_id=1, end_id=2, max_length=7
    )
    assert predicted.shape == (5, 7)
    assert ((predicted >= 0) & (predicted < 6)).all()

def test_greedy_decode_refusals():
    many_to_one = build_model(
        ModelSpec(units=2), input_spec=InputSpec(3, 2), output_spec=OutputSpec("regression", 1)
    )
    keras.utils.set_random_seed(0)
    model = build_model(
        ModelSpec(cell="gru", variety="seq2seq", units=3),
        input_spec=InputSpec(timesteps=5, vocab_size=7),
        output_spec=OutputSpec(kind="classification", dim=6, timesteps=4),
    )
    inference = Seq2SeqInference(model)
    encoder_inputs = np.random.default_rng(0).integers(1, 7, size=(3, 5)).astype("int32")
    with pytest.raises(ConfigError, match="`max_length`: got 0; expected a positive integer"):
        greedy_decode(inference, encoder_inputs, start_id=1, end_id=2, max_length=0)
    with pytest.raises(
        ConfigError, match="`end_id`: got 6; expected an id below the target vocab_size 6"
    ):
        greedy_decode(inference, encoder_inputs, start_id=1, end_id=6, max_length=3)
    with pytest.raises(ConfigError, match="`start_id`: got -1; expected an integer >= 0"):
        greedy_decode(inference, encoder_inputs, start_id=-1, end_id=2, max_length=3)
    with pytest.raises(
        ConfigError, match="`inference`: got 'Functional'; expected a Seq2SeqInference"
    ):
        greedy_decode(many_to_one, encoder_inputs, start_id=1, end_id=2, max_length=3)


class LetterVocab:
    letters = "abcd"

    def encode(self, text):
        return np.array([self.letters.index(char) for char in text])

    def decode(self, ids):
        return "".join(self.letters[int(i)] for i in ids)


def next_letter_model(timesteps=4, sharpness=20.0):
    """A causal LM that predicts letter i + 1 after letter i (softmax of sharpness * shift)."""
    inputs = keras.Input((timesteps,), dtype="int32")
    one_hot = keras.layers.Embedding(4, 4, embeddings_initializer="identity", name="embedding")(inputs)
    shift = np.roll(np.eye(4), 1, axis=1) * sharpness  # row i has its weight in column i + 1
    head = keras.layers.Dense(4, activation="softmax", name="head",
                              kernel_initializer=keras.initializers.Constant(shift))
    return keras.Model(inputs, head(one_hot))


def test_greedy_generation_follows_the_hand_weighted_model():
    model = next_letter_model(timesteps=4)
    # Short prefix (padded inside the window) and a long run (window slides past 4 tokens).
    assert generate_text(model, LetterVocab(), "a", 3, greedy=True) == "abcd"
    assert generate_text(model, LetterVocab(), "bc", 7, greedy=True) == "bcdabcdab"


def test_low_temperature_equals_greedy_and_sampling_is_seeded():
    model = next_letter_model(timesteps=4, sharpness=0.7)  # p(next letter) is only about 0.45
    greedy = generate_text(model, LetterVocab(), "ab", 8, greedy=True)
    assert generate_text(model, LetterVocab(), "ab", 8, temperature=1e-4, seed=1) == greedy
    sampled = [generate_text(model, LetterVocab(), "ab", 8, temperature=1.0, seed=seed) for seed in range(4)]
    assert generate_text(model, LetterVocab(), "ab", 8, temperature=1.0, seed=2) == sampled[2]
    assert any(text != greedy for text in sampled)


def test_texts_generated_together_equal_texts_generated_one_by_one():
    model = next_letter_model(timesteps=4, sharpness=0.7)
    vocab = LetterVocab()
    alone = [generate_text(model, vocab, "ab", 8, greedy=True),
             generate_text(model, vocab, "ab", 8, temperature=1.0, seed=3),
             generate_text(model, vocab, "ab", 8, temperature=0.5, seed=3)]
    # Rows padded to 6 per pass (the shape of a held-out batch): the padding is dropped.
    together = generate_texts(model, vocab, "ab", 8, [None, 1.0, 0.5], seed=3, batch_rows=6)
    assert together == alone
    # The sharp model's greedy row is known by hand: each letter is followed by the next.
    sharp = next_letter_model(timesteps=4)
    assert generate_texts(sharp, vocab, "c", 5, [None, None], batch_rows=2) == ["cdabcd", "cdabcd"]


def test_generation_in_a_fixed_window_equals_the_growing_context():
    # A model free in its time steps: reading a right-padded window at the last real token
    # gives what the growing context gives (the model is causal).
    inputs = keras.Input((None,), dtype="int32")
    one_hot = keras.layers.Embedding(4, 4, embeddings_initializer="identity")(inputs)
    rnn = keras.layers.SimpleRNN(4, return_sequences=True, seed=0)(one_hot)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(rnn))
    vocab = LetterVocab()
    growing = generate_texts(model, vocab, "abc", 6, [None])
    assert generate_texts(model, vocab, "abc", 6, [None], window=12, batch_rows=4) == growing


def test_generate_texts_refuses_bad_arguments():
    model, vocab = next_letter_model(), LetterVocab()
    with pytest.raises(ConfigError, match="`temperatures`: got \\[\\]; expected at least one temperature"):
        generate_texts(model, vocab, "a", 2, [])
    with pytest.raises(ConfigError, match="`batch_rows`: got 1; expected at least 2 \\(one row per temperature\\)"):
        generate_texts(model, vocab, "a", 2, [None, 0.5], batch_rows=1)
    with pytest.raises(ConfigError, match="`temperature`: got -1"):
        generate_texts(model, vocab, "a", 2, [None, -1])


def test_window_padding_matches_running_the_exact_context():
    keras.utils.set_random_seed(0)
    embedding = keras.layers.Embedding(5, 3)
    rnn = keras.layers.GRU(4, return_sequences=True)
    head = keras.layers.Dense(5, activation="softmax")
    free, fixed = keras.Input((None,), dtype="int32"), keras.Input((6,), dtype="int32")
    free_model = keras.Model(free, head(rnn(embedding(free))))
    fixed_model = keras.Model(fixed, head(rnn(embedding(fixed))))
    context = np.array([3, 1, 4])
    expected = free_model(context[None, :])[0, -1]
    assert np.allclose(next_token_probs(fixed_model, context), expected, atol=1e-6)
    long_context = np.array([1, 2, 3, 4, 0, 1, 2, 3])
    expected = free_model(long_context[None, -6:])[0, -1]
    assert np.allclose(next_token_probs(fixed_model, long_context), expected, atol=1e-6)


def test_generate_text_rejects_bad_arguments():
    model = next_letter_model()
    with pytest.raises(ConfigError, match="`prefix`: got ''; expected a non-empty string"):
        generate_text(model, LetterVocab(), "", 3)
    with pytest.raises(ConfigError, match="`temperature`: got 0; expected a finite number > 0"):
        generate_text(model, LetterVocab(), "a", 3, temperature=0)
    with pytest.raises(ConfigError, match="`num_tokens`: got -2; expected an integer >= 0"):
        generate_text(model, LetterVocab(), "a", -2)


class SilentVocab(LetterVocab):
    """Encodes every text to no tokens (a word vocabulary that knows none of the words)."""

    def encode(self, text):
        return np.array([], dtype="int64")


def test_prefix_without_tokens_and_a_model_that_is_not_a_language_model_are_named():
    with pytest.raises(ConfigError, match="`prefix`: got 'zz'; expected text that encodes to at least one token"):
        generate_text(next_letter_model(), SilentVocab(), "zz", 3)
    inputs = keras.Input((4,), dtype="int32")
    classifier = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.ops.cast(inputs, "float32")))
    with pytest.raises(ConfigError, match=r"`model`: got 'output of shape \(1, 3\)'; expected a language model"):
        next_token_probs(classifier, [1, 2])
