"""Loaders for the real downloadable datasets, and the tasks built on them.

Where each file is looked for, in order:

1. the `path` argument (a file; for sentence polarity, the folder holding
   `rt-polarity.pos` and `rt-polarity.neg`);
2. `$RNNKIT_DATA_DIR/<file name>` (names as in `DATASETS`, polarity as
   `rt-polaritydata/rt-polarity.pos|neg`);
3. the Keras cache, downloading with `keras.utils.get_file` from the published URL and
   checking its hash (the polarity tarball has no published hash: not checked);
4. otherwise a one-line `DataError` that says how to provide the file.

Example:

```python
passengers = load_airline_passengers()
passengers.shape, passengers[0], passengers[-1]  # ((144,), 112.0, 432.0)
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.series import forecast_task, load_csv_series
from rnnkit.data.splits import check_seed
from rnnkit.data.tasks import Task, register_task
from rnnkit.data.text import PARTITIONS, lm_task, load_text_file  # noqa: F401
from rnnkit.data.textclass import classification_task
from rnnkit.errors import DataError

DATA_DIR_ENV = "RNNKIT_DATA_DIR"


@dataclass(frozen=True)
class Dataset:
    """Where a real dataset comes from."""

    file_name: str  # Name under RNNKIT_DATA_DIR and in the Keras cache.
    url: str
    file_hash: str | None  # sha256; None when no published hash exists.
    licence: str
    citation: str


DATASETS = {
    "timemachine": Dataset(
        "timemachine.txt", "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
        "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516", "public domain",
        "H. G. Wells, The Time Machine (1895), the copy used by Dive into Deep Learning"),
    "tinyshakespeare": Dataset(
        "tinyshakespeare.txt",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", "public domain text",
        "Tiny Shakespeare, from A. Karpathy's char-rnn"),
    "airline": Dataset(
        "airline-passengers.csv",
        "https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
        "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621", "public-domain figures",
        "Box & Jenkins, monthly international airline passengers 1949-1960"),
    "sunspots": Dataset(
        "monthly-sunspots.csv",
        "https://raw.githubusercontent.com/jbrownlee/Datasets/master/monthly-sunspots.csv",
        "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3", "public-domain figures",
        "Zurich monthly mean sunspot numbers 1749-1983"),
    "polarity": Dataset(
        "rt-polaritydata",
        "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
        None, "CC BY 4.0, attribute Bo Pang and Lillian Lee",
        "Pang & Lee (2005), sentence polarity dataset v1.0"),
}
POLARITY_FILES = ("rt-polarity.neg", "rt-polarity.pos")  # Class 0 negative, class 1 positive.

# Which dataset each registered real-data task needs (the CLI lists absent ones with a note).
TASK_DATASETS = {
    "timemachine_lm": "timemachine",
    "shakespeare_lm": "tinyshakespeare",
    "airline_forecast": "airline",
    "sunspots_forecast": "sunspots",
    "polarity": "polarity",
}


def _keras_cache_dir() -> Path:
    """The Keras cache folder where downloads go and where `local_copy` looks for them.

    Keras has no public accessor for its cache folder (`keras_home` is private) and
    importing Keras loads TensorFlow, so the folder is named here, the way Keras names
    it, and handed to `keras.utils.get_file` as its `cache_dir`: the lookup and the
    download cannot disagree.
    """
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def local_copy(name: str) -> Path | None:
    """Returns where dataset `name` already lies (RNNKIT_DATA_DIR or Keras cache), else None.

    Never downloads. For polarity the result is the folder holding the two files.
    """
    dataset = DATASETS[name]
    places = []
    if os.environ.get(DATA_DIR_ENV):
        places.append(Path(os.environ[DATA_DIR_ENV]) / dataset.file_name)
    cache = _keras_cache_dir()
    if name == "polarity":
        places += [cache / "rt-polaritydata_extracted" / "rt-polaritydata", cache / "rt-polaritydata"]
        return next((place for place in places if (place / POLARITY_FILES[1]).is_file()), None)
    places.append(cache / dataset.file_name)
    return next((place for place in places if place.is_file()), None)


def find_dataset(name: str, path=None) -> Path:
    """Returns a local path to dataset `name`: `path`, RNNKIT_DATA_DIR, the cache, or a download.

    Args:
        name: A key of `DATASETS`.
        path: An explicit file (or, for polarity, folder); must exist when given.

    Raises:
        DataError: `path` does not exist, or the file is not local and cannot be downloaded.
    """
    dataset = DATASETS[name]
    if path is not None:
        if not Path(path).exists():
            raise DataError(f"Invalid value for `path`: got {str(path)!r}; expected an existing {dataset.file_name}.")
        return Path(path)
    found = local_copy(name)
    if found is not None:
        return found
    import keras

    try:
        downloaded = keras.utils.get_file(
            fname=f"{dataset.file_name}.tar.gz" if name == "polarity" else dataset.file_name,
            origin=dataset.url, file_hash=dataset.file_hash, hash_algorithm="sha256",
            extract=name == "polarity", cache_dir=str(_keras_cache_dir().parent),
        )
    # Offline, an HTTP error or a hash mismatch: each needs the same fix, so all are caught.
    except Exception as error:  # noqa: BLE001
        raise DataError(
            f"Dataset {name!r} ({dataset.file_name}) is not available locally and could not be "
            f"downloaded from {dataset.url} ({type(error).__name__}); pass `path=` or put the file "
            f"in the folder named by {DATA_DIR_ENV}."
        ) from None
    if name == "polarity":
        matches = sorted(Path(downloaded).rglob(POLARITY_FILES[1]))
        if not matches:
            raise DataError(f"Dataset 'polarity': no {POLARITY_FILES[1]} inside {downloaded}; pass `path=` to the rt-polaritydata folder.")
        return matches[0].parent
    return Path(downloaded)


def load_time_machine(path=None) -> str:
    """Returns the text of H. G. Wells' The Time Machine (d2l copy, 178,979 characters)."""
    return load_text_file(find_dataset("timemachine", path))


def load_tiny_shakespeare(path=None) -> str:
    """Returns the Tiny Shakespeare text (1,115,394 characters)."""
    return load_text_file(find_dataset("tinyshakespeare", path))


def load_airline_passengers(path=None) -> np.ndarray:
    """Returns the 144 monthly airline passenger totals (thousands), 1949-01 .. 1960-12."""
    return load_csv_series(find_dataset("airline", path), "Passengers")


def load_sunspots(path=None) -> np.ndarray:
    """Returns the 2,820 monthly mean sunspot numbers, 1749-01 .. 1983-12."""
    return load_csv_series(find_dataset("sunspots", path), "Sunspots")


def load_sentence_polarity(path=None) -> tuple[list[str], np.ndarray]:
    """Returns (sentences, labels): 5,331 negative (label 0) then 5,331 positive (label 1).

    The original files are Latin-1; UTF-8 copies are read as UTF-8 (UTF-8 is tried first,
    then Latin-1, which decodes any bytes).

    Args:
        path: The folder holding rt-polarity.pos and rt-polarity.neg.
    """
    folder = find_dataset("polarity", path)
    sentences, labels = [], []
    for label, file_name in enumerate(POLARITY_FILES):
        file = folder / file_name
        if not file.is_file():
            raise DataError(f"Invalid value for `path`: got {str(folder)!r}; expected a folder holding {' and '.join(POLARITY_FILES)}.")
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        sentences += lines
        labels += [label] * len(lines)
    return sentences, np.asarray(labels, dtype=np.int32)


def _lm_text(name: str, what: str) -> str:
    return (
        f"Character language model on {what} ({DATASETS[name].citation}); split by position "
        "80/10/10, vocabulary from the training part, `partition` 'random' or 'sequential'. "
        f"Needs {DATASETS[name].file_name} (RNNKIT_DATA_DIR, `path`, or a download)."
    )


def _real_lm(name, task_name, text, timesteps, level, lowercase, min_freq, partition, batch_size,
             max_chars, seed, path) -> Task:
    if max_chars is not None:
        from rnnkit.checks import check_positive_int

        text = text[: check_positive_int("max_chars", max_chars)]
    dataset = DATASETS[name]
    return lm_task(text, task_name, timesteps, level, lowercase, min_freq, partition, batch_size,
                   seed, dataset.citation, dataset.licence, _lm_text(name, dataset.citation),
                   {"max_chars": max_chars, "path": path})


@register_task("timemachine_lm", "many_to_many", _lm_text("timemachine", "The Time Machine"),
               source=DATASETS["timemachine"].url)
def make_timemachine_lm(timesteps: int = 32, level: str = "char", lowercase: bool = True,
                        min_freq: int = 1, partition: str = "random", batch_size: int = 32,
                        max_chars: int | None = None, seed: int = 0, path: str | None = None) -> Task:
    """Builds the character language model on The Time Machine (options as `lm_task`)."""
    return _real_lm("timemachine", "timemachine_lm", load_time_machine(path), timesteps, level,
                    lowercase, min_freq, partition, batch_size, max_chars, seed, path)


@register_task("shakespeare_lm", "many_to_many", _lm_text("tinyshakespeare", "Tiny Shakespeare"),
               source=DATASETS["tinyshakespeare"].url)
def make_shakespeare_lm(timesteps: int = 32, level: str = "char", lowercase: bool = False,
                        min_freq: int = 1, partition: str = "random", batch_size: int = 32,
                        max_chars: int | None = 200_000, seed: int = 0, path: str | None = None) -> Task:
    """Builds the character language model on Tiny Shakespeare (first 200 k characters by default)."""
    return _real_lm("tinyshakespeare", "shakespeare_lm", load_tiny_shakespeare(path), timesteps,
                    level, lowercase, min_freq, partition, batch_size, max_chars, seed, path)


def _forecast_text(name: str, what: str) -> str:
    return (
        f"Next-value forecasting of {what} ({DATASETS[name].citation}): a window of past months "
        "-> the next month; split by time, standardised with training statistics "
        "(`task.scaler.inverse_transform` gives original units). "
        f"Needs {DATASETS[name].file_name} (RNNKIT_DATA_DIR, `path`, or a download)."
    )


@register_task("airline_forecast", "many_to_one", _forecast_text("airline", "airline passengers"),
               source=DATASETS["airline"].url)
def make_airline_forecast(timesteps: int = 12, seed: int = 0, path: str | None = None) -> Task:
    """Builds airline passengers forecasting (144 months; 12 timesteps = one year)."""
    dataset = DATASETS["airline"]
    return forecast_task(load_airline_passengers(path), timesteps, "airline_forecast",
                         dataset.citation, dataset.licence,
                         _forecast_text("airline", "airline passengers"),
                         # Monthly totals with a yearly pattern: the seasonal naive baseline looks 12 back.
                         {"seed": check_seed(seed), "path": path, "season": 12})


@register_task("sunspots_forecast", "many_to_one", _forecast_text("sunspots", "sunspot numbers"),
               source=DATASETS["sunspots"].url)
def make_sunspots_forecast(timesteps: int = 24, seed: int = 0, path: str | None = None) -> Task:
    """Builds monthly sunspots forecasting (2,820 months; 24 timesteps = two years)."""
    dataset = DATASETS["sunspots"]
    return forecast_task(load_sunspots(path), timesteps, "sunspots_forecast", dataset.citation,
                         dataset.licence, _forecast_text("sunspots", "sunspot numbers"),
                         {"seed": check_seed(seed), "path": path})


POLARITY_TEXT = (
    "Sentence polarity (Pang & Lee 2005): 10,662 one-sentence movie-review snippets, half "
    "positive, half negative; lowercased word tokens padded / truncated to `timesteps`; "
    "classes 0 = negative, 1 = positive. Shuffled with the seed, then 80/10/10. "
    "Needs rt-polaritydata/ (RNNKIT_DATA_DIR, `path`, or a download)."
)


@register_task("polarity", "many_to_one", POLARITY_TEXT, source=DATASETS["polarity"].url)
def make_polarity(timesteps: int = 40, min_freq: int = 2, seed: int = 0, path: str | None = None) -> Task:
    """Builds sentence polarity classification (see `classification_task` for the options)."""
    sentences, labels = load_sentence_polarity(path)
    dataset = DATASETS["polarity"]
    return classification_task(sentences, labels, ("negative", "positive"), "polarity", timesteps,
                               min_freq, seed, dataset.citation, dataset.licence, POLARITY_TEXT,
                               {"path": path})
