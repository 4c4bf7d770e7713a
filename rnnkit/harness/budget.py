"""Parameter-matched sizes: the units that give a model a chosen parameter budget.

Comparing cells at equal `units` favours the LSTM, which has four times the weights
of a SimpleRNN of the same width. `match_units` instead picks, for one model spec on
one task, the `units` whose total parameter count (rnnkit's own formulas, see
`rnnkit.params.param_totals`) is closest to a budget.

Every layer of an rnnkit model is at most quadratic in `units` (recurrent kernels
grow as units², inputs, heads and biases linearly), so the count is a quadratic
polynomial p(u) = a·u² + b·u + c. Three sizes fix a, b and c; the root of
p(u) = budget gives the candidate, and its neighbours are checked by building them.

Example:

>>> from rnnkit.config import ModelSpec
>>> from rnnkit.data.tasks import get_task
>>> task = get_task("adding", timesteps=5, num_samples=100)
>>> # LSTM 4u(u + 2 + 1) plus the Dense head u + 1: 4u² + 13u + 1, so 967 at u=14, 1096 at 15.
>>> units, count = match_units(ModelSpec(cell="lstm", units=1), task, 1000)
>>> units, count
(14, 967)
"""

from __future__ import annotations

import math

from rnnkit.errors import ConfigError

# A budget must be reachable within this relative distance, or the grid is refused.
TOLERANCE = 0.10
MAX_UNITS = 65536


def count_params(spec, task) -> int:
    """The total parameter count of `spec` built for `task`, from rnnkit's formulas."""
    import keras

    from rnnkit.models.builders import build_model
    from rnnkit.params import param_totals

    model = build_model(spec, task)
    totals = param_totals(model)
    del model
    keras.backend.clear_session(free_memory=False)
    return int(totals["analytic"] if totals["analytic"] is not None else totals["keras"])


def match_units(spec, task, budget: int) -> tuple[int, int]:
    """Returns `(units, params)` with the parameter count of `spec` closest to `budget`.

    Args:
        spec: A `ModelSpec`; every field but `units` is kept.
        task: The task the model is built for (input width, vocabulary, outputs).
        budget: The target total number of parameters.

    Returns:
        The chosen units and the exact parameter count at that size.
    """
    counts = {}

    def params(units: int) -> int:
        if units not in counts:
            counts[units] = count_params(spec.replace(units=units), task)
        return counts[units]

    p1, p2, p3 = params(1), params(2), params(3)
    a = (p3 - 2 * p2 + p1) / 2
    b = p2 - p1 - 3 * a
    c = p1 - a - b
    if a > 0:
        root = (-b + math.sqrt(max(b * b - 4 * a * (c - budget), 0.0))) / (2 * a)
    elif b > 0:
        root = (budget - c) / b
    else:
        root = 1.0
    guess = int(min(max(root, 1), MAX_UNITS))
    candidates = {max(1, min(MAX_UNITS, guess + step)) for step in (-1, 0, 1, 2)}
    return min(((units, params(units)) for units in sorted(candidates)),
               key=lambda pair: (abs(pair[1] - budget), pair[0]))


def check_budget(budget: int, units: int, count: int, what: str) -> None:
    """Refuses a budget that the closest size misses by more than `TOLERANCE`."""
    if abs(count - budget) > TOLERANCE * budget:
        raise ConfigError(
            f"Invalid value for `match_params`: got {budget}; the closest size of {what} is units={units} "
            f"with {count} parameters, more than {TOLERANCE:.0%} away. Choose a budget that every "
            "configuration can reach (larger than the smallest model's count)."
        )


__all__ = ["check_budget", "count_params", "match_units"]
