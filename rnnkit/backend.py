"""Choosing the Keras backend (TensorFlow or JAX) for a run or a grid, before Keras loads.

Keras reads `KERAS_BACKEND` once, when it is first imported, so a process trains on one
backend only. The Python API follows that convention: rnnkit runs on whatever backend
Keras loaded and never switches it. The CLI (`rnnkit train|compare --backend`) decides
before anything imports Keras, with `resolve_backend`, and `use_backend` sets it.

Neither backend is the fastest everywhere on a CPU (measured on 2 cores, see
`benchmarks/bench_backends.py` and the README's speed section):

- JAX compiles each new model with XLA: about 1-1.7 s more per new architecture than
  TensorFlow's tracing (the adding task's models, the char LM). But importing TensorFlow
  takes about 1.4 s longer.
- Once compiled, a JAX training epoch is 2.2-3.5x faster on the char LM (LSTM 128, 32)
  and about 6x faster on the adding task's small models, where TensorFlow's cost per
  cell step (dispatching each step of the recurrent loop) outweighs the arithmetic.
- With `share_compilations` (called by `train`), the next seed of a configuration
  loads the compiled steps instead of compiling them again.

On a GPU the question is a different one: which backend can use it at all, and which
has cuDNN kernels for the recurrent layers. `gpu_backends` tells, without importing either
library, whether TensorFlow is a CUDA build with its CUDA libraries found and whether JAX
has its CUDA plugin. When this machine shows a GPU (`visible_gpus`, or `gpu=True` for the
nodes of a Ray cluster) and one backend alone can use it, `auto` picks that one. When both
can and a run has a layer cuDNN can run (`cudnn_eligible`), it picks TensorFlow, whose
Keras layers take cuDNN for both LSTM and GRU. Measured on an H100 (see the README):
Keras on JAX takes cuDNN for the LSTM only (`jax.experimental.rnn`), and rnnkit's own
layers (`rnnkit.models.fast_rnn`) trained the char LM 1.05-2.2x faster than Keras's path
there, and at 0.94-1.15x of PyTorch's cuDNN. TensorFlow was not measured on the GPU (the
lent machine had no TensorFlow), so the preference for its cuDNN path comes from Keras's
source.

On a CPU `auto` compares `estimate_seconds` of the runs on each backend: importing the
backend, multiply-adds (`run_work`) and sequential cell steps (`cell_steps`) at each
backend's measured rate, plus a fixed cost per run, and on JAX a compile cost per new
architecture. Single runs, the quick grid and the full grid go to JAX; a sweep of many
different architectures trained for an epoch or two each (where compiling each costs more
than the faster epochs win back) goes to TensorFlow.

Example:

>>> from rnnkit.harness.grid import expand_grid
>>> small = expand_grid({"tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
...                      "cells": ["lstm"], "model": {"units": 8}, "train": {"epochs": 2}})
>>> choose_backend(small, gpu=False)
'jax'
>>> sweep = expand_grid({"tasks": [{"name": "adding"}], "cells": ["lstm"],
...                      "model": {"units": [4, 8, 12, 16, 20, 24]}, "train": {"epochs": 1}})
>>> choose_backend(sweep, gpu=False)  # six new architectures, one short epoch each
'tensorflow'
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import pkgutil
import re
import sys
from pathlib import Path

from rnnkit.checks import check_choice
from rnnkit.errors import ConfigError

BACKENDS = ("tensorflow", "jax")
CHOICES = ("auto", *BACKENDS)
# Gate blocks per cell: the recurrent multiply-adds per step are gates * units * (units + inputs).
_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}

# The cost model `auto` compares, per backend (seconds, measured on the 2-core CPU machine
# this project is developed on, quiet, on 2026-11-27 with JAX 0.10 and TensorFlow 2.21;
# see the README's speed section):
# - importing the backend with Keras and rnnkit, once per process: 2.9 s for TensorFlow,
#   1.5 s for JAX;
# - multiply-adds per second of training, as `run_work` counts them, and seconds per
#   sequential cell step (batches of train and validation x time steps, the dispatch cost
#   that dominates small models): fitted to the steady epochs of six runs (adding, copy,
#   pydoc_topics and builtin_lm with an LSTM 16, the Time Machine LM with an LSTM 32 and
#   128, batch 32), e.g. the LM at 128 units: 3.85e10 multiply-adds and 5056 cell steps
#   per epoch, in 1.13 s on TensorFlow and 0.51 s on JAX;
# - fixed seconds per run, besides the epochs (tracing or compiling the training,
#   validation, probe and prediction steps; held-out metrics; samples), the same six runs:
#   TensorFlow / JAX first run / JAX next seed: adding 1.1 / 2.15 / 0.19; pydoc_topics
#   (tokens in, one class out) 1.0-1.3 / 2.8 / 0.37; copy (20 steps of classes) 1.0-1.3 /
#   2.3 / 0.24; builtin_lm 1.2-1.5 / 3.0 / 0.59; the Time Machine LM with an LSTM 32
#   1.2-1.7 / 2.9 / 0.32, with an LSTM 128 1.6-1.8 / 2.9 / 0.48. JAX's compiling costs
#   about 1-1.7 s more per new architecture than TensorFlow's tracing. (Before the output
#   head applied its Dense to all steps at once, a language model's head was 35 small
#   products to compile, and JAX's first run of the char LM cost 9-10 s.)
_IMPORT_SECONDS = {"tensorflow": 2.9, "jax": 1.5}
_MULTIPLY_ADDS_PER_SECOND = {"tensorflow": 5.7e10, "jax": 9.2e10}
_SECONDS_PER_CELL_STEP = {"tensorflow": 9.1e-5, "jax": 1.55e-5}
# Fixed seconds = base + token input + per output per sample (outputs at every step) + per weight.
_FIXED = {"base": 1.1, "tokens": 0.15, "per_output": 1e-4, "per_weight": 2e-6}
# JAX, a new architecture: the fixed seconds plus this much more compiling.
_JAX_EXTRA = {"base": 0.8, "tokens": 0.3, "per_output": 1e-4, "per_weight": 0.0}
# JAX, an architecture already compiled in the process (loaded from the cache): instead of the fixed seconds.
_JAX_REPEAT = {"base": 0.2, "tokens": 0.05, "per_output": 1e-4, "per_weight": 1e-6}


def _build_task(run):
    from rnnkit.data.tasks import get_task

    options = dict(run.task_options)
    seed = options.pop("seed", 0)
    return get_task(run.task, seed=seed, **options)


def _recurrent_weights(run, task) -> int:
    """Multiply-adds of one cell step of all recurrent layers (about their weight count)."""
    spec = run.model
    source = task.input_spec
    if source.vocab_size:
        width = spec.embedding_dim or source.vocab_size
    else:
        width = source.num_features or 1
    gates = _GATES.get(spec.cell, 1) if spec.variety != "one_to_one" else 1
    directions = 2 if spec.bidirectional else 1
    units = spec.units
    per_step = 0
    for layer in range(spec.num_layers):
        inputs = width if layer == 0 else units * directions
        per_step += directions * gates * units * (units + inputs)
    if task.variety == "seq2seq":
        per_step *= 2  # An encoder and a decoder of the same size.
    return per_step


def run_work(run, task=None) -> float:
    """Returns the estimated multiply-adds of training `run`: the size of its work.

    Counts the recurrent layers' matrix products, forward and backward (x3), over every
    training sample, time step and epoch. Dense heads and the MLP baseline are small
    next to them and are counted as one gate block.

    Args:
        run: A `RunConfig`.
        task: Its built `Task`; built here (NumPy only, Keras is not imported) when None.

    Returns:
        A float (multiply-adds).
    """
    task = task if task is not None else _build_task(run)
    timesteps = task.input_spec.timesteps or 1
    return float(3 * _recurrent_weights(run, task) * timesteps * task.train.num_samples * run.train.epochs)


def cell_steps(run, task=None) -> int:
    """Returns the sequential cell steps of training `run`: batches (train and validation)
    times time steps, over all epochs (seq2seq: encoder and decoder, counted twice)."""
    task = task if task is not None else _build_task(run)
    batch = run.train.batch_size
    batches = -(-task.train.num_samples // batch) + -(-task.validation.num_samples // batch)
    steps = batches * (task.input_spec.timesteps or 1) * run.train.epochs
    return int(steps * (2 if task.variety == "seq2seq" else 1))


def _architecture(run) -> str:
    """What the compiled steps depend on: everything but the seed."""
    train = {key: value for key, value in vars(run.train).items() if key != "seed"}
    return json.dumps([run.task, run.task_options, repr(run.model), train], sort_keys=True, default=str)


def estimate_seconds(runs, backend: str, tasks=None) -> float:
    """Returns the estimated seconds of training `runs` one after another on `backend`.

    Importing the backend once, then per run: the fixed cost (growing with the recurrent
    weights), the multiply-adds (`run_work`) at the backend's measured rate, and the
    sequential cell steps (`cell_steps`) at its measured dispatch cost. On JAX each new
    architecture adds its compile time (more than TensorFlow's tracing, also growing with
    the weights); a run of an architecture already compiled (the next seed of a
    configuration) costs less than the fixed cost instead.

    Args:
        runs: A list of `RunConfig`.
        backend: "tensorflow" or "jax".
        tasks: Optional built tasks, one per run (built here otherwise).

    Returns:
        Seconds (a model, for comparing the two backends, not a promise).
    """
    backend = check_choice("backend", backend, BACKENDS)
    runs = list(runs)
    tasks = list(tasks) if tasks is not None else _tasks_of(runs)
    total, compiled = (_IMPORT_SECONDS[backend] if runs else 0.0), set()
    for run, task in zip(runs, tasks):
        total += run_work(run, task) / _MULTIPLY_ADDS_PER_SECOND[backend]
        total += cell_steps(run, task) * _SECONDS_PER_CELL_STEP[backend]
        if backend == "jax" and _architecture(run) in compiled:
            total += _fixed_cost(_JAX_REPEAT, run, task)
            continue
        total += _fixed_cost(_FIXED, run, task)
        if backend == "jax":
            compiled.add(_architecture(run))
            total += _fixed_cost(_JAX_EXTRA, run, task)
    return total


def _fixed_cost(terms: dict, run, task) -> float:
    """One of the fixed costs above for `run` on `task`."""
    outputs = task.output_spec.dim * (task.output_spec.timesteps or 0)  # outputs at every step
    return (terms["base"] + terms["tokens"] * task.input_spec.is_tokens + terms["per_output"] * outputs
            + terms["per_weight"] * _recurrent_weights(run, task))


def _tasks_of(runs) -> list:
    cache = {}
    tasks = []
    for run in runs:
        key = (run.task, json.dumps(run.task_options, sort_keys=True, default=str))
        if key not in cache:
            cache[key] = _build_task(run)
        tasks.append(cache[key])
    return tasks


def visible_gpus(environ=None, driver_dir: str = "/proc/driver/nvidia/gpus") -> int:
    """Returns how many NVIDIA GPUs this process may use, without importing TensorFlow or JAX.

    Counts the GPUs the NVIDIA driver lists (one folder each in `driver_dir`), limited by
    `CUDA_VISIBLE_DEVICES` as CUDA reads it: unset means all; empty, or a list starting
    with an invalid id such as -1, means none; otherwise the ids up to the first invalid one.

    Args:
        environ: The environment to read (default `os.environ`).
        driver_dir: Where the driver lists its GPUs.

    Example:

    >>> visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"})
    0
    """
    environ = os.environ if environ is None else environ
    try:
        present = len(os.listdir(driver_dir))
    except OSError:
        return 0
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return present
    count = 0
    for entry in listed.split(","):
        entry = entry.strip()
        if not entry or (entry.lstrip("-").isdigit() and int(entry) < 0):
            break
        count += 1
    return min(count, present)


def cudnn_eligible(run) -> bool:
    """Whether Keras on TensorFlow can run `run`'s recurrent layers with cuDNN on a GPU.

    Keras takes the cuDNN kernel for an LSTM or GRU layer with its default activations
    (tanh; sigmoid gates), no recurrent dropout, not unrolled, with a bias, and for GRU
    `reset_after=True` (Keras's default); SimpleRNN and the MLP have no cuDNN kernel.
    """
    model = run.model
    return (
        model.cell in ("lstm", "gru")
        and model.activation == "tanh"
        and not model.recurrent_dropout
        and not model.unroll
        and model.use_bias
        and model.reset_after in (None, True)
    )


def _tensorflow_gpu_ready(paths) -> bool:
    """Whether the TensorFlow installed on `paths` is a CUDA build whose CUDA libraries are found."""
    spec = importlib.machinery.PathFinder.find_spec("tensorflow", paths)
    if spec is None or not spec.submodule_search_locations:
        return False
    folder = Path(next(iter(spec.submodule_search_locations)))
    try:
        build_info = (folder / "python" / "platform" / "build_info.py").read_text()
    except OSError:
        return False
    version = re.search(r"'cuda_version', '(\d+)", build_info)
    if "('is_cuda_build', True)" not in build_info or version is None:
        return False
    # TensorFlow loads the CUDA runtime of its own major version and cuDNN from the NVIDIA
    # wheels that `tensorflow[and-cuda]` installs, or from the system's library path.
    major = version.group(1)
    wheels = [Path(path) / "nvidia" for path in paths]
    runtime = any(next(wheel.glob(f"cuda_runtime/lib/libcudart.so.{major}*"), None) for wheel in wheels)
    cudnn = any(next(wheel.glob("cudnn/lib/libcudnn.so*"), None) for wheel in wheels)
    if paths is sys.path:
        import ctypes.util

        runtime = runtime or (ctypes.util.find_library("cudart") or "").startswith(f"libcudart.so.{major}")
        cudnn = cudnn or ctypes.util.find_library("cudnn") is not None
    return runtime and cudnn


def _jax_gpu_ready(paths) -> bool:
    """Whether the JAX installed on `paths` has its CUDA plugin (`pip install jax[cuda12]` and later)."""
    if importlib.machinery.PathFinder.find_spec("jax", paths) is None:
        return False
    return any(re.fullmatch(r"jax_cuda\d+_plugin", module.name) for module in pkgutil.iter_modules(paths))


def gpu_backends(paths=None) -> tuple[str, ...]:
    """The installed backends that can train on an NVIDIA GPU, found without importing them.

    TensorFlow counts when it is a CUDA build (Linux wheels are) and its CUDA runtime and
    cuDNN are found; without them it trains on the CPU even on a GPU machine. JAX counts
    when its CUDA plugin is installed; plain `pip install jax` is CPU-only.

    Args:
        paths: Where to look for the packages (default `sys.path`, plus the system's
            library path for CUDA).

    Example:

    >>> gpu_backends([])
    ()
    """
    paths = sys.path if paths is None else list(paths)
    ready = {"tensorflow": _tensorflow_gpu_ready(paths), "jax": _jax_gpu_ready(paths)}
    return tuple(name for name in BACKENDS if ready[name])


def choose_backend(runs, tasks=None, *, gpu: bool | None = None, gpu_ready=None) -> str:
    """Returns the backend `auto` picks for one run or a list of runs (a grid).

    Args:
        runs: A `RunConfig` or a list of them.
        tasks: Optional built tasks, one per run (built here otherwise).
        gpu: Whether the runs train on a GPU; None looks at this machine (`visible_gpus`).
        gpu_ready: The backends that can use that GPU (default `gpu_backends()`; for a
            Ray cluster's nodes, this machine's installation is taken as theirs).

    Returns:
        On a GPU, among the backends that can use it: "tensorflow" when a run has a layer
        cuDNN can run (`cudnn_eligible`; TensorFlow has cuDNN kernels for LSTM and GRU),
        else "jax" (cuDNN for LSTM); the only one that can use the GPU, if one alone can.
        Otherwise (and on a GPU neither backend can use) "jax" when JAX is installed and
        `estimate_seconds` of the runs is lower on JAX than on TensorFlow, else "tensorflow".
    """
    runs = [runs] if not isinstance(runs, (list, tuple)) else list(runs)
    if not runs:
        return "tensorflow"
    if visible_gpus() > 0 if gpu is None else gpu:
        ready = gpu_backends() if gpu_ready is None else tuple(gpu_ready)
        if len(ready) == 1:
            return ready[0]
        if ready and any(cudnn_eligible(run) for run in runs):
            return "tensorflow"
    if importlib.util.find_spec("jax") is None:
        return "tensorflow"
    tasks = list(tasks) if tasks is not None else _tasks_of(runs)
    faster_on_jax = estimate_seconds(runs, "jax", tasks) < estimate_seconds(runs, "tensorflow", tasks)
    return "jax" if faster_on_jax else "tensorflow"


def resolve_backend(requested: str, runs) -> str:
    """Returns the backend to use for `requested` ("auto", "tensorflow" or "jax").

    Raises:
        ConfigError: `requested` is not one of `CHOICES`, or "jax" is not installed.
    """
    requested = check_choice("backend", requested, CHOICES)
    if requested == "auto":
        return choose_backend(runs)
    if requested == "jax" and importlib.util.find_spec("jax") is None:
        raise ConfigError("Invalid value for `backend`: got 'jax'; JAX is not installed (`pip install jax`).")
    return requested


def use_backend(name: str) -> str:
    """Makes Keras load `name` as its backend; call it before anything imports Keras.

    Args:
        name: "tensorflow" or "jax".

    Returns:
        The name.

    Raises:
        ConfigError: Keras is already loaded with another backend (a process has one
            backend; rnnkit never switches it silently).
    """
    name = check_choice("backend", name, BACKENDS)
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise ConfigError(
                f"Invalid value for `backend`: got {name!r}, but Keras is already loaded with {loaded!r} "
                "in this process; set KERAS_BACKEND before importing Keras (or start a new process)."
            )
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


# Where `share_compilations` keeps JAX's compiled programs; a folder set here is kept.
CACHE_DIR_VARIABLE = "RNNKIT_JAX_CACHE_DIR"
# Compilations shorter than this are not written (JAX's own in-memory cache keeps them).
_CACHE_MIN_COMPILE_SECONDS = 0.1
_shared_cache_dir: str | None = None


def share_compilations() -> str | None:
    """Lets runs of the same architecture share JAX's compiled programs; returns the folder.

    On JAX every new Keras model compiles its training, evaluation and prediction steps
    with XLA, and JAX caches those programs per Python function, so a second model of the
    same architecture (the next seed of a grid configuration) compiles them all again:
    2-4 s per run for the quick grid's models on 2 cores, more than its eight epochs. JAX's
    persistent compilation cache is keyed by the compiled program itself (its HLO, the
    compile options and the device), not by the function, so with it the second seed loads
    the programs instead of compiling them. The programs are the same, so the numbers are
    too (same seed, same metrics, checked in the tests).

    The cache lives in a temporary folder removed when the process exits, unless the
    environment variable `RNNKIT_JAX_CACHE_DIR` names a folder to keep (shared by worker
    processes, or kept between commands). A cache folder the user configured in JAX
    (`jax_compilation_cache_dir`) is used as it is. Does nothing on TensorFlow.

    Returns:
        The cache folder, or None when Keras does not run on JAX.
    """
    global _shared_cache_dir
    if current_backend() != "jax":
        return None
    if _shared_cache_dir is not None:
        return _shared_cache_dir
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    configured = jax.config.jax_compilation_cache_dir
    if configured:
        _shared_cache_dir = configured
        return configured
    folder = os.environ.get(CACHE_DIR_VARIABLE)
    if folder:
        os.makedirs(folder, exist_ok=True)
    else:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="rnnkit-jax-cache-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _CACHE_MIN_COMPILE_SECONDS)
    # JAX decides once, at its first compilation, whether a cache is used; start over.
    compilation_cache.reset_cache()
    _shared_cache_dir = folder
    return folder


def current_backend() -> str:
    """The backend Keras runs on, or (before Keras is imported) the one it will load."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


__all__ = ["BACKENDS", "CHOICES", "cell_steps", "choose_backend", "current_backend",
           "estimate_seconds", "resolve_backend", "run_work", "share_compilations", "use_backend"]
