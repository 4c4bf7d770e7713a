"""build_model: shapes, layer names and wiring, options passed to Keras, and refusals."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec
from rnnkit.errors import ConfigError
from rnnkit.models.builders import build_model

SEQUENCE = InputSpec(timesteps=4, num_features=2)
TOKENS = InputSpec(timesteps=4, vocab_size=6)
VECTOR = InputSpec(timesteps=None, num_features=3)
REGRESSION = OutputSpec(kind="regression", dim=2)
ALIGNED = OutputSpec(kind="classification", dim=5, timesteps=4)
LONGER = OutputSpec(kind="regression", dim=1, timesteps=6)


def layer_names(model):
    return [layer.name for layer in model.layers]


def build(spec_options, input_spec, output_spec, **kwargs):
    return build_model(
        ModelSpec(**spec_options), input_spec=input_spec, output_spec=output_spec, **kwargs
    )


@pytest.mark.parametrize(
    "variety, input_spec, output_spec, x_shape, y_shape",
    [
        ("one_to_one", SEQUENCE, REGRESSION, (3, 4, 2), (3, 2)),
        ("one_to_one", TOKENS, ALIGNED, (3, 4), (3, 4, 5)),
        ("many_to_one", SEQUENCE, REGRESSION, (3, 4, 2), (3, 2)),
        ("many_to_many", TOKENS, ALIGNED, (3, 4), (3, 4, 5)),
        ("one_to_many", VECTOR, LONGER, (3, 3), (3, 6, 1)),
    ],
)
def test_each_variety_maps_input_to_output_shape(
    variety, input_spec, output_spec, x_shape, y_shape
):
    model = build({"variety": variety, "units": 3}, input_spec, output_spec)
    x = np.ones(x_shape, dtype="int32" if input_spec.is_tokens else "float32")
    assert tuple(model(x).shape) == y_shape
    assert model.name == f"lstm_{variety}"
    assert not model.compiled


def test_build_model_takes_a_task_like_object():
    class FakeTask:
        input_spec = SEQUENCE
        output_spec = REGRESSION

    model = build_model(ModelSpec(cell="gru", units=3, name="my_model"), FakeTask())
    assert model.name == "my_model"
    assert model.output_shape == (None, 2)


def test_stacked_layers_return_sequences_except_the_last():
    model = build({"cell": "gru", "units": 3, "num_layers": 3}, SEQUENCE, REGRESSION)
    flags = [model.get_layer(f"rnn_{i}").return_sequences for i in (1, 2, 3)]
    assert flags == [True, True, False]
    aligned = build(
        {"cell": "gru", "units": 3, "num_layers": 2, "variety": "many_to_many"}, TOKENS, ALIGNED
    )
    assert all(aligned.get_layer(f"rnn_{i}").return_sequences for i in (1, 2))
    assert isinstance(aligned.get_layer("head"), keras.layers.TimeDistributed)


def test_options_reach_the_keras_layer():
    spec = {
        "cell": "lstm",
        "units": 3,
        "dropout": 0.25,
        "recurrent_dropout": 0.1,
        "activation": "relu",
        "use_bias": False,
        "unroll": True,
        "go_backwards": True,
        "kernel_initializer": "he_normal",
        "recurrent_initializer": "identity",
        "unit_forget_bias": False,
    }
    layer = build(spec, SEQUENCE, REGRESSION).get_layer("rnn_1")
    config = layer.get_config()
    assert isinstance(layer, keras.layers.LSTM)
    assert (config["dropout"], config["recurrent_dropout"]) == (0.25, 0.1)
    assert config["activation"] == "relu"
    assert (
        config["use_bias"] is False and config["unroll"] is True and config["go_backwards"] is True
    )
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["recurrent_initializer"]["class_name"] == "Identity"
    assert config["unit_forget_bias"] is False


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reset_after_reaches_keras(reset_after):
    layer = build(
        {"cell": "gru", "units": 3, "reset_after": reset_after}, SEQUENCE, REGRESSION
    ).get_layer("rnn_1")
    assert layer.reset_after is reset_after


def test_bidirectional_wrapper_carries_the_name_and_merge_mode():
    model = build(
        {"cell": "simple_rnn", "units": 3, "bidirectional": True, "merge_mode": "sum"},
        SEQUENCE,
        REGRESSION,
    )
    wrapper = model.get_layer("rnn_1")
    assert isinstance(wrapper, keras.layers.Bidirectional)
    assert wrapper.merge_mode == "sum"
    assert isinstance(wrapper.forward_layer, keras.layers.SimpleRNN)
    # "sum" keeps the width at units (concat would double it).
    assert model.get_layer("head").kernel.shape == (3, 2)


def test_token_input_uses_embedding_or_one_hot():
    embedded = build({"units": 3, "embedding_dim": 4}, TOKENS, REGRESSION)
    assert embedded.get_layer("embedding").output_dim == 4
    one_hot = build({"units": 3}, TOKENS, REGRESSION)
    assert "one_hot" in layer_names(one_hot) and "embedding" not in layer_names(one_hot)
    # One-hot input: the first LSTM reads vocab_size features, 4 * 3 * (3 + 6 + 1) weights.
    assert one_hot.get_layer("rnn_1").count_params() == 4 * 3 * (3 + 6 + 1)


def test_heads_softmax_for_classification_and_linear_for_regression():
    keras.utils.set_random_seed(0)
    classifier = build({"variety": "many_to_many", "units": 3}, TOKENS, ALIGNED)
    probabilities = np.asarray(classifier(np.array([[1, 2, 3, 4]])))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    regressor = build({"units": 3}, SEQUENCE, REGRESSION)
    assert regressor.get_layer("head").get_config()["activation"] == "linear"


def test_stateful_model_has_a_fixed_batch_size():
    model = build({"cell": "gru", "units": 3, "stateful": True}, SEQUENCE, REGRESSION, batch_size=4)
    assert model.get_layer("rnn_1").stateful
    assert model.input_shape == (4, 4, 2)


def test_one_to_one_is_a_dense_baseline_on_the_flattened_input():
    model = build(
        {"variety": "one_to_one", "units": 5, "num_layers": 2, "dropout": 0.5}, SEQUENCE, REGRESSION
    )
    names = layer_names(model)
    for name in ("flatten", "dense_1", "dropout_1", "dense_2", "dropout_2", "head"):
        assert name in names
    assert not any(isinstance(layer, keras.layers.RNN) for layer in model.layers)
    # Hidden layer 1 reads the 4 * 2 flattened features.
    assert model.get_layer("dense_1").kernel.shape == (8, 5)


@pytest.mark.parametrize(
    "context, present, absent",
    [
        ("initial_state", ["step_zeros", "init_state_1_0", "init_state_1_1"], ["context_repeat"]),
        ("every_step", ["context_repeat"], ["step_zeros", "init_state_1_0"]),
        ("both", ["context_repeat", "init_state_1_0", "init_state_1_1"], ["step_zeros"]),
    ],
)
def test_one_to_many_context_modes(context, present, absent):
    model = build({"variety": "one_to_many", "units": 3, "context": context}, VECTOR, LONGER)
    names = layer_names(model)
    assert all(name in names for name in present)
    assert not any(name in names for name in absent)
    # The LSTM reads the 3-wide vector at every step, or a 1-wide zero input.
    width = 3 if context != "initial_state" else 1
    assert model.get_layer("rnn_1").count_params() == 4 * 3 * (3 + width + 1)


def test_one_to_many_output_depends_on_the_input_vector():
    keras.utils.set_random_seed(1)
    model = build({"variety": "one_to_many", "cell": "gru", "units": 3}, VECTOR, LONGER)
    first = np.asarray(model(np.zeros((1, 3), "float32")))
    second = np.asarray(model(np.ones((1, 3), "float32")))
    assert np.abs(first - second).max() > 1e-4


def test_many_to_many_go_backwards_keeps_outputs_aligned():
    # A linear SimpleRNN with kernel 1 and recurrent weight 1 reading backwards computes,
    # at step t, the sum of x_t .. x_{T-1}; the head copies it out.
    spec = {
        "cell": "simple_rnn",
        "variety": "many_to_many",
        "units": 1,
        "activation": "linear",
        "go_backwards": True,
        "use_bias": False,
    }
    model = build(
        spec, InputSpec(timesteps=4, num_features=1), OutputSpec("regression", 1, timesteps=4)
    )
    model.get_layer("rnn_1").set_weights([np.ones((1, 1)), np.ones((1, 1))])
    model.get_layer("head").set_weights([np.ones((1, 1)), np.zeros(1)])
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32").reshape(1, 4, 1)
    np.testing.assert_allclose(np.asarray(model(x)).ravel(), [10.0, 9.0, 7.0, 4.0], atol=1e-5)


@pytest.mark.parametrize(
    "spec_options, input_spec, output_spec, kwargs, message",
    [
        (
            {"variety": "many_to_one"},
            VECTOR,
            REGRESSION,
            {},
            "`input_spec.timesteps`: got None; expected a sequence length for variety 'many_to_one'",
        ),
        (
            {"variety": "many_to_one"},
            SEQUENCE,
            ALIGNED,
            {},
            "`output_spec.timesteps`: got 4; expected None",
        ),
        (
            {"variety": "many_to_many"},
            SEQUENCE,
            REGRESSION,
            {},
            "`output_spec.timesteps`: got None; expected a sequence length for variety 'many_to_many'",
        ),
        (
            {"variety": "many_to_many"},
            SEQUENCE,
            LONGER,
            {},
            "`output_spec.timesteps`: got 6; expected the input length 4 \\(aligned output",
        ),
        (
            {"variety": "one_to_many"},
            SEQUENCE,
            LONGER,
            {},
            "`input_spec.timesteps`: got 4; expected None for variety 'one_to_many'",
        ),
        (
            {"variety": "one_to_many", "go_backwards": True},
            VECTOR,
            LONGER,
            {},
            "`go_backwards`: got True; expected False for variety 'one_to_many'",
        ),
        (
            {"variety": "seq2seq"},
            SEQUENCE,
            ALIGNED,
            {},
            "`input_spec.vocab_size`: got None; expected a vocabulary size for variety 'seq2seq'",
        ),
        (
            {"variety": "seq2seq"},
            TOKENS,
            LONGER,
            {},
            "`output_spec.kind`: got 'regression'; expected 'classification'",
        ),
        (
            {"variety": "seq2seq", "stateful": True},
            TOKENS,
            ALIGNED,
            {"batch_size": 2},
            "`stateful`: got True; expected False for variety 'seq2seq'",
        ),
        (
            {"variety": "one_to_one", "stateful": True},
            SEQUENCE,
            REGRESSION,
            {"batch_size": 2},
            "`stateful`: got True; expected False for variety 'one_to_one'",
        ),
        (
            {"stateful": True},
            SEQUENCE,
            REGRESSION,
            {},
            "`batch_size`: got None; expected a positive integer when `stateful` is True",
        ),
        (
            {},
            SEQUENCE,
            REGRESSION,
            {"batch_size": 0},
            "`batch_size`: got 0; expected a positive integer",
        ),
        (
            {"embedding_dim": 3},
            SEQUENCE,
            REGRESSION,
            {},
            "`embedding_dim`: got 3; expected None for real-valued input",
        ),
        (
            {"context": "every_step"},
            SEQUENCE,
            REGRESSION,
            {},
            "`context`: got 'every_step'; expected 'initial_state' \\(the default\\) for variety 'many_to_one' \\(it has no decoder\\)",
        ),
        (
            {"bidirectional": True, "go_backwards": True},
            SEQUENCE,
            REGRESSION,
            {},
            "`go_backwards`: got True; expected False when `bidirectional` is True",
        ),
        ({}, InputSpec(timesteps=4), REGRESSION, {}, "`input_spec.num_features`: got None"),
        ({}, SEQUENCE, OutputSpec("regression", 0), {}, "`output_spec.dim`: got 0"),
    ],
)
def test_refuses_specs_the_variety_cannot_take(
    spec_options, input_spec, output_spec, kwargs, message
):
    with pytest.raises(ConfigError, match=message):
        build({"units": 2, **spec_options}, input_spec, output_spec, **kwargs)


def test_refuses_bad_arguments():
    spec = ModelSpec(units=2)
    with pytest.raises(
        ConfigError, match="`spec`: got \\{'units': 2\\}; expected a rnnkit ModelSpec"
    ):
        build_model({"units": 2}, input_spec=SEQUENCE, output_spec=REGRESSION)
    with pytest.raises(ConfigError, match="`input_spec`: got None; expected an InputSpec"):
        build_model(spec, output_spec=REGRESSION)
    with pytest.raises(ConfigError, match="`output_spec`: got None; expected an OutputSpec"):
        build_model(spec, input_spec=SEQUENCE)
    with pytest.raises(
        ConfigError, match="`task`: got 'adding'; expected an object with `input_spec`"
    ):
        build_model(spec, "adding")

    class FakeTask:
        input_spec = SEQUENCE
        output_spec = REGRESSION

    with pytest.raises(
        ConfigError, match="pass either `task` or `input_spec` and `output_spec`, not both"
    ):
        build_model(spec, FakeTask(), input_spec=SEQUENCE)
