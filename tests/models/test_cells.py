"""The cell table, the recurrent layer factory and the weightless helper layers."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.errors import ConfigError
from rnnkit.models import reference
from rnnkit.models.cells import (
    CELL_TABLE,
    Cell,
    get_cell,
    is_recurrent_layer,
    make_recurrent_layer,
    register_cell,
)
from rnnkit.models.layers import OneHot, ReverseTime, StepZeros


@pytest.mark.parametrize(
    "cell, layer_class", [("simple_rnn", "SimpleRNN"), ("lstm", "LSTM"), ("gru", "GRU")]
)
def test_cell_names_map_to_keras_layers(cell, layer_class):
    layer = make_recurrent_layer(
        ModelSpec(cell=cell, units=3), return_sequences=False, name="rnn_1"
    )
    assert type(layer).__name__ == layer_class
    assert layer.name == "rnn_1" and layer.units == 3 and is_recurrent_layer(layer)


def test_bidirectional_wrapper_is_named_and_inner_layer_suffixed():
    spec = ModelSpec(cell="gru", units=3, bidirectional=True, merge_mode="ave")
    layer = make_recurrent_layer(spec, return_sequences=True, name="rnn_2")
    assert isinstance(layer, keras.layers.Bidirectional) and layer.name == "rnn_2"
    assert layer.merge_mode == "ave" and is_recurrent_layer(layer)
    assert (
        make_recurrent_layer(
            spec, return_sequences=True, name="dec", bidirectional=False, units=6
        ).units
        == 6
    )
    assert not is_recurrent_layer(keras.layers.Dense(2))


def test_helper_layers():
    one_hot = np.asarray(OneHot(4)(np.array([[0, 3]])))
    np.testing.assert_array_equal(one_hot, [[[1, 0, 0, 0], [0, 0, 0, 1]]])
    zeros = np.asarray(StepZeros(5)(np.ones((2, 3), "float32")))
    assert zeros.shape == (2, 5, 1) and not zeros.any()
    x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    np.testing.assert_array_equal(np.asarray(ReverseTime()(x)), x[:, ::-1])


def test_models_with_helper_layers_save_and_load(tmp_path):
    from rnnkit.data.tasks import InputSpec, OutputSpec
    from rnnkit.models.builders import build_model

    spec = ModelSpec(cell="gru", variety="one_to_many", units=2)
    model = build_model(
        spec, input_spec=InputSpec(None, 2), output_spec=OutputSpec("regression", 1, 3)
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.ones((1, 2), "float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


@keras.saving.register_keras_serializable(package="rnnkit_tests")
class ToyRNN(keras.layers.SimpleRNN):
    """A SimpleRNN under another class: a cell rnnkit knows nothing about until registered."""


@pytest.fixture
def toy_cell():
    cell = register_cell(
        Cell(
            name="toy_rnn",
            keras_class=ToyRNN,
            gate_names=("recurrent",),
            num_states=1,
            reference_step=reference.simple_rnn_reference,
        )
    )
    yield cell
    del CELL_TABLE["toy_rnn"]


def test_a_registered_cell_works_everywhere_with_no_other_edit(toy_cell, capsys):
    from rnnkit.cli import build_parser, main
    from rnnkit.data.tasks import InputSpec, OutputSpec
    from rnnkit.harness.grid import expand_grid
    from rnnkit.models.builders import build_model
    from rnnkit.models.reference import run_reference
    from rnnkit.models.seq2seq import Seq2SeqInference
    from rnnkit.params import param_table, recurrent_formula
    from rnnkit.training.diagnostics import gate_spectral_radii

    # Settings and builders: the layer is the row's Keras class.
    spec = ModelSpec(cell="toy_rnn", units=3)
    model = build_model(
        spec, input_spec=InputSpec(timesteps=4, num_features=2), output_spec=OutputSpec("regression", 1)
    )
    assert type(model.get_layer("rnn_1")) is ToyRNN

    # Parameter formula, by hand: one gate, h * (h + d + 1) = 3 * (3 + 2 + 1) = 18.
    row = param_table(model).set_index("layer").loc["rnn_1"]
    assert row["analytic"] == 18 == row["keras"]
    assert recurrent_formula("toy_rnn", 3, 2) == "units*(units+input_dim+1) = 3*(3+2+1)"

    # The NumPy reference step reproduces the layer.
    layer = ToyRNN(3, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    outputs = np.asarray(layer(x))
    np.testing.assert_allclose(run_reference(layer, x)[0], outputs, atol=1e-5)

    # Diagnostics name the gate blocks; seq2seq inference counts the states.
    assert list(gate_spectral_radii(model)) == ["recurrent"]
    seq2seq = build_model(
        ModelSpec(cell="toy_rnn", variety="seq2seq", units=2),
        input_spec=InputSpec(timesteps=3, vocab_size=5),
        output_spec=OutputSpec("classification", 4, 2),
    )
    assert Seq2SeqInference(seq2seq).state_count == 1

    # The CLI and the comparison grid accept it.
    assert build_parser().parse_args(["compare", "--cells", "toy_rnn"]).cells == ["toy_rnn"]
    assert main(["params", "--cell", "toy_rnn", "--units", "3", "--input-dim", "2"]) == 0
    assert "3*(3+2+1)" in capsys.readouterr().out
    runs = expand_grid({"tasks": ["adding"], "cells": ["toy_rnn"], "model": {"units": 2}})
    assert [run.label for run in runs] == ["adding toy_rnn u2 L1 seed0"]


def test_cell_table_refusals():
    with pytest.raises(ConfigError, match="`cell`: got 'elman'; expected one of 'simple_rnn', 'lstm', 'gru'"):
        get_cell("elman")
    with pytest.raises(ConfigError, match="`cell`: got 'lstm'; expected a rnnkit Cell"):
        register_cell("lstm")
    toy = Cell("toy", "SimpleRNN", ("recurrent",), 1, reference.simple_rnn_reference, options=("units",))
    with pytest.raises(
        ConfigError, match="`cell.options`: got 'units'; expected names of ModelSpec fields that default to None"
    ):
        register_cell(toy)
    assert "toy" not in CELL_TABLE
