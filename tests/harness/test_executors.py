"""Parallel runs: local worker processes and Ray give the serial results; faults lose nothing.

The equivalence tests train real (tiny) models and compare the stored numbers with a
serial run of the same grid. The fault tests use the fake trainers of `worker_fakes`
(importable by name, so that spawned workers can unpickle them), which mark every call
in a folder: a test counts how often each run trained, and in which process.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # Spawned workers import `tests.harness.worker_fakes` by name.
    sys.path.insert(0, str(REPO))

from rnnkit.errors import ConfigError
from rnnkit.harness import store
from rnnkit.harness.executors import (
    ProcessExecutor,
    auto_workers,
    check_workers,
    gpu_environment,
    ray_task_environment,
    thread_environment,
    worker_gpu_environment,
)
from rnnkit.harness.grid import expand_grid
from rnnkit.harness.runner import compare
from tests.harness import worker_fakes

# Real training, tiny: 2 cells x 2 seeds on a 4-step adding problem.
REAL_GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 60}}],
    "cells": ["simple_rnn", "gru"], "model": {"units": 2}, "train": {"epochs": 2, "batch_size": 16},
    "seeds": [0, 1],
}
# For the fakes: the same 4 runs, whose numbers come from `fake_val_loss`.
FAKE_GRID = {**REAL_GRID, "train": {"epochs": 3}}
NUMBERS = ["params", "best_val_loss", "final_val_loss", "test_loss", "test_mse", "test_mae"]


@pytest.fixture
def markers(tmp_path, monkeypatch):
    folder = tmp_path / "markers"
    monkeypatch.setenv("RNNKIT_TEST_MARKERS", str(folder))
    return folder


def finished_ids(out):
    return sorted(path.parent.name for path in (Path(out) / "runs").glob("*/status.json"))


def assert_same_numbers(serial: pd.DataFrame, parallel: pd.DataFrame):
    assert list(parallel["run_id"]) == list(serial["run_id"])  # Grid order, however they finished.
    assert (parallel["status"] == "ok").all()
    for column in [c for c in NUMBERS if c in serial]:
        np.testing.assert_allclose(parallel[column].astype(float), serial[column].astype(float),
                                   rtol=1e-5, atol=1e-7, err_msg=column)


# ----------------------------------------------------------------------------- equivalence


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "out"
    return compare(REAL_GRID, out, progress=False, figures=False)


def test_two_local_workers_give_the_serial_results(serial_results, tmp_path):
    out = tmp_path / "out"
    results = compare(REAL_GRID, out, progress=False, figures=False, workers=2, tensorboard=True)
    assert_same_numbers(serial_results, results)
    # The workers' TensorBoard logs came back to the driver's folder: each run's training
    # curve there is its stored history.
    import tensorflow as tf

    for run_id in results["run_id"]:
        losses = {event.step: tf.make_ndarray(value.tensor).item()
                  for path in (out / "tensorboard" / run_id / "train").glob("events*")
                  for event in tf.compat.v1.train.summary_iterator(str(path))
                  for value in event.summary.value if value.tag == "epoch_loss"}
        history = pd.read_csv(out / "runs" / run_id / "history.csv")
        assert [losses[step] for step in sorted(losses)] == pytest.approx(list(history["loss"]), rel=1e-5)
    backends = {store.load_run(out, run_id)["metrics"]["environment"].get("backend") for run_id in results["run_id"]}
    assert backends == {"tensorflow"}
    environment = json.loads((out / "environment.json").read_text())
    # Workers inherit the driver's memory pages: what the report says is what each run had.
    pages = {store.load_run(out, run_id)["metrics"]["environment"]["huge_pages"] for run_id in results["run_id"]}
    assert pages == {environment["huge_pages"]}
    assert environment["executor"] == "local processes"
    assert environment["workers"] == 2
    assert environment["backend"] == "tensorflow (4 runs)"
    # The store is what a serial run writes: one folder per run, each finished once.
    assert finished_ids(out) == sorted(results["run_id"])


def test_local_ray_gives_the_serial_results(serial_results, tmp_path):
    pytest.importorskip("ray")
    import ray

    out = tmp_path / "out"
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        results = compare(REAL_GRID, out, progress=False, figures=False, ray="local")
    finally:
        ray.shutdown()
    assert_same_numbers(serial_results, results)
    environment = json.loads((out / "environment.json").read_text())
    assert environment["executor"] == "ray"
    assert environment["ray_per_run"] == "num_cpus=1, num_gpus=0"
    assert environment["ray_cluster"] == "CPU 2"


# ----------------------------------------------------------------------------- faults, local pool


def test_a_worker_killed_mid_run_is_retried_and_stored_once(markers, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_TEST_KILL", "gru-u2-s0")
    out = tmp_path / "out"
    results = compare(FAKE_GRID, out, progress=False, figures=False, workers=2,
                      run_fn=worker_fakes.killing_trainer)
    assert (results["status"] == "ok").all()
    assert len(worker_fakes.calls(markers, "gru-u2-s0")) == 2  # Killed once, then done.
    for key in ("simple_rnn-u2-s0", "simple_rnn-u2-s1", "gru-u2-s1"):
        assert 1 <= len(worker_fakes.calls(markers, key)) <= 2  # A bystander may have died with the pool.
    # Stored once each, with the fake's numbers: best validation loss at the last epoch.
    assert finished_ids(out) == sorted(results["run_id"])
    for _, row in results.iterrows():
        assert row["best_val_loss"] == pytest.approx(worker_fakes.fake_val_loss(2, 3, row["seed"]))


@pytest.mark.slow
def test_a_run_that_always_kills_its_worker_is_recorded_failed_and_the_rest_finish(markers, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setenv("RNNKIT_TEST_KILL", "simple_rnn-u2-s1")
    monkeypatch.setenv("RNNKIT_TEST_KILL_ALWAYS", "1")
    results = compare(FAKE_GRID, tmp_path / "out", progress=False, figures=False, workers=2,
                      run_fn=worker_fakes.killing_trainer)
    statuses = dict(zip(results["label"], results["status"]))
    assert statuses.pop("adding simple_rnn u2 L1 seed1") == "failed"
    assert set(statuses.values()) == {"ok"}
    error = results.set_index("label").loc["adding simple_rnn u2 L1 seed1", "error"]
    assert "Worker process died" in error
    # Tried in the pool, then alone twice (the retry included): three calls, no more.
    assert len(worker_fakes.calls(markers, "simple_rnn-u2-s1")) == 3


DRIVER = """
import sys
sys.path.insert(0, {repo!r})
import cloudpickle
from rnnkit.harness.runner import compare
from tests.harness import worker_fakes

cloudpickle.register_pickle_by_value(worker_fakes)  # Ray workers need not import the tests.

if __name__ == "__main__":
    compare({grid!r}, {out!r}, progress=False, figures=False, run_fn=worker_fakes.recording_trainer, **{how!r})
"""
EXECUTORS = {"local": {"workers": 2}, "ray": {"ray": "local"}}
SIX_RUNS = {**FAKE_GRID, "seeds": [0, 1, 2]}  # 6 runs of 1.5 s on 2 workers: about 5 s of work.


def start_driver(tmp_path, markers, out, executor, sleep="1.5"):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER.format(repo=str(REPO), grid=SIX_RUNS, out=str(out),
                                                    how=EXECUTORS[executor])))
    environment = {**os.environ, "RNNKIT_TEST_MARKERS": str(markers), "RNNKIT_TEST_SLEEP": sleep}
    process = subprocess.Popen([sys.executable, str(script)], env=environment, stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # Wait until one run is stored (the others still running), or with long runs until two started.
    while (len(finished_ids(out)) < 1) if float(sleep) < 10 else (len(worker_fakes.calls(markers)) < 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no run finished in 120 s"
        time.sleep(0.1)
    return process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def worker_pids(markers) -> set[int]:
    return {int(name.split(".")[1]) for name in worker_fakes.calls(markers)}


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_the_driver_stopped_mid_grid_leaves_no_worker_and_resumes(markers, tmp_path, how, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    out = tmp_path / "out"
    process = start_driver(tmp_path, markers, out, executor)
    process.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in worker_pids(markers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in worker_pids(markers)), "a worker outlived its driver"
    stored = finished_ids(out)
    assert 1 <= len(stored) < len(expand_grid(SIX_RUNS))
    if how == "ctrl-c":  # The tables describe the runs finished so far.
        assert len(pd.read_csv(out / "results.csv")) == len(stored)
    before = {run_id: (out / "runs" / run_id / "status.json").stat().st_mtime_ns for run_id in stored}
    calls_before = len(worker_fakes.calls(markers))
    # Started again on the same folder (a killed driver's lock is stale and taken over).
    results = compare(SIX_RUNS, out, progress=False, figures=False, workers=2,
                      run_fn=worker_fakes.recording_trainer)
    assert (results["status"] == "ok").all() and len(results) == len(expand_grid(SIX_RUNS))
    for run_id, mtime in before.items():  # Finished runs were neither redone nor rewritten.
        assert (out / "runs" / run_id / "status.json").stat().st_mtime_ns == mtime
    assert len(worker_fakes.calls(markers)) - calls_before == len(results) - len(stored)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_ctrl_c_stops_long_runs_at_once(markers, tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    out = tmp_path / "out"
    process = start_driver(tmp_path, markers, out, executor, sleep="120")  # Two runs of 2 minutes started.
    stopped = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert time.monotonic() - stopped < 20  # The driver did not wait for its runs to finish.
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in worker_pids(markers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in worker_pids(markers)), "a worker outlived its driver"
    assert finished_ids(out) == []


# ----------------------------------------------------------------------------- faults, Ray


@pytest.mark.slow
def test_a_ray_worker_killed_mid_run_is_retried_by_ray(markers, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import cloudpickle

    monkeypatch.setenv("RNNKIT_TEST_KILL", "gru-u2-s0")
    cloudpickle.register_pickle_by_value(worker_fakes)  # Ray workers need not import the tests.
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 runtime_env={"env_vars": {key: os.environ[key] for key in ("RNNKIT_TEST_MARKERS",
                                                                             "RNNKIT_TEST_KILL")}})
        results = compare(FAKE_GRID, tmp_path / "out", progress=False, figures=False, ray="local",
                          run_fn=worker_fakes.killing_trainer)
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(worker_fakes)
    assert (results["status"] == "ok").all()
    assert len(worker_fakes.calls(markers, "gru-u2-s0")) == 2
    assert finished_ids(tmp_path / "out") == sorted(results["run_id"])


# ----------------------------------------------------------------------------- choices and bad input


def test_auto_workers_follows_cores_runs_and_memory():
    gib = 1 << 30
    assert auto_workers(10, cores=4, available=64 * gib) == 4  # One per core.
    assert auto_workers(3, cores=4, available=64 * gib) == 3  # No more than the runs to do.
    assert auto_workers(10, cores=8, available=5 * gib) == 5  # Each worker needs about 1 GiB with Keras.
    assert auto_workers(10, run_bytes=3 * gib, cores=8, available=16 * gib) == 4  # 16 / (1 + 3).
    assert auto_workers(0, cores=4, available=64 * gib) == 1


def test_auto_workers_fit_the_gpu_memory():
    gib = 1 << 30
    plenty = {"cores": 16, "available": 128 * gib}
    # 95% of a 4 GiB card is 3.8 GiB: three workers of 1 GiB, two of 1.5 GiB.
    assert auto_workers(8, gpus=1, gpu_bytes=4 * gib, **plenty) == 3
    assert auto_workers(8, run_bytes=gib // 2, gpus=1, gpu_bytes=4 * gib, **plenty) == 2
    assert auto_workers(8, gpus=2, gpu_bytes=4 * gib, **plenty) == 6  # Three on each card.
    assert auto_workers(8, gpus=1, gpu_bytes=141 * gib, **plenty) == 8  # A large card: the runs decide.
    assert auto_workers(8, gpus=1, gpu_bytes=gib // 2, **plenty) == 1  # Too small for two: one, in this process.
    assert auto_workers(8, gpus=1, gpu_bytes=None, **plenty) == 8  # Size unknown: no GPU bound.


def test_gpu_memory_reads_the_smallest_card_from_nvidia_smi():
    from rnnkit.harness.resources import gpu_memory

    asked = []

    def answer(text):
        def runner(command):
            asked.append(command)
            return text
        return runner

    assert gpu_memory(answer("81559\n")) == 81559 * (1 << 20)
    assert gpu_memory(answer("16384\n 8192 \n")) == 8192 * (1 << 20)
    assert asked[0][0] == "nvidia-smi" and "--query-gpu=memory.total" in asked[0]
    assert gpu_memory(answer("")) is None
    assert gpu_memory(answer("[N/A]\n")) is None

    def missing(command):
        raise FileNotFoundError(command[0])

    assert gpu_memory(missing) is None


def test_workers_count_gpus_only_for_a_backend_that_uses_them(monkeypatch):
    import rnnkit.backend
    from rnnkit.harness import resources, runner

    monkeypatch.setattr(rnnkit.backend, "visible_gpus", lambda: 1)
    monkeypatch.setattr(rnnkit.backend, "gpu_backends", lambda: ("jax",))
    monkeypatch.setattr(resources, "gpu_memory", lambda: 4 << 30)
    assert runner._gpus_for_workers("jax") == {"gpus": 1, "gpu_bytes": 4 << 30}
    assert runner._gpus_for_workers("tensorflow") == {}  # A CPU-only TensorFlow trains on the CPU.
    monkeypatch.setattr(rnnkit.backend, "visible_gpus", lambda: 0)
    assert runner._gpus_for_workers("jax") == {}


def test_workers_on_one_gpu_each_get_their_share_of_its_memory():
    # JAX's fraction: 95% of an equal share, floored to hundredths (5% left for the CUDA contexts).
    # Allocating as needed (no reservation up front), up to the share.
    assert worker_gpu_environment(0, 2, 1, environ={}) == {
        "TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.47"}
    assert worker_gpu_environment(5, 8, 1, environ={})["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.11"
    # One worker, or no GPU: nothing changes.
    assert worker_gpu_environment(0, 1, 1, environ={}) == {}
    assert worker_gpu_environment(1, 4, 0, environ={}) == {}
    # The user's own memory setting wins: nothing of ours is added.
    assert worker_gpu_environment(0, 4, 1, environ={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}) == {}
    # Very many workers per card still get 1%, never 0.
    assert gpu_environment(1 / 200)["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.01"


def test_workers_on_several_gpus_are_spread_round_robin():
    seen = [worker_gpu_environment(index, 4, 2, environ={}) for index in range(4)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in seen] == ["0", "1", "0", "1"]
    assert {env["XLA_PYTHON_CLIENT_MEM_FRACTION"] for env in seen} == {"0.47"}  # Two workers per card.
    # The ids the user made visible, in their order; one worker per card keeps all its memory.
    listed = {"CUDA_VISIBLE_DEVICES": "3, 1,GPU-5f2a"}
    seen = [worker_gpu_environment(index, 3, 3, environ=listed) for index in range(3)]
    assert seen == [{"CUDA_VISIBLE_DEVICES": "3"}, {"CUDA_VISIBLE_DEVICES": "1"}, {"CUDA_VISIBLE_DEVICES": "GPU-5f2a"}]


def test_local_workers_sharing_a_gpu_start_with_their_share(markers, monkeypatch):
    for name in worker_fakes.GPU_VARIABLES + ("XLA_PYTHON_CLIENT_ALLOCATOR",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RNNKIT_TEST_SLEEP", "0.3")  # Keeps both workers busy.
    executor = ProcessExecutor(2, lambda run: "tensorflow", gpus=1, run_fn=worker_fakes.gpu_recording_trainer,
                               figures=False)
    try:
        outcomes = list(executor.outcomes(expand_grid(FAKE_GRID)))
    finally:
        executor.close()
    assert len(outcomes) == 4
    seen = [json.loads(path.read_text()) for path in sorted((markers / "gpu").glob("*.json"))]
    assert len(seen) == 4
    for settings in seen:
        assert settings["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.47"
        assert settings["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert settings["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert settings["CUDA_VISIBLE_DEVICES"] is None  # One card: nothing to choose.
    assert executor.describe()["gpus"] == "1 GPU shared by 2 workers, each using at most 0.47 of a card's memory (JAX)"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in os.environ  # Set in the workers, not in this process.


def test_ray_runs_without_a_reserved_gpu_see_none():
    # Ray leaves CUDA_VISIBLE_DEVICES alone for tasks that reserve no GPU; rnnkit empties it.
    assert ray_task_environment("jax", 1, 0)["CUDA_VISIBLE_DEVICES"] == ""
    shared = ray_task_environment("jax", 2, 0.25)
    assert "CUDA_VISIBLE_DEVICES" not in shared  # Ray sets it to the card it reserved.
    assert shared["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.23"  # 95% of a quarter, floored.
    assert shared["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert shared["KERAS_BACKEND"] == "jax" and shared["OMP_NUM_THREADS"] == "2"
    whole = ray_task_environment("tensorflow", 1, 1)
    assert "CUDA_VISIBLE_DEVICES" not in whole and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in whole


@pytest.mark.parametrize(("gpus_per_run", "on_gpu"), [(0, False), (0.25, True)])
def test_auto_on_ray_weighs_a_gpu_only_when_the_runs_reserve_one(monkeypatch, gpus_per_run, on_gpu):
    import rnnkit.backend
    from rnnkit.harness import runner

    asked = {}

    def fake_choose(runs, tasks=None, gpu=None, **_):
        asked["gpu"] = gpu
        return "jax"

    class FakeRay:
        def __init__(self, address, backend_of, **options):
            asked["executor"] = options

    monkeypatch.setattr(rnnkit.backend, "choose_backend", fake_choose)
    monkeypatch.setattr(runner, "RayExecutor", FakeRay)
    class NoTasks:
        def get(self, run):
            return None

    todo = expand_grid(FAKE_GRID)
    runner._executor("auto", "local", "auto", todo, NoTasks(), 0, {}, 1, gpus_per_run)
    assert asked["gpu"] is on_gpu
    assert asked["executor"]["gpus_per_run"] == gpus_per_run


def test_ray_says_when_the_clusters_gpus_stay_unused():
    from rnnkit.harness.executors import RayExecutor

    executor = RayExecutor.__new__(RayExecutor)  # No Ray needed: only what it found and was asked.
    executor.cluster, executor.gpus_per_run = {"CPU": 16, "GPU": 2}, 0
    assert executor.unused_gpus_note() == (
        "the cluster's 2 GPUs left unused: the runs reserve none and train on CPUs (--gpus-per-run)")
    executor.gpus_per_run = 0.25
    assert executor.unused_gpus_note() == ""
    executor.cluster, executor.gpus_per_run = {"CPU": 16}, 0
    assert executor.unused_gpus_note() == ""


def test_thread_limits_share_the_cores():
    values = thread_environment(1)
    assert values["TF_NUM_INTRAOP_THREADS"] == values["OMP_NUM_THREADS"] == "1"
    assert "intra_op_parallelism_threads=1" in values["XLA_FLAGS"]
    assert thread_environment(3)["TF_NUM_INTEROP_THREADS"] == "3"


@pytest.mark.parametrize("value", [0, -1, "x", 1.5, True, None])
def test_bad_worker_counts_are_refused(value):
    with pytest.raises(ConfigError, match=r"Invalid value for `workers`: got .*; expected 'auto' or an integer >= 1"):
        check_workers(value)


def test_check_workers_reads_the_command_line():
    assert check_workers("auto") == "auto"
    assert check_workers("3") == 3


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "Invalid value for `workers`: got '0'; expected 'auto' or an integer >= 1"),
    (["--ray", "127.0.0.1:1"], "Invalid value for `--ray`: got '127.0.0.1:1'; no Ray cluster answers there"),
    (["--ray", "no-port"], "Invalid value for `--ray`: got 'no-port'; expected HOST:PORT"),
    (["--gpus-per-run", "0.5"], "Invalid value for `--gpus-per-run`: got 0.5; expected 0 without --ray"),
    (["--ray", "--workers", "2"], "Invalid value for `--workers`: got 2; expected 'auto' or 1 with --ray"),
])
def test_cli_refuses_bad_execution_settings_in_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    finished = run_cli("compare", "--quick", "--out", str(out), *args)
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], finished.stderr
    assert not out.exists()  # Refused before anything was written.


def test_ray_without_gpus_refuses_a_gpu_request(tmp_path):
    pytest.importorskip("ray")
    import ray

    try:
        ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        with pytest.raises(ConfigError, match=r"`gpus_per_run` \(--gpus-per-run\): got 0.25; the Ray cluster has no GPU"):
            compare(FAKE_GRID, tmp_path / "out", progress=False, ray="local", gpus_per_run=0.25)
    finally:
        ray.shutdown()
    assert not (tmp_path / "out").exists()


def test_gpus_without_ray_and_workers_with_ray_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"`gpus_per_run`: got 0.5; expected 0 without Ray"):
        compare(FAKE_GRID, tmp_path / "a", progress=False, gpus_per_run=0.5)
    with pytest.raises(ConfigError, match=r"`workers`: got 2; expected 1 or 'auto' with --ray"):
        compare(FAKE_GRID, tmp_path / "b", progress=False, ray="local", workers=2)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_a_lost_ray_node_has_its_runs_retried_on_another(markers, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import threading

    import cloudpickle
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RNNKIT_TEST_SLEEP", "2")
    cloudpickle.register_pickle_by_value(worker_fakes)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # The head trains nothing.
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out = tmp_path / "out"

    def remove_node_once_a_run_started():
        deadline = time.monotonic() + 120
        while not worker_fakes.calls(markers) and time.monotonic() < deadline:
            time.sleep(0.1)
        cluster.remove_node(doomed)  # Its worker dies mid-run, as when a machine is lost.

    remover = threading.Thread(target=remove_node_once_a_run_started)
    try:
        remover.start()
        results = compare(FAKE_GRID, out, progress=False, figures=False, ray=cluster.address,
                          run_fn=worker_fakes.recording_trainer)
        remover.join()
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
        cloudpickle.unregister_pickle_by_value(worker_fakes)
    assert (results["status"] == "ok").all() and len(results) == 4
    assert finished_ids(out) == sorted(results["run_id"])  # Each stored once.
    assert len(worker_fakes.calls(markers)) > 4  # Some run was started on the lost node and again.


def test_a_trainer_workers_cannot_receive_is_refused_before_anything_is_written(tmp_path):
    def local_trainer(spec, task, config, **kwargs):  # Defined in a function: pickle cannot send it.
        raise AssertionError("never called")

    with pytest.raises(ConfigError, match=r"Invalid value for `run_fn`: got .*local_trainer.*; expected a function "
                                          r"defined at module level"):
        compare(FAKE_GRID, tmp_path / "out", progress=False, workers=2, run_fn=local_trainer)
    assert not (tmp_path / "out").exists()
