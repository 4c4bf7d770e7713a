"""The comparison runner with a fake training function: order, resume, failure isolation.

The fake `run_fn` returns histories computed from a formula, so every number the tests
check is recomputed here from that formula. The real end-to-end runs are in
test_compare_end_to_end.py.
"""

import json

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.tasks import get_task
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.harness import store
from rnnkit.harness.grid import expand_grid
from rnnkit.harness.runner import compare
from rnnkit.training.result import RunResult

GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 30}},
              {"name": "parity", "options": {"timesteps": 4, "num_samples": 12}}],
    "cells": ["simple_rnn", "gru"],
    "model": {"units": [2, 4]},
    "train": {"epochs": 3},
    "seeds": [0, 1],
}


def val_loss(units, epoch, seed):
    return 1.0 / (units * epoch) + 0.01 * seed


class FakeTrainer:
    """Stands in for run_experiment; records calls; can fail on chosen runs."""

    def __init__(self, raise_on=(), nan_on=(), interrupt_on=()):
        self.calls = []
        self.raise_on, self.nan_on, self.interrupt_on = raise_on, nan_on, interrupt_on

    def __call__(self, spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
        key = (task.name, spec.cell, spec.units, config.seed)
        self.calls.append(key)
        if key in self.interrupt_on:
            raise KeyboardInterrupt
        if key in self.raise_on:
            raise RuntimeError(f"boom in {spec.cell}")
        epochs = np.arange(1, config.epochs + 1)
        history = pd.DataFrame({
            "epoch": epochs,
            "loss": [val_loss(spec.units, e, config.seed) - 0.005 for e in epochs],
            "val_loss": [val_loss(spec.units, e, config.seed) for e in epochs],
            "epoch_seconds": 0.5,
        })
        result = RunResult(
            status="ok", history=history, metrics={"loss": val_loss(spec.units, 3, config.seed) * 2},
            params={"total": 10 * spec.units}, timings={"fit_seconds": 1.5, "seconds_per_epoch": 0.5},
            diagnostics={"gradient_flow": [1.0, 0.5, 0.25, 0.125]},
        )
        if key in self.nan_on:
            result.status, result.error = "diverged", "Loss became nan in epoch 2."
            result.history.loc[1:, ["loss", "val_loss"]] = np.nan
        return result


def run(tmp_path, trainer, grid=GRID, **kwargs):
    return compare(grid, tmp_path / "out", run_fn=trainer, progress=False, figures=False, **kwargs)


def test_results_table_has_one_row_per_run_in_grid_order(tmp_path):
    trainer = FakeTrainer()
    results = run(tmp_path, trainer)
    runs = expand_grid(GRID)
    assert list(results["run_id"]) == [r.run_id for r in runs]
    assert len(trainer.calls) == len(runs) == 16
    for column in ["run_id", "label", "task", "variety", "cell", "units", "num_layers", "learning_rate",
                   "seed", "params", "final_val_loss", "best_val_loss", "test_loss", "seconds_per_epoch", "status"]:
        assert column in results.columns
    row = results.iloc[3]  # adding, simple_rnn, units 4, seed 1
    assert (row["task"], row["cell"], row["units"], row["seed"]) == ("adding", "simple_rnn", 4, 1)
    assert row["final_val_loss"] == pytest.approx(1 / 12 + 0.01)
    assert row["best_val_loss"] == pytest.approx(1 / 12 + 0.01)
    assert row["test_loss"] == pytest.approx(2 * (1 / 12 + 0.01))
    assert row["params"] == 40 and row["status"] == "ok"
    # The stored table is the same one, loadable with pandas.
    stored = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(stored["run_id"]) == list(results["run_id"])


def test_summary_is_mean_and_std_over_seeds(tmp_path):
    run(tmp_path, FakeTrainer())
    summary = store.load_summary(tmp_path / "out")
    assert len(summary) == 8  # 2 tasks x 2 cells x 2 units
    row = summary[(summary["task"] == "parity") & (summary["cell"] == "gru") & (summary["units"] == 2)].iloc[0]
    seeds = [val_loss(2, 3, 0), val_loss(2, 3, 1)]
    assert row["num_seeds"] == 2 and row["label"] == "parity gru u2 L1"
    assert row["final_val_loss_mean"] == pytest.approx(np.mean(seeds))
    assert row["final_val_loss_std"] == pytest.approx(np.std(seeds, ddof=1))


def test_run_folder_holds_config_history_metrics_and_status(tmp_path):
    run(tmp_path, FakeTrainer())
    first = expand_grid(GRID)[0]
    folder = tmp_path / "out" / "runs" / first.run_id
    config = json.loads((folder / "config.json").read_text())
    assert config["run_id"] == first.run_id and config["model"]["cell"] == "simple_rnn"
    assert json.loads((folder / "status.json").read_text())["status"] == "ok"
    assert pd.read_csv(folder / "history.csv")["val_loss"].tolist() == pytest.approx(
        [val_loss(2, e, 0) for e in (1, 2, 3)])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["diagnostics"]["gradient_flow"] == [1.0, 0.5, 0.25, 0.125]
    assert metrics["timings"]["run_seconds"] >= 0
    for name in ("grid.yaml", "environment.json", "results.csv", "summary.csv", "params.csv"):
        assert (tmp_path / "out" / name).is_file()
    assert json.loads((tmp_path / "out" / "environment.json").read_text())["seeds"] == [0, 1]


def test_a_failing_run_is_recorded_and_the_grid_goes_on(tmp_path):
    trainer = FakeTrainer(raise_on={("adding", "gru", 2, 0)}, nan_on={("parity", "simple_rnn", 4, 1)})
    results = run(tmp_path, trainer)
    assert len(trainer.calls) == 16
    failed = results[results["status"] == "failed"]
    assert list(failed["label"]) == ["adding gru u2 L1 seed0"]
    assert failed["error"].iloc[0] == "RuntimeError: boom in gru"
    status = store.read_status(tmp_path / "out", failed["run_id"].iloc[0])
    assert "Traceback (most recent call last)" in status["error"]
    nan = results[results["status"] == "diverged"]
    assert list(nan["label"]) == ["parity simple_rnn u4 L1 seed1"]
    assert nan["error"].iloc[0] == "Loss became nan in epoch 2."
    assert (results["status"] == "ok").sum() == 14
    # Failed runs stay out of the means; the summary counts them.
    summary = store.load_summary(tmp_path / "out")
    row = summary[summary["label"] == "adding gru u2 L1"].iloc[0]
    assert (row["num_seeds"], row["num_ok"]) == (2, 1)
    assert row["final_val_loss_mean"] == pytest.approx(val_loss(2, 3, 1))


def test_restart_skips_finished_runs_and_retry_failed_reruns_failures(tmp_path):
    run(tmp_path, FakeTrainer(raise_on={("adding", "gru", 2, 0)}))
    folder = tmp_path / "out" / "runs"
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    first_date = store.load_environment(tmp_path / "out")["date"]
    again = FakeTrainer()
    results = run(tmp_path, again)
    assert again.calls == []
    environment = store.load_environment(tmp_path / "out")
    assert environment["date"] == first_date and "resumed" in environment
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before
    assert (results["status"] == "failed").sum() == 1
    retry = FakeTrainer()
    results = run(tmp_path, retry, retry_failed=True)
    assert retry.calls == [("adding", "gru", 2, 0)]
    assert (results["status"] == "ok").all()


def test_a_larger_grid_on_the_same_folder_runs_only_the_new_runs(tmp_path):
    run(tmp_path, FakeTrainer())
    trainer = FakeTrainer()
    results = run(tmp_path, trainer, grid={**GRID, "seeds": [0, 1, 2]})
    assert len(trainer.calls) == 8 and {call[3] for call in trainer.calls} == {2}
    assert len(results) == 24


def test_interrupt_keeps_finished_runs_and_the_next_start_resumes(tmp_path):
    runs = expand_grid(GRID)
    trainer = FakeTrainer(interrupt_on={("adding", "simple_rnn", 4, 0)})  # the third run
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, trainer)
    out = tmp_path / "out"
    assert [store.is_finished(out, r.run_id) for r in runs[:3]] == [True, True, False]
    assert len(store.load_results(out)) == 2  # written on the way out
    resumed = FakeTrainer()
    results = run(tmp_path, resumed)
    assert len(resumed.calls) == 14 and resumed.calls[0] == ("adding", "simple_rnn", 4, 0)
    assert (results["status"] == "ok").all() and len(results) == 16


def test_half_written_run_folders_are_redone(tmp_path):
    run(tmp_path, FakeTrainer())
    out = tmp_path / "out"
    runs = expand_grid(GRID)
    # A killed process can leave: no status.json; a truncated one; a missing listed file; a temp file.
    (store.run_dir(out, runs[0].run_id) / "status.json").unlink()
    (store.run_dir(out, runs[1].run_id) / "status.json").write_text('{"status": "o')
    (store.run_dir(out, runs[2].run_id) / "history.csv").unlink()
    (out / ".results.csv.tmp-999").write_text("partial")
    trainer = FakeTrainer()
    results = run(tmp_path, trainer)
    assert trainer.calls == [("adding", "simple_rnn", 2, 0), ("adding", "simple_rnn", 2, 1),
                             ("adding", "simple_rnn", 4, 0)]
    assert not list(out.rglob(".*.tmp-*"))
    assert (results["status"] == "ok").all()


def test_invalid_grid_stops_before_the_first_run(tmp_path):
    trainer = FakeTrainer()
    with pytest.raises(ConfigError, match=r"Invalid value for `units`: got 0"):
        run(tmp_path, trainer, grid={**GRID, "model": {"units": [4, 0]}})
    with pytest.raises(RnnkitError, match=r"Invalid value for `num_samples`: got 1"):
        run(tmp_path, trainer, grid={**GRID, "tasks": ["adding", {"name": "parity", "options": {"num_samples": 1}}]})
    assert trainer.calls == []
    assert not (tmp_path / "out" / "runs").exists()


def test_tensorboard_without_the_package_is_refused_before_any_run(tmp_path, monkeypatch):
    from rnnkit.harness import runner

    monkeypatch.setattr(runner, "tensorboard_available", lambda: False)
    trainer = FakeTrainer()
    with pytest.raises(ConfigError, match=r"Invalid value for `tensorboard`: got True; the `tensorboard` package"):
        run(tmp_path, trainer, tensorboard=True)
    assert trainer.calls == []


def test_an_explicit_list_of_runs_is_accepted_and_a_bad_item_is_named(tmp_path):
    runs = expand_grid(GRID)[:2]
    results = run(tmp_path, FakeTrainer(), grid=runs)
    assert list(results["run_id"]) == [r.run_id for r in runs]
    assert "An explicit list of runs" in (tmp_path / "out" / "grid.yaml").read_text()
    with pytest.raises(ConfigError, match=r"Invalid value for `grid_or_runs`: got 'adding'"):
        run(tmp_path, FakeTrainer(), grid=[runs[0], "adding"])


def test_tensorboard_hparams_summary_lists_the_swept_settings(tmp_path):
    pytest.importorskip("tensorboard")
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    run(tmp_path, FakeTrainer(), tensorboard=True)
    out = tmp_path / "out" / "tensorboard"

    def hparams_records(folder):
        for path in folder.glob("events*"):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "hparams":
                        yield plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)

    (experiment,) = [r.experiment for r in hparams_records(out) if r.HasField("experiment")]
    # The core settings and those that differ (num_samples: 30 vs 12); fixed ones (timesteps 4) are left out.
    assert [info.name for info in experiment.hparam_infos] == ["task", "cell", "variety", "seed", "units",
                                                               "task_num_samples"]
    first = expand_grid(GRID)[0]
    (start,) = [r.session_start_info for r in hparams_records(out / first.run_id / "hparams")
                if r.HasField("session_start_info")]
    assert start.hparams["cell"].string_value == "simple_rnn" and start.hparams["units"].number_value == 2
    # Trials are named by the run's label and end with the run's status.
    assert start.group_name == first.label
    (end,) = [r.session_end_info for r in hparams_records(out / first.run_id / "hparams")
              if r.HasField("session_end_info")]
    assert end.status == 1  # STATUS_SUCCESS
    # Held-out and test metrics are declared, and each run records its own.
    declared = [info.name.tag for info in experiment.metric_infos]
    assert {"best_val_loss", "test_loss", "test_mse", "test_accuracy", "test_perplexity"} <= set(declared)
    scalars = {value.tag: tf.make_ndarray(value.tensor).item()
               for path in (out / first.run_id / "hparams").glob("events*")
               for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value
               if value.metadata.plugin_data.plugin_name == "scalars"}
    # FakeTrainer: val_loss = 1 / (units * epoch) + 0.01 * seed, lowest at the last of 3 epochs.
    assert scalars["best_val_loss"] == pytest.approx(1 / (2 * 3))
    assert scalars["test_loss"] == pytest.approx(2 / (2 * 3))


def test_the_trainers_test_predictions_are_plotted_without_predicting_again(tmp_path):
    import keras

    def predict(*args, **kwargs):
        raise AssertionError("the runner predicted the test set a second time")

    def trainer(spec, task, config, **kwargs):
        result = FakeTrainer()(spec, task, config, **kwargs)
        inputs = keras.Input((4, 1), name="inputs")
        result.model = keras.Model(inputs, keras.layers.Dense(1, name="head")(inputs))
        result.model.predict = predict
        if task.name == "adding":
            # Every prediction 0.5 above the truth.
            result.predictions = np.asarray(task.test.y, dtype="float64") + 0.5
        else:
            # Parity: always class 1 (probabilities 0.2 / 0.8).
            result.predictions = np.tile([0.2, 0.8], (len(task.test.y), 1))
        return result

    grid = {**GRID, "cells": ["gru"], "model": {"units": 2}, "seeds": [0]}
    compare(grid, tmp_path / "out", run_fn=trainer, progress=False, figures=True)
    for run in expand_grid(grid):
        stored = store.load_run(tmp_path / "out", run.run_id)
        assert "store_error" not in stored["metrics"]["diagnostics"]
        record = stored["predictions"]
        test_y = np.asarray(get_task(run.task, **run.task_options).test.y)
        if run.task == "adding":
            assert np.allclose(np.asarray(record["y_pred"]) - np.asarray(record["y_true"]), 0.5)
            assert np.allclose(record["y_true"], test_y.ravel()[:100])
        else:
            # Every sample predicted as class 1: column 1 holds the count of each true class.
            expected = [[0, int((test_y == 0).sum())], [0, int((test_y == 1).sum())]]
            assert record["matrix"] == expected


def test_best_validation_metrics_are_read_at_the_epoch_of_the_best_validation_loss(tmp_path):
    # The history's val_mae keeps falling after val_loss turned up: best_val_mae must be
    # the value at the selected epoch (2), not the lowest (and never the highest) value.
    def trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
        history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.5, 0.4, 0.3], "val_loss": [0.4, 0.2, 0.3],
                                "val_mae": [0.5, 0.4, 0.1], "epoch_seconds": 0.1})
        return RunResult(status="ok", history=history, metrics={"loss": 0.2, "mse": 0.2})

    grid = {"tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 40}}], "cells": ["gru"],
            "model": {"units": 2}, "train": {"epochs": 3}}
    results = compare(grid, tmp_path / "out", run_fn=trainer, progress=False)
    row = results.iloc[0]
    assert row["selected_epoch"] == 2
    assert row["best_val_loss"] == 0.2 and row["best_val_mae"] == 0.4
