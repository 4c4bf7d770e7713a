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

from collections.abc import Callable, Hashable, Iterable

from rnnkit.checks import check_non_negative_int, check_positive_int, invalid
from rnnkit.data.tasks import Split
from rnnkit.errors import ConfigError, DataError

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


def part_slices(sizes: tuple[int, int, int]) -> tuple[slice, slice, slice]:
    """Returns the train, validation and test slices for the sizes `split_sizes` gives.

    Example:

    >>> part_slices((8, 1, 1))
    (slice(0, 8, None), slice(8, 9, None), slice(9, 10, None))
    """
    num_train, num_validation, num_test = sizes
    validation_end = num_train + num_validation
    return (
        slice(0, num_train),
        slice(num_train, validation_end),
        slice(validation_end, validation_end + num_test),
    )


def split_in_order(x, y, sample_weight=None) -> tuple[Split, Split, Split]:
    """Cuts aligned arrays into train / validation / test `Split`s, in order.

    Args:
        x: An array, or a dict of arrays (seq2seq), with samples on the first axis.
        y: Targets with samples on the first axis.
        sample_weight: Optional weights aligned with `y`.

    Returns:
        The three `Split`s.
    """
    parts = []
    for rows in part_slices(split_sizes(len(y), "num_samples", DataError)):
        part_x = {key: value[rows] for key, value in x.items()} if isinstance(x, dict) else x[rows]
        part_weight = None if sample_weight is None else sample_weight[rows]
        parts.append(Split(part_x, y[rows], part_weight))
    return tuple(parts)


def check_seed(seed) -> int:
    """Returns `seed` if it is an integer >= 0 (what `numpy.random.default_rng` accepts)."""
    return check_non_negative_int("seed", seed)


def take_distinct(
    candidates: Iterable, num_samples: int, limit: int, what: str,
    key: Callable[..., Hashable] = lambda item: item,
) -> list:
    """Returns the first `num_samples` distinct items of `candidates`, in their order.

    Generators of tasks with a small input space draw distinct samples this way, so
    that no sample appears in two parts of the split.

    Args:
        candidates: An endless iterable of random draws.
        num_samples: How many distinct items to keep.
        limit: How many distinct items exist; asking for more is refused.
        what: The items' name for the error message ("bit strings").
        key: Maps an item to something hashable (e.g. `ndarray.tobytes`).

    Returns:
        A list of `num_samples` items whose keys are all different.

    Example:

    >>> take_distinct(iter([3, 1, 3, 2]), num_samples=3, limit=10, what="digits")
    [3, 1, 2]
    """
    if num_samples > limit:
        raise invalid("num_samples", num_samples, f"at most {limit} (distinct {what} that exist)")
    seen, results = set(), []
    for item in candidates:
        item_key = key(item)
        if item_key not in seen:
            seen.add(item_key)
            results.append(item)
            if len(results) == num_samples:
                break
    return results
