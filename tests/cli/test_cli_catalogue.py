"""A catalogue of bad inputs, every subcommand, driven through `python -m rnnkit` subprocesses.

Each case checks what a user sees: the documented exit code (2 bad input, 73 a refused
write, 75 a locked store), exactly one line on stderr that names the problem, no
traceback anywhere, and a store (and working folder) left byte-for-byte unchanged.
Almost every case is refused before TensorFlow is imported (about a second each); the
few that need TensorFlow are marked slow.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnkit.harness.runner import compare
from rnnkit.training.result import RunResult

REPO = Path(__file__).resolve().parents[2]
GRID = {"tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 40}}],
        "cells": ["gru"], "model": {"units": 2}, "train": {"epochs": 1}, "seeds": [0]}
QUICK = ["--tasks", "adding", "--cells", "gru", "--units", "2", "--epochs", "1"]


def fake_trainer(spec, task, config, **kwargs):
    history = pd.DataFrame({"epoch": [1], "loss": [1.0], "val_loss": [1.1]})
    return RunResult(status="ok", history=history, metrics={"loss": 1.1, "mse": 1.1}, params={"total": 20})


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A working folder with a finished store S, an empty store E, a file F, a grid file G..."""
    root = tmp_path_factory.mktemp("catalogue")
    compare(GRID, root / "S", run_fn=fake_trainer, progress=False, figures=False)
    (root / "E" / "runs").mkdir(parents=True)
    (root / "E" / "results.csv").write_text("run_id,label,status\n")  # Only a header.
    (root / "F").write_text("a file\n")
    (root / "list.yaml").write_text("- adding\n")
    (root / "broken.yaml").write_text("tasks: [adding\n")
    (root / "unknown.yaml").write_text("tasks: [adding]\nepochs: 3\n")
    return root


# (name, argv, exit code, pattern the stderr line must contain). S: finished store.
CASES = [
    ("tasks-unknown", ["tasks", "nosuch"], 2, "Invalid value for `task`: got 'nosuch'; expected one of adding"),
    ("tasks-flag", ["tasks", "--bogus"], 2, "unrecognized arguments: --bogus"),
    ("params-units-0", ["params", "--units", "0", "--input-dim", "3"], 2,
     "Invalid value for `units`: got 0; expected a positive integer."),
    ("params-units-negative", ["params", "--units", "-3", "--input-dim", "3"], 2, "got -3; expected a positive"),
    ("params-input-dim-0", ["params", "--units", "4", "--input-dim", "0"], 2,
     "Invalid value for `--input-dim`: got 0; expected a positive integer."),
    ("params-cell", ["params", "--cell", "elman", "--units", "4", "--input-dim", "3"], 2,
     "Invalid value for `cell`: got 'elman'"),
    ("params-huge", ["params", "--cell", "lstm", "--units", "1000000", "--input-dim", "3"], 2,
     "needs about 58.2 TiB of memory (parameters 58.2 TiB), above the limit of"),
    ("params-timesteps-0", ["params", "--units", "4", "--input-dim", "3", "--timesteps", "0"], 2,
     "Invalid value for `--timesteps`: got 0"),
    ("params-variety", ["params", "--units", "4", "--input-dim", "3", "--variety", "nonsense"], 2,
     "Invalid value for `variety`: got 'nonsense'"),
    ("params-merge-mode", ["params", "--units", "4", "--input-dim", "3", "--bidirectional", "--merge-mode", "x"],
     2, "Invalid value for `merge_mode`: got 'x'"),
    ("params-units-text", ["params", "--units", "abc", "--input-dim", "3"], 2,
     "argument --units: invalid int value: 'abc'"),
    ("params-max-memory", ["params", "--units", "4", "--input-dim", "3", "--max-memory", "12Q"], 2,
     "Invalid value for `--max-memory`: got '12Q'; expected a size above 0"),
    ("params-missing", ["params", "--input-dim", "3"], 2, "the following arguments are required: --units"),
    ("compare-task", ["compare", "--tasks", "adition", "--out", "S"], 2,
     "Invalid value for `tasks`: got 'adition'; expected one of"),
    ("compare-option-yaml", ["compare", *QUICK, "--option", "timesteps=[1,", "--out", "S"], 2,
     "Invalid value for `--option timesteps`: got '[1,'; expected a YAML value"),
    ("compare-option-no-value", ["compare", *QUICK, "--option", "timesteps", "--out", "S"], 2,
     "Invalid value for `--option`: got 'timesteps'; expected KEY=VALUE"),
    ("compare-option-unknown", ["compare", *QUICK, "--option", "nosuch=3", "--out", "S"], 2,
     "Unknown option `nosuch` for task 'adding'"),
    ("compare-option-timesteps-huge", ["compare", *QUICK, "--option", "timesteps=100000000", "--option",
                                       "num_samples=3000", "--out", "S"], 2,
     "Task 'adding' with options {'timesteps': 100000000, 'num_samples': 3000} needs about 13.1 TiB of memory"),
    ("compare-option-samples-huge", ["compare", *QUICK, "--option", "num_samples=2000000000", "--out", "S"], 2,
     "needs about 2.6 TiB of memory (data arrays 2.6 TiB)"),
    ("compare-units-0", ["compare", "--tasks", "adding", "--units", "0", "--out", "S"], 2,
     "Invalid value for `units`: got 0; expected a positive integer."),
    ("compare-out-file", ["compare", *QUICK, "--out", "F"], 2,
     "Invalid value for `--out`: got 'F'; expected a folder (a file of that name exists"),
    ("compare-out-under-file", ["compare", *QUICK, "--out", "F/x"], 2, "is a file, not a folder)"),
    ("compare-max-memory", ["compare", *QUICK, "--max-memory=-1G", "--out", "S"], 2,
     "Invalid value for `--max-memory`: got '-1G'"),
    ("compare-max-memory-low", ["compare", *QUICK, "--max-memory", "1K", "--out", "S"], 2,
     "above the limit of 1.0 KiB (--max-memory; raise it"),
    ("compare-cells", ["compare", "--cells", "elman", "--out", "S"], 2, "argument --cells: invalid choice: 'elman'"),
    ("compare-grid-missing", ["compare", "missing.yaml", "--out", "S"], 2,
     "Invalid value for `grid`: got 'missing.yaml'; expected an existing YAML file."),
    ("compare-grid-broken", ["compare", "broken.yaml", "--out", "S"], 2, "Cannot read grid file 'broken.yaml':"),
    ("compare-grid-list", ["compare", "list.yaml", "--out", "S"], 2, "expected a YAML mapping"),
    ("compare-grid-unknown-key", ["compare", "unknown.yaml", "--out", "S"], 2, "Unknown grid key `epochs`"),
    ("compare-grid-and-quick", ["compare", "list.yaml", "--quick"], 2, "Invalid value for `--quick`: got True"),
    ("compare-seeds", ["compare", *QUICK, "--seeds", "-1", "--out", "S"], 2,
     "Invalid value for `seeds`: got -1; expected an integer >= 0."),
    ("compare-learning-rate", ["compare", *QUICK, "--learning-rate", "0", "--out", "S"], 2,
     "Invalid value for `learning_rate`: got 0.0"),
    ("compare-dropout", ["compare", *QUICK, "--dropout", "1.5", "--out", "S"], 2,
     "Invalid value for `dropout`: got 1.5; expected a number in [0, 1)."),
    ("compare-select", ["compare", *QUICK, "--select", "units", "--out", "S"], 2,
     "Invalid value for `select`: got 'units'; expected a setting the grid sweeps"),
    ("compare-match-params", ["compare", *QUICK, "--match-params", "0", "--out", "S"], 2,
     "Invalid value for `match_params`: got 0; expected a positive integer."),
    ("compare-variety", ["compare", *QUICK, "--varieties", "seq2seq", "--out", "S"], 2,
     "Invalid value for `varieties`: got 'seq2seq', which applies to none of the grid's tasks"),
    ("compare-epochs", ["compare", *QUICK[:-2], "--epochs", "0", "--out", "S"], 2,
     "Invalid value for `epochs`: got 0; expected a positive integer."),
    ("compare-batch-size", ["compare", *QUICK, "--batch-size", "0", "--out", "S"], 2,
     "Invalid value for `batch_size`: got 0"),
    ("compare-locked", ["compare", *QUICK, "--out", "S"], 75,
     "Store 'S' is in use by another rnnkit process: pid {pid} on host '{host}' since 2024-01-01T10:00:00"),
    ("train-task", ["train", "--task", "adition", "--out", "S"], 2, "Invalid value for `tasks`: got 'adition'"),
    ("train-stateful-shuffle", ["train", "--task", "adding", "--model", "stateful=true", "--out", "S"], 2,
     "`model.stateful: true` and `train.shuffle: true` (the default) exclude each other"),
    ("train-model-key", ["train", "--task", "adding", "--model", "nosuch=1", "--out", "S"], 2,
     "Unknown key `nosuch` for --model"),
    ("train-train-key", ["train", "--task", "adding", "--train", "units=3", "--out", "S"], 2,
     "Unknown key `units` for --train"),
    ("train-units", ["train", "--task", "adding", "--units", "0", "--out", "S"], 2,
     "Invalid value for `units`: got 0"),
    ("train-out-file", ["train", "--task", "adding", "--out", "F"], 2, "Invalid value for `--out`: got 'F'"),
    ("train-list", ["train", "--task", "adding", "--model", "units=[1, 2]", "--out", "S"], 2,
     "expected a single value (rnnkit train runs one configuration"),
    ("train-missing-task", ["train", "--out", "S"], 2, "the following arguments are required: --task"),
    # 1e-3 reads as a number (as in a grid file), so the task's own check answers.
    ("train-noise", ["train", "--task", "sine_forecast", "--option", "noise=-1e-3", "--out", "S"], 2,
     "Invalid value for `noise`: got -0.001; expected a number >= 0."),
    ("report-missing", ["report", "MISSING"], 2,
     "Invalid value for `run_dir`: got 'MISSING'; expected a folder written by `rnnkit compare`"),
    ("report-zip-missing-folder", ["report", "S", "--zip", "MISSING/x.zip"], 2,
     "Invalid value for `--zip`: got 'MISSING/x.zip'; expected a path in an existing folder"),
    ("report-zip-under-file", ["report", "S", "--zip", "F/x.zip"], 2, "is a file, not a folder)"),
    ("report-header-only", ["report", "E"], 2,
     "Invalid value for `run_dir`: got 'E'; expected a folder with at least one finished run"),
    ("report-file", ["report", "F"], 2, "Invalid value for `run_dir`: got 'F'"),
    ("report-locked", ["report", "S"], 75, "Store 'S' is in use by another rnnkit process: pid {pid}"),
]
# Cases refused only after TensorFlow is loaded (a task option checked when the task is built).
SLOW_CASES = [
    ("compare-num-samples-0", ["compare", *QUICK, "--option", "num_samples=0", "--out", "S"], 2,
     "Invalid value for `num_samples`: got 0; expected a positive integer."),
]


def run_cli(place: Path, argv):
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "rnnkit", *argv], cwd=place, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def check_case(place, name, argv, code, pattern):
    holder = None
    if name.endswith("-locked"):
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        record = {"pid": holder.pid, "host": socket.gethostname(), "started": "2024-01-01T10:00:00+00:00",
                  "command": "rnnkit compare"}
        (place / "S" / ".rnnkit.lock").write_text(json.dumps(record))
        pattern = pattern.format(pid=holder.pid, host=socket.gethostname())
    try:
        before = tree_hash(place)
        completed = run_cli(place, argv)
        after = tree_hash(place)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
            (place / "S" / ".rnnkit.lock").unlink()
    lines = completed.stderr.splitlines()
    assert completed.returncode == code, completed.stderr
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"rnnkit {argv[0]}: error: ") or "usage" not in lines[0]
    assert pattern in lines[0]
    assert "Traceback" not in completed.stdout + completed.stderr
    assert after == before  # The store, and the folder around it, unchanged.


def test_the_catalogue_has_at_least_40_cases_over_every_subcommand():
    from rnnkit.cli import SUBCOMMANDS

    assert len(CASES) + len(SLOW_CASES) >= 40
    assert {argv[0] for _, argv, _, _ in CASES} == set(SUBCOMMANDS)


# The default run takes every subcommand's cases but stays near a minute (about 1.5 s per
# case on 2 cores); the rest of each subcommand's cases run with `-m slow`.
DEFAULT = {"tasks-unknown", "tasks-flag", "report-missing", "report-zip-missing-folder", "report-header-only",
           "report-locked", "report-file", "train-stateful-shuffle", "train-list", "train-out-file",
           "train-model-key", "train-missing-task", *[case[0] for case in CASES if case[1][0] in ("params", "compare")]}
DEFAULT -= {"params-units-negative", "params-timesteps-0", "params-missing", "compare-option-no-value",
            "compare-cells", "compare-grid-list", "compare-grid-and-quick", "compare-learning-rate",
            "compare-dropout", "compare-batch-size", "compare-epochs"}


def _marked(case):
    return pytest.param(*case, id=case[0], marks=() if case[0] in DEFAULT else pytest.mark.slow)


@pytest.mark.parametrize(("name", "argv", "code", "pattern"), [_marked(case) for case in CASES])
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(place, name, argv, code, pattern):
    check_case(place, name, argv, code, pattern)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "argv", "code", "pattern"), SLOW_CASES, ids=[case[0] for case in SLOW_CASES])
def test_bad_input_found_after_tensorflow_loads(place, name, argv, code, pattern):
    check_case(place, name, argv, code, pattern)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_exit_73(place, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        completed = run_cli(place, ["compare", *QUICK, "--out", str(read_only / "x")])
    finally:
        read_only.chmod(0o755)
    assert completed.returncode == 73
    expected = (f"rnnkit compare: error: Cannot write {str(read_only)!r}: permission denied; choose a folder "
                "you can write to with --out, or change its permissions.")
    assert completed.stderr.splitlines() == [expected]
