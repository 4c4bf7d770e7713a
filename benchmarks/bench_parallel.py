"""Times `rnnkit compare` with 1 and 2 local workers and on a local Ray, and prints the speedups.

Usage:

    python benchmarks/bench_parallel.py [--repeats 2] [--grids quick small16] [--variants w1 w2 ray]
                                        [--json out.json]

Each variant is the command a student types, run as a subprocess into a fresh folder
(`rnnkit compare [--quick | GRID] --out DIR --no-report --no-progress` plus `--workers 1`,
`--workers 2` or `--ray`), so every figure includes starting Python, loading TensorFlow
in each process that trains, and for Ray starting a local Ray. The variants alternate
within each repeat, so that they share the machine's load; min and median over the
repeats are printed, with the speedup of each variant over `--workers 1`
(serial seconds / variant seconds; the goal is at least 0.8 W for W workers up to the
number of cores), and `uptime` before and after.

Grids:

- `quick`: the built-in quick grid (8 runs: adding at 30 steps, SimpleRNN, LSTM, GRU and
  the MLP, 2 seeds, 8 epochs);
- `small16`: 16 small runs (adding at 10 steps, 400 samples, SimpleRNN and GRU at 4 and
  8 units, 4 seeds, 2 epochs), where the fixed cost per run dominates.
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

import yaml

SMALL16 = {
    "tasks": [{"name": "adding", "options": {"timesteps": 10, "num_samples": 400}}],
    "cells": ["simple_rnn", "gru"],
    "model": {"units": [4, 8]},
    "train": {"epochs": 2, "batch_size": 32},
    "seeds": [0, 1, 2, 3],
}
VARIANTS = {"w1": ["--workers", "1"], "w2": ["--workers", "2"], "ray": ["--ray"]}
WORKERS = {"w1": 1, "w2": 2, "ray": 2}


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_variant(grid: str, variant: str, folder: Path) -> float:
    if grid == "quick":
        source = ["--quick"]
    else:
        path = folder.parent / f"{grid}.yaml"
        path.write_text(yaml.safe_dump(SMALL16))
        source = [str(path)]
    command = [sys.executable, "-m", "rnnkit", "compare", *source, "--out", str(folder), "--no-report",
               "--no-progress", *VARIANTS[variant]]
    started = time.perf_counter()
    finished = subprocess.run(command, check=False, capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{finished.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--grids", nargs="+", default=["quick", "small16"], choices=["quick", "small16"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args()
    print(f"cores {len(os.sched_getaffinity(0))}, load average before: {load_average()}")
    timings = {grid: {variant: [] for variant in args.variants} for grid in args.grids}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as root:
        for repeat in range(args.repeats):
            for grid in args.grids:
                for variant in args.variants:
                    folder = Path(root) / f"{grid}-{variant}-{repeat}"
                    seconds = run_variant(grid, variant, folder)
                    timings[grid][variant].append(seconds)
                    print(f"repeat {repeat + 1} {grid:8s} {variant:4s} {seconds:7.1f} s  (load {load_average()})",
                          flush=True)
    print(f"\nload average after: {load_average()}")
    print("\n| grid | variant | seconds (min / median) | speedup over w1 (min / median) | goal 0.8 W |")
    print("|---|---|---|---|---|")
    for grid, by_variant in timings.items():
        serial = by_variant.get("w1")
        for variant, values in by_variant.items():
            low, middle = min(values), statistics.median(values)
            if serial:
                speedup = f"{min(serial) / low:.2f} / {statistics.median(serial) / middle:.2f}"
            else:
                speedup = "n/a"
            goal = f"{0.8 * WORKERS[variant]:.1f}"
            print(f"| {grid} | {variant} | {low:.1f} / {middle:.1f} | {speedup} | {goal} |")
    if args.json:
        args.json.write_text(json.dumps({"timings": timings, "load_after": load_average()}, indent=2))


if __name__ == "__main__":
    main()
