"""Figures over seeds: every seed shown, intervals, baseline lines, one panel per sample."""

import numpy as np
import pandas as pd

from rnnkit.report.plots import (
    plot_curves_over_seeds,
    plot_metric_over_seeds,
    plot_prediction_samples,
)


def test_each_seed_is_a_dot_and_the_interval_an_error_bar_with_the_baseline_line():
    figure = plot_metric_over_seeds({"gru": [0.1, 0.2, 0.3], "lstm": [0.5]}, "mse", ("mean", 0.167),
                                    {"gru": (0.0, 0.4), "lstm": (np.nan, np.nan)})
    axes = figure.axes[0]
    dots = [collection for collection in axes.collections if len(collection.get_offsets()) == 3]
    assert len(dots) == 1  # The three gru seeds, one dot each.
    np.testing.assert_allclose(sorted(dots[0].get_offsets()[:, 1]), [0.1, 0.2, 0.3])
    baseline = [line for line in axes.lines if line.get_label().startswith("baseline: mean")]
    assert len(baseline) == 1 and baseline[0].get_ydata()[0] == 0.167
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["gru", "lstm"]


def test_curves_over_seeds_are_the_mean_with_a_band_spanning_the_seeds():
    first = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    second = pd.DataFrame({"epoch": [1, 2], "loss": [3.0, 1.5], "val_loss": [3.1, 1.7]})
    figure = plot_curves_over_seeds({"gru": [first, second]}, "loss", ("unigram", 0.9))
    axes = figure.axes[0]
    train = next(line for line in axes.lines if line.get_label() == "gru train (n=2)")
    np.testing.assert_allclose(train.get_ydata(), [2.0, 1.0])  # mean of (1, 3) and (0.5, 1.5)
    assert len(axes.collections) == 2  # one band for training, one for validation
    assert any(line.get_label().startswith("baseline: unigram") for line in axes.lines)


def test_independent_sequences_get_one_panel_each():
    truth = np.arange(12, dtype=float).reshape(3, 4)
    figure = plot_prediction_samples(truth, truth + 1)
    assert len(figure.axes) == 3
    assert all(len(axes.lines) == 2 for axes in figure.axes)
    # One value per sample: a scatter of prediction against truth, not a joined line.
    scatter = plot_prediction_samples(np.array([1.0, 2.0]), np.array([1.5, 2.5]))
    assert scatter.axes[0].get_xlabel() == "true value"


def test_confusion_matrix_leaves_out_classes_that_never_occur():
    from rnnkit.report.plots import plot_confusion_matrix

    matrix = np.array([[0, 0, 0], [0, 3, 1], [0, 2, 4]])  # class 0 (say <pad>) never occurs
    figure = plot_confusion_matrix(matrix, ["<pad>", "a", "b"])
    axes = figure.axes[0]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["a", "b"]
    np.testing.assert_array_equal(axes.images[0].get_array(), [[3, 1], [2, 4]])
