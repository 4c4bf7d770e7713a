"""Backends: the same numbers on TensorFlow and JAX, the `auto` rule, and no silent switch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from rnnkit.backend import (
    cell_steps,
    choose_backend,
    cudnn_eligible,
    estimate_seconds,
    gpu_backends,
    resolve_backend,
    run_work,
    share_compilations,
    use_backend,
    visible_gpus,
)
from rnnkit.cli import main
from rnnkit.errors import ConfigError
from rnnkit.harness.defaults import default_grid_dict
from rnnkit.harness.grid import expand_grid, load_grid

REPO = Path(__file__).resolve().parents[1]

# Builds one LSTM many-to-one model with weights drawn by NumPy (the same on every backend),
# then prints every diagnostic and one epoch of training from those weights, as JSON.
SCRIPT = r"""
import json, sys
import keras, numpy as np
import rnnkit
from rnnkit.training.diagnostics import gradient_flow, gradient_norm, saturation
task = rnnkit.get_task("adding", timesteps=6, num_samples=64, seed=0)
model = rnnkit.build_model(rnnkit.ModelSpec(cell=sys.argv[1], units=5), task)
rng = np.random.default_rng(0)
model.set_weights([rng.normal(scale=0.4, size=w.shape).astype("float32") for w in model.weights])
x, y = task.test.x[:8], task.test.y[:8]
out = {"backend": keras.backend.backend(), "params": model.count_params(),
       "grad_norm": gradient_norm(model, x, y, loss="mse"),
       "flow": gradient_flow(model, x, y, loss="mse").tolist(),
       "saturation": saturation(model, x, threshold=0.5),
       "predictions": np.asarray(model.predict(x, verbose=0)).ravel().tolist()}
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
out["loss"] = model.fit(task.train.x, task.train.y, batch_size=16, epochs=1, shuffle=False, verbose=0).history["loss"]
print("RESULT" + json.dumps(out))
"""


def run_on(backend: str, cell: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    completed = subprocess.run([sys.executable, "-c", SCRIPT, cell], env=env, capture_output=True, text=True, check=False,
                               timeout=300, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-2000:]
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(line.removeprefix("RESULT"))


@pytest.mark.parametrize("cell", ["gru"])
def test_tensorflow_and_jax_give_the_same_numbers_from_the_same_weights(cell):
    tf_numbers, jax_numbers = run_on("tensorflow", cell), run_on("jax", cell)
    assert (tf_numbers["backend"], jax_numbers["backend"]) == ("tensorflow", "jax")
    # GRU (reset_after) on 2 features + Dense head: 3*5*(5+2+2) + 5 + 1.
    assert tf_numbers["params"] == jax_numbers["params"] == 3 * 5 * (5 + 2 + 2) + 5 + 1
    for key in ("grad_norm", "flow", "saturation", "predictions", "loss"):
        assert np.allclose(tf_numbers[key], jax_numbers[key], rtol=1e-4, atol=1e-6), key


@pytest.mark.jax
def test_run_work_counts_the_recurrent_multiply_adds():
    (run,) = expand_grid({"tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
                          "cells": ["lstm"], "model": {"units": 8}, "train": {"epochs": 2}})
    # 320 training samples (80%), 4 gates * 8 * (8 + 2 features), forward + backward (x3).
    assert run_work(run) == 3 * 4 * 8 * (8 + 2) * 10 * 320 * 2


@pytest.mark.jax
def test_cell_steps_count_batches_of_train_and_validation_times_timesteps():
    (run,) = expand_grid({"tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
                          "cells": ["gru"], "model": {"units": 8}, "train": {"epochs": 3, "batch_size": 32}})
    # 320 training samples -> 10 batches, 40 validation samples -> 2 batches (the last one partial).
    assert cell_steps(run) == (10 + 2) * 10 * 3


@pytest.mark.jax
def test_jax_pays_its_compile_once_per_architecture_in_the_estimate():
    runs = expand_grid({"tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
                        "cells": ["gru"], "model": {"units": 8}, "train": {"epochs": 2}, "seeds": [0, 1, 2]})
    one, two, three = (estimate_seconds(runs[:count], "jax") for count in (1, 2, 3))
    tf_one, tf_two, tf_three = (estimate_seconds(runs[:count], "tensorflow") for count in (1, 2, 3))
    # TensorFlow traces every run anew: each run adds as much as the first (the import is
    # paid once, before it). On JAX the later seeds reuse the compiled steps: each adds
    # less than the first did.
    assert tf_three - tf_two == pytest.approx(tf_two - tf_one)
    assert tf_one > tf_two - tf_one  # the first run carries the import
    assert three - two == pytest.approx(two - one)
    assert two - one < tf_two - tf_one  # loading compiled steps beats tracing them again


@pytest.mark.jax
def test_auto_follows_the_measured_costs(shared_datasets):
    # Seconds of the whole command, `rnnkit train` / `rnnkit compare --workers 1 --no-report`,
    # measured on the quiet 2-core machine, TensorFlow against JAX, 2 repeats each.
    def one(task, units, epochs, **train):
        return expand_grid({"tasks": [task], "cells": ["lstm"], "model": {"units": units},
                            "train": {"epochs": epochs, **train}})

    # One adding run of 2 epochs: 6.56-6.59 s against 5.15-5.20 s.
    assert choose_backend(one({"name": "adding"}, 32, 2), gpu=False) == "jax"
    # One copy-task run of 2 epochs: 6.34-6.40 s against 5.81-5.91 s.
    assert choose_backend(one({"name": "copy"}, 32, 2), gpu=False) == "jax"
    # One char-LM run at 128 units, 3 epochs: 10.0-11.5 s against 8.2-9.2 s.
    lm = one({"name": "timemachine_lm", "options": {"timesteps": 35}}, 128, 3, batch_size=64)
    assert choose_backend(lm, gpu=False) == "jax"
    assert resolve_backend("tensorflow", lm) == "tensorflow"  # asked for by name: kept
    # Six sizes of one model, one epoch each: every new architecture costs JAX about 1 s
    # more to compile than TensorFlow takes to trace it: 11.7-12.1 s against 14.2-15.2 s.
    sweep = expand_grid({"tasks": [{"name": "adding"}], "cells": ["lstm"],
                         "model": {"units": [4, 8, 12, 16, 20, 24]}, "train": {"epochs": 1}})
    assert choose_backend(sweep, gpu=False) == "tensorflow"
    # The quick grid: 2 seeds of 8 epochs over 81 batches of 30 steps, where TensorFlow's
    # cost per cell step dominates.
    assert choose_backend(expand_grid(load_grid(default_grid_dict(True))), gpu=False) == "jax"


def test_visible_gpus_reads_the_driver_and_cuda_visible_devices(tmp_path):
    driver = tmp_path / "gpus"
    driver.mkdir()
    for bus in ("0000:17:00.0", "0000:65:00.0", "0000:ca:00.0"):  # three GPUs, one folder each
        (driver / bus).mkdir()
    assert visible_gpus({}, str(driver)) == 3
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1"}, str(driver)) == 1
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,2"}, str(driver)) == 2
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,-1,2"}, str(driver)) == 1  # CUDA stops at an invalid id
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, str(driver)) == 0
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, str(driver)) == 0
    assert visible_gpus({}, str(tmp_path / "no-driver")) == 0


@pytest.mark.jax
def test_on_a_gpu_auto_takes_the_cudnn_path_of_tensorflow(shared_datasets):
    def grid(cells, **model):
        return expand_grid({"tasks": [{"name": "timemachine_lm", "options": {"timesteps": 35}}], "cells": cells,
                            "model": {"units": 128, **model}, "train": {"epochs": 20, "batch_size": 64}})

    both = ("tensorflow", "jax")
    # On a CPU these runs go to JAX (see above); on a GPU both can use, TensorFlow's cuDNN LSTM and GRU.
    assert choose_backend(grid(["lstm", "gru"]), gpu=False) == "jax"
    assert choose_backend(grid(["lstm", "gru"]), gpu=True, gpu_ready=both) == "tensorflow"
    assert choose_backend(grid(["gru"]), gpu=True, gpu_ready=both) == "tensorflow"
    # Layers cuDNN cannot run keep the CPU rule: SimpleRNN, a relu cell, recurrent dropout, unroll.
    assert choose_backend(grid(["simple_rnn"]), gpu=True, gpu_ready=both) == "jax"
    # The only backend that can use the GPU gets every run; none that can: the CPU rule.
    assert choose_backend(grid(["lstm"]), gpu=True, gpu_ready=("jax",)) == "jax"
    assert choose_backend(grid(["simple_rnn"]), gpu=True, gpu_ready=("tensorflow",)) == "tensorflow"
    assert choose_backend(grid(["lstm", "gru"]), gpu=True, gpu_ready=()) == "jax"
    for model in ({"activation": "relu"}, {"recurrent_dropout": 0.2}, {"unroll": True}):
        assert not any(cudnn_eligible(run) for run in grid(["lstm"], **model)), model
    assert not cudnn_eligible(grid(["gru"], reset_after=False)[0])


def _package(root, name, files=None):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for path, text in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)


def _build_info(cuda: bool, version: str = "12.5.1") -> str:
    return (f"build_info = collections.OrderedDict([('cuda_version', '{version}'), ('cudnn_version', '9'), "
            f"('is_cuda_build', {cuda}), ('is_rocm_build', False)])\n")


def test_gpu_backends_needs_cuda_libraries_for_tensorflow_and_the_plugin_for_jax(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    assert gpu_backends([str(site)]) == ()
    _package(site, "tensorflow", {"python/platform/build_info.py": _build_info(cuda=True)})
    _package(site, "jax")
    assert gpu_backends([str(site)]) == ()  # a CUDA build without its libraries; JAX without its plugin
    libraries = site / "nvidia"
    (libraries / "cuda_runtime" / "lib").mkdir(parents=True)
    (libraries / "cudnn" / "lib").mkdir(parents=True)
    (libraries / "cuda_runtime" / "lib" / "libcudart.so.13").write_text("")
    (libraries / "cudnn" / "lib" / "libcudnn.so.9").write_text("")
    assert gpu_backends([str(site)]) == ()  # CUDA 13's runtime does not serve a build for CUDA 12
    (libraries / "cuda_runtime" / "lib" / "libcudart.so.12").write_text("")
    assert gpu_backends([str(site)]) == ("tensorflow",)
    _package(site, "jax_cuda12_plugin")
    assert gpu_backends([str(site)]) == ("tensorflow", "jax")
    cpu_only = tmp_path / "cpu"
    _package(cpu_only, "tensorflow", {"python/platform/build_info.py": _build_info(cuda=False)})
    (cpu_only / "nvidia").symlink_to(libraries, target_is_directory=True)
    assert gpu_backends([str(cpu_only)]) == ()


def test_share_compilations_does_nothing_on_tensorflow():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("runs under TensorFlow")
    assert share_compilations() is None


@pytest.mark.jax
def test_a_cached_compilation_gives_the_same_numbers_as_a_fresh_one():
    if keras.backend.backend() != "jax":
        pytest.skip("runs under KERAS_BACKEND=jax")
    from rnnkit import ModelSpec, TrainConfig, get_task, run_experiment

    folder = share_compilations()
    task = get_task("adding", timesteps=5, num_samples=60, seed=0)
    spec = ModelSpec(cell="gru", units=3)
    # Seed 1 compiled afresh, seed 0, then seed 1 again from the cache: the second seed-1
    # run must repeat the first exactly (same programs, same weights, same shuffling).
    first = run_experiment(spec, task, TrainConfig(epochs=1, batch_size=16, seed=1))
    other = run_experiment(spec, task, TrainConfig(epochs=1, batch_size=16, seed=0))
    again = run_experiment(spec, task, TrainConfig(epochs=1, batch_size=16, seed=1))
    assert folder and any(Path(folder).rglob("*"))
    assert again.metrics == first.metrics
    assert other.metrics != first.metrics
    assert again.diagnostics["gradient_flow"] == first.diagnostics["gradient_flow"]


@pytest.mark.jax
def test_an_unknown_backend_is_named():
    with pytest.raises(ConfigError, match=r"`backend`: got 'torch'; expected one of 'auto', 'tensorflow', 'jax'"):
        resolve_backend("torch", [])


@pytest.mark.jax
def test_the_loaded_backend_is_never_switched_silently():
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    with pytest.raises(ConfigError, match=f"got '{other}', but Keras is already loaded with"):
        use_backend(other)
    assert use_backend(keras.backend.backend()) == keras.backend.backend()


@pytest.mark.jax
def test_cli_refuses_another_backend_than_the_loaded_one(tmp_path, capsys):
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    code = main(["train", "--task", "adding", "--units", "2", "--epochs", "1", "--option", "num_samples=30",
                 "--backend", other, "--out", str(tmp_path / "run")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"rnnkit train: error: Invalid value for `backend`: got '{other}'")
    assert not (tmp_path / "run").exists()


def test_cli_backend_flag_is_recorded_in_the_run_and_the_report(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KERAS_BACKEND", None)
    completed = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--cell", "gru", "--units", "2", "--epochs", "1",
         "--option", "num_samples=30", "--option", "timesteps=4", "--backend", "jax", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "(Keras backend jax)" in completed.stdout
    assert json.loads((out / "environment.json").read_text())["backend"] == "jax"
    (folder,) = (out / "runs").iterdir()
    stored = [json.loads(path.read_text()) for path in folder.glob("*.json")]
    assert any(record.get("environment", {}).get("backend") == "jax" for record in stored)
    assert "<td>backend</td><td>jax</td>" in (out / "report.html").read_text()
