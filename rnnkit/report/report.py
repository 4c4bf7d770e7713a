"""The submission report: comparison figures, report.md, a self-contained report.html, a zip.

Everything here reads the run store alone (see `rnnkit.harness.store`): the report can
be rebuilt at any time without training again. The HTML embeds every figure as a
base64 data URI, so the single file opens offline with every figure showing; the
Markdown refers to the PNG files next to it.

Example:

```python
path = build_report("runs/compare-20240101-120000", zip_path="handin.zip")
path.name  # 'report.html'
```
"""

from __future__ import annotations

import base64
import html
import math
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.checks import invalid
from rnnkit.errors import DataError
from rnnkit.harness import store

REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# Comparison figures: file stem prefix -> caption.
FIGURE_CAPTIONS = {
    "learning_curves": "Learning curves (training and validation loss, mean over seeds) of every configuration",
    "metric_vs_params": "Test loss (mean over seeds) against parameter count",
    "seconds_per_epoch": "Training seconds per epoch after the first (median over epochs, mean over seeds)",
    "gradient_flow": "Gradient norm per time step (first seed of each configuration)",
    "param_counts": "Parameter count of each configuration",
}


# Says how the speed columns were measured, once, above the tables.
TIMING_NOTE = (
    "Speed: seconds_per_epoch is the median wall time of the epochs after the first (the "
    "steady state); first_epoch_seconds is shown apart because it also includes Keras "
    "tracing and compiling the training step."
)


# ----------------------------------------------------------------------------- figures


def _short_label(label: str, task: str) -> str:
    label = store.configuration_label(label)
    return label[len(task) + 1:] if label.startswith(f"{task} ") else label


def _mean_history(histories: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [h for h in histories if len(h) and "epoch" in h]
    if not frames:
        return pd.DataFrame()
    numeric = [f.select_dtypes("number") for f in frames]
    return pd.concat(numeric).groupby("epoch", as_index=False).mean()


def write_run_figures(out_dir, run_id: str) -> list[Path]:
    """Draws (or redraws) one run's figures from its stored files into `runs/<run_id>/figures/`.

    Figures: `learning_curve.png` (training and validation loss per epoch),
    `gradient_flow.png` (gradient norm per time step, when recorded), and
    `predictions.png` (regression) or `confusion_matrix.png` (classification) when the
    run stored test predictions.

    Args:
        out_dir: The comparison folder.
        run_id: A finished run.

    Returns:
        The paths written.
    """
    from rnnkit.report import plots

    run = store.load_run(out_dir, run_id)
    label = run["config"].get("label", run_id)
    folder = store.run_dir(out_dir, run_id) / store.FIGURES_FOLDER
    # Drawn into a temporary folder renamed at the end: an existing figures/ is complete.
    drawing = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    if drawing.exists():
        shutil.rmtree(drawing)
    history = run["history"]
    figures = {}
    if len(history) and "loss" in history:
        figures["learning_curve"] = plots.plot_learning_curves({label: history}, metric="loss")
    flow = (run["metrics"].get("diagnostics") or {}).get("gradient_flow")
    if flow:
        figures["gradient_flow"] = plots.plot_gradient_flow({label: np.asarray(flow, dtype=float)})
    predictions = run["predictions"]
    if predictions and predictions["kind"] == "regression":
        figures["predictions"] = plots.plot_predictions(predictions["y_true"], predictions["y_pred"],
                                                        title=f"Test predictions: {label}")
    elif predictions and predictions["kind"] == "classification":
        figures["confusion_matrix"] = plots.plot_confusion_matrix(np.asarray(predictions["matrix"]),
                                                                  predictions["labels"])
    drawing.mkdir(parents=True)
    for stem, figure in figures.items():
        store.write_figure(drawing / f"{stem}.png", figure)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(drawing, folder)
    return [folder / f"{stem}.png" for stem in figures]


def write_comparison_figures(out_dir) -> list[Path]:
    """Draws the comparison figures of a folder into `out_dir/figures/`, per task.

    Figures (one PNG per task each, `<kind>_<task>.png`): learning curves of every
    configuration overlaid, test loss against parameter count, seconds per
    epoch, gradient norm per time step (when the runs recorded it) and parameter
    counts. Failed runs are left out.

    Args:
        out_dir: A comparison folder with results.csv and its run folders.

    Returns:
        The paths written.
    """
    from rnnkit.report import plots

    out_dir = Path(out_dir)
    results = store.load_results(out_dir)
    folder = out_dir / store.FIGURES_FOLDER
    written = []
    finished = results[results["status"] != "failed"]
    for task, rows in finished.groupby("task", sort=False):
        histories, flows, seconds, counts = {}, {}, {}, {}
        for config_id, group in rows.groupby("config_id", sort=False):
            label = _short_label(group["label"].iloc[0], task)
            runs = [store.load_run(out_dir, run_id) for run_id in group["run_id"]]
            history = _mean_history([run["history"] for run in runs])
            if len(history) and "loss" in history:
                histories[label] = history
            flow = (runs[0]["metrics"].get("diagnostics") or {}).get("gradient_flow")
            if flow:
                flows[label] = np.asarray(flow, dtype=float)
            value = pd.to_numeric(group["seconds_per_epoch"], errors="coerce").mean()
            if not math.isnan(value):
                seconds[label] = float(value)
            params = pd.to_numeric(group["params"], errors="coerce").dropna()
            if len(params):
                counts[label] = int(params.iloc[0])
        figures = {}
        if histories:
            figures["learning_curves"] = plots.plot_learning_curves(histories, metric="loss")
        if "test_loss" in rows and rows["test_loss"].notna().any():
            # One point per configuration: the test loss averaged over seeds.
            frame = rows[rows["test_loss"].notna() & rows["params"].notna()]
            frame = frame.groupby("config_id", sort=False).agg(
                label=("label", "first"), params=("params", "first"), loss=("test_loss", "mean"))
            frame["label"] = [_short_label(label, task) for label in frame["label"]]
            figures["metric_vs_params"] = plots.plot_metric_vs_params(
                frame, "loss", label_column="label", params_column="params"
            )
        if seconds:
            figures["seconds_per_epoch"] = plots.plot_seconds_per_epoch(seconds)
        if flows:
            figures["gradient_flow"] = plots.plot_gradient_flow(flows)
        if counts:
            figures["param_counts"] = plots.plot_param_counts(counts)
        for kind, figure in figures.items():
            figure.suptitle(task)
            written.append(store.write_figure(folder / f"{kind}_{task}.png", figure))
    return written


# ----------------------------------------------------------------------------- tables


def _format(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """Renders a DataFrame as a GitHub Markdown table (numbers to 4 significant digits)."""
    if frame.empty:
        return "_(none)_\n"
    cells = [[_format(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def html_table(frame: pd.DataFrame) -> str:
    """Renders a DataFrame as an HTML table (escaped; numbers to 4 significant digits)."""
    if frame.empty:
        return "<p><em>(none)</em></p>\n"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"


def _pick(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


def _drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(axis="columns", how="all")


def _summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: mean ± std over seeds of the validation, test and speed figures."""
    view = _pick(summary, ["label", "params", "num_seeds", "num_ok"]).copy()
    means = [c for c in summary.columns if c.endswith("_mean")
             and c.startswith(("best_val_", "test_", "first_epoch_seconds", "seconds_per_epoch"))
             and summary[c].notna().any()]
    for column in means:
        name = column[: -len("_mean")]
        std = summary.get(f"{name}_std", pd.Series(np.nan, index=summary.index))
        view[name] = [
            "" if pd.isna(m) else (f"{m:.4g}" if pd.isna(d) else f"{m:.4g} ± {d:.2g}")
            for m, d in zip(summary[column], std)
        ]
    return view


def _results_view(results: pd.DataFrame) -> pd.DataFrame:
    metrics = [c for c in results.columns if c.startswith(("best_val_", "test_"))]
    view = _pick(results, ["run_id", "label", "status", "params", "epochs_run", "final_loss",
                           "final_val_loss", *metrics, "first_epoch_seconds", "seconds_per_epoch"])
    return _drop_empty(view)


def _params_view(params: pd.DataFrame) -> pd.DataFrame:
    return _pick(params, ["label", "layer", "type", "input_width", "units", "formula", "analytic", "keras", "match"])


def _best_rows(summary: pd.DataFrame) -> pd.DataFrame:
    if "best_val_loss_mean" not in summary or summary["best_val_loss_mean"].isna().all():
        return pd.DataFrame()
    ranked = summary.dropna(subset=["best_val_loss_mean"])
    best = ranked.loc[ranked.groupby("task", sort=False)["best_val_loss_mean"].idxmin()]
    return _pick(best, ["task", "label", "params", "best_val_loss_mean", "best_val_loss_std"])


# ----------------------------------------------------------------------------- report
# The report is a list of blocks, rendered twice: as Markdown and as HTML.
# ("h2" | "h3" | "p", text), ("table", DataFrame), ("figure", path, caption),
# ("pre", text), ("runs", [(title, [paths])]).


def _caption(path: Path) -> str:
    for prefix, caption in FIGURE_CAPTIONS.items():
        if path.stem.startswith(f"{prefix}_"):
            return f"{caption} — {path.stem[len(prefix) + 1:]}"
    return path.stem


def _status_line(results: pd.DataFrame) -> str:
    counts = results["status"].value_counts()
    listed = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(results)} runs: {listed}."


def _environment_frame(environment: dict) -> pd.DataFrame:
    rows = [{"item": key, "value": ", ".join(map(str, value)) if isinstance(value, list) else value}
            for key, value in environment.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def report_blocks(out_dir) -> list[tuple]:
    """Collects the report's content from the stored files alone, in reading order."""
    out_dir = Path(out_dir)
    results = store.load_results(out_dir)
    summary = store.load_summary(out_dir)
    params = store.load_params(out_dir)
    environment = store.load_environment(out_dir)
    date = environment.get("date", "an unknown date")
    blocks = [
        ("h1", f"rnnkit comparison report: {out_dir.name}"),
        ("p", f"Built from the run store; runs started on {date}. {_status_line(results)}"),
        ("p", TIMING_NOTE),
        ("h2", "Best configuration per task (lowest mean best validation loss)"),
        ("table", _best_rows(summary)),
    ]
    tasks = list(dict.fromkeys(results["task"]))
    for task in tasks:
        blocks += [("h2", f"Task: {task}"), ("h3", "Summary over seeds (mean ± std)")]
        blocks.append(("table", _summary_view(summary[summary["task"] == task])))
        for prefix in FIGURE_CAPTIONS:
            path = out_dir / store.FIGURES_FOLDER / f"{prefix}_{task}.png"
            if path.is_file():
                blocks.append(("figure", path, _caption(path)))
        blocks += [("h3", "Every run"), ("table", _results_view(results[results["task"] == task]))]
    blocks += [("h2", "Parameter counts per layer"), ("table", _params_view(params))]
    failed = results[results["status"] != "ok"]
    if len(failed):
        blocks += [("h2", "Runs that did not finish normally"),
                   ("table", _pick(failed, ["run_id", "label", "status", "error"]))]
    runs = []
    for run_id, label in zip(results["run_id"], results["label"]):
        folder = store.run_dir(out_dir, run_id) / store.FIGURES_FOLDER
        runs.append((f"{label} ({run_id})", sorted(folder.glob("*.png")) if folder.is_dir() else []))
    blocks += [("h2", "Figures of each run"), ("runs", runs)]
    blocks += [("h2", "Grid"), ("pre", store.load_grid_text(out_dir))]
    blocks += [("h2", "Environment"), ("table", _environment_frame(environment))]
    return blocks


def render_markdown(out_dir) -> str:
    """Returns report.md's text for a comparison folder (figures linked as files)."""
    out_dir = Path(out_dir)
    lines = []
    for block in report_blocks(out_dir):
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines.append(f"{'#' * int(kind[1])} {block[1]}\n")
        elif kind == "p":
            lines.append(f"{block[1]}\n")
        elif kind == "table":
            lines.append(markdown_table(block[1]))
        elif kind == "figure":
            lines.append(f"![{block[2]}]({block[1].relative_to(out_dir).as_posix()})\n\n_{block[2]}_\n")
        elif kind == "pre":
            lines.append("```yaml\n" + block[1].rstrip() + "\n```\n")
        elif kind == "runs":
            for title, paths in block[1]:
                links = ", ".join(f"[{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in paths)
                lines.append(f"- {title}: {links or '(none)'}")
            lines.append("")
    return "\n".join(lines)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_figure(path: Path, caption: str) -> str:
    caption = html.escape(caption)
    return f'<figure><img src="{_data_uri(path)}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #f0f0f0; }
figure { margin: 1em 0; } img { max-width: 100%; }
figcaption { font-style: italic; color: #555; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def render_html(out_dir) -> str:
    """Returns report.html's text: one self-contained page, figures embedded as data URIs."""
    out_dir = Path(out_dir)
    body = []
    for block in report_blocks(out_dir):
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "table":
            body.append(html_table(block[1]))
        elif kind == "figure":
            body.append(_html_figure(block[1], block[2]))
        elif kind == "pre":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "runs":
            for title, paths in block[1]:
                figures = "".join(_html_figure(path, path.stem) for path in paths) or "<p>(no figures)</p>"
                body.append(f"<details><summary>{html.escape(title)}</summary>{figures}</details>")
    title = html.escape(f"rnnkit comparison report: {out_dir.name}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def zip_folder(out_dir, zip_path) -> Path:
    """Packs the comparison folder into one zip archive (written atomically)."""
    out_dir, zip_path = Path(out_dir).resolve(), Path(zip_path).resolve()
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = zip_path.with_name(f".{zip_path.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(out_dir.rglob("*")):
            if path.is_file() and path != zip_path and not path.name.startswith("."):
                archive.write(path, Path(out_dir.name) / path.relative_to(out_dir))
    os.replace(temporary, zip_path)
    return zip_path


def build_report(out_dir, *, zip_path=None) -> Path:
    """Writes report.md and report.html into a comparison folder, from its stored files.

    Tables and figures that are missing (for example after an interrupted compare,
    or a compare run with `figures=False`) are drawn from the run folders first.

    Args:
        out_dir: A folder written by `compare` (or `rnnkit train`).
        zip_path: If given, also pack the whole folder into this zip archive.

    Returns:
        The path of report.html.
    """
    out_dir = Path(out_dir)
    if not (out_dir / store.RUNS_FOLDER).is_dir():
        raise invalid("run_dir", str(out_dir), "a folder written by `rnnkit compare` or `rnnkit train`", DataError)
    if not all((out_dir / name).is_file() for name in (store.RESULTS_FILE, store.SUMMARY_FILE, store.PARAMS_FILE)):
        store.write_tables(out_dir)
    if not any((out_dir / store.FIGURES_FOLDER).glob("*.png")):
        write_comparison_figures(out_dir)
    for run_id in store.load_results(out_dir)["run_id"]:
        if store.is_finished(out_dir, run_id) and not store.has_figures(out_dir, run_id):
            write_run_figures(out_dir, run_id)
    store.write_text(out_dir / REPORT_MD, render_markdown(out_dir))
    path = store.write_text(out_dir / REPORT_HTML, render_html(out_dir))
    if zip_path is not None:
        zip_folder(out_dir, zip_path)
    return path
