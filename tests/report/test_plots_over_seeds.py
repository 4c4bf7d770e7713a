"""Figures over seeds: every seed shown, intervals, baseline lines, one panel per sample."""

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

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


def test_the_curves_legend_sits_below_the_axes_and_names_each_configuration_once():
    frames = [pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.3, 0.2, 0.1], "val_loss": [0.3, 0.25, 0.2]})]
    labels = ["gru u16 L1", "lstm u16 L1", "mlp u16 L1", "simple_rnn u16 L1"]
    figure = plot_curves_over_seeds({label: frames for label in labels}, "loss", ("mean", 0.167))
    FigureCanvasAgg(figure).draw()  # as the report renders it
    axes = figure.axes[0]
    legend = figure.legends[0]
    names = [text.get_text() for text in legend.get_texts() if text.get_text()]
    assert names == [f"{label} (n=1)" for label in labels] + ["train", "validation", "baseline: mean (0.167)"]
    # Entirely below the plotting area (pixels grow upwards) and inside the figure: no curve is covered.
    below, inside = legend.get_window_extent(), axes.get_window_extent()
    assert below.y1 < inside.y0 and below.y0 >= 0


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
