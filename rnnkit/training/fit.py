"""Train a model on a task: `train(model, task, config) -> RunResult`, and `run_experiment`.

`train` compiles the model with the task's loss and metrics and the config's optimizer,
fits it with validation data and sample weights, then scores it on the test split with
fair metrics (see `rnnkit.training.metrics`) and collects diagnostics. While it runs,
TensorFlow's retracing notice is hidden: each new model traces its own step functions
once, which the notice miscounts as retracing (see `rnnkit.training.tracing`). A loss that turns
NaN or infinite, or that explodes (above 1000 times the first epoch's), ends the run
with status "diverged" and the history so far; it is not an exception, because in a
comparison grid it is a result.

Example:

```python
task = get_task("adding", timesteps=10, num_samples=200)
result = run_experiment(ModelSpec(cell="gru", units=8), task, TrainConfig(epochs=2))
result.history[["epoch", "loss", "val_loss", "grad_norm"]]
result.metrics["mse"]
```
"""

from __future__ import annotations

import math
import random
import sys
import time

import keras
import numpy as np
import pandas as pd

from rnnkit.backend import share_compilations
from rnnkit.checks import check_bool, invalid
from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import Split, Task
from rnnkit.errors import TrainingError
from rnnkit.training import callbacks as rk_callbacks
from rnnkit.training.baselines import task_baselines
from rnnkit.training.diagnostics import (
    GENERATED_TOKENS,
    probe_batch,
    probe_gradients,
    recurrent_layers,
    sample_outputs,
    saturation,
    spectral_radius,
)
from rnnkit.training.environment import collect_environment
from rnnkit.training.losses import compile_arguments
from rnnkit.training.metrics import (
    _take_rows,
    held_out_metrics,
    prepare_prediction,
    release_prediction,
    task_kind,
)
from rnnkit.training.result import STATUS_DIVERGED, STATUS_OK, RunResult
from rnnkit.training.tracing import retracing_notice_hidden

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """Returns the Keras optimizer `config` names, with its learning rate and clipping."""
    clipping = {
        key: getattr(config, key)
        for key in ("clipnorm", "clipvalue", "global_clipnorm")
        if getattr(config, key, None) is not None
    }
    return _OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate, **clipping)


def expected_output_shape(task: Task) -> tuple:
    """Returns the per-sample output shape a model needs for `task` (targets + class axis)."""
    target_shape = tuple(np.shape(task.train.y)[1:])
    if task.output_spec.kind == "classification":
        return target_shape + (task.output_spec.dim,)
    return target_shape


def check_model_fits_task(model, task: Task) -> None:
    """Raises `TrainingError` naming both shapes when `model` cannot be trained on `task`.

    Checks the inputs (names for seq2seq, rank and sizes otherwise) and the output shape
    against the task's targets, before any training starts.
    """
    x = task.train.x
    if isinstance(x, dict):
        names = sorted(tensor.name.split(":")[0] for tensor in model.inputs)
        if sorted(x) != names:
            raise TrainingError(
                f"Model {model.name!r} has inputs {names} but task {task.name!r} provides {sorted(x)}."
            )
    else:
        if len(model.inputs) != 1:
            raise TrainingError(
                f"Model {model.name!r} has {len(model.inputs)} inputs but task {task.name!r} provides one array."
            )
        expected_in = tuple(np.shape(x)[1:])
        actual_in = tuple(model.inputs[0].shape[1:])
        if not _shapes_fit(actual_in, expected_in):
            raise TrainingError(
                f"Model {model.name!r} takes inputs of shape {('batch',) + actual_in} but task {task.name!r} "
                f"provides {('batch',) + expected_in}."
            )
    expected_out = expected_output_shape(task)
    actual_out = tuple(model.outputs[0].shape[1:])
    if len(model.outputs) != 1 or not _shapes_fit(actual_out, expected_out):
        raise TrainingError(
            f"Model {model.name!r} outputs shape {('batch',) + actual_out} but task {task.name!r} needs "
            f"{('batch',) + expected_out} ({task.output_spec.kind} targets of shape {('batch',) + tuple(np.shape(task.train.y)[1:])})."
        )


def _shapes_fit(actual: tuple, expected: tuple) -> bool:
    if len(actual) != len(expected):
        return False
    return all(a is None or a == e for a, e in zip(actual, expected))


def _is_stateful(model) -> bool:
    return any(getattr(layer, "stateful", False) for layer in recurrent_layers(model))


def _trim_split(split: Split, batch_size: int, name: str) -> Split:
    """Drops the last rows of a split so that every batch of a stateful model is full."""
    usable = (split.num_samples // batch_size) * batch_size
    if usable == 0:
        raise TrainingError(
            f"The {name} split has {split.num_samples} samples, fewer than `batch_size` {batch_size}; "
            "a stateful model needs at least one full batch."
        )
    rows = slice(0, usable)
    weights = None if split.sample_weight is None else split.sample_weight[rows]
    return Split(_take_rows(split.x, rows), split.y[rows], weights)


def _fit_arguments(split: Split) -> dict:
    arguments = {"x": split.x, "y": split.y}
    if split.sample_weight is not None:
        arguments["sample_weight"] = split.sample_weight
    return arguments


def _validation_data(split: Split):
    if split.num_samples == 0:
        return None
    if split.sample_weight is None:
        return (split.x, split.y)
    return (split.x, split.y, split.sample_weight)


def _history_frame(keras_history: dict, logger, probe, radius) -> pd.DataFrame:
    """Builds one row per finished epoch in a fixed column order."""
    epochs = len(logger.rows)
    frame = pd.DataFrame({"epoch": np.arange(1, epochs + 1)})
    train_keys = [key for key in keras_history if not key.startswith("val_")]
    ordered = ["loss"] + [key for key in train_keys if key != "loss"]
    ordered += [f"val_{key}" for key in ordered if f"val_{key}" in keras_history]
    for key in ordered:
        frame[key] = np.asarray(keras_history[key][:epochs], dtype="float64")
    frame["learning_rate"] = [row["learning_rate"] for row in logger.rows]
    frame["epoch_seconds"] = [row["epoch_seconds"] for row in logger.rows]
    frame["grad_norm"] = (probe.values + [np.nan] * epochs)[:epochs] if probe is not None else np.nan
    if radius is not None:
        frame["spectral_radius"] = radius.values[:epochs]
    return frame


def epoch_timings(epoch_seconds) -> dict:
    """Returns the first epoch's seconds and the steady-state seconds per epoch.

    The first epoch also pays for Keras tracing and compiling the training step, often
    several times a later epoch, so it is reported on its own: `seconds_per_epoch` is the
    median of the epochs after the first (the median, so one epoch slowed by another
    process does not move it), or the only epoch when there is one.

    Args:
        epoch_seconds: Wall seconds of each finished epoch, in order.

    Returns:
        {"first_epoch_seconds": float, "seconds_per_epoch": float}; both NaN when no
        epoch finished.

    Example:

    >>> epoch_timings([4.0, 0.5, 0.7, 0.6])
    {'first_epoch_seconds': 4.0, 'seconds_per_epoch': 0.6}
    """
    seconds = np.asarray(epoch_seconds, dtype="float64")
    if seconds.size == 0:
        return {"first_epoch_seconds": math.nan, "seconds_per_epoch": math.nan}
    steady = seconds[1:] if seconds.size > 1 else seconds
    return {"first_epoch_seconds": float(seconds[0]), "seconds_per_epoch": float(np.median(steady))}


@retracing_notice_hidden()
def train(
    model,
    task: Task,
    config: TrainConfig,
    *,
    verbose: int = 0,
    callbacks=None,
    gradient_flow: bool = True,
    probe_size: int | None = None,
) -> RunResult:
    """Trains a built model on a task and returns everything the run produced.

    Args:
        model: A Keras model built for `task` (compiled or not; an uncompiled one is
            compiled here with `task.loss`, `task.metrics` and `config`'s optimizer; the
            sparse cross-entropy and accuracy on JAX as `rnnkit.training.losses` computes them).
        task: The data and what to predict.
        config: Optimizer, learning rate, batch size, epochs, clipping, early stopping.
        verbose: Passed to `model.fit` (0 is silent).
        callbacks: Extra Keras callbacks, run after rnnkit's own.
        gradient_flow: Measure the per-time-step gradient norm before and after training,
            plus final saturation (outside the training loop).
        probe_size: Rows of the fixed probe batch for the per-epoch gradient norm and the
            diagnostics; default `config.batch_size`. A stateful model always uses its
            batch size.

    Returns:
        A `RunResult`; status "ok", or "diverged" with the history up to the bad epoch.
        The model ends with the weights of the epoch with the best validation loss
        (`result.selected_epoch`), and the test metrics are computed with them;
        `result.baselines` holds the task's trivial baselines.

    Raises:
        ConfigError: `config` is not a TrainConfig or an argument is invalid.
        TrainingError: The model does not fit the task (shapes are named).
    """
    if not isinstance(config, TrainConfig):
        raise invalid("config", config, "a rnnkit TrainConfig")
    if not isinstance(task, Task):
        raise invalid("task", task, "a rnnkit Task (see rnnkit.get_task)")
    check_bool("gradient_flow", gradient_flow)
    check_model_fits_task(model, task)
    batch_size = config.batch_size
    stateful = _is_stateful(model)
    train_split, validation_split, test_split = task.train, task.validation, task.test
    if stateful:
        fixed = model.inputs[0].shape[0]
        if fixed is not None and fixed != batch_size:
            raise TrainingError(
                f"Model {model.name!r} is stateful with batch size {fixed}, but `batch_size` is {batch_size}; "
                "build it with the training batch size."
            )
        streams = task.params.get("batch_size")
        if task.params.get("partition") == "sequential" and streams not in (None, batch_size):
            raise TrainingError(
                f"Task {task.name!r} was cut into {streams} sequential streams but `batch_size` is {batch_size}; "
                "use the same batch size for both so each row continues the previous batch's row."
            )
        train_split = _trim_split(train_split, batch_size, "train")
        test_split = _trim_split(test_split, batch_size, "test")
        if validation_split.num_samples:
            validation_split = _trim_split(validation_split, batch_size, "validation")
        probe_size = batch_size
    probe_size = min(probe_size or batch_size, train_split.num_samples)

    share_compilations()  # On JAX: the next model of the same architecture reuses the compiled steps.
    timings = {}
    started = time.perf_counter()
    if not getattr(model, "compiled", False):
        model.compile(optimizer=make_optimizer(config), **compile_arguments(task.loss, task.metrics))
    timings["compile_seconds"] = time.perf_counter() - started

    logger = rk_callbacks.EpochLogger()
    nan_stop = rk_callbacks.StopOnNonFiniteLoss()
    has_recurrent = bool(recurrent_layers(model))
    # One pass gives the gradient norm and the gradient flow; traced once per run when that
    # is cheaper than eager passes (always on JAX, where an eager recurrent pass is slow).
    measure = probe_gradients(model, loss=task.loss, compile=_compile_probe(config.epochs))
    probe = rk_callbacks.GradientNormProbe(*probe_batch(train_split, probe_size), loss=task.loss, measure=measure)
    radius = rk_callbacks.SpectralRadiusRecorder() if has_recurrent else None
    keep_best = rk_callbacks.KeepBestWeights("val_loss")
    fit_callbacks = [logger, probe] + ([radius] if radius else []) + [nan_stop]
    if stateful:
        fit_callbacks.insert(0, rk_callbacks.ResetStatesAtEpochStart())
    validation = _validation_data(validation_split)
    if config.early_stopping_patience is not None:
        fit_callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss" if validation is not None else "loss",
            patience=config.early_stopping_patience,
            restore_best_weights=True,
        ))
    # After early stopping (which may restore too; both pick the best validation loss) and
    # before the user's callbacks, which then see the selected weights.
    fit_callbacks.append(keep_best)
    fit_callbacks += list(callbacks or [])

    diagnostics = {}
    test_probe = probe_batch(test_split, min(probe_size, test_split.num_samples))
    # The probe pass is measured after training, at the weights each moment had: on JAX
    # its compilation then runs in the background while `fit` trains (about 3 s for the
    # LSTM 128 char LM, 1 s for the quick grid's models, otherwise paid before training).
    initial_weights = None
    if gradient_flow and has_recurrent:
        initial_weights = [np.array(weight) for weight in model.trainable_weights]
    # One pass per epoch's weights, the flow before and after training.
    measure.prepare(probe.x, probe.y, probe.sample_weight, calls=config.epochs + 2)
    # Likewise the prediction step, which a language model's generated samples use too.
    generating = GENERATED_TOKENS if task_kind(task) == "language_model" else 0
    prepare_prediction(model, test_split.x, batch_size, extra_calls=generating)

    started = time.perf_counter()
    keras_history = model.fit(
        **_fit_arguments(train_split),
        validation_data=validation,
        batch_size=batch_size,
        epochs=config.epochs,
        shuffle=config.shuffle and not stateful,
        verbose=verbose,
        callbacks=fit_callbacks,
    ).history
    timings["fit_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    if initial_weights is not None:
        diagnostics["gradient_flow_initial"] = measure(*test_probe, trainable=initial_weights)[1].tolist()
    probe.compute()
    measure.wait()  # No compilation outlives the run (with no epoch finished, nothing waited yet).
    timings["grad_norm_seconds"] = time.perf_counter() - started
    history = _history_frame(keras_history, logger, probe, radius)
    timings["epochs"] = len(history)
    timings.update(epoch_timings(history["epoch_seconds"]))
    timings["samples_per_second"] = train_split.num_samples / max(timings["seconds_per_epoch"], 1e-12)
    if task.input_spec.is_tokens and task.input_spec.timesteps:
        timings["tokens_per_second"] = timings["samples_per_second"] * task.input_spec.timesteps

    result = RunResult(
        status=STATUS_OK,
        history=history,
        params=_param_counts(model),
        timings=timings,
        environment=collect_environment(config.seed),
        diagnostics=diagnostics,
        model=model,
        baselines=task_baselines(task),
        selected_epoch=keep_best.selected_epoch,
    )
    if nan_stop.epoch is not None:
        release_prediction(model)  # Not needed any more, but no compilation outlives the run.
        result.status = STATUS_DIVERGED
        what = (f"became {nan_stop.loss}" if not math.isfinite(nan_stop.loss) else
                f"grew to {nan_stop.loss:.3g}, above {nan_stop.factor:g} times the first epoch's "
                f"{nan_stop.first_loss:.3g},")
        result.error = (
            f"Loss {what} in epoch {nan_stop.epoch} (optimizer {config.optimizer!r}, "
            f"learning_rate {config.learning_rate}); training stopped. Try a smaller learning rate or "
            "gradient clipping (clipnorm / clipvalue)."
        )
        return result

    started = time.perf_counter()
    result.metrics, extras = held_out_metrics(model, task, test_split, batch_size)
    timings["evaluate_seconds"] = time.perf_counter() - started
    result.diagnostics.update(extras.pop("diagnostics", {}))
    if has_recurrent:
        diagnostics["spectral_radius"] = spectral_radius(model)
        if gradient_flow:
            diagnostics["gradient_flow"] = measure(*test_probe)[1].tolist()
            # On JAX an eager recurrent pass runs step by step (0.2-0.8 s for the quick grid's
            # models), so the NumPy equations give the states; TensorFlow's own pass is cheaper
            # than NumPy's threaded matrix products on a busy machine (2.6 s for an LSTM 128).
            diagnostics["saturation"] = saturation(model, test_probe[0], reference=keras.backend.backend() == "jax")
    result.samples = sample_outputs(model, task, test_split, extras, batch_size=max(batch_size, 2))
    release_prediction(model)
    result.predictions = extras["predictions"]
    return result


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and Keras's random numbers, as `keras.utils.set_random_seed` does.

    Keras's function also imports TensorFlow to seed it, whatever the backend: 4-6 s of a
    JAX run's start on 2 cores, for a library rnnkit does not use there (Keras feeds NumPy
    arrays to JAX without `tf.data`). So on JAX, while TensorFlow is not loaded, the same
    seeding is done without it; with TensorFlow loaded (the TensorFlow backend, or a user's
    `tf.data` pipeline) Keras's own function runs.

    Args:
        seed: A non-negative integer.
    """
    if keras.backend.backend() != "jax" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:  # Another Keras layout: its own function, TensorFlow import included.
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def _compile_probe(epochs: int) -> bool:
    """Whether the probe pass is traced: on JAX always, on TensorFlow from a few epochs on.

    TensorFlow runs an eager pass at about a quarter of the cost of tracing one; JAX runs
    a recurrent layer eagerly step by step, slower than compiling it (measured: LSTM 128,
    batch 64, 35 steps: 7.6 s eager against 5.2 s to compile and 0.04 s a call after).
    """
    return keras.backend.backend() == "jax" or epochs + 2 >= rk_callbacks.COMPILE_FROM_EPOCHS


def _param_counts(model) -> dict:
    trainable = int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
    total = int(model.count_params())
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def run_experiment(
    spec: ModelSpec,
    task: Task,
    config: TrainConfig,
    *,
    verbose: int = 0,
    callbacks=None,
    gradient_flow: bool = True,
) -> RunResult:
    """Seeds Keras, builds the model `spec` describes for `task`, and trains it.

    Args:
        spec: The model to build.
        task: The data and what to predict.
        config: How to train; `config.seed` seeds weights, shuffling and dropout.
        verbose: Passed to `model.fit`.
        callbacks: Extra Keras callbacks.
        gradient_flow: Measure per-time-step gradient flow and saturation (see `train`).

    Returns:
        A `RunResult` whose `timings` include `build_seconds`.

    Raises:
        ConfigError: An invalid spec or config.
        TrainingError: The model does not fit the task.
    """
    from rnnkit.models.builders import build_model

    if not isinstance(spec, ModelSpec):
        raise invalid("spec", spec, "a rnnkit ModelSpec")
    if not isinstance(config, TrainConfig):
        raise invalid("config", config, "a rnnkit TrainConfig")
    share_compilations()
    seed_everything(config.seed)
    started = time.perf_counter()
    model = build_model(spec, task, batch_size=config.batch_size if spec.stateful else None)
    build_seconds = time.perf_counter() - started
    result = train(model, task, config, verbose=verbose, callbacks=callbacks, gradient_flow=gradient_flow)
    result.timings = {"build_seconds": build_seconds, **result.timings}
    return result


__all__ = ["check_model_fits_task", "epoch_timings", "make_optimizer", "run_experiment", "task_kind", "train"]
