"""Times the default `--quick` comparison end to end and the harness's share of it.

Usage:

    python benchmarks/bench_compare.py [--repeats 2] [--json out.json]

Each repeat runs the built-in quick grid into a fresh folder in this process (the
same code `rnnkit compare --quick` runs), then draws the figures and builds the
report, and splits the wall time into:

- fit: the sum of the runs' `fit_seconds` (Keras `model.fit`);
- trainer outside fit: the rest of `run_experiment` (seeding, build, compile,
  gradient-flow probes, held-out evaluation, decoded samples);
- harness: everything in `compare` around the trainer (tasks, clear_session, test
  predictions, atomic writes, tables): the overhead the harness adds, target < 5%;
- figures + report: per-run and comparison figures, report.md / report.html.

TensorFlow is imported and one tiny run trained before timing, so import and first
graph-tracing costs do not count. Prints min and median over repeats and `uptime`,
since the machine's load moves every figure.

`--cli SOURCE [SOURCE ...]` instead times what a student runs, `python -m rnnkit compare
--quick` from the shell (imports, backend choice, runs, report), once per source folder
(a checkout of rnnkit, e.g. this one and an export of an older commit), alternating
between them, `--repeats` times each:

    python benchmarks/bench_compare.py --cli /tmp/rnnkit-before . --repeats 2 [--workers 1]

The report's share alone (its figures above all) is timed by `bench_report.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")


def timed_trainer():
    """Wraps run_experiment to measure the seconds spent inside it."""
    from rnnkit.training.fit import run_experiment

    spent = []

    def run_fn(*args, **kwargs):
        started = time.perf_counter()
        try:
            return run_experiment(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    return run_fn, spent


def one_repeat(folder: Path) -> dict:
    from rnnkit.harness.grid import default_grid
    from rnnkit.harness.runner import compare
    from rnnkit.harness.store import load_run
    from rnnkit.report.report import build_report, write_comparison_figures, write_run_figures

    run_fn, spent = timed_trainer()
    started = time.perf_counter()
    results = compare(default_grid(quick=True), folder, progress=False, run_fn=run_fn, figures=False)
    loop = time.perf_counter() - started
    started = time.perf_counter()
    for run_id in results["run_id"]:
        write_run_figures(folder, run_id)
    write_comparison_figures(folder)
    build_report(folder)
    report = time.perf_counter() - started
    fit = sum(load_run(folder, r)["metrics"]["timings"].get("fit_seconds", 0.0) for r in results["run_id"])
    trainer = sum(spent)
    total = loop + report
    return {
        "runs": len(results),
        "ok": int((results["status"] == "ok").sum()),
        "total_seconds": total,
        "seconds_per_run": total / len(results),
        "fit_seconds": fit,
        "trainer_outside_fit_seconds": trainer - fit,
        "harness_seconds": loop - trainer,
        "figures_report_seconds": report,
        "harness_share": (loop - trainer) / total,
        "outside_fit_share": (total - fit) / total,
    }


def warm_up() -> None:
    """Imports TensorFlow and traces one tiny model so that no repeat pays for it."""
    from rnnkit.config import ModelSpec, TrainConfig
    from rnnkit.data.tasks import get_task
    from rnnkit.training.fit import run_experiment

    task = get_task("adding", timesteps=4, num_samples=30)
    run_experiment(ModelSpec(cell="gru", units=2), task, TrainConfig(epochs=1))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def time_cli(sources: list[Path], repeats: int, workers: int | None = None) -> dict:
    """Seconds of `python -m rnnkit compare --quick` per source folder, alternating."""
    extra = ["--workers", str(workers)] if workers is not None else []
    seconds = {str(source): [] for source in sources}
    for repeat in range(repeats):
        for source in sources:
            with tempfile.TemporaryDirectory() as folder:
                env = {**os.environ, "PYTHONPATH": str(source.resolve())}
                env.pop("KERAS_BACKEND", None)  # `auto`, as a student runs it.
                started = time.perf_counter()
                completed = subprocess.run(
                    [sys.executable, "-m", "rnnkit", "compare", "--quick", "--no-progress", *extra, "--out",
                     str(Path(folder) / "quick")], env=env, capture_output=True, text=True, check=False,
                    cwd=source)  # `python -m` puts the working folder first on the import path.
                took = time.perf_counter() - started
                where = subprocess.run([sys.executable, "-c", "import rnnkit; print(rnnkit.__file__)"], env=env,
                                       capture_output=True, text=True, check=False, cwd=source).stdout.strip()
                backend = next((line for line in completed.stdout.splitlines() if "Keras backend" in line), "")
            if completed.returncode != 0:
                print(completed.stderr[-2000:], file=sys.stderr)
            seconds[str(source)].append(took)
            print(f"repeat {repeat + 1} {source}: {took:.1f} s (exit {completed.returncode}) {backend.strip()}; "
                  f"rnnkit from {where}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--cli", type=Path, nargs="+", metavar="SOURCE",
                        help="time `python -m rnnkit compare --quick` from these source folders instead")
    parser.add_argument("--workers", type=int, help="with --cli: passed to `rnnkit compare` (default: its own)")
    args = parser.parse_args()
    if args.cli:
        load_before = uptime()
        if args.workers is not None and args.workers < 1:
            parser.error(f"Invalid value for `--workers`: got {args.workers}; expected a positive integer")
        seconds = time_cli(args.cli, args.repeats, args.workers)
        print(f"{'source':<40}{'min s':>10}{'median s':>10}")
        for source, values in seconds.items():
            print(f"{source:<40}{min(values):10.1f}{statistics.median(values):10.1f}")
        first = next(iter(seconds.values()))
        for source, values in list(seconds.items())[1:]:
            print(f"speed-up of {source} over {args.cli[0]}: min {min(first) / min(values):.2f}x   "
                  f"median {statistics.median(first) / statistics.median(values):.2f}x")
        print(f"uptime before: {load_before}")
        print(f"uptime after:  {uptime()}")
        if args.json:
            args.json.write_text(json.dumps({"seconds": seconds, "uptime_before": load_before}, indent=2))
        return
    load_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    warm_up()
    repeats = []
    for index in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            repeats.append(one_repeat(Path(folder) / "quick"))
        print(f"repeat {index + 1}: {repeats[-1]['total_seconds']:.1f} s", flush=True)
    load_after = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()

    print(f"default --quick grid: {repeats[0]['runs']} runs ({repeats[0]['ok']} ok), {args.repeats} repeats")
    print(f"{'measure':<32}{'min':>10}{'median':>10}")
    for key in ("total_seconds", "seconds_per_run", "fit_seconds", "trainer_outside_fit_seconds",
                "harness_seconds", "figures_report_seconds", "harness_share", "outside_fit_share"):
        values = [r[key] for r in repeats]
        fmt = (lambda v: f"{100 * v:9.1f}%") if key.endswith("share") else (lambda v: f"{v:10.2f}")
        print(f"{key:<32}{fmt(min(values))}{fmt(statistics.median(values))}")
    print(f"uptime before: {load_before}")
    print(f"uptime after:  {load_after}")
    if args.json:
        args.json.write_text(json.dumps({"repeats": repeats, "uptime_before": load_before,
                                         "uptime_after": load_after}, indent=2))


if __name__ == "__main__":
    main()
