"""rnnkit's LSTM layer: Keras's `LSTM`, with a faster training pass on JAX on a CPU.

`LSTM` is `keras.layers.LSTM` with the same weights, the same arguments and the same
numbers; the builders make it for every "lstm" cell. Only the recurrence differs, and
only on Keras's JAX backend running on a CPU:

- Keras runs the recurrence as a `jax.lax.scan` over its cell and lets JAX derive the
  backward pass. That backward pass adds a small matrix product to the recurrent
  weights' gradient at every time step, `h[t-1].T @ dz[t]` with `batch` rows.
- Here the forward scan keeps the gates (as Keras's derived pass keeps them too), and a
  hand-written backward pass (`jax.custom_vjp`) walks back through time computing only
  what must be sequential, the gate gradients `dz[t]` and `dz[t] @ U.T`; the recurrent
  weights' gradient is then one product over all steps at once,
  `(units, time x batch) @ (time x batch, 4 units)`, which a CPU runs much closer to
  its peak than `time` products of `batch` rows.

Measured in `benchmarks/bench_backends.py` (see the README). Everywhere else (TensorFlow,
a GPU, where Keras takes the cuDNN kernels, a mask, dropout during training, other
activations, `unroll=True`, a dtype other than float32) the layer is Keras's own code
path, unchanged.

The input product `x @ W + b` stays outside the hand-written part, so JAX derives its
gradient (and the gradient per time step at the layer's input that rnnkit's diagnostics
measure) as usual.

Example:

>>> import numpy as np
>>> layer = LSTM(3, return_sequences=True)
>>> x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
>>> tuple(layer(x).shape), layer.count_params() == 4 * 3 * (5 + 3 + 1)
((2, 4, 3), True)
"""

from __future__ import annotations

import keras

_FUSED_SCAN = None  # Built on first use, on JAX only.
# Time steps per iteration of the compiled loops (`jax.lax.scan(unroll=...)`). Measured on the
# char LM (2 cores, JAX 0.10): unrolling 5 or all 35 steps made the epochs 8-35 % slower
# (LSTM 32: 455k tokens/s at 1, 367k at 5, 291k at 35; LSTM 256: 60k, 55k, 49k).
SCAN_UNROLL = 1


def _jax_fused_scan():
    """Returns `scan(xs, W, U, b, h0, c0) -> (hs, h_last, c_last)` with a hand-written backward pass.

    `xs` is `(time, batch, features)`, `W`, `U`, `b` the kernel, recurrent kernel and
    bias in Keras's layout (gates input, forget, cell, output). `hs` is `(time, batch, units)`.
    """
    global _FUSED_SCAN
    if _FUSED_SCAN is not None:
        return _FUSED_SCAN
    import jax
    import jax.numpy as jnp

    def gates_of(z, c):
        i, f, g, o = jnp.split(z, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c_next = f * c + i * g
        return o * jnp.tanh(c_next), c_next, (i, f, g, o)

    def forward(xs, kernel, recurrent, bias, h0, c0):
        def step(carry, x):
            h, c = carry
            h_next, c_next, gates = gates_of(x @ kernel + bias + h @ recurrent, c)
            return (h_next, c_next), (h_next, c_next, gates)

        (h_last, c_last), (hs, cs, gates) = jax.lax.scan(step, (h0, c0), xs, unroll=SCAN_UNROLL)
        return (hs, h_last, c_last), (xs, hs, cs, gates, kernel, recurrent, h0, c0)

    @jax.custom_vjp
    def scan(xs, kernel, recurrent, bias, h0, c0):
        return forward(xs, kernel, recurrent, bias, h0, c0)[0]

    def backward(saved, cotangents):
        xs, hs, cs, (i, f, g, o), kernel, recurrent, h0, c0 = saved
        d_hs, d_h_last, d_c_last = cotangents
        c_prev = jnp.concatenate([c0[None], cs[:-1]], axis=0)
        h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
        tanh_c = jnp.tanh(cs)
        recurrent_t = recurrent.T

        def step(carry, inputs):
            dh_later, dc_later = carry
            dh_out, i, f, g, o, tanh_c, c_prev = inputs
            dh = dh_out + dh_later
            dc = dc_later + dh * o * (1.0 - tanh_c * tanh_c)
            dz = jnp.concatenate([
                dc * g * i * (1.0 - i),  # input gate
                dc * c_prev * f * (1.0 - f),  # forget gate
                dc * i * (1.0 - g * g),  # cell candidate
                dh * tanh_c * o * (1.0 - o),  # output gate
            ], axis=-1)
            return (dz @ recurrent_t, dc * f), dz

        # The cotangents of the last state join the last step's (the scan's carry-out).
        (dh0, dc0), dz = jax.lax.scan(step, (d_h_last, d_c_last), (d_hs, i, f, g, o, tanh_c, c_prev), reverse=True,
                                     unroll=SCAN_UNROLL)
        d_kernel = jnp.einsum("tbi,tbk->ik", xs, dz)
        d_recurrent = jnp.einsum("tbu,tbk->uk", h_prev, dz)
        return dz @ kernel.T, d_kernel, d_recurrent, jnp.sum(dz, axis=(0, 1)), dh0, dc0

    scan.defvjp(forward, backward)
    _FUSED_SCAN = scan
    return scan


def _on_jax_cpu() -> bool:
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


@keras.saving.register_keras_serializable(package="rnnkit")
class LSTM(keras.layers.LSTM):
    """`keras.layers.LSTM`, with a hand-written backward pass on JAX on a CPU (see the module).

    Takes exactly Keras's arguments and has exactly its weights; a model saved with it
    loads again once rnnkit is imported.
    """

    def fused_applies(self, mask, training) -> bool:
        """Whether the hand-written path runs for this call (else Keras's own)."""
        cell = self.cell
        return (
            _on_jax_cpu()
            and mask is None
            and not self.unroll
            and not (training and (cell.dropout or cell.recurrent_dropout))
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and self.compute_dtype == "float32"
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if keras.tree.is_nested(mask):
            mask = mask[0]
        if not self.fused_applies(mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import jax.numpy as jnp

        cell = self.cell
        xs = jnp.swapaxes(sequences, 0, 1)  # (time, batch, features)
        if self.go_backwards:
            xs = jnp.flip(xs, axis=0)  # Keras returns the outputs in the order they were computed.
        bias = cell.bias.value if cell.bias is not None else jnp.zeros((4 * self.units,), xs.dtype)
        h0, c0 = initial_state
        hs, h_last, c_last = _jax_fused_scan()(xs, cell.kernel.value, cell.recurrent_kernel.value, bias, h0, c0)
        outputs = jnp.swapaxes(hs, 0, 1)
        return h_last, outputs, [h_last, c_last]


__all__ = ["LSTM"]
