"""Cheap Keras callbacks that `train` adds to `model.fit`.

Each does its work once per epoch (never per batch), so the overhead over a
hand-written `model.fit` stays within a few percent:

- `EpochLogger`: wall seconds per epoch and the optimizer's learning rate.
- `GradientNormProbe`: the global gradient norm on ONE fixed probe batch at each epoch
  end (weights are copied then; the norms are computed after `fit`, by one pass traced
  once per run on JAX and from a few epochs on TensorFlow, see `train`).
- `SpectralRadiusRecorder`: the recurrent kernel's spectral radius at epoch end (the
  kernel is copied then; the eigenvalues are computed after training).
- `StopOnNonFiniteLoss`: stops training when the epoch's loss is NaN or infinite, or has
  exploded (above 1000 times the first epoch's loss).
- `ResetStatesAtEpochStart`: resets stateful layers at each epoch and before validation.
- `KeepBestWeights`: remembers the weights of the epoch with the best validation loss and
  puts them back when training ends, so the test split scores the selected epoch.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from rnnkit.training.diagnostics import (
    compiled_gradient_norm,
    find_recurrent_layer,
    gradient_norm,
    kernel_gate_radii,
)
from rnnkit.training.metrics import reset_recurrent_states


class EpochLogger(keras.callbacks.Callback):
    """Records `epoch_seconds` and `learning_rate` per epoch in `self.rows`."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        rate = self.model.optimizer.learning_rate
        self.rows.append({"epoch_seconds": seconds, "learning_rate": float(np.asarray(rate))})


# From this many epochs on, the replay traces the gradient computation once as a graph:
# tracing costs about four eager calls, and each traced call is about ten times cheaper.
COMPILE_FROM_EPOCHS = 5


class GradientNormProbe(keras.callbacks.Callback):
    """Gradient norm on a fixed probe batch at each epoch's end, measured after training.

    During `fit` this callback only copies the trainable weights at each epoch end (a
    memory copy, no computation), so the training loop runs at full speed; `compute()`
    then replays each epoch's weights on the probe batch, outside the loop. The norm is
    the raw one (before clipping), in inference mode (no dropout), so the numbers are
    comparable across epochs and runs.

    Args:
        x, y, sample_weight: The probe batch.
        loss: A Keras loss name.
        measure: Optional `measure(x, y, sample_weight) -> (norm, flow)` from
            `rnnkit.training.diagnostics.probe_gradients`, shared with the gradient-flow
            diagnostics so that one compiled pass serves both; default: `gradient_norm`
            (compiled from `COMPILE_FROM_EPOCHS` epochs on).
    """

    def __init__(self, x, y, sample_weight=None, loss=None, measure=None):
        super().__init__()
        self.x, self.y, self.sample_weight, self.loss = x, y, sample_weight, loss
        self.measure = measure
        self.snapshots: list[list[np.ndarray]] = []
        self.values: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append([np.array(weight) for weight in self.model.trainable_weights])

    def compute(self) -> list[float]:
        """Returns the gradient norm at each recorded epoch, leaving the model's weights as they are."""
        model = self.model
        final = [np.array(weight) for weight in model.trainable_weights]
        options = {"loss": self.loss, "sample_weight": self.sample_weight}
        if self.measure is not None:
            measure = lambda: self.measure(self.x, self.y, self.sample_weight)[0]
        elif len(self.snapshots) >= COMPILE_FROM_EPOCHS:
            measure = compiled_gradient_norm(model, self.x, self.y, **options)
        else:
            measure = lambda: gradient_norm(model, self.x, self.y, **options)
        try:
            for snapshot in self.snapshots:
                for weight, value in zip(model.trainable_weights, snapshot):
                    weight.assign(value)
                # A stateful model must not see the probe through carried state, nor keep it.
                reset_recurrent_states(model)
                self.values.append(measure())
        finally:
            for weight, value in zip(model.trainable_weights, final):
                weight.assign(value)
            reset_recurrent_states(model)
        self.snapshots = []
        return self.values


class SpectralRadiusRecorder(keras.callbacks.Callback):
    """The spectral radius of the recurrent kernel at each epoch end, in `self.values`.

    At each epoch end only the recurrent kernel is copied; the eigenvalues are computed
    when `values` is first read (after training). On a busy 2-core machine NumPy's
    multi-threaded eigenvalue routine took 0.04-3 s per LSTM 128 kernel, and between
    epochs its threads competed with the training's.
    """

    def __init__(self, layer_name: str | None = None):
        super().__init__()
        self.layer_name = layer_name
        self._kernels: list[np.ndarray] = []
        self._values: list[float] = []

    def _layer(self):
        layer = find_recurrent_layer(self.model, self.layer_name)
        return layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer

    def on_epoch_end(self, epoch, logs=None):
        self._kernels.append(np.array(self._layer().cell.recurrent_kernel))

    @property
    def values(self) -> list[float]:
        """The radius at each finished epoch (computed from the copied kernels)."""
        if self._kernels:
            rnn = self._layer()
            self._values += [max(kernel_gate_radii(rnn, kernel).values()) for kernel in self._kernels]
            self._kernels = []
        return self._values


# A loss above this many times the first epoch's counts as diverged (it will not come back).
DIVERGENCE_FACTOR = 1e3


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the end of an epoch whose loss is NaN, infinite or exploded.

    Exploded means above `factor` times the first epoch's loss (when that was finite
    and positive). Checked per epoch (not per batch) to keep training free of extra
    device syncs; `self.epoch` is the 1-based epoch where the loss broke, or None, and
    `self.first_loss` the first epoch's loss.

    Args:
        factor: The growth over the first epoch's loss that counts as divergence.
    """

    def __init__(self, factor: float = DIVERGENCE_FACTOR):
        super().__init__()
        self.factor = factor
        self.epoch: int | None = None
        self.loss: float | None = None
        self.first_loss: float | None = None

    def on_epoch_end(self, epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if self.first_loss is None:
            self.first_loss = loss
        exploded = math.isfinite(self.first_loss) and self.first_loss > 0 and loss > self.factor * self.first_loss
        if not math.isfinite(loss) or exploded:
            self.epoch, self.loss = epoch + 1, loss
            self.model.stop_training = True


class ResetStatesAtEpochStart(keras.callbacks.Callback):
    """Resets stateful recurrent layers when an epoch starts and before validation.

    With sequential partitioning batch b+1 continues the text of batch b row by row, so
    state is carried within an epoch; a new pass over the text starts from zero state.
    """

    def on_epoch_begin(self, epoch, logs=None):
        reset_recurrent_states(self.model)

    def on_test_begin(self, logs=None):
        reset_recurrent_states(self.model)


class KeepBestWeights(keras.callbacks.Callback):
    """Selects the epoch with the lowest `monitor` value and restores its weights at the end.

    The weights are copied only when the monitored value improves (a memory copy, no
    computation). Without the monitored value (no validation split) the last epoch is
    selected and nothing is restored.

    Attributes:
        selected_epoch: The 1-based epoch whose weights the model holds after training,
            or None before any epoch finished.
    """

    def __init__(self, monitor: str = "val_loss"):
        super().__init__()
        self.monitor = monitor
        self.selected_epoch = None
        self._best = math.inf
        self._weights = None
        self._last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch + 1
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if math.isfinite(value) and value < self._best:
            self._best, self.selected_epoch = value, epoch + 1
            self._weights = [np.array(weight) for weight in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self._weights is None:
            self.selected_epoch = self._last_epoch
            return
        if self.selected_epoch != self._last_epoch:
            self.model.set_weights(self._weights)
        self._weights = None
