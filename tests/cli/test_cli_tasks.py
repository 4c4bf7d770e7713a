"""`rnnkit tasks` lists every task with shapes, and notes absent data instead of crashing."""

import pytest

from rnnkit.cli import OneLineParser
from rnnkit.cli import tasks as tasks_command
from rnnkit.errors import DataError


def _run(argv):
    # Only this subcommand's parser, so the test does not depend on the other subcommands.
    parser = OneLineParser(prog="rnnkit")
    tasks_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tasks", *argv])
    return args.run(args)


def test_tasks_lists_generated_and_builtin_tasks(capsys, no_data_dir):
    assert _run([]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "(30, 2)" in lines["adding"] and "2400" in lines["adding"]
    assert "seq2seq" in lines["digit_addition"]
    assert "pydoc_data" in lines["builtin_lm"]
    # Real-data files are absent here: listed with a note, not downloaded.
    assert "timemachine.txt not found" in out and "timemachine_lm" in lines


def test_tasks_with_data_dir_shows_real_shapes(capsys, shared_datasets):
    assert _run(["airline_forecast", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "(12, 1)" in out and "options: timesteps=12" in out
    # A monthly series with a yearly season: three baselines, persistence among them.
    assert "baselines (primary metric: mse" in out
    for name in ("mean (", "persistence (", "seasonal_naive ("):
        assert name in out


def test_describe_prints_the_baselines_a_model_must_beat(capsys):
    assert _run(["copy", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "baselines (primary metric: token_accuracy" in out
    # Uniform guessing over the model's 10 outputs (8 letters, <pad>, <unk>): 1/10.
    chance = next(line for line in out.splitlines() if line.strip().startswith("chance ("))
    assert "test token_accuracy 0.1," in chance


def test_unknown_task_name_is_a_data_error():
    with pytest.raises(DataError, match=r"Invalid value for `task`: got 'nosuchtask'"):
        _run(["nosuchtask"])
