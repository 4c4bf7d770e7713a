"""The recurrent layer factory and the weightless helper layers."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec
from rnnkit.models.cells import (
    OneHot,
    ReverseTime,
    StepZeros,
    is_recurrent_layer,
    make_recurrent_layer,
)


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
