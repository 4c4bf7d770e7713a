"""Cutting samples into train / validation / test parts, in order, without overlap.

Every generator and loader splits through `split_sizes`, so the fractions and the
"each part gets at least one sample" rule are the same everywhere. Parts are taken in
order (first train, then validation, then test): for i.i.d. generated samples the order
is random already, and for text and series the order is time, so later data never
leaks into an earlier part.

Example:

>>> split_sizes(100)
(80, 10, 10)
"""

from __future__ import annotations

from rnnkit.checks import check_non_negative_int, check_positive_int, invalid
from rnnkit.errors import ConfigError, DataError

from rnnkit.data.tasks import Split

# Share of the samples that goes to train, validation and test.
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def split_sizes(num_samples: int, name: str = "num_samples", error=ConfigError) -> tuple[int, int, int]:
    """Returns (train, validation, test) sizes for `num_samples` items, 80/10/10.

    Args:
        num_samples: How many items to split; at least 3 so every part gets one.
        name: The argument name to show in the error message.
        error: The exception class raised when `num_samples` is too small.

    Returns:
        Three positive integers that add up to `num_samples`.
    """
    check_positive_int(name, num_samples, error)
    if num_samples < 3:
        raise invalid(name, num_samples, "at least 3 (one each for train, validation and test)", error)
    num_validation = max(1, round(num_samples * SPLIT_FRACTIONS[1]))
    num_test = max(1, round(num_samples * SPLIT_FRACTIONS[2]))
    return num_samples - num_validation - num_test, num_validation, num_test


def split_in_order(x, y, sample_weight=None) -> tuple[Split, Split, Split]:
    """Cuts aligned arrays into train / validation / test `Split`s, in order.

    Args:
        x: An array, or a dict of arrays (seq2seq), with samples on the first axis.
        y: Targets with samples on the first axis.
        sample_weight: Optional weights aligned with `y`.

    Returns:
        The three `Split`s.
    """
    sizes = split_sizes(len(y), "num_samples", DataError)
    bounds = [0, sizes[0], sizes[0] + sizes[1], len(y)]
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        part_x = {key: value[start:stop] for key, value in x.items()} if isinstance(x, dict) else x[start:stop]
        part_weight = None if sample_weight is None else sample_weight[start:stop]
        parts.append(Split(part_x, y[start:stop], part_weight))
    return tuple(parts)


def check_seed(seed) -> int:
    """Returns `seed` if it is an integer >= 0 (what `numpy.random.default_rng` accepts)."""
    return check_non_negative_int("seed", seed)
