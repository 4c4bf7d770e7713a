"""Comparison grids: what to run, expanded into run configurations with stable ids.

A grid names tasks, cells, model and training settings and seeds; every list is swept
(the Cartesian product), every scalar is held fixed. It comes from a YAML file, a
dict, or the CLI flags of `rnnkit compare`:

```yaml
tasks:                                   # names, or {name, options} mappings
  - adding
  - {name: copy, options: {timesteps: 10}}
cells: [simple_rnn, lstm, gru]
varieties: [task, one_to_one]            # optional; "task" is the task's own variety
model: {units: [8, 16], num_layers: 1}   # ModelSpec fields; lists are swept
train: {epochs: 3, learning_rate: 3.0e-3, clipnorm: [null, 1.0]}   # TrainConfig fields
seeds: [0, 1]                            # TrainConfig.seed (initialisation, shuffling)
match_params: 2000                       # optional: units per cell giving ~2000 parameters
select: [learning_rate]                  # optional: chosen per configuration on validation
```

Rules of the expansion (so that the same grid always names the same runs):

- A variety applies to a task when it is the task's own variety, or when it is
  `one_to_one` and the task is `many_to_one` (the non-sequence baseline on the
  flattened window). Other (task, variety) pairs are skipped; a variety that applies
  to no task of the grid is an error.
- A one_to_one model is a multilayer perceptron: recurrent-only settings (cell,
  bidirectional, recurrent_dropout, ...) are reset to their defaults for it, so it runs
  once per remaining combination, not once per cell.
- Cell-specific options apply only where they fit: `unit_forget_bias` to `lstm`,
  `reset_after` to `gru`.
- The task's data seed is the task option `seed` (default 0), the same for every
  run, so that cells are compared on the same data; `seeds` vary the model.
- With `match_params: N`, every model's `units` is replaced by the size whose total
  parameter count is closest to N (per cell, variety and task; see
  `rnnkit.harness.budget`); a budget missed by more than 10% is refused.
- `select` names swept settings that the verdict chooses per configuration on
  validation loss (see `rnnkit.harness.verdict.select_configurations`); it does not
  change which runs exist.
- `model.stateful: true` needs `train.shuffle: false` (a stateful model's batches keep
  their order; a grid that says otherwise is refused rather than recorded untruthfully).
- Duplicate configurations are dropped; the order is tasks, varieties, cells, model
  settings, training settings, seeds.

Example:

>>> grid = load_grid({"tasks": ["adding"], "cells": ["lstm", "gru"], "model": {"units": 4}})
>>> [run.label for run in expand_grid(grid)]
['adding lstm u4 L1 seed0', 'adding gru u4 L1 seed0']
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rnnkit.checks import check_choice, check_non_negative_int, check_positive_int, invalid
from rnnkit.config import CELLS, VARIETIES, ModelSpec, TrainConfig
from rnnkit.data.tasks import get_task_entry, task_names
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.models.cells import cell_only_options

GRID_KEYS = ("tasks", "cells", "varieties", "model", "train", "seeds", "match_params", "select")
TASK_VARIETY = "task"  # In `varieties`: the variety each task was made for.

# Settings a grid sets through its own top-level keys, not inside `model` / `train`.
_REDIRECTED = {"model.cell": "cells", "model.variety": "varieties", "train.seed": "seeds"}
_MODEL_KEYS = tuple(f.name for f in dataclasses.fields(ModelSpec) if f.name not in ("cell", "variety", "name"))

# Settings that mean nothing for a one_to_one multilayer perceptron.
_RECURRENT_ONLY = (
    "cell", "bidirectional", "merge_mode", "recurrent_dropout", "unroll", "go_backwards",
    "recurrent_initializer", "unit_forget_bias", "reset_after", "context", "stateful",
)


def _train_keys() -> tuple[str, ...]:
    # Read at call time: TrainConfig may gain fields.
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed")


@dataclass(frozen=True)
class RunConfig:
    """One run of a grid: a task (with its options), a model spec and a training config.

    Attributes:
        task: The registered task name.
        task_options: Options passed to `get_task` (may include the data `seed`).
        model: The `ModelSpec` to build.
        train: The `TrainConfig` to train with; `train.seed` is the run's seed.
        label: A readable name such as "adding lstm u32 L1 seed0" (not part of the id).
    """

    task: str
    task_options: dict
    model: ModelSpec
    train: TrainConfig
    label: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        """Returns the configuration as a plain dict (the content of config.json)."""
        return {
            "task": self.task,
            "task_options": dict(self.task_options),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict, label: str = "") -> RunConfig:
        """Builds a run configuration from `to_dict` output (e.g. a stored config.json)."""
        return cls(
            task=values["task"],
            task_options=dict(values.get("task_options") or {}),
            model=ModelSpec.from_dict(values["model"]),
            train=TrainConfig.from_dict(values["train"]),
            label=label or values.get("label", ""),
        )

    @property
    def run_id(self) -> str:
        """A short stable id: the hash of the canonical JSON of `to_dict()`."""
        return _short_hash(self.to_dict())

    @property
    def config_id(self) -> str:
        """The id shared by runs that differ only in their seed (for summaries over seeds)."""
        values = self.to_dict()
        del values["train"]["seed"]
        return _short_hash(values)

    @property
    def seed(self) -> int:
        return self.train.seed

    @property
    def cell_name(self) -> str:
        """The cell, or "mlp" for the one_to_one baseline, which has no cell."""
        from rnnkit.harness.store import cell_name

        return cell_name(self.model.to_dict())

    @property
    def config_label(self) -> str:
        """The label without its seed, naming the configuration that seeds repeat."""
        return re.sub(r" seed\d+$", "", self.label or default_label(self))


def _short_hash(values: dict) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:10]


def default_label(run: RunConfig, swept: tuple[str, ...] = ()) -> str:
    """Builds a readable label: task, cell, units, layers, swept settings, seed.

    Args:
        run: The run configuration.
        swept: Dotted setting names ("train.learning_rate", "task.timesteps") that vary
            in the grid; they are added as `name=value` so that labels stay distinct.

    Returns:
        A label such as "adding lstm u8 L1 bi activation=relu learning_rate=0.01 seed0":
        task, cell, units, layers, every model field that differs from its default,
        then the swept training settings and task options, then the seed. `L` is
        `num_layers`: stacked recurrent layers for a cell, hidden Dense layers for the
        one_to_one MLP ("adding mlp u16 L2 seed0" has two). Labels are not part of
        `run_id` or `config_id`, so rewording them leaves stored runs resumable.
    """
    parts = [run.task, run.cell_name]
    if run.model.variety not in ("one_to_one", _task_variety(run.task)):
        parts.append(run.model.variety)
    parts += [f"u{run.model.units}", f"L{run.model.num_layers}"]
    if run.model.bidirectional:
        parts.append("bi")
    shown = {"model.units", "model.num_layers", "model.bidirectional", "variety", "cell"}
    # Every model field that differs from its default is named, swept or not, so that
    # (say) an IRNN is never labelled as a plain simple_rnn.
    defaults = ModelSpec()
    for key in _MODEL_KEYS:
        name = f"model.{key}"
        value = getattr(run.model, key)
        if name in shown or not _applies(key, run) or value == getattr(defaults, key):
            continue
        parts.append(f"{key}={value}")
        shown.add(name)
    for name in swept:
        if name in shown:
            continue
        group, _, key = name.partition(".")
        if group == "task" and key not in run.task_options:
            continue
        if group == "model" and not _applies(key, run):
            continue
        if group == "model":
            value = getattr(run.model, key)
        elif group == "train":
            value = getattr(run.train, key)
        else:
            value = run.task_options.get(key)
        parts.append(f"{key}={value}")
    parts.append(f"seed{run.seed}")
    return " ".join(parts)


def _applies(key: str, run: RunConfig) -> bool:
    """Whether model setting `key` means something for this run's cell and variety."""
    if run.model.variety == "one_to_one" and key in _RECURRENT_ONLY:
        return False
    return cell_only_options().get(key, run.model.cell) == run.model.cell


def _task_variety(name: str) -> str | None:
    try:
        return get_task_entry(name).variety
    except RnnkitError:
        return None


@dataclass(frozen=True)
class TaskChoice:
    """A task of a grid: its name and its options (list values are swept)."""

    name: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """A validated grid. Build it with `load_grid`; expand it with `expand_grid`.

    Attributes:
        tasks: The tasks, each with its options.
        cells: Cell names.
        varieties: Varieties to build, or ("task",) for each task's own variety.
        model: ModelSpec field -> tuple of values to sweep.
        train: TrainConfig field -> tuple of values to sweep.
        seeds: Run seeds.
    """

    tasks: tuple[TaskChoice, ...]
    cells: tuple[str, ...] = field(default_factory=lambda: tuple(CELLS))
    varieties: tuple[str, ...] = (TASK_VARIETY,)
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    match_params: int | None = None
    select: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Returns the grid in the YAML format `load_grid` reads (for grid.yaml)."""

        def plain(values: dict) -> dict:
            return {k: (list(v) if len(v) > 1 else v[0]) for k, v in values.items()}

        tasks = []
        for task in self.tasks:
            options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in task.options.items()}
            tasks.append({"name": task.name, "options": options} if options else task.name)
        return {
            "tasks": tasks,
            "cells": list(self.cells),
            "varieties": list(self.varieties),
            "model": plain(self.model),
            "train": plain(self.train),
            "seeds": list(self.seeds),
            **({"match_params": self.match_params} if self.match_params is not None else {}),
            **({"select": list(self.select)} if self.select else {}),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


class _GridLoader(yaml.SafeLoader):
    """A YAML loader that also reads `1e-3` as a float (YAML 1.1 wants `1.0e-3`)."""


_GridLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_value(text: str, name: str):
    """Reads one value the way grid files are read (`1e-3` is a float, `[1, 2]` a list).

    Args:
        text: The value as typed, e.g. on the command line.
        name: The argument's name for the message ("--option timesteps").

    Returns:
        The YAML value.
    """
    try:
        return yaml.load(text, Loader=_GridLoader)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise invalid(name, text, f"a YAML value such as 20, 1e-3, true or [10, 20] ({problem})") from None


def load_grid(source) -> Grid:
    """Reads and validates a grid from a YAML file, a YAML string path, a dict or a Grid.

    Args:
        source: A path to a YAML file, a dict in the grid format, or a `Grid`.

    Returns:
        A validated `Grid`. Every setting is checked here, so that a bad value stops
        a comparison before its first run.

    Example:

    >>> load_grid({"tasks": ["adding"], "cells": ["elman"]})
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: Invalid value for `cells`: got 'elman'; expected one of ...
    """
    if isinstance(source, Grid):
        return source
    if isinstance(source, (str, Path)):
        source = _read_yaml(Path(source))
    if not isinstance(source, dict):
        raise invalid("grid", source, "a mapping with keys tasks, cells, model, train, seeds")
    for key in source:
        if key not in GRID_KEYS:
            raise ConfigError(f"Unknown grid key `{key}`; accepted: {', '.join(GRID_KEYS)}.")
    tasks = _check_tasks(source.get("tasks"))
    cells = tuple(_check_list("cells", source.get("cells", list(CELLS)), CELLS))
    varieties = tuple(
        _check_list("varieties", source.get("varieties", [TASK_VARIETY]), (TASK_VARIETY, *VARIETIES))
    )
    model = _check_settings("model", source.get("model") or {}, _MODEL_KEYS, ModelSpec)
    train = _check_settings("train", source.get("train") or {}, _train_keys(), TrainConfig)
    seeds = tuple(
        check_non_negative_int("seeds", seed) for seed in _as_list("seeds", source.get("seeds", [0]))
    )
    match_params = source.get("match_params")
    if match_params is not None:
        match_params = check_positive_int("match_params", match_params)
        if "units" in model and len(model["units"]) > 1:
            raise ConfigError("Grid settings `match_params` and a list of `model.units` exclude each other: "
                              "with a parameter budget the units are chosen per cell.")
    if True in model.get("stateful", ()) and True in train.get("shuffle", (True,)):
        raise ConfigError(
            "Grid settings `model.stateful: true` and `train.shuffle: true` (the default) exclude each other: "
            "a stateful model carries its state from one batch to the next, so the batches keep their order; "
            "add `shuffle: false` to `train` (rnnkit train: --train shuffle=false)."
        )
    select = tuple(_check_select(source.get("select"), model, train))
    grid = Grid(tasks, cells, varieties, model, train, seeds, match_params, select)
    _check_varieties_apply(grid)
    for option, cell in cell_only_options().items():
        if option in model and cell not in cells:
            raise ConfigError(
                f"Grid setting `model.{option}` applies to cell {cell!r} only, which `cells` does not include."
            )
    return grid


def read_grid_file(path) -> dict:
    """Reads a grid YAML file into a dict (not validated; `load_grid` validates).

    `1e-3` reads as a float (plain YAML 1.1 would read a string). A missing file or a
    YAML syntax error raises a `ConfigError` naming the file.
    """
    return _read_yaml(Path(path))


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise invalid("grid", str(path), "an existing YAML file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_GridLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problem = " ".join(str(error).split())
        raise ConfigError(f"Cannot read grid file {str(path)!r}: {problem}") from None


def _check_select(value, model: dict, train: dict) -> list:
    if value is None:
        return []
    swept = [key for key, values in {**model, **train}.items() if len(values) > 1]
    names = _as_list("select", value)
    for name in names:
        if name not in swept:
            raise invalid("select", name, f"a setting the grid sweeps ({', '.join(swept) or 'none is swept'})")
    return list(dict.fromkeys(names))


def _as_list(name: str, value) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise invalid(name, value, "a value or a non-empty list of values")
    return values


def _check_list(name: str, value, choices) -> list:
    values = _as_list(name, value)
    for item in values:
        check_choice(name, item, choices)
    return list(dict.fromkeys(values))  # Drops repeats, keeps order.


def _check_tasks(value) -> tuple[TaskChoice, ...]:
    if value is None:
        raise invalid("tasks", value, "a non-empty list of task names or {name, options} mappings")
    names = task_names()
    tasks = []
    for item in _as_list("tasks", value):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            raise invalid("tasks", item, "a task name or a mapping with `name` and optional `options`")
        for key in item:
            if key not in ("name", "options"):
                raise ConfigError(f"Unknown key `{key}` in a `tasks` entry; accepted: name, options.")
        name = item["name"]
        check_choice("tasks", name, names)
        options = item.get("options") or {}
        if not isinstance(options, dict):
            raise invalid(f"tasks.{name}.options", options, "a mapping of task options")
        accepted = get_task_entry(name).option_names()
        for key, option in options.items():
            if key not in accepted:
                raise ConfigError(
                    f"Unknown option `{key}` for task {name!r} in `tasks`; accepted: {', '.join(accepted)}."
                )
            _as_list(f"tasks.{name}.options.{key}", option)
        swept = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in options.items()}
        tasks.append(TaskChoice(name, swept))
    return tuple(tasks)


def _check_settings(group: str, values, accepted, settings_class) -> dict:
    if not isinstance(values, dict):
        raise invalid(group, values, f"a mapping of {settings_class.__name__} settings")
    checked = {}
    for key, value in values.items():
        if f"{group}.{key}" in _REDIRECTED:
            raise ConfigError(
                f"Grid setting `{group}.{key}` is set by the top-level grid key `{_REDIRECTED[f'{group}.{key}']}`."
            )
        if key not in accepted:
            raise ConfigError(f"Unknown setting `{key}` in `{group}`; accepted: {', '.join(accepted)}.")
        options = _as_list(f"{group}.{key}", value)
        for option in options:
            # Each value alone must make valid settings; the message names the field.
            owner = cell_only_options().get(key)
            extra = {"cell": owner} if owner else {}
            settings_class(**extra, **{key: _normalise(settings_class, key, option)})
        checked[key] = tuple(dict.fromkeys(_normalise(settings_class, key, o) for o in options))
    return checked


def _normalise(settings_class, key: str, value):
    # 1 and 1.0 must name the same run: float fields store floats.
    types = {f.name: str(f.type) for f in dataclasses.fields(settings_class)}
    if "float" in types.get(key, "") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _variety_applies(variety: str, task_variety: str) -> bool:
    if variety == TASK_VARIETY:
        return True
    return variety == task_variety or (variety == "one_to_one" and task_variety == "many_to_one")


def _check_varieties_apply(grid: Grid) -> None:
    task_varieties = {task.name: get_task_entry(task.name).variety for task in grid.tasks}
    for variety in grid.varieties:
        if not any(_variety_applies(variety, tv) for tv in task_varieties.values()):
            listed = ", ".join(f"{name} ({tv})" for name, tv in task_varieties.items())
            raise ConfigError(
                f"Invalid value for `varieties`: got {variety!r}, which applies to none of the grid's "
                f"tasks: {listed}; a variety applies to tasks of that variety, and one_to_one also to many_to_one tasks."
            )


def _product(values: dict) -> list[dict]:
    keys = list(values)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]


def _swept_names(grid: Grid) -> tuple[str, ...]:
    names = [f"model.{k}" for k, v in grid.model.items() if len(v) > 1]
    names += [f"train.{k}" for k, v in grid.train.items() if len(v) > 1]
    for task in grid.tasks:
        names += [f"task.{k}" for k, v in task.options.items() if isinstance(v, tuple) and len(v) > 1]
    return tuple(dict.fromkeys(names))


def _model_spec(cell: str, variety: str, settings: dict) -> ModelSpec:
    settings = dict(settings)
    for option, option_cell in cell_only_options().items():
        if cell != option_cell:
            settings.pop(option, None)
    spec = ModelSpec(cell=cell, variety=variety, **settings)
    if variety == "one_to_one":
        defaults = ModelSpec()
        spec = spec.replace(**{name: getattr(defaults, name) for name in _RECURRENT_ONLY})
    return spec


def expand_grid(grid) -> list[RunConfig]:
    """Expands a grid into its run configurations, in a stable order, without repeats.

    Args:
        grid: A `Grid`, or anything `load_grid` accepts.

    Returns:
        A list of `RunConfig`, each with its `run_id` and `label`.
    """
    grid = load_grid(grid)
    swept = _swept_names(grid)
    runs: dict[str, RunConfig] = {}
    sized = _BudgetSizer(grid.match_params)
    for task in grid.tasks:
        task_variety = get_task_entry(task.name).variety
        option_sweep = {k: (v if isinstance(v, tuple) else (v,)) for k, v in task.options.items()}
        for options in _product(option_sweep):
            for variety in grid.varieties:
                if not _variety_applies(variety, task_variety):
                    continue
                model_variety = task_variety if variety == TASK_VARIETY else variety
                for cell in grid.cells:
                    for model_settings in _product(grid.model):
                        spec = sized(_model_spec(cell, model_variety, model_settings), task.name, options)
                        for train_settings in _product(grid.train):
                            for seed in grid.seeds:
                                config = TrainConfig(seed=seed, **train_settings)
                                run = RunConfig(task.name, options, spec, config)
                                run = dataclasses.replace(run, label=default_label(run, swept))
                                runs.setdefault(run.run_id, run)
    # Never empty: every variety applies to some task, and tasks and cells are non-empty.
    return list(runs.values())


class _BudgetSizer:
    """Replaces a spec's units by the parameter-matched size (no-op without a budget)."""

    def __init__(self, budget: int | None):
        self.budget = budget
        self._tasks = {}
        self._sizes = {}

    def __call__(self, spec: ModelSpec, task_name: str, options: dict) -> ModelSpec:
        if self.budget is None:
            return spec
        from rnnkit.harness.budget import check_budget, match_units

        key = (task_name, json.dumps(options, sort_keys=True), json.dumps(spec.to_dict(), sort_keys=True))
        if key not in self._sizes:
            task_key = key[:2]
            if task_key not in self._tasks:
                from rnnkit.data.tasks import get_task

                settings = dict(options)
                self._tasks[task_key] = get_task(task_name, **settings)
            units, count = match_units(spec, self._tasks[task_key], self.budget)
            what = RunConfig(task_name, options, spec, TrainConfig()).cell_name
            check_budget(self.budget, units, count, f"{what} on {task_name}")
            self._sizes[key] = units
        return spec.replace(units=self._sizes[key])


def default_grid(quick: bool = False) -> Grid:
    """Returns the built-in grid: all three cells on a task of every variety.

    Args:
        quick: The toy-sized version (a few minutes on a 2-core laptop) instead of the
            full one. See `rnnkit.harness.defaults` for both.

    Returns:
        A validated `Grid`.
    """
    from rnnkit.harness.defaults import default_grid_dict

    return load_grid(default_grid_dict(quick))
