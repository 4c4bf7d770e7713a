"""A real comparison: 2 cells x 2 tasks, 1 epoch, with the real trainer, plots and report."""

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rnnkit.harness.grid import expand_grid
from rnnkit.harness.runner import compare
from rnnkit.report.report import build_report

GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 5, "num_samples": 40}},
              {"name": "parity", "options": {"timesteps": 4, "num_samples": 16}}],
    "cells": ["simple_rnn", "gru"],
    "model": {"units": 3},
    "train": {"epochs": 1, "batch_size": 16},
}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    results = compare(GRID, out, progress=False)
    build_report(out)  # The report stage draws the figures from the store.
    return out, results


def test_every_run_trains_and_is_stored_with_its_figures(comparison):
    out, results = comparison
    assert list(results["status"]) == ["ok"] * 4
    assert list(results["label"]) == [r.label for r in expand_grid(GRID)]
    for run_id in results["run_id"]:
        folder = out / "runs" / run_id
        for name in ("config.json", "history.csv", "metrics.json", "params.csv", "status.json"):
            assert (folder / name).is_file(), name
        assert (folder / "figures" / "learning_curve.png").is_file()
        assert (folder / "figures" / "gradient_flow.png").is_file()
        history = pd.read_csv(folder / "history.csv")
        assert list(history["epoch"]) == [1] and {"loss", "val_loss"} <= set(history.columns)
        metrics = json.loads((folder / "metrics.json").read_text())
        # Gradient flow has one norm per input time step.
        assert len(metrics["diagnostics"]["gradient_flow"]) == json.loads(
            (folder / "config.json").read_text())["task_options"]["timesteps"]
    # Regression gets a predicted-vs-true plot, classification a confusion matrix.
    adding = results[results["task"] == "adding"]["run_id"].iloc[0]
    parity = results[results["task"] == "parity"]["run_id"].iloc[0]
    assert (out / "runs" / adding / "figures" / "predictions.png").is_file()
    assert (out / "runs" / parity / "figures" / "confusion_matrix.png").is_file()


def test_results_csv_columns_and_parameter_counts(comparison):
    out, _ = comparison
    results = pd.read_csv(out / "results.csv")
    expected = {"run_id", "config_id", "label", "task", "variety", "cell", "units", "num_layers",
                "bidirectional", "learning_rate", "epochs", "batch_size", "task_timesteps", "task_num_samples",
                "seed", "params", "final_loss", "final_val_loss", "best_val_loss", "test_loss",
                "first_epoch_seconds", "seconds_per_epoch", "fit_seconds", "status"}
    assert expected <= set(results.columns)
    # Steady-state epoch time and the first epoch apart (it also traces the training step).
    assert (results["first_epoch_seconds"] > 0).all() and (results["seconds_per_epoch"] > 0).all()
    # Parameter totals from the formulas: recurrent layer + Dense head.
    # adding: 2 features -> 1 output; parity: 1 feature -> 2 classes; units 3.
    def simple_rnn(d):
        return 3 * (3 + d + 1)

    def gru(d):  # reset_after=True, the Keras default: an extra bias per gate.
        return 3 * 3 * (3 + d + 2)

    expected_params = {
        ("adding", "simple_rnn"): simple_rnn(2) + 3 * 1 + 1, ("adding", "gru"): gru(2) + 3 * 1 + 1,
        ("parity", "simple_rnn"): simple_rnn(1) + 3 * 2 + 2, ("parity", "gru"): gru(1) + 3 * 2 + 2,
    }
    assert {(r.task, r.cell): r.params for r in results.itertuples()} == expected_params
    params = pd.read_csv(out / "params.csv")
    assert {"config_id", "label", "layer", "formula", "analytic", "keras"} <= set(params.columns)
    assert (params["analytic"] == params["keras"]).all()
    per_config = params.groupby("label")["keras"].sum().to_dict()
    assert per_config == {r.label.rsplit(" seed", 1)[0]: r.params for r in results.itertuples()}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 and (summary["num_seeds"] == 1).all()


def test_comparison_figures_exist_per_task(comparison):
    out, _ = comparison
    names = {p.name for p in (out / "figures").glob("*.png")}
    # One figure of each kind per task instance, named after the task and its options.
    instances = {"adding": "adding_num_samples-40_timesteps-5", "parity": "parity_num_samples-16_timesteps-4"}
    for instance in instances.values():
        for kind in ("test_metric", "learning_curves", "metric_vs_params", "seconds_per_epoch",
                     "gradient_flow", "param_counts"):
            assert f"{kind}_{instance}.png" in names


def test_report_embeds_every_figure_and_zips_the_folder(comparison, tmp_path):
    out, results = comparison
    html_path = build_report(out, zip_path=tmp_path / "handin.zip")
    text = html_path.read_text()
    sources = re.findall(r'<img[^>]*\bsrc="([^"]*)"', text)
    assert len(sources) >= 10 + 4 * 3  # comparison figures + each run's
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    for name in ("Python", "tensorflow", "keras", "device", "seeds", "date"):
        assert name.lower() in text.lower()
    markdown = (out / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (out / link).is_file()
    with zipfile.ZipFile(tmp_path / "handin.zip") as archive:
        names = set(archive.namelist())
    assert {f"out/{n}" for n in ("report.html", "report.md", "results.csv", "params.csv", "grid.yaml")} <= names
    assert f"out/runs/{results['run_id'].iloc[0]}/history.csv" in names
    assert Path(html_path).name == "report.html"


def test_every_task_of_the_default_grids_runs_end_to_end_at_tiny_size(tmp_path):
    from rnnkit.harness.defaults import default_grid_dict

    tasks = []
    for choice in default_grid_dict(quick=False)["tasks"] + default_grid_dict(quick=True)["tasks"]:
        options = dict(choice.get("options") or {})
        options["num_samples"] = 40
        tasks.append({"name": choice["name"], "options": options})
    grid = {"tasks": tasks, "cells": ["gru"], "model": {"units": 2}, "train": {"epochs": 1, "batch_size": 16}}
    results = compare(grid, tmp_path / "out", progress=False)
    assert list(results["status"]) == ["ok"] * len(results)
    # Every run carries its task's baseline and a verdict row.
    assert results["baseline_name"].notna().all()
    # Each task is judged on its kind's primary metric (per-step labels on token accuracy,
    # not on whole-sequence exact match; seq2seq on exact match of decoded answers).
    primary = dict(zip(results["task"], results["primary_metric"]))
    assert primary == {"adding": "mse", "waveform": "mse", "copy": "token_accuracy",
                       "digit_addition": "exact_match"}
    verdict = pd.read_csv(tmp_path / "out" / "verdict.csv")
    assert set(verdict["task_instance"]) == set(results["task_instance"])
