"""`rnnkit train`: one configuration, trained for real into its own folder; every grid setting
as a flag, with one-line errors."""

import dataclasses
import json

import pandas as pd
import pytest

from rnnkit.cli import build_parser, main
from rnnkit.cli.train import build_train_grid, parse_scalar
from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.harness.grid import expand_grid


def test_train_writes_a_one_run_folder_with_its_report(tmp_path, capsys):
    out = tmp_path / "one"
    code = main(["train", "--task", "adding", "--cell", "gru", "--units", "3", "--epochs", "1",
                 "--option", "timesteps=4", "--option", "num_samples=30", "--seed", "2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "adding gru u3 L1 seed2" in printed and f"report: {out / 'report.html'}" in printed
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 1 and results["status"].iloc[0] == "ok"
    # GRU (reset_after) on 2 features + Dense head: 3*3*(3+2+2) + 3*1 + 1.
    assert results["params"].iloc[0] == 3 * 3 * (3 + 2 + 2) + 3 + 1
    (folder,) = (out / "runs").iterdir()
    config = json.loads((folder / "config.json").read_text())
    assert config["train"]["seed"] == 2 and config["task_options"] == {"timesteps": 4, "num_samples": 30}
    assert (out / "report.html").is_file() and (folder / "figures" / "learning_curve.png").is_file()
    # Where it trained, as the run itself recorded it (CPU here, "GPU: <name>" on a GPU).
    device = json.loads((folder / "metrics.json").read_text())["environment"]["device"]
    assert device and f"trained on {device}\n" in printed


# Every ModelSpec / TrainConfig setting a grid accepts, given on the command line.





def one_run(argv):
    args = build_parser().parse_args(["train", *argv])
    (run,) = expand_grid(build_train_grid(args))
    return run


def test_named_flags_reach_the_model_and_the_training():
    run = one_run(["--task", "reverse", "--cell", "gru", "--context", "every_step", "--embedding-dim", "6",
                   "--recurrent-dropout", "0.25", "--activation", "relu", "--optimizer", "sgd",
                   "--global-clipnorm", "2", "--early-stopping-patience", "3", "--units", "5"])
    assert run.model.context == "every_step" and run.model.embedding_dim == 6
    assert run.model.recurrent_dropout == 0.25 and run.model.activation == "relu"
    assert run.model.units == 5 and run.model.variety == "seq2seq"
    assert run.train.optimizer == "sgd" and run.train.global_clipnorm == 2.0
    assert run.train.early_stopping_patience == 3


def test_generic_settings_are_read_like_yaml_scalars():
    run = one_run(["--task", "adding", "--cell", "lstm",
                   "--model", "unit_forget_bias=false", "--model", "recurrent_initializer=identity",
                   "--model", "num_layers=2", "--train", "learning_rate=1e-3", "--train", "shuffle=no",
                   "--train", "clipnorm=null", "--train", "clipvalue=0.5"])
    assert run.model.unit_forget_bias is False and run.model.recurrent_initializer == "identity"
    assert run.model.num_layers == 2
    assert run.train.learning_rate == 0.001 and run.train.shuffle is False
    assert run.train.clipnorm is None and run.train.clipvalue == 0.5


def test_every_grid_setting_has_a_generic_flag():
    # The grid accepts every ModelSpec field except cell, variety (own keys) and name; every
    # TrainConfig field except seed (the grid's `seeds`). Each must be settable here.
    defaults = {**dataclasses.asdict(ModelSpec(cell="lstm")), **dataclasses.asdict(TrainConfig())}
    changed = {"units": 3, "num_layers": 2, "bidirectional": True, "merge_mode": "sum", "dropout": 0.1,
               "recurrent_dropout": 0.1, "activation": "relu", "use_bias": False, "unroll": True,
               "go_backwards": True, "kernel_initializer": "he_normal", "recurrent_initializer": "identity",
               "unit_forget_bias": False, "embedding_dim": 4, "context": "both",
               "stateful": True, "optimizer": "rmsprop", "learning_rate": 0.5, "batch_size": 7, "epochs": 2,
               "clipnorm": None, "clipvalue": None, "global_clipnorm": 3.0, "early_stopping_patience": 4,
               "shuffle": False}
    model_fields = {f.name for f in dataclasses.fields(ModelSpec)} - {"cell", "variety", "name"}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed"}
    # reset_after applies to GRU only: tested below with --cell gru.
    assert set(changed) == (model_fields | train_fields) - {"reset_after"}
    argv = ["--task", "adding", "--cell", "lstm"]
    for key, value in changed.items():
        group = "--model" if key in model_fields else "--train"
        argv += [group, f"{key}={'null' if value is None else value}"]
    run = one_run(argv)
    for key, value in changed.items():
        got = getattr(run.model if key in model_fields else run.train, key)
        assert got == value != defaults[key] or value is None, key
    assert one_run(["--task", "adding", "--cell", "gru", "--model", "reset_after=false"]).model.reset_after is False


def test_parse_scalar():
    assert parse_scalar("8") == 8 and parse_scalar("0.5") == 0.5 and parse_scalar("1e-3") == 0.001
    assert parse_scalar("true") is True and parse_scalar("null") is None
    assert parse_scalar("every_step") == "every_step"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "colour=red"], r"^Unknown key `colour` for --model; accepted: units, num_layers, "),
        (["--train", "momentum=0.9"], r"^Unknown key `momentum` for --train; accepted: optimizer, "),
        (["--model", "units"], r"^Invalid value for `--model`: got 'units'; expected KEY=VALUE"),
        (["--model", "cell=gru"], r"^`--model cell=...` is not accepted; use the flag --cell\.$"),
        (["--model", "variety=seq2seq"], r"use the flag --variety\.$"),
        (["--train", "seed=3"], r"use the flag --seed\.$"),
        (["--model", "units=[8, 16]"], r"^Invalid value for `--model units`: got \[8, 16\]; expected a single value"),
        (["--model", "units=0"], r"^Invalid value for `units`: got 0; expected a positive integer\.$"),
        (["--train", "optimizer=adagrad"], r"^Invalid value for `optimizer`: got 'adagrad'"),
        (["--units", "4", "--model", "units=8"], r"^`units` is given twice: 4 by its flag and 8 by --model\.$"),
        (["--model", "units=4", "--model", "units=8"], r"^`--model units` is given twice, as 4 and 8\.$"),
    ],
)
def test_bad_settings_are_one_line_errors(argv, message):
    with pytest.raises(ConfigError, match=message):
        one_run(["--task", "adding", *argv])


def test_bad_setting_exits_2_with_one_line(capsys):
    assert main(["train", "--task", "adding", "--model", "colour=red"]) == 2
    captured = capsys.readouterr()
    accepted = [f.name for f in dataclasses.fields(ModelSpec) if f.name not in ("cell", "variety", "name")]
    assert captured.err.splitlines() == [
        f"rnnkit train: error: Unknown key `colour` for --model; accepted: {', '.join(accepted)}."
    ]
    assert "Traceback" not in captured.out
