"""`rnnkit train`: train one configuration into its own folder (a one-run comparison).

Every `ModelSpec` and `TrainConfig` setting that a grid accepts can be given here: the
common ones as named flags (`--units`, `--context`, `--optimizer`, ...), any of them as
`--model KEY=VALUE` or `--train KEY=VALUE` (the value read like a YAML scalar: `8` is
an integer, `1e-3` a number, `true` a boolean, `null` None). The flags build the same
one-configuration grid that `rnnkit compare` would run, so both build the same model.
"""

from __future__ import annotations

import argparse
import dataclasses

import yaml

from rnnkit.checks import invalid
from rnnkit.cli.compare import add_grid_flags, apply_flags, check_common, print_table
from rnnkit.config import (
    ACTIVATIONS,
    CELLS,
    CONTEXT_MODES,
    OPTIMIZERS,
    VARIETIES,
    ModelSpec,
    TrainConfig,
)
from rnnkit.errors import ConfigError

EXAMPLES = """examples:
  rnnkit train --task adding --cell lstm --units 16 --epochs 5
  rnnkit train --task adding --cell gru --variety one_to_one --option timesteps=20
  rnnkit train --task reverse --cell gru --context every_step --embedding-dim 8
  rnnkit train --task adding --model recurrent_initializer=identity --train optimizer=sgd
"""

# Settings that have their own flag rather than a `--model` / `--train` key.
_OWN_FLAG = {"model.cell": "--cell", "model.variety": "--variety", "train.seed": "--seed"}
# Named flags beyond the ones `rnnkit compare` shares: (flag, group, key, argparse options).
_NAMED = (
    ("--recurrent-dropout", "model", "recurrent_dropout", {"type": float, "help": "recurrent dropout in [0, 1)"}),
    ("--activation", "model", "activation", {"choices": ACTIVATIONS, "help": "cell activation (default tanh)"}),
    ("--embedding-dim", "model", "embedding_dim", {"type": int, "help": "embedding width for token inputs (default one-hot)"}),
    ("--context", "model", "context", {"choices": CONTEXT_MODES,
                                       "help": "how a one_to_many / seq2seq decoder gets its context (default initial_state)"}),
    ("--optimizer", "train", "optimizer", {"choices": OPTIMIZERS, "help": "optimizer (default adam)"}),
    ("--clipvalue", "train", "clipvalue", {"type": float, "help": "clip each gradient element to [-v, v]"}),
    ("--global-clipnorm", "train", "global_clipnorm", {"type": float, "help": "clip all gradients together by norm"}),
    ("--early-stopping-patience", "train", "early_stopping_patience",
     {"type": int, "help": "stop after this many epochs without validation improvement"}),
)


def model_keys() -> tuple[str, ...]:
    """The ModelSpec fields a grid (and so `--model`) accepts."""
    return tuple(f.name for f in dataclasses.fields(ModelSpec) if f.name not in ("cell", "variety", "name"))


def train_keys() -> tuple[str, ...]:
    """The TrainConfig fields a grid (and so `--train`) accepts."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed")


def parse_scalar(text: str):
    """Reads a value like a YAML scalar; `1e-3` (a string in YAML 1.1) reads as a number."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_settings(flag: str, texts: list[str], accepted: tuple[str, ...]) -> dict:
    """Parses repeated `KEY=VALUE` texts of `flag` into a dict, checking every key.

    Args:
        flag: "--model" or "--train", for the messages.
        texts: The values given, e.g. ["context=every_step", "units=8"].
        accepted: The keys this flag accepts.

    Returns:
        {key: value}, values parsed with `parse_scalar`.
    """
    group = flag.removeprefix("--")
    settings = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise invalid(flag, text, f"KEY=VALUE, for example {accepted[0]}=...")
        if f"{group}.{key}" in _OWN_FLAG:
            raise ConfigError(f"`{flag} {key}=...` is not accepted; use the flag {_OWN_FLAG[f'{group}.{key}']}.")
        if key not in accepted:
            raise ConfigError(f"Unknown key `{key}` for {flag}; accepted: {', '.join(accepted)}.")
        value = parse_scalar(raw.strip())
        if isinstance(value, (list, tuple, dict)):
            raise invalid(f"{flag} {key}", value, "a single value (rnnkit train runs one configuration; "
                          "use rnnkit compare to sweep values)")
        if key in settings and settings[key] != value:
            raise ConfigError(f"`{flag} {key}` is given twice, as {settings[key]!r} and {value!r}.")
        settings[key] = value
    return settings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one configuration into its own folder",
        description="Trains one model on one task and stores it like a one-run comparison: "
        "config.json, history.csv, metrics.json, params.csv, figures and report.html. "
        "Every ModelSpec / TrainConfig setting a grid accepts can be set, by a named flag "
        "or with --model KEY=VALUE / --train KEY=VALUE.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", required=True, help="task name (see `rnnkit tasks`)")
    parser.add_argument("--cell", default="lstm", choices=CELLS, help="the recurrent cell (default lstm)")
    parser.add_argument("--variety", choices=VARIETIES,
                        help="the model's variety (default: the task's; one_to_one is the MLP baseline)")
    parser.add_argument("--bidirectional", action="store_true", help="bidirectional recurrent layers")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    add_grid_flags(parser, many=False)
    for flag, _group, key, options in _NAMED:
        parser.add_argument(flag, dest=key, **options)
    parser.add_argument("--model", action="append", default=[], metavar="KEY=VALUE", dest="model_settings",
                        help=f"any ModelSpec setting (repeatable): {', '.join(model_keys())}")
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE", dest="train_settings",
                        help=f"any TrainConfig setting (repeatable): {', '.join(train_keys())}")
    parser.set_defaults(run=run, check=check, planned_runs=planned_runs)


def check(args) -> None:
    """The checks that need no TensorFlow: the one-configuration grid, the folder, --max-memory."""
    from rnnkit.harness.grid import load_grid

    check_common(args, load_grid(build_train_grid(args)))


def planned_runs(args) -> list:
    """The one run the arguments describe (for `--backend auto`; Keras is not imported)."""
    from rnnkit.harness.grid import expand_grid

    return expand_grid(build_train_grid(args))


def build_train_grid(args) -> dict:
    """The one-configuration grid (YAML format) that the arguments describe."""
    named = apply_flags({"tasks": [args.task], "model": {}, "train": {}}, args)
    model, train = dict(named["model"]), dict(named["train"])
    if args.bidirectional:
        model["bidirectional"] = True
    for flag, group, key, _options in _NAMED:
        value = getattr(args, key)
        if value is not None:
            (model if group == "model" else train)[key] = value
    for flag, given, named_settings, accepted in (
        ("--model", args.model_settings, model, model_keys()),
        ("--train", args.train_settings, train, train_keys()),
    ):
        for key, value in parse_settings(flag, given, accepted).items():
            if key in named_settings and named_settings[key] != value:
                raise ConfigError(
                    f"`{key}` is given twice: {named_settings[key]!r} by its flag and {value!r} by {flag}."
                )
            named_settings[key] = value
    return {
        "tasks": named["tasks"],
        "cells": [args.cell],
        "varieties": [args.variety or "task"],
        "model": model,
        "train": train,
        "seeds": [args.seed],
    }


def run(args) -> int:
    from rnnkit.harness.grid import expand_grid
    from rnnkit.harness.runner import default_out_dir, run_single
    from rnnkit.report.report import build_report

    (run_config,) = expand_grid(build_train_grid(args))
    out_dir = args.out or default_out_dir("train")
    print(f"rnnkit train: {run_config.label} -> {out_dir} (Keras backend {args.backend})")
    results = run_single(run_config, out_dir, verbose=2 if args.verbose else 0, tensorboard=args.tensorboard,
                         max_memory=args.max_memory)
    print_table(results)
    from rnnkit.harness import store

    device = store.load_environment(out_dir).get("device")
    if device:
        print(f"trained on {device}")
    row = results.iloc[0]
    if row["status"] != "ok":
        # The exception's own line; the full traceback is in the run's status.json.
        print(f"run {row['status']}: {row['error']}")
    print(f"report: {build_report(out_dir)}")
    return 0 if row["status"] == "ok" else 1
