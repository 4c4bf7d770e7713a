"""Time series -> next-value forecasting tasks (window of past values -> the next value).

The series is split by time: the first 80 % of the targets train, the next 10 %
validate, the last 10 % test. A window's input may reach back before its part began (a
forecaster always knows the past), but no target is ever shared between parts, and the
standardisation statistics come from the training part of the series only. Predictions
map back to the original units with `task.scaler.inverse_transform(...)`.

Example:

>>> import numpy as np
>>> task = forecast_task(np.arange(100.0), timesteps=5, name="ramp")
>>> task.train.x.shape, task.train.y.shape
((75, 5, 1), (75, 1))
>>> round(float(task.scaler.inverse_transform(task.test.y)[-1, 0]), 3)
99.0
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rnnkit.checks import check_positive_int, invalid
from rnnkit.data.splits import check_seed, split_in_order, split_sizes
from rnnkit.data.tasks import InputSpec, OutputSpec, Task, register_task
from rnnkit.errors import DataError


class StandardScaler:
    """Standardises values with a mean and standard deviation fitted on training data.

    Args:
        mean: The training mean.
        std: The training standard deviation (a constant series uses 1.0).
    """

    def __init__(self, mean: float, std: float):
        self.mean = float(mean)
        self.std = float(std) if std > 0 else 1.0

    @classmethod
    def fit(cls, values) -> StandardScaler:
        """Returns a scaler fitted on `values` (pass the training part only)."""
        values = np.asarray(values, dtype=np.float64)
        return cls(values.mean(), values.std())

    def transform(self, values) -> np.ndarray:
        """Returns `(values - mean) / std` as float32."""
        return ((np.asarray(values, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, values) -> np.ndarray:
        """Returns standardised `values` (e.g. model predictions) in the original units."""
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def __repr__(self) -> str:
        return f"StandardScaler(mean={self.mean:.6g}, std={self.std:.6g})"


def check_series(values, name: str = "series") -> np.ndarray:
    """Returns `values` as a 1-D float64 array, or raises a `DataError` (empty, NaN, not 1-D)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"Invalid value for `{name}`: expected numbers; got values that are not numeric.") from None
    if array.ndim != 1:
        raise DataError(f"Invalid value for `{name}`: got an array of shape {array.shape}; expected one dimension.")
    if array.size == 0:
        raise DataError(f"Invalid value for `{name}`: got an empty series; expected at least one value.")
    missing = np.flatnonzero(~np.isfinite(array))
    if missing.size:
        raise DataError(
            f"Invalid value for `{name}`: got {missing.size} NaN or infinite value(s), the first at "
            f"position {int(missing[0])}; expected finite numbers (fill or drop them first)."
        )
    return array


def make_windows(values, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns every (window of `timesteps` values, next value) pair of a 1-D series.

    Args:
        values: A 1-D series.
        timesteps: Past values per sample.

    Returns:
        `x` float32 `(len(values) - timesteps, timesteps, 1)` and `y` float32
        `(len(values) - timesteps, 1)`.

    Example:

    >>> x, y = make_windows([1, 2, 3, 4], timesteps=2)
    >>> x[:, :, 0].tolist(), y[:, 0].tolist()
    ([[1.0, 2.0], [2.0, 3.0]], [3.0, 4.0])
    """
    values = np.asarray(values, dtype=np.float32)
    check_positive_int("timesteps", timesteps)
    if timesteps >= len(values):
        raise invalid("timesteps", timesteps, f"fewer than the {len(values)} values of the series", DataError)
    starts = np.arange(len(values) - timesteps)[:, None]
    x = values[starts + np.arange(timesteps)[None, :]]
    return x[..., None], values[timesteps:, None]


def forecast_task(values, timesteps: int, name: str, source: str = "user data", licence: str = "",
                  description: str = "", params: dict | None = None) -> Task:
    """Builds a many_to_one next-value forecasting task from a 1-D series.

    Args:
        values: The series, oldest first.
        timesteps: Past values per sample; needs at least `timesteps + 3` values so each part
            gets one target.
        name: The task name.
        source: Where the series comes from.
        licence: The data's licence.
        description: One paragraph for `rnnkit tasks`; a generic one if empty.
        params: Options to record on the task.

    Returns:
        A `Task` with standardised float32 windows `(n, timesteps, 1)`, targets `(n, 1)`,
        loss "mse", metrics ("mae",) and a `StandardScaler` fitted on the training part.
    """
    values = check_series(values)
    check_positive_int("timesteps", timesteps)
    if timesteps + 3 > len(values):
        raise invalid(
            "timesteps", timesteps,
            f"at most {len(values) - 3} for a series of {len(values)} values (3 targets must remain)",
            DataError,
        )
    num_train = split_sizes(len(values) - timesteps, "num_samples", DataError)[0]
    # Target i is values[timesteps + i]; the training targets end at this index of the series.
    train_end = timesteps + num_train
    scaler = StandardScaler.fit(values[:train_end])
    x, y = make_windows(scaler.transform(values), timesteps)
    splits = split_in_order(x, y)
    return Task(
        name=name,
        variety="many_to_one",
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        input_spec=InputSpec(timesteps=timesteps, num_features=1),
        output_spec=OutputSpec("regression", 1),
        loss="mse",
        metrics=("mae",),
        description=description or (
            f"Next-value forecasting: {timesteps} past values -> the next one; split by time, "
            "standardised with training statistics."
        ),
        source=source,
        licence=licence,
        scaler=scaler,
        params=dict(params or {}, timesteps=timesteps),
    )


def load_csv_series(path, column: str, encoding: str = "utf-8") -> np.ndarray:
    """Reads one numeric column of a CSV file (with a header row), oldest row first.

    Args:
        path: The CSV file.
        column: The header name of the column to read.
        encoding: The file's encoding. Default "utf-8".

    Returns:
        A 1-D float64 array.

    Raises:
        DataError: Missing or empty file, unknown column (the message lists the columns
            that exist), a value that is not a number, or a missing / NaN value.

    Example:

    ```python
    passengers = load_csv_series("airline-passengers.csv", "Passengers")  # (144,)
    ```
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"Invalid value for `path`: got {str(path)!r}; expected an existing CSV file.")
    try:
        with file.open(newline="", encoding=encoding) as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise DataError(f"Invalid value for `path`: got {str(path)!r}, which is not valid {encoding}; expected a {encoding} CSV file.") from None
    rows = [row for row in rows if row]
    if not rows:
        raise DataError(f"Invalid value for `path`: got {str(path)!r}, which is empty; expected a CSV file with a header row.")
    header = [name.strip() for name in rows[0]]
    if column not in header:
        raise DataError(f"Invalid value for `column`: got {column!r}; expected one of the columns of {file.name}: {', '.join(header)}.")
    index = header.index(column)
    if len(rows) < 2:
        raise DataError(f"Invalid value for `path`: got {str(path)!r}, which has a header but no data rows; expected at least one row.")
    values = []
    for line_number, row in enumerate(rows[1:], start=2):
        cell = row[index].strip() if index < len(row) else ""
        try:
            value = float(cell) if cell else math.nan
        except ValueError:
            raise DataError(f"Invalid value in column {column!r} of {file.name}, line {line_number}: got {cell!r}; expected a number.") from None
        values.append(value)
    return check_series(values, column)


CSV_FORECAST_TEXT = (
    "Next-value forecasting on a numeric column of your own CSV file (options `path`, `column`, "
    "`timesteps`): windows of past values -> the next one, split by time, standardised with "
    "training statistics."
)


@register_task("csv_forecast", "many_to_one", CSV_FORECAST_TEXT, source="a CSV file you give (path)")
def make_csv_forecast(path: str | None = None, column: str | None = None, timesteps: int = 12,
                      seed: int = 0) -> Task:
    """Builds next-value forecasting on column `column` of the CSV file at `path`.

    Args:
        path: The CSV file (header row, oldest row first).
        column: The column to forecast.
        timesteps: Past values per sample. Default 12.
        seed: Recorded for reproducibility (the split is by time, so nothing is random).
    """
    if path is None:
        raise DataError("Invalid value for `path`: got None; expected the path of a CSV file.")
    if column is None:
        raise DataError("Invalid value for `column`: got None; expected the name of a numeric column.")
    values = load_csv_series(path, column)
    return forecast_task(values, timesteps, "csv_forecast", source=f"file {path}, column {column}",
                         licence="as the file's owner states", description=CSV_FORECAST_TEXT,
                         params={"path": str(path), "column": column, "seed": seed})


def goog_prices() -> np.ndarray:
    """Returns the 1,047 daily adjusted closing prices of Google (2004-08-19 .. 2008-10-14)
    from matplotlib's sample data (`goog.npz`, field `adj_close`)."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("goog.npz") as data:
        return np.asarray(data["price_data"]["adj_close"], dtype=np.float64)


GOOG_TEXT = (
    "Real daily stock prices with no download: Google's adjusted closing price, 1,047 trading "
    "days from 2004-08-19 to 2008-10-14, from the sample data shipped with matplotlib "
    "(goog.npz). Window of past prices -> next price; split by time (the test part covers the "
    "2008 fall), standardised with training statistics. A naive 'tomorrow = today' forecast "
    "is the baseline to beat."
)


@register_task("goog_forecast", "many_to_one", GOOG_TEXT, source="matplotlib sample data goog.npz (Yahoo Finance)")
def make_goog_forecast(timesteps: int = 20, seed: int = 0) -> Task:
    """Builds next-day price forecasting on matplotlib's `goog.npz` sample data.

    Args:
        timesteps: Past trading days per sample. Default 20.
        seed: Recorded for reproducibility (the split is by time).
    """
    return forecast_task(goog_prices(), timesteps, "goog_forecast",
                         source="matplotlib sample data goog.npz (originally Yahoo Finance)",
                         licence="shipped with matplotlib (matplotlib licence); price figures are public facts",
                         description=GOOG_TEXT, params={"seed": check_seed(seed)})
