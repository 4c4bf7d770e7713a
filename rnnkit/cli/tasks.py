"""`rnnkit tasks`: list the registered tasks with their shapes, sizes and sources.

Each task is built with its default (small) options to show real shapes; it takes well
under a second in all. Real-data tasks whose file is not on this machine are listed with
a note instead (nothing is downloaded), and so are tasks that need a `path` option.
"""

from __future__ import annotations

import argparse

from rnnkit.data.tasks import get_task, get_task_entry, task_names
from rnnkit.errors import DataError

COLUMNS = ("name", "variety", "input", "output", "train", "validation", "test", "source")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tasks", help="list the registered tasks (shapes, sizes, sources)",
        description="List the registered tasks, built with default options to show shapes and sizes.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these tasks (default: all)")
    parser.add_argument("--describe", action="store_true",
                        help="also print each task's description, options and defaults")
    parser.set_defaults(run=run)
    return parser


def task_rows(names=None) -> list[dict]:
    """Returns one row per task: the `Task.summary()` facts, or registry facts plus a note."""
    from rnnkit.data.loaders import DATASETS, TASK_DATASETS, local_copy

    rows = []
    for name in names or task_names():
        entry = get_task_entry(name)
        row = {"name": name, "variety": entry.variety, "source": entry.source, "note": ""}
        dataset = TASK_DATASETS.get(name)
        if dataset is not None and local_copy(dataset) is None:
            row["note"] = (f"{DATASETS[dataset].file_name} not found: set RNNKIT_DATA_DIR, pass "
                           "path=, or let the loader download it")
        else:
            try:
                row.update(get_task(name).summary(), note="")
                row["source"] = entry.source
            except DataError as error:  # e.g. csv_forecast and text_lm need a `path`.
                row["note"] = f"needs options: {error}"
        rows.append(row)
    return rows


def _options_text(name: str) -> str:
    import inspect

    entry = get_task_entry(name)
    parameters = inspect.signature(entry.factory).parameters.values()
    return ", ".join(f"{p.name}={p.default!r}" for p in parameters)


def run(args) -> int:
    rows = task_rows(args.names)
    widths = {column: max(len(column), *(len(str(row.get(column, ""))) for row in rows))
              for column in COLUMNS[:-1]}
    print("  ".join(column.ljust(widths.get(column, 0)) for column in COLUMNS))
    for row in rows:
        cells = [str(row.get(column, "-")).ljust(widths[column]) for column in COLUMNS[:-1]]
        print("  ".join(cells + [row["source"]]))
        if row["note"]:
            print(f"    note: {row['note']}")
        if args.describe:
            entry = get_task_entry(row["name"])
            print(f"    options: {_options_text(row['name'])}")
            print(f"    {entry.description}")
            for line in _baseline_lines(row["name"]):
                print(f"    {line}")
    return 0


def _baseline_lines(name: str) -> list[str]:
    """The task's trivial baselines at its default options, on validation and test."""
    from rnnkit.training.baselines import BASELINE_TEXT, task_baselines, task_primary_metric

    try:
        task = get_task(name)
    except DataError:
        return []
    primary = task_primary_metric(task)
    lines = [f"baselines (primary metric: {primary}; any model must beat these):"]
    for baseline, scores in task_baselines(task).items():
        shown = ", ".join(
            f"{split} {metric} {value:.4g}"
            for split in ("validation", "test")
            for metric, value in (scores.get(split) or {}).items()
            if metric in (primary, "loss")
        )
        lines.append(f"  {baseline} ({BASELINE_TEXT[baseline]}): {shown}")
    return lines
