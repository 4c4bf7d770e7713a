"""Per-epoch seconds of `rnnkit train` against hand-written fits, in one process.

Made for the GPU, where an epoch of the char LM lasts about 0.1 s and the steady-epoch
ratio of `bench_backends.py` (two repeats, epochs 2-3) cannot tell a per-epoch cost from
noise. Here each variant trains `EPOCHS` epochs (default 8) of the Time Machine char LM
(35 steps, batch 64) on the current Keras backend (default JAX), one after another in
this process, and every epoch's wall time is printed:

- `hand`: `model.fit` of the same model with a clock callback, as `bench_backends.py` does;
- `hand noshuffle`: the same without shuffling (rnnkit keeps a stateful LM's order);
- `hand +callbacks`: that, with rnnkit's per-epoch callbacks (`rnnkit.training.callbacks`);
- `rnnkit`: `run_experiment`, diagnostics included (its `epoch_seconds`);
- then `rnnkit` and `hand` again, for the spread between identical runs.

Run: `RNNKIT_DATA_DIR=... python benchmarks/epoch_probe.py gru:128 simple_rnn:32`
(about 45 s on an H200, a minute per row on 2 CPU cores with EPOCHS=3).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import get_task
from rnnkit.models.builders import build_model
from rnnkit.training import callbacks as rk
from rnnkit.training.fit import make_optimizer, run_experiment


class Clock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def hand(task, spec, config, shuffle=True, with_callbacks=False):
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(config.seed)
    model = build_model(spec, task)
    model.compile(optimizer=make_optimizer(config), loss=task.loss, weighted_metrics=list(task.metrics))
    clock = Clock()
    extra = []
    if with_callbacks:  # What `run_experiment` adds for a stateful char LM.
        probe_x, probe_y = task.train.x[:config.batch_size], task.train.y[:config.batch_size]
        extra = [rk.ResetStatesAtEpochStart(), rk.EpochLogger(), rk.GradientNormProbe(probe_x, probe_y, loss=task.loss),
                 rk.SpectralRadiusRecorder(), rk.StopOnNonFiniteLoss(), rk.KeepBestWeights("val_loss")]
    model.fit(task.train.x, task.train.y, validation_data=(task.validation.x, task.validation.y),
              batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=[clock] + extra,
              shuffle=shuffle)
    return clock.seconds


def through_rnnkit(task, spec, config):
    keras.backend.clear_session(free_memory=False)
    return list(run_experiment(spec, task, config).history["epoch_seconds"])


def main(rows: list[str]) -> None:
    epochs = int(os.environ.get("EPOCHS", "8"))
    task = get_task("timemachine_lm", timesteps=35)
    print(f"backend {keras.backend.backend()}, {task.train.num_samples} training sequences, {epochs} epochs", flush=True)
    for row in rows:
        cell, units = row.split(":")
        spec = ModelSpec(cell=cell, variety="many_to_many", units=int(units))
        config = TrainConfig(epochs=epochs, batch_size=64, seed=0)
        variants = [("hand", hand, {}), ("rnnkit", through_rnnkit, {}),
                    ("hand noshuffle", hand, {"shuffle": False}),
                    ("hand +callbacks", hand, {"shuffle": False, "with_callbacks": True}),
                    ("rnnkit again", through_rnnkit, {}), ("hand again", hand, {})]
        for name, function, options in variants:
            seconds = function(task, spec, config, **options)
            steady = statistics.median(seconds[1:] or seconds)
            print(f"{cell} {units} {name:16s} steady(2..) median {steady * 1000:7.1f} ms  epochs ms:",
                  " ".join(f"{value * 1000:.0f}" for value in seconds), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["gru:128"])
