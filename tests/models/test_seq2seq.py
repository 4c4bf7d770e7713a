"""Seq2seq: the teacher-forcing model and its step-by-step inference pieces."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec
from rnnkit.errors import ConfigError
from rnnkit.models.builders import build_model
from rnnkit.models.seq2seq import Seq2SeqInference
from rnnkit.training.decoding import greedy_decode

SOURCE = InputSpec(timesteps=5, vocab_size=7)
TARGET = OutputSpec(kind="classification", dim=6, timesteps=4)


def seq2seq_model(**options):
    keras.utils.set_random_seed(0)
    return build_model(
        ModelSpec(variety="seq2seq", units=3, **options), input_spec=SOURCE, output_spec=TARGET
    )


def random_batch(num_samples=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "encoder_inputs": rng.integers(1, 7, size=(num_samples, 5)).astype("int32"),
        "decoder_inputs": rng.integers(1, 6, size=(num_samples, 4)).astype("int32"),
    }


def test_training_model_inputs_and_layer_names():
    model = seq2seq_model(cell="gru", num_layers=2, embedding_dim=2)
    assert sorted(tensor.name for tensor in model.inputs) == ["decoder_inputs", "encoder_inputs"]
    names = [layer.name for layer in model.layers]
    for name in (
        "encoder_embedding",
        "encoder_rnn_1",
        "encoder_rnn_2",
        "decoder_embedding",
        "decoder_rnn_1",
        "decoder_rnn_2",
        "head",
    ):
        assert name in names
    assert tuple(model(random_batch()).shape) == (3, 4, 6)


def test_fits_with_named_dict_inputs():
    model = seq2seq_model(cell="lstm")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    batch = random_batch(num_samples=8)
    y = np.ones((8, 4), dtype="int32")
    history = model.fit(batch, y, sample_weight=np.ones((8, 4), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_concat_bidirectional_encoder_gives_a_decoder_twice_as_wide():
    model = seq2seq_model(cell="gru", bidirectional=True)
    assert isinstance(model.get_layer("encoder_rnn_1"), keras.layers.Bidirectional)
    assert model.get_layer("decoder_rnn_1").units == 6
    assert not isinstance(model.get_layer("decoder_rnn_1"), keras.layers.Bidirectional)


@pytest.mark.parametrize(
    "options",
    [
        {"cell": "simple_rnn", "context": "initial_state"},
        {"cell": "lstm", "context": "every_step", "num_layers": 2},
        {"cell": "gru", "context": "both", "bidirectional": True, "merge_mode": "ave"},
        {
            "cell": "lstm",
            "context": "both",
            "bidirectional": True,
            "num_layers": 2,
            "embedding_dim": 2,
        },
        {"cell": "gru", "context": "initial_state", "go_backwards": True, "reset_after": False},
    ],
)
def test_step_by_step_decoding_reproduces_the_teacher_forced_outputs(options):
    # Fed the same previous tokens, the one-step decoder must give the training model's
    # probabilities at every position: same layers, same weights, same state flow.
    model = seq2seq_model(**options)
    batch = random_batch()
    expected = np.asarray(model(batch))
    inference = Seq2SeqInference(model)
    states = inference.encode(batch["encoder_inputs"])
    assert all(len(state) == 3 for state in states)
    for position in range(4):
        probabilities, states = inference.step(batch["decoder_inputs"][:, position], states)
        assert probabilities.shape == (3, 6)
        np.testing.assert_allclose(probabilities, expected[:, position], atol=1e-5)


def test_inference_follows_trained_weights():
    model = seq2seq_model(cell="gru")
    inference = Seq2SeqInference(model)
    head = model.get_layer("head").layer
    # A head that always prefers token 4 whatever the state.
    head.set_weights([np.zeros_like(head.kernel), np.eye(6)[4] * 10.0])
    states = inference.encode(random_batch()["encoder_inputs"])
    probabilities, _ = inference.step(np.array([1, 1, 1]), states)
    assert (probabilities.argmax(axis=-1) == 4).all()


def test_refusals():
    many_to_one = build_model(
        ModelSpec(units=2), input_spec=InputSpec(3, 2), output_spec=OutputSpec("regression", 1)
    )
    with pytest.raises(
        ConfigError, match="`model`: got 'lstm_many_to_one'; expected a seq2seq model"
    ):
        Seq2SeqInference(many_to_one)
    inference = Seq2SeqInference(seq2seq_model(cell="gru"))
    encoder_inputs = random_batch()["encoder_inputs"]
    with pytest.raises(ConfigError, match="`encoder_inputs`: got \\(5,\\); expected an int array"):
        inference.encode(encoder_inputs[0])


@pytest.mark.slow
def test_learns_string_reversal_and_greedy_decodes_it():
    from rnnkit.data.tasks import get_task

    keras.utils.set_random_seed(0)
    task = get_task("reverse", timesteps=4, alphabet_size=4, num_samples=300, seed=0)
    model = build_model(ModelSpec(cell="gru", variety="seq2seq", units=32, context="both"), task)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.01))
    model.fit(
        task.train.x,
        task.train.y,
        sample_weight=task.train.sample_weight,
        epochs=40,
        batch_size=32,
        verbose=0,
    )
    vocab = task.target_vocab
    predicted = greedy_decode(
        Seq2SeqInference(model),
        task.test.x["encoder_inputs"],
        start_id=vocab.start_id,
        end_id=vocab.end_id,
        max_length=task.output_spec.timesteps,
    )
    exact = (predicted == task.test.y).all(axis=1).mean()
    assert exact > 0.8
