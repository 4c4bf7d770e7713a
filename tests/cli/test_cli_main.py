"""The dispatcher: help for every subcommand, and errors as one line with exit code 2."""

import subprocess
import sys

import pytest

from rnnkit.cli import SUBCOMMANDS, main


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("tasks", "params", "train", "compare", "report"):
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: rnnkit {name}" in capsys.readouterr().out


def test_unknown_subcommand_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "invalid choice: 'fit'" in err


def test_python_dash_m_error_is_exactly_one_stderr_line():
    """TensorFlow's start-up log lines must not surround the one error line."""
    completed = subprocess.run(
        [sys.executable, "-m", "rnnkit", "params", "--cell", "lstm", "--units", "0", "--input-dim", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "rnnkit params: error: Invalid value for `units`: got 0; expected a positive integer."
    ]
    assert "Traceback" not in completed.stdout
