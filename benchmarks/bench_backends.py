"""rnnkit `train` against a hand-written `model.fit`, on TensorFlow and on JAX, char-LM workload.

The workload of `rnnkit train --task timemachine_lm --cell C --units H --batch-size 64
--option timesteps=35` (The Time Machine, vocabulary 47, 4090 training samples). Each
backend runs in its own worker process (Keras fixes its backend at import); inside a
worker the two variants alternate (hand, rnnkit, hand, rnnkit, ...) so a busy machine
slows both alike:

- `hand`: the same model (`build_model`), compiled the same way, `model.fit` with the
  same validation split, then `model.evaluate` on the test split;
- `rnnkit`: `run_experiment(...)` with everything it does by default (per-epoch
  gradient norm, spectral radius, weight selection, gradient flow, saturation, held-out
  metrics, sample generation).

Printed per backend: tokens/s of the steady epochs (median epoch after the first, which
pays for compiling), the whole call's seconds, min and median over repeats, and the
ratios rnnkit / hand. Hand-written PyTorch runs too when `torch` is importable (skipped
with a note otherwise). `--peer PATH` also runs the peer reference script
(`../shared/bench/peer_lm.py`) for each backend in the same command.

Run: `python benchmarks/bench_backends.py --cell lstm --units 128 --epochs 3 --repeats 2`
(about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(args) -> None:
    """Runs inside one backend's process; prints one JSON line per measurement."""
    import keras

    from rnnkit.config import ModelSpec, TrainConfig
    from rnnkit.data.tasks import get_task
    from rnnkit.models.builders import build_model
    from rnnkit.training.fit import make_optimizer, run_experiment

    task = get_task("timemachine_lm", timesteps=args.timesteps)
    spec = ModelSpec(cell=args.cell, variety="many_to_many", units=args.units)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=0)
    tokens = task.train.num_samples * args.timesteps

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def hand():
        keras.utils.set_random_seed(config.seed)
        model = build_model(spec, task)
        clock = EpochClock()
        started = time.perf_counter()
        model.compile(optimizer=make_optimizer(config), loss=task.loss, weighted_metrics=list(task.metrics))
        model.fit(task.train.x, task.train.y, validation_data=(task.validation.x, task.validation.y),
                  batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=[clock])
        model.evaluate(task.test.x, task.test.y, batch_size=config.batch_size, verbose=0)
        return time.perf_counter() - started, clock.seconds

    def rnnkit():
        keras.backend.clear_session(free_memory=False)
        started = time.perf_counter()
        result = run_experiment(spec, task, config)
        return time.perf_counter() - started, list(result.history["epoch_seconds"])

    for repeat in range(args.repeats):
        for variant, function in (("hand", hand), ("rnnkit", rnnkit)):
            total, epochs = function()
            steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
            print("RESULT" + json.dumps({
                "backend": keras.backend.backend(), "variant": variant, "repeat": repeat, "total_seconds": total,
                "first_epoch_seconds": epochs[0], "steady_epoch_seconds": steady, "tokens_per_second": tokens / steady,
            }), flush=True)


def torch_worker(args) -> None:
    """Hand-written PyTorch on the same data and sizes (steady epochs, no validation)."""
    import numpy as np
    import torch

    from rnnkit.data.tasks import get_task

    task = get_task("timemachine_lm", timesteps=args.timesteps)
    vocab = task.output_spec.dim
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[args.cell]
    torch.manual_seed(0)
    rnn, head = layer(vocab, args.units, batch_first=True), torch.nn.Linear(args.units, vocab)
    optimizer = torch.optim.Adam([*rnn.parameters(), *head.parameters()], 1e-3)
    x, y = torch.from_numpy(np.asarray(task.train.x, "int64")), torch.from_numpy(np.asarray(task.train.y, "int64"))
    for repeat in range(args.repeats):
        epochs = []
        for _ in range(args.epochs):
            started = time.perf_counter()
            for start in range(0, len(x), args.batch_size):
                xb, yb = x[start:start + args.batch_size], y[start:start + args.batch_size]
                optimizer.zero_grad()
                outputs, _ = rnn(torch.nn.functional.one_hot(xb, vocab).float())
                loss = torch.nn.functional.cross_entropy(head(outputs).reshape(-1, vocab), yb.reshape(-1))
                loss.backward()
                optimizer.step()
            epochs.append(time.perf_counter() - started)
        steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
        print("RESULT" + json.dumps({
            "backend": "torch", "variant": "hand", "repeat": repeat, "total_seconds": sum(epochs),
            "first_epoch_seconds": epochs[0], "steady_epoch_seconds": steady,
            "tokens_per_second": len(x) * args.timesteps / steady,
        }), flush=True)


def run_worker(argv: list[str], env: dict) -> list[dict]:
    completed = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True, text=True,
                               cwd=REPO, check=False)
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        return []
    return [json.loads(line[len("RESULT"):]) for line in completed.stdout.splitlines() if line.startswith("RESULT")]


def summary(rows: list[dict], key: str) -> tuple[float, float]:
    values = [row[key] for row in rows]
    return min(values), statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", choices=("simple_rnn", "lstm", "gru"))
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=35)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--peer", type=Path, help="path of the peer reference script peer_lm.py (optional)")
    parser.add_argument("--worker", choices=("tensorflow", "jax", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "torch":
        torch_worker(args)
        return
    if args.worker:
        worker(args)
        return

    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.setdefault("RNNKIT_DATA_DIR", str((REPO.parent / "shared" / "datasets").resolve()))
    shared = ["--cell", args.cell, "--units", str(args.units), "--epochs", str(args.epochs), "--repeats",
              str(args.repeats), "--timesteps", str(args.timesteps), "--batch-size", str(args.batch_size)]
    load_before = os.getloadavg()
    rows = []
    for backend in args.backends:
        rows += run_worker([*shared, "--worker", backend], {**env, "KERAS_BACKEND": backend})
    import importlib.util

    torch_note = None
    if importlib.util.find_spec("torch") is not None:
        rows += run_worker([*shared, "--worker", "torch"], env)
    else:
        torch_note = "PyTorch: skipped (torch is not importable; it is an optional, benchmark-only dependency)"
    peers = []
    if args.peer is not None:
        peer_cell = {"simple_rnn": "rnn"}.get(args.cell, args.cell)
        for implementation in ("keras-tf", "keras-jax"):
            completed = subprocess.run(
                [sys.executable, str(args.peer), implementation, peer_cell, str(args.units), "3"],
                env={**env, "VOCAB": "47"}, capture_output=True, text=True, check=False)
            peers.append(completed.stdout.strip() or completed.stderr.strip()[-300:])

    print(f"char LM (The Time Machine, vocab 47), {args.cell} {args.units}, batch {args.batch_size}, "
          f"timesteps {args.timesteps}, {args.epochs} epochs, {args.repeats} alternating repeats; "
          f"load average before {load_before}, after {os.getloadavg()}")
    print(f"{'backend':11s} {'variant':7s} {'tokens/s min-epoch':>18s} {'tokens/s median':>15s} "
          f"{'call s min':>10s} {'call s median':>13s} {'first epoch s':>13s}")
    for backend in dict.fromkeys(row["backend"] for row in rows):
        for variant in ("hand", "rnnkit"):
            chosen = [row for row in rows if row["backend"] == backend and row["variant"] == variant]
            if not chosen:
                continue
            speed_max = max(row["tokens_per_second"] for row in chosen)
            speed_median = statistics.median(row["tokens_per_second"] for row in chosen)
            total_min, total_median = summary(chosen, "total_seconds")
            first = statistics.median(row["first_epoch_seconds"] for row in chosen)
            print(f"{backend:11s} {variant:7s} {speed_max:18.0f} {speed_median:15.0f} {total_min:10.2f} "
                  f"{total_median:13.2f} {first:13.2f}")
    for backend in args.backends:
        hand = [row for row in rows if row["backend"] == backend and row["variant"] == "hand"]
        ours = [row for row in rows if row["backend"] == backend and row["variant"] == "rnnkit"]
        if not hand or not ours:
            continue
        for label, key in (("steady epoch", "steady_epoch_seconds"), ("whole call", "total_seconds")):
            # A speed ratio: hand seconds / rnnkit seconds (1.0 = no overhead, above 1 = faster).
            ratio_min = summary(hand, key)[0] / summary(ours, key)[0]
            ratio_median = summary(hand, key)[1] / summary(ours, key)[1]
            print(f"{backend:11s} speed rnnkit / hand, {label:13s} min {ratio_min:.3f}   median {ratio_median:.3f}")
    best = {}
    for row in rows:
        best[(row["backend"], row["variant"])] = max(best.get((row["backend"], row["variant"]), 0),
                                                     row["tokens_per_second"])
    if ("tensorflow", "rnnkit") in best and ("jax", "rnnkit") in best:
        print(f"rnnkit JAX / rnnkit TensorFlow, steady tokens/s: "
              f"{best[('jax', 'rnnkit')] / best[('tensorflow', 'rnnkit')]:.2f}x")
    if torch_note:
        print(torch_note)
    for line in peers:
        print(f"peer reference: {line}")


if __name__ == "__main__":
    main()
