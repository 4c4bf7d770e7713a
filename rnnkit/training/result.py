"""RunResult: everything one training run produced, ready to store and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Run statuses, as stored in results.csv.
STATUS_OK = "ok"  # Trained for the configured epochs (or stopped early by patience).
STATUS_DIVERGED = "diverged"  # Training stopped: the loss became NaN / infinite or exploded.
STATUS_NAN = "nan_loss"  # The name stores written before "diverged" used; still read, no longer written.
STATUS_FAILED = "failed"  # An exception stopped the run; `error` holds the traceback.


@dataclass
class RunResult:
    """The outcome of `train` (and of one harness run).

    Attributes:
        status: One of "ok", "diverged", "failed" ("nan_loss" in older stores).
        history: One row per finished epoch: `epoch`, `loss`, `val_loss`, each compiled
            metric and its `val_` twin, `learning_rate`, `epoch_seconds`, `grad_norm`.
        metrics: Final held-out (test) metrics, e.g. {"loss": .., "accuracy": ..,
            "perplexity": .., "exact_match": ..}.
        params: {"total": int, "trainable": int, "non_trainable": int}.
        timings: Wall seconds and throughput: `build_seconds`, `compile_seconds`,
            `fit_seconds` (the whole `model.fit`), `first_epoch_seconds` (the first
            epoch, which also pays for Keras tracing the training step),
            `seconds_per_epoch` (steady state: the median of the epochs after the
            first, or the only epoch), `samples_per_second` (training samples over
            `seconds_per_epoch`; `tokens_per_second` for token input), and
            `grad_norm_seconds`, `evaluate_seconds` spent outside the training loop, and
            `epochs` (the number of epochs run).
        environment: Versions, device and seed.
        diagnostics: Optional extras, e.g. {"gradient_flow": [..per timestep..]}.
        samples: Optional human-readable examples (generated text, decoded sequences).
        baselines: The task's trivial baselines on validation and test
            (`rnnkit.training.baselines.task_baselines`).
        selected_epoch: The epoch (1-based) with the best validation loss, whose weights
            the test metrics were computed with.
        error: Traceback text when status is "failed", or the divergence message.
        model: The trained keras.Model (not stored on disk).
        predictions: The model's outputs on the test split that `metrics` were computed
            from, in row order (not stored on disk; the harness plots from them).
    """

    status: str
    history: pd.DataFrame
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)
    baselines: dict = field(default_factory=dict)
    selected_epoch: int | None = None
    error: str | None = None
    model: Any = None
    predictions: Any = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def __repr__(self) -> str:
        """One line: status, epochs run, test metrics (4 significant digits) and parameters.

        The full history, model and predictions stay out of it (a DataFrame or a model in
        a repr would fill a notebook cell); read them as attributes.
        """
        metrics = ", ".join(f"{name}={_short(value)}" for name, value in self.metrics.items())
        total = self.params.get("total")
        return (
            f"RunResult(status={self.status!r}, epochs={len(self.history)}, "
            f"metrics={{{metrics}}}, params={total})"
        )


def _short(value) -> str:
    """A metric value with 4 significant digits (other values as their repr)."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return repr(value)
