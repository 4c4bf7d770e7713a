"""report.md / report.html / zip, built from a stored comparison alone."""

import base64
import math
import re
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from rnnkit.errors import DataError
from rnnkit.harness.runner import compare
from rnnkit.report.report import build_report, html_table, markdown_table
from rnnkit.training.result import RunResult

GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 4, "num_samples": 30}}],
    "cells": ["simple_rnn", "lstm"],
    "model": {"units": 2},
    "train": {"epochs": 2},
    "seeds": [0, 1],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
    """Formula histories; the LSTM with seed 1 fails."""
    if (spec.cell, config.seed) == ("lstm", 1):
        raise ValueError("shapes <do not> fit")
    epochs = np.arange(1, config.epochs + 1)
    loss = (0.5 if spec.cell == "lstm" else 1.0) / (epochs * spec.units)
    history = pd.DataFrame({"epoch": epochs, "loss": loss, "val_loss": loss + 0.1, "epoch_seconds": 0.2})
    return RunResult(status="ok", history=history, metrics={"loss": float(loss[-1]), "mse": float(loss[-1])},
                     params={"total": 40 if spec.cell == "lstm" else 10},
                     timings={"first_epoch_seconds": 1.5, "seconds_per_epoch": 0.2, "fit_seconds": 1.7},
                     diagnostics={"gradient_flow": [0.1, 0.2, 0.4, 0.8]})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "cmp"
    compare(GRID, out, run_fn=fake_trainer, progress=False)
    return out


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img[^>]*\bsrc="([^"]*)"', html)


def test_html_is_self_contained_with_every_figure_embedded(folder):
    html = build_report(folder).read_text()
    sources = image_sources(html)
    figures = sorted((folder / "figures").glob("*.png"))
    run_figures = sorted((folder / "runs").glob("*/figures/*.png"))
    assert len(figures) == 6  # six comparison figures per task instance
    assert len(run_figures) == 3 * 2  # learning curve and gradient flow of each finished run
    assert len(sources) == len(figures) + len(run_figures)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "src=\"figures/" not in html and "http" not in html.replace("https://", "")


def test_report_shows_tables_grid_environment_and_failures(folder):
    html = build_report(folder).read_text()
    markdown = (folder / "report.md").read_text()
    for text in (html, markdown):
        assert "adding simple_rnn u2 L1" in text and "adding lstm u2 L1" in text
        assert "4 runs: 3 ok, 1 failed." in text
        for key in ("python", "tensorflow", "keras", "device", "seeds", "date"):
            assert key in text
        assert "cells: [simple_rnn, lstm]" in text and "num_samples: 30" in text  # the grid
        # The key to labels such as "simple_rnn u2 L1", above the tables.
        assert "u = units per layer, L = number of layers (stacked recurrent layers; for the mlp" in text
    # The error line is escaped in HTML.
    assert "ValueError: shapes &lt;do not&gt; fit" in html
    assert "ValueError: shapes <do not> fit" in markdown
    for link in re.findall(r"\]\(([^)]+\.png)\)", markdown):
        assert (folder / link).is_file()


def test_speed_columns_keep_the_first_epoch_apart_and_say_so(folder):
    build_report(folder)
    results = pd.read_csv(folder / "results.csv")
    ok = results[results["status"] == "ok"]
    assert list(ok["first_epoch_seconds"]) == [1.5] * 3 and list(ok["seconds_per_epoch"]) == [0.2] * 3
    for text in ((folder / "report.html").read_text(), (folder / "report.md").read_text()):
        assert "first_epoch_seconds" in text
        assert "median wall time of the epochs after the first" in text
        assert "Training seconds per epoch after the first" in text  # the figure's caption


def test_the_verdict_comes_first_and_names_no_winner_from_one_seed(folder):
    markdown = build_report(folder).with_name("report.md").read_text()
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Verdict"
    section = markdown.split("## Verdict")[1].split("\n## ")[0]
    # The fake LSTM's test mse is half the SimpleRNN's (0.125 against 0.25), so it ranks
    # first, but its second seed failed: one seed cannot name a winner.
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| lstm u2 L1 | 1 | 0.125 |")
    # Both SimpleRNN seeds score 0.25, so the interval has no width; the difference to
    # the best is 0.25 - 0.125, and no seed can be paired with the LSTM's failed seed 1.
    assert rows[1].startswith("| simple_rnn u2 L1 | 2 | 0.25 [0.25, 0.25] |")
    assert "| 0.125 | 0/1 |" in rows[1]
    assert "one seed gives no interval" in rows[1]
    assert "is best on test" not in section  # No winner is named.


def test_report_rebuilds_missing_tables_and_figures_from_the_run_folders(folder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / "figures")
    for run_figures in (copy / "runs").glob("*/figures"):
        shutil.rmtree(run_figures)
    for name in ("results.csv", "summary.csv", "params.csv", "report.html"):
        (copy / name).unlink()
    html = build_report(copy).read_text()
    assert len(pd.read_csv(copy / "results.csv")) == 4
    assert len(list((copy / "figures").glob("*.png"))) == 6
    assert len(list((copy / "runs").glob("*/figures/*.png"))) == 6
    assert len(image_sources(html)) == len(image_sources((folder / "report.html").read_text()))


def test_zip_packs_the_whole_folder(folder, tmp_path):
    build_report(folder, zip_path=tmp_path / "handin.zip")
    with zipfile.ZipFile(tmp_path / "handin.zip") as archive:
        names = set(archive.namelist())
    # Hidden files (the figures' hash of the tables, a lock, temporaries) stay out.
    on_disk = {f"cmp/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    assert names == on_disk and "cmp/report.html" in names


def test_report_of_a_folder_that_is_not_a_run_store(tmp_path):
    with pytest.raises(DataError, match=r"Invalid value for `run_dir`: got '.*'; expected a folder written by"):
        build_report(tmp_path)


def test_tables_escape_their_cells():
    frame = pd.DataFrame({"a": ["x|y", "<b>"], "b": [0.123456, float("nan")]})
    assert markdown_table(frame).splitlines()[2] == "| x\\|y | 0.1235 |"
    assert "<td>&lt;b&gt;</td><td></td>" in html_table(frame)


def test_compare_again_keeps_drawn_run_figures(folder):
    figures = sorted((folder / "runs").glob("*/figures/*.png"))
    before = {p: p.stat().st_mtime_ns for p in figures}
    calls = []
    compare(GRID, folder, run_fn=lambda *a, **k: calls.append(a), progress=False)
    assert calls == [] and {p: p.stat().st_mtime_ns for p in figures} == before


def near_zero_trainer(spec, task, config, *, verbose=0, callbacks=None, gradient_flow=True):
    """Test MSE 0.0001 and 0.0009 for the LSTM's seeds 0 and 1, 0.0002 and 0.0010 for the SimpleRNN's."""
    value = {("lstm", 0): 0.0001, ("lstm", 1): 0.0009, ("simple_rnn", 0): 0.0002, ("simple_rnn", 1): 0.0010}
    mse = value[(spec.cell, config.seed)]
    epochs = np.arange(1, config.epochs + 1)
    history = pd.DataFrame({"epoch": epochs, "loss": mse * (3 - epochs), "val_loss": mse * (3 - epochs),
                            "epoch_seconds": 0.2})
    return RunResult(status="ok", history=history, metrics={"loss": mse, "mse": mse}, params={"total": 10},
                     timings={"first_epoch_seconds": 1.5, "seconds_per_epoch": 0.2, "fit_seconds": 1.7})


def test_mean_intervals_are_cut_at_the_metrics_range_everywhere_they_are_shown(tmp_path, monkeypatch):
    from rnnkit.report import plots

    drawn = {}
    original = plots.plot_metric_over_seeds

    def recording(values, metric, baseline=None, intervals=None):
        drawn.update(intervals or {})
        return original(values, metric, baseline, intervals)

    monkeypatch.setattr(plots, "plot_metric_over_seeds", recording)
    out = tmp_path / "cmp"
    compare(GRID, out, run_fn=near_zero_trainer, progress=False)
    build_report(out)
    # LSTM: mean 0.0005, s = 0.0004 * sqrt(2), half-width t(0.975, 1) * s / sqrt(2) = 12.706 * 0.0004;
    # its raw low end (-0.00458) is below 0, which an MSE cannot be.
    high = 0.0005 + 12.706205 * 0.0004
    summary = pd.read_csv(out / "summary.csv").set_index("label")
    lstm = summary.loc["adding lstm u2 L1"]
    assert lstm["test_mse_ci_low"] == 0.0 and lstm["test_mse_ci_high"] == pytest.approx(high)
    assert lstm["best_val_loss_ci_low"] == 0.0  # the validation loss is cut at 0 too
    verdict = pd.read_csv(out / "verdict.csv").set_index("label")
    assert verdict.loc["lstm u2 L1", "ci_low"] == 0.0
    assert verdict.loc["lstm u2 L1", "ci_high"] == pytest.approx(high)
    # The difference SimpleRNN - LSTM (0.0001, Welch 2 degrees: 4.303 * 0.0004 * sqrt(2)) stays negative below.
    assert verdict.loc["simple_rnn u2 L1", "diff_low"] == pytest.approx(0.0001 - 4.302653 * 0.0004 * math.sqrt(2))
    low, drawn_high = drawn["lstm u2 L1"]
    assert low == 0.0 and drawn_high == pytest.approx(high)
    markdown = (out / "report.md").read_text()
    assert "| lstm u2 L1 | 2 | 0.0005 [0, 0.005582] |" in markdown  # the verdict table
    assert "cut at the metric's possible range (0 for an MSE or a loss" in markdown
    assert "which is not cut (a difference can be negative)" in markdown
    assert "95% interval (cut at the metric's possible range)" in markdown  # the figure's caption
