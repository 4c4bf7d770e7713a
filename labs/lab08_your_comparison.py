"""Lab 8: your own comparison, from a grid file to a report you can hand in.

Title: Write a grid, run the comparison harness, read and hand in the report
Goal: Describe a comparison in a small YAML grid file (tasks, cells, sizes, training
    settings, seeds), run every configuration with `rnnkit.compare`, build the report
    with `rnnkit.build_report`, and read the three files a course project hands in:
    results.csv, params.csv and report.html. Then do the same from the command line.
Estimated run time (measured on an idle 2-core CPU machine, imports included):
    --quick about 8 s (quiet machine, 2026-11-27; 19 s at load 5.6); full 35 s.

Run it:

    python labs/lab08_your_comparison.py --quick --out labs_out/lab08

The same comparison from the command line (this lab prints the exact commands):

    rnnkit compare labs_out/lab08/grid.yaml --out labs_out/lab08/comparison
    rnnkit report labs_out/lab08/comparison

Outputs (in `--out`, default `labs_out/lab08`): `grid.yaml`, `summary.json` and the comparison
folder `comparison/` (results.csv, summary.csv, params.csv, figures/, runs/, report.md,
report.html).
"""

# ## Introduction
#
# A claim such as "a GRU beats a SimpleRNN on the adding problem" needs evidence: the
# same data for every model, the same training budget, more than one seed, and the
# cost of each model (parameters, seconds per epoch) next to its score. The comparison
# harness does the bookkeeping:
#
# - the *grid* (a YAML file) lists what to sweep; every list is crossed with every other;
# - `compare` trains each configuration one after another, stores each run in its own
#   folder as soon as it finishes (a crash or Ctrl-C loses at most the run in progress;
#   started again on the same folder it skips finished runs), and writes the tables;
# - `build_report` turns the stored files into report.md and report.html, with every
#   figure embedded, so the folder can be zipped and handed in.
#
# The grid below compares recurrent cells on the adding problem against `one_to_one`,
# a multilayer perceptron on the flattened sequence: the non-sequence baseline that
# every recurrent model must beat to justify its recurrence.

# ## Setup

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

# rnnkit before keras: it keeps TensorFlow's start-up lines off stderr (see --verbose).
import rnnkit

# isort: split
import keras
import pandas as pd
import yaml

SEED = 0
QUICK_GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 300}}],
    "cells": ["simple_rnn", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 8},
    "train": {"epochs": 2, "learning_rate": 0.01},
    "seeds": [0],
}
# Three seeds: the unit of evidence. With fewer, the verdict names no winner.
FULL_GRID = {
    "tasks": [{"name": "adding", "options": {"timesteps": 30, "num_samples": 3000}}],
    "cells": ["simple_rnn", "lstm", "gru"],
    "varieties": ["task", "one_to_one"],
    "model": {"units": 16},
    "train": {"epochs": 8, "learning_rate": 0.01},
    "seeds": [0, 1, 2],
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lab 8: your own comparison with the harness.")
    parser.add_argument("--quick", action="store_true", help="a toy grid (well under a minute)")
    parser.add_argument(
        "--out", default="labs_out/lab08", help="output folder (default labs_out/lab08)"
    )
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    return parser.parse_args(argv)


# ## Data
#
# The data is named in the grid (`tasks`), not loaded here: every run builds its task
# from the name and options, with the same data seed, so every model sees the same
# samples. We still build it once to show its trivial baselines: the bar any model
# must clear before it can be said to have learned anything.


def baseline_scores(grid: dict) -> dict:
    """Test scores of the task's trivial baselines, e.g. {"mean": {"mse": 0.16, ...}}."""
    choice = grid["tasks"][0]
    task = rnnkit.get_task(choice["name"], **choice.get("options", {}))
    return {name: scores["test"] for name, scores in rnnkit.task_baselines(task).items()}


# ## Model
#
# The models are named in the grid too: `cells` x `varieties` x `model` settings. The
# file is plain YAML, so you can edit it and rerun without touching Python.


def write_grid(grid: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(grid, sort_keys=False), encoding="utf-8")
    return path


# ## Train


def run_comparison(grid_path: Path, comparison_dir: Path) -> tuple[pd.DataFrame, float]:
    """Runs the grid and returns its results table and the seconds it took."""
    started = time.perf_counter()
    results = rnnkit.compare(grid_path, comparison_dir, progress=False)
    return results, time.perf_counter() - started


# ## Results


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.verbose:
        rnnkit.set_verbose()
    grid = QUICK_GRID if args.quick else FULL_GRID
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()

    grid_path = write_grid(grid, out / "grid.yaml")
    runs = rnnkit.expand_grid(rnnkit.load_grid(grid_path))
    print(f"{grid_path} expands to {len(runs)} runs:")
    for run in runs:
        print(f"  {run.run_id}  {run.label}")

    comparison_dir = out / "comparison"
    first, compare_seconds = run_comparison(grid_path, comparison_dir)
    # Started again on the same folder, compare finds every run finished and trains
    # nothing: the stored fit times must come back unchanged.
    again, resume_seconds = run_comparison(grid_path, comparison_dir)
    retrained = int((first["fit_seconds"].to_numpy() != again["fit_seconds"].to_numpy()).sum())
    report_path = rnnkit.build_report(comparison_dir)

    results = pd.read_csv(comparison_dir / "results.csv")
    params = pd.read_csv(comparison_dir / "params.csv")
    baselines = baseline_scores(grid)
    baseline = baselines["mean"]["mse"]
    ok = results[results["status"] == "ok"]
    # The same rule as the report: the verdict ranks configurations on the test value of
    # the task's primary metric (weights of the best validation epoch) and names a winner
    # only outside the seeds' noise.
    verdict = rnnkit.load_verdict(comparison_dir)
    best = verdict.iloc[0]

    summary = {
        "num_runs": len(results),
        "num_ok": len(ok),
        "constant_guess_test_mse": baseline,
        "best_test_mse": float(best["mean"]),
        "best_learned": float(str(best["learned"]) == "True"),
        "compare_seconds": compare_seconds,
        "resume_seconds": resume_seconds,
        "runs_retrained_on_resume": retrained,
        "param_formulas_match": float(params["match"].all()),
    }
    for row in results.itertuples():
        key = row.label.replace(" ", "_")
        summary[f"{key}_test_mse"] = row.test_mse
        summary[f"{key}_params"] = row.params
        summary[f"{key}_seconds_per_epoch"] = row.seconds_per_epoch
    summary["run_seconds"] = time.perf_counter() - started
    summary = {key: float(value) for key, value in summary.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    print("\nWhat to look at")
    columns = ["label", "status", "params", "test_mse", "best_val_loss", "seconds_per_epoch"]
    print(results[columns].to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    listed = ", ".join(f"{name} MSE {scores['mse']:.4f}" for name, scores in baselines.items())
    print(f"- Baselines on test: {listed}.")
    print("- The verdict (as in the report's first section):")
    for line in rnnkit.verdict_lines(verdict):
        print(f"    {line}")
    print(
        f"- Best mean: {best['label']} with test MSE {best['mean']:.4f} over {int(best['n'])} seed(s); "
        f"always guessing the training mean scores {baseline:.4f}."
    )
    print(
        f"- The grid took {compare_seconds:.1f} s; started again on the same folder it took "
        f"{resume_seconds:.1f} s and retrained {retrained} of {len(results)} runs."
    )
    print(
        f"- Every parameter count in params.csv matches its formula: {bool(params['match'].all())}."
    )
    print(
        f"- Hand in the folder {comparison_dir}: results.csv (one row per run), params.csv (per "
        f"layer, formula and Keras count), summary.csv (mean and std over seeds), figures/, and "
        f"{report_path} (open it in a browser)."
    )
    print("- The same from the command line:")
    print(f"    rnnkit compare {grid_path} --out {comparison_dir}")
    print(f"    rnnkit report {comparison_dir} --zip")

    # ## Exercises
    #
    # Printed at the end of every run, and listed in labs/README.md.
    print(textwrap.dedent("""
        Exercises
        1. Open report.html. Which cell has the lowest test MSE, and does it beat both the
           constant guess (`constant_guess_test_mse`) and the one_to_one baseline ("mlp")?
        2. In params.csv, find the formula of each recurrent layer and check one by hand.
           Which cell would you pick if each parameter cost you money?
        3. (Course question 3, by measurement) Edit grid.yaml: set `timesteps: [10, 50]`
           under the task options, and `seeds: [0, 1, 2]`. Rerun `rnnkit compare grid.yaml
           --out ...` into a NEW folder, then `rnnkit report` on it. Does the ranking of the
           cells change with the length, and what does that say about the gradient that has to
           travel back through 50 steps? Is the difference between two cells larger than the
           spread over seeds (summary.csv)?
        4. Interrupt a compare with Ctrl-C and start the same command again. Which runs are
           redone? (Look at `resume_seconds` for the case where none are.)
        5. Write one claim about the cells you compared, and name the figure and the numbers
           in your report that support it (course section 7: diagnostics to hand in).
        """))
    return summary


if __name__ == "__main__":
    main()
