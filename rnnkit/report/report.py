"""The submission report: comparison figures, report.md, a self-contained report.html, a zip.

Everything here reads the run store alone (see `rnnkit.harness.store`): the report can
be rebuilt at any time without training again. The HTML embeds every figure as a
base64 data URI, so the single file opens offline with every figure showing; the
Markdown refers to the PNG files next to it.

Example:

>>> path = build_report("runs/compare-20240101-120000", zip_path="handin.zip")
>>> path.name
'report.html'
"""

from __future__ import annotations

import base64
import html
import math
import os
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
    "seconds_per_epoch": "Training seconds per epoch (mean over seeds)",
    "gradient_flow": "Gradient norm per time step (first seed of each configuration)",
    "param_counts": "Parameter count of each configuration",
}


# ----------------------------------------------------------------------------- figures


def _short_label(label: str, task: str) -> str:
    label = str(label).rsplit(" seed", 1)[0]
    return label[len(task) + 1:] if label.startswith(f"{task} ") else label


def _mean_history(histories: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [h for h in histories if len(h) and "epoch" in h]
    if not frames:
        return pd.DataFrame()
    numeric = [f.select_dtypes("number") for f in frames]
    return pd.concat(numeric).groupby("epoch", as_index=False).mean()


def write_run_figures(out_dir, run_id: str) -> list[Path]:
    """Draws one run's figures from its stored files into `runs/<run_id>/figures/`.

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
    return [store.write_figure(folder / f"{stem}.png", figure) for stem, figure in figures.items()]


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


def _summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    measured = [c for c in summary.columns if c.endswith(("_mean", "_std"))
                and c.startswith(("best_val_", "test_", "seconds_per_epoch"))]
    return _pick(summary, ["task", "label", "params", "num_seeds", "num_ok", *measured])


def _results_view(results: pd.DataFrame) -> pd.DataFrame:
    metrics = [c for c in results.columns if c.startswith(("best_val_", "test_"))]
    return _pick(results, ["run_id", "label", "status", "params", "epochs_run", "final_loss",
                           "final_val_loss", *metrics, "seconds_per_epoch"])


def _params_view(params: pd.DataFrame) -> pd.DataFrame:
    return _pick(params, ["label", "layer", "type", "input_width", "units", "formula", "analytic", "keras", "match"])


def _best_rows(summary: pd.DataFrame) -> pd.DataFrame:
    if "best_val_loss_mean" not in summary or summary["best_val_loss_mean"].isna().all():
        return pd.DataFrame()
    ranked = summary.dropna(subset=["best_val_loss_mean"])
    best = ranked.loc[ranked.groupby("task", sort=False)["best_val_loss_mean"].idxmin()]
    return _pick(best, ["task", "label", "params", "best_val_loss_mean", "best_val_loss_std"])


# ----------------------------------------------------------------------------- report


def _sections(out_dir: Path) -> dict:
    """Collects what both renderings show, from the stored files alone."""
    results = store.load_results(out_dir)
    summary = store.load_summary(out_dir)
    params = store.load_params(out_dir)
    figures = sorted((out_dir / store.FIGURES_FOLDER).glob("*.png"))
    run_figures = {}
    for run_id in results["run_id"]:
        run_folder = store.run_dir(out_dir, run_id) / store.FIGURES_FOLDER
        run_figures[run_id] = sorted(run_folder.glob("*.png")) if run_folder.is_dir() else []
    failed = results[results["status"] != "ok"]
    return {
        "results": results,
        "summary": summary,
        "params": params,
        "figures": figures,
        "run_figures": run_figures,
        "failed": _pick(failed, ["run_id", "label", "status", "error"]),
        "environment": store.load_environment(out_dir),
        "grid": store.load_grid_text(out_dir),
    }


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


def render_markdown(out_dir) -> str:
    """Returns report.md's text for a comparison folder (figures linked as files)."""
    out_dir = Path(out_dir)
    parts = _sections(out_dir)
    environment = parts["environment"]
    lines = [
        f"# rnnkit comparison report: {out_dir.name}\n",
        f"Built from the run store on {environment.get('date', 'an unknown date')}. "
        f"{_status_line(parts['results'])}\n",
        "## Best configuration per task (lowest mean best validation loss)\n",
        markdown_table(_best_rows(parts["summary"])),
        "## Summary over seeds\n",
        markdown_table(_summary_view(parts["summary"])),
        "## Figures\n",
    ]
    for path in parts["figures"]:
        relative = path.relative_to(out_dir).as_posix()
        lines.append(f"![{_caption(path)}]({relative})\n\n_{_caption(path)}_\n")
    lines += ["## Parameter counts per layer\n", markdown_table(_params_view(parts["params"]))]
    lines += ["## Every run\n", markdown_table(_results_view(parts["results"]))]
    if len(parts["failed"]):
        lines += ["## Runs that did not finish normally\n", markdown_table(parts["failed"])]
    lines.append("## Figures of each run\n")
    for run_id, paths in parts["run_figures"].items():
        links = ", ".join(f"[{p.stem}]({p.relative_to(out_dir).as_posix()})" for p in paths)
        lines.append(f"- `{run_id}`: {links or '(none)'}")
    lines += ["\n## Grid\n", "```yaml\n" + parts["grid"].rstrip() + "\n```\n"]
    lines += ["## Environment\n", markdown_table(_environment_frame(environment))]
    return "\n".join(lines)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


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
    parts = _sections(out_dir)
    environment = parts["environment"]
    title = html.escape(f"rnnkit comparison report: {out_dir.name}")
    body = [
        f"<h1>{title}</h1>",
        f"<p>Built from the run store on {html.escape(str(environment.get('date', 'an unknown date')))}. "
        f"{html.escape(_status_line(parts['results']))}</p>",
        "<h2>Best configuration per task (lowest mean best validation loss)</h2>",
        html_table(_best_rows(parts["summary"])),
        "<h2>Summary over seeds</h2>",
        html_table(_summary_view(parts["summary"])),
        "<h2>Figures</h2>",
    ]
    for path in parts["figures"]:
        caption = html.escape(_caption(path))
        body.append(f'<figure><img src="{_data_uri(path)}" alt="{caption}"><figcaption>{caption}</figcaption></figure>')
    body += ["<h2>Parameter counts per layer</h2>", html_table(_params_view(parts["params"]))]
    body += ["<h2>Every run</h2>", html_table(_results_view(parts["results"]))]
    if len(parts["failed"]):
        body += ["<h2>Runs that did not finish normally</h2>", html_table(parts["failed"])]
    body.append("<h2>Figures of each run</h2>")
    labels = dict(zip(parts["results"]["run_id"], parts["results"]["label"]))
    for run_id, paths in parts["run_figures"].items():
        if not paths:
            continue
        images = "".join(
            f'<figure><img src="{_data_uri(p)}" alt="{html.escape(p.stem)}"><figcaption>{html.escape(p.stem)}</figcaption></figure>'
            for p in paths
        )
        body.append(f"<details><summary>{html.escape(str(labels[run_id]))} ({run_id})</summary>{images}</details>")
    body += ["<h2>Grid</h2>", f"<pre>{html.escape(parts['grid'])}</pre>"]
    body += ["<h2>Environment</h2>", html_table(_environment_frame(environment))]
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
        if store.is_finished(out_dir, run_id) and not (store.run_dir(out_dir, run_id) / store.FIGURES_FOLDER).is_dir():
            write_run_figures(out_dir, run_id)
    store.write_text(out_dir / REPORT_MD, render_markdown(out_dir))
    path = store.write_text(out_dir / REPORT_HTML, render_html(out_dir))
    if zip_path is not None:
        zip_folder(out_dir, zip_path)
    return path
