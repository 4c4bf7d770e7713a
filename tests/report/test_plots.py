"""Plots: each returns a Figure with title, labelled axes, the right scales, and saves a PNG."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from rnnkit.errors import ConfigError
from rnnkit.report.plots import (
    plot_confusion_matrix,
    plot_grad_norm,
    plot_gradient_flow,
    plot_learning_curves,
    plot_metric_vs_params,
    plot_param_counts,
    plot_prediction_samples,
    plot_predictions,
    plot_seconds_per_epoch,
    save_figure,
    write_png,
)


def history(scale):
    return pd.DataFrame({
        "epoch": [1, 2, 3], "loss": np.array([1.0, 0.5, 0.3]) * scale,
        "val_loss": np.array([1.1, 0.7, 0.6]) * scale, "grad_norm": [2.0, 1.0, 0.5],
    })


def check(figure, title_part, xlabel_part, ylabel_part):
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert title_part in axes.get_title()
    assert xlabel_part in axes.get_xlabel() and ylabel_part in axes.get_ylabel()
    return axes


def test_learning_curves_train_solid_validation_dashed_one_colour_per_label():
    axes = check(plot_learning_curves({"lstm": history(1), "gru": history(2)}), "loss", "epoch", "loss")
    styles = {line.get_label(): (line.get_linestyle(), line.get_color()) for line in axes.get_lines()}
    assert styles["lstm train"][0] == "-" and styles["lstm validation"][0] == "--"
    assert styles["lstm train"][1] == styles["lstm validation"][1] != styles["gru train"][1]
    assert axes.get_legend() is not None
    with pytest.raises(ConfigError, match="`metric`: got 'accuracy'; expected a column of the history of 'lstm'"):
        plot_learning_curves({"lstm": history(1)}, metric="accuracy")
    with pytest.raises(ConfigError, match="`histories`: got '{}'; expected a history DataFrame or a non-empty dict"):
        plot_learning_curves({})


def test_gradient_flow_and_grad_norm_use_log_scale():
    axes = check(plot_gradient_flow({"simple_rnn": 0.5 ** np.arange(10)[::-1], "lstm": np.ones(10)}),
                 "Gradient flow", "time step", "log scale")
    assert axes.get_yscale() == "log"
    assert list(axes.get_lines()[0].get_xdata()) == list(range(1, 11))
    axes = check(plot_grad_norm({"clipped": history(1), "plain": history(3)}), "Gradient norm", "epoch", "log")
    assert axes.get_yscale() == "log" and len(axes.get_lines()) == 2
    no_norm = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]})
    with pytest.raises(ConfigError, match="`histories`: got 'plain'; expected histories with a `grad_norm` column"):
        plot_grad_norm({"plain": no_norm})


def test_predictions_confusion_and_bar_charts():
    axes = check(plot_predictions([1, 2, 3], [1.1, 1.9, 3.2], title="Airline", units="passengers (thousands)"),
                 "Airline", "sample", "passengers")
    assert [line.get_label() for line in axes.get_lines()] == ["truth", "prediction"]
    with pytest.raises(ConfigError, match="`y_pred`: got '2 values'; expected 3 values"):
        plot_predictions([1, 2, 3], [1, 2])
    axes = check(plot_confusion_matrix([[5, 1], [2, 7]], labels=["odd", "even"]), "Confusion", "predicted", "true")
    assert [text.get_text() for text in axes.texts] == ["5", "1", "2", "7"]
    with pytest.raises(ConfigError, match=r"`matrix`: got 'array of shape \(2, 3\)'"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"`labels`: got \['odd'\]; expected 2 labels, one per class"):
        plot_confusion_matrix([[5, 1], [2, 7]], labels=["odd"])
    axes = check(plot_param_counts({"lstm": 1234, "gru": 999}), "Parameter count", "model", "parameters")
    assert [patch.get_height() for patch in axes.patches] == [1234, 999]
    axes = check(plot_seconds_per_epoch({"lstm": 1.5, "gru": 1.2}), "per epoch", "model", "seconds")
    assert [patch.get_height() for patch in axes.patches] == [1.5, 1.2]


def test_metric_vs_params():
    frame = pd.DataFrame({"label": ["a", "b"], "params": [100, 10000], "mse": [0.5, 0.1]})
    axes = check(plot_metric_vs_params(frame, "mse"), "mse", "parameters", "mse")
    assert axes.get_xscale() == "log"
    with pytest.raises(ConfigError, match="`metric`: got 'accuracy'; expected a column of the frame"):
        plot_metric_vs_params(frame, "accuracy")


def test_save_figure_writes_a_png(tmp_path):
    path = save_figure(plot_gradient_flow({"a": [1.0, 0.1]}), tmp_path / "sub" / "flow.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def pixels(draw, make_figure) -> np.ndarray:
    buffer = io.BytesIO()
    draw(make_figure(), buffer)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("make_figure", [
    lambda: plot_confusion_matrix([[5, 1], [2, 7]], labels=["odd", "even"]),  # a colorbar
    lambda: plot_prediction_samples(np.ones((2, 4)), np.zeros((2, 4)), title="panels"),  # a title over panels
    lambda: plot_gradient_flow({"a": [1.0, 0.1]}),  # a log axis
])
def test_figures_drawn_once_look_as_matplotlib_lays_them_out(make_figure):
    # The layout is fixed before rendering so the figure is drawn once: same pixels.
    laid_out_by_savefig = pixels(lambda figure, buffer: figure.savefig(buffer, format="png", dpi=90), make_figure)
    assert np.array_equal(pixels(lambda figure, buffer: write_png(figure, buffer, dpi=90), make_figure),
                          laid_out_by_savefig)


@pytest.mark.parametrize("make_figure", [
    lambda: plot_confusion_matrix(np.eye(8, dtype=int), labels=[f"class {index}" for index in range(8)]),
    lambda: plot_prediction_samples(np.ones((3, 4)), np.zeros((3, 4)), title="Test predictions: adding gru u16 L1"),
    lambda: plot_param_counts({"simple_rnn u16 L1": 321, "lstm u16 L1": 1233, "gru u16 L1": 977}),
    lambda: plot_learning_curves({"lstm": history(1), "gru": history(2)}),
])
def test_labels_titles_and_legends_stay_inside_the_figure(make_figure):
    figure = make_figure()
    figure.suptitle("adding (num_samples=3000, timesteps=30)")
    write_png(figure, io.BytesIO(), dpi=90)
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())  # inches
    width, height = figure.get_size_inches()
    pixel = 1 / 90
    assert drawn.x0 >= -pixel and drawn.y0 >= -pixel and drawn.x1 <= width + pixel and drawn.y1 <= height + pixel


def test_log_axes_label_decades_and_steps_between_them_as_plain_text():
    # The labels matplotlib writes with mathtext (10^{-2}, 3\times10^{-1}), in Unicode.
    wide = plot_gradient_flow({"a": [1.0, 1e-3]}).axes[0]
    narrow = plot_gradient_flow({"a": [0.2, 0.6]}).axes[0]
    params = plot_metric_vs_params(pd.DataFrame({"label": ["a", "b"], "params": [100, 10000], "mse": [0.5, 0.1]}),
                                   "mse").axes[0]
    for axes in (wide, narrow, params):
        write_png(axes.figure, io.BytesIO(), dpi=90)
    labels = {text.get_text() for axis in (wide.yaxis, narrow.yaxis) for text in axis.get_ticklabels(which="both")}
    assert {"10\u207b\u00b3", "10\u207b\u00b2", "10\u2070", "3\u00d710\u207b\u00b9"} <= labels
    assert {"10\u00b2", "10\u2074"} <= {text.get_text() for text in params.xaxis.get_ticklabels()}
    assert not any("$" in label for label in labels)


def test_epoch_axes_show_whole_epochs_only():
    frame = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "grad_norm": [2.0, 1.0]})
    for figure in (plot_learning_curves({"a": frame}), plot_grad_norm({"a": frame})):
        ticks = figure.axes[0].get_xticks()
        assert all(float(tick).is_integer() for tick in ticks)


def test_learning_curves_of_one_history_need_no_mapping():
    # `plot_learning_curves(result.history)`: one run, its train and validation curves.
    axes = plot_learning_curves(history(1)).axes[0]
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert set(lines) == {"train", "validation"}
    assert list(lines["train"].get_ydata()) == [1.0, 0.5, 0.3]
    assert list(lines["validation"].get_ydata()) == [1.1, 0.7, 0.6]
    with pytest.raises(ConfigError, match=r"`histories`: got \[1, 2\]; expected a history DataFrame or a non-empty dict"):
        plot_learning_curves([1, 2])
