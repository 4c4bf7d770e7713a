"""A resource guard: estimate the memory a run needs before its data or model is built.

A size typed by mistake (`timesteps=100000000`, `num_samples=2000000000`, `units=1000000`)
would otherwise run until the machine runs out of memory. The estimates are deliberately
simple, orders of magnitude rather than exact bytes:

- data arrays, before a task is generated: `num_samples * steps * 48` bytes (float64
  inputs of about two features plus a target while generating, and one copy when the
  splits are cut); once built, twice the arrays' real size (Keras copies them to tensors);
- parameters: the cells' formulas (`gates * h * (h + d + 2)` per layer and direction, the
  GRU's form, an upper bound for the others) times 16 bytes (float32 weights,
  their gradients and the optimizer's two slots);
- one batch of activations: `batch_size * steps * units * gates * layers * directions`
  times 12 bytes (each step's gate values and state kept for backpropagation, and their
  gradients), plus the output layer's values for the batch.

The limit is 80% of the memory available now (`MemAvailable` on Linux), or a size the
user gives (`--max-memory 8G`), or none (`--max-memory none`).
"""

from __future__ import annotations

import inspect
import os
import re

from rnnkit.checks import invalid
from rnnkit.errors import ConfigError

# The share of the available memory a run may use by default.
DEFAULT_SHARE = 0.8
BYTES_PER_SAMPLE_STEP = 48
BYTES_PER_PARAMETER = 16
BYTES_PER_ACTIVATION = 12
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now, or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def gpu_memory(runner=None) -> int | None:
    """Bytes of memory of the smallest NVIDIA GPU on this machine, or None when unknown.

    Asks `nvidia-smi` (installed with the NVIDIA driver), which answers without importing
    TensorFlow or JAX; no driver, no answer within 10 s or an answer it cannot read: None.

    Args:
        runner: For tests: a function taking the command (a list) and returning its
            output; default `subprocess.run`.
    """
    import subprocess

    command = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
    try:
        if runner is None:
            output = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout
        else:
            output = runner(command)
        sizes = [int(float(line.strip())) for line in output.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return min(sizes) * (1 << 20) if sizes else None


def parse_size(text, name: str = "--max-memory") -> int | None:
    """Reads a memory size: "8G", "512M", "1.5GiB", "2000000" (bytes), or "none" (no limit).

    Args:
        text: The size as typed (a str), or a number of bytes, or None (no limit).
        name: The argument's name for the message.

    Returns:
        Bytes, or None for no limit.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise invalid(name, text, "a size above 0 such as 8G or 512M, or none")
        return int(text)
    value = str(text).strip()
    if value.lower() == "none":
        return None
    match = _SIZE.fullmatch(value)
    if not match or float(match.group(1)) <= 0:
        raise invalid(name, text, "a size above 0 such as 8G, 512M or 1.5GiB, or none for no limit")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def memory_limit(max_memory="auto") -> dict | None:
    """The limit a run is held to: {"bytes", "source"}, or None for no limit.

    Args:
        max_memory: "auto" (80% of the available memory), a size (see `parse_size`), or
            None for no limit.
    """
    if isinstance(max_memory, str) and max_memory.strip().lower() == "auto":
        available = available_memory()
        if available is None:
            return None
        return {"bytes": int(available * DEFAULT_SHARE),
                "source": f"{DEFAULT_SHARE:.0%} of the {format_bytes(available)} available; raise it with "
                          "--max-memory SIZE or turn it off with --max-memory none"}
    limit = parse_size(max_memory)
    if limit is None:
        return None
    return {"bytes": limit, "source": "--max-memory; raise it, or turn it off with --max-memory none"}


def format_bytes(count: float) -> str:
    """1536 -> "1.5 KiB"."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"


def refuse(what: str, parts: dict, limit: dict | None) -> None:
    """Raises a one-line `ConfigError` when the estimated `parts` (name -> bytes) exceed `limit`."""
    total = sum(parts.values())
    if limit is None or total <= limit["bytes"]:
        return
    listed = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts.items() if size)
    raise ConfigError(
        f"{what} needs about {format_bytes(total)} of memory ({listed}), above the limit of "
        f"{format_bytes(limit['bytes'])} ({limit['source']}); use smaller sizes."
    )


def _option(factory, options: dict, name: str):
    if name in options:
        return options[name]
    parameter = inspect.signature(factory).parameters.get(name)
    return None if parameter is None else parameter.default


def task_data_bytes(task_name: str, options: dict) -> int:
    """The estimated bytes of a task's arrays while they are generated (0 when not sized by options)."""
    from rnnkit.data.tasks import get_task_entry

    factory = get_task_entry(task_name).factory
    num_samples = _option(factory, options, "num_samples")
    steps = _option(factory, options, "timesteps")
    max_digits = _option(factory, options, "max_digits")
    if isinstance(max_digits, int) and not isinstance(max_digits, bool):
        steps = 4 * max_digits + 4  # "123+45" and its answer, with start and end tokens.
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (num_samples, steps)):
        return 0  # Text and series tasks are bounded by their file; bad values fail in the task.
    return num_samples * steps * BYTES_PER_SAMPLE_STEP


def check_grid_memory(grid, limit: dict | None) -> None:
    """Checks the data of every task instance of a validated `Grid` (before any is built)."""
    import itertools

    for task in grid.tasks:
        sweep = {k: (v if isinstance(v, tuple) else (v,)) for k, v in task.options.items()}
        for values in itertools.product(*sweep.values()):
            check_task_memory(task.name, dict(zip(sweep, values)), limit)


def check_task_memory(task_name: str, options: dict, limit: dict | None) -> None:
    """Refuses a task whose arrays would exceed `limit`, before they are generated."""
    refuse(f"Task {task_name!r} with options {options}", {"data arrays": task_data_bytes(task_name, options)},
            limit)


def _array_bytes(value) -> int:
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    return int(getattr(value, "nbytes", 0) or 0)


def model_bytes(spec, input_dim: int, output_dim: int, steps: int, batch_size: int, vocab: int = 0) -> dict:
    """Estimated bytes of a model's parameters and of one batch of its activations.

    Args:
        spec: The `ModelSpec` (cell, units, num_layers, bidirectional, embedding_dim).
        input_dim: Features per step (the vocabulary size for one-hot token input).
        output_dim: Outputs per step or sample.
        steps: The longest sequence the model reads or writes.
        batch_size: Samples per training step.
        vocab: The input vocabulary size when an embedding reads token ids.

    Returns:
        {"parameters": bytes, "activations": bytes}.
    """
    directions = 2 if spec.bidirectional else 1
    gates = GATES.get(spec.cell, 4)  # A registered cell of unknown shape: counted like an LSTM.
    units = spec.units
    width = spec.embedding_dim or input_dim
    count = vocab * (spec.embedding_dim or 0)
    for layer in range(spec.num_layers):
        layer_input = width if layer == 0 else units * directions
        # The cell formulas (rnnkit.params), written out so that no Keras import is needed.
        count += gates * units * (units + layer_input + 2) * directions
    count += (units * directions + 1) * output_dim
    activations = batch_size * steps * (units * gates * spec.num_layers * directions + output_dim + width)
    return {"parameters": count * BYTES_PER_PARAMETER, "activations": activations * BYTES_PER_ACTIVATION}


def run_memory_parts(run, task) -> dict:
    """The estimated bytes of a run (a `RunConfig` on its built task): data, parameters, activations."""
    data = sum(_array_bytes(getattr(split, part)) for split in (task.train, task.validation, task.test)
               for part in ("x", "y"))
    inputs, outputs = task.input_spec, task.output_spec
    steps = max(inputs.timesteps or 1, outputs.timesteps or 1)
    input_dim = inputs.vocab_size or inputs.num_features or 1
    parts = {"data arrays": 2 * data}
    parts.update(model_bytes(run.model, input_dim, outputs.dim, steps, run.train.batch_size,
                             vocab=inputs.vocab_size or 0))
    return parts


def check_run_memory(run, task, limit: dict | None) -> None:
    """Refuses a run (a `RunConfig` on its built task) whose memory estimate exceeds `limit`."""
    if limit is None:
        return
    refuse(f"Run {run.label or run.run_id!r}", run_memory_parts(run, task), limit)
