"""Helpers shared by the lab tests, offered as fixtures (import mode is importlib, so test
files cannot import each other or this file by name).

A lab is a script, not a package: it is loaded from its file with importlib (or started
as a command, to check what it prints on stderr), run in `--quick` mode into a temporary folder, and its outputs are checked for the files it
promises (non-empty PNGs, CSVs that pandas reads) and a summary.json equal to the dict
that `main` returns, holding finite numbers only.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import pandas as pd
import pytest

LABS_DIR = pathlib.Path(__file__).resolve().parents[2] / "labs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load_lab(file_name: str):
    """Imports `labs/<file_name>` as a module and returns it."""
    spec = importlib.util.spec_from_file_location(
        file_name.removesuffix(".py"), LABS_DIR / file_name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_quick(file_name: str, out_dir: pathlib.Path) -> dict:
    """Runs a lab's `main` with `--quick --out out_dir`; checks summary.json; returns the dict."""
    summary = _load_lab(file_name).main(["--quick", "--out", str(out_dir)])
    assert isinstance(summary, dict) and summary, "main() must return the summary dict"
    with open(out_dir / "summary.json", encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored == pytest.approx(summary)
    for name, value in summary.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"{name} = {value!r}"
    return summary


def _run_quick_in_subprocess(file_name: str, out_dir: pathlib.Path) -> dict:
    """Runs a lab as a student does (`python labs/<file> --quick --out DIR`) in a fresh process,
    with the environment a student has (no RNNKIT_VERBOSE, no TF_CPP_MIN_LOG_LEVEL); checks that
    it exits 0 with nothing on stderr and prints its exercises; returns summary.json."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RNNKIT_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    environment["PYTHONPATH"] = str(LABS_DIR.parent)
    run = subprocess.run([sys.executable, str(LABS_DIR / file_name), "--quick", "--out", str(out_dir)],
                         capture_output=True, text=True, env=environment, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "\nExercises\n1. " in run.stdout
    with open(out_dir / "summary.json", encoding="utf-8") as handle:
        summary = json.load(handle)
    for name, value in summary.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"{name} = {value!r}"
    return summary


def _check_outputs(out_dir: pathlib.Path, figures, tables) -> dict:
    """Checks that each figure is a non-empty PNG; returns each table read with pandas.

    Tables are read with `keep_default_na=False`: an empty cell is text (an empty decoded
    answer, for instance), not a missing value.
    """
    for figure in figures:
        path = out_dir / figure
        assert path.read_bytes()[:8] == PNG_SIGNATURE, figure
        assert path.stat().st_size > 1000, figure
    return {table: pd.read_csv(out_dir / table, keep_default_na=False) for table in tables}


@pytest.fixture
def load_lab():
    """`load_lab(file_name)` imports a lab script and returns the module."""
    return _load_lab


@pytest.fixture
def run_quick():
    """`run_quick(file_name, out_dir)` runs a lab in --quick mode and returns its summary."""
    return _run_quick


@pytest.fixture
def run_quick_in_subprocess():
    """`run_quick_in_subprocess(file_name, out_dir)`: the lab as a command, stderr must stay empty."""
    return _run_quick_in_subprocess


@pytest.fixture
def check_outputs():
    """`check_outputs(out_dir, figures, tables)` checks PNGs and returns {table: DataFrame}."""
    return _check_outputs
