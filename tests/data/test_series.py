"""Series: windows, time split, training-only statistics, CSV input and its errors."""

import numpy as np
import pytest

from rnnkit.data.series import check_series, forecast_task, load_csv_series, make_windows
from rnnkit.data.tasks import get_task
from rnnkit.errors import DataError


def test_split_by_time_and_train_only_statistics():
    values = np.arange(1.0, 41.0)  # 1 .. 40
    task = forecast_task(values, timesteps=4, name="ramp")
    # 36 targets -> 28 / 4 / 4 (80/10/10); training targets are values 5 .. 32.
    assert (task.train.num_samples, task.validation.num_samples, task.test.num_samples) == (28, 4, 4)
    assert task.scaler.mean == pytest.approx(np.mean(np.arange(1.0, 33.0)))
    assert task.scaler.std == pytest.approx(np.std(np.arange(1.0, 33.0)))
    np.testing.assert_allclose(task.scaler.inverse_transform(task.validation.y)[:, 0], [33, 34, 35, 36], rtol=1e-5)
    np.testing.assert_allclose(task.scaler.inverse_transform(task.test.y)[:, 0], [37, 38, 39, 40], rtol=1e-5)
    # Every training window and target lies before the first validation target.
    assert task.scaler.inverse_transform(task.train.x).max() < 33 - 1e-3


def test_window_errors():
    with pytest.raises(DataError, match=r"`timesteps`: got 10; expected fewer than the 5 values"):
        make_windows([1, 2, 3, 4, 5], timesteps=10)
    with pytest.raises(DataError, match=r"`timesteps`: got 8; expected at most 7 for a series of 10 values"):
        forecast_task(np.arange(10.0), timesteps=8, name="short")


def test_nan_in_series_is_refused():
    with pytest.raises(DataError, match=r"`series`: got 1 NaN or infinite value\(s\), the first at position 2"):
        forecast_task([1.0, 2.0, np.nan, 4.0, 5.0, 6.0], timesteps=2, name="gappy")


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_column_is_read_in_row_order(tmp_path):
    path = _csv(tmp_path, '"Month","Sales"\n"2020-01",3\n"2020-02",5.5\n"2020-03",-1\n')
    np.testing.assert_array_equal(load_csv_series(path, "Sales"), [3.0, 5.5, -1.0])


def test_csv_errors(tmp_path):
    path = _csv(tmp_path, "Month,Sales\n2020-01,3\n2020-02,\n2020-03,4\n")
    with pytest.raises(DataError, match=r"`column`: got 'sales'; expected one of the columns of data.csv: Month, Sales"):
        load_csv_series(path, "sales")
    with pytest.raises(DataError, match=r"`Sales`: got 1 NaN or infinite value\(s\), the first at position 1"):
        load_csv_series(path, "Sales")
    with pytest.raises(DataError, match=r"column 'Month' of data.csv, line 2: got '2020-01'; expected a number"):
        load_csv_series(path, "Month")
    with pytest.raises(DataError, match=r"`path`: got '.*missing.csv'; expected an existing CSV file"):
        load_csv_series(tmp_path / "missing.csv", "Sales")
    with pytest.raises(DataError, match=r"`path`: got '.*empty.csv', which is empty"):
        load_csv_series(_csv(tmp_path, "", "empty.csv"), "Sales")


def test_csv_forecast_task(tmp_path):
    rows = "\n".join(f"{day},{day * 2}" for day in range(35))
    path = _csv(tmp_path, f"day,value\n{rows}\n")
    task = get_task("csv_forecast", path=str(path), column="value", timesteps=5)
    # 35 values, window 5 -> 30 targets -> 24 / 3 / 3; the test targets are days 32-34 doubled.
    assert task.train.x.shape == (24, 5, 1)
    np.testing.assert_allclose(task.scaler.inverse_transform(task.test.y)[:, 0], [64, 66, 68], rtol=1e-5)


def test_goog_forecast_ships_with_matplotlib():
    task = get_task("goog_forecast", timesteps=10)
    prices = task.scaler.inverse_transform(task.train.x[0, :, 0])
    # Google's first trading days (2004-08-19 onwards) closed at about 100 dollars.
    assert prices[0] == pytest.approx(100.34, abs=0.01)
    assert task.train.num_samples + task.validation.num_samples + task.test.num_samples == 1047 - 10


def test_csv_file_errors_name_the_path(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Month,Sales\nm\u00e4rz,3\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"`path`: got '.*latin.csv', which is not valid utf-8; expected a utf-8 CSV file"):
        load_csv_series(latin, "Sales")
    with pytest.raises(DataError, match=r"`path`: got '.*header.csv', which has a header but no data rows"):
        load_csv_series(_csv(tmp_path, "Month,Sales\n", "header.csv"), "Sales")
    with pytest.raises(DataError, match=r"`column`: got None; expected the name of a numeric column"):
        get_task("csv_forecast", path=str(_csv(tmp_path, "Sales\n1\n")))


@pytest.mark.parametrize(
    "values, pattern",
    [
        (["a", "b"], r"`series`: expected numbers; got values that are not numeric"),
        ([[1.0, 2.0], [3.0, 4.0]], r"`series`: got an array of shape \(2, 2\); expected one dimension"),
        ([], r"`series`: got an empty series; expected at least one value"),
    ],
)
def test_check_series_refuses_what_is_not_a_series(values, pattern):
    with pytest.raises(DataError, match=pattern):
        check_series(values)
