"""Shared test setup: quiet TensorFlow, headless matplotlib, and the reference datasets."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The reference copies of the public datasets: the folder RNNKIT_DATA_DIR names (read once,
# here, before any test changes the environment), else ../shared/datasets beside the checkout.
SHARED_DATASETS = Path(
    os.environ.get("RNNKIT_DATA_DIR") or REPO_ROOT.parent / "shared" / "datasets"
).resolve()


@pytest.fixture
def shared_datasets(monkeypatch):
    """Points RNNKIT_DATA_DIR at the reference datasets, or skips when there are none."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(
            f"no reference datasets at {SHARED_DATASETS} (set RNNKIT_DATA_DIR to their folder)"
        )
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(SHARED_DATASETS))
    return SHARED_DATASETS


@pytest.fixture
def no_data_dir(monkeypatch, tmp_path):
    """Hides RNNKIT_DATA_DIR and the Keras cache so loaders must find nothing locally."""
    monkeypatch.delenv("RNNKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path
