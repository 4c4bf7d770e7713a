"""Matplotlib figures for learning curves and diagnostics, from plain data.

Every function takes plain values (dicts of DataFrames or arrays, as stored on disk)
so a report can be rebuilt from CSV/JSON without retraining, and returns a
`matplotlib.figure.Figure` without showing it. `save_figure(fig, path)` writes a PNG
and closes the figure; `write_png` is the rendering both it and the run store use. Figures are made with `matplotlib.figure.Figure` directly
(not pyplot), so they work on headless machines and do not pile up in pyplot's registry.

Example:

```python
fig = plot_learning_curves({"lstm": result.history}, metric="loss")
save_figure(fig, "curves.png")
```
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import TightLayoutEngine
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator

from rnnkit.checks import invalid

_SIZE = (6.4, 4.0)
# Padding around and between the axes, in font sizes: 0.4 leaves about as much room as
# constrained layout did.
_PAD = 0.4


def _new_figure(size) -> Figure:
    # Tight layout as `Figure.tight_layout()` runs it (rect=None) measures the figure once;
    # constrained layout, or tight layout given a rect, measures it twice, and measuring
    # was the larger half of drawing a report's figure.
    return Figure(figsize=size, layout=TightLayoutEngine(pad=_PAD, rect=None))


def _new_axes(title: str, xlabel: str, ylabel: str, size=_SIZE):
    figure = _new_figure(size)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    return figure, axes


_SUPERSCRIPTS = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
# What LogFormatterSciNotation writes: "$\mathdefault{-2\times10^{-3}}$", "$\mathdefault{10^{2}}$", "$\mathdefault{0.5}$".
_MATHTEXT_LABEL = re.compile(r"\$\\mathdefault\{(-?)(?:([\d.e+-]+)\\times)?(\d+)\^\{(-?\d+)\}\}\$")
_MATHTEXT_NUMBER = re.compile(r"\$\\mathdefault\{(-?[\d.e+-]+)\}\$")


class PlainLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis tick labels (10^-3, 2x10^-3) written with Unicode superscripts.

    The labels read the same as matplotlib's own, but as plain text they skip mathtext
    (its parser is built on first use and each label laid out glyph by glyph), which
    made a log axis the most expensive part of a report's figure. A label of another
    form is left to mathtext.
    """

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        if match := _MATHTEXT_LABEL.fullmatch(label):
            sign, coefficient, base, exponent = match.groups()
            text = f"{coefficient}\u00d7{base}" if coefficient else base
            return f"{sign}{text}{exponent.translate(_SUPERSCRIPTS)}".replace("-", "\u2212")
        if match := _MATHTEXT_NUMBER.fullmatch(label):
            return match.group(1).replace("-", "\u2212")
        return label


def _log_scale(axes, which: str) -> None:
    """Puts the `which` ("x" or "y") axis of `axes` on a base-10 log scale with plain-text tick labels."""
    getattr(axes, f"set_{which}scale")("log")
    axis = getattr(axes, f"{which}axis")
    axis.set_major_formatter(PlainLogFormatter(10))
    axis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))  # As matplotlib's LogScale.


def _colors(count: int):
    cycle = [f"C{index % 10}" for index in range(count)]
    return cycle


def _check_mapping(name: str, values) -> dict:
    if not isinstance(values, dict) or not values:
        raise invalid(name, values if not isinstance(values, dict) else "{}", "a non-empty dict of label -> data")
    return values


def fix_layout(figure: Figure, dpi: float) -> Figure:
    """Lays `figure` out once for rendering at `dpi`, then keeps that layout fixed.

    `savefig` on a figure with a layout engine (these figures use tight layout) draws
    it twice: a pass without rendering that lays it out, then the rendering. A
    figure laid out beforehand at the same dpi and freed of its engine is drawn once,
    into the same pixels.

    Args:
        figure: A figure about to be rendered (its layout engine is removed).
        dpi: The dots per inch it will be rendered at.

    Returns:
        The same figure.
    """
    figure.set_dpi(dpi)
    engine = figure.get_layout_engine()
    if engine is None or not figure.axes:  # As `Figure.draw`: no axes, nothing to lay out.
        return figure
    FigureCanvasAgg(figure)  # The layout measures text with the renderer the PNG is drawn by.
    engine.execute(figure)
    figure.set_layout_engine(None)
    return figure


def write_png(figure: Figure, target, dpi: float) -> None:
    """Renders `figure` as a PNG into `target` (a path or a binary file), drawing it once.

    Args:
        figure: The figure (its layout is fixed first, see `fix_layout`).
        target: A file path or a writable binary file object.
        dpi: Dots per inch.
    """
    fix_layout(figure, dpi).savefig(target, format="png", dpi=dpi)


def save_figure(figure: Figure, path) -> Path:
    """Writes `figure` as a PNG at `path` (folders are created) and closes it.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(figure, path, dpi=110)
    figure.clear()
    return path


def plot_learning_curves(histories, metric: str = "loss") -> Figure:
    """Training (solid) and validation (dashed) `metric` per epoch, one colour per label.

    Args:
        histories: One history (a DataFrame with `epoch`, `metric` and optionally
            `val_<metric>`, such as `result.history`), or {label: such a DataFrame} to
            draw several runs on the same axes.
        metric: The column to plot, e.g. "loss" or "accuracy".

    Example:

    ```python
    figure = rnnkit.plot_learning_curves(result.history)               # one run
    figure = rnnkit.plot_learning_curves({"lstm": a.history, "gru": b.history})
    ```
    """
    if isinstance(histories, pd.DataFrame):
        histories = {"": histories}  # One run: the legend reads "train" / "validation".
    elif not isinstance(histories, dict) or not histories:
        shown = histories if not isinstance(histories, dict) else "{}"
        raise invalid("histories", shown, "a history DataFrame or a non-empty dict of label -> DataFrame")
    figure, axes = _new_axes(f"Learning curves: {metric}", "epoch", metric)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # Epochs are whole numbers.
    for color, (label, frame) in zip(_colors(len(histories)), histories.items()):
        if metric not in frame:
            raise invalid("metric", metric, f"a column of the history of {label!r} ({', '.join(map(str, frame.columns))})")
        axes.plot(frame["epoch"], frame[metric], color=color, linestyle="-", marker="o", markersize=3,
                  label=f"{label} train".strip())
        if f"val_{metric}" in frame:
            axes.plot(frame["epoch"], frame[f"val_{metric}"], color=color, linestyle="--", marker="o",
                      markersize=3, label=f"{label} validation".strip())
    axes.legend(fontsize="small")
    return figure


def plot_gradient_flow(flows: dict) -> Figure:
    """Gradient norm per time step ||dL/dx_t||, log scale: the vanishing-gradient picture.

    Args:
        flows: {label: values per time step} (e.g. `result.diagnostics["gradient_flow"]`).
    """
    flows = _check_mapping("flows", flows)
    figure, axes = _new_axes("Gradient flow per time step", "time step t", "||dL/dx_t|| (log scale)")
    for color, (label, values) in zip(_colors(len(flows)), flows.items()):
        values = np.asarray(values, dtype="float64")
        axes.plot(np.arange(1, len(values) + 1), values, color=color, marker="o", markersize=3, label=str(label))
    _log_scale(axes, "y")
    axes.legend(fontsize="small")
    return figure


def plot_grad_norm(histories: dict) -> Figure:
    """Global gradient norm on the probe batch per epoch (log scale), one line per label.

    Args:
        histories: {label: DataFrame with `epoch` and `grad_norm`}.
    """
    histories = _check_mapping("histories", histories)
    figure, axes = _new_axes("Gradient norm over training (before clipping)", "epoch", "||dL/dw|| (log scale)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for color, (label, frame) in zip(_colors(len(histories)), histories.items()):
        if "grad_norm" not in frame:
            raise invalid("histories", label, "histories with a `grad_norm` column (from rnnkit's train)")
        axes.plot(frame["epoch"], frame["grad_norm"], color=color, marker="o", markersize=3, label=str(label))
    _log_scale(axes, "y")
    axes.legend(fontsize="small")
    return figure


def plot_predictions(y_true, y_pred, title: str = "Predictions against truth", units: str = "value") -> Figure:
    """Truth and prediction along the sample (or time) axis.

    Args:
        y_true: 1-D values (longer arrays are flattened).
        y_pred: Predictions, same number of values.
        title: Figure title.
        units: Y-axis label, e.g. "passengers (thousands)".
    """
    y_true = np.asarray(y_true, dtype="float64").ravel()
    y_pred = np.asarray(y_pred, dtype="float64").ravel()
    if y_true.shape != y_pred.shape:
        raise invalid("y_pred", f"{y_pred.size} values", f"{y_true.size} values, as many as y_true")
    figure, axes = _new_axes(title, "sample (time order)", units)
    steps = np.arange(len(y_true))
    axes.plot(steps, y_true, color="black", linewidth=1.5, label="truth")
    axes.plot(steps, y_pred, color="C1", linestyle="--", linewidth=1.5, label="prediction")
    axes.legend(fontsize="small")
    return figure


def plot_confusion_matrix(matrix, labels=None, drop_empty: bool = True) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells.

    Args:
        matrix: Square counts, `matrix[true, predicted]`.
        labels: One name per class (default the class ids).
        drop_empty: Leave out classes that never occur as truth nor as prediction (for
            example `<pad>` and `<unk>`), so that every row and column shown has data.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise invalid("matrix", f"array of shape {matrix.shape}", "a square (num_classes, num_classes) array")
    labels = [str(label) for label in (labels if labels is not None else range(len(matrix)))]
    if len(labels) != len(matrix):
        raise invalid("labels", labels, f"{len(matrix)} labels, one per class")
    if drop_empty and matrix.size:
        keep = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
        if keep.any():
            matrix, labels = matrix[np.ix_(keep, keep)], [label for label, kept in zip(labels, keep) if kept]
    side = min(max(4.4, 0.45 * len(labels) + 2.0), 12.0)
    figure, axes = _new_axes("Confusion matrix (test samples)", "predicted class", "true class",
                             size=(side + 0.8, side))
    axes.grid(False)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, label="samples")
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0, ha="right"
                    if len(labels) > 6 else "center")
    axes.set_yticks(range(len(labels)), labels)
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(len(matrix)):
        for column in range(len(matrix)):
            axes.text(column, row, str(matrix[row, column]), ha="center", va="center", fontsize="small",
                      color="white" if matrix[row, column] > threshold else "black")
    return figure


def _bar_chart(values: dict, title: str, ylabel: str, fmt: str) -> Figure:
    figure, axes = _new_axes(title, "model", ylabel)
    labels = [str(label) for label in values]
    heights = [float(value) for value in values.values()]
    bars = axes.bar(labels, heights, color=_colors(len(labels)), label=ylabel)
    axes.bar_label(bars, labels=[format(height, fmt) for height in heights], fontsize="small")
    axes.tick_params(axis="x", labelrotation=30)
    axes.legend(fontsize="small")
    return figure


def plot_param_counts(counts: dict) -> Figure:
    """Bar chart of parameter counts per model label."""
    counts = _check_mapping("counts", counts)
    return _bar_chart(counts, "Parameter count per model", "parameters (count)", ",.0f")


def plot_seconds_per_epoch(values: dict) -> Figure:
    """Bar chart of mean training seconds per epoch per model label."""
    values = _check_mapping("values", values)
    return _bar_chart(values, "Training time per epoch", "seconds per epoch (s)", ".2f")


def plot_metric_vs_params(frame, metric: str, label_column: str = "label", params_column: str = "params",
                          baseline=None) -> Figure:
    """Scatter of a test metric against parameter count (log x), one labelled point per run.

    Args:
        frame: A DataFrame with one row per run.
        metric: The metric column, e.g. "mse" or "accuracy".
        label_column: Column naming each run.
        params_column: Column with parameter counts.
        baseline: Optional (name, value) of the best trivial baseline, drawn dotted.
    """
    for name, column in (("metric", metric), ("label_column", label_column), ("params_column", params_column)):
        if column not in frame:
            raise invalid(name, column, f"a column of the frame ({', '.join(map(str, frame.columns))})")
    figure, axes = _new_axes(f"Test {metric} against model size", "parameters (count, log scale)", metric)
    for color, (_, row) in zip(_colors(len(frame)), frame.iterrows()):
        axes.scatter(row[params_column], row[metric], color=color, label=str(row[label_column]))
    _log_scale(axes, "x")
    _baseline_line(axes, baseline)
    axes.legend(fontsize="small")
    return figure


# ----------------------------------------------------------------------------- over seeds


def _baseline_line(axes, baseline) -> None:
    """Draws a named horizontal reference line; `baseline` is (name, value) or None."""
    if baseline is None:
        return
    name, value = baseline
    if value is not None and np.isfinite(value):
        axes.axhline(value, color="grey", linestyle=":", linewidth=1.5, label=f"baseline: {name} ({value:.4g})")


def plot_curves_over_seeds(histories: dict, metric: str = "loss", baseline=None) -> Figure:
    """Learning curves of several configurations, each over its seeds.

    The line is the mean over seeds; the shaded band spans the seeds (lowest to highest
    value at each epoch), so one lucky or unlucky seed is visible. Training is solid,
    validation dashed.

    Args:
        histories: {label: [history DataFrame of each seed]}.
        metric: The column to plot ("loss", "accuracy", ...).
        baseline: Optional (name, value) drawn as a dotted line, e.g. the best trivial
            baseline's validation loss.
    """
    histories = _check_mapping("histories", histories)
    figure, axes = _new_axes(f"Learning curves: {metric} (mean over seeds, band = range of seeds)", "epoch", metric)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for color, (label, frames) in zip(_colors(len(histories)), histories.items()):
        frames = [frame for frame in frames if len(frame) and metric in frame]
        for column, style, part in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
            if not frames or column not in frames[0]:
                continue
            epochs = max(len(frame) for frame in frames)
            values = np.full((len(frames), epochs), np.nan)
            for row, frame in enumerate(frames):
                values[row, : len(frame)] = np.asarray(frame[column], dtype="float64")
            steps = np.arange(1, epochs + 1)
            with np.errstate(all="ignore"):
                mean = np.nanmean(values, axis=0)
            axes.plot(steps, mean, color=color, linestyle=style, marker="o", markersize=3,
                      label=f"{label} {part} (n={len(frames)})")
            if len(frames) > 1:
                axes.fill_between(steps, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=color,
                                  alpha=0.12 if part == "train" else 0.2, linewidth=0)
    _baseline_line(axes, baseline)
    _legend_below(figure, axes)
    return figure


def _legend_below(figure: Figure, axes) -> None:
    """A legend under the axes, so no curve is hidden behind it: one colour per
    configuration, then the line styles (train solid, validation dashed) and the baseline.
    The figure grows by the legend's rows."""
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for line in axes.lines:
        label = line.get_label()
        if label.startswith("baseline:"):
            continue
        name = label.replace(" train (", " (").replace(" validation (", " (")
        if name not in labels:
            handles.append(Line2D([], [], color=line.get_color(), linewidth=2))
            labels.append(name)
    keys, key_labels = [], []
    styles = {line.get_linestyle() for line in axes.lines if not line.get_label().startswith("baseline:")}
    for style, name in (("-", "train"), ("--", "validation")):
        if style in styles:
            keys.append(Line2D([], [], color="black", linestyle=style))
            key_labels.append(name)
    for line in axes.lines:
        if line.get_label().startswith("baseline:"):
            keys.append(line)
            key_labels.append(line.get_label())
    if len(handles) == 1:  # one row
        columns, rows = 1 + len(keys), 1
    else:  # configurations in the first column, the key in the second
        columns, rows = 2, max(len(handles), len(keys))
        blank = Line2D([], [], linestyle="none")
        handles += [blank] * (rows - len(handles))
        labels += [""] * (rows - len(labels))
        keys += [blank] * (rows - len(keys))
        key_labels += [""] * (rows - len(key_labels))
    handles, labels = handles + keys, labels + key_labels
    extra = 0.17 * rows + 0.1  # inches: x-small text rows and a margin
    height = figure.get_figheight() + extra
    figure.set_figheight(height)
    figure.legend(handles, labels, loc="lower center", ncol=columns, fontsize="x-small", frameon=False,
                  borderaxespad=0.2)
    # The axes are laid out above the legend's strip (a rect costs tight layout a second
    # measuring pass, paid by this figure only).
    figure.set_layout_engine(TightLayoutEngine(pad=_PAD, rect=(0, extra / height, 1, 1)))


def plot_metric_over_seeds(values: dict, metric: str, baseline=None, intervals: dict | None = None) -> Figure:
    """One column per configuration: each seed's test value as a dot, the mean with its
    95% interval as an error bar, and the best baseline as a dotted line.

    Args:
        values: {label: [test value of each seed]}.
        metric: The metric's name, for the axis.
        baseline: Optional (name, value) of the best trivial baseline.
        intervals: Optional {label: (low, high)}; without it only the dots and mean show.
    """
    values = _check_mapping("values", values)
    width = max(6.4, 1.1 * len(values) + 2.5)
    figure, axes = _new_axes(f"Test {metric} per seed (dots), mean and 95% interval", "configuration", metric,
                             size=(width, 4.2))
    for position, (color, (label, seeds)) in enumerate(zip(_colors(len(values)), values.items())):
        seeds = np.asarray([v for v in seeds if v is not None and np.isfinite(v)], dtype="float64")
        if not seeds.size:
            continue
        offsets = np.linspace(-0.12, 0.12, seeds.size) if seeds.size > 1 else np.zeros(1)
        axes.scatter(position + offsets, seeds, color=color, alpha=0.7, s=18)
        low, high = (intervals or {}).get(label, (np.nan, np.nan))
        mean = seeds.mean()
        if np.isfinite(low) and np.isfinite(high):
            axes.errorbar(position + 0.3, mean, yerr=[[mean - low], [high - mean]], color=color, fmt="D",
                          capsize=4, markersize=5)
        else:
            axes.scatter(position + 0.3, mean, color=color, marker="D", s=25)
    axes.set_xticks(range(len(values)), [str(label) for label in values], rotation=20, ha="right")
    _baseline_line(axes, baseline)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    return figure


def plot_prediction_samples(y_true, y_pred, title: str = "Test predictions", units: str = "value") -> Figure:
    """Independent test samples, each in its own panel: truth against prediction.

    Args:
        y_true: Array `(num_samples, timesteps)` (one curve per sample) or `(num_samples,)`
            (one value per sample: drawn as a scatter of prediction against truth).
        y_pred: The predictions, same shape.
        title: Figure title.
        units: Axis label.
    """
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    if y_true.shape != y_pred.shape:
        raise invalid("y_pred", f"array of shape {y_pred.shape}", f"shape {y_true.shape}, like y_true")
    if y_true.ndim == 1:
        figure, axes = _new_axes(title, f"true {units}", f"predicted {units}", size=(5.0, 4.4))
        axes.scatter(y_true, y_pred, s=12, color="C1", label="test sample")
        low, high = float(np.min([y_true.min(), y_pred.min()])), float(np.max([y_true.max(), y_pred.max()]))
        axes.plot([low, high], [low, high], color="black", linewidth=1, label="perfect prediction")
        axes.legend(fontsize="small")
        return figure
    count = len(y_true)
    figure = _new_figure((3.2 * count, 3.0))
    figure.suptitle(title)
    for index in range(count):
        axes = figure.add_subplot(1, count, index + 1)
        steps = np.arange(1, y_true.shape[1] + 1)
        axes.plot(steps, y_true[index], color="black", linewidth=1.5, label="truth")
        axes.plot(steps, y_pred[index], color="C1", linestyle="--", linewidth=1.5, label="prediction")
        axes.set_title(f"test sample {index + 1}", fontsize="small")
        axes.set_xlabel("time step")
        if index == 0:
            axes.set_ylabel(units)
            axes.legend(fontsize="x-small")
    return figure
