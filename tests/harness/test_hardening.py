"""Hardening of the run store: one writer, validate-then-write, OS failures, untrusted paths,
divergence, the memory guard, and report figures redrawn only when stale."""

import errno
import hashlib
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rnnkit.errors import (
    ConfigError,
    DataError,
    OutputError,
    RnnkitError,
    StoreLockedError,
    os_error,
)
from rnnkit.harness import lock, resources, store
from rnnkit.harness.grid import load_grid, parse_value
from rnnkit.harness.runner import compare
from rnnkit.training.result import RunResult

GRID = {"tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 40}}],
        "cells": ["gru"], "model": {"units": 2}, "train": {"epochs": 1}, "seeds": [0, 1]}


def fake_trainer(spec, task, config, *, verbose=0, callbacks=(), gradient_flow=True):
    """Returns a made-up two-epoch history; no model is trained."""
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.6]})
    return RunResult(status="ok", history=history, metrics={"loss": 0.6, "mse": 0.6}, params={"total": 20})


def folder_hash(folder: Path) -> str:
    """One hash over every file's relative path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def finished_store(tmp_path):
    out = tmp_path / "D"
    compare(GRID, out, run_fn=fake_trainer, progress=False, figures=False)
    return out


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----------------------------------------------------------------------------- item 2


@pytest.mark.parametrize("change", [
    {"tasks": [{"name": "adding", "options": {"num_samples": 0}}]},
    {"tasks": [{"name": "adding", "options": {"timesteps": 100_000_000}}]},
    {"cells": ["elman"]},
    {"model": {"units": 0}},
])
def test_a_refused_compare_leaves_the_store_byte_for_byte_unchanged(finished_store, change):
    before = folder_hash(finished_store)
    with pytest.raises(RnnkitError):
        compare({**GRID, **change}, finished_store, run_fn=fake_trainer, progress=False, figures=False)
    assert folder_hash(finished_store) == before
    assert not (finished_store / lock.LOCK_FILE).exists()


def test_a_refused_compare_does_not_create_its_folder(tmp_path):
    with pytest.raises(ConfigError, match="Invalid value for `num_samples`: got 0; expected a positive integer"):
        compare({**GRID, "tasks": [{"name": "adding", "options": {"num_samples": 0}}]}, tmp_path / "new",
                run_fn=fake_trainer, progress=False)
    assert not (tmp_path / "new").exists()


def test_stateful_with_shuffle_is_refused_and_without_shuffle_accepted():
    with pytest.raises(ConfigError, match=r"`model.stateful: true` and `train.shuffle: true` \(the default\) "
                                          "exclude each other"):
        load_grid({**GRID, "model": {"units": 2, "stateful": True}})
    grid = load_grid({**GRID, "model": {"units": 2, "stateful": True}, "train": {"shuffle": False}})
    assert grid.model["stateful"] == (True,) and grid.train["shuffle"] == (False,)


def test_option_values_are_read_like_the_grid_file():
    assert parse_value("1e-3", "--option noise") == 0.001 and isinstance(parse_value("1e-3", "x"), float)
    assert parse_value("[10, 20]", "x") == [10, 20]
    with pytest.raises(ConfigError, match=r"Invalid value for `--option timesteps`: got '\[1,'; expected a YAML"):
        parse_value("[1,", "--option timesteps")


# ----------------------------------------------------------------------------- item 1


def test_a_second_writer_is_refused_in_one_line_naming_the_holder(finished_store):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = {"pid": holder.pid, "host": socket.gethostname(), "started": "2024-01-01T10:00:00+00:00",
                  "command": "rnnkit compare"}
        (finished_store / lock.LOCK_FILE).write_text(__import__("json").dumps(record))
        before = folder_hash(finished_store)
        with pytest.raises(StoreLockedError, match=(
                rf"is in use by another rnnkit process: pid {holder.pid} on host '{socket.gethostname()}' "
                r"since 2024-01-01T10:00:00\+00:00 \(rnnkit compare\); wait for it")) as info:
            compare(GRID, finished_store, run_fn=fake_trainer, progress=False, figures=False)
        assert "\n" not in str(info.value) and info.value.exit_code == 75
        assert folder_hash(finished_store) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_released(finished_store):
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2024-01-01T10:00:00+00:00"}
    (finished_store / lock.LOCK_FILE).write_text(__import__("json").dumps(stale))
    with lock.store_lock(finished_store, "test"):
        assert lock.read_holder(finished_store)["pid"] == os.getpid()
        with lock.store_lock(finished_store):  # Re-entrant for the holding thread.
            pass
        assert (finished_store / lock.LOCK_FILE).exists()
    assert not (finished_store / lock.LOCK_FILE).exists()
    assert not list(finished_store.glob(".rnnkit.lock*"))


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    record = {"pid": dead_pid(), "host": "some-other-host", "started": "2024-01-01T10:00:00+00:00"}
    tmp_path.joinpath(lock.LOCK_FILE).write_text(__import__("json").dumps(record))
    with pytest.raises(StoreLockedError, match="on host 'some-other-host'.*If that process is gone, delete"):
        lock.acquire(tmp_path)


def test_a_stale_lock_is_removed_only_if_unchanged(tmp_path):
    path = tmp_path / lock.LOCK_FILE
    path.write_text('{"pid": 1, "host": "h"}')
    lock._take_over(path, {"pid": 2, "host": "h"})  # Someone else's record meanwhile: kept.
    assert path.exists()
    lock._take_over(path, {"pid": 1, "host": "h"})
    assert not path.exists() and not (tmp_path / ".rnnkit.lock.takeover").exists()


# ----------------------------------------------------------------------------- item 5


def test_out_dir_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"Invalid value for `--out`: got '.*afile'; expected a folder \(a file"):
        store.check_out_dir(tmp_path / "afile")
    with pytest.raises(ConfigError, match=r"expected a folder path \('.*afile' is a file, not a folder\)"):
        store.check_out_dir(tmp_path / "afile" / "x")


def test_os_errors_become_one_line_with_their_exit_code(tmp_path):
    full = os_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "f.png")))
    assert isinstance(full, OutputError) and full.exit_code == 73
    assert str(full) == (f"Cannot write {str(tmp_path / 'f.png')!r}: no space left on the device; free some space "
                         "or choose another folder; runs already stored are kept and the same command resumes.")
    denied = os_error(PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert denied.exit_code == 73 and "permission denied; choose a folder you can write to" in str(denied)
    missing = os_error(FileNotFoundError(errno.ENOENT, "No such file", "/a/b"))
    assert missing.exit_code == 2 and str(missing).startswith("Cannot use '/a/b': no such file or folder")


def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = store.write_text(tmp_path / "results.csv", "old\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        store.write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_report_zip_into_a_missing_folder_is_refused_before_writing(finished_store, tmp_path):
    from rnnkit.report.report import build_report

    before = folder_hash(finished_store)
    with pytest.raises(ConfigError, match=r"Invalid value for `--zip`: got '.*x.zip'; expected a path in an "
                                          r"existing folder \('.*MISSING' does not exist; create it first\)"):
        build_report(finished_store, zip_path=tmp_path / "MISSING" / "x.zip")
    assert folder_hash(finished_store) == before


# ----------------------------------------------------------------------------- item 8


def test_failure_line_is_the_exception_with_keras_cause():
    traceback_text = (
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
        "TypeError: Exception encountered when calling LSTM.call().\n\n"
        "\x1b[1mmissing argument units\x1b[0m\n\nArguments received by LSTM.call():\n"
        "  \u2022 kwargs={'training': 'False', 'mask': 'None'}\n")
    assert store.failure_line(traceback_text) == (
        "TypeError: Exception encountered when calling LSTM.call(): missing argument units")
    assert store.failure_line("Traceback\n  File y\nValueError: bad\n") == "ValueError: bad"


# ----------------------------------------------------------------------------- item 6


class _Model:
    stop_training = False


@pytest.mark.parametrize(("losses", "epoch"), [
    ([0.2, 0.5, 250.0, 1.0], 3),        # 250 > 1000 * 0.2? no: 200 is the bound, so 250 diverges.
    ([0.2, float("nan")], 2),
    ([0.2, 150.0, 190.0], None),        # Below 1000 times the first epoch: not diverged.
    ([2.6, 2.6e9], 2),
])
def test_divergence_is_a_non_finite_loss_or_above_1000_times_the_first(losses, epoch):
    from rnnkit.training.callbacks import StopOnNonFiniteLoss

    callback = StopOnNonFiniteLoss()
    callback.set_model(_Model())
    for position, loss in enumerate(losses):
        if callback.model.stop_training:
            break
        callback.on_epoch_end(position, {"loss": loss})
    assert callback.epoch == epoch
    assert callback.model.stop_training is (epoch is not None)


def test_diverged_runs_are_stored_with_history_and_old_nan_loss_stores_still_read(tmp_path):
    def diverging(spec, task, config, **kwargs):
        result = fake_trainer(spec, task, config)
        if config.seed == 1:
            result.status, result.error = "diverged", "Loss grew to 2.6e+09 in epoch 2."
        return result

    results = compare(GRID, tmp_path / "o", run_fn=diverging, progress=False, figures=False)
    assert list(results["status"]) == ["ok", "diverged"]
    diverged = store.load_run(tmp_path / "o", results["run_id"].iloc[1])
    assert len(diverged["history"]) == 2
    # A store written before "diverged" existed: its status.json says nan_loss.
    status_path = store.run_dir(tmp_path / "o", results["run_id"].iloc[1]) / store.STATUS_FILE
    status_path.write_text(status_path.read_text().replace('"diverged"', '"nan_loss"'))
    assert store.is_finished(tmp_path / "o", results["run_id"].iloc[1])


# ----------------------------------------------------------------------------- item 7


def test_run_ids_from_disk_are_checked_before_they_become_paths(finished_store):
    with pytest.raises(DataError, match=r"Invalid value for `run_id`: got '\.\./\.\./x'; expected a run id of 10 "
                                        "hexadecimal digits"):
        store.run_dir(finished_store, "../../x")
    assert not store.is_finished(finished_store, "../../x")
    (finished_store / "runs" / "not-an-id").mkdir()
    assert all(len(run_id) == 10 for run_id in store.finished_run_ids(finished_store))


def test_zip_leaves_out_symbolic_links(finished_store, tmp_path):
    from rnnkit.report.report import zip_folder

    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("private")
    (finished_store / "link_dir").symlink_to(secret, target_is_directory=True)
    (finished_store / "link_file.txt").symlink_to(secret / "key.txt")
    path = zip_folder(finished_store, tmp_path / "out.zip")
    names = zipfile.ZipFile(path).namelist()
    assert "D/results.csv" in names
    assert not any("link_" in name or "key.txt" in name for name in names)


# ----------------------------------------------------------------------------- item 4


def test_memory_sizes_and_estimates():
    assert resources.parse_size("8G") == 8 * 1024**3 and resources.parse_size("512M") == 512 * 1024**2
    assert resources.parse_size("1.5GiB") == int(1.5 * 1024**3) and resources.parse_size("none") is None
    with pytest.raises(ConfigError, match=r"Invalid value for `--max-memory`: got '12Q'; expected a size above 0"):
        resources.parse_size("12Q")
    # adding: num_samples * timesteps * 48 bytes, from the task's defaults where not given.
    assert resources.task_data_bytes("adding", {"timesteps": 100}) == 3000 * 100 * 48
    from rnnkit.config import ModelSpec

    # LSTM, h=10, d=3: 4 * 10 * (10 + 3 + 2) parameters, plus the Dense head (10 + 1) * 1.
    needed = resources.model_bytes(ModelSpec(cell="lstm", units=10), 3, 1, steps=5, batch_size=2)
    assert needed["parameters"] == (4 * 10 * 15 + 11) * 16
    assert needed["activations"] == 2 * 5 * (10 * 4 + 1 + 3) * 12


def test_a_run_above_the_memory_limit_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"needs about .* of memory \(data arrays .*\), above the limit of "
                                          r"1\.0 KiB \(--max-memory; raise it"):
        compare(GRID, tmp_path / "o", run_fn=fake_trainer, progress=False, max_memory="1K")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- item 3


def test_report_redraws_comparison_figures_only_when_tables_change(finished_store, monkeypatch):
    from rnnkit.report import report

    drawn = []
    real = report.write_comparison_figures
    monkeypatch.setattr(report, "write_comparison_figures", lambda out: drawn.append(1) or real(out))
    report.build_report(finished_store)
    report.build_report(finished_store)
    assert len(drawn) == 1  # Nothing changed: not redrawn.
    figure = next((finished_store / "figures").glob("*.png"))
    figure.unlink()
    report.build_report(finished_store)
    assert len(drawn) == 2 and figure.exists()  # A missing figure is redrawn.
    # A run finished after the last report (an interrupted compare resumed): tables change.
    compare({**GRID, "seeds": [0, 1, 2]}, finished_store, run_fn=fake_trainer, progress=False, figures=False)
    report.build_report(finished_store)
    assert len(drawn) == 3
    assert len(store.load_results(finished_store)) == 3
