"""rnnkit `train` against a hand-written `model.fit`, on TensorFlow and on JAX (and PyTorch).

Workloads (`--task`):

- `lm` (default): `rnnkit train --task timemachine_lm --cell C --units H --batch-size 64
  --option timesteps=35` (The Time Machine, vocabulary 47, 4090 training samples);
- `adding`: the quick grid's adding problem (30 steps, 3000 samples, batch 32).

Each backend runs in its own worker process (Keras fixes its backend at import); inside
a worker the two variants alternate (hand, rnnkit, hand, rnnkit, ...) so a busy machine
slows both alike:

- `hand`: the same model (`build_model`), compiled the same way, `model.fit` with the
  same validation split, then `model.evaluate` on the test split;
- `rnnkit`: `run_experiment(...)` with everything it does by default (per-epoch
  gradient norm, spectral radius, weight selection, gradient flow, saturation, held-out
  metrics, sample generation);
- `keras`: `hand` with Keras's own `keras.layers.SimpleRNN` / `LSTM` / `GRU` in
  place of rnnkit's layers (`rnnkit.models.fast_rnn`, the same layers with a
  hand-written backward pass on JAX), to show what those layers change;
- `fused` (only with `--variants`): `hand` with rnnkit's hand-written path forced on
  whatever the platform.

On a GPU, hand-written PyTorch runs on CUDA (`torch-gpu`), and `--cudnn jax torch`
first reports which of Keras's recurrent layers take cuDNN on each Keras backend
(`benchmarks/gpu_check.sh` runs the GPU checks in one command).

Printed per row (cell, units) and backend: tokens/s of the steady epochs (median epoch
after the first, which pays for compiling), the whole call's seconds, min and median
over repeats, and the speed ratios rnnkit / hand (hand seconds over rnnkit seconds).
Hand-written PyTorch runs too when `torch` is importable (skipped with a note
otherwise), with the validation pass Keras's `fit` makes at every epoch's end; its speed
without that pass is printed beside it. `--roofline` measures the matrix-multiply roofline of the LSTM's shapes on
this machine (NumPy, TensorFlow and JAX matmuls of the recurrent step's shapes) and the share
of it each LSTM row reaches. `--peer PATH` also runs the peer reference script
(`../shared/bench/peer_lm.py`) in the same command.

`--malloc default hugepages --rounds 3` measures every row under both memory settings, in new
processes each round, the settings alternating: glibc's malloc with ordinary pages, and with
huge pages (`glibc.malloc.hugetlb=1`, what `rnnkit train` and `compare` start with; see
`rnnkit.startup`), and prints the speed ratio between them.

Run: `python benchmarks/bench_backends.py --cells lstm --units 128 --epochs 3 --repeats 2`
(about a minute on 2 CPU cores; every extra cell or size adds as much: the nine char-LM rows
with `--roofline --peer` took 10 minutes on 2026-11-27).
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
# The Time Machine task's vocabulary (one-hot input and softmax output widths).
LM_VOCAB = 47


def workload(args):
    """The task, its batch size and its time steps for `--task`."""
    from rnnkit.data.tasks import get_task

    if args.task == "adding":
        return get_task("adding", timesteps=30, num_samples=3000), 32, 30
    return get_task("timemachine_lm", timesteps=args.timesteps), args.batch_size, args.timesteps


def worker(args) -> None:
    """Runs inside one backend's process; prints one JSON line per measurement."""
    import keras

    from rnnkit.backend import share_compilations
    from rnnkit.config import ModelSpec, TrainConfig
    from rnnkit.models.builders import build_model
    from rnnkit.training.fit import make_optimizer, run_experiment

    # On JAX every variant's second repeat loads its compiled programs from the cache (rnnkit
    # turns it on in its first run anyway; the hand-written fits compile other programs since
    # rnnkit compiles its own loss and accuracy), so whole-call minimums compare cached runs.
    share_compilations()
    task, batch_size, timesteps = workload(args)
    variety = "many_to_many" if args.task == "lm" else "many_to_one"
    spec = ModelSpec(cell=args.cell, variety=variety, units=args.units)
    config = TrainConfig(epochs=args.epochs, batch_size=batch_size, seed=0)
    tokens = task.train.num_samples * timesteps

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def hand():
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(config.seed)
        model = build_model(spec, task)
        clock = EpochClock()
        started = time.perf_counter()
        model.compile(optimizer=make_optimizer(config), loss=task.loss, weighted_metrics=list(task.metrics))
        model.fit(task.train.x, task.train.y, validation_data=(task.validation.x, task.validation.y),
                  batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=[clock])
        model.evaluate(task.test.x, task.test.y, batch_size=config.batch_size, verbose=0)
        return time.perf_counter() - started, clock.seconds

    def hand_keras_layer():
        import dataclasses

        from rnnkit.models import cells

        rnnkit_row = cells.CELL_TABLE[args.cell]
        cells.CELL_TABLE[args.cell] = dataclasses.replace(rnnkit_row, build_path=None)  # Keras's own layer
        try:
            return hand()
        finally:
            cells.CELL_TABLE[args.cell] = rnnkit_row

    def hand_fused_everywhere():
        from rnnkit.models import fast_rnn

        saved = fast_rnn._FusedLoop.fused_platforms
        fast_rnn._FusedLoop.fused_platforms = ("cpu", "gpu")  # also where Keras would take cuDNN
        try:
            return hand()
        finally:
            fast_rnn._FusedLoop.fused_platforms = saved

    def rnnkit():
        keras.backend.clear_session(free_memory=False)
        started = time.perf_counter()
        result = run_experiment(spec, task, config)
        return time.perf_counter() - started, list(result.history["epoch_seconds"])

    device = "cpu"
    if keras.backend.backend() == "jax":
        import jax

        device = jax.default_backend()
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    functions = {"hand": hand, "rnnkit": rnnkit, "keras": hand_keras_layer, "fused": hand_fused_everywhere}
    for repeat in range(args.repeats):
        for variant in args.variants:
            function = functions[variant]
            total, epochs = function()
            steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
            print("RESULT" + json.dumps({
                "backend": keras.backend.backend(), "device": device, "variant": variant, "repeat": repeat, "total_seconds": total,
                "first_epoch_seconds": epochs[0], "steady_epoch_seconds": steady, "tokens_per_second": tokens / steady,
            }), flush=True)


def torch_worker(args) -> None:
    """Hand-written PyTorch on the same data and sizes, with the same validation pass per epoch.

    Keras's `fit` (hand-written or rnnkit's) evaluates the validation split at every
    epoch's end, and its epoch time includes it; PyTorch does the same work here (the
    loss over the validation split, without gradients). `train_tokens_per_second` leaves
    that pass out, as `../shared/bench/peer_lm.py` does.
    """
    import numpy as np
    import torch

    task, batch_size, timesteps = workload(args)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[args.cell]
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # cuDNN for all three cells on a GPU
    if args.task == "lm":
        vocab = LM_VOCAB
        rnn, head = layer(vocab, args.units, batch_first=True), torch.nn.Linear(args.units, vocab)
        x = torch.from_numpy(np.asarray(task.train.x, "int64"))
        y = torch.from_numpy(np.asarray(task.train.y, "int64"))
        x_val = torch.from_numpy(np.asarray(task.validation.x, "int64"))
        y_val = torch.from_numpy(np.asarray(task.validation.y, "int64"))

        def loss_of(xb, yb):
            outputs, _ = rnn(torch.nn.functional.one_hot(xb, vocab).float())
            return torch.nn.functional.cross_entropy(head(outputs).reshape(-1, vocab), yb.reshape(-1))
    else:
        rnn, head = layer(2, args.units, batch_first=True), torch.nn.Linear(args.units, 1)
        x = torch.from_numpy(np.asarray(task.train.x, "float32"))
        y = torch.from_numpy(np.asarray(task.train.y, "float32")).reshape(len(x), 1)
        x_val = torch.from_numpy(np.asarray(task.validation.x, "float32"))
        y_val = torch.from_numpy(np.asarray(task.validation.y, "float32")).reshape(len(x_val), 1)

        def loss_of(xb, yb):
            outputs, _ = rnn(xb)
            return torch.nn.functional.mse_loss(head(outputs[:, -1]), yb)

    rnn, head, x, y = rnn.to(device), head.to(device), x.to(device), y.to(device)
    x_val, y_val = x_val.to(device), y_val.to(device)
    optimizer = torch.optim.Adam([*rnn.parameters(), *head.parameters()], 1e-3)

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    for repeat in range(args.repeats):
        epochs, training = [], []
        for _ in range(args.epochs):
            started = time.perf_counter()
            for start in range(0, len(x), batch_size):
                optimizer.zero_grad()
                loss = loss_of(x[start:start + batch_size], y[start:start + batch_size])
                loss.backward()
                optimizer.step()
            synchronize()
            training.append(time.perf_counter() - started)
            with torch.no_grad():  # the validation loss, as Keras's fit computes it each epoch
                validation = sum(float(loss_of(x_val[start:start + batch_size], y_val[start:start + batch_size]))
                                 for start in range(0, len(x_val), batch_size))
            synchronize()
            epochs.append(time.perf_counter() - started)
        steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
        steady_training = statistics.median(training[1:] if len(training) > 1 else training)
        print("RESULT" + json.dumps({
            "backend": "torch" if device == "cpu" else "torch-gpu", "device": "cpu" if device == "cpu" else "gpu",
            "variant": "hand", "repeat": repeat, "total_seconds": sum(epochs),
            "first_epoch_seconds": epochs[0], "steady_epoch_seconds": steady,
            "tokens_per_second": len(x) * timesteps / steady,
            "train_tokens_per_second": len(x) * timesteps / steady_training,
            "validation_loss": validation,
        }), flush=True)


def cudnn_worker(args) -> None:
    """Whether Keras runs its LSTM and GRU layers with cuDNN on this backend and device.

    Keras's layers call the backend's `lstm` / `gru` function first; it raises
    NotImplementedError when the backend has no special path for the layer (or the layer
    or device does not qualify), and Keras then runs its generic loop. The backend's
    function may itself use cuDNN or not: TensorFlow's and PyTorch's call their private
    `_cudnn_lstm` / `_cudnn_gru`, JAX's LSTM calls `jax.experimental.rnn.lstm`. All of
    these are wrapped here to record what ran while Keras's own layer of each cell trains
    one epoch. On JAX the compiled training gradient is also searched for a cuDNN custom
    call, as independent evidence.
    """
    import importlib
    import re

    import keras
    import numpy as np
    from keras.src import backend as keras_backend

    name = keras.backend.backend()
    ran = {}

    def recording(original, cell, what, fallthrough):
        def wrapped(*arguments, **keywords):
            try:
                result = original(*arguments, **keywords)
            except NotImplementedError:
                ran.setdefault(cell, set()).add(fallthrough)
                raise
            ran.setdefault(cell, set()).add(what)
            return result
        return wrapped

    for cell in ("lstm", "gru"):
        setattr(keras_backend, cell, recording(getattr(keras_backend, cell), cell,
                                               f"{name}'s own {cell} function", "Keras's generic loop"))
    if name in ("tensorflow", "torch"):
        module = importlib.import_module(f"keras.src.backend.{name}.rnn")
        for cell in ("lstm", "gru"):
            setattr(module, f"_cudnn_{cell}",
                    recording(getattr(module, f"_cudnn_{cell}"), cell, "cuDNN", "cuDNN failed"))
    elif name == "jax":
        import jax.experimental.rnn as jax_rnn

        jax_rnn.lstm = recording(jax_rnn.lstm, "lstm", "cuDNN", "cuDNN failed")
    device = "cpu"
    if name == "jax":
        import jax

        device = jax.default_backend()
    elif name == "torch":
        import torch

        device = "gpu" if torch.cuda.is_available() else "cpu"
    elif name == "tensorflow":
        import tensorflow as tf

        device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    x = np.random.default_rng(0).normal(size=(64, args.timesteps, LM_VOCAB)).astype("float32")
    for cell, layer_class in (("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU)):
        model = keras.Sequential([keras.Input(x.shape[1:]), layer_class(args.units, return_sequences=True),
                                  keras.layers.Dense(LM_VOCAB)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, x, batch_size=64, epochs=1, verbose=0)
        compiled_cudnn = None
        if name == "jax":
            import jax
            import jax.numpy as jnp

            layer = model.layers[0]

            def loss(values, inputs, layer=layer):
                outputs, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], inputs)
                return jnp.sum(outputs ** 2)

            text = jax.jit(jax.grad(loss)).lower([v.value for v in layer.trainable_variables], x).compile().as_text()
            compiled_cudnn = re.search(r'custom_call_target="[^"]*cudnn[^"]*"', text, re.IGNORECASE) is not None
        print("RESULT" + json.dumps({
            "kind": "cudnn", "backend": name, "device": device, "cell": cell,
            "keras_path": sorted(ran.get(cell, {"no backend call"})), "compiled_cudnn_call": compiled_cudnn,
        }), flush=True)


def lstm_training_flops(units: int, inputs: int, outputs: int, tokens: float) -> float:
    """Floating-point operations of training an LSTM + Dense head on `tokens` time steps.

    Per time step and sample the LSTM multiplies [x_t, h_{t-1}] (inputs + units) by its
    4 gate blocks (4 * units columns), and the head multiplies h_t (units) by `outputs`
    columns; 2 FLOPs per multiply-add, and training costs 3 times the forward pass
    (forward, gradient of the inputs, gradient of the weights). Element-wise gate
    arithmetic is left out (a few percent at 256 units).
    """
    multiply_adds = (inputs + units) * 4 * units + units * outputs
    return 3 * 2 * multiply_adds * tokens


def matmul_roofline(batch: int, units: int, inputs: int, repeats: int = 200) -> dict:
    """Measured GFLOP/s of this machine's dense matmul at the LSTM step's shapes.

    Shapes: `(batch, inputs + units) @ (inputs + units, 4 * units)`, the product that runs
    once per time step (the step cannot start before the previous one ends). Measured with
    NumPy (its BLAS, all cores), with TensorFlow (a `tf.function` loop of matmuls) and with
    JAX (an XLA loop), the best of 5 runs of `repeats` products each.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.normal(size=(batch, inputs + units)).astype("float32")
    b = rng.normal(size=(inputs + units, 4 * units)).astype("float32")
    flops = 2 * batch * (inputs + units) * 4 * units * repeats
    best = {}
    for _ in range(5):
        started = time.perf_counter()
        x = a
        for _ in range(repeats):
            x = (x @ b)[:, :inputs + units] * 1e-3
        best["numpy"] = max(best.get("numpy", 0.0), flops / (time.perf_counter() - started) / 1e9)
    big = rng.normal(size=(1024, 1024)).astype("float32")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(10):
            big @ big
        best["numpy_1024_square"] = max(best.get("numpy_1024_square", 0.0),
                                        2 * 1024 ** 3 * 10 / (time.perf_counter() - started) / 1e9)
    # Each product feeds the next (as the recurrence does), so no product can be hoisted
    # out of the loop; the feedback (a slice times a constant) is small next to the matmul.
    code = (
        "import time, tensorflow as tf\n"
        f"a = tf.random.normal(({batch}, {inputs + units})); b = tf.random.normal(({inputs + units}, {4 * units}))\n"
        "@tf.function(autograph=False)\n"
        "def loop(a, b):\n"
        f"    body = lambda i, x: (i + 1, tf.matmul(x, b)[:, :{inputs + units}] * 1e-3)\n"
        f"    return tf.while_loop(lambda i, x: i < {repeats}, body, (tf.constant(0), a))[1]\n"
        "loop(a, b)\n"
        "best = 0.0\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); loop(a, b).numpy(); best = max(best, 1 / (time.perf_counter() - t))\n"
        f"print('GFLOPS', best * {flops} / 1e9)\n"
    )
    _gflops_of(code, "tensorflow", best, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    # The same loop compiled by XLA (JAX). XLA would compute only the part of a product that a
    # slice keeps, so the feedback is the largest of the four gate blocks (a reduction XLA
    # cannot move into the product), its first columns repeated to the product's width.
    code = (
        "import time, jax, jax.numpy as jnp\n"
        f"a = jax.random.normal(jax.random.key(0), ({batch}, {inputs + units}))\n"
        f"b = jax.random.normal(jax.random.key(1), ({inputs + units}, {4 * units}))\n"
        "def body(i, x):\n"
        f"    m = jnp.max((x @ b).reshape({batch}, 4, {units}), axis=1) * 1e-3\n"
        f"    return jnp.concatenate([m, m[:, :{inputs}]], axis=1)\n"
        f"loop = jax.jit(lambda a, b: jax.lax.fori_loop(0, {repeats}, body, a))\n"
        "loop(a, b).block_until_ready()\n"
        "best = 0.0\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); loop(a, b).block_until_ready(); best = max(best, 1 / (time.perf_counter() - t))\n"
        f"print('GFLOPS', best * {flops} / 1e9)\n"
    )
    _gflops_of(code, "jax", best)
    return best


def _gflops_of(code: str, name: str, best: dict, env=None) -> None:
    """Runs `code` in a new Python process and stores the GFLOP/s it prints as `best[name]`.

    Left out (no entry) when the process prints no "GFLOPS" line, e.g. without that backend.
    """
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("GFLOPS")]
    if lines:
        best[name] = float(lines[0].split()[1])


def run_worker(argv: list[str], env: dict) -> list[dict]:
    completed = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True, text=True,
                               cwd=REPO, check=False)
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        return []
    return [json.loads(line[len("RESULT"):]) for line in completed.stdout.splitlines() if line.startswith("RESULT")]


def malloc_environment(env: dict, mode: str) -> dict:
    """The workers' environment for a `--malloc` setting (`rnnkit.startup` explains the tunable)."""
    if mode == "inherit":
        return env
    tunables = [item for item in env.get("GLIBC_TUNABLES", "").split(":")
                if item and not item.startswith("glibc.malloc.hugetlb")]
    if mode == "hugepages":
        tunables.append("glibc.malloc.hugetlb=1")
    changed = {key: value for key, value in env.items() if key != "GLIBC_TUNABLES"}
    # RNNKIT_HUGEPAGES=off: nothing in the worker starts again with other settings.
    changed["RNNKIT_HUGEPAGES"] = "off"
    return {**changed, **({"GLIBC_TUNABLES": ":".join(tunables)} if tunables else {})}


def compare_malloc(default: list[dict], hugepages: list[dict]) -> None:
    """Steady tokens/s with huge pages over without, per backend and variant (best and median)."""
    for backend in dict.fromkeys(row["backend"] for row in default):
        for variant in ("hand", "rnnkit", "keras", "fused"):
            ordinary = [row["tokens_per_second"] for row in default
                        if row["backend"] == backend and row["variant"] == variant]
            huge = [row["tokens_per_second"] for row in hugepages
                    if row["backend"] == backend and row["variant"] == variant]
            if ordinary and huge:
                print(f"{backend:11s} {variant:7s} speed hugepages / default, steady tokens/s: best "
                      f"{max(huge) / max(ordinary):.3f}   median {statistics.median(huge) / statistics.median(ordinary):.3f}"
                      f"   ({len(huge)} and {len(ordinary)} repeats)")


def summary(rows: list[dict], key: str) -> tuple[float, float]:
    values = [row[key] for row in rows]
    return min(values), statistics.median(values)


def report_row(label: str, rows: list[dict], backends: list[str], roofline: dict | None, flops_per_token) -> None:
    print(f"\n{label}")
    print(f"{'backend':11s} {'device':6s} {'variant':7s} {'tokens/s best':>13s} {'tokens/s median':>15s} "
          f"{'call s min':>10s} {'call s median':>13s} {'first epoch s':>13s}")
    for backend in dict.fromkeys(row["backend"] for row in rows):
        for variant in ("hand", "rnnkit", "keras", "fused"):
            chosen = [row for row in rows if row["backend"] == backend and row["variant"] == variant]
            if not chosen:
                continue
            speed_max = max(row["tokens_per_second"] for row in chosen)
            speed_median = statistics.median(row["tokens_per_second"] for row in chosen)
            total_min, total_median = summary(chosen, "total_seconds")
            first = statistics.median(row["first_epoch_seconds"] for row in chosen)
            print(f"{backend:11s} {chosen[0].get('device', 'cpu'):6s} {variant:7s} {speed_max:13.0f} {speed_median:15.0f} {total_min:10.2f} "
                  f"{total_median:13.2f} {first:13.2f}")
    for backend in backends:
        hand = [row for row in rows if row["backend"] == backend and row["variant"] == "hand"]
        ours = [row for row in rows if row["backend"] == backend and row["variant"] == "rnnkit"]
        if not hand or not ours:
            continue
        for name, key in (("steady epoch", "steady_epoch_seconds"), ("whole call", "total_seconds")):
            # A speed ratio: hand seconds / rnnkit seconds (1.0 = no overhead, above 1 = faster).
            ratio_min = summary(hand, key)[0] / summary(ours, key)[0]
            ratio_median = summary(hand, key)[1] / summary(ours, key)[1]
            print(f"{backend:11s} speed rnnkit / hand, {name:13s} min {ratio_min:.3f}   median {ratio_median:.3f}")
        key = "steady_epoch_seconds"
        for variant, words in (("keras", "hand with rnnkit's layer / hand with Keras's"),
                               ("fused", "hand with the hand-written path forced / hand as shipped")):
            other = [row for row in rows if row["backend"] == backend and row["variant"] == variant]
            if other and hand:
                ratio_min = summary(other, key)[0] / summary(hand, key)[0]
                ratio_median = summary(other, key)[1] / summary(hand, key)[1]
                if variant == "fused":
                    ratio_min, ratio_median = 1 / ratio_min, 1 / ratio_median
                print(f"{backend:11s} speed {words}, steady epoch min {ratio_min:.3f}   median {ratio_median:.3f}")
    best = {}
    for row in rows:
        key = (row["backend"], row["variant"])
        best[key] = max(best.get(key, 0.0), row["tokens_per_second"])
    fastest = max((value, backend) for (backend, variant), value in best.items() if variant == "rnnkit") \
        if any(variant == "rnnkit" for _, variant in best) else None
    for torch_key in ("torch", "torch-gpu"):
        if fastest and (torch_key, "hand") in best:
            training_only = max(row.get("train_tokens_per_second", row["tokens_per_second"]) for row in rows
                                if row["backend"] == torch_key)
            print(f"rnnkit's fastest path ({fastest[1]}) / hand PyTorch ({torch_key}), best steady tokens/s: "
                  f"{fastest[0] / best[(torch_key, 'hand')]:.2f}x (PyTorch without its validation pass, "
                  f"{training_only:.0f} tokens/s: {fastest[0] / training_only:.2f}x)")
    if fastest and roofline and flops_per_token:
        achieved = fastest[0] * flops_per_token / 1e9
        for name, peak in roofline.items():
            print(f"roofline ({name} matmul {peak:.1f} GFLOP/s): rnnkit {fastest[1]} reaches "
                  f"{achieved:.1f} GFLOP/s = {100 * achieved / peak:.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("lm", "adding"), default="lm")
    parser.add_argument("--cells", nargs="+", default=["lstm"], choices=("simple_rnn", "lstm", "gru"))
    parser.add_argument("--units", type=int, nargs="+", default=[128])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=35)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--no-torch", action="store_true", help="leave hand-written PyTorch out")
    parser.add_argument("--roofline", action="store_true", help="measure the matmul roofline for LSTM rows")
    parser.add_argument("--peer", type=Path, help="path of the peer reference script peer_lm.py (optional)")
    parser.add_argument("--variants", nargs="+", default=["hand", "rnnkit", "keras"],
                        choices=("hand", "rnnkit", "keras", "fused"),
                        help="keras: the hand-written fit with Keras's own layers (on a GPU, cuDNN for the LSTM "
                             "on JAX); fused: rnnkit's layers with their hand-written JAX path forced on every "
                             "platform (`fast_rnn._FusedLoop.fused_platforms`)")
    parser.add_argument("--cudnn", nargs="*", metavar="KERAS_BACKEND",
                        help="first report whether Keras runs LSTM and GRU with cuDNN on each of these Keras "
                             "backends (tensorflow, jax, torch; default: --backends) on this machine")
    parser.add_argument("--malloc", nargs="+", default=["inherit"], choices=("inherit", "default", "hugepages"),
                        help="the memory pages the workers' malloc uses: inherit (this shell's), default (ordinary "
                             "pages: GLIBC_TUNABLES without glibc.malloc.hugetlb), hugepages (glibc.malloc.hugetlb=1, "
                             "what `rnnkit train` and `compare` start with); several: each row is measured under "
                             "each, in turn, and reported per setting")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every worker this many times, the --malloc settings alternating (each round "
                             "is new processes; the rows pool all rounds)")
    parser.add_argument("--worker", choices=("tensorflow", "jax", "torch", "cudnn"), help=argparse.SUPPRESS)
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.units = args.units[0]
        {"torch": torch_worker, "cudnn": cudnn_worker}.get(args.worker, worker)(args)
        return

    import importlib.util

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.setdefault("RNNKIT_DATA_DIR", str((REPO.parent / "shared" / "datasets").resolve()))
    has_torch = importlib.util.find_spec("torch") is not None and not args.no_torch
    load_before = os.getloadavg()
    print(f"task {args.task}, {args.epochs} epochs, {args.repeats} alternating repeats; load average before "
          f"{load_before}", flush=True)
    if args.cudnn is not None:
        print("\ncuDNN use by Keras's own layers (units "
              f"{args.units[0]}, {args.timesteps} steps, batch 64, return_sequences):")
        for backend in args.cudnn or args.backends:
            rows = run_worker(["--worker", "cudnn", "--units", str(args.units[0]), "--timesteps",
                               str(args.timesteps)], {**env, "KERAS_BACKEND": backend})
            if not rows:
                print(f"{backend:11s} could not run (see the error above)")
            for row in rows:
                compiled = {None: "", True: "; cuDNN call in the compiled program",
                            False: "; no cuDNN call in the compiled program"}[row["compiled_cudnn_call"]]
                print(f"{backend:11s} {row['device']:4s} {row['cell']:5s} ran: "
                      f"{', '.join(row['keras_path'])}{compiled}", flush=True)
    for cell in args.cells:
        for units in args.units:
            shared = ["--task", args.task, "--cell", cell, "--units", str(units), "--epochs", str(args.epochs),
                      "--repeats", str(args.repeats), "--timesteps", str(args.timesteps),
                      "--batch-size", str(args.batch_size), "--variants", *args.variants]
            by_malloc: dict[str, list[dict]] = {mode: [] for mode in args.malloc}
            for _ in range(args.rounds):
                for mode in args.malloc:
                    mode_env = malloc_environment(env, mode)
                    for backend in args.backends:
                        by_malloc[mode] += run_worker([*shared, "--worker", backend],
                                                      {**mode_env, "KERAS_BACKEND": backend})
                    if has_torch:
                        by_malloc[mode] += run_worker([*shared, "--worker", "torch"], mode_env)
            roofline, flops_per_token = None, None
            if args.roofline and cell == "lstm":
                inputs, outputs = (LM_VOCAB, LM_VOCAB) if args.task == "lm" else (2, 0)
                batch = args.batch_size if args.task == "lm" else 32
                roofline = matmul_roofline(batch, units, inputs)
                flops_per_token = lstm_training_flops(units, inputs, outputs, 1)
            for mode, rows in by_malloc.items():
                pages = "" if mode == "inherit" else f", malloc {mode}"
                report_row(f"{args.task} {cell} {units}{pages} (load average now {os.getloadavg()})", rows,
                           args.backends, roofline, flops_per_token)
            if {"default", "hugepages"} <= set(by_malloc):
                compare_malloc(by_malloc["default"], by_malloc["hugepages"])
            if args.peer is not None and args.task == "lm":
                peer_cell = {"simple_rnn": "rnn"}.get(cell, cell)
                for implementation in ("keras-tf", "keras-jax"):
                    completed = subprocess.run(
                        [sys.executable, str(args.peer), implementation, peer_cell, str(units), "3"],
                        env={**env, "VOCAB": str(LM_VOCAB)}, capture_output=True, text=True, check=False)
                    print(f"peer reference: {completed.stdout.strip() or completed.stderr.strip()[-300:]}")
    if not has_torch:
        print("PyTorch: skipped (torch is not importable, or --no-torch; it is an optional, benchmark-only "
              "dependency)")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
