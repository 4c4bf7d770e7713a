"""Generated tasks: shapes, targets recomputed from the inputs, determinism, bad sizes."""

import numpy as np
import pytest

from rnnkit.data.tasks import get_task, task_names
from rnnkit.errors import ConfigError, DataError


def _all(split_attr, task):
    parts = [getattr(getattr(task, part), split_attr) for part in ("train", "validation", "test")]
    return np.concatenate(parts)


def test_builtin_generated_tasks_are_registered():
    assert {"adding", "parity", "sine_forecast", "copy", "waveform", "digit_addition",
            "reverse"} <= set(task_names())


def test_adding_target_is_sum_of_the_two_marked_values():
    task = get_task("adding", timesteps=8, num_samples=40, seed=3)
    x, y = _all("x", task), _all("y", task)
    assert x.shape == (40, 8, 2) and y.shape == (40, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2)
    # One mark in each half of the sequence.
    assert np.all(markers[:, :4].sum(axis=1) == 1) and np.all(markers[:, 4:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    assert (task.train.num_samples, task.validation.num_samples, task.test.num_samples) == (32, 4, 4)
    assert task.loss == "mse" and task.metrics == ("mae",)


def test_same_seed_same_arrays_other_seed_other_arrays():
    first = get_task("adding", timesteps=5, num_samples=20, seed=7)
    again = get_task("adding", timesteps=5, num_samples=20, seed=7)
    other = get_task("adding", timesteps=5, num_samples=20, seed=8)
    np.testing.assert_array_equal(first.train.x, again.train.x)
    np.testing.assert_array_equal(first.test.y, again.test.y)
    assert not np.array_equal(first.train.x, other.train.x)


def test_parity_labels_and_distinct_strings():
    task = get_task("parity", timesteps=6, num_samples=60, seed=0)
    x, y = _all("x", task), _all("y", task)
    assert x.shape == (60, 6, 1) and y.dtype == np.int32
    np.testing.assert_array_equal(y, x[:, :, 0].sum(axis=1).astype(int) % 2)
    assert len({row.tobytes() for row in x}) == 60  # no string in two parts
    assert task.output_spec.dim == 2 and task.metrics == ("accuracy",)


def test_parity_refuses_more_samples_than_distinct_strings():
    with pytest.raises(ConfigError, match=r"`num_samples`: got 20; expected at most 16"):
        get_task("parity", timesteps=4, num_samples=20)


def test_sine_forecast_windows_continue_and_scaler_restores_units():
    task = get_task("sine_forecast", timesteps=5, num_samples=60, period=10.0, noise=0.0, seed=1)
    x, y = task.train.x, task.train.y
    assert x.shape == (48, 5, 1) and y.shape == (48, 1)
    # The next window is the previous one shifted by one step, ending with its target.
    np.testing.assert_allclose(x[1, :, 0], np.append(x[0, 1:, 0], y[0, 0]))
    wave = task.scaler.inverse_transform(_all("y", task)[:, 0])
    assert np.max(np.abs(wave)) <= 1.0 + 1e-6
    np.testing.assert_allclose(wave[10:], wave[:-10], atol=1e-5)  # period 10, no noise
    # Statistics come from the training part of the series (first window + train targets).
    train_series = np.append(task.scaler.inverse_transform(x[0, :, 0]), task.scaler.inverse_transform(y[:, 0]))
    assert task.scaler.mean == pytest.approx(train_series.mean(), abs=1e-5)


def test_copy_target_is_input_delayed_and_early_steps_masked():
    task = get_task("copy", timesteps=7, delay=3, num_symbols=4, num_samples=30, seed=2)
    x, y, weight = task.train.x, task.train.y, task.train.sample_weight
    assert x.shape == y.shape == weight.shape == (24, 7) and x.dtype == np.int32
    np.testing.assert_array_equal(y[:, 3:], x[:, :4])
    assert np.all(weight[:, :3] == 0) and np.all(weight[:, 3:] == 1)
    assert set(np.unique(x)) <= set(task.vocab.encode("abcd").tolist())
    assert task.output_spec.timesteps == 7 and task.output_spec.dim == task.input_spec.vocab_size


def test_waveform_targets_follow_the_parameters():
    task = get_task("waveform", timesteps=10, num_samples=20, seed=4)
    x, y = task.train.x, task.train.y
    assert x.shape == (16, 3) and y.shape == (16, 10, 1) and task.input_spec.timesteps is None
    frequency, phase, amplitude = x[5]
    expected = [amplitude * np.sin(2 * np.pi * frequency * t / 10 + phase) for t in range(10)]
    np.testing.assert_allclose(y[5, :, 0], expected, atol=1e-5)
    assert np.all((x[:, 0] >= 1) & (x[:, 0] <= 3)) and np.all((x[:, 2] >= 0.5) & (x[:, 2] <= 1.5))


@pytest.mark.parametrize(
    "name, options, pattern",
    [
        ("adding", {"num_samples": 0}, r"`num_samples`: got 0; expected a positive integer"),
        ("adding", {"num_samples": 2}, r"`num_samples`: got 2; expected at least 3"),
        ("adding", {"timesteps": 0}, r"`timesteps`: got 0; expected a positive integer"),
        ("adding", {"timesteps": 1}, r"`timesteps`: got 1; expected at least 2"),
        ("adding", {"seed": -1}, r"`seed`: got -1; expected an integer >= 0"),
        ("parity", {"timesteps": -3}, r"`timesteps`: got -3"),
        ("copy", {"timesteps": 5, "delay": 5}, r"`delay`: got 5; expected less than timesteps \(5\)"),
        ("copy", {"delay": -1}, r"`delay`: got -1; expected an integer >= 0"),
        ("copy", {"num_symbols": 27}, r"`num_symbols`: got 27; expected at most 26"),
        ("sine_forecast", {"period": 0}, r"`period`: got 0; expected a number > 0"),
        ("sine_forecast", {"noise": -0.5}, r"`noise`: got -0.5; expected a number >= 0"),
        ("waveform", {"timesteps": 0}, r"`timesteps`: got 0"),
        ("waveform", {"noise": "loud"}, r"`noise`: got 'loud'"),
    ],
)
def test_bad_sizes_raise_one_line_config_errors(name, options, pattern):
    with pytest.raises(ConfigError, match=pattern) as caught:
        get_task(name, **options)
    assert "\n" not in str(caught.value)


def test_unknown_task_and_unknown_option_are_refused():
    with pytest.raises(DataError, match=r"`task`: got 'addding'; expected one of .*adding"):
        get_task("addding")
    with pytest.raises(ConfigError, match=r"Unknown option `lenght` for task 'adding'; accepted: timesteps"):
        get_task("adding", lenght=5)
