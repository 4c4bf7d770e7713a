"""Runs labs 1-4 in --quick mode in-process and checks their outputs and one lesson each.

Each lab is loaded from its file with importlib (labs are scripts, not a package), run
into a temporary folder, and checked for: the files it promises (non-empty PNGs, CSVs
that pandas reads), a summary.json equal to the returned dict with finite numbers, and
one property of the lesson that holds even at quick sizes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import pathlib

import pandas as pd
import pytest

LABS_DIR = pathlib.Path(__file__).resolve().parents[2] / "labs"


def load_lab(file_name: str):
    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"), LABS_DIR / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick(file_name: str, out_dir: pathlib.Path) -> dict:
    summary = load_lab(file_name).main(["--quick", "--out", str(out_dir)])
    with open(out_dir / "summary.json", encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored == pytest.approx(summary)
    for name, value in summary.items():
        assert isinstance(value, (int, float)) and math.isfinite(value), f"{name} = {value!r}"
    return summary


def check_outputs(out_dir: pathlib.Path, figures, tables) -> dict:
    for figure in figures:
        path = out_dir / figure
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        assert path.stat().st_size > 1000, figure
    return {table: pd.read_csv(out_dir / table) for table in tables}


def test_lab01_hidden_state(tmp_path):
    summary = run_quick("lab01_hidden_state.py", tmp_path)
    tables = check_outputs(
        tmp_path, ["param_counts.png", "state_vs_params.png"], ["params.csv", "length_invariance.csv"]
    )
    assert (tmp_path / "summaries.txt").read_text(encoding="utf-8").count("Total params") == 6
    # Quick sizes are units=4, input_dim=3 with a one-unit Dense head (4*1+1 = 5, or 8*1+1 = 9
    # behind a concatenating Bidirectional). Totals worked out by hand from the course formulas:
    # SimpleRNN 4*(4+3+1)+5; LSTM 4*4*(4+3+1)+5; GRU 3*4*(4+3+2)+5 and 3*4*(4+3+1)+5;
    # Bidirectional LSTM 2*128+9; stacked GRU 108 + 3*4*(4+4+2) + 5.
    assert summary["params_simplernn"] == 37
    assert summary["params_lstm"] == 133
    assert summary["params_gru_reset_after_true"] == 113
    assert summary["params_gru_reset_after_false"] == 101
    assert summary["params_bidirectional_lstm"] == 265
    assert summary["params_stacked_gru_2_layers"] == 233
    params = tables["params.csv"]
    assert (params["course_formula"] == params["keras_count_params"]).all()
    assert summary["concat_identity_max_abs_diff"] < 1e-5
    assert summary["hand_vs_keras_hidden_states_max_abs_diff"] < 1e-5
    lengths = tables["length_invariance.csv"]
    assert lengths.groupby("cell")["count_params"].nunique().eq(1).all()
    assert summary["next_char_output_dim"] == summary["next_char_vocab_size"]
