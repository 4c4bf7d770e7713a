"""ModelSpec and TrainConfig validate every field on creation."""

import pytest

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.errors import ConfigError


def test_defaults_are_keras_defaults():
    spec = ModelSpec()
    assert spec.activation == "tanh"
    assert spec.kernel_initializer == "glorot_uniform"
    assert spec.recurrent_initializer == "orthogonal"
    assert spec.model_name == "lstm_many_to_one"


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("cell", "transformer", "expected one of 'simple_rnn', 'lstm', 'gru'"),
        ("variety", "many_to_few", "expected one of 'one_to_one'"),
        ("units", 0, "`units`: got 0; expected a positive integer"),
        ("units", 2.5, "`units`: got 2.5; expected a positive integer"),
        ("num_layers", -1, "`num_layers`: got -1; expected a positive integer"),
        ("dropout", 1.0, "`dropout`: got 1.0; expected a number in \\[0, 1\\)"),
        ("recurrent_dropout", -0.1, "`recurrent_dropout`: got -0.1"),
        ("bidirectional", "yes", "`bidirectional`: got 'yes'; expected True or False"),
        ("merge_mode", "max", "`merge_mode`: got 'max'"),
        ("activation", "softmaxx", "`activation`: got 'softmaxx'"),
        ("kernel_initializer", "glorot", "`kernel_initializer`: got 'glorot'"),
        ("context", "sometimes", "`context`: got 'sometimes'"),
        ("embedding_dim", 0, "`embedding_dim`: got 0"),
    ],
)
def test_model_spec_rejects_bad_values(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        ModelSpec(**{field: value})


def test_cell_specific_options_are_refused_on_other_cells():
    with pytest.raises(ConfigError, match="`reset_after`: got False; expected None for cell 'lstm'"):
        ModelSpec(cell="lstm", reset_after=False)
    with pytest.raises(ConfigError, match="`unit_forget_bias`: got True; expected None for cell 'gru'"):
        ModelSpec(cell="gru", unit_forget_bias=True)
    assert ModelSpec(cell="gru", reset_after=False).reset_after is False
    assert ModelSpec(cell="lstm", unit_forget_bias=False).unit_forget_bias is False


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("optimizer", "adagrad", "`optimizer`: got 'adagrad'; expected one of 'adam', 'rmsprop', 'sgd'"),
        ("learning_rate", -0.01, "`learning_rate`: got -0.01; expected a finite number > 0"),
        ("learning_rate", float("nan"), "`learning_rate`: got nan"),
        ("epochs", 0, "`epochs`: got 0; expected a positive integer"),
        ("batch_size", 0, "`batch_size`: got 0"),
        ("clipnorm", 0.0, "`clipnorm`: got 0.0"),
        ("clipvalue", -1.0, "`clipvalue`: got -1.0"),
        ("early_stopping_patience", 0, "`early_stopping_patience`: got 0"),
        ("seed", -3, "`seed`: got -3; expected an integer >= 0"),
    ],
)
def test_train_config_rejects_bad_values(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        TrainConfig(**{field: value})


def test_round_trip_through_dict_and_unknown_keys():
    spec = ModelSpec(cell="gru", units=4, reset_after=False)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigError, match="Unknown setting `unitz` for ModelSpec; accepted: cell, variety"):
        ModelSpec.from_dict({"unitz": 3})
    assert TrainConfig().replace(epochs=2).epochs == 2


def test_model_name_must_be_a_non_empty_string():
    with pytest.raises(ConfigError, match="`name`: got ''; expected a non-empty string or None"):
        ModelSpec(name="")
    with pytest.raises(ConfigError, match="`name`: got 3; expected a non-empty string or None"):
        ModelSpec(name=3)
    assert ModelSpec(name="mine").model_name == "mine"
