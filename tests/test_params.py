"""Parameter formulas against hand computations and against Keras for every builder option."""

import itertools

import keras
import pandas as pd
import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import InputSpec, OutputSpec
from rnnkit.errors import ConfigError
from rnnkit.models.builders import build_model
from rnnkit.params import (
    TABLE_COLUMNS,
    dense_params,
    embedding_params,
    param_table,
    param_totals,
    recurrent_formula,
    recurrent_params,
)

# Backend-neutral: CI also runs this module under KERAS_BACKEND=jax (`pytest -m jax`).
pytestmark = pytest.mark.jax


def test_hand_computed_counts():
    # LSTM(32) on 10 features: 4 * 32 * (32 + 10 + 1) = 4 * 32 * 43.
    assert recurrent_params("lstm", 32, 10) == 5504
    # GRU(5) on 4 features: 3 * 5 * (5 + 4 + 2) = 165, or 3 * 5 * (5 + 4 + 1) = 150.
    assert recurrent_params("gru", 5, 4, reset_after=True) == 165
    assert recurrent_params("gru", 5, 4, reset_after=False) == 150
    # SimpleRNN(4) on 1 feature: 4 * (4 + 1 + 1) = 24.
    assert recurrent_params("simple_rnn", 4, 1) == 24
    assert recurrent_params("simple_rnn", 4, 1, use_bias=False) == 20
    assert recurrent_params("lstm", 32, 10, bidirectional=True) == 11008
    assert dense_params(32, 10) == 330
    assert dense_params(32, 10, use_bias=False) == 320
    assert embedding_params(100, 16) == 1600


def test_formula_text():
    assert recurrent_formula("lstm", 32, 10) == "4*units*(units+input_dim+1) = 4*32*(32+10+1)"
    assert recurrent_formula("gru", 5, 4) == "3*units*(units+input_dim+2) = 3*5*(5+4+2)"
    assert (
        recurrent_formula("simple_rnn", 4, 1, use_bias=False) == "units*(units+input_dim) = 4*(4+1)"
    )
    assert recurrent_formula("gru", 5, 4, bidirectional=True, reset_after=False).startswith(
        "2*3*units*"
    )


def test_hand_counts_equal_keras_layers():
    for layer, input_shape, expected in [
        (keras.layers.LSTM(32), (None, 7, 10), 5504),
        (keras.layers.GRU(5), (None, 7, 4), 165),
        (keras.layers.GRU(5, reset_after=False), (None, 7, 4), 150),
        (keras.layers.SimpleRNN(4), (None, 7, 1), 24),
    ]:
        layer.build(input_shape)
        assert layer.count_params() == expected


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: recurrent_params("transformer", 4, 2),
            "`cell`: got 'transformer'; expected one of 'simple_rnn'",
        ),
        (lambda: recurrent_params("lstm", 0, 2), "`units`: got 0; expected a positive integer"),
        (
            lambda: recurrent_params("lstm", 4, -1),
            "`input_dim`: got -1; expected a positive integer",
        ),
        (
            lambda: recurrent_params("gru", 4, 2, reset_after="yes"),
            "`reset_after`: got 'yes'; expected True or False",
        ),
        (
            lambda: recurrent_params("lstm", 4, 2, use_bias=1),
            "`use_bias`: got 1; expected True or False",
        ),
        (
            lambda: recurrent_params("lstm", 4, 2, bidirectional="no"),
            "`bidirectional`: got 'no'; expected True or False",
        ),
        # The formula text validates exactly like the count it describes.
        (lambda: recurrent_formula("lstm", 0, 2), "`units`: got 0; expected a positive integer"),
        (lambda: recurrent_formula("rnn", 4, 2), "`cell`: got 'rnn'; expected one of"),
        (lambda: dense_params(3, 0), "`units`: got 0"),
        (lambda: dense_params(0, 3), "`input_dim`: got 0; expected a positive integer"),
        (lambda: dense_params(3, 2, use_bias="yes"), "`use_bias`: got 'yes'"),
        (lambda: embedding_params(0, 3), "`vocab_size`: got 0"),
        (lambda: embedding_params(3, 0), "`output_dim`: got 0; expected a positive integer"),
    ],
)
def test_refuses_bad_arguments(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


# --- The grid: every builder, checked three ways (test arithmetic, param_table, Keras) ---

UNITS, FEATURES, TIMESTEPS, OUT_DIM, VOCAB_IN, VOCAB_OUT = 3, 2, 4, 2, 5, 6
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def shapes(variety):
    if variety == "one_to_many":
        return InputSpec(None, FEATURES), OutputSpec("regression", OUT_DIM, TIMESTEPS)
    if variety == "seq2seq":
        return InputSpec(TIMESTEPS, vocab_size=VOCAB_IN), OutputSpec(
            "classification", VOCAB_OUT, TIMESTEPS + 1
        )
    if variety == "many_to_many":
        return InputSpec(TIMESTEPS, FEATURES), OutputSpec("regression", OUT_DIM, TIMESTEPS)
    return InputSpec(TIMESTEPS, FEATURES), OutputSpec("regression", OUT_DIM)


def rnn(cell, units, width, use_bias, reset_after, directions=1):
    """The issue's formulas, written out independently of rnnkit.params."""
    bias = (2 if cell == "gru" and reset_after else 1) if use_bias else 0
    return directions * GATES[cell] * units * (units + width + bias)


def expected_total(cell, variety, num_layers, bidirectional, reset_after, use_bias):
    h, directions = UNITS, 2 if bidirectional else 1
    out_width = h * directions  # merge_mode "concat"
    if variety == "one_to_one":
        total = TIMESTEPS * FEATURES * h + (h if use_bias else 0)
        total += (num_layers - 1) * (h * h + (h if use_bias else 0))
        return total + h * OUT_DIM + OUT_DIM
    if variety in ("many_to_one", "many_to_many"):
        widths = [FEATURES] + [out_width] * (num_layers - 1)
        total = sum(rnn(cell, h, w, use_bias, reset_after, directions) for w in widths)
        return total + out_width * OUT_DIM + OUT_DIM
    if variety == "one_to_many":
        # Context as initial state: a tanh Dense per state per layer; the steps read zeros (width 1).
        init = num_layers * STATES[cell] * directions * (FEATURES * h + h)
        widths = [1] + [out_width] * (num_layers - 1)
        total = sum(rnn(cell, h, w, use_bias, reset_after, directions) for w in widths)
        return init + total + out_width * OUT_DIM + OUT_DIM
    # seq2seq, one-hot tokens, context as initial state; the decoder is one-directional
    # and as wide as the concatenated encoder state.
    encoder_widths = [VOCAB_IN] + [out_width] * (num_layers - 1)
    encoder = sum(rnn(cell, h, w, use_bias, reset_after, directions) for w in encoder_widths)
    decoder_widths = [VOCAB_OUT] + [out_width] * (num_layers - 1)
    decoder = sum(rnn(cell, out_width, w, use_bias, reset_after) for w in decoder_widths)
    return encoder + decoder + out_width * VOCAB_OUT + VOCAB_OUT


def grid():
    for cell, variety, num_layers, bidirectional, use_bias in itertools.product(
        ("simple_rnn", "lstm", "gru"),
        ("one_to_one", "many_to_one", "many_to_many", "one_to_many", "seq2seq"),
        (1, 2),
        (False, True),
        (True, False),
    ):
        for reset_after in (True, False) if cell == "gru" else (None,):
            # The whole grid runs by default: 160 small models build in about 17 s on 2 cores.
            yield pytest.param(
                cell,
                variety,
                num_layers,
                bidirectional,
                reset_after,
                use_bias,
                id=f"{cell}-{variety}-L{num_layers}-bi{int(bidirectional)}"
                f"-ra{reset_after}-bias{int(use_bias)}",
            )


@pytest.mark.parametrize(
    "cell, variety, num_layers, bidirectional, reset_after, use_bias", list(grid())
)
def test_formula_equals_keras_for_every_builder(
    cell, variety, num_layers, bidirectional, reset_after, use_bias
):
    spec = ModelSpec(
        cell=cell,
        variety=variety,
        units=UNITS,
        num_layers=num_layers,
        bidirectional=bidirectional,
        reset_after=reset_after,
        use_bias=use_bias,
    )
    input_spec, output_spec = shapes(variety)
    model = build_model(spec, input_spec=input_spec, output_spec=output_spec)
    expected = expected_total(
        cell, variety, num_layers, bidirectional, reset_after is not False, use_bias
    )
    assert model.count_params() == expected
    table = param_table(model)
    assert table["match"].all(), table
    assert table["analytic"].sum() == expected
    assert param_totals(model) == {"analytic": expected, "keras": expected, "match": True}


@pytest.mark.parametrize(
    "options, input_spec, output_spec",
    [
        (
            {
                "variety": "many_to_many",
                "embedding_dim": 3,
                "bidirectional": True,
                "merge_mode": "sum",
            },
            InputSpec(4, vocab_size=7),
            OutputSpec("classification", 7, 4),
        ),
        (
            {"variety": "one_to_many", "context": "both", "cell": "gru"},
            InputSpec(None, 2),
            OutputSpec("regression", 1, 5),
        ),
        (
            {
                "variety": "seq2seq",
                "context": "every_step",
                "embedding_dim": 2,
                "bidirectional": True,
                "merge_mode": "mul",
                "num_layers": 2,
            },
            InputSpec(4, vocab_size=5),
            OutputSpec("classification", 6, 3),
        ),
        (
            {"variety": "one_to_one", "embedding_dim": 2, "dropout": 0.2},
            InputSpec(4, vocab_size=5),
            OutputSpec("classification", 3, 4),
        ),
    ],
)
def test_table_covers_embeddings_contexts_and_merge_modes(options, input_spec, output_spec):
    model = build_model(
        ModelSpec(units=3, **options), input_spec=input_spec, output_spec=output_spec
    )
    table = param_table(model)
    assert table["match"].all(), table
    assert param_totals(model)["keras"] == model.count_params() == table["analytic"].sum()


def test_table_rows_and_columns():
    spec = ModelSpec(cell="lstm", units=32, embedding_dim=8)
    model = build_model(
        spec, input_spec=InputSpec(6, vocab_size=10), output_spec=OutputSpec("classification", 3)
    )
    table = param_table(model)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["layer"]) == ["embedding", "rnn_1", "head"]
    rows = table.set_index("layer")
    assert rows.loc["embedding", "analytic"] == 10 * 8
    assert rows.loc["rnn_1", "input_width"] == 8
    assert rows.loc["rnn_1", "formula"] == "4*units*(units+input_dim+1) = 4*32*(32+8+1)"
    assert rows.loc["rnn_1", "analytic"] == 4 * 32 * (32 + 8 + 1)
    assert rows.loc["head", "formula"] == "input_dim*units+units = 32*3+3"


def test_stacked_bidirectional_layer_reads_both_directions():
    spec = ModelSpec(cell="gru", units=4, num_layers=2, bidirectional=True, reset_after=False)
    model = build_model(spec, input_spec=InputSpec(5, 3), output_spec=OutputSpec("regression", 1))
    rows = param_table(model).set_index("layer")
    assert rows.loc["rnn_2", "input_width"] == 8
    assert rows.loc["rnn_2", "analytic"] == 2 * 3 * 4 * (4 + 8 + 1)
    assert rows.loc["rnn_1", "type"] == "Bidirectional(GRU)"


def test_unknown_layers_get_a_row_without_formula():
    inputs = keras.Input((4, 2))
    outputs = keras.layers.Conv1D(3, 2, name="conv")(inputs)
    table = param_table(keras.Model(inputs, outputs))
    assert table.loc[0, "formula"] == "no formula for Conv1D"
    assert pd.isna(table.loc[0, "analytic"]) and not table.loc[0, "match"]
    assert table.loc[0, "keras"] == 2 * 2 * 3 + 3
