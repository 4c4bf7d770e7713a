"""Taking a gradient, the one thing rnnkit does differently on each Keras backend.

Everything else in rnnkit is written with `keras.ops` and runs on whichever backend
Keras loaded (`KERAS_BACKEND`, read once when Keras is imported). The diagnostics need
gradients outside `model.fit` (the gradient norm per epoch, the gradient per time step),
and Keras has no backend-neutral "gradient of this function" call, so this module has
one small function per backend:

- TensorFlow: `tf.GradientTape` watching the argument tensors.
- JAX: `jax.value_and_grad`.

`value_and_gradients(function, arguments)` picks the one for the loaded backend, and
`compiled(function)` traces a function once (`tf.function` / `jax.jit`) for repeated calls.
`compile_ahead(compiled_function, arguments)` starts compiling such a function for the
shapes of `arguments` in a background thread (on JAX, where XLA compiles outside
Python's lock, so it overlaps training); on TensorFlow it does nothing.
Functions passed here must be pure in their arguments: read model weights through
`model.stateless_call` (or inside `keras.StatelessScope`) so that no variable is
assigned while JAX traces.

Example:

>>> import numpy as np
>>> value, (gradient,) = value_and_gradients(lambda w: keras.ops.sum(w * w), [np.array([1.0, 2.0])])
>>> float(value), np.asarray(gradient).tolist()
(5.0, [2.0, 4.0])
"""

from __future__ import annotations

import threading

import keras

# Backends whose gradient function is written below.
SUPPORTED_BACKENDS = ("tensorflow", "jax")


def _tensorflow_value_and_gradients(function, arguments):
    import tensorflow as tf

    tensors = [tf.convert_to_tensor(argument) for argument in arguments]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        value = function(*tensors)
    gradients = tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return value, list(gradients)


def _jax_value_and_gradients(function, arguments):
    import jax
    import jax.numpy as jnp

    arrays = [jnp.asarray(argument) for argument in arguments]
    value, gradients = jax.value_and_grad(lambda values: function(*values))(arrays)
    return value, list(gradients)


def _tensorflow_compiled(function):
    import tensorflow as tf

    return tf.function(function, autograph=False)


def _jax_compiled(function):
    import jax

    return jax.jit(function)


class CompiledAhead:
    """A function being compiled in a background thread for one set of argument shapes.

    Call it like the function: the first call waits for the compilation to end. Called
    with arguments of other shapes (or when compiling failed) it runs `fallback`, the
    ordinary compiled function, which compiles for them as usual.
    """

    def __init__(self, lowered, fallback, compiler_options=None):
        self.fallback = fallback
        self.compiler_options = dict(compiler_options or {})
        self._result: dict = {}
        self._thread = threading.Thread(target=self._compile, args=(lowered, compiler_options),
                                        name="rnnkit-compile", daemon=True)
        self._thread.start()

    def _compile(self, lowered, compiler_options):
        try:
            self._result["compiled"] = lowered.compile(compiler_options=compiler_options or None)
        except Exception as error:  # noqa: BLE001 (falling back, the ordinary call raises it again if real)
            self._result["error"] = error

    def wait(self) -> None:
        """Blocks until the background compilation has ended."""
        self._thread.join()

    def __call__(self, *arguments):
        self.wait()
        compiled_function = self._result.get("compiled")
        if compiled_function is not None:
            try:
                return compiled_function(*arguments)
            except (TypeError, ValueError):  # Other shapes or dtypes than those compiled for.
                pass
        return self.fallback(*arguments)


# A step that runs only a few times (at most `FEW_CALLS`) is compiled without LLVM's
# optimisations on JAX: measured on the 2-core machine (JAX 0.10, char LM, batch 64), that
# cut XLA's compile time of the probe pass from 2.9-3.1 s of CPU to 1.7-1.8 s and of the
# prediction pass from 0.9-1.1 s to 0.5 s, while each call became 2-3.5x slower (probe
# pass of an LSTM 256: 41 -> 88 ms; of an LSTM 32: 4.5 -> 15 ms). Below about 20 calls
# the compile time saved is the larger, for small models. A call's extra cost grows with
# the model while the compile time saved does not, so large models compile fully. Three
# seeds of the char LM in one process (3 epochs, JAX, 2026-11-27, rounds alternating): at
# 256 LSTM units (323k weights) 22.2-24.3 s with quick compiles against 21.0-22.7 s
# without (4 rounds, medians 23.2 / 22.2 s; the first seed faster without in every
# round), at 128 units (96k weights) 9.4-9.5 s against 9.55-9.7 s (2 rounds), at 32
# units 5.43-5.44 s against 5.28-5.30 s (2 rounds, a tie within the spread).
FEW_CALLS = 20
QUICK_COMPILE_MAX_WEIGHTS = 200_000
QUICK_COMPILE_OPTIONS = {"xla_backend_optimization_level": 0}


def _tensorflow_compile_ahead(function, arguments, quick):
    return None


def _jax_compile_ahead(function, arguments, quick):
    # Tracing and lowering run here, in the caller's thread (they touch Keras objects);
    # only XLA's compilation, which needs no Python objects, runs in the background.
    return CompiledAhead(function.lower(*arguments), function, QUICK_COMPILE_OPTIONS if quick else None)


_VALUE_AND_GRADIENTS = {"tensorflow": _tensorflow_value_and_gradients, "jax": _jax_value_and_gradients}
_COMPILED = {"tensorflow": _tensorflow_compiled, "jax": _jax_compiled}
_COMPILE_AHEAD = {"tensorflow": _tensorflow_compile_ahead, "jax": _jax_compile_ahead}


def _backend() -> str:
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"rnnkit's gradient diagnostics support the Keras backends {', '.join(SUPPORTED_BACKENDS)}; "
            f"Keras is running on {backend!r} (set KERAS_BACKEND before importing Keras)."
        )
    return backend


def value_and_gradients(function, arguments):
    """Returns `function(*arguments)` and its gradient with respect to each argument.

    Args:
        function: A scalar-valued function of arrays, written with `keras.ops`.
        arguments: A list of arrays (NumPy or backend tensors) to differentiate by.

    Returns:
        `(value, gradients)`: the scalar value and a list with one gradient per argument,
        shaped like it (zeros where the value does not depend on it), as backend tensors.
    """
    return _VALUE_AND_GRADIENTS[_backend()](function, list(arguments))


def compiled(function):
    """Returns `function` traced once as a graph (`tf.function`) or jitted (`jax.jit`)."""
    return _COMPILED[_backend()](function)


def compile_ahead(function, arguments, *, calls: int | None = None, weights: int | None = None):
    """Starts compiling `function` (from `compiled`) for the shapes of `arguments`, in the background.

    Args:
        function: A function from `compiled`.
        arguments: Arguments of the shapes and dtypes it will be called with.
        calls: How many calls are expected, if known: at most `FEW_CALLS` compiles it
            quickly, without LLVM's optimisations (same results, slower calls)...
        weights: ...unless the model it runs has more than `QUICK_COMPILE_MAX_WEIGHTS`
            weights (its parameter count, if known), whose slower calls would cost more
            than the compile time saved.

    Returns:
        On JAX a `CompiledAhead`, to call instead of `function`; on TensorFlow None
        (a `tf.function` traces in Python, which a thread would not speed up).
    """
    quick = (calls is not None and calls <= FEW_CALLS
             and (weights is None or weights <= QUICK_COMPILE_MAX_WEIGHTS))
    return _COMPILE_AHEAD[_backend()](function, list(arguments), quick)


__all__ = ["FEW_CALLS", "QUICK_COMPILE_MAX_WEIGHTS", "SUPPORTED_BACKENDS", "CompiledAhead", "compile_ahead", "compiled", "value_and_gradients"]
