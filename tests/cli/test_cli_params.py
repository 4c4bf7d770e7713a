"""`rnnkit params` prints the parameter table and its total, and refuses bad values in one line."""

import os
import subprocess
import sys

import pytest

from rnnkit.cli import main


def table_lines(out):
    return {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}


def test_prints_formula_rows_and_total(capsys):
    assert (
        main(["params", "--cell", "gru", "--units", "5", "--input-dim", "4", "--no-reset-after"])
        == 0
    )
    out = capsys.readouterr().out
    rows = table_lines(out)
    # GRU(5) on 4 features without reset_after: 3 * 5 * (5 + 4 + 1) = 150; head 5 * 1 + 1 = 6.
    assert "3*units*(units+input_dim+1) = 3*5*(5+4+1)" in out
    assert rows["rnn_1"][-3:] == ["150", "150", "True"]
    assert "total: analytic 156, keras 156 (match)" in out


def test_stacked_bidirectional_lstm(capsys):
    argv = [
        "params",
        "--cell",
        "lstm",
        "--units",
        "32",
        "--input-dim",
        "10",
        "--num-layers",
        "2",
        "--bidirectional",
        "--output-dim",
        "3",
        "--classification",
    ]
    assert main(argv) == 0
    rows = table_lines(capsys.readouterr().out)
    # Layer 1: 2 * 4 * 32 * (32 + 10 + 1) = 11008; layer 2 reads 64: 2 * 4 * 32 * (32 + 64 + 1) = 24832.
    assert rows["rnn_1"][-3] == "11008"
    assert rows["rnn_2"][-3] == "24832"
    assert rows["head"][-3] == str(64 * 3 + 3)
    assert rows["total:"][2] == f"{11008 + 24832 + 64 * 3 + 3},"


def test_seq2seq_and_one_to_many_varieties(capsys):
    argv = [
        "params",
        "--cell",
        "simple_rnn",
        "--units",
        "4",
        "--input-dim",
        "7",
        "--variety",
        "seq2seq",
        "--output-dim",
        "9",
        "--timesteps",
        "5",
        "--no-bias",
    ]
    assert main(argv) == 0
    rows = table_lines(capsys.readouterr().out)
    # One-hot source (7) and target (9) vocabularies, no bias: 4 * (4 + 7) and 4 * (4 + 9).
    assert rows["encoder_rnn_1"][-3] == "44"
    assert rows["decoder_rnn_1"][-3] == "52"
    assert (
        main(
            [
                "params",
                "--units",
                "3",
                "--input-dim",
                "2",
                "--variety",
                "one_to_many",
                "--context",
                "every_step",
            ]
        )
        == 0
    )
    assert "(match)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--cell", "transformer", "--units", "4", "--input-dim", "2"],
            "`cell`: got 'transformer'",
        ),
        (["--units", "0", "--input-dim", "2"], "`units`: got 0; expected a positive integer"),
        (["--units", "4", "--input-dim", "0"], "`--input-dim`: got 0; expected a positive integer"),
        (["--units", "4", "--input-dim", "2", "--num-layers", "0"], "`num_layers`: got 0"),
        (
            ["--units", "4", "--input-dim", "2", "--variety", "many_to_few"],
            "`variety`: got 'many_to_few'",
        ),
        (["--units", "4", "--input-dim", "2", "--merge-mode", "max"], "`merge_mode`: got 'max'"),
        (
            ["--cell", "lstm", "--units", "4", "--input-dim", "2", "--no-reset-after"],
            "`reset_after`: got False; expected None for cell 'lstm'",
        ),
        (["--units", "4", "--input-dim", "2", "--timesteps", "-3"], "`--timesteps`: got -3"),
    ],
)
def test_bad_values_give_one_line_and_exit_2(capsys, argv, message):
    assert main(["params", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit params: error: Invalid value for ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_required_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["params", "--units", "4"])
    assert exit_info.value.code == 2
    assert "--input-dim" in capsys.readouterr().err


def test_help_from_a_fresh_process():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit", "params", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0
    assert "--reset-after" in result.stdout and "--input-dim" in result.stdout
