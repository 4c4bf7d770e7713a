"""Fair held-out metrics: masked token accuracy, decoded exact match, perplexity, regression errors.

Keras's compiled metrics are computed on teacher-forced predictions and, for plain
`metrics`, ignore sample weights. The functions here are pure NumPy (except
`perplexity`, which runs a model) so that each number has one clear definition:

- `perplexity_from_probs`: exp of the mean negative log-likelihood per *real* token
  (padding, where `mask` is 0, is left out of both the sum and the count).
- `token_accuracy`: share of real tokens predicted right.
- `exact_match`: share of sequences whose every real token is right.
- `mse`, `mae`, `rmse`: optionally after mapping both arrays back to original units.

Example:

>>> import numpy as np
>>> perplexity_from_probs(np.full((2, 3, 4), 0.25), np.zeros((2, 3), int))
4.0
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np

from rnnkit.checks import check_positive_int, invalid

# Probabilities are clipped here before the log so that a confident wrong answer costs a
# large but finite amount (the same epsilon Keras uses in its cross-entropy).
_EPSILON = 1e-7


def _as_mask(mask, shape) -> np.ndarray:
    """Returns a float mask of `shape` (ones when `mask` is None)."""
    if mask is None:
        return np.ones(shape, dtype="float64")
    mask = np.asarray(mask, dtype="float64")
    if mask.shape != tuple(shape):
        raise invalid("mask", f"array of shape {mask.shape}", f"an array of shape {tuple(shape)}")
    return mask


def _check_same_shape(name: str, first, second) -> None:
    if np.shape(first) != np.shape(second):
        raise invalid(name, f"array of shape {np.shape(second)}", f"an array of shape {np.shape(first)}")


def _summed_nll(probs, targets, weights) -> float:
    """Sum of `-log p(target)` weighted by `weights` (probabilities clipped to `_EPSILON`)."""
    chosen = np.take_along_axis(probs, targets[..., None].astype("int64"), axis=-1)[..., 0]
    return float((-np.log(np.clip(chosen, _EPSILON, 1.0)) * weights).sum())


def perplexity_from_probs(probs, targets, mask=None) -> float:
    """Returns exp(mean negative log-likelihood per real token).

    Args:
        probs: Predicted distributions, shape `targets.shape + (vocab_size,)`.
        targets: Integer token ids.
        mask: Optional weights of `targets`' shape; 0 marks padding to leave out.

    Returns:
        The perplexity (1.0 for a perfect model; `vocab_size` for a uniform one).

    Example:

    >>> round(perplexity_from_probs(np.full((1, 2, 5), 0.2), np.array([[1, 3]])), 6)
    5.0
    """
    probs = np.asarray(probs, dtype="float64")
    targets = np.asarray(targets)
    if probs.shape[:-1] != targets.shape:
        raise invalid("probs", f"array of shape {probs.shape}", f"shape {targets.shape} + (vocab_size,)")
    weights = _as_mask(mask, targets.shape)
    if weights.sum() <= 0:
        raise invalid("mask", "all zeros", "at least one real (non-zero) token to score")
    return float(np.exp(_summed_nll(probs, targets, weights) / weights.sum()))


def perplexity(model, x, y, sample_weight=None, batch_size: int = 32) -> float:
    """Returns the perplexity of a language model on held-out token ids.

    The model maps ids `(n, T)` to next-token probabilities `(n, T, vocab_size)`. Batches
    are taken in order, so a stateful model sees consecutive batches as trained; its state
    is reset first.

    Args:
        model: A Keras model ending in softmax.
        x: Input ids `(n, T)`.
        y: Target ids `(n, T)` (the input shifted by one token).
        sample_weight: Optional `(n, T)`; 0 marks padding.
        batch_size: Rows per forward pass (must be the model's batch size if it is fixed).

    Returns:
        exp(mean per-token negative log-likelihood over non-padding tokens).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    y = np.asarray(y)
    weights = _as_mask(sample_weight, y.shape)
    reset_recurrent_states(model)
    total_nll, total_count = 0.0, 0.0
    for start in range(0, len(y), batch_size):
        rows = slice(start, start + batch_size)
        probs = np.asarray(model.predict_on_batch(_take_rows(x, rows)), dtype="float64")
        total_nll += _summed_nll(probs, y[rows], weights[rows])
        total_count += float(weights[rows].sum())
    if total_count <= 0:
        raise invalid("sample_weight", "all zeros", "at least one real (non-zero) token to score")
    return float(np.exp(total_nll / total_count))


def token_accuracy(pred_ids, target_ids, mask=None) -> float:
    """Returns the share of real (unmasked) tokens where the prediction equals the target.

    Args:
        pred_ids: Predicted ids, e.g. `(n, T)`.
        target_ids: True ids, same shape.
        mask: Optional weights of the same shape; 0 marks padding.

    Returns:
        A number in [0, 1].

    Example:

    >>> token_accuracy([[1, 2, 0]], [[1, 3, 0]], mask=[[1, 1, 0]])
    0.5
    """
    pred_ids, target_ids = np.asarray(pred_ids), np.asarray(target_ids)
    _check_same_shape("pred_ids", target_ids, pred_ids)
    weights = _as_mask(mask, target_ids.shape)
    if weights.sum() <= 0:
        raise invalid("mask", "all zeros", "at least one real (non-zero) token to score")
    return float(((pred_ids == target_ids) * weights).sum() / weights.sum())


def end_mask(target_ids, end_id: int) -> np.ndarray:
    """Returns 1 up to and including the first `end_id` of each row, 0 after it.

    Rows without `end_id` are kept whole. Used to score decoded sequences, where
    whatever follows the end token is not part of the answer.
    """
    target_ids = np.asarray(target_ids)
    is_end = target_ids == end_id
    # Number of end tokens strictly before each position: 0 means "still inside".
    ends_before = np.cumsum(is_end, axis=-1) - is_end
    return (ends_before == 0).astype("float64")


def exact_match(pred_ids, target_ids, mask=None, *, end_id: int | None = None) -> float:
    """Returns the share of sequences whose every real token is predicted right.

    Args:
        pred_ids: Predicted ids `(n, T)`.
        target_ids: True ids `(n, T)`.
        mask: Optional `(n, T)` weights; 0 marks positions that do not count (padding).
        end_id: If given (and `mask` is None), positions after the target's first
            `end_id` do not count; the end token itself must be predicted.

    Returns:
        A number in [0, 1].

    Example:

    >>> exact_match([[5, 2, 7], [5, 5, 2]], [[5, 2, 0], [5, 6, 2]], end_id=2)
    0.5
    """
    pred_ids, target_ids = np.asarray(pred_ids), np.asarray(target_ids)
    _check_same_shape("pred_ids", target_ids, pred_ids)
    if target_ids.ndim < 2:
        raise invalid("target_ids", f"array of shape {target_ids.shape}", "an array (num_samples, timesteps)")
    if mask is None and end_id is not None:
        weights = end_mask(target_ids, end_id)
    else:
        weights = _as_mask(mask, target_ids.shape)
    wrong = ((pred_ids != target_ids) & (weights > 0)).reshape(len(target_ids), -1).any(axis=1)
    return float(1.0 - wrong.mean())


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Returns counts `matrix[true, predicted]`, shape `(num_classes, num_classes)`.

    Example:

    >>> confusion_matrix([0, 0, 1], [0, 1, 1], num_classes=2).tolist()
    [[1, 1], [0, 1]]
    """
    num_classes = check_positive_int("num_classes", num_classes)
    y_true = np.asarray(y_true).astype("int64").ravel()
    y_pred = np.asarray(y_pred).astype("int64").ravel()
    _check_same_shape("y_pred", y_true, y_pred)
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise invalid(name, f"class ids in [{values.min()}, {values.max()}]", f"ids in [0, {num_classes - 1}]")
    matrix = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _errors(y_true, y_pred, scaler):
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    _check_same_shape("y_pred", y_true, y_pred)
    if scaler is not None:
        y_true = np.asarray(scaler.inverse_transform(y_true), dtype="float64")
        y_pred = np.asarray(scaler.inverse_transform(y_pred), dtype="float64")
    return y_pred - y_true


def mse(y_true, y_pred, scaler=None) -> float:
    """Mean squared error; in original units when `scaler` (with `inverse_transform`) is given."""
    return float(np.mean(_errors(y_true, y_pred, scaler) ** 2))


def mae(y_true, y_pred, scaler=None) -> float:
    """Mean absolute error; in original units when `scaler` is given."""
    return float(np.mean(np.abs(_errors(y_true, y_pred, scaler))))


def rmse(y_true, y_pred, scaler=None) -> float:
    """Root mean squared error; in original units when `scaler` is given."""
    return float(np.sqrt(mse(y_true, y_pred, scaler)))


def regression_metrics(y_true, y_pred, scaler=None) -> dict:
    """Returns `mse`, `mae`, `rmse` and, with a scaler, their `_original` (unscaled) twins."""
    values = {"mse": mse(y_true, y_pred), "mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred)}
    if scaler is not None:
        values["mse_original"] = mse(y_true, y_pred, scaler)
        values["mae_original"] = mae(y_true, y_pred, scaler)
        values["rmse_original"] = rmse(y_true, y_pred, scaler)
    return values


def reset_recurrent_states(model) -> None:
    """Resets the state of every stateful recurrent layer of `model` (no-op otherwise)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()


def _take_rows(x, rows):
    """Slices rows of an array, or of every array in a dict (seq2seq inputs)."""
    if isinstance(x, dict):
        return {key: value[rows] for key, value in x.items()}
    return x[rows]




def task_kind(task) -> str:
    """Returns how a task is scored: "language_model", "seq2seq", "sequence_classification",
    "classification" or "regression"."""
    if task.output_spec.kind == "regression":
        return "regression"
    if task.variety == "seq2seq":
        return "seq2seq"
    if "partition" in task.params:
        return "language_model"
    if np.ndim(task.train.y) >= 2:
        return "sequence_classification"
    return "classification"


def _num_rows(x) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def _padded_rows(x, size: int):
    """`x` with its last row repeated until it has `size` rows (arrays or a dict of them)."""
    def pad(values):
        values = np.asarray(values)
        return np.concatenate([values, np.repeat(values[-1:], size - len(values), axis=0)])

    return {key: pad(value) for key, value in x.items()} if isinstance(x, dict) else pad(x)


# Model -> its inference pass being compiled ahead (JAX), from `prepare_prediction`.
_PREDICTION_AHEAD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepare_prediction(model, x, batch_size: int, extra_calls: int = 0) -> None:
    """On JAX, starts compiling `model`'s inference pass for the first batch of `x` in the background.

    `train` calls it before `fit`, so that XLA compiles the prediction step (for the
    held-out metrics and the generated samples) while the model trains, instead of after.
    The batch is shaped as `predict_in_order` will shape it (padded to `batch_size` rows).
    `extra_calls` counts the passes expected at that shape besides one per batch of `x`
    (a language model's generated text): few passes in all compile quickly, for a small
    model (`rnnkit.training.gradients.FEW_CALLS`).
    Nothing happens on TensorFlow, for a stateful model (whose state runs on from call to
    call, which Keras's own prediction keeps), or for an empty `x`.
    """
    import keras

    total = _num_rows(x)
    stateful = any(getattr(layer, "stateful", False) for layer in model.layers)
    if keras.backend.backend() != "jax" or stateful or total == 0:
        return
    from rnnkit.training.diagnostics import _current_values, _structured
    from rnnkit.training.gradients import compile_ahead, compiled

    def infer(trainable, non_trainable, inputs):
        outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs

    rows = _take_rows(x, slice(0, batch_size))
    batch = rows if _num_rows(rows) == batch_size else _padded_rows(rows, batch_size)
    values = [_current_values(model.trainable_variables), _current_values(model.non_trainable_variables),
              _structured(model, batch)]
    handle = compile_ahead(compiled(infer), values, calls=-(-total // batch_size) + extra_calls,
                           weights=model.count_params())
    if handle is not None:
        _PREDICTION_AHEAD[model] = handle


def predict_batch(model, batch) -> np.ndarray:
    """`model.predict_on_batch(batch)`, through the pass `prepare_prediction` compiled when there is one."""
    handle = _PREDICTION_AHEAD.get(model)
    if handle is None:
        return np.asarray(model.predict_on_batch(batch))
    from rnnkit.training.diagnostics import _current_values, _structured

    return np.asarray(handle(_current_values(model.trainable_variables),
                             _current_values(model.non_trainable_variables), _structured(model, batch)))


def release_prediction(model) -> None:
    """Waits for a compilation `prepare_prediction` started, then drops it.

    `train` calls it when its run is done, so that no compilation outlives the run and the
    model is not kept alive by its own compiled pass (which refers to it); later
    predictions go through Keras's `predict_on_batch` again.
    """
    handle = _PREDICTION_AHEAD.pop(model, None)
    if handle is not None:
        handle.wait()


def predict_in_order(model, x, batch_size: int) -> np.ndarray:
    """Returns `model` predictions batch by batch in order (stateful models reset first).

    Every forward pass has `batch_size` rows: the last, partial batch is padded (by
    repeating its last row) and the extra outputs dropped. One input shape means one
    traced (TensorFlow) or compiled (JAX) prediction step instead of two, and text
    generation at that shape reuses it (`sample_outputs`). A stateful model, whose state
    runs on from batch to batch, is predicted with `model.predict` as it is.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    reset_recurrent_states(model)
    if any(getattr(layer, "stateful", False) for layer in model.layers):
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    outputs = []
    total = _num_rows(x)
    for start in range(0, total, batch_size):
        rows = _take_rows(x, slice(start, start + batch_size))
        count = _num_rows(rows)
        batch = rows if count == batch_size else _padded_rows(rows, batch_size)
        outputs.append(predict_batch(model, batch)[:count])
    if not outputs:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return np.concatenate(outputs)


def held_out_metrics(model, task, split, batch_size: int = 32) -> tuple[dict, dict]:
    """Scores a trained model on a held-out split with the metrics that fit its task.

    - every task: the compiled loss and metrics from `model.evaluate` (sample-weighted);
    - regression: `mse`, `mae`, `rmse` (and `_original` twins when the task has a scaler);
    - classification: `accuracy`; the confusion matrix goes to the diagnostics;
    - language model: `perplexity` and masked `token_accuracy`;
    - per-step labels: masked `token_accuracy` and `exact_match` of whole sequences;
    - seq2seq: teacher-forced masked `token_accuracy`, and `exact_match` plus
      `decoded_token_accuracy` from greedy decoding (the model's own predictions fed back).

    Args:
        model: A trained Keras model.
        task: Its task (for the kind of output, the vocabulary and the scaler).
        split: The held-out split (usually `task.test`).
        batch_size: Rows per forward pass.

    Returns:
        `(metrics, extras)`: metrics maps names to floats; extras holds `predictions`
        (and `decoded` for seq2seq) for sample outputs, and `diagnostics` (e.g.
        `confusion_matrix` as a list of lists).
    """
    kind = task_kind(task)
    reset_recurrent_states(model)
    metrics = {
        key: float(value)
        for key, value in model.evaluate(
            split.x, split.y, sample_weight=split.sample_weight, batch_size=batch_size, verbose=0, return_dict=True
        ).items()
    }
    predictions = predict_in_order(model, split.x, batch_size)
    extras = {"predictions": predictions, "diagnostics": {}}
    if kind == "regression":
        metrics.update(regression_metrics(split.y, predictions.reshape(np.shape(split.y)), task.scaler))
        return metrics, extras
    predicted_ids = predictions.argmax(axis=-1)
    if kind == "classification":
        metrics["accuracy"] = token_accuracy(predicted_ids, split.y)
        matrix = confusion_matrix(split.y, predicted_ids, task.output_spec.dim)
        extras["diagnostics"]["confusion_matrix"] = matrix.tolist()
        return metrics, extras
    metrics["token_accuracy"] = token_accuracy(predicted_ids, split.y, split.sample_weight)
    if kind == "language_model":
        metrics["perplexity"] = perplexity_from_probs(predictions, split.y, split.sample_weight)
    elif kind == "sequence_classification":
        metrics["exact_match"] = exact_match(predicted_ids, split.y, split.sample_weight)
    else:
        from rnnkit.models.seq2seq import Seq2SeqInference
        from rnnkit.training.decoding import greedy_decode

        vocab = task.target_vocab
        decoded = greedy_decode(
            Seq2SeqInference(model), split.x["encoder_inputs"], start_id=vocab.start_id,
            end_id=vocab.end_id, max_length=np.shape(split.y)[1], pad_id=vocab.pad_id,
        )
        mask = split.sample_weight if split.sample_weight is not None else end_mask(split.y, vocab.end_id)
        metrics["exact_match"] = exact_match(decoded, split.y, mask)
        metrics["decoded_token_accuracy"] = token_accuracy(decoded, split.y, mask)
        extras["decoded"] = decoded
    return metrics, extras


# ----------------------------------------------------------------------------- directions

class MetricInfo(NamedTuple):
    """What rnnkit knows about a metric: which way is better and which values it can take."""

    direction: str  # "min" when smaller values are better, "max" when larger are.
    lowest: float  # The smallest value the metric can take.
    highest: float  # The largest value it can take (inf when it has no upper bound).


# The metric registry: every metric rnnkit stores, with its direction and its possible
# range; nothing is guessed from a name. Prefixes such as `val_`, `test_`, `best_`,
# `final_` and `baseline_` are stripped before the look-up. The losses rnnkit compiles
# (mse, sparse categorical cross-entropy) are never negative; perplexity is exp of a
# non-negative mean, so at least 1. The perfect score of a metric is the end of its range
# on the better side.
METRICS = {
    "loss": MetricInfo("min", 0.0, math.inf),
    "mse": MetricInfo("min", 0.0, math.inf),
    "mae": MetricInfo("min", 0.0, math.inf),
    "rmse": MetricInfo("min", 0.0, math.inf),
    "mse_original": MetricInfo("min", 0.0, math.inf),
    "mae_original": MetricInfo("min", 0.0, math.inf),
    "rmse_original": MetricInfo("min", 0.0, math.inf),
    "perplexity": MetricInfo("min", 1.0, math.inf),
    "accuracy": MetricInfo("max", 0.0, 1.0),
    "token_accuracy": MetricInfo("max", 0.0, 1.0),
    "decoded_token_accuracy": MetricInfo("max", 0.0, 1.0),
    "exact_match": MetricInfo("max", 0.0, 1.0),
}

# The direction of every registered metric (a view of `METRICS`).
METRIC_DIRECTIONS = {name: info.direction for name, info in METRICS.items()}

# The metric that decides "did it learn" and the verdict, per task kind (see `task_kind`).
PRIMARY_METRICS = {
    "regression": "mse",
    "classification": "accuracy",
    "language_model": "perplexity",
    "sequence_classification": "token_accuracy",
    "seq2seq": "exact_match",
}

_PREFIXES = ("test_", "val_", "best_", "final_", "baseline_")


def base_metric_name(name: str) -> str:
    """Strips the table prefixes (`best_val_`, `test_`, ...) and the `_mean` suffix.

    Example:

    >>> base_metric_name("best_val_token_accuracy")
    'token_accuracy'
    """
    name = str(name)
    name = name.removesuffix("_mean")
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix):], True
    return name


def _registered(name: str) -> MetricInfo:
    base = base_metric_name(name)
    if base not in METRICS:
        raise invalid("metric", name, f"a metric with a registered direction and range: {', '.join(sorted(METRICS))}")
    return METRICS[base]


def metric_direction(name: str) -> str:
    """Returns "min" when smaller values of metric `name` are better, "max" when larger are.

    Args:
        name: A metric name, with or without prefixes (`val_loss`, `test_exact_match`).

    Returns:
        "min" or "max".

    Raises:
        ValueError: The metric is not in the registry (`METRICS`).

    Example:

    >>> metric_direction("best_val_mae"), metric_direction("test_accuracy")
    ('min', 'max')
    """
    return _registered(name).direction


def metric_range(name: str) -> tuple[float, float]:
    """Returns the `(lowest, highest)` values metric `name` can take (`highest` may be inf).

    Args:
        name: A metric name, with or without prefixes (`test_mse`, `best_val_loss`).

    Raises:
        ValueError: The metric is not in the registry (`METRICS`).

    Example:

    >>> metric_range("test_mse"), metric_range("perplexity"), metric_range("val_accuracy")
    ((0.0, inf), (1.0, inf), (0.0, 1.0))
    """
    info = _registered(name)
    return info.lowest, info.highest


def perfect_score(name: str) -> float:
    """The best value metric `name` can take: the end of its range on the better side.

    Example:

    >>> perfect_score("mse"), perfect_score("perplexity"), perfect_score("exact_match")
    (0.0, 1.0, 1.0)
    """
    info = _registered(name)
    return info.lowest if info.direction == "min" else info.highest


def has_direction(name: str) -> bool:
    """Whether `name` is a quality metric with a registered direction (not a diagnostic)."""
    return base_metric_name(name) in METRICS


def better(name: str, first: float, second: float) -> bool:
    """Whether `first` is strictly better than `second` for metric `name`.

    Example:

    >>> better("val_loss", 0.1, 0.2), better("accuracy", 0.1, 0.2)
    (True, False)
    """
    return first < second if metric_direction(name) == "min" else first > second


def primary_metric(kind: str) -> str:
    """The metric that ranks models of a task kind ("regression" -> "mse", ...)."""
    if kind not in PRIMARY_METRICS:
        raise invalid("kind", kind, f"one of {', '.join(PRIMARY_METRICS)}")
    return PRIMARY_METRICS[kind]
