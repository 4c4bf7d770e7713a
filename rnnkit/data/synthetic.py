"""Generated tasks, one per variety of the course's taxonomy (all seeded, all offline).

| name | variety | what |
|---|---|---|
| `adding` | many_to_one | sum of the two marked values in a long sequence (regression) |
| `parity` | many_to_one | is the number of ones in a bit string odd? (classification) |
| `sine_forecast` | many_to_one | noisy sine: window -> next value (regression) |
| `copy` | many_to_many | output at step t is the input at step t - delay |
| `waveform` | one_to_many | (frequency, phase, amplitude) -> a sampled sine wave |
| `digit_addition` | seq2seq | "123+45" -> "168" |
| `reverse` | seq2seq | "abcd" -> "dcba" |

There is no separate one_to_one task: a one_to_one model (the non-sequence baseline)
trains on any many_to_one task, and the builders flatten its `(timesteps, features)`
input into one vector.

The same `seed` and options give identical arrays. Samples are i.i.d., so the parts are
cut in order (80/10/10); tasks with a small discrete input space (`parity`, the seq2seq
tasks) draw distinct samples, so no example appears in two parts.

Example:

>>> task = make_adding(timesteps=10, num_samples=50, seed=1)
>>> task.train.x.shape, task.train.y.shape
((40, 10, 2), (40, 1))
"""

from __future__ import annotations

import itertools

import numpy as np

from rnnkit.checks import check_non_negative_int, check_positive_int, invalid
from rnnkit.data.seq2seq import (  # noqa: F401 (importing registers the seq2seq tasks)
    GENERATED,
    LICENCE,
    make_digit_addition,
    make_reverse,
)
from rnnkit.data.series import forecast_task
from rnnkit.data.splits import check_seed, split_in_order, split_sizes, take_distinct
from rnnkit.data.tasks import InputSpec, OutputSpec, Task, register_task
from rnnkit.data.vocab import Vocab

ONE_TO_ONE_NOTE = "A one_to_one model trains on it with the sequence flattened."

ADDING_TEXT = (
    "The adding problem (Hochreiter & Schmidhuber 1997): each step carries (value, marker); "
    "values are uniform in [0, 1] and exactly two steps are marked, one in each half. The target "
    "is the sum of the two marked values, so the network must remember them over up to "
    "`timesteps` steps. Always predicting 1.0 gives MSE about 0.167: a model must beat that. "
    + ONE_TO_ONE_NOTE
)


def _check_sizes(num_samples, seed) -> int:
    split_sizes(num_samples)  # At least 3 samples, so each part gets one.
    return check_seed(seed)


@register_task("adding", "many_to_one", ADDING_TEXT)
def make_adding(timesteps: int = 30, num_samples: int = 3000, seed: int = 0) -> Task:
    """Builds the adding problem.

    Args:
        timesteps: Sequence length T (>= 2). Default 30.
        num_samples: Samples over all parts (80/10/10). Default 3000.
        seed: Generator seed.

    Returns:
        A many_to_one regression `Task`: x float32 `(n, T, 2)` (value, marker), y float32 `(n, 1)`.
    """
    check_positive_int("timesteps", timesteps)
    if timesteps < 2:
        raise invalid("timesteps", timesteps, "at least 2 (two positions are marked)")
    seed = _check_sizes(num_samples, seed)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(num_samples, timesteps))
    half = timesteps // 2
    first = rng.integers(0, half, size=num_samples)
    second = rng.integers(half, timesteps, size=num_samples)
    markers = np.zeros((num_samples, timesteps))
    rows = np.arange(num_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second])[:, None].astype(np.float32)
    train, validation, test = split_in_order(x, y)
    return Task(
        name="adding", variety="many_to_one", train=train, validation=validation, test=test,
        input_spec=InputSpec(timesteps=timesteps, num_features=2),
        output_spec=OutputSpec("regression", 1),
        loss="mse", metrics=("mae",), description=ADDING_TEXT, source=GENERATED, licence=LICENCE,
        params={"timesteps": timesteps, "num_samples": num_samples, "seed": seed},
    )


PARITY_TEXT = (
    "Parity: the input is a string of `timesteps` random bits (one feature per step) and the "
    "class is 1 when the number of ones is odd, else 0. Every bit matters until the end, so "
    "long strings are hard; a constant guess scores 50 % accuracy. Strings are distinct, so no "
    "string is in two parts. " + ONE_TO_ONE_NOTE
)


@register_task("parity", "many_to_one", PARITY_TEXT)
def make_parity(timesteps: int = 12, num_samples: int = 2000, seed: int = 0) -> Task:
    """Builds the parity task.

    Args:
        timesteps: Bits per string. Default 12.
        num_samples: Distinct strings over all parts; at most 2 ** timesteps. Default 2000.
        seed: Generator seed.

    Returns:
        A many_to_one classification `Task`: x float32 `(n, T, 1)` of 0/1, y int32 `(n,)` in {0, 1}.
    """
    check_positive_int("timesteps", timesteps)
    seed = _check_sizes(num_samples, seed)
    rng = np.random.default_rng(seed)
    # Batches of num_samples strings, drawn lazily until enough distinct ones exist.
    candidates = (
        row
        for _ in itertools.count()
        for row in rng.integers(0, 2, size=(num_samples, timesteps), dtype=np.int8)
    )
    bits = np.stack(
        take_distinct(candidates, num_samples, 2**timesteps, "bit strings", key=np.ndarray.tobytes)
    )
    x = bits[..., None].astype(np.float32)
    y = (bits.sum(axis=1) % 2).astype(np.int32)
    train, validation, test = split_in_order(x, y)
    return Task(
        name="parity", variety="many_to_one", train=train, validation=validation, test=test,
        input_spec=InputSpec(timesteps=timesteps, num_features=1),
        output_spec=OutputSpec("classification", 2),
        loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        description=PARITY_TEXT, source=GENERATED, licence=LICENCE,
        params={"timesteps": timesteps, "num_samples": num_samples, "seed": seed},
    )


SINE_TEXT = (
    "Noisy sine forecasting: one long series sin(2 pi t / period) plus Gaussian noise; each "
    "sample is a window of `timesteps` past values and the target is the next value. Split by "
    "time and standardised with training statistics like the real series tasks "
    "(`task.scaler.inverse_transform` gives original units). " + ONE_TO_ONE_NOTE
)


@register_task("sine_forecast", "many_to_one", SINE_TEXT)
def make_sine_forecast(timesteps: int = 20, num_samples: int = 2000, period: float = 25.0,
                       noise: float = 0.1, seed: int = 0) -> Task:
    """Builds noisy sine next-value forecasting.

    Args:
        timesteps: Window length. Default 20.
        num_samples: Windows over all parts (the series has `num_samples + timesteps` values).
        period: Steps per sine cycle. Default 25.
        noise: Standard deviation of the added Gaussian noise. Default 0.1.
        seed: Generator seed (noise and a random starting phase).

    Returns:
        A many_to_one regression `Task` (see `rnnkit.data.series.forecast_task`).
    """
    check_positive_int("timesteps", timesteps)
    seed = _check_sizes(num_samples, seed)
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
        raise invalid("period", period, "a number > 0")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise invalid("noise", noise, "a number >= 0")
    rng = np.random.default_rng(seed)
    steps = np.arange(num_samples + timesteps)
    phase = rng.uniform(0.0, 2 * np.pi)
    values = np.sin(2 * np.pi * steps / period + phase) + rng.normal(0.0, noise, size=steps.size)
    params = {"timesteps": timesteps, "num_samples": num_samples, "period": period,
              "noise": noise, "seed": seed}
    return forecast_task(values, timesteps, "sine_forecast", source=GENERATED, licence=LICENCE,
                         description=SINE_TEXT, params=params)


COPY_TEXT = (
    "Delayed recall (copy memory): the input is a sequence of random symbols; the target at "
    "step t is the input symbol at step t - `delay`. The first `delay` steps have no symbol to "
    "recall: their target is the padding id 0 with sample_weight 0, so they never count in the "
    "loss or metrics. Larger delays need longer memory."
)


@register_task("copy", "many_to_many", COPY_TEXT)
def make_copy(timesteps: int = 20, delay: int = 5, num_symbols: int = 8, num_samples: int = 2000,
              seed: int = 0) -> Task:
    """Builds the delayed-recall (copy) task.

    Args:
        timesteps: Sequence length. Default 20.
        delay: Steps between seeing a symbol and having to output it; 0 <= delay < timesteps.
        num_symbols: Distinct symbols (letters "a", "b", ...), 1 to 26. Default 8.
        num_samples: Sequences over all parts. Default 2000.
        seed: Generator seed.

    Returns:
        A many_to_many classification `Task`: x int32 ids `(n, T)`, y int32 `(n, T)`,
        sample_weight float32 `(n, T)`; `task.vocab` maps ids to symbols (0 = padding).
    """
    check_positive_int("timesteps", timesteps)
    check_non_negative_int("delay", delay)
    if delay >= timesteps:
        raise invalid("delay", delay, f"less than timesteps ({timesteps})")
    check_positive_int("num_symbols", num_symbols)
    if num_symbols > 26:
        raise invalid("num_symbols", num_symbols, "at most 26 (the letters a-z)")
    seed = _check_sizes(num_samples, seed)
    vocab = Vocab([chr(ord("a") + index) for index in range(num_symbols)])
    first_symbol_id = vocab.unk_id + 1
    rng = np.random.default_rng(seed)
    x = rng.integers(first_symbol_id, vocab.vocab_size, size=(num_samples, timesteps), dtype=np.int32)
    y = np.zeros_like(x)
    y[:, delay:] = x[:, : timesteps - delay]
    sample_weight = np.zeros(x.shape, dtype=np.float32)
    sample_weight[:, delay:] = 1.0
    train, validation, test = split_in_order(x, y, sample_weight)
    return Task(
        name="copy", variety="many_to_many", train=train, validation=validation, test=test,
        input_spec=InputSpec(timesteps=timesteps, vocab_size=vocab.vocab_size),
        output_spec=OutputSpec("classification", vocab.vocab_size, timesteps),
        loss="sparse_categorical_crossentropy", metrics=("accuracy",),
        description=COPY_TEXT, source=GENERATED, licence=LICENCE, vocab=vocab, target_vocab=vocab,
        params={"timesteps": timesteps, "delay": delay, "num_symbols": num_symbols,
                "num_samples": num_samples, "seed": seed},
    )


WAVEFORM_TEXT = (
    "Waveform generation: from a vector (frequency, phase, amplitude) produce the sampled wave "
    "amplitude * sin(2 pi * frequency * t / timesteps + phase) for t = 0 .. timesteps - 1. "
    "Frequency (cycles per sequence) is uniform in [1, 3], phase in [0, 2 pi), amplitude in "
    "[0.5, 1.5]; optional Gaussian noise on the targets."
)


@register_task("waveform", "one_to_many", WAVEFORM_TEXT)
def make_waveform(timesteps: int = 30, num_samples: int = 2000, noise: float = 0.0,
                  seed: int = 0) -> Task:
    """Builds waveform generation from a parameter vector.

    Args:
        timesteps: Samples per generated wave. Default 30.
        num_samples: Waves over all parts. Default 2000.
        noise: Standard deviation of Gaussian noise added to the targets. Default 0.
        seed: Generator seed.

    Returns:
        A one_to_many regression `Task`: x float32 `(n, 3)`, y float32 `(n, T, 1)`.
    """
    check_positive_int("timesteps", timesteps)
    seed = _check_sizes(num_samples, seed)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise invalid("noise", noise, "a number >= 0")
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(1.0, 3.0, size=num_samples)
    phase = rng.uniform(0.0, 2 * np.pi, size=num_samples)
    amplitude = rng.uniform(0.5, 1.5, size=num_samples)
    steps = np.arange(timesteps) / timesteps
    waves = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * steps[None, :] + phase[:, None])
    waves = waves + rng.normal(0.0, noise, size=waves.shape) if noise > 0 else waves
    x = np.stack([frequency, phase, amplitude], axis=1).astype(np.float32)
    y = waves[..., None].astype(np.float32)
    train, validation, test = split_in_order(x, y)
    return Task(
        name="waveform", variety="one_to_many", train=train, validation=validation, test=test,
        input_spec=InputSpec(timesteps=None, num_features=3),
        output_spec=OutputSpec("regression", 1, timesteps),
        loss="mse", metrics=("mae",), description=WAVEFORM_TEXT, source=GENERATED, licence=LICENCE,
        params={"timesteps": timesteps, "num_samples": num_samples, "noise": noise, "seed": seed},
    )
