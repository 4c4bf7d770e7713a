"""rnnkit's recurrent layers: Keras's, with a faster training pass on JAX.

`SimpleRNN`, `LSTM` and `GRU` are Keras's layers of those names with the same weights,
the same arguments and the same numbers; the builders make them for every
"simple_rnn", "lstm" and "gru" cell. Only the recurrence differs, and only on Keras's JAX
backend (on a CPU and on a GPU):

- Keras runs the recurrence as a `jax.lax.scan` over its cell and lets JAX derive the
  backward pass. That backward pass adds small matrix products to the weights'
  gradients at every time step, `h[t-1].T @ dz[t]` and `x[t].T @ dz[t]` with `batch` rows.
- Here the forward scan keeps the gates (as Keras's derived pass keeps them too), and a
  hand-written backward pass (`jax.custom_vjp`) walks back through time computing only
  what must be sequential: the gate gradients `dz[t]` and what flows to the previous
  step, `dz[t] @ U.T`. The weights' gradients are then one product each over all steps
  at once, e.g. `(units, time x batch) @ (time x batch, 4 units)`, which a CPU runs much
  closer to its peak than `time` products of `batch` rows. The gradient at the layer's
  input (which rnnkit's gradient-flow diagnostic measures) is `dz @ W.T`, also at once.

Measured in `benchmarks/bench_backends.py` (see the README): faster than Keras's path on a
CPU, and on an H100 GPU faster than Keras's path there too, which for the LSTM is cuDNN
(through `jax.experimental.rnn`). Everywhere else (TensorFlow, a mask, dropout during
training, other activations, `unroll=True`, a dtype other than float32, a GRU with
`reset_after=False`, or `use_cudnn=True` asked for by name) the layer runs Keras's own code
path, unchanged.

Example:

>>> import numpy as np
>>> layer = LSTM(3, return_sequences=True)
>>> x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
>>> tuple(layer(x).shape), layer.count_params() == 4 * 3 * (5 + 3 + 1)
((2, 4, 3), True)
>>> gru = GRU(3)
>>> gru.build((2, 4, 5))
>>> gru.count_params() == 3 * 3 * (5 + 3 + 2)  # reset_after: two bias vectors
True
"""

from __future__ import annotations

import keras

_FUSED_SCAN = None  # Built on first use, on JAX only.
_FUSED_GRU_SCAN = None
_FUSED_SIMPLE_SCAN = None
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


def _jax_fused_gru_scan():
    """Returns `scan(xs, W, U, b_in, b_rec, h0) -> (hs, h_last)` with a hand-written backward pass.

    Keras's GRU with `reset_after=True`: gates update z, reset r, candidate; per step
    `x @ W + b_in = [x_z, x_r, x_h]`, `h @ U + b_rec = [m_z, m_r, m_h]`,
    `z = sigmoid(x_z + m_z)`, `r = sigmoid(x_r + m_r)`, `c = tanh(x_h + r * m_h)`,
    `h' = z * h + (1 - z) * c`.
    """
    global _FUSED_GRU_SCAN
    if _FUSED_GRU_SCAN is not None:
        return _FUSED_GRU_SCAN
    import jax
    import jax.numpy as jnp

    def forward(xs, kernel, recurrent, input_bias, recurrent_bias, h0):
        def step(h, x):
            x_z, x_r, x_h = jnp.split(x @ kernel + input_bias, 3, axis=-1)
            m_z, m_r, m_h = jnp.split(h @ recurrent + recurrent_bias, 3, axis=-1)
            z, r = jax.nn.sigmoid(x_z + m_z), jax.nn.sigmoid(x_r + m_r)
            candidate = jnp.tanh(x_h + r * m_h)
            h_next = z * h + (1.0 - z) * candidate
            return h_next, (h_next, z, r, candidate, m_h)

        h_last, (hs, z, r, candidate, m_h) = jax.lax.scan(step, h0, xs, unroll=SCAN_UNROLL)
        return (hs, h_last), (xs, hs, z, r, candidate, m_h, kernel, recurrent, h0)

    @jax.custom_vjp
    def scan(xs, kernel, recurrent, input_bias, recurrent_bias, h0):
        return forward(xs, kernel, recurrent, input_bias, recurrent_bias, h0)[0]

    def backward(saved, cotangents):
        xs, hs, z, r, candidate, m_h, kernel, recurrent, h0 = saved
        d_hs, d_h_last = cotangents
        h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
        recurrent_t = recurrent.T

        def step(dh_later, inputs):
            dh_out, z, r, candidate, m_h, h_prev = inputs
            dh = dh_out + dh_later
            d_candidate = dh * (1.0 - z) * (1.0 - candidate * candidate)  # at tanh's input
            d_z = dh * (h_prev - candidate) * z * (1.0 - z)
            d_r = d_candidate * m_h * r * (1.0 - r)
            d_inner = jnp.concatenate([d_z, d_r, d_candidate * r], axis=-1)  # at h @ U + b_rec
            d_outer = jnp.concatenate([d_z, d_r, d_candidate], axis=-1)  # at x @ W + b_in
            return dh * z + d_inner @ recurrent_t, (d_inner, d_outer)

        # The cotangent of the last state joins the last step's (the scan's carry-out).
        dh0, (d_inner, d_outer) = jax.lax.scan(step, d_h_last, (d_hs, z, r, candidate, m_h, h_prev),
                                              reverse=True, unroll=SCAN_UNROLL)
        return (d_outer @ kernel.T, jnp.einsum("tbi,tbk->ik", xs, d_outer),
                jnp.einsum("tbu,tbk->uk", h_prev, d_inner), jnp.sum(d_outer, axis=(0, 1)),
                jnp.sum(d_inner, axis=(0, 1)), dh0)

    scan.defvjp(forward, backward)
    _FUSED_GRU_SCAN = scan
    return scan


def _jax_fused_simple_scan():
    """Returns `scan(xs, W, U, b, h0) -> (hs, h_last)` for `h' = tanh(x @ W + b + h @ U)`,
    with a hand-written backward pass."""
    global _FUSED_SIMPLE_SCAN
    if _FUSED_SIMPLE_SCAN is not None:
        return _FUSED_SIMPLE_SCAN
    import jax
    import jax.numpy as jnp

    def forward(xs, kernel, recurrent, bias, h0):
        def step(h, x):
            h_next = jnp.tanh(x @ kernel + bias + h @ recurrent)
            return h_next, h_next

        h_last, hs = jax.lax.scan(step, h0, xs, unroll=SCAN_UNROLL)
        return (hs, h_last), (xs, hs, kernel, recurrent, h0)

    @jax.custom_vjp
    def scan(xs, kernel, recurrent, bias, h0):
        return forward(xs, kernel, recurrent, bias, h0)[0]

    def backward(saved, cotangents):
        xs, hs, kernel, recurrent, h0 = saved
        d_hs, d_h_last = cotangents
        h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
        recurrent_t = recurrent.T

        def step(dh_later, inputs):
            dh_out, h = inputs
            d_inner = (dh_out + dh_later) * (1.0 - h * h)  # at tanh's input
            return d_inner @ recurrent_t, d_inner

        dh0, d_inner = jax.lax.scan(step, d_h_last, (d_hs, hs), reverse=True, unroll=SCAN_UNROLL)
        return (d_inner @ kernel.T, jnp.einsum("tbi,tbk->ik", xs, d_inner),
                jnp.einsum("tbu,tbk->uk", h_prev, d_inner), jnp.sum(d_inner, axis=(0, 1)), dh0)

    scan.defvjp(forward, backward)
    _FUSED_SIMPLE_SCAN = scan
    return scan


def _jax_platform() -> str | None:
    """"cpu" or "gpu" (JAX's default device) on Keras's JAX backend, else None."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    return jax.default_backend()


def _fused_applies(layer, mask, training) -> bool:
    cell = layer.cell
    return (
        _jax_platform() in layer.fused_platforms
        and getattr(layer, "use_cudnn", "auto") is not True  # asked for Keras's cuDNN path by name
        and mask is None
        and not layer.unroll
        and not (training and (cell.dropout or cell.recurrent_dropout))
        and cell.activation is keras.activations.tanh
        and getattr(cell, "recurrent_activation", keras.activations.sigmoid) is keras.activations.sigmoid
        and layer.compute_dtype == "float32"
    )


def _time_major(layer, sequences):
    """`(batch, time, features)` -> `(time, batch, features)`, in the order the steps run."""
    import jax.numpy as jnp

    xs = jnp.swapaxes(sequences, 0, 1)
    # Keras returns a backwards layer's outputs in the order they were computed.
    return jnp.flip(xs, axis=0) if layer.go_backwards else xs


class _FusedLoop:
    """What the three layers share: when the hand-written path runs, and the call into it.

    A subclass (listed before the Keras layer class) gives `_recurrence(xs, states)`:
    time-major inputs and the initial states in, `(hs, final states)` out.
    """

    # JAX platforms on which the hand-written path runs. On an H100 it trained the char LM
    # 1.05-2.2x faster than Keras's path there, cuDNN LSTM included (see the README).
    fused_platforms: tuple[str, ...] = ("cpu", "gpu")

    def fused_applies(self, mask, training) -> bool:
        """Whether the hand-written path runs for this call (else Keras's own)."""
        return _fused_applies(self, mask, training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if keras.tree.is_nested(mask):
            mask = mask[0]
        if not self.fused_applies(mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import jax.numpy as jnp

        states = list(initial_state) if keras.tree.is_nested(initial_state) else [initial_state]
        hs, final_states = self._recurrence(_time_major(self, sequences), states)
        return final_states[0], jnp.swapaxes(hs, 0, 1), final_states

    def _bias(self, size: int, dtype):
        import jax.numpy as jnp

        bias = self.cell.bias
        return bias.value if bias is not None else jnp.zeros(size, dtype)


@keras.saving.register_keras_serializable(package="rnnkit")
class LSTM(_FusedLoop, keras.layers.LSTM):
    """`keras.layers.LSTM`, with a hand-written backward pass on JAX (see the module).

    Takes exactly Keras's arguments and has exactly its weights; a model saved with it
    loads again once rnnkit is imported.
    """

    def _recurrence(self, xs, states):
        cell = self.cell
        bias = self._bias((4 * self.units,), xs.dtype)
        hs, h_last, c_last = _jax_fused_scan()(xs, cell.kernel.value, cell.recurrent_kernel.value, bias, *states)
        return hs, [h_last, c_last]


@keras.saving.register_keras_serializable(package="rnnkit")
class GRU(_FusedLoop, keras.layers.GRU):
    """`keras.layers.GRU`, with a hand-written backward pass on JAX (see the module).

    Takes exactly Keras's arguments and has exactly its weights; with `reset_after=False`
    (not Keras's default) it always runs Keras's own path.
    """

    def fused_applies(self, mask, training) -> bool:
        """Whether the hand-written path runs for this call (else Keras's own)."""
        return self.cell.reset_after and _fused_applies(self, mask, training)

    def _recurrence(self, xs, states):
        cell = self.cell
        bias = self._bias((2, 3 * self.units), xs.dtype)  # input and recurrent bias rows
        hs, h_last = _jax_fused_gru_scan()(xs, cell.kernel.value, cell.recurrent_kernel.value, bias[0], bias[1],
                                           states[0])
        return hs, [h_last]


@keras.saving.register_keras_serializable(package="rnnkit")
class SimpleRNN(_FusedLoop, keras.layers.SimpleRNN):
    """`keras.layers.SimpleRNN`, with a hand-written backward pass on JAX (see the module).

    Takes exactly Keras's arguments and has exactly its weights; with an activation other
    than tanh (a relu IRNN, say) it runs Keras's own path.
    """

    def _recurrence(self, xs, states):
        cell = self.cell
        bias = self._bias((self.units,), xs.dtype)
        hs, h_last = _jax_fused_simple_scan()(xs, cell.kernel.value, cell.recurrent_kernel.value, bias, states[0])
        return hs, [h_last]


__all__ = ["GRU", "LSTM", "SimpleRNN"]
