"""Choosing the Keras backend (TensorFlow or JAX) for a run or a grid, before Keras loads.

Keras reads `KERAS_BACKEND` once, when it is first imported, so a process trains on one
backend only. The Python API follows that convention: rnnkit runs on whatever backend
Keras loaded and never switches it. The CLI (`rnnkit train|compare --backend`) decides
before anything imports Keras, with `resolve_backend`, and `use_backend` sets it.

Neither backend is the fastest everywhere on a CPU (measured on 2 cores, see
`benchmarks/bench_backends.py` and the README's speed section):

- JAX compiles each new model with XLA, a fixed cost per run (from about 1 s for the
  quick grid's models to about 10 s for an LSTM of 128 units on 35 steps), so small runs
  (the quick grid: 400 samples, 10 steps, 8 units, 2 epochs) are faster on TensorFlow.
- Once compiled, a JAX training step is 1.3-2.8x faster (char LM, LSTM/GRU/SimpleRNN at
  32-256 units), so long runs are faster on JAX.

`auto` therefore estimates the work of a run (`run_work`: multiply-adds of the recurrent
layers over all training epochs) and picks JAX from `JAX_FROM_WORK` on. For a grid the
same rule applies to the mean work per run: every run pays the compile cost once, and
the total saving grows with the total work.

Example:

>>> from rnnkit.harness.grid import expand_grid
>>> quick = expand_grid({"tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
...                      "cells": ["lstm"], "model": {"units": 8}, "train": {"epochs": 2}})
>>> choose_backend(quick)
'tensorflow'
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from rnnkit.checks import check_choice
from rnnkit.errors import ConfigError

BACKENDS = ("tensorflow", "jax")
CHOICES = ("auto", *BACKENDS)
# Multiply-adds of training (all epochs, as `run_work` counts them) from which `auto` picks
# JAX. Measured on the 2-core machine with the char LM, LSTM 128 (`bench_backends.py`,
# 3.85e10 per epoch): a run costs TensorFlow about 6.6 s per epoch and JAX 2.7 s, but JAX
# compiles for about 10 s more per run, so at 3 epochs (1.15e11) TensorFlow was still
# faster by 3-4 s (whole call 25-29 s against 30-33 s); JAX wins from the 4th epoch on.
JAX_FROM_WORK = 1.5e11
# Gate blocks per cell: the recurrent multiply-adds per step are gates * units * (units + inputs).
_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def run_work(run, task=None) -> float:
    """Returns the estimated multiply-adds of training `run`: the size of its work.

    Counts the recurrent layers' matrix products, forward and backward (x3), over every
    training sample, time step and epoch. Dense heads and the MLP baseline are small
    next to them and are counted as one gate block.

    Args:
        run: A `RunConfig`.
        task: Its built `Task`; built here (NumPy only, Keras is not imported) when None.

    Returns:
        A float (multiply-adds).
    """
    if task is None:
        from rnnkit.data.tasks import get_task

        options = dict(run.task_options)
        seed = options.pop("seed", 0)
        task = get_task(run.task, seed=seed, **options)
    spec = run.model
    source = task.input_spec
    timesteps = source.timesteps or 1
    if source.vocab_size:
        width = spec.embedding_dim or source.vocab_size
    else:
        width = source.num_features or 1
    gates = _GATES.get(spec.cell, 1) if spec.variety != "one_to_one" else 1
    directions = 2 if spec.bidirectional else 1
    units = spec.units
    per_step = 0
    for layer in range(spec.num_layers):
        inputs = width if layer == 0 else units * directions
        per_step += directions * gates * units * (units + inputs)
    if task.variety == "seq2seq":
        per_step *= 2  # An encoder and a decoder of the same size.
    return float(3 * per_step * timesteps * task.train.num_samples * run.train.epochs)


def choose_backend(runs, tasks=None) -> str:
    """Returns the backend `auto` picks for one run or a list of runs (a grid).

    Args:
        runs: A `RunConfig` or a list of them.
        tasks: Optional built tasks, one per run (built here otherwise).

    Returns:
        "jax" when the mean work per run (`run_work`) reaches `JAX_FROM_WORK` and JAX is
        installed, else "tensorflow".
    """
    runs = [runs] if not isinstance(runs, (list, tuple)) else list(runs)
    if not runs or importlib.util.find_spec("jax") is None:
        return "tensorflow"
    tasks = tasks or [None] * len(runs)
    cache = {}
    total = 0.0
    for run, task in zip(runs, tasks):
        if task is None:
            key = (run.task, json.dumps(run.task_options, sort_keys=True, default=str))
            if key not in cache:
                from rnnkit.data.tasks import get_task

                options = dict(run.task_options)
                seed = options.pop("seed", 0)
                cache[key] = get_task(run.task, seed=seed, **options)
            task = cache[key]
        total += run_work(run, task)
    return "jax" if total / len(runs) >= JAX_FROM_WORK else "tensorflow"


def resolve_backend(requested: str, runs) -> str:
    """Returns the backend to use for `requested` ("auto", "tensorflow" or "jax").

    Raises:
        ConfigError: `requested` is not one of `CHOICES`, or "jax" is not installed.
    """
    requested = check_choice("backend", requested, CHOICES)
    if requested == "auto":
        return choose_backend(runs)
    if requested == "jax" and importlib.util.find_spec("jax") is None:
        raise ConfigError("Invalid value for `backend`: got 'jax'; JAX is not installed (`pip install jax`).")
    return requested


def use_backend(name: str) -> str:
    """Makes Keras load `name` as its backend; call it before anything imports Keras.

    Args:
        name: "tensorflow" or "jax".

    Returns:
        The name.

    Raises:
        ConfigError: Keras is already loaded with another backend (a process has one
            backend; rnnkit never switches it silently).
    """
    name = check_choice("backend", name, BACKENDS)
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise ConfigError(
                f"Invalid value for `backend`: got {name!r}, but Keras is already loaded with {loaded!r} "
                "in this process; set KERAS_BACKEND before importing Keras (or start a new process)."
            )
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def current_backend() -> str:
    """The backend Keras runs on, or (before Keras is imported) the one it will load."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


__all__ = ["BACKENDS", "CHOICES", "JAX_FROM_WORK", "choose_backend", "current_backend", "resolve_backend",
           "run_work", "use_backend"]
