"""The run store: one folder per run on disk, written atomically, read back for reports.

Layout of a comparison folder:

```
OUT/
  grid.yaml  environment.json          the grid as given; versions, device, date
  results.csv  summary.csv  params.csv one row per run; mean/std over seeds; per layer
  figures/                             comparison figures
  runs/<run_id>/
    config.json  history.csv  metrics.json  params.csv  predictions.json
    status.json                        written last: its presence marks a finished run
    figures/*.png                      drawn from the files above (learning curve, ...)
```

Every file is written to a temporary name in the same folder and then renamed with
`os.replace`, so a killed process leaves either the old file or the new one, never
half of one. `status.json` is written last and lists the run's files; a run counts as
finished only when it parses and every listed file exists.

Example:

```python
results = load_results("runs/compare-20240101-120000")
results[["label", "status", "best_val_loss"]]
```
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.checks import invalid
from rnnkit.errors import DataError, OutputError
from rnnkit.training.result import STATUS_DIVERGED, STATUS_FAILED, STATUS_NAN, STATUS_OK

# `nan_loss` is what stores written before the `diverged` status hold; both still read.
STATUSES = (STATUS_OK, STATUS_DIVERGED, STATUS_NAN, STATUS_FAILED)
# A run id as `RunConfig.run_id` makes it: 10 lowercase hex digits. Ids read from disk
# (folder names, results.csv) are checked against it before they become paths.
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{10}")
RUNS_FOLDER = "runs"
FIGURES_FOLDER = "figures"
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.csv"
PARAMS_FILE = "params.csv"
VERDICT_FILE = "verdict.csv"
SUMMARY_JSON = "summary.json"
GRID_FILE = "grid.yaml"
ENVIRONMENT_FILE = "environment.json"
STATUS_FILE = "status.json"
PREDICTIONS_FILE = "predictions.json"


# ----------------------------------------------------------------------------- writing


def temporary_path(path: Path) -> Path:
    """The hidden name a file or folder is written under before its atomic rename."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


# What the results call the one_to_one baseline, which has no recurrent cell.
MLP = "mlp"


def cell_name(model: dict) -> str:
    """The cell of a stored model spec, or "mlp" for the one_to_one baseline."""
    return MLP if model["variety"] == "one_to_one" else model["cell"]


def write_text(path, text: str) -> Path:
    """Writes `text` to `path` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    # No fsync: a killed process cannot lose what it wrote to the page cache, and the
    # rename is atomic; only a power cut could, and fsync would cost ~5 ms per file.
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:  # A full disk, say: the old file stays, the half-written one goes.
        _discard(temporary)
        raise
    return path


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _plain(value):
    """Converts NumPy values to JSON types; NaN and infinities become null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_json(path, values) -> Path:
    """Writes `values` as indented, strict JSON, atomically."""
    return write_text(path, json.dumps(_plain(values), indent=2, allow_nan=False) + "\n")


def write_csv(path, frame: pd.DataFrame) -> Path:
    """Writes a DataFrame as CSV (no index), atomically."""
    return write_text(path, frame.to_csv(index=False))


def write_figure(path, figure) -> Path:
    """Saves a matplotlib Figure as PNG atomically, then clears it to free its memory."""
    from rnnkit.report.plots import write_png

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        write_png(figure, temporary, dpi=90)
        os.replace(temporary, path)
    except BaseException:
        _discard(temporary)
        raise
    finally:
        figure.clear()
    return path


def check_out_dir(path, name: str = "--out") -> Path:
    """Checks, before anything is written, that `path` can be (or is) a writable folder.

    Args:
        path: The output folder; it may not exist yet.
        name: The argument's name for the messages.

    Returns:
        `path` as a Path.

    Raises:
        ConfigError: A file of that name exists, or a part of the path is a file.
        OutputError: The folder (or the nearest existing folder above it) is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise invalid(name, str(path), "a folder (a file of that name exists; choose another folder)")
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise invalid(name, str(path), f"a folder path ({str(existing)!r} is a file, not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {str(existing)!r}: permission denied; choose a folder you can write "
                          f"to with {name}, or change its permissions.")
    return path


def remove_temporary_files(out_dir) -> int:
    """Deletes leftovers of interrupted writes (`.NAME.tmp-PID` files and folders); returns how many."""
    count = 0
    for path in sorted(Path(out_dir).rglob(".*.tmp-*"), key=lambda p: len(p.parts)):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue  # Inside a folder removed just before.
        count += 1
    return count


# ----------------------------------------------------------------------------- runs


def check_run_id(run_id) -> str:
    """Returns `run_id` if it has the form of a run id (10 lowercase hex digits).

    Run ids come back from disk (folder names, results.csv); one such as `../../x` must
    never become a path outside the store.
    """
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise invalid("run_id", run_id, "a run id of 10 hexadecimal digits (as rnnkit writes them)", DataError)
    return run_id


def run_dir(out_dir, run_id: str) -> Path:
    """Returns the folder of run `run_id` inside `out_dir` (the id is checked first)."""
    return Path(out_dir) / RUNS_FOLDER / check_run_id(run_id)


def read_status(out_dir, run_id: str) -> dict | None:
    """Returns the run's status record if the run finished completely, else None."""
    folder = run_dir(out_dir, run_id)
    try:
        status = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        return None
    if not all((folder / name).is_file() for name in status.get("files", ())):
        return None
    return status


def has_figures(out_dir, run_id: str) -> bool:
    """Whether the run's figures were drawn (its figures/ folder appears complete or not at all)."""
    return (run_dir(out_dir, run_id) / FIGURES_FOLDER).is_dir()


def is_finished(out_dir, run_id: str) -> bool:
    """Whether run `run_id` has a complete record (ok, diverged or failed); False for a
    string that is not a run id."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        return False
    return read_status(out_dir, run_id) is not None


def start_run(out_dir, run_id: str) -> Path:
    """Clears whatever an interrupted or retried run left and returns its empty folder."""
    folder = run_dir(out_dir, run_id)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def history_records(history: pd.DataFrame | None) -> pd.DataFrame:
    return history if isinstance(history, pd.DataFrame) else pd.DataFrame({"epoch": []})


def write_run(out_dir, run, result, *, param_table=None, predictions=None, extra_timings=None) -> Path:
    """Stores one finished run; `status.json` goes last and marks it complete.

    Args:
        out_dir: The comparison folder.
        run: The `RunConfig`.
        result: The `RunResult` (its model is not stored).
        param_table: Optional per-layer parameter DataFrame (`rnnkit.params.param_table`).
        predictions: Optional test predictions to plot (see
            `rnnkit.harness.runner.predictions_record`), stored as predictions.json.
        extra_timings: Optional timings measured by the harness, merged into metrics.json.

    Returns:
        The run's folder.
    """
    folder = start_run(out_dir, run.run_id)
    files = []

    def record(path: Path) -> None:
        files.append(path.relative_to(folder).as_posix())

    record(write_json(folder / "config.json", {
        "run_id": run.run_id, "config_id": run.config_id, "label": run.label, **run.to_dict(),
    }))
    record(write_csv(folder / "history.csv", history_records(result.history)))
    record(write_json(folder / "metrics.json", {
        "metrics": result.metrics,
        "params": result.params,
        "timings": {**(result.timings or {}), **(extra_timings or {})},
        "environment": result.environment,
        "diagnostics": result.diagnostics,
        "samples": result.samples,
        "baselines": getattr(result, "baselines", None) or {},
        "selected_epoch": getattr(result, "selected_epoch", None),
    }))
    if param_table is not None:
        record(write_csv(folder / "params.csv", param_table))
    if predictions is not None:
        record(write_json(folder / PREDICTIONS_FILE, predictions))
    write_json(folder / STATUS_FILE, {"status": result.status, "error": result.error, "files": files})
    return folder


def load_run(out_dir, run_id: str) -> dict:
    """Reads a stored run back.

    Returns:
        A dict with `config` (the config.json dict), `status` (status.json), `history`
        (DataFrame), `metrics` (metrics.json), `params` (DataFrame or None) and
        `predictions` (predictions.json or None) and `figures` (list of paths).
    """
    status = read_status(out_dir, run_id)
    if status is None:
        folder = Path(out_dir) / RUNS_FOLDER
        raise invalid("run_id", run_id, f"a finished run under {str(folder)!r}", DataError)
    folder = run_dir(out_dir, run_id)
    params_path = folder / "params.csv"
    return {
        "config": json.loads((folder / "config.json").read_text(encoding="utf-8")),
        "status": status,
        "history": _read_csv(folder / "history.csv"),
        "metrics": json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
        "params": _read_csv(params_path) if params_path.is_file() else None,
        "predictions": _read_json(folder / PREDICTIONS_FILE),
        "figures": sorted((folder / FIGURES_FOLDER).glob("*.png")),
    }


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _finished(out_dir, run_ids) -> list[str]:
    """The given runs that finished, in their order; every finished run when `run_ids` is None."""
    if run_ids is None:
        return finished_run_ids(out_dir)
    return [run_id for run_id in run_ids if is_finished(out_dir, run_id)]


def configuration_label(label) -> str:
    """A run's label without its seed: the label of its configuration ("adding gru u8 L1")."""
    return str(label).rsplit(" seed", 1)[0]


def finished_run_ids(out_dir) -> list[str]:
    """Ids of the finished runs stored under `out_dir`, sorted."""
    folder = Path(out_dir) / RUNS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir()
                  if not path.is_symlink() and is_finished(out_dir, path.name))


# ----------------------------------------------------------------------------- tables

# Settings shown in results.csv for every run; others appear when they vary.
_ALWAYS = ("model.units", "model.num_layers", "model.bidirectional", "train.learning_rate",
           "train.epochs", "train.batch_size")


def _settings(config: dict) -> dict:
    values = {f"model.{k}": v for k, v in config["model"].items() if k not in ("cell", "variety", "name")}
    values.update({f"train.{k}": v for k, v in config["train"].items() if k != "seed"})
    values.update({f"task.{k}": v for k, v in config.get("task_options", {}).items()})
    return values


def _column(name: str) -> str:
    group, _, key = name.partition(".")
    return f"task_{key}" if group == "task" else key


def task_instance(task: str, options: dict | None) -> str:
    """Names a task with its options: "adding (num_samples=400, timesteps=10)".

    Runs of different instances are never pooled or ranked together.
    """
    options = {k: v for k, v in (options or {}).items()}
    if not options:
        return str(task)
    listed = ", ".join(f"{key}={value}" for key, value in sorted(options.items()))
    return f"{task} ({listed})"


def selected_epoch(history: pd.DataFrame, stored=None) -> int | None:
    """The 1-based epoch with the lowest validation loss (the last epoch without one).

    `stored` (the trainer's own record in metrics.json) wins when present; old stores
    without it get the same rule applied to their history.
    """
    if stored is not None:
        return int(stored)
    if not len(history):
        return None
    if "val_loss" in history:
        losses = pd.to_numeric(history["val_loss"], errors="coerce").to_numpy(dtype="float64")
        if np.isfinite(losses).any():
            return int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan))) + 1
    return len(history)


_baseline_cache: dict = {}


def _baselines(config: dict, metrics: dict) -> dict:
    """The run's stored baselines, or (older stores) the baselines of its rebuilt task."""
    if metrics.get("baselines"):
        return metrics["baselines"]
    key = json.dumps([config["task"], config.get("task_options") or {}], sort_keys=True)
    if key not in _baseline_cache:
        from rnnkit.data.tasks import get_task
        from rnnkit.training.baselines import task_baselines

        options = dict(config.get("task_options") or {})
        try:
            _baseline_cache[key] = task_baselines(get_task(config["task"], **options))
        except Exception:  # noqa: BLE001 - a task that cannot be rebuilt here has no baseline row.
            _baseline_cache[key] = {}
    return _baseline_cache[key]


def _primary_metric(metrics: dict, baselines: dict) -> str | None:
    """The task kind's primary metric (see `PRIMARY_METRICS`), told from the metrics a run has.

    Each kind has a signature set: seq2seq alone has `decoded_token_accuracy`, language
    models alone `perplexity`, per-step labels `token_accuracy` without either,
    classification `accuracy` and regression `mse`.
    """
    known = set(metrics.get("metrics") or {})
    for scores in baselines.values():
        known |= set(scores.get("test") or {})
    if "decoded_token_accuracy" in known:
        return "exact_match"
    for name in ("perplexity", "token_accuracy", "accuracy", "mse"):
        if name in known:
            return name
    return None


def _result_row(run: dict) -> dict:
    from rnnkit.training.baselines import best_baseline
    from rnnkit.training.metrics import has_direction

    config, history, metrics = run["config"], run["history"], run["metrics"]
    variety = config["model"]["variety"]
    row = {
        "run_id": config["run_id"],
        "config_id": _config_id(config),
        "label": config.get("label", config["run_id"]),
        "task": config["task"],
        "task_instance": task_instance(config["task"], config.get("task_options")),
        "variety": variety,
        "cell": cell_name(config["model"]),
    }
    row["_settings"] = _settings(config)
    row["seed"] = config["train"]["seed"]
    row["params"] = (metrics.get("params") or {}).get("total")
    row["epochs_run"] = len(history)
    selected = selected_epoch(history, metrics.get("selected_epoch"))
    row["selected_epoch"] = selected
    for column in [c for c in history.columns if c not in ("epoch", "learning_rate", "epoch_seconds")]:
        values = pd.to_numeric(history[column], errors="coerce")
        row[f"final_{column}"] = values.iloc[-1] if len(values) else None
        if column.startswith("val_") and has_direction(column):
            # The value at the selected epoch (best validation loss), whatever the metric.
            row[f"best_{column}"] = values.iloc[selected - 1] if selected else None
    for name, value in (metrics.get("metrics") or {}).items():
        if isinstance(value, (int, float)) or value is None:
            row[f"test_{name}"] = value
    baselines = _baselines(config, metrics)
    primary = _primary_metric(metrics, baselines)
    row["primary_metric"] = primary
    row["baseline_name"] = best_baseline(baselines, primary)[0] if primary else None
    metric_names = dict.fromkeys(m for scores in baselines.values() for m in (scores.get("test") or {}))
    for name in metric_names:
        row[f"baseline_test_{name}"] = best_baseline(baselines, name)[1]
    row["baseline_val_loss"] = best_baseline(baselines, "loss", split="validation")[1]
    timings = metrics.get("timings") or {}
    row["first_epoch_seconds"] = timings.get("first_epoch_seconds")
    row["seconds_per_epoch"] = timings.get("seconds_per_epoch")
    row["fit_seconds"] = timings.get("fit_seconds")
    row["status"] = run["status"]["status"]
    row["error"] = failure_line(run["status"].get("error") or "")
    return row


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Keras wraps an error raised inside a layer's call in this sentence; the cause follows in bold.
_KERAS_WRAPPER = "Exception encountered when calling"
# The longest failure line shown in a table or printed by the CLI.
MAX_FAILURE_LINE = 400


def failure_line(error: str) -> str:
    """The line of a traceback that names the exception ("TypeError: ..."), for tables.

    For an error Keras wrapped ("TypeError: Exception encountered when calling X.call()."),
    the wrapped cause (Keras prints it in bold below) is added to the line. The result is
    one line of at most 400 characters; the full traceback stays in the run's status.json.
    """
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    chosen = len(lines) - 1
    for position in range(len(lines) - 1, -1, -1):
        line = lines[position]
        head = line.split(":", 1)[0].strip()
        if not line.startswith(" ") and head.replace(".", "").replace("_", "").isalnum() and (
            head.endswith(("Error", "Exception", "Interrupt", "Exit")) or "Error" in head
        ):
            chosen = position
            break
    line = _ANSI.sub("", lines[chosen]).strip()
    if _KERAS_WRAPPER in line:
        rest = "\n".join(lines[chosen + 1:])
        start, end = rest.find("\x1b[1m"), rest.find("\x1b[0m")
        if start >= 0:
            cause = " ".join(_ANSI.sub("", rest[start:end if end > start else None]).split())
            line = f"{line.rstrip('.')}: {cause}"
    line = " ".join(line.split())
    return line if len(line) <= MAX_FAILURE_LINE else line[: MAX_FAILURE_LINE - 3] + "..."


def _config_id(config: dict) -> str:
    if "config_id" in config:
        return config["config_id"]
    from rnnkit.harness.grid import RunConfig

    return RunConfig.from_dict(config).config_id


def build_results(out_dir, run_ids=None) -> pd.DataFrame:
    """Builds the results table (one row per run) from the stored run folders.

    Args:
        out_dir: The comparison folder.
        run_ids: Runs to include, in this order; default every finished run.

    Returns:
        A DataFrame: run_id, config_id, label, task, variety, cell, the settings (units,
        num_layers, bidirectional, learning_rate, epochs, batch_size and every other
        setting that differs between runs; task options as task_<name>), seed, params,
        epochs_run, final_<history column>, best_val_<...>, test_<metric>,
        first_epoch_seconds (it includes Keras tracing the training step),
        seconds_per_epoch (steady state: median of the epochs after the first),
        fit_seconds, status, error (last line of the traceback).
    """
    run_ids = _finished(out_dir, run_ids)
    rows = [_result_row(load_run(out_dir, run_id)) for run_id in run_ids]
    if not rows:
        return pd.DataFrame(columns=["run_id", "config_id", "label", "task", "task_instance", "variety",
                                     "cell", "seed", "params", "status", "error"])
    names = list(dict.fromkeys(name for row in rows for name in row["_settings"]))
    varying = [n for n in names if len({json.dumps(r["_settings"].get(n)) for r in rows}) > 1]
    shown = [n for n in names if n in _ALWAYS or n in varying]
    table = []
    for row in rows:
        settings = row.pop("_settings")
        ordered = {k: row[k] for k in ("run_id", "config_id", "label", "task", "task_instance", "variety", "cell")}
        ordered.update({_column(n): settings.get(n) for n in shown})
        ordered.update({k: v for k, v in row.items() if k not in ordered})
        table.append(ordered)
    frame = pd.DataFrame(table)
    tail = ["first_epoch_seconds", "seconds_per_epoch", "fit_seconds", "status", "error"]
    return frame[[c for c in frame.columns if c not in tail] + tail]


def build_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Statistics over seeds of every metric, per configuration, with its baseline verdict.

    Args:
        results: The results table (`build_results` or results.csv).

    Returns:
        One row per `config_id`: the configuration columns (task instance, settings,
        primary metric, best baseline and baseline values), `num_seeds`, `num_ok`, `n`
        (finished seeds), then `<metric>_mean` and `<metric>_std` (std is empty for a
        single seed), and for the validation and test metrics `<metric>_ci_low` /
        `<metric>_ci_high` (95% Student-t interval of the mean, cut at the metric's
        possible range, e.g. at 0 for an MSE; empty below 2 seeds), and
        `learned` (True when the primary test metric beats the best baseline beyond the
        interval; see `rnnkit.harness.verdict.learned`).
    """
    from rnnkit.harness.verdict import learned, mean_interval
    from rnnkit.training.metrics import has_direction

    if results.empty:
        return pd.DataFrame(columns=["config_id", "num_seeds", "num_ok", "n"])
    measured = [c for c in results.columns if c.startswith(("final_", "best_", "test_"))]
    measured += [c for c in ("first_epoch_seconds", "seconds_per_epoch") if c in results]
    fixed = [c for c in results.columns if c not in measured
             and c not in ("run_id", "label", "seed", "status", "error", "fit_seconds", "epochs_run",
                           "selected_epoch")]
    rows = []
    for config_id, group in results.groupby("config_id", sort=False):
        row = {c: group[c].iloc[0] for c in fixed}
        row["label"] = configuration_label(group["label"].iloc[0])
        row["num_seeds"] = len(group)
        row["num_ok"] = int((group["status"] == STATUS_OK).sum())
        row["n"] = row["num_ok"]
        ok = group[group["status"] == STATUS_OK]
        for column in measured:
            values = pd.to_numeric(ok[column], errors="coerce")
            row[f"{column}_mean"] = values.mean()
            row[f"{column}_std"] = values.std()
            if column.startswith(("best_val_", "test_")):
                metric = column if has_direction(column) else None  # Cut at its range when known.
                row[f"{column}_ci_low"], row[f"{column}_ci_high"] = mean_interval(values.dropna(), metric)
        primary = row.get("primary_metric")
        if isinstance(primary, str) and f"test_{primary}" in ok:
            values = pd.to_numeric(ok[f"test_{primary}"], errors="coerce").dropna()
            row["learned"] = learned(list(values), row.get(f"baseline_test_{primary}"), primary)
        else:
            row["learned"] = None
        rows.append(row)
    frame = pd.DataFrame(rows)
    first = ["config_id", "label"]
    return frame[first + [c for c in frame.columns if c not in first]]


def grid_selection(out_dir) -> tuple[str, ...]:
    """The settings a grid selects per configuration on validation (its `select` key)."""
    import yaml

    try:
        grid = yaml.safe_load(load_grid_text(out_dir)) or {}
    except yaml.YAMLError:
        return ()
    select = grid.get("select") if isinstance(grid, dict) else None
    return tuple(select or ())


def build_verdict(results: pd.DataFrame, summary: pd.DataFrame, select=()) -> pd.DataFrame:
    """The ranked verdict of every task instance (see `rnnkit.harness.verdict`).

    Returns:
        One row per selected configuration and instance, best first within each
        instance: task_instance, then the columns of `instance_verdict`.
    """
    from rnnkit.harness.verdict import instance_verdict

    frames = []
    if summary.empty or "task_instance" not in summary:
        return pd.DataFrame()
    for instance, rows in summary.groupby("task_instance", sort=False):
        rows = rows.assign(label=[_short(label, task) for label, task in zip(rows["label"], rows["task"])])
        verdict = instance_verdict(results[results["task_instance"] == instance], rows, select)
        if not verdict.empty:
            verdict.insert(0, "task_instance", instance)
            frames.append(verdict)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _short(label: str, task: str) -> str:
    """A configuration label without its task name (the task instance is named once)."""
    label = str(label)
    return label[len(task) + 1:] if label.startswith(f"{task} ") else label


def verdict_lines(verdict: pd.DataFrame) -> list[str]:
    """The verdict in sentences, instance by instance."""
    from rnnkit.harness.verdict import headline

    if verdict.empty:
        return ["No finished run to judge."]
    lines = []
    for instance, rows in verdict.groupby("task_instance", sort=False):
        lines += headline(rows.reset_index(drop=True), instance)
    return lines


def build_params(out_dir, run_ids=None) -> pd.DataFrame:
    """Per configuration and per layer: formula, analytic and Keras parameter counts.

    One table per configuration (its first stored run with a parameter table; seeds
    share the architecture), with the run's identity columns in front.
    """
    run_ids = _finished(out_dir, run_ids)
    frames, seen = [], set()
    for run_id in run_ids:
        run = load_run(out_dir, run_id)
        config_id = _config_id(run["config"])
        if run["params"] is None or run["params"].empty or config_id in seen:
            continue
        seen.add(config_id)
        table = run["params"].copy()
        variety = run["config"]["model"]["variety"]
        identity = {
            "config_id": config_id,
            "label": configuration_label(run["config"].get("label", run_id)),
            "task": run["config"]["task"],
            "cell": cell_name(run["config"]["model"]),
            "variety": variety,
        }
        for position, (name, value) in enumerate(identity.items()):
            table.insert(position, name, value)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["config_id", "label", "task", "cell", "variety", "layer"])
    return pd.concat(frames, ignore_index=True)


def write_tables(out_dir, run_ids=None) -> dict[str, pd.DataFrame]:
    """Builds and writes results.csv, summary.csv (and summary.json), params.csv and
    verdict.csv from the finished runs on disk; returns the frames."""
    results = build_results(out_dir, run_ids)
    summary = build_summary(results)
    params = build_params(out_dir, run_ids)
    verdict = build_verdict(results, summary, grid_selection(out_dir))
    out_dir = Path(out_dir)
    write_csv(out_dir / RESULTS_FILE, results)
    write_csv(out_dir / SUMMARY_FILE, summary)
    write_text(out_dir / SUMMARY_JSON, summary.to_json(orient="records", indent=1))
    write_csv(out_dir / PARAMS_FILE, params)
    write_csv(out_dir / VERDICT_FILE, verdict)
    return {"results": results, "summary": summary, "params": params, "verdict": verdict}


# ----------------------------------------------------------------------------- reading


def _require(out_dir, name: str) -> Path:
    path = Path(out_dir) / name
    if not path.is_file():
        raise invalid("run_dir", str(out_dir), f"a comparison folder containing {name}", DataError)
    return path


def load_results(out_dir) -> pd.DataFrame:
    """Reads results.csv of a comparison folder (one row per run)."""
    return pd.read_csv(_require(out_dir, RESULTS_FILE))


def load_summary(out_dir) -> pd.DataFrame:
    """Reads summary.csv (mean and std over seeds per configuration)."""
    return _read_csv(_require(out_dir, SUMMARY_FILE))


def load_verdict(out_dir) -> pd.DataFrame:
    """Reads verdict.csv (per task instance, every configuration against the best)."""
    path = Path(out_dir) / VERDICT_FILE
    return _read_csv(path) if path.is_file() else pd.DataFrame()


def load_params(out_dir) -> pd.DataFrame:
    """Reads params.csv (per configuration, per layer parameter counts)."""
    return _read_csv(_require(out_dir, PARAMS_FILE))


def load_environment(out_dir) -> dict:
    """Reads environment.json, or returns {} when it is absent."""
    path = Path(out_dir) / ENVIRONMENT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_grid_text(out_dir) -> str:
    """Returns grid.yaml as written, or "" when it is absent."""
    path = Path(out_dir) / GRID_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else ""
