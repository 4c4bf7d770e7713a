"""Fake trainers for the executor tests, importable by name so that worker processes can
unpickle them (a function defined inside a test module could not travel to a spawned
worker).

Each call leaves a file in the folder `RNNKIT_TEST_MARKERS` names, `<key>.<pid>.<n>`, so a
test can count how often a run was trained and in which process. The numbers a fake
returns come from `fake_val_loss`, so the tests recompute them independently.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.training.result import RunResult


def run_key(spec, config) -> str:
    return f"{spec.cell}-u{spec.units}-s{config.seed}"


def fake_val_loss(units: int, epoch: int, seed: int) -> float:
    return 1.0 / (units * epoch) + 0.01 * seed


def _markers() -> Path:
    folder = Path(os.environ["RNNKIT_TEST_MARKERS"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def calls(folder, key: str | None = None) -> list[str]:
    """The marker files of the calls made so far (of one run key, or all)."""
    names = sorted(path.name for path in Path(folder).glob("*.*.*"))
    return [name for name in names if key is None or name.split(".")[0] == key]


def _mark(key: str) -> int:
    folder = _markers()
    count = len(calls(folder, key))
    (folder / f"{key}.{os.getpid()}.{count}").write_text("started")
    return count


def _result(spec, config) -> RunResult:
    epochs = np.arange(1, config.epochs + 1)
    history = pd.DataFrame({
        "epoch": epochs,
        "loss": [fake_val_loss(spec.units, e, config.seed) - 0.005 for e in epochs],
        "val_loss": [fake_val_loss(spec.units, e, config.seed) for e in epochs],
        "epoch_seconds": 0.01,
    })
    return RunResult(status="ok", history=history,
                     metrics={"loss": fake_val_loss(spec.units, config.epochs, config.seed)},
                     params={"total": 10 * spec.units}, timings={"seconds_per_epoch": 0.01})


def recording_trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
    """Marks the call, sleeps `RNNKIT_TEST_SLEEP` seconds (default 0), returns the fake result."""
    _mark(run_key(spec, config))
    time.sleep(float(os.environ.get("RNNKIT_TEST_SLEEP", "0")))
    return _result(spec, config)


def killing_trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
    """Kills its own process (SIGKILL) mid-run for the run key `RNNKIT_TEST_KILL`: on its
    first call only, or on every call when `RNNKIT_TEST_KILL_ALWAYS` is set."""
    key = run_key(spec, config)
    previous = _mark(key)
    if key == os.environ.get("RNNKIT_TEST_KILL") and (previous == 0 or os.environ.get("RNNKIT_TEST_KILL_ALWAYS")):
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)
    return _result(spec, config)


GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE",
                 "TF_FORCE_GPU_ALLOW_GROWTH")


def gpu_recording_trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
    """Like `recording_trainer`, and writes the worker's GPU settings (`GPU_VARIABLES`) to
    `<markers>/gpu/<run key>.json`."""
    import json

    result = recording_trainer(spec, task, config)
    folder = _markers() / "gpu"
    folder.mkdir(exist_ok=True)
    settings = {name: os.environ.get(name) for name in GPU_VARIABLES}
    (folder / f"{run_key(spec, config)}.json").write_text(json.dumps({"pid": os.getpid(), **settings}))
    return result
