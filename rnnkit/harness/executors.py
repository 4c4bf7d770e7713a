"""Where a comparison's runs train: in this process, in local worker processes, or on Ray.

The driver (`rnnkit.harness.runner.compare`) expands and checks the grid, takes the
store's lock, and hands the runs still to do to one executor. Every executor has the
same interface, `outcomes(todo)`: a generator that yields one `RunOutcome` per run, in
the order the runs finish. A `RunOutcome` holds everything a run produced (its
`RunResult` without the model, the parameter table, the predictions its figures need,
its TensorBoard files); the driver alone writes it to the store, atomically, as it
arrives. So the store format, the run ids and resuming do not depend on the executor.

- `InProcessExecutor` (`workers=1`): today's path, one run after another in this process.
- `ProcessExecutor` (`workers=N`): N spawned worker processes of the standard library's
  `concurrent.futures.ProcessPoolExecutor`, one pool per Keras backend (a process loads
  one backend). Each worker gets its backend and its share of the cores (thread limits
  set before TensorFlow or JAX loads), ignores Ctrl-C (the driver decides) and dies
  with the driver. On a machine with GPUs the workers share them
  (`worker_gpu_environment`): a share of one card's memory each, one card per worker
  where there are several. When a worker dies mid-run (killed, out of memory), the pool breaks;
  the runs that had started are tried again one at a time in a fresh one-worker pool,
  so that a run that kills its worker again is recorded as failed and the others finish.
- `RayExecutor` (`ray=ADDRESS`): each run is a Ray task on an existing cluster (or a
  local `ray.init()`), with `num_cpus` and `num_gpus` per run (fractions of a GPU let
  small runs share one). Ray schedules, moves the data (each task's arrays go into the
  object store once) and retries a task whose worker or node died (`max_retries`); a
  run that still fails is recorded as failed.

Example:

>>> executor = InProcessExecutor()
>>> executor.describe()["executor"]
'in-process'
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rnnkit.checks import invalid
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.training.result import STATUS_FAILED, RunResult

# A worker process is tried this many times more when it dies running a run, alone.
ISOLATED_RETRIES = 1
# Ray retries a task whose worker or node died this many times (Ray's own mechanism).
RAY_MAX_RETRIES = 2
# Memory a worker process needs besides its run's estimate, for `workers="auto"`: measured
# 0.83 GiB resident (TensorFlow) and 0.99 GiB (JAX) in a worker after one LSTM run of the quick grid.
WORKER_BASE_BYTES = 1 << 30
# GPU memory a worker sharing a GPU holds besides its run's estimate (its CUDA context and
# small models): measured 0.86-0.96 GiB per JAX worker of the quick grid on an H200.
WORKER_GPU_BYTES = 1 << 30
# Environment variables that bound a worker's threads (read when the libraries load).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


@dataclass
class RunOutcome:
    """Everything one run produced, as a worker returns it to the driver.

    Attributes:
        run: The `RunConfig`.
        result: Its `RunResult`, without the model and the raw predictions.
        param_table: The per-layer parameter table (a DataFrame), or None.
        predictions: The test predictions its figures need (see
            `rnnkit.harness.runner.predictions_record`), or None.
        run_seconds: Wall seconds the run took in its worker.
        tensorboard_files: With TensorBoard, the run's log files: {relative path: bytes}.
        worker: Where it ran: {"pid", "host", "backend"}.
    """

    run: object
    result: RunResult
    param_table: pd.DataFrame | None = None
    predictions: dict | None = None
    run_seconds: float = 0.0
    tensorboard_files: dict = field(default_factory=dict)
    worker: dict = field(default_factory=dict)


def _default_run_fn():
    from rnnkit.training.fit import run_experiment

    return run_experiment


def train_run(run, task, *, run_fn=None, verbose: int = 0, tensorboard: bool = False,
              figures: bool = True) -> RunOutcome:
    """Trains one run on its built task and returns what it produced; writes nothing.

    Exceptions of the run become a failed `RunResult` with the traceback (Ctrl-C is not
    caught). TensorBoard logs go to a temporary folder and come back as bytes, so that
    the driver writes them, wherever the run trained.

    Args:
        run: The `RunConfig`.
        task: Its `Task`.
        run_fn: The training function (see `rnnkit.harness.runner.compare`).
        verbose: Keras's epoch progress.
        tensorboard: Record TensorBoard logs for this run.
        figures: Keep the test predictions the run's figures need.

    Returns:
        The `RunOutcome`.
    """
    import sys

    from rnnkit.backend import current_backend
    from rnnkit.harness.runner import held_out_predictions, param_table_of, predictions_record

    if run_fn is None or tensorboard:
        import keras  # noqa: F401 - the default trainer and TensorBoard need it; a test's fake may not.
    run_fn = run_fn or _default_run_fn()
    if "keras" in sys.modules:
        # A fresh Keras state per run: no layer names or graphs leak between runs. The full
        # garbage collection (free_memory=True) costs ~0.3 s per run with TensorFlow loaded;
        # Python's own collector frees the old model soon enough.
        sys.modules["keras"].backend.clear_session(free_memory=False)
    with tempfile.TemporaryDirectory(prefix="rnnkit-tb-") as log_root:
        callbacks = []
        if tensorboard:
            callbacks.append(sys.modules["keras"].callbacks.TensorBoard(log_dir=log_root, write_graph=False))
        started = time.perf_counter()
        try:
            result = run_fn(run.model, task, run.train, verbose=verbose, callbacks=callbacks,
                            gradient_flow=True)
        except Exception:  # noqa: BLE001 - any failure of one run is recorded; Ctrl-C is not caught.
            result = RunResult(status=STATUS_FAILED, history=pd.DataFrame(), error=traceback.format_exc())
        files = _read_tree(Path(log_root)) if tensorboard else {}
    if not result.baselines:  # A failed run (or a test's fake trainer) still shows its baselines.
        from rnnkit.training.baselines import task_baselines

        result.baselines = task_baselines(task)
    run_seconds = time.perf_counter() - started
    table, predictions = None, None
    try:
        table = param_table_of(result)
        if figures and result.ok:
            predictions = predictions_record(task, held_out_predictions(result, task))
    except Exception:  # noqa: BLE001 - a table or plot input that fails must not stop the grid.
        result.diagnostics = {**(result.diagnostics or {}), "store_error": traceback.format_exc()}
    result.model = result.predictions = None
    worker = {"pid": os.getpid(), "host": socket.gethostname(), "backend": current_backend()}
    return RunOutcome(run=run, result=result, param_table=table, predictions=predictions,
                      run_seconds=run_seconds, tensorboard_files=files, worker=worker)


def _read_tree(root: Path) -> dict:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file()}


def lost_outcome(run, message: str) -> RunOutcome:
    """The failed record of a run whose worker died (no result came back)."""
    return RunOutcome(run=run, result=RunResult(status=STATUS_FAILED, history=pd.DataFrame(), error=message))


# ----------------------------------------------------------------------------- tasks


class TaskCache:
    """Builds each distinct (task, options) once; the runs of a grid share its arrays."""

    def __init__(self):
        self._tasks = {}

    @staticmethod
    def key(run) -> tuple:
        return (run.task, json.dumps(run.task_options, sort_keys=True, default=str))

    def get(self, run):
        from rnnkit.data.tasks import get_task

        key = self.key(run)
        if key not in self._tasks:
            options = dict(run.task_options)
            seed = options.pop("seed", 0)
            self._tasks[key] = get_task(run.task, seed=seed, **options)
        return self._tasks[key]


# ----------------------------------------------------------------------------- choosing


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # Not on Linux.
        return max(1, os.cpu_count() or 1)


def check_workers(workers) -> int | str:
    """Reads `workers`: "auto" or an integer >= 1 (a str from the command line too)."""
    if isinstance(workers, str) and workers.strip().lower() == "auto":
        return "auto"
    try:
        value = int(workers) if not isinstance(workers, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None or value < 1 or (isinstance(workers, float) and workers != value):
        raise invalid("workers", workers, "'auto' or an integer >= 1 (1 runs everything in this process)")
    return value


def auto_workers(pending: int, run_bytes: int = 0, cores: int | None = None,
                 available: int | None = None, gpus: int = 0, gpu_bytes: int | None = None) -> int:
    """How many worker processes `workers="auto"` starts.

    One per core, no more than there are runs to do, and no more than the available
    memory holds (each worker: `WORKER_BASE_BYTES` plus the largest run's estimate).
    When the runs train on `gpus` GPUs of `gpu_bytes` each, no more than 95% of the
    cards hold either (each worker: `WORKER_GPU_BYTES` plus the largest run's estimate).
    A single run, or a single core, stays in this process.

    >>> auto_workers(8, cores=2)
    2
    >>> auto_workers(1, cores=16)
    1
    >>> auto_workers(8, run_bytes=0, cores=16, available=3 * (1 << 30))
    3
    >>> auto_workers(8, cores=16, available=64 << 30, gpus=1, gpu_bytes=4 << 30)  # A 4 GiB card.
    3
    """
    from rnnkit.harness.resources import available_memory

    cores = available_cores() if cores is None else cores
    count = min(cores, pending)
    run_bytes = max(0, int(run_bytes))
    available = available_memory() if available is None else available
    if available:
        count = min(count, max(1, available // (WORKER_BASE_BYTES + run_bytes)))
    if gpus > 0 and gpu_bytes:
        count = min(count, max(1, gpus * int(0.95 * gpu_bytes // (WORKER_GPU_BYTES + run_bytes))))
    return max(1, count)


def thread_environment(threads: int) -> dict:
    """Environment variables limiting TensorFlow, XLA (JAX) and BLAS to `threads` threads."""
    values = {name: str(threads) for name in _THREAD_VARIABLES}
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        values["XLA_FLAGS"] = f"{flags} {extra}".strip()
    return values


def gpu_environment(gpus_per_run: float) -> dict:
    """Environment variables that let runs share a GPU: with a fraction of one GPU per run,
    TensorFlow allocates GPU memory as it needs it (by default it takes the whole card),
    and so does JAX (by default it reserves 75% of the card when it starts), up to that
    fraction of the card's memory.

    Measured on an H200 with the quick grid's 8 workers, each capped at 0.11 of the card:
    reserving the share up front held 16.1 GiB per process (128.4 GiB in all); allocating
    as needed, under 1 GiB per process (7.4 GiB in all), and the grid took no longer. On a
    small card the reserved shares and the processes' CUDA contexts would not fit.

    >>> gpu_environment(0.25)["XLA_PYTHON_CLIENT_MEM_FRACTION"]
    '0.23'
    >>> gpu_environment(0.25)["XLA_PYTHON_CLIENT_PREALLOCATE"]
    'false'
    >>> gpu_environment(1)
    {}
    """
    if not 0 < gpus_per_run < 1:
        return {}
    # A little under the share, for the CUDA context each process also holds (at least 1%).
    return {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{max(1, int(gpus_per_run * 95)) / 100:.2f}"}


# A user's own GPU memory settings, which local workers keep as they are.
_GPU_MEMORY_VARIABLES = ("TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                         "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_ALLOCATOR")


def worker_gpu_environment(index: int, workers: int, gpus: int, environ=None) -> dict:
    """The GPU settings of local worker `index` (0, 1, ...) of `workers`, with `gpus` visible.

    Left alone, every worker's JAX reserves 75% of the first GPU's memory when it starts
    and every TensorFlow nearly all of it. On an H200, of three JAX processes the second
    got what the first left and the third aborted; the quick grid's 8 workers failed every
    run. With one GPU, each worker allocates as it needs, up to its share of the card's
    memory (`gpu_environment`). With several, worker `index` sees one of them
    (`CUDA_VISIBLE_DEVICES`, round robin over the visible ones) and shares it with the
    other workers given the same card. Memory settings already in the environment win.

    >>> worker_gpu_environment(0, 4, 1)["XLA_PYTHON_CLIENT_MEM_FRACTION"]
    '0.23'
    >>> worker_gpu_environment(3, 4, 2, environ={"CUDA_VISIBLE_DEVICES": "2,5"})["CUDA_VISIBLE_DEVICES"]
    '5'
    >>> worker_gpu_environment(0, 1, 1)
    {}
    """
    environ = os.environ if environ is None else environ
    if gpus <= 0 or workers <= 1:
        return {}
    environment = {}
    if gpus > 1:
        listed = [entry.strip() for entry in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
        ids = listed[:gpus] if len(listed) >= gpus else [str(number) for number in range(gpus)]
        environment["CUDA_VISIBLE_DEVICES"] = ids[index % gpus]
    sharing = -(-workers // gpus)  # Workers per card, rounded up.
    if sharing > 1 and not any(name in environ for name in _GPU_MEMORY_VARIABLES):
        environment.update(gpu_environment(1 / sharing))
    return environment


def ray_task_environment(backend: str, threads: int, gpus_per_run: float) -> dict:
    """The environment variables of a run's Ray task: its backend, its threads and its GPU.

    A task that reserved no GPU sees none (`CUDA_VISIBLE_DEVICES` empty): Ray leaves the
    variable as it is for such tasks, and each one's JAX would otherwise take 75% of a
    card it never reserved. A fraction of a GPU gets its share (`gpu_environment`).

    >>> ray_task_environment("jax", 1, 0)["CUDA_VISIBLE_DEVICES"]
    ''
    >>> "CUDA_VISIBLE_DEVICES" in ray_task_environment("jax", 1, 0.25)  # Ray sets it to the reserved card.
    False
    """
    environment = {**thread_environment(threads), **gpu_environment(gpus_per_run), "KERAS_BACKEND": backend,
                   "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if not gpus_per_run:
        environment["CUDA_VISIBLE_DEVICES"] = ""
    return environment


def spread_architectures(runs: list) -> list:
    """Orders runs so that the seeds of one configuration are not trained side by side.

    Runs that differ only in their seed share their compiled steps (on JAX, through the
    compilation cache the workers share), but only once the first of them has compiled:
    two workers starting seeds 0 and 1 of the same configuration at once would both
    compile it. So the first seed of every configuration comes first, then the second
    seed of every configuration, and so on; within a round, the grid's order.

    >>> from rnnkit.harness.grid import expand_grid
    >>> runs = expand_grid({"tasks": ["adding"], "cells": ["lstm", "gru"], "seeds": [0, 1]})
    >>> [run.label for run in spread_architectures(runs)]
    ['adding lstm u32 L1 seed0', 'adding gru u32 L1 seed0', 'adding lstm u32 L1 seed1', 'adding gru u32 L1 seed1']
    """
    round_of, seen = [], {}
    for run in runs:
        round_of.append(seen.get(run.config_id, 0))
        seen[run.config_id] = round_of[-1] + 1
    order = sorted(range(len(runs)), key=lambda index: (round_of[index], index))
    return [runs[index] for index in order]


# ----------------------------------------------------------------------------- in-process


class InProcessExecutor:
    """Runs one run after another in this process (the backend Keras loaded here)."""

    def __init__(self, *, run_fn=None, verbose: int = 0, tensorboard: bool = False, figures: bool = True,
                 tasks: TaskCache | None = None):
        self.options = {"run_fn": run_fn, "verbose": verbose, "tensorboard": tensorboard, "figures": figures}
        self.tasks = tasks or TaskCache()

    def describe(self) -> dict:
        from rnnkit.backend import current_backend

        return {"executor": "in-process", "workers": 1, "backend": current_backend()}

    def outcomes(self, todo):
        for run in todo:
            yield train_run(run, self.tasks.get(run), **self.options)

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------- local processes

_WORKER_STATE: dict = {}


def _die_with_parent() -> None:
    """Asks Linux to kill this process when its parent dies (a driver killed with -9)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # The parent died before the request was made.
            os._exit(1)
    except (OSError, AttributeError):  # Not on Linux: the worker ends when its queue closes.
        pass


def _init_worker(backend: str, environment: dict, started, gpu_share=None) -> None:
    """Runs first in every worker process, before Keras (and so TensorFlow or JAX) loads.

    `gpu_share`, where GPUs are shared: (a counter that numbers the pool's workers, the
    number of workers, the number of GPUs), for `worker_gpu_environment`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle.
    _die_with_parent()
    os.environ.update(environment)
    if gpu_share is not None:
        counter, workers, gpus = gpu_share
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ.update(worker_gpu_environment(index, workers, gpus))
    os.environ["KERAS_BACKEND"] = backend
    import rnnkit  # noqa: F401 - installs the quiet start-up before TensorFlow loads.

    _WORKER_STATE["started"] = started
    _WORKER_STATE["tasks"] = TaskCache()


def _worker_train(run, options: dict) -> RunOutcome:
    """A worker's job: say that the run started, build its task (cached), train it."""
    _WORKER_STATE["started"].put(run.run_id)
    return train_run(run, _WORKER_STATE["tasks"].get(run), **options)


class ProcessExecutor:
    """Runs the runs in `workers` local worker processes (spawned, one pool per backend).

    Args:
        workers: The number of worker processes (>= 1).
        backend_of: The backend of each run: a function of a `RunConfig`.
        threads: Threads per worker (default: the cores shared out between workers).
        gpus: The GPUs the workers share (default: those this machine shows,
            `rnnkit.backend.visible_gpus`); see `worker_gpu_environment`.
        run_fn, verbose, tensorboard, figures: As for `train_run`; `run_fn` must be
            importable by name (a module-level function) since it travels by pickle.
    """

    def __init__(self, workers: int, backend_of, *, threads: int | None = None, gpus: int | None = None,
                 run_fn=None, verbose: int = 0, tensorboard: bool = False, figures: bool = True):
        from rnnkit.backend import visible_gpus

        self.workers = check_workers(workers)
        self.gpus = visible_gpus() if gpus is None else gpus
        if run_fn is not None:  # It travels to the workers by pickle: refuse one that cannot, now.
            import pickle

            try:
                pickle.dumps(run_fn)
            except Exception:  # noqa: BLE001 - pickle raises several types.
                raise invalid("run_fn", getattr(run_fn, "__qualname__", run_fn),
                              "a function defined at module level (worker processes receive it by pickle), "
                              "or workers=1") from None
        self.backend_of = backend_of
        self.threads = threads or max(1, available_cores() // self.workers)
        self.options = {"run_fn": run_fn, "verbose": verbose, "tensorboard": tensorboard, "figures": figures}
        self.backends_used: dict[str, int] = {}
        self._pools = []
        self._jax_cache = None  # A temporary folder, removed by `close`.

    def describe(self) -> dict:
        backends = ", ".join(f"{name} ({count} runs)" for name, count in self.backends_used.items())
        shared = worker_gpu_environment(0, self.workers, self.gpus)
        gpus = {}
        if self.gpus and self.workers > 1:
            memory = shared.get("XLA_PYTHON_CLIENT_MEM_FRACTION")
            cards = "1 GPU" if self.gpus == 1 else f"{self.gpus} GPUs"
            gpus = {"gpus": f"{cards} shared by {self.workers} workers"
                            + (f", each using at most {memory} of a card's memory (JAX)" if memory else "")}
        return {"executor": "local processes", "workers": self.workers, "threads_per_worker": self.threads,
                **gpus, **({"backend": backends} if backends else {})}

    def _pool(self, backend: str, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # fork is unsafe once TensorFlow has threads.
        started = context.SimpleQueue()
        environment = thread_environment(self.threads)
        if backend == "jax":  # The workers share one JAX compilation cache (see `share_compilations`).
            from rnnkit.backend import CACHE_DIR_VARIABLE

            if CACHE_DIR_VARIABLE not in os.environ and self._jax_cache is None:
                self._jax_cache = tempfile.TemporaryDirectory(prefix="rnnkit-jax-cache-")
            environment[CACHE_DIR_VARIABLE] = os.environ.get(CACHE_DIR_VARIABLE) or self._jax_cache.name
        gpu_share = (context.Value("i", 0), workers, self.gpus) if self.gpus and workers > 1 else None
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=(backend, environment, started, gpu_share))
        self._pools.append(pool)
        return pool, started

    def outcomes(self, todo):
        groups: dict[str, list] = {}
        for run in spread_architectures(todo):
            groups.setdefault(self.backend_of(run), []).append(run)
        for backend, runs in groups.items():  # One backend at a time: a process loads one.
            self.backends_used[backend] = len(runs)
            yield from self._run_group(backend, runs)

    def _run_group(self, backend: str, runs: list):
        remaining = list(runs)
        tries = {run.run_id: 0 for run in runs}
        stillborn = 0  # Pools that broke before any run started, in a row.
        while remaining:
            pool, started = self._pool(backend, min(self.workers, len(remaining)))
            futures = {pool.submit(_worker_train, run, self.options): run for run in remaining}
            remaining = []
            broken = False
            try:
                while futures and not broken:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        run = futures.pop(future)
                        try:
                            outcome = future.result()
                        except Exception:  # noqa: BLE001 - a dead worker (BrokenProcessPool) or a bad pickle.
                            if _is_broken(future):
                                broken = True
                                remaining.append(run)
                                continue
                            outcome = lost_outcome(run, traceback.format_exc())
                        yield outcome
            except BaseException:  # Ctrl-C, or the driver stopped consuming: stop the workers now.
                self.close()
                raise
            if not broken:
                self._shutdown(pool)
            else:
                remaining += list(futures.values())
                began = set()
                while not started.empty():
                    began.add(started.get())
                self._shutdown(pool)
                # Runs that had started in the broken pool are the suspects: each tries again
                # alone, so that the one that kills its worker is known; the others go on.
                suspects = [run for run in remaining if run.run_id in began]
                remaining = [run for run in remaining if run.run_id not in began]
                stillborn = 0 if began else stillborn + 1
                if stillborn >= 2:
                    raise RnnkitError(
                        "Worker processes died before they started a run, twice in a row. A script that "
                        "calls compare() with workers > 1 must do so under `if __name__ == '__main__':` "
                        "(workers are spawned and import the script); workers=1 trains in this process."
                    )
                for run in suspects:
                    yield from self._run_alone(backend, run, tries)

    def _run_alone(self, backend: str, run, tries: dict):
        while True:
            tries[run.run_id] += 1
            pool, _ = self._pool(backend, 1)
            future = pool.submit(_worker_train, run, self.options)
            try:
                outcome = future.result()
            except Exception:  # noqa: BLE001 - the worker died (or its result could not travel).
                outcome = None if _is_broken(future) else lost_outcome(run, traceback.format_exc())
            except BaseException:  # Ctrl-C: stop the worker now.
                self.close()
                raise
            self._shutdown(pool)
            if outcome is None and tries[run.run_id] <= ISOLATED_RETRIES:
                continue
            yield outcome or lost_outcome(run, (
                f"Worker process died: the process training this run ended abruptly (killed, or out "
                f"of memory) {tries[run.run_id] + 1} times, {tries[run.run_id]} of them running it "
                "alone; the run is recorded as failed (`--retry-failed` tries it again)."))
            return

    def _shutdown(self, pool) -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        if pool in self._pools:
            self._pools.remove(pool)

    def close(self) -> None:
        """Stops every worker now (Ctrl-C of the driver, or an error): their runs are not stored."""
        import multiprocessing

        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        for child in multiprocessing.active_children():
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
        self._pools.clear()
        if self._jax_cache is not None:
            self._jax_cache.cleanup()
            self._jax_cache = None


def _is_broken(future) -> bool:
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(future.exception(), BrokenProcessPool)


# ----------------------------------------------------------------------------- Ray


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _ray_train(run, task, options: dict) -> RunOutcome:
    """A Ray task's body: its backend and thread limits came in its runtime environment."""
    import rnnkit  # noqa: F401 - the quiet start-up, before TensorFlow loads.

    return train_run(run, task, **options)


def check_ray_address(address: str | None) -> None:
    """Refuses, in one line, a Ray address that does not answer (before anything is written)."""
    if address in (None, "", "local", "auto"):
        return
    text = address.split("://", 1)[-1]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise invalid("--ray", address, "HOST:PORT of a Ray cluster's head (e.g. 10.1.2.3:6379), 'auto' or "
                      "nothing for a local Ray")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as error:
        raise ConfigError(
            f"Invalid value for `--ray`: got {address!r}; no Ray cluster answers there ({error.strerror or error}). "
            "Start one with `ray start --head --port 6379` on the head node (and `ray start --address HEAD:6379` "
            "on each worker node), or give --ray without an address for a local Ray."
        ) from None


class RayExecutor:
    """Runs each run as a Ray task, on an existing cluster or a local Ray.

    Args:
        address: The cluster's address (HOST:PORT, "auto" for the cluster `ray start`
            made on this machine), or None for a new local Ray (`ray.init()`).
        backend_of: The backend of each run: a function of a `RunConfig`.
        cpus_per_run: Ray's `num_cpus` per run (and the run's thread limit).
        gpus_per_run: Ray's `num_gpus` per run; a fraction (0.25) lets runs share a GPU.
        num_cpus: For a new local Ray only: the CPUs it may use (default all).
        run_fn, verbose, tensorboard, figures: As for `train_run`.
        tasks: The driver's `TaskCache` (each task is built once, then shipped).

    Raises:
        ConfigError: Ray is not installed, the address does not answer, or GPUs are
            asked for and the cluster has none.

    Runs that reserve no GPU (`gpus_per_run=0`) train on CPUs even where the cluster has
    GPUs (`ray_task_environment`); `describe()` says so.
    """

    def __init__(self, address, backend_of, *, cpus_per_run: float = 1, gpus_per_run: float = 0,
                 num_cpus: int | None = None, run_fn=None, verbose: int = 0, tensorboard: bool = False,
                 figures: bool = True, tasks: TaskCache | None = None):
        if not ray_available():
            raise ConfigError("Invalid value for `--ray`: Ray is not installed (`pip install ray`).")
        self.cpus_per_run = _positive("cpus_per_run", cpus_per_run, allow_zero=False)
        self.gpus_per_run = _positive("gpus_per_run", gpus_per_run, allow_zero=True)
        if self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run):
            raise invalid("gpus_per_run", gpus_per_run, "a fraction of one GPU (0 < g <= 1) or a whole number")
        check_ray_address(address)
        self.address = address
        self.backend_of = backend_of
        self.options = {"run_fn": run_fn, "verbose": verbose, "tensorboard": tensorboard, "figures": figures}
        self.backends_used: dict[str, int] = {}
        self.tasks = tasks or TaskCache()
        self._started_ray = False
        self._pending: list = []
        self._connect(num_cpus, verbose)

    def _connect(self, num_cpus, verbose) -> None:
        import logging

        import ray

        if not ray.is_initialized():
            settings = {"logging_level": logging.ERROR, "log_to_driver": bool(verbose), "include_dashboard": False,
                        "configure_logging": True}
            try:
                if self.address in (None, "", "local"):
                    ray.init(num_cpus=num_cpus, **settings)
                else:
                    ray.init(address=self.address, **settings)
            except ConnectionError as error:
                raise ConfigError(
                    f"Invalid value for `--ray`: got {self.address!r}; could not connect ({' '.join(str(error).split())[:200]}). "
                    "Start a cluster with `ray start --head`, or give --ray without an address for a local Ray."
                ) from None
            self._started_ray = True
        resources = ray.cluster_resources()
        if self.gpus_per_run > 0 and resources.get("GPU", 0) <= 0:
            self.close()
            raise ConfigError(
                f"Invalid value for `gpus_per_run` (--gpus-per-run): got {self.gpus_per_run:g}; the Ray cluster "
                f"has no GPU (it has {resources.get('CPU', 0):g} CPUs); use 0, or a cluster with GPUs."
            )
        self.cluster = {key: resources[key] for key in ("CPU", "GPU") if key in resources}

    def describe(self) -> dict:
        import ray

        backends = ", ".join(f"{name} ({count} runs)" for name, count in self.backends_used.items())
        unused = self.unused_gpus_note()
        return {
            "executor": "ray",
            "ray_address": self.address or "local ray.init()",
            "ray_cluster": ", ".join(f"{key} {value:g}" for key, value in self.cluster.items()),
            "ray_per_run": f"num_cpus={self.cpus_per_run:g}, num_gpus={self.gpus_per_run:g}",
            "ray_version": ray.__version__,
            **({"gpus": unused} if unused else {}),
            **({"backend": backends} if backends else {}),
        }

    def unused_gpus_note(self) -> str:
        """Says so when the cluster has GPUs and the runs reserve none (they train on CPUs)."""
        gpus = self.cluster.get("GPU", 0)
        if self.gpus_per_run or not gpus:
            return ""
        cards = "1 GPU" if gpus == 1 else f"{gpus:g} GPUs"
        return f"the cluster's {cards} left unused: the runs reserve none and train on CPUs (--gpus-per-run)"

    def outcomes(self, todo):
        import ray

        remote = ray.remote(_ray_train)
        threads = max(1, int(self.cpus_per_run))
        refs = {}
        task_refs = {}
        for run in todo:
            backend = self.backend_of(run)
            self.backends_used[backend] = self.backends_used.get(backend, 0) + 1
            key = TaskCache.key(run)
            if key not in task_refs:  # Each task's arrays go into the object store once.
                task_refs[key] = ray.put(self.tasks.get(run))
            environment = ray_task_environment(backend, threads, self.gpus_per_run)
            ref = remote.options(
                num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=RAY_MAX_RETRIES,
                retry_exceptions=False, runtime_env={"env_vars": environment},
            ).remote(run, task_refs[key], self.options)
            refs[ref] = run
        self._pending = list(refs)
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                run = refs.pop(ref)
                self._pending.remove(ref)
                try:
                    outcome = ray.get(ref)
                except (ray.exceptions.RayError, OSError) as error:  # Worker or node lost after its retries.
                    outcome = lost_outcome(run, (
                        f"Ray could not finish the run after {RAY_MAX_RETRIES} retries: "
                        f"{type(error).__name__}: {' '.join(str(error).split())[:500]}"))
                yield outcome

    def close(self) -> None:
        """Cancels the runs still pending and, for a Ray this driver started, shuts it down."""
        import ray

        if ray.is_initialized():
            for ref in self._pending:
                with contextlib.suppress(Exception):  # Already finished, or its worker is gone.
                    ray.cancel(ref, force=True)
            self._pending = []
            if self._started_ray:
                ray.shutdown()
                self._started_ray = False


def _positive(name: str, value, *, allow_zero: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (number > 0 or (allow_zero and number == 0)):
        accepted = "a number >= 0" if allow_zero else "a number > 0"
        raise invalid(name, value, accepted)
    return number


__all__ = ["InProcessExecutor", "ProcessExecutor", "RayExecutor", "RunOutcome", "TaskCache", "auto_workers",
           "available_cores", "check_ray_address", "check_workers", "gpu_environment", "ray_task_environment", "thread_environment",
           "train_run", "worker_gpu_environment"]
