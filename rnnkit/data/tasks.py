"""The Task type and the task registry.

A task is data plus what to predict: train / validation / test splits, the shapes a
model must accept and produce, the loss and metrics that fit it, and where the data
came from. Generators and loaders register themselves here with `register_task`;
users call `get_task(name, seed=..., **options)` and `list_tasks()`.

Array conventions (these are contracts the builders and the trainer rely on):

- Real-valued sequence input: float32 `(num_samples, timesteps, num_features)`.
- Token sequence input: int32 `(num_samples, timesteps)` with `InputSpec.vocab_size` set.
- Vector input (one_to_many): float32 `(num_samples, num_features)`, `timesteps=None`.
- seq2seq input: a dict `{"encoder_inputs": int32 (n, T_in), "decoder_inputs": int32 (n, T_out)}`;
  `decoder_inputs` is the target shifted right behind the start token (teacher forcing).
- Targets: regression float32 `(n, dim)` or `(n, T, dim)`; classification int32 class ids
  `(n,)` or `(n, T)` (sparse labels; heads end in softmax).
- `Split.sample_weight`: optional float32 `(n,)` or `(n, T)`; 0 marks padding that must
  never count in a loss or metric.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit.checks import check_choice
from rnnkit.config import VARIETIES
from rnnkit.errors import ConfigError, DataError

# Modules whose import registers the built-in tasks (kept lazy so `import rnnkit` is cheap).
_BUILTIN_TASK_MODULES = (
    "rnnkit.data.synthetic",
    "rnnkit.data.text",
    "rnnkit.data.series",
    "rnnkit.data.loaders",
)


@dataclass(frozen=True)
class InputSpec:
    """What a model receives per sample."""

    timesteps: int | None  # Sequence length; None for vector input (one_to_many).
    num_features: int | None = None  # Real-valued features per step (or vector width).
    vocab_size: int | None = None  # Set for token input; then the input is int ids.

    @property
    def is_tokens(self) -> bool:
        return self.vocab_size is not None


@dataclass(frozen=True)
class OutputSpec:
    """What a model must produce per sample."""

    kind: str  # "regression" or "classification".
    dim: int  # Regression outputs, or number of classes / target vocabulary size.
    timesteps: int | None = None  # None for one output per sample; else outputs per step.

    def __post_init__(self):
        check_choice("kind", self.kind, ("regression", "classification"))


@dataclass
class Split:
    """One part of a task's data (train, validation or test)."""

    x: Any  # np.ndarray, or a dict of arrays for seq2seq.
    y: np.ndarray
    sample_weight: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        return len(self.y)


@dataclass
class Task:
    """A dataset and what to predict from it, ready for `build_model` and `train`."""

    name: str
    variety: str  # The variety the task was made for (one_to_one models accept many_to_one tasks).
    train: Split
    validation: Split
    test: Split
    input_spec: InputSpec
    output_spec: OutputSpec
    loss: str  # A Keras loss name, e.g. "mse" or "sparse_categorical_crossentropy".
    metrics: tuple[str, ...]  # Keras metric names compiled into the model.
    description: str  # One paragraph for `rnnkit tasks` and the report.
    source: str  # "generated (seeded)" or where the data comes from.
    licence: str
    vocab: Any = None  # Input vocabulary (rnnkit.data.text.Vocab) for token input.
    target_vocab: Any = None  # Output vocabulary for token output (seq2seq, LM).
    scaler: Any = None  # Maps regression targets back to original units (series).
    params: dict = field(default_factory=dict)  # The generator options used, seed included.

    def __post_init__(self):
        check_choice("variety", self.variety, VARIETIES, DataError)

    def summary(self) -> dict:
        """Returns one row of facts about the task (for `rnnkit tasks` and reports)."""
        return {
            "name": self.name,
            "variety": self.variety,
            "input": _shape_text(self.train.x),
            "output": _shape_text(self.train.y),
            "train": self.train.num_samples,
            "validation": self.validation.num_samples,
            "test": self.test.num_samples,
            "loss": self.loss,
            "source": self.source,
        }


def _shape_text(array) -> str:
    if isinstance(array, dict):
        return ", ".join(f"{key} {tuple(value.shape[1:])}" for key, value in array.items())
    return str(tuple(np.shape(array)[1:]))


@dataclass(frozen=True)
class TaskEntry:
    """A registered task: its factory and what to show before building it."""

    name: str
    variety: str
    factory: Callable[..., Task]
    description: str
    source: str

    def option_names(self) -> list[str]:
        return [name for name in inspect.signature(self.factory).parameters]


_REGISTRY: dict[str, TaskEntry] = {}


def register_task(name: str, variety: str, description: str, source: str = "generated (seeded)"):
    """Decorator that registers a task factory under `name`.

    The factory takes keyword options (always including `seed`) and returns a `Task`.

    Example:

    ```python
    @register_task("adding", "many_to_one", "The adding problem ...")
    def make_adding(timesteps=50, num_samples=2000, seed=0) -> Task: ...
    ```
    """

    def decorate(factory):
        _REGISTRY[name] = TaskEntry(name, variety, factory, description, source)
        return factory

    return decorate


def _load_builtin_tasks() -> None:
    for module in _BUILTIN_TASK_MODULES:
        importlib.import_module(module)


def task_names() -> list[str]:
    """Returns the registered task names, sorted."""
    _load_builtin_tasks()
    return sorted(_REGISTRY)


def get_task_entry(name: str) -> TaskEntry:
    """Returns the registry entry for `name`, or raises a `DataError` listing the names."""
    _load_builtin_tasks()
    if name not in _REGISTRY:
        raise DataError(
            f"Invalid value for `task`: got {name!r}; expected one of {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def get_task(name: str, seed: int = 0, **options) -> Task:
    """Builds the task registered as `name`.

    Args:
        name: A registered task name (see `task_names()` or `rnnkit tasks`).
        seed: Seed of the generator or of the split; same seed, same arrays.
        **options: The task's own options (e.g. `timesteps` for the adding problem).

    Returns:
        A `Task`.
    """
    entry = get_task_entry(name)
    accepted = entry.option_names()
    for key in options:
        if key not in accepted:
            raise ConfigError(
                f"Unknown option `{key}` for task {name!r}; accepted: {', '.join(accepted)}."
            )
    return entry.factory(seed=seed, **options)


def list_tasks():
    """Returns a pandas DataFrame of registered tasks: name, variety, description, source."""
    import pandas as pd

    _load_builtin_tasks()
    rows = [
        {"name": e.name, "variety": e.variety, "description": e.description, "source": e.source}
        for e in sorted(_REGISTRY.values(), key=lambda entry: entry.name)
    ]
    return pd.DataFrame(rows, columns=["name", "variety", "description", "source"])


def replace_splits(task: Task, **changes) -> Task:
    """Returns a copy of `task` with some fields replaced (e.g. shrunk splits)."""
    return dataclasses.replace(task, **changes)
