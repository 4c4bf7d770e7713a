"""The run store's atomic writes, completeness rule and readers."""

import json

import numpy as np
import pandas as pd
import pytest

from rnnkit.errors import DataError
from rnnkit.harness import store


def test_write_json_is_strict_json_with_numpy_values_and_nan_as_null(tmp_path):
    path = store.write_json(tmp_path / "m.json", {
        "loss": np.float32(0.5), "count": np.int64(3), "flow": np.array([1.0, 2.0]), "bad": float("nan"),
    })
    text = path.read_text()
    assert json.loads(text) == {"loss": 0.5, "count": 3, "flow": [1.0, 2.0], "bad": None}
    assert "NaN" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_an_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "results.csv"
    store.write_csv(path, pd.DataFrame({"a": range(100)}))
    store.write_csv(path, pd.DataFrame({"a": [7]}))
    assert pd.read_csv(path)["a"].tolist() == [7]


def test_remove_temporary_files_deletes_only_leftovers(tmp_path):
    (tmp_path / "runs" / "00000000ab").mkdir(parents=True)
    (tmp_path / "runs" / "00000000ab" / ".history.csv.tmp-123").write_text("half")
    (tmp_path / "results.csv").write_text("a\n1\n")
    assert store.remove_temporary_files(tmp_path) == 1
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["results.csv"]


def test_a_run_is_finished_only_with_a_valid_status_and_all_its_files(tmp_path):
    folder = store.start_run(tmp_path, "00000000ab")
    (folder / "config.json").write_text("{}")
    assert not store.is_finished(tmp_path, "00000000ab")
    store.write_json(folder / "status.json", {"status": "ok", "files": ["config.json"]})
    assert store.is_finished(tmp_path, "00000000ab")
    store.write_json(folder / "status.json", {"status": "running", "files": []})
    assert not store.is_finished(tmp_path, "00000000ab")
    store.write_json(folder / "status.json", {"status": "ok", "files": ["config.json", "history.csv"]})
    assert not store.is_finished(tmp_path, "00000000ab")
    assert store.finished_run_ids(tmp_path) == []


def test_readers_name_the_folder_when_it_is_not_a_comparison(tmp_path):
    with pytest.raises(DataError, match=r"Invalid value for `run_dir`: got '.*'; expected a comparison folder containing results\.csv\."):
        store.load_results(tmp_path)
    with pytest.raises(DataError, match=r"Invalid value for `run_id`: got '00000000ff'; expected a finished run under"):
        store.load_run(tmp_path, "00000000ff")
    assert store.load_environment(tmp_path) == {} and store.load_grid_text(tmp_path) == ""


def test_leftover_temporary_folders_are_removed_with_their_content(tmp_path):
    drawing = tmp_path / "runs" / "00000000ab" / ".figures.tmp-42"
    drawing.mkdir(parents=True)
    (drawing / ".learning_curve.png.tmp-42").write_bytes(b"half")
    assert store.remove_temporary_files(tmp_path) == 1
    assert not drawing.exists() and (tmp_path / "runs" / "00000000ab").is_dir()
