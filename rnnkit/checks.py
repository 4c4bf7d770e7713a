"""Small validation helpers: each returns the validated value or raises one clear line.

Messages follow one shape so that users learn to read them:

    Invalid value for `units`: got 0; expected a positive integer.

Every helper takes the argument's name first, as the user wrote it, and an optional
`error` class (default `ConfigError`) so data checks can raise `DataError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

from rnnkit.errors import ConfigError


def invalid(name: str, value, expected: str, error=ConfigError) -> Exception:
    """Builds the standard one-line error for argument `name`.

    Args:
        name: The argument's name as the user spells it (`units`, `--units`).
        value: The value received; shown with `repr`.
        expected: What is accepted, as a phrase ("a positive integer").
        error: The exception class to instantiate.

    Returns:
        An exception instance, for the caller to raise.
    """
    return error(f"Invalid value for `{name}`: got {value!r}; expected {expected}.")


def check_positive_int(name: str, value, error=ConfigError) -> int:
    """Returns `value` if it is an integer >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise invalid(name, value, "a positive integer", error)
    return int(value)


def check_non_negative_int(name: str, value, error=ConfigError) -> int:
    """Returns `value` if it is an integer >= 0 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise invalid(name, value, "an integer >= 0", error)
    return int(value)


def check_positive_float(name: str, value, error=ConfigError) -> float:
    """Returns `value` as a float if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise invalid(name, value, "a finite number > 0", error)
    return float(value)


def check_optional_positive_float(name: str, value, error=ConfigError) -> float | None:
    """Like `check_positive_float`, but `None` passes through (meaning "off")."""
    if value is None:
        return None
    return check_positive_float(name, value, error)


def check_fraction(name: str, value, error=ConfigError) -> float:
    """Returns `value` if it lies in [0, 1), as dropout rates must."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise invalid(name, value, "a number in [0, 1)", error)
    return float(value)


def check_bool(name: str, value, error=ConfigError) -> bool:
    """Returns `value` if it is a real bool (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise invalid(name, value, "True or False", error)
    return value


def check_choice(name: str, value, choices: Iterable, error=ConfigError):
    """Returns `value` if it is one of `choices`; the message lists them."""
    choices = list(choices)
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise invalid(name, value, f"one of {listed}", error)
    return value
