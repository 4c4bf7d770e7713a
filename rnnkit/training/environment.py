"""The facts about the machine and libraries that a run's numbers depend on."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from rnnkit.startup import hugepages_in_use


def collect_environment(seed: int | None = None) -> dict:
    """Returns versions, device and seed as a flat, JSON-ready dict.

    Args:
        seed: The seed the run used (recorded as given).

    Returns:
        A dict with `python`, `tensorflow`, `jax` (installed versions, None when
        missing), `keras`, `numpy`, `pandas`, `backend` (the Keras backend the run used),
        `platform`, `machine`, `device` ("GPU: <name>" or "CPU"), `huge_pages` (whether
        large allocations get huge pages: see `rnnkit.startup`) and `seed`.

    Example:

    >>> collect_environment(seed=0)["seed"]
    0
    """
    import keras
    import numpy
    import pandas

    backend = keras.backend.backend()
    return {
        "python": sys.version.split()[0],
        "tensorflow": _version("tensorflow"),
        "jax": _version("jax"),
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "backend": backend,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "device": _device(backend),
        "huge_pages": hugepages_in_use(),
        "seed": seed,
    }


def _version(package: str) -> str | None:
    """The installed version of `package` (read from its metadata, without importing it)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device(backend: str) -> str:
    """ "GPU: <name>" or "CPU", asked of the backend Keras runs on (TensorFlow is not
    imported under JAX just to look)."""
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        return f"GPU: {gpus[0].device_kind}" if gpus else "CPU"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"GPU: {gpus[0].name}" if gpus else "CPU"
    return "unknown"
