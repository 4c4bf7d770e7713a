"""The built-in default grid of `rnnkit compare`: every cell on a task of every variety.

Tasks (all generated, seeded, offline):

| variety | task | what it asks |
|---|---|---|
| many_to_one (and the one_to_one MLP baseline) | adding | sum of the two marked values |
| one_to_many | waveform | a wave from (frequency, phase, amplitude) |
| many_to_many | copy | repeat each symbol after a delay |
| seq2seq | digit_addition | "123+45" -> "168" |

`--quick` keeps the same shape at toy size (units 8, 2 epochs, 400 samples, short
sequences): 13 runs in about 1.5 minutes on a 2-core machine (measured 103 s end to
end, report included, with the machine's load average near 4.5). The full grid trains
the tasks at their default sizes with units 32, for 10 epochs and 2 seeds: 26 runs in
about 7 minutes (measured 403 s, load average near 5).
"""

from __future__ import annotations

import copy

QUICK_GRID = {
    "tasks": [
        {"name": "adding", "options": {"timesteps": 10, "num_samples": 400}},
        {"name": "waveform", "options": {"timesteps": 12, "num_samples": 400}},
        {"name": "copy", "options": {"timesteps": 10, "delay": 3, "num_samples": 400}},
        {"name": "digit_addition", "options": {"max_digits": 2, "num_samples": 400}},
    ],
    "cells": ["simple_rnn", "lstm", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 8},
    "train": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01},
    "seeds": [0],
}

FULL_GRID = {
    "tasks": [
        {"name": "adding", "options": {"timesteps": 30}},
        {"name": "waveform", "options": {"timesteps": 30}},
        {"name": "copy", "options": {"timesteps": 20, "delay": 5}},
        {"name": "digit_addition", "options": {"max_digits": 3}},
    ],
    "cells": ["simple_rnn", "lstm", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 32},
    "train": {"epochs": 10, "batch_size": 64, "learning_rate": 0.005},
    "seeds": [0, 1],
}


def default_grid_dict(quick: bool = False) -> dict:
    """Returns (a copy of) the default grid in the YAML format, quick or full."""
    return copy.deepcopy(QUICK_GRID if quick else FULL_GRID)
