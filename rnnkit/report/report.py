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
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.checks import invalid
from rnnkit.errors import DataError
from rnnkit.harness import store
from rnnkit.harness.lock import store_lock

REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# Comparison figures: file stem prefix -> caption.
FIGURE_CAPTIONS = {
    "test_metric": ("Test value of the primary metric: each seed a dot, the mean with its 95% interval (cut at "
                    "the metric's possible range), the best baseline dotted"),
    "learning_curves": "Learning curves (training and validation loss, mean over seeds, band = range of seeds; dotted: best baseline)",
    "metric_vs_params": "Test primary metric (mean over seeds) against parameter count",
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
PARALLEL_TIMING_NOTE = (
    " These runs trained several at a time, sharing the machine's cores: compare their seconds with "
    "each other, not with runs of a comparison executed another way."
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
    drawing = store.temporary_path(folder)
    if drawing.exists():
        shutil.rmtree(drawing)
    history = run["history"]
    figures = {}
    if len(history) and "loss" in history:
        baseline = _baseline_loss(run["metrics"].get("baselines") or {})
        figures["learning_curve"] = plots.plot_curves_over_seeds({label: [history]}, "loss", baseline)
    flow = (run["metrics"].get("diagnostics") or {}).get("gradient_flow")
    if flow:
        figures["gradient_flow"] = plots.plot_gradient_flow({label: np.asarray(flow, dtype=float)})
    predictions = run["predictions"]
    if predictions and predictions["kind"] == "regression":
        figures["predictions"] = plots.plot_prediction_samples(
            predictions["y_true"], predictions["y_pred"], title=f"Test predictions: {label}")
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


def _baseline_loss(baselines: dict):
    from rnnkit.training.baselines import best_baseline

    name, value = best_baseline(baselines, "loss", split="validation")
    return (name, value) if name else None


def instance_slug(instance: str) -> str:
    """A file-name-safe form of a task instance ("adding (timesteps=10)" -> "adding_timesteps-10")."""
    text = instance.replace(" (", "_").replace(")", "").replace(", ", "_").replace("=", "-")
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def write_comparison_figures(out_dir) -> list[Path]:
    """Draws the comparison figures of a folder into `out_dir/figures/`, per task instance.

    Figures (one PNG per task instance each, `<kind>_<instance>.png`): the primary test
    metric per seed with means, intervals and the best baseline; learning curves of every
    configuration over its seeds with the baseline's validation loss; the metric against
    parameter count; seconds per epoch; gradient norm per time step (when recorded); and
    parameter counts. Failed runs are left out; runs of different task instances are
    never drawn together.

    Args:
        out_dir: A comparison folder with results.csv and its run folders.

    Returns:
        The paths written.
    """
    from rnnkit.harness.verdict import mean_interval
    from rnnkit.report import plots

    out_dir = Path(out_dir)
    results = store.load_results(out_dir)
    folder = out_dir / store.FIGURES_FOLDER
    if folder.is_dir():  # Figures of instances that no longer exist must not linger.
        for old in folder.glob("*.png"):
            old.unlink()
    written = []
    finished = results[results["status"] != "failed"]
    instance_column = "task_instance" if "task_instance" in finished else "task"
    for instance, rows in finished.groupby(instance_column, sort=False):
        task = rows["task"].iloc[0]
        histories, flows, seconds, counts, tests, intervals = {}, {}, {}, {}, {}, {}
        metric = rows["primary_metric"].iloc[0] if "primary_metric" in rows else None
        baseline = None
        for config_id, group in rows.groupby("config_id", sort=False):
            label = _short_label(group["label"].iloc[0], task)
            runs = [store.load_run(out_dir, run_id) for run_id in group["run_id"]]
            frames = [run["history"] for run in runs if len(run["history"]) and "loss" in run["history"]]
            if frames:
                histories[label] = frames
            if baseline is None:
                baseline = _baseline_loss(runs[0]["metrics"].get("baselines") or {})
            flow = (runs[0]["metrics"].get("diagnostics") or {}).get("gradient_flow")
            if flow:
                flows[label] = np.asarray(flow, dtype=float)
            value = pd.to_numeric(group["seconds_per_epoch"], errors="coerce").mean()
            if not math.isnan(value):
                seconds[label] = float(value)
            params = pd.to_numeric(group["params"], errors="coerce").dropna()
            if len(params):
                counts[label] = int(params.iloc[0])
            column = f"test_{metric}"
            if isinstance(metric, str) and column in group:
                ok = group[group["status"] == "ok"]
                values = [float(v) for v in pd.to_numeric(ok[column], errors="coerce") if np.isfinite(v)]
                if values:
                    tests[label] = values
                    intervals[label] = mean_interval(values, metric)  # Cut at the metric's range.
        figures = {}
        reference = None
        if tests:
            if f"baseline_test_{metric}" in rows and "baseline_name" in rows:
                reference = (rows["baseline_name"].iloc[0], float(rows[f"baseline_test_{metric}"].iloc[0]))
            figures["test_metric"] = plots.plot_metric_over_seeds(tests, metric, reference, intervals)
        if histories:
            figures["learning_curves"] = plots.plot_curves_over_seeds(histories, "loss", baseline)
        if tests and counts:
            frame = pd.DataFrame({"label": list(tests), metric: [np.mean(v) for v in tests.values()],
                                  "params": [counts.get(label, np.nan) for label in tests]}).dropna()
            if len(frame):
                figures["metric_vs_params"] = plots.plot_metric_vs_params(frame, metric, baseline=reference)
        if seconds:
            figures["seconds_per_epoch"] = plots.plot_seconds_per_epoch(seconds)
        if flows:
            figures["gradient_flow"] = plots.plot_gradient_flow(flows)
        if counts:
            figures["param_counts"] = plots.plot_param_counts(counts)
        for kind, figure in figures.items():
            figure.suptitle(instance)
            written.append(store.write_figure(folder / f"{kind}_{instance_slug(instance)}.png", figure))
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
    text = frame.map(_format).to_html(index=False, escape=True, border=0)
    # pandas indents its markup; one line per table keeps report.html small and greppable.
    text = re.sub(r">\s+<", "><", text).replace(' class="dataframe"', "")
    return text.replace(' style="text-align: right;"', "") + "\n"


def _pick(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame[[c for c in columns if c in frame.columns]]


def _drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(axis="columns", how="all")


def _interval_text(mean, low, high, std=np.nan) -> str:
    if pd.isna(mean):
        return ""
    if pd.notna(low) and pd.notna(high):
        return f"{mean:.4g} [{low:.4g}, {high:.4g}]"
    return f"{mean:.4g}" if pd.isna(std) else f"{mean:.4g} ± {std:.2g}"


def _learned_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return "yes" if str(value) == "True" else "NO"


def _summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: mean and 95% interval over seeds (mean ± std for other figures),
    with a first row for the best trivial baseline of each test metric."""
    view = _pick(summary, ["label", "params", "n"]).copy()
    if "learned" in summary:
        view["learned"] = [_learned_text(v) for v in summary["learned"]]
    means = [c for c in summary.columns if c.endswith("_mean")
             and c.startswith(("test_", "best_val_", "seconds_per_epoch"))
             and summary[c].notna().any()]
    for column in means:
        name = column[: -len("_mean")]
        missing = pd.Series(np.nan, index=summary.index)
        view[name] = [
            _interval_text(m, lo, hi, sd) for m, lo, hi, sd in zip(
                summary[column], summary.get(f"{name}_ci_low", missing), summary.get(f"{name}_ci_high", missing),
                summary.get(f"{name}_std", missing))
        ]
    if len(summary) and "baseline_name" in summary:
        baseline = {"label": f"baseline: {summary['baseline_name'].iloc[0]}", "n": "", "learned": ""}
        for column in view.columns:
            if column.startswith("test_") and f"baseline_{column}" in summary:
                baseline[column] = f"{float(summary[f'baseline_{column}'].iloc[0]):.4g}"
            elif column == "best_val_loss" and "baseline_val_loss" in summary:
                baseline[column] = f"{float(summary['baseline_val_loss'].iloc[0]):.4g}"
        view = pd.concat([pd.DataFrame([baseline]), view], ignore_index=True)
    return view.fillna("")


def _results_view(results: pd.DataFrame) -> pd.DataFrame:
    metrics = [c for c in results.columns if c.startswith(("best_val_", "test_"))]
    view = _pick(results, ["run_id", "label", "status", "params", "epochs_run", "selected_epoch", "final_loss",
                           "final_val_loss", *metrics, "first_epoch_seconds", "seconds_per_epoch"])
    view = _drop_empty(view)
    if len(results) and "baseline_name" in results:
        baseline = {"label": f"baseline: {results['baseline_name'].iloc[0]}"}
        for column in view.columns:
            if column.startswith("test_") and f"baseline_{column}" in results:
                baseline[column] = results[f"baseline_{column}"].iloc[0]
            elif column == "best_val_loss" and "baseline_val_loss" in results:
                baseline[column] = results["baseline_val_loss"].iloc[0]
        view = pd.concat([pd.DataFrame([baseline]), view], ignore_index=True)
    return view


def _params_view(params: pd.DataFrame) -> pd.DataFrame:
    return _pick(params, ["label", "layer", "type", "input_width", "units", "formula", "analytic", "keras", "match"])


def _verdict_view(verdict: pd.DataFrame) -> pd.DataFrame:
    if verdict.empty:
        return verdict
    rows = []
    for _, row in verdict.iterrows():
        item = {"configuration": row["label"]}
        if str(row.get("selected", "") or "") not in ("", "nan"):
            item["selected on validation"] = row["selected"]
        item.update({
            "n": int(row["n"]),
            f"test {row['metric']} mean [95% CI]": _interval_text(row["mean"], row["ci_low"], row["ci_high"]),
            "learned": _learned_text(row["learned"]),
            "difference to best [95% CI]": "" if row.get("is_best") in (True, "True") else _interval_text(
                row["difference"], row["diff_low"], row["diff_high"]),
            "seeds won vs best": "" if row.get("is_best") in (True, "True") else row["seeds_won"],
            "verdict": row["verdict"],
        })
        rows.append(item)
    frame = pd.DataFrame(rows)
    return frame.fillna("")


def _samples_frame(samples) -> pd.DataFrame:
    def text(value):
        if isinstance(value, list):
            shown = " ".join(map(str, value[:24]))
            return shown + (" ..." if len(value) > 24 else "")
        return value if not isinstance(value, float) else f"{value:.4g}"

    return pd.DataFrame([{key: text(value) for key, value in sample.items()} for sample in samples or []])


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


def execution_line(environment: dict) -> str:
    """How and where the runs were executed, in words, from environment.json (older stores:
    in this process; the device where the runs recorded one).

    >>> execution_line({"executor": "local processes", "workers": 2, "threads_per_worker": 1,
    ...                 "backend": "tensorflow (8 runs)"})
    'Executed in 2 local worker processes (1 thread each), Keras backend tensorflow (8 runs).'
    >>> execution_line({"executor": "ray", "ray_address": "10.0.0.5:6379", "ray_per_run": "num_cpus=1, num_gpus=0.25",
    ...                 "backend": "jax (4 runs)"})
    'Executed as Ray tasks on the cluster at 10.0.0.5:6379 (num_cpus=1, num_gpus=0.25 per run), Keras backend jax (4 runs).'
    >>> execution_line({"executor": "local processes", "workers": 8, "threads_per_worker": 2,
    ...                 "gpus": "1 GPU shared by 8 workers", "backend": "jax (8 runs)"})
    'Executed in 8 local worker processes (2 threads each; 1 GPU shared by 8 workers), Keras backend jax (8 runs).'
    >>> execution_line({"executor": "ray", "ray_address": "local ray.init()", "ray_per_run": "num_cpus=1, num_gpus=0",
    ...                 "gpus": "the cluster's 1 GPU left unused", "device": "CPU"})
    "Executed as Ray tasks on a local Ray (num_cpus=1, num_gpus=0 per run; the cluster's 1 GPU left unused), on CPU."
    >>> execution_line({"executor": "in-process", "backend": "jax", "device": "GPU: NVIDIA H200"})
    'Executed in one process, one run after another, Keras backend jax, on GPU: NVIDIA H200.'
    """
    executor = environment.get("executor", "in-process")
    backend = environment.get("backend")
    if executor == "ray":
        address = environment.get("ray_address", "")
        where = "a local Ray" if address.startswith("local") else f"the cluster at {address}"
        text = f"Executed as Ray tasks on {where} ({environment.get('ray_per_run', '')} per run"
        text += f"; {environment['gpus']})" if environment.get("gpus") else ")"
    elif executor == "local processes":
        threads = environment.get("threads_per_worker")
        details = [f"{threads} thread{'s' if threads != 1 else ''} each"] if threads else []
        details += [environment["gpus"]] if environment.get("gpus") else []
        each = f" ({'; '.join(details)})" if details else ""
        text = f"Executed in {environment.get('workers')} local worker processes{each}"
    else:
        text = "Executed in one process, one run after another"
    text = f"{text}, Keras backend {backend}" if backend else text
    device = environment.get("device")
    return f"{text}, on {device}." if device else f"{text}."


def _environment_frame(environment: dict) -> pd.DataFrame:
    rows = [{"item": key, "value": ", ".join(map(str, value)) if isinstance(value, list) else value}
            for key, value in environment.items()]
    return pd.DataFrame(rows, columns=["item", "value"])


PROTOCOL_NOTE = (
    "How to read this: each task instance (a task with its options) is judged on its own, on the test "
    "value of its primary metric, with the weights of the epoch that had the best validation loss. Seeds "
    "are the unit of evidence: means come with a 95% Student-t interval, cut at the metric's possible "
    "range (0 for an MSE or a loss, 1 for perplexity, 0 and 1 for an accuracy), so no end shows a value "
    "the metric cannot take; a difference to the best configuration comes with a Welch 95% interval, "
    "which is not cut (a difference can be negative), and no winner is named while that interval includes "
    "zero. A configuration 'learned' when its whole interval beats the best trivial baseline (with one "
    "seed: when it closes at least 5% of the gap from the baseline to a perfect score)."
)


# How to read a label such as "adding lstm u16 L1 seed0", once, above the tables.
LABEL_NOTE = (
    "Labels read: task (where the heading does not already name it), cell (mlp is the one_to_one baseline: hidden Dense layers on the flattened "
    "input window), u = units per layer, L = number of layers (stacked recurrent layers; for the mlp, "
    "hidden Dense layers), bi = bidirectional, then every setting that differs from its default or is "
    "swept, and the seed (left out where seeds are pooled)."
)


ONE_SEED_NOTE = (
    "Every configuration ran with one seed: no uncertainty can be given, so no difference in this "
    "report is evidence. Run at least 3 seeds (`--seeds 0 1 2`)."
)


def report_blocks(out_dir) -> list[tuple]:
    """Collects the report's content from the stored files alone, in reading order:
    the verdict first, then one section per task instance, then every run."""
    out_dir = Path(out_dir)
    results = store.load_results(out_dir)
    summary = store.load_summary(out_dir)
    params = store.load_params(out_dir)
    verdict = store.load_verdict(out_dir)
    environment = store.load_environment(out_dir)
    date = environment.get("date", "an unknown date")
    blocks = [
        ("h1", f"rnnkit comparison report: {out_dir.name}"),
        ("p", f"Built from the run store; runs started on {date}. {_status_line(results)} "
              + execution_line(environment)),
        ("h2", "Verdict"),
    ]
    for line in store.verdict_lines(verdict):
        blocks.append(("p", line))
    seeds = pd.to_numeric(summary.get("n", pd.Series(dtype=float)), errors="coerce")
    if len(seeds) and seeds.max() < 2:
        blocks.append(("p", ONE_SEED_NOTE))
    blocks.append(("p", PROTOCOL_NOTE))
    blocks.append(("p", LABEL_NOTE))
    instance_column = "task_instance" if "task_instance" in results else "task"
    for instance in dict.fromkeys(results[instance_column]):
        blocks.append(("h3", f"Ranking: {instance}"))
        if not verdict.empty and "task_instance" in verdict:
            blocks.append(("table", _verdict_view(verdict[verdict["task_instance"] == instance])))
    shared = environment.get("executor") in ("local processes", "ray")
    blocks.append(("p", TIMING_NOTE + (PARALLEL_TIMING_NOTE if shared else "")))
    for instance in dict.fromkeys(results[instance_column]):
        rows = results[results[instance_column] == instance]
        blocks += [("h2", f"Task: {instance}"),
                   ("h3", "Summary over seeds (mean [95% interval], or mean ± std; first row: best baseline)")]
        in_summary = summary[summary[instance_column] == instance] if instance_column in summary else summary
        blocks.append(("table", _summary_view(in_summary)))
        for prefix in FIGURE_CAPTIONS:
            path = out_dir / store.FIGURES_FOLDER / f"{prefix}_{instance_slug(str(instance))}.png"
            if path.is_file():
                blocks.append(("figure", path, _caption(path)))
        blocks += [("h3", "Every run"), ("table", _results_view(rows))]
        for run_id, label, status in zip(rows["run_id"], rows["label"], rows["status"]):
            if status != "ok" or not store.is_finished(out_dir, run_id):
                continue
            samples = store.load_run(out_dir, run_id)["metrics"].get("samples")
            if samples:
                blocks += [("h4", f"Sample outputs: {label}"), ("table", _samples_frame(samples))]
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
        if kind in ("h1", "h2", "h3", "h4"):
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
@media print {
  body { max-width: none; margin: 0; font-size: 9pt; }
  table { font-size: 7.5pt; width: 100%; table-layout: auto; page-break-inside: auto; }
  td, th { word-break: break-word; }
  tr, figure, img { page-break-inside: avoid; }
  img { max-width: 100%; max-height: 24cm; }
  details { display: block; }
  details > summary { list-style: none; font-weight: bold; }
  pre { white-space: pre-wrap; }
}
"""


def render_html(out_dir) -> str:
    """Returns report.html's text: one self-contained page, figures embedded as data URIs."""
    out_dir = Path(out_dir)
    body = []
    for block in report_blocks(out_dir):
        kind = block[0]
        if kind in ("h1", "h2", "h3", "h4", "p"):
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
                body.append(f"<details open><summary>{html.escape(title)}</summary>{figures}</details>")
    title = html.escape(f"rnnkit comparison report: {out_dir.name}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def zip_folder(out_dir, zip_path) -> Path:
    """Packs the comparison folder into one zip archive (written atomically).

    Only regular files inside the folder go in: symbolic links (to files or folders,
    inside or outside it) are left out and never followed, and so are hidden files
    (the lock, temporary files, the figures' hash).
    """
    out_dir, zip_path = Path(out_dir).resolve(), Path(zip_path).resolve()
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = store.temporary_path(zip_path)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for root, folders, files in os.walk(out_dir, followlinks=False):
                root = Path(root)
                folders[:] = sorted(f for f in folders if not f.startswith(".") and not (root / f).is_symlink())
                for name in sorted(files):
                    path = root / name
                    if name.startswith(".") or path == zip_path or path.is_symlink() or not path.is_file():
                        continue
                    archive.write(path, Path(out_dir.name) / path.relative_to(out_dir))
        os.replace(temporary, zip_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return zip_path


def build_report(out_dir, *, zip_path=None) -> Path:
    """Writes report.md and report.html into a comparison folder, from its stored files.

    The tables (results, summary, verdict, params) and the comparison figures are
    rebuilt from the finished runs on disk every time, so a report made after an
    interrupted or resumed compare shows exactly what is stored; each run's own
    figures are drawn once, when missing.

    Args:
        out_dir: A folder written by `compare` (or `rnnkit train`).
        zip_path: If given, also pack the whole folder into this zip archive.

    Returns:
        The path of report.html.
    """
    out_dir = Path(out_dir)
    # Everything is checked before anything is written.
    if not (out_dir / store.RUNS_FOLDER).is_dir():
        raise invalid("run_dir", str(out_dir), "a folder written by `rnnkit compare` or `rnnkit train`", DataError)
    if not store.finished_run_ids(out_dir):
        raise invalid("run_dir", str(out_dir), "a folder with at least one finished run (none has finished yet; "
                      "run `rnnkit compare` on it again to resume)", DataError)
    store.check_out_dir(out_dir, "run_dir")
    if zip_path is not None:
        zip_path = check_zip_path(zip_path)
    with store_lock(out_dir, "rnnkit report"):
        return _build_report_locked(out_dir, zip_path)


def check_zip_path(zip_path, name: str = "--zip") -> Path:
    """Checks that the archive can be written: its folder exists and is writable, the path is no folder."""
    zip_path = Path(zip_path)
    if zip_path.is_dir():
        raise invalid(name, str(zip_path), "a file path for the archive (a folder of that name exists)")
    parent = zip_path.absolute().parent
    if not parent.exists():
        raise invalid(name, str(zip_path), f"a path in an existing folder ({str(parent)!r} does not exist; "
                      "create it first)")
    if not parent.is_dir():
        raise invalid(name, str(zip_path), f"a path in a folder ({str(parent)!r} is a file, not a folder)")
    store.check_out_dir(parent, name)
    return zip_path


# Beside the comparison figures: the hash of the tables they were drawn from, and their names.
FIGURES_HASH = ".tables.sha256"


def _tables_hash(out_dir: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in (store.RESULTS_FILE, store.SUMMARY_FILE, store.VERDICT_FILE):
        path = out_dir / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def comparison_figures_current(out_dir) -> bool:
    """Whether the comparison figures were drawn from the tables as they are now, and all exist."""
    import json

    out_dir = Path(out_dir)
    try:
        record = json.loads((out_dir / store.FIGURES_FOLDER / FIGURES_HASH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("tables") != _tables_hash(out_dir):
        return False
    return all((out_dir / store.FIGURES_FOLDER / str(name)).is_file() for name in record.get("figures", ()))


def update_comparison_figures(out_dir) -> bool:
    """Redraws the comparison figures only when the tables changed or a figure is missing.

    Returns:
        True when they were redrawn.
    """
    out_dir = Path(out_dir)
    if comparison_figures_current(out_dir):
        return False
    record = out_dir / store.FIGURES_FOLDER / FIGURES_HASH
    record.unlink(missing_ok=True)  # Gone while drawing: an interrupted drawing is redone.
    written = write_comparison_figures(out_dir)
    store.write_json(record, {"tables": _tables_hash(out_dir), "figures": sorted(p.name for p in written)})
    return True


def _build_report_locked(out_dir: Path, zip_path) -> Path:
    # Tables always come from the finished runs on disk, never from older files; the
    # figures are redrawn when those tables changed or a figure is missing.
    store.write_tables(out_dir)
    update_comparison_figures(out_dir)
    for run_id in store.load_results(out_dir)["run_id"]:
        if store.is_finished(out_dir, run_id) and not store.has_figures(out_dir, run_id):
            write_run_figures(out_dir, run_id)
    store.write_text(out_dir / REPORT_MD, render_markdown(out_dir))
    path = store.write_text(out_dir / REPORT_HTML, render_html(out_dir))
    if zip_path is not None:
        zip_folder(out_dir, zip_path)
    return path
