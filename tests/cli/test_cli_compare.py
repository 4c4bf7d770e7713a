"""`rnnkit compare | train | report`: help, one-line errors with exit code 2, a killed compare resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rnnkit.cli import main
from rnnkit.cli.compare import build_grid, parse_option
from rnnkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["compare", "train", "report"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: rnnkit {command}" in capsys.readouterr().out


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    return error


def test_compare_errors_are_one_line_with_exit_code_2(capsys, tmp_path):
    error = one_line_error(capsys, ["compare", "--quick", "--tasks", "adition", "--out", str(tmp_path / "o")])
    assert error.startswith("rnnkit compare: error: Invalid value for `tasks`: got 'adition'; expected one of")
    error = one_line_error(capsys, ["compare", str(tmp_path / "missing.yaml")])
    assert "Invalid value for `grid`: got '" in error and "expected an existing YAML file." in error
    (tmp_path / "grid.yaml").write_text("tasks: [adding]\n")
    error = one_line_error(capsys, ["compare", str(tmp_path / "grid.yaml"), "--quick"])
    assert "Invalid value for `--quick`: got True; expected no grid file" in error
    error = one_line_error(capsys, ["compare", "--quick", "--option", "timesteps"])
    assert "Invalid value for `--option`: got 'timesteps'; expected KEY=VALUE" in error
    error = one_line_error(capsys, ["compare", "--quick", "--units", "0"])
    assert "Invalid value for `units`: got 0; expected a positive integer." in error
    (tmp_path / "list.yaml").write_text("- adding\n")
    error = one_line_error(capsys, ["compare", str(tmp_path / "list.yaml")])
    assert "Invalid value for `grid`: got '" in error and "expected a YAML mapping" in error
    assert not (tmp_path / "o").exists()


def test_argparse_refuses_unknown_cells_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--cells", "elman"])
    assert exit_info.value.code == 2
    assert "argument --cells: invalid choice: 'elman'" in capsys.readouterr().err


def test_train_and_report_errors(capsys, tmp_path):
    error = one_line_error(capsys, ["train", "--task", "parity", "--variety", "seq2seq"])
    assert "Invalid value for `varieties`: got 'seq2seq', which applies to none of the grid's tasks" in error
    error = one_line_error(capsys, ["report", str(tmp_path)])
    assert error.startswith("rnnkit report: error: Invalid value for `run_dir`: got '")


def test_flags_override_the_grid_file(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "tasks: [{name: adding, options: {timesteps: 7}}, copy]\ncells: [lstm]\n"
        "model: {units: 4}\ntrain: {epochs: 5, learning_rate: 1e-2}\n"
    )
    from rnnkit.cli import build_parser

    args = build_parser().parse_args([
        "compare", str(tmp_path / "grid.yaml"), "--tasks", "adding", "parity", "--units", "2", "3",
        "--epochs", "1", "--seeds", "4", "--option", "num_samples=30",
    ])
    assert build_grid(args) == {
        "tasks": [{"name": "adding", "options": {"timesteps": 7, "num_samples": 30}},
                  {"name": "parity", "options": {"num_samples": 30}}],
        "cells": ["lstm"],
        "model": {"units": [2, 3]},
        "train": {"epochs": 1, "learning_rate": 0.01},
        "seeds": [4],
    }
    assert parse_option("delay=3") == ("delay", 3)
    with pytest.raises(ConfigError, match=r"Invalid value for `--option`: got '=3'; expected KEY=VALUE"):
        parse_option("=3")


def test_a_killed_compare_resumes_without_redoing_finished_runs(tmp_path):
    """Starts `python -m rnnkit compare` in a subprocess, kills it after its first run, restarts."""
    (tmp_path / "grid.yaml").write_text(
        "tasks: [{name: adding, options: {timesteps: 4, num_samples: 30}}]\n"
        "cells: [simple_rnn, gru]\nmodel: {units: 2}\ntrain: {epochs: 1}\nseeds: [0, 1]\n"
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rnnkit", "compare", str(tmp_path / "grid.yaml"), "--out", str(out),
               "--no-progress", "--no-report"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("runs/*/status.json")):
        assert process.poll() is None, "compare ended before its first run was stored"
        assert time.monotonic() < deadline, "no run finished within 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.parent.name for p in out.glob("runs/*/status.json")}
    assert 1 <= len(finished) < 4
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for r in finished for p in (out / "runs" / r).rglob("*")
              if p.is_file()}

    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before}
    assert after == before  # finished runs were not redone
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4 and (results["status"] == "ok").all()
    assert set(results["seed"]) == {0, 1} and set(results["cell"]) == {"simple_rnn", "gru"}
    assert not list(out.rglob(".*.tmp-*"))
    assert "results.csv" in completed.stdout


def test_budget_and_selection_errors_are_one_line_and_write_nothing(capsys, tmp_path):
    out = tmp_path / "o"
    base = ["compare", "--tasks", "adding", "--option", "timesteps=5", "--option", "num_samples=40",
            "--cells", "lstm", "--out", str(out)]
    error = one_line_error(capsys, [*base, "--match-params", "0"])
    assert "Invalid value for `match_params`: got 0; expected a positive integer." in error
    error = one_line_error(capsys, [*base, "--match-params", "10"])
    assert "Invalid value for `match_params`: got 10; the closest size of lstm on adding is units=1" in error
    error = one_line_error(capsys, [*base, "--select", "learning_rate"])
    assert "Invalid value for `select`: got 'learning_rate'; expected a setting the grid sweeps" in error
    assert not out.exists()
