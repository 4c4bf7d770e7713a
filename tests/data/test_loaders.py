"""Real datasets: published figures, the RNNKIT_DATA_DIR route, and the offline error."""

import keras
import numpy as np
import pytest

from rnnkit.data import loaders
from rnnkit.data.tasks import get_task
from rnnkit.errors import DataError


def test_airline_passengers_published_figures(shared_datasets):
    passengers = loaders.load_airline_passengers()
    assert passengers.shape == (144,)
    assert passengers[0] == 112 and passengers[-1] == 432  # Box & Jenkins, Jan 1949 and Dec 1960


def test_sunspots_length(shared_datasets):
    assert loaders.load_sunspots().shape == (2820,)  # 1749-01 .. 1983-12 is 235 years of months


def test_time_machine_and_shakespeare_sizes(shared_datasets):
    # Both files are ASCII, so characters == bytes (sizes from SOURCES.md).
    assert len(loaders.load_time_machine()) == 178979
    assert loaders.load_time_machine().startswith("The Time Machine, by H. G. Wells")
    assert len(loaders.load_tiny_shakespeare()) == 1115394


def test_sentence_polarity_has_5331_of_each(shared_datasets):
    sentences, labels = loaders.load_sentence_polarity()
    assert len(sentences) == 10662 and int(labels.sum()) == 5331


def test_explicit_path_wins(tmp_path, no_data_dir):
    path = tmp_path / "airline.csv"
    path.write_text("Month,Passengers\n1949-01,1\n1949-02,2\n", encoding="utf-8")
    np.testing.assert_array_equal(loaders.load_airline_passengers(path), [1, 2])
    with pytest.raises(DataError, match=r"`path`: got '.*nothere.csv'; expected an existing airline-passengers.csv"):
        loaders.load_airline_passengers(tmp_path / "nothere.csv")


def test_offline_error_says_how_to_provide_the_file(no_data_dir, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(DataError, match=r"Dataset 'timemachine' .* could not be downloaded .*pass `path=` or .*RNNKIT_DATA_DIR"):
        loaders.load_time_machine()
    with pytest.raises(DataError, match=r"Dataset 'polarity'"):
        loaders.load_sentence_polarity()


def test_real_tasks_build(shared_datasets):
    airline = get_task("airline_forecast", timesteps=12)
    assert airline.train.x.shape[1:] == (12, 1) and airline.scaler is not None
    lm = get_task("timemachine_lm", timesteps=16, max_chars=20000)
    assert lm.train.x.shape[1] == 16 and lm.variety == "many_to_many"
    polarity = get_task("polarity", timesteps=10)
    assert polarity.train.x.shape[1] == 10 and polarity.output_spec.dim == 2
    assert set(np.unique(polarity.train.y)) == {0, 1}


def test_polarity_folder_must_hold_both_files(tmp_path, no_data_dir):
    (tmp_path / "rt-polarity.pos").write_text("good\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"`path`: got '.*'; expected a folder holding rt-polarity.neg and rt-polarity.pos"):
        loaders.load_sentence_polarity(tmp_path)


def test_polarity_archive_without_the_files_is_reported(tmp_path, no_data_dir, monkeypatch):
    # A download that "succeeds" but unpacks to a folder without the data files.
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: str(tmp_path))
    with pytest.raises(DataError, match=r"Dataset 'polarity': no rt-polarity.pos inside .*; pass `path=`"):
        loaders.load_sentence_polarity()
