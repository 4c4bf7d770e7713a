"""Time series -> next-value forecasting tasks (window of past values -> the next value).

The series is split by time: the first 80 % of the targets train, the next 10 %
validate, the last 10 % test. A window's input may reach back before its part began (a
forecaster always knows the past), but no target is ever shared between parts, and the
standardisation statistics come from the training part of the series only. Predictions
map back to the original units with `task.scaler.inverse_transform(...)`.

Example:

>>> import numpy as np
>>> task = forecast_task(np.arange(100.0), window=5, name="ramp")
>>> task.train.x.shape, task.train.y.shape
((75, 5, 1), (75, 1))
>>> float(task.scaler.inverse_transform(task.test.y)[-1, 0])
99.0
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.checks import check_positive_int, invalid
from rnnkit.data.splits import split_sizes
from rnnkit.data.tasks import InputSpec, OutputSpec, Split, Task, register_task
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


def make_windows(values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns every (window of `window` values, next value) pair of a 1-D series.

    Args:
        values: A 1-D series.
        window: Past values per sample (the model's `timesteps`).

    Returns:
        `x` float32 `(len(values) - window, window, 1)` and `y` float32 `(len(values) - window, 1)`.

    Example:

    >>> x, y = make_windows([1, 2, 3, 4], window=2)
    >>> x[:, :, 0].tolist(), y[:, 0].tolist()
    ([[1.0, 2.0], [2.0, 3.0]], [3.0, 4.0])
    """
    values = np.asarray(values, dtype=np.float32)
    check_positive_int("window", window)
    if window >= len(values):
        raise invalid("window", window, f"fewer than the {len(values)} values of the series", DataError)
    starts = np.arange(len(values) - window)[:, None]
    x = values[starts + np.arange(window)[None, :]]
    return x[..., None], values[window:, None]


def forecast_task(values, window: int, name: str, source: str = "user data", licence: str = "",
                  description: str = "", params: dict | None = None) -> Task:
    """Builds a many_to_one next-value forecasting task from a 1-D series.

    Args:
        values: The series, oldest first.
        window: Past values per sample; needs at least `window + 3` values so each part
            gets one target.
        name: The task name.
        source: Where the series comes from.
        licence: The data's licence.
        description: One paragraph for `rnnkit tasks`; a generic one if empty.
        params: Options to record on the task.

    Returns:
        A `Task` with standardised float32 windows `(n, window, 1)`, targets `(n, 1)`,
        loss "mse", metrics ("mae",) and a `StandardScaler` fitted on the training part.
    """
    values = check_series(values)
    check_positive_int("window", window)
    if window + 3 > len(values):
        raise invalid(
            "window", window,
            f"at most {len(values) - 3} for a series of {len(values)} values (3 targets must remain)",
            DataError,
        )
    num_train, num_validation, _ = split_sizes(len(values) - window, "num_samples", DataError)
    # Target i is values[window + i]; the training targets end at this index of the series.
    train_end = window + num_train
    scaler = StandardScaler.fit(values[:train_end])
    x, y = make_windows(scaler.transform(values), window)
    bounds = (0, num_train, num_train + num_validation, len(y))
    splits = [Split(x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return Task(
        name=name,
        variety="many_to_one",
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        input_spec=InputSpec(timesteps=window, num_features=1),
        output_spec=OutputSpec("regression", 1),
        loss="mse",
        metrics=("mae",),
        description=description or (
            f"Next-value forecasting: {window} past values -> the next one; split by time, "
            "standardised with training statistics."
        ),
        source=source,
        licence=licence,
        scaler=scaler,
        params=dict(params or {}, window=window),
    )
