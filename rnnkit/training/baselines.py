"""Trivial baselines of a task: what a model must beat before it can be said to learn.

Each baseline is a rule that ignores the input (or uses it in the most naive way) and is
fitted on the training split only. It is scored on the validation and test splits with
the same metric names `held_out_metrics` gives a trained model, so a model's number and
its baseline's number sit side by side in every table:

| task kind | baselines |
|---|---|
| regression | `mean` (the training mean of each target position); forecasting also `persistence` (the last input value) and `seasonal_naive` (the value one season back, for seasonal series) |
| classification | `majority` (the most frequent training class), `chance` (uniform guessing) |
| language model | `uniform` (every token equally likely), `unigram` (training token frequencies) |
| per-step labels | `chance`, `majority_token` (the most frequent training token at each position) |
| seq2seq | `majority_token` (per position), `constant_answer` (the most frequent training target) |

`loss` is the task's loss for each baseline: mean squared error, or the cross-entropy of
the baseline's (constant) distribution, so it can be drawn on learning curves.

Example:

>>> import numpy as np
>>> from rnnkit.data.tasks import InputSpec, OutputSpec, Split, Task
>>> split = lambda y: Split(np.zeros((len(y), 2, 1), "float32"), np.asarray(y, "float32")[:, None])
>>> task = Task("toy", "many_to_one", split([1.0, 3.0]), split([2.0, 4.0]), split([0.0]),
...             InputSpec(2, 1), OutputSpec("regression", 1), "mse", ("mae",), "", "", "")
>>> task_baselines(task)["mean"]["test"]["mse"]
4.0
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit.training.metrics import (
    _EPSILON,
    better,
    exact_match,
    primary_metric,
    regression_metrics,
    task_kind,
    token_accuracy,
)

SPLITS = ("validation", "test")

# A short sentence per baseline, for `rnnkit tasks --describe` and the report.
BASELINE_TEXT = {
    "mean": "predicts the training mean of each target position",
    "persistence": "predicts the last value of the input window",
    "seasonal_naive": "predicts the value one season before the target",
    "majority": "always predicts the most frequent training class",
    "chance": "guesses uniformly at random (expected score)",
    "uniform": "gives every token the same probability",
    "unigram": "predicts the training token frequencies, ignoring context",
    "majority_token": "predicts the most frequent training token at each position",
    "constant_answer": "always answers the most frequent training target sequence",
}


def task_baselines(task) -> dict:
    """Scores every trivial baseline of `task` on its validation and test splits.

    Args:
        task: A `rnnkit.data.tasks.Task`.

    Returns:
        `{baseline: {"validation": {metric: value}, "test": {metric: value}}}`; a split
        with no samples maps to {}. Metric names are those of `held_out_metrics`.
    """
    kind = task_kind(task)
    makers = {
        "regression": _regression,
        "classification": _classification,
        "language_model": _language_model,
        "sequence_classification": _per_step,
        "seq2seq": _seq2seq,
    }
    baselines = {}
    for name, score in makers[kind](task):
        baselines[name] = {
            split: (score(getattr(task, split)) if getattr(task, split).num_samples else {})
            for split in SPLITS
        }
    return baselines


def best_baseline(baselines: dict, metric: str, split: str = "test") -> tuple[str | None, float]:
    """Returns the name and value of the best baseline on `metric` (direction-aware).

    Example:

    >>> best_baseline({"a": {"test": {"mse": 2.0}}, "b": {"test": {"mse": 1.0}}}, "mse")
    ('b', 1.0)
    """
    best_name, best_value = None, math.nan
    for name, scores in (baselines or {}).items():
        value = (scores.get(split) or {}).get(metric)
        if value is None or not np.isfinite(value):
            continue
        if best_name is None or better(metric, value, best_value):
            best_name, best_value = name, float(value)
    return best_name, best_value


def task_primary_metric(task) -> str:
    """The metric that ranks models on `task` (see `rnnkit.training.metrics.PRIMARY_METRICS`)."""
    return primary_metric(task_kind(task))


# ----------------------------------------------------------------------------- per kind


def _regression(task):
    y_train = np.asarray(task.train.y, dtype="float64")
    mean = y_train.mean(axis=0)

    def scorer(predict):
        def score(split):
            y = np.asarray(split.y, dtype="float64")
            predicted = predict(split, y)
            values = regression_metrics(y, predicted, task.scaler)
            values["loss"] = float(np.mean((predicted - y) ** 2))
            return values

        return score

    yield "mean", scorer(lambda split, y: np.broadcast_to(mean, y.shape))
    if not _is_forecast(task):
        return
    yield "persistence", scorer(lambda split, y: np.asarray(split.x, "float64")[:, -1, :].reshape(y.shape))
    season = task.params.get("season")
    if season and season <= np.shape(task.train.x)[1]:
        # The target follows the window, so the value one season back is input step -season.
        yield "seasonal_naive", scorer(
            lambda split, y: np.asarray(split.x, "float64")[:, -season, :].reshape(y.shape)
        )


def _is_forecast(task) -> bool:
    """A next-value forecast: a scaled series window (n, T, 1) predicting one value (n, 1)."""
    x, y = task.train.x, task.train.y
    return (
        task.scaler is not None and isinstance(x, np.ndarray) and x.ndim == 3
        and x.shape[-1] == 1 and np.ndim(y) == 2 and np.shape(y)[1] == 1
    )


def _cross_entropy(probs: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """Mean negative log-likelihood of ids `y` under per-position distributions `probs`."""
    chosen = np.take_along_axis(np.broadcast_to(probs, y.shape + probs.shape[-1:]), y[..., None], axis=-1)[..., 0]
    nll = -np.log(np.clip(chosen, _EPSILON, 1.0))
    return float((nll * weights).sum() / max(weights.sum(), 1e-12))


def _weights(split) -> np.ndarray:
    y = np.asarray(split.y)
    return np.ones(y.shape) if split.sample_weight is None else np.asarray(split.sample_weight, "float64")


def _frequencies(task, per_position: bool) -> np.ndarray:
    """Training label frequencies (weighted by the mask), overall or per position."""
    y = np.asarray(task.train.y).astype("int64")
    weights = _weights(task.train)
    num_classes = task.output_spec.dim
    if not per_position or y.ndim == 1:
        counts = np.bincount(y.ravel(), weights=weights.ravel(), minlength=num_classes)
        return counts / max(counts.sum(), 1e-12)
    counts = np.zeros((y.shape[1], num_classes))
    for position in range(y.shape[1]):
        counts[position] = np.bincount(y[:, position], weights=weights[:, position], minlength=num_classes)
    totals = counts.sum(axis=1, keepdims=True)
    # A position that is padding in every training row: fall back to the overall frequencies.
    overall = counts.sum(axis=0) / max(counts.sum(), 1e-12)
    return np.where(totals > 0, counts / np.maximum(totals, 1e-12), overall)


def _classification(task):
    num_classes = task.output_spec.dim
    frequencies = _frequencies(task, per_position=False)
    majority = int(np.argmax(frequencies))

    def majority_score(split):
        y = np.asarray(split.y).astype("int64")
        return {
            "accuracy": token_accuracy(np.full(y.shape, majority), y),
            "loss": _cross_entropy(frequencies, y, _weights(split)),
        }

    def chance_score(split):
        return {"accuracy": 1.0 / num_classes, "loss": math.log(num_classes)}

    yield "majority", majority_score
    yield "chance", chance_score


def _language_model(task):
    num_classes = task.output_spec.dim
    frequencies = _frequencies(task, per_position=False)
    majority = int(np.argmax(frequencies))

    def uniform_score(split):
        return {"perplexity": float(num_classes), "token_accuracy": 1.0 / num_classes,
                "loss": math.log(num_classes)}

    def unigram_score(split):
        y = np.asarray(split.y).astype("int64")
        weights = _weights(split)
        loss = _cross_entropy(frequencies, y, weights)
        return {"perplexity": math.exp(loss), "token_accuracy": token_accuracy(np.full(y.shape, majority), y, weights),
                "loss": loss}

    yield "uniform", uniform_score
    yield "unigram", unigram_score


def _chance_exact_match(split, num_classes: int) -> float:
    """Expected share of sequences guessed entirely right by uniform guessing."""
    lengths = _weights(split).astype(bool).sum(axis=1)
    return float(np.mean(float(num_classes) ** -lengths.astype("float64")))


def _position_majority(task) -> tuple[np.ndarray, np.ndarray]:
    frequencies = _frequencies(task, per_position=True)
    return frequencies, frequencies.argmax(axis=-1)


def _per_step(task):
    num_classes = task.output_spec.dim
    frequencies, majority = _position_majority(task)

    def chance_score(split):
        return {"token_accuracy": 1.0 / num_classes, "exact_match": _chance_exact_match(split, num_classes),
                "loss": math.log(num_classes)}

    def majority_score(split):
        y = np.asarray(split.y).astype("int64")
        weights = _weights(split)
        predicted = np.broadcast_to(majority, y.shape)
        return {"token_accuracy": token_accuracy(predicted, y, weights),
                "exact_match": exact_match(predicted, y, weights),
                "loss": _cross_entropy(frequencies, y, weights)}

    yield "chance", chance_score
    yield "majority_token", majority_score


def _seq2seq(task):
    frequencies, majority = _position_majority(task)
    y_train = np.asarray(task.train.y).astype("int64")
    train_weights = _weights(task.train)
    # The most frequent whole answer (padding positions blanked so they do not split counts).
    answers, counts = np.unique(np.where(train_weights > 0, y_train, -1), axis=0, return_counts=True)
    constant = np.where(answers[np.argmax(counts)] < 0, 0, answers[np.argmax(counts)])

    def scorer(predicted_row, probs):
        def score(split):
            y = np.asarray(split.y).astype("int64")
            weights = _weights(split)
            predicted = np.broadcast_to(predicted_row, y.shape)
            accuracy = token_accuracy(predicted, y, weights)
            return {"exact_match": exact_match(predicted, y, weights), "token_accuracy": accuracy,
                    "decoded_token_accuracy": accuracy, "loss": _cross_entropy(probs, y, weights)}

        return score

    one_hot = np.eye(task.output_spec.dim)[constant] * (1 - _EPSILON) + _EPSILON / task.output_spec.dim
    yield "majority_token", scorer(majority, frequencies)
    yield "constant_answer", scorer(constant, one_hot)


__all__ = ["BASELINE_TEXT", "best_baseline", "task_baselines", "task_primary_metric"]
