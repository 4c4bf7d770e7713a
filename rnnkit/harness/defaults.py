"""The built-in default grids of `rnnkit compare`, sized so that their reports teach.

`--quick` (about 20 seconds on 2 cores: 2 workers, JAX) asks the course's central question on one
long-memory task: the adding problem at 30 steps, where the two marked numbers can be
up to 29 steps before the answer. Measured with seed 0-2 while sizing it: the gated
cells reach test MSE 0.0005-0.015, SimpleRNN stays at the mean predictor's 0.163 and
the MLP close to it; two seeds per configuration give the verdict its intervals.

| variety | task (full grid) | what it asks |
|---|---|---|
| many_to_one (and the one_to_one MLP baseline) | adding, 30 steps | sum of the two marked values |
| one_to_many | waveform | a wave from (frequency, phase, amplitude) |
| many_to_many | copy, delay 10 | repeat each symbol 10 steps later |
| seq2seq | digit_addition, 2 digits | "12+45" -> "57" |

The full grid trains every cell on a task of every variety with three seeds (the
least that gives a usable 95% interval), 10 epochs at learning rate 0.01; the test
metrics come from the epoch with the best validation loss. Its measured time is in
the README.
"""

from __future__ import annotations

import copy

QUICK_GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 30, "num_samples": 3000}}],
    "cells": ["simple_rnn", "lstm", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 16},
    "train": {"epochs": 8, "batch_size": 32, "learning_rate": 0.01},
    "seeds": [0, 1],
}

FULL_GRID = {
    "tasks": [
        {"name": "adding", "options": {"timesteps": 30, "num_samples": 4000}},
        {"name": "waveform", "options": {"timesteps": 30}},
        {"name": "copy", "options": {"timesteps": 20, "delay": 10, "num_symbols": 8, "num_samples": 2000}},
        {"name": "digit_addition", "options": {"max_digits": 2, "num_samples": 2000}},
    ],
    "cells": ["simple_rnn", "lstm", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 32},
    "train": {"epochs": 10, "batch_size": 32, "learning_rate": 0.01},
    "seeds": [0, 1, 2],
}


def default_grid_dict(quick: bool = False) -> dict:
    """Returns (a copy of) the default grid in the YAML format, quick or full."""
    return copy.deepcopy(QUICK_GRID if quick else FULL_GRID)
