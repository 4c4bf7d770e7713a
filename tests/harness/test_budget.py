"""Parameter-matched sizes against the formulas, and budgets that cannot be met."""

import pytest

from rnnkit.config import ModelSpec
from rnnkit.data.tasks import get_task
from rnnkit.errors import ConfigError
from rnnkit.harness.budget import match_units
from rnnkit.harness.grid import expand_grid, load_grid


def adding_params(cell: str, units: int) -> int:
    """Total parameters on the adding task (2 input features, one output), by the formulas."""
    head = units + 1
    if cell == "mlp":  # Dense on the flattened 5 x 2 window, then the head.
        return (10 * units + units) + head
    blocks = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    extra = units if cell == "gru" else 0  # GRU reset_after=True: a second bias per block.
    return blocks * (units * (units + 2 + 1) + extra) + head


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "mlp"])
def test_matched_units_are_the_closest_by_the_formulas(cell):
    task = get_task("adding", timesteps=5, num_samples=40)
    spec = ModelSpec(cell="gru" if cell == "mlp" else cell, variety="one_to_one" if cell == "mlp" else "many_to_one")
    units, count = match_units(spec, task, 1500)
    assert count == adding_params(cell, units)
    best = min(range(1, 200), key=lambda u: (abs(adding_params(cell, u) - 1500), u))
    assert units == best


def test_a_grid_with_a_budget_records_the_chosen_units():
    grid = load_grid({"tasks": [{"name": "adding", "options": {"timesteps": 5, "num_samples": 40}}],
                      "cells": ["simple_rnn", "lstm"], "match_params": 600})
    units = {run.model.cell: run.model.units for run in expand_grid(grid)}
    assert adding_params("simple_rnn", units["simple_rnn"]) == pytest.approx(600, rel=0.1)
    assert adding_params("lstm", units["lstm"]) == pytest.approx(600, rel=0.1)
    assert units["simple_rnn"] > units["lstm"]
    assert "match_params: 600" in grid.to_yaml()


def test_an_unreachable_budget_is_refused_before_any_run():
    grid = load_grid({"tasks": [{"name": "adding", "options": {"timesteps": 5, "num_samples": 40}}],
                      "cells": ["lstm"], "match_params": 10})
    with pytest.raises(ConfigError, match=r"Invalid value for `match_params`: got 10; the closest size of lstm on "
                                          r"adding is units=1 with 18 parameters, more than 10% away"):
        expand_grid(grid)


@pytest.mark.parametrize("grid, message", [
    ({"match_params": 0}, r"Invalid value for `match_params`: got 0; expected a positive integer"),
    ({"match_params": 500, "model": {"units": [4, 8]}}, r"`match_params` and a list of `model.units` exclude"),
    ({"select": ["learning_rate"]},
     r"Invalid value for `select`: got 'learning_rate'; expected a setting the grid sweeps \(none is swept\)"),
    ({"select": ["units"], "train": {"learning_rate": [0.1, 0.01]}},
     r"Invalid value for `select`: got 'units'; expected a setting the grid sweeps \(learning_rate\)"),
])
def test_bad_budget_and_selection_settings_are_named(grid, message):
    with pytest.raises(ConfigError, match=message):
        load_grid({"tasks": ["adding"], "cells": ["lstm"], **grid})
