"""The facts about the machine and libraries that a run's numbers depend on."""

from __future__ import annotations

import platform
import sys


def collect_environment(seed: int | None = None) -> dict:
    """Returns versions, device and seed as a flat, JSON-ready dict.

    Args:
        seed: The seed the run used (recorded as given).

    Returns:
        A dict with `python`, `tensorflow`, `keras`, `numpy`, `pandas`, `backend`,
        `platform`, `machine`, `device` ("GPU: <name>" or "CPU") and `seed`.

    Example:

    >>> collect_environment(seed=0)["seed"]
    0
    """
    import keras
    import numpy
    import pandas
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = f"GPU: {gpus[0].name}" if gpus else "CPU"
    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "device": device,
        "seed": seed,
    }
