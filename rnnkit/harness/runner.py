"""Runs a comparison grid, isolating failures, resuming on restart.

`compare` is the kit's main job: expand a grid, check everything, take the folder's
lock, then hand the runs to an executor (`rnnkit.harness.executors`: this process,
local worker processes, or Ray) and store each run as its outcome arrives; then write
the tables and the verdict. Figures and the report are drawn from the store by
`rnnkit.report.build_report`. A run that raises or whose loss turns NaN is recorded
with its status and traceback and the grid goes on; a bad grid setting stops
everything before the first run. Started again on the same folder, finished runs are
skipped.

Example:

```python
results = compare({"tasks": ["adding"], "cells": ["lstm", "gru"],
                   "model": {"units": 8}, "train": {"epochs": 2}}, "runs/demo")
results[["label", "status", "best_val_loss"]]
```
"""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from rnnkit.checks import invalid
from rnnkit.errors import ConfigError
from rnnkit.harness import store
from rnnkit.harness.executors import (
    InProcessExecutor,
    ProcessExecutor,
    RayExecutor,
    RunOutcome,
    TaskCache,
    auto_workers,
    check_workers,
    train_run,
)
from rnnkit.harness.grid import RunConfig, expand_grid, load_grid
from rnnkit.harness.lock import store_lock
from rnnkit.harness.resources import (
    check_run_memory,
    check_task_memory,
    memory_limit,
    run_memory_parts,
)
from rnnkit.training.metrics import confusion_matrix
from rnnkit.training.result import STATUS_FAILED, RunResult

# Above this many classes a confusion matrix is unreadable; it is not drawn.
MAX_CONFUSION_CLASSES = 30
# Test samples predicted for a run's prediction figure.
PREDICTION_SAMPLES = 256


def default_out_dir(prefix: str = "compare") -> Path:
    """Returns `runs/<prefix>-<YYYYmmdd-HHMMSS>` (the .gitignore ignores runs/)."""
    return Path("runs") / f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package (and its HParams API) can be imported."""
    return importlib.util.find_spec("tensorboard") is not None


def _as_runs(grid_or_runs) -> tuple[list[RunConfig], str]:
    """Returns the runs and the grid's YAML text for grid.yaml."""
    if isinstance(grid_or_runs, RunConfig):
        grid_or_runs = [grid_or_runs]
    if isinstance(grid_or_runs, (list, tuple)):
        runs = list(grid_or_runs)
        for run in runs:
            if not isinstance(run, RunConfig):
                raise invalid("grid_or_runs", run, "a grid (path, dict or Grid) or a list of RunConfig")
        listed = [{"label": run.label, **run.to_dict()} for run in runs]
        text = "# An explicit list of runs (not a grid).\n" + yaml.safe_dump({"runs": listed}, sort_keys=False)
        return runs, text
    grid = load_grid(grid_or_runs)
    return expand_grid(grid), grid.to_yaml()


def _environment(runs: list[RunConfig]) -> dict:
    try:
        from rnnkit.training.environment import collect_environment

        environment = collect_environment()
    except ImportError:  # The training package is optional for a store-only use.
        import platform
        import sys

        environment = {"python": sys.version.split()[0], "platform": platform.platform()}
    environment.pop("seed", None)
    environment["seeds"] = sorted({run.seed for run in runs})
    environment["date"] = datetime.now().astimezone().isoformat(timespec="seconds")
    return environment


class _TaskCache(TaskCache):
    """Builds each distinct (task, options) once; runs of a grid share the arrays.

    Before a task's data is generated, its size is estimated and checked against the
    memory limit (see `rnnkit.harness.resources`).
    """

    def __init__(self, max_memory="auto"):
        super().__init__()
        self.limit = memory_limit(max_memory)

    def get(self, run: RunConfig):
        if self.key(run) not in self._tasks:
            check_task_memory(run.task, run.task_options, self.limit)
        return super().get(run)


def compare(
    grid_or_runs,
    out_dir=None,
    *,
    verbose: int = 0,
    progress: bool = True,
    run_fn=None,
    tensorboard: bool = False,
    retry_failed: bool = False,
    figures: bool = True,
    max_memory="auto",
    workers=1,
    ray=None,
    backend: str | None = None,
    cpus_per_run: float = 1,
    gpus_per_run: float = 0,
) -> pd.DataFrame:
    """Runs every configuration of a grid and stores results, tables and figures.

    Args:
        grid_or_runs: A grid (YAML path, dict or `Grid`) or a list of `RunConfig`.
        out_dir: The comparison folder; default `runs/compare-<timestamp>`. Started
            again on the same folder, finished runs are skipped.
        verbose: Keras's epoch progress (0 silent, 1 bar, 2 one line per epoch).
        progress: Show a progress bar over runs (runs done, the last one's label,
            elapsed, ETA).
        run_fn: The training function, `run_fn(spec, task, config, *, verbose,
            callbacks, gradient_flow) -> RunResult`; default
            `rnnkit.training.fit.run_experiment`. Tests pass a fake one. With worker
            processes it must be a module-level function (it travels by pickle).
        tensorboard: Also write TensorBoard logs and an HParams summary under
            `out_dir/tensorboard` (needs the `tensorboard` package).
        retry_failed: Run again the runs recorded as failed (default: keep them).
        figures: Store each run's test predictions for its figures (drawn later by
            `rnnkit.report.build_report`, which `rnnkit compare` calls).
        max_memory: The memory a run may need (data arrays, parameters with their
            gradients and optimizer slots, one batch of activations), estimated before
            its data or model is built: "auto" (default) for 80% of the memory available
            now, a number of bytes, a size such as "8G", or None for no limit.
        workers: 1 (default) trains every run in this process, one after another; N > 1
            trains them in N local worker processes, the cores shared out between them;
            "auto" chooses from the cores, the runs to do and the memory
            (`rnnkit.harness.executors.auto_workers`).
        ray: None (default) for no Ray; "local" (or True) for a new local Ray; a
            cluster's address ("HOST:PORT", or "auto" for the one `ray start` made on
            this machine): every run becomes a Ray task there.
        backend: The Keras backend of the runs: None (default) for the one Keras loads
            in this process; "tensorflow" or "jax"; "auto" to choose per run by the
            size of its work (`rnnkit.backend.choose_backend`). In this process (one
            worker) the backend cannot change once Keras is loaded.
        cpus_per_run: With Ray: the CPUs each run reserves (and its thread limit).
        gpus_per_run: With Ray: the GPUs each run reserves; a fraction such as 0.25
            lets four small runs share one GPU.

    Returns:
        The results table (also written as `out_dir/results.csv`), one row per run
        of the grid in grid order.

    Raises:
        RnnkitError: Before anything is written, for a bad grid, task option, data file,
            folder, worker count, Ray address, or a run above `max_memory`.
            `StoreLockedError` when another process writes the same folder (see
            `rnnkit.harness.lock`).
    """
    # Validate everything first: grid, options, data files, sizes, the folder. A refused
    # call writes nothing, so an existing store stays byte-for-byte as it was.
    runs, grid_text = _as_runs(grid_or_runs)
    if tensorboard and not tensorboard_available():
        raise ConfigError(
            "Invalid value for `tensorboard`: got True; the `tensorboard` package is not installed "
            "(TensorBoard logs and its HParams API need it: `pip install tensorboard`)."
        )
    workers = check_workers(workers)
    if backend is not None:
        from rnnkit.backend import CHOICES
        from rnnkit.checks import check_choice

        backend = check_choice("backend", backend, CHOICES)
    if ray is not None and ray is not False and workers not in (1, "auto"):
        raise invalid("workers", workers, "1 or 'auto' with --ray (Ray decides how many runs run at once)")
    out_dir = store.check_out_dir(out_dir if out_dir is not None else default_out_dir())

    def pending(run: RunConfig) -> bool:
        status = store.read_status(out_dir, run.run_id)
        return status is None or (retry_failed and status["status"] == STATUS_FAILED)

    # Build every task first: a bad task option, a missing data file or data too large for
    # memory stops the grid before its first run (and before anything is written).
    tasks = _TaskCache(max_memory)
    todo = [run for run in runs if pending(run)]
    largest = 0
    for run in todo:
        check_run_memory(run, tasks.get(run), tasks.limit)
        largest = max(largest, sum(run_memory_parts(run, tasks.get(run)).values()))
    options = {"run_fn": run_fn, "verbose": verbose, "tensorboard": tensorboard, "figures": figures}
    executor = _executor(workers, ray, backend, todo, tasks, largest, options, cpus_per_run, gpus_per_run)
    try:
        environment = _environment(runs, executor)
        with store_lock(out_dir, "rnnkit compare"):
            return _compare_locked(runs, grid_text, out_dir, pending, executor, environment,
                                   progress=progress, tensorboard=tensorboard)
    finally:
        executor.close()


def _executor(workers, ray, backend, todo, tasks, largest, options, cpus_per_run, gpus_per_run):
    """The executor the arguments ask for (Ray is connected here, before anything is written)."""
    from rnnkit.backend import choose_backend, current_backend, resolve_backend, use_backend

    # The backend is decided once, for the runs to do together, whatever the executor: `auto`
    # weighs them as a whole (JAX's compiled steps are shared between the seeds of a
    # configuration, which `choose_backend` counts); None keeps this process's backend.
    if backend == "auto":
        # Ray runs train on a GPU exactly when they reserve one (`ray_task_environment`),
        # on GPUs this machine may not have; local runs on the GPUs this machine shows.
        on_gpu = bool(gpus_per_run) if (ray is not None and ray is not False) else None
        backend = choose_backend(todo, [tasks.get(run) for run in todo], gpu=on_gpu) if todo else None
    elif backend is not None:
        backend = resolve_backend(backend, todo)  # Refuses "jax" when JAX is not installed.

    def backend_of(run):
        return backend or current_backend()

    if ray is not None and ray is not False:
        address = None if ray is True or ray == "local" else str(ray)
        return RayExecutor(address, backend_of, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, tasks=tasks,
                           **options)
    if gpus_per_run:
        raise invalid("gpus_per_run", gpus_per_run, "0 without Ray (GPUs per run are given to Ray tasks: --ray)")
    if workers == "auto":
        workers = auto_workers(len(todo), largest, **_gpus_for_workers(backend or current_backend()))
    if workers == 1:
        if backend is not None:  # This process's backend: set before Keras loads, never switched.
            use_backend(backend)
        return InProcessExecutor(tasks=tasks, **options)
    return ProcessExecutor(workers, backend_of, **options)


def _gpus_for_workers(backend: str) -> dict:
    """The GPUs local workers of `backend` would train on, for `auto_workers`: none unless
    this machine shows a GPU and the backend can use it (`gpu_backends`)."""
    from rnnkit.backend import gpu_backends, visible_gpus
    from rnnkit.harness.resources import gpu_memory

    gpus = visible_gpus()
    if not gpus or backend not in gpu_backends():
        return {}
    return {"gpus": gpus, "gpu_bytes": gpu_memory()}


def _environment(runs: list[RunConfig], executor) -> dict:
    """Versions, device, seeds, date and how the runs were executed (environment.json).

    Worker processes and Ray tasks load Keras themselves, so the driver reads their
    libraries' versions from the installed packages without importing them; each run's
    own environment (backend, device) is in its metrics.json.
    """
    import platform
    import sys

    if isinstance(executor, InProcessExecutor):
        try:
            from rnnkit.training.environment import collect_environment

            environment = collect_environment()
        except ImportError:  # The training package is optional for a store-only use.
            environment = {"python": sys.version.split()[0], "platform": platform.platform()}
    else:
        import importlib.metadata

        def version(package):
            try:
                return importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                return None

        environment = {"python": sys.version.split()[0],
                       **{name: version(name) for name in ("tensorflow", "jax", "keras", "numpy", "pandas")},
                       "platform": platform.platform(), "machine": platform.machine()}
        if isinstance(executor, ProcessExecutor):  # Workers started from here inherit its pages.
            from rnnkit.startup import hugepages_in_use

            environment["huge_pages"] = hugepages_in_use()
    environment.pop("seed", None)
    environment["seeds"] = sorted({run.seed for run in runs})
    environment["date"] = datetime.now().astimezone().isoformat(timespec="seconds")
    environment.update(executor.describe())
    return environment


def _compare_locked(runs, grid_text, out_dir, pending, executor, environment, *, progress,
                    tensorboard) -> pd.DataFrame:
    """The writing half of `compare`, under the store's lock."""
    todo = [run for run in runs if pending(run)]  # Again, now that no one else writes.
    store.remove_temporary_files(out_dir)
    store.write_text(out_dir / store.GRID_FILE, grid_text)
    started = store.load_environment(out_dir).get("date")
    if started:  # A resumed comparison keeps the date it was first started.
        environment["resumed"], environment["date"] = environment["date"], started
    store.write_json(out_dir / store.ENVIRONMENT_FILE, environment)
    hparams = hparams_names(runs) if tensorboard else ()
    if tensorboard and todo:
        _write_hparams_config(out_dir, hparams)
    devices: set[str] = set()
    try:
        _run_all(runs, todo, executor, out_dir, progress, hparams, devices)
    finally:
        # Also on Ctrl-C: stop the workers first, then the tables describe every run
        # finished so far, and the environment says how they were executed.
        executor.close()
        environment.update(executor.describe())
        if devices and "device" not in environment:  # Workers' devices, as their runs recorded them.
            environment["device"] = ", ".join(sorted(devices))
        store.write_json(out_dir / store.ENVIRONMENT_FILE, environment)
        tables = store.write_tables(out_dir, [run.run_id for run in runs])
    # Figures and the report are the report stage's job (`rnnkit.report.build_report`),
    # drawn from the stored files alone: the harness never imports the report.
    return tables["results"]


def _run_all(runs, todo, executor, out_dir, progress, hparams, devices: set) -> None:
    from tqdm.auto import tqdm

    done = len(runs) - len(todo)
    with tqdm(total=len(runs), initial=done, unit="run", disable=not progress, dynamic_ncols=True) as bar:
        if todo:
            bar.set_description(f"runs done {done}/{len(runs)}")
        for outcome in executor.outcomes(todo):  # In the order they finish.
            store_outcome(out_dir, outcome, hparams)
            if (outcome.result.environment or {}).get("device"):
                devices.add(str(outcome.result.environment["device"]))
            done += 1
            bar.set_description(f"runs done {done}/{len(runs)}, last {outcome.run.label}")
            bar.update(1)


def store_outcome(out_dir, outcome: RunOutcome, hparams=()) -> None:
    """Writes what one run produced: TensorBoard files, the HParams record, then the run (status last)."""
    run, result = outcome.run, outcome.result
    for name, data in outcome.tensorboard_files.items():
        path = Path(out_dir) / "tensorboard" / run.run_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = store.temporary_path(path)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    if hparams:
        _write_hparams(out_dir, run, result, hparams)
    timings = {"run_seconds": outcome.run_seconds}
    store.write_run(out_dir, run, result, param_table=outcome.param_table, predictions=outcome.predictions,
                    extra_timings=timings)


def execute(run: RunConfig, task, out_dir, *, run_fn=None, verbose: int = 0,
            tensorboard: bool = False, hparams=None, figures: bool = True) -> RunResult:
    """Trains one run on a built task in this process and stores it (see `compare`).

    Args:
        run: The run configuration.
        task: Its `Task` (already built).
        out_dir: The comparison folder.
        run_fn: The training function (see `compare`).
        verbose: Keras's epoch progress.
        tensorboard: Write TensorBoard logs for this run.
        hparams: The hyperparameter names to record for TensorBoard's HParams
            dashboard; default `hparams_names([run])`.
        figures: Store the run's test predictions for its figures.

    Returns:
        The `RunResult` (its `model` released after storing).
    """
    outcome = train_run(run, task, run_fn=run_fn, verbose=verbose, tensorboard=tensorboard, figures=figures)
    store_outcome(out_dir, outcome, (hparams or hparams_names([run])) if tensorboard else ())
    return outcome.result


def param_table_of(result: RunResult):
    """The per-layer parameter table of a run's model, or None without a model."""
    if result.model is None:
        return None
    from rnnkit.params import param_table

    return param_table(result.model)


def held_out_predictions(result: RunResult, task):
    """The trainer's test predictions, or (for a `run_fn` that returns only the model) new ones."""
    if result.predictions is not None:
        return result.predictions
    if result.model is None or task.variety == "seq2seq":
        return None
    return result.model.predict(task.test.x[:PREDICTION_SAMPLES], verbose=0)


def predictions_record(task, y_pred) -> dict | None:
    """Test-set predictions to plot later: values (regression) or a confusion matrix.

    Args:
        task: The run's task.
        y_pred: The model's outputs on the first rows of `task.test`, in order (the
            trainer's own test predictions, so nothing is predicted twice), or None.

    Returns:
        {"kind": "regression", "y_true": [...], "y_pred": [...]} with the first 100
        samples' values, or the first 4 sequences as 4 rows; {"kind": "classification",
        "matrix": [[...]], "labels": [...]} over up to 256 test samples (padding left
        out); or None without predictions, for seq2seq (its teacher-forced predictions
        would flatter the model; the trainer's decoded samples show it instead) and for
        more than 30 classes.
    """
    num_classes = task.output_spec.dim
    if y_pred is None or task.variety == "seq2seq":
        return None
    if task.output_spec.kind != "regression" and num_classes > MAX_CONFUSION_CLASSES:
        return None
    count = min(PREDICTION_SAMPLES, len(y_pred))
    y_true = np.asarray(task.test.y[:count])
    y_pred = np.asarray(y_pred[:count])
    if task.output_spec.kind == "regression":
        # Sequences: the first 4 samples, each its own curve; one value per sample: 100.
        shown = 4 if y_true.ndim > 2 else 100
        truth, predicted = y_true[:shown], y_pred.reshape(y_true.shape)[:shown]
        shape = (len(truth), -1) if y_true.ndim > 2 else (-1,)
        return {"kind": "regression", "y_true": truth.reshape(shape), "y_pred": predicted.reshape(shape)}
    predicted = y_pred.argmax(axis=-1)
    keep = np.ones(y_true.shape, dtype=bool)
    if task.test.sample_weight is not None:
        keep = np.asarray(task.test.sample_weight[:count]) > 0
    matrix = confusion_matrix(y_true[keep], predicted[keep], num_classes)
    vocab = task.target_vocab
    labels = list(vocab.id_to_token) if vocab is not None and len(vocab) == num_classes else [
        str(index) for index in range(num_classes)
    ]
    return {"kind": "classification", "matrix": matrix, "labels": labels}


def run_single(run: RunConfig, out_dir=None, *, verbose: int = 0, run_fn=None,
               tensorboard: bool = False, max_memory="auto") -> pd.DataFrame:
    """Trains one configuration into its own comparison folder (for `rnnkit train`).

    Args:
        run: The run configuration.
        out_dir: The folder; default `runs/train-<timestamp>`.
        verbose: Keras's epoch progress.
        run_fn: The training function (see `compare`).
        tensorboard: Write TensorBoard logs and the HParams summary.
        max_memory: The memory limit (see `compare`).

    Returns:
        The one-row results table.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir("train")
    return compare([run], out_dir, verbose=verbose, progress=False, run_fn=run_fn,
                   tensorboard=tensorboard, retry_failed=True, max_memory=max_memory)


# ----------------------------------------------------------------------------- TensorBoard


def _hparams_values(run: RunConfig) -> dict:
    values = {"task": run.task, "cell": run.cell_name, "variety": run.model.variety, "seed": run.seed}
    for group, settings in (("model", run.model.to_dict()), ("train", run.train.to_dict())):
        for key, value in settings.items():
            if key not in values and key not in ("cell", "variety", "name"):
                # HParams accept str, bool, int and float; None becomes "None".
                values[key] = value if isinstance(value, (str, bool, int, float)) else str(value)
    for key, value in run.task_options.items():
        values[f"task_{key}"] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return values


# The metrics of the HParams dashboard: losses, the held-out metrics at the selected epoch
# (the compiled ones of each task kind) and the test metrics of every task kind.
_HPARAMS_METRICS = (
    "final_loss", "final_val_loss", "best_val_loss", "best_val_mae", "best_val_accuracy",
    "test_loss", "test_mse", "test_mae", "test_accuracy", "test_perplexity", "test_token_accuracy",
    "test_exact_match",
)
_HPARAMS_ALWAYS = ("task", "cell", "variety", "units", "seed")


def hparams_names(runs: list[RunConfig]) -> tuple[str, ...]:
    """The hyperparameters worth a column in TensorBoard: the core ones and those that vary."""
    values = [_hparams_values(run) for run in runs]
    names = list(dict.fromkeys(name for row in values for name in row))
    return tuple(
        name for name in names
        if name in _HPARAMS_ALWAYS or len({repr(row.get(name)) for row in values}) > 1
    )


def _write_hparams_config(out_dir, names) -> None:
    """Declares the grid's hyperparameters and metrics for TensorBoard's HParams dashboard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(Path(out_dir) / "tensorboard")).as_default():
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in names],
            metrics=[hp.Metric(name) for name in _HPARAMS_METRICS],
        )


def _hparams_scores(result: RunResult) -> dict:
    """The run's numbers for the HParams dashboard (see `_HPARAMS_METRICS`)."""
    history = result.history if isinstance(result.history, pd.DataFrame) else pd.DataFrame()
    scores = {}
    if len(history) and "loss" in history:
        scores["final_loss"] = float(history["loss"].iloc[-1])
    if len(history) and "val_loss" in history:
        scores["final_val_loss"] = float(history["val_loss"].iloc[-1])
        selected = store.selected_epoch(history, result.selected_epoch)
        for name in ("val_loss", "val_mae", "val_accuracy"):
            if name in history and selected:
                scores[f"best_{name}"] = float(history[name].iloc[selected - 1])
    for name, value in (result.metrics or {}).items():
        if f"test_{name}" in _HPARAMS_METRICS and isinstance(value, (int, float)):
            scores[f"test_{name}"] = float(value)
    return {name: value for name, value in scores.items() if np.isfinite(value)}


def _write_hparams(out_dir, run: RunConfig, result: RunResult, names) -> None:
    """Writes the run's hyperparameters, held-out and test metrics and its end status.

    The trial is named by the run's label, so the dashboard reads like the report; the
    session ends with SUCCESS for a finished run and FAILURE otherwise.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hparams_summary

    scores = _hparams_scores(result)
    steps = len(result.history) if isinstance(result.history, pd.DataFrame) else 0
    log_dir = Path(out_dir) / "tensorboard" / run.run_id / "hparams"
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        values = _hparams_values(run)
        hp.hparams({name: values[name] for name in names if name in values}, trial_id=run.label or run.run_id)
        for name, value in scores.items():
            tf.summary.scalar(name, value, step=steps)
        status = api_pb2.STATUS_SUCCESS if result.ok else api_pb2.STATUS_FAILURE
        end = hparams_summary.session_end_pb(status)
        tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=steps)
