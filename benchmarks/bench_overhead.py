"""Overhead of rnnkit's `train` over a hand-written `model.fit` on the same model and data.

Both sides build the same model with the same seed and train it on the same task for
the same epochs; runs alternate (hand, rnnkit, hand, rnnkit, ...) so that a busy
machine slows both alike. Printed: min and median seconds of each side and their
ratios, for
- the training loop alone (`model.fit` vs rnnkit's fit incl. its per-epoch callbacks),
- the whole call (compile + fit + evaluate by hand vs `train(..., gradient_flow=False)`),
- `train` with its default diagnostics (gradient flow and samples, outside the loop).

Run: `python benchmarks/bench_overhead.py [--repeats 5] [--epochs 5]` (about 2 minutes
on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import get_task
from rnnkit.models.builders import build_model
from rnnkit.training.fit import make_optimizer, train


def hand_written(spec, task, config) -> tuple[float, float]:
    keras.utils.set_random_seed(config.seed)
    model = build_model(spec, task)
    started = time.perf_counter()
    model.compile(optimizer=make_optimizer(config), loss=task.loss, weighted_metrics=list(task.metrics))
    fit_started = time.perf_counter()
    model.fit(task.train.x, task.train.y, validation_data=(task.validation.x, task.validation.y),
              batch_size=config.batch_size, epochs=config.epochs, shuffle=True, verbose=0)
    fit_seconds = time.perf_counter() - fit_started
    model.evaluate(task.test.x, task.test.y, batch_size=config.batch_size, verbose=0)
    return time.perf_counter() - started, fit_seconds


def through_rnnkit(spec, task, config, gradient_flow: bool) -> tuple[float, float]:
    keras.utils.set_random_seed(config.seed)
    model = build_model(spec, task)
    started = time.perf_counter()
    result = train(model, task, config, gradient_flow=gradient_flow)
    return time.perf_counter() - started, result.timings["fit_seconds"]


def summary(values) -> str:
    return f"min {min(values):7.3f} s   median {statistics.median(values):7.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--num-samples", type=int, default=3000)
    args = parser.parse_args()

    task = get_task("adding", timesteps=args.timesteps, num_samples=args.num_samples, seed=0)
    spec = ModelSpec(cell="lstm", units=32)
    config = TrainConfig(epochs=args.epochs, batch_size=32, seed=0)
    # One untimed warm-up of each side (first TensorFlow use, thread pools, imports).
    hand_written(spec, task, config.replace(epochs=1))
    through_rnnkit(spec, task, config.replace(epochs=1), gradient_flow=True)

    timings = {key: [] for key in ("hand_total", "hand_fit", "rnnkit_total", "rnnkit_fit", "rnnkit_diag_total")}
    for _ in range(args.repeats):
        total, fit = hand_written(spec, task, config)
        timings["hand_total"].append(total)
        timings["hand_fit"].append(fit)
        total, fit = through_rnnkit(spec, task, config, gradient_flow=False)
        timings["rnnkit_total"].append(total)
        timings["rnnkit_fit"].append(fit)
        total, _ = through_rnnkit(spec, task, config, gradient_flow=True)
        timings["rnnkit_diag_total"].append(total)

    print(f"task adding (timesteps {args.timesteps}, {task.train.num_samples} train samples), "
          f"LSTM(32), {args.epochs} epochs, batch 32, {args.repeats} alternating repeats; load {os.getloadavg()}")
    for key, values in timings.items():
        print(f"{key:18s} {summary(values)}")
    for label, ours, theirs in (
        ("fit loop", "rnnkit_fit", "hand_fit"),
        ("whole call", "rnnkit_total", "hand_total"),
        ("whole call + diagnostics", "rnnkit_diag_total", "hand_total"),
    ):
        ratio_min = min(timings[ours]) / min(timings[theirs])
        ratio_median = statistics.median(timings[ours]) / statistics.median(timings[theirs])
        print(f"ratio rnnkit / hand, {label:26s} min {ratio_min:.3f}   median {ratio_median:.3f}")


if __name__ == "__main__":
    main()
