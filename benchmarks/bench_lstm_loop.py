"""Where the time of rnnkit's LSTM layer goes on a CPU (JAX), beside PyTorch's LSTM.

The char-LM shape of `bench_backends.py` (batch 64, 35 steps, 47 one-hot classes), for
each `--units`. Measured, one process, the variants alternating in every round:

- `step`: loss and gradients of rnnkit's LSTM scan (`rnnkit.models.fast_rnn`) plus the
  output head and a log-softmax cross-entropy (no optimizer), compiled with `jax.jit`;
- `forward`: the layer's forward scan alone;
- `backward`: its backward pass alone (the weights' gradients from saved forward values);
- `products`: the forward's 35 chained products `h @ U` alone, in the same kind of loop
  (each step's next `h` is the largest of the product's four gate blocks);
- `gates`: the forward's element-wise gate work alone (the loop without its products);
- `torch step`: PyTorch's `nn.LSTM` with the same head, loss and Adam (when importable),
  in a process of its own (in the process that had run JAX's variants, PyTorch's step
  took 1.3-1.5x as long);
- `matmul`: one `(64 x units) @ (units x 4 units)` product, the shape of each recurrent
  step, with NumPy and PyTorch (JAX's is in `products`, 35 of them per call).

Prints min and median milliseconds over `--rounds` rounds. Run with the huge pages that
`rnnkit train` uses: `GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python benchmarks/bench_lstm_loop.py`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH, STEPS, VOCAB = 64, 35, 47


def jax_variants(units: int) -> dict:
    """Name -> a call that runs one variant to completion, for the JAX pieces."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from rnnkit.models.fast_rnn import _jax_fused_scan

    rng = np.random.default_rng(0)
    gates_width = 4 * units

    def normal(scale, *shape):
        return jnp.asarray(rng.normal(0.0, scale, shape), jnp.float32)

    kernel, recurrent, bias = normal(0.1, VOCAB, gates_width), normal(0.05, units, gates_width), normal(0.1, gates_width)
    head, head_bias = normal(0.1, units, VOCAB), jnp.zeros(VOCAB, jnp.float32)
    tokens = jnp.asarray(rng.integers(0, VOCAB, (STEPS, BATCH)))
    labels = jnp.asarray(rng.integers(0, VOCAB, (STEPS, BATCH)))
    xs = jax.nn.one_hot(tokens, VOCAB, dtype=jnp.float32)
    zeros = jnp.zeros((BATCH, units), jnp.float32)
    scan = _jax_fused_scan()

    def loss(weights):
        hs, _, _ = scan(xs, *weights[:3], zeros, zeros)
        log_probs = jax.nn.log_softmax(hs @ weights[3] + weights[4])
        return -jnp.mean(jnp.take_along_axis(log_probs, labels[..., None], axis=-1))

    step = jax.jit(jax.value_and_grad(loss))
    forward = jax.jit(lambda: scan(xs, kernel, recurrent, bias, zeros, zeros))
    _, pullback = jax.vjp(scan, xs, kernel, recurrent, bias, zeros, zeros)
    cotangents = (normal(1.0, STEPS, BATCH, units), normal(1.0, BATCH, units), normal(1.0, BATCH, units))
    backward = jax.jit(lambda function, cotangent: function(cotangent)[1:4])  # the weights' gradients

    @jax.jit
    def products():
        def body(h, _):
            # The largest of the four blocks, so that XLA computes all of the product (of a
            # slice or a sum of blocks it would compute less) at the cost of one small reduction.
            return jnp.max((h @ recurrent).reshape(BATCH, 4, units), axis=1), None

        return jax.lax.scan(body, zeros, xs)[0]

    @jax.jit
    def gates():
        def body(carry, x):
            h, c = carry
            z = jnp.tile(h, (1, 4)) + bias  # what the products would give, without them
            i, f, g, o = jnp.split(z, 4, axis=-1)
            i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
            c_next = f * c + i * g
            h_next = o * jnp.tanh(c_next)
            return (h_next, c_next), (h_next, c_next, i, f, g, o)

        return jax.lax.scan(body, (zeros, zeros), xs)

    weights = (kernel, recurrent, bias, head, head_bias)
    return {
        "step": lambda: jax.block_until_ready(step(weights)),
        "forward": lambda: jax.block_until_ready(forward()),
        "backward": lambda: jax.block_until_ready(backward(pullback, cotangents)),
        "products": lambda: jax.block_until_ready(products()),
        "gates": lambda: jax.block_until_ready(gates()),
    }


def numpy_matmul(units: int):
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.normal(size=(BATCH, units)).astype("float32")
    b = rng.normal(size=(units, 4 * units)).astype("float32")
    return lambda: a @ b


def torch_variants(units: int) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(VOCAB, units), torch.nn.Linear(units, VOCAB)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], 1e-3)
    tokens = torch.randint(0, VOCAB, (STEPS, BATCH))
    labels = torch.randint(0, VOCAB, (STEPS, BATCH))

    def step():
        optimizer.zero_grad()
        outputs, _ = lstm(torch.nn.functional.one_hot(tokens, VOCAB).float())
        loss = torch.nn.functional.cross_entropy(head(outputs).reshape(-1, VOCAB), labels.reshape(-1))
        loss.backward()
        optimizer.step()

    a, b = torch.randn(BATCH, units), torch.randn(units, 4 * units)
    return {"torch step": step, "matmul torch": lambda: a @ b}


def measure(variants: dict, rounds: int, seconds: float) -> dict:
    """Min and median milliseconds per call of each variant, the variants alternating."""
    calls = {}
    for name, function in variants.items():
        for _ in range(3):  # compile and warm up
            function()
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            function()
            count += 1
        calls[name] = max(count, 5)
    timings = {name: [] for name in variants}
    for _ in range(rounds):
        for name, function in variants.items():
            started = time.perf_counter()
            for _ in range(calls[name]):
                function()
            timings[name].append((time.perf_counter() - started) / calls[name] * 1e3)
    return {name: (min(values), statistics.median(values)) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="rough length of one round of one variant")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        print(json.dumps({units: measure(torch_variants(units), args.rounds, args.seconds) for units in args.units}))
        return
    load_before = os.getloadavg()
    torch_results = {}
    if importlib.util.find_spec("torch") is not None:
        worker = subprocess.run([sys.executable, __file__, "--torch-worker", "--units", *map(str, args.units),
                                 "--rounds", str(args.rounds), "--seconds", str(args.seconds)],
                                check=True, capture_output=True, text=True)
        torch_results = json.loads(worker.stdout.strip().splitlines()[-1])
    else:
        print("PyTorch: skipped (torch is not importable; it is an optional, benchmark-only dependency)")
    print(f"load average before {load_before}, {os.cpu_count()} CPUs, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')!r}")
    for units in args.units:
        variants = jax_variants(units)
        variants["matmul numpy"] = numpy_matmul(units)
        results = {**measure(variants, args.rounds, args.seconds), **torch_results.get(str(units), {})}
        flops = 2 * BATCH * units * 4 * units
        print(f"\nLSTM {units} units, batch {BATCH}, {STEPS} steps, {VOCAB} one-hot classes")
        print(f"{'variant':14s} {'min ms':>9s} {'median ms':>10s}")
        for name, (low, middle) in results.items():
            per_product = {"products": STEPS}.get(name, 1 if name.startswith("matmul") else 0)
            extra = f"  {per_product * flops / low / 1e6:.0f} GFLOP/s" if per_product else ""
            print(f"{name:14s} {low:9.3f} {middle:10.3f}{extra}")
        parts = results["products"][0] + results["gates"][0]
        print(f"forward / (products + gates), min: {results['forward'][0] / parts:.2f}")
        if "torch step" in results:
            print(f"torch step / rnnkit step (no optimizer), min: {results['torch step'][0] / results['step'][0]:.2f}")
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
