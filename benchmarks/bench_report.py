"""Times building the report of a run store, figures included, for one or more rnnkit sources.

Usage:

    MPLBACKEND=Agg python -m rnnkit compare --quick --workers 1 --out /tmp/quick   # a store, once
    git archive HEAD~3 | (mkdir -p /tmp/rnnkit-before && tar -x -C /tmp/rnnkit-before)
    python benchmarks/bench_report.py /tmp/quick --sources /tmp/rnnkit-before . --repeats 5

Each measurement copies the store into a temporary folder, deletes every figure (the
comparison figures and each run's own), and builds the report there in a new Python
process with the rnnkit of one source folder first on the import path, as
`rnnkit compare` does at its end after a fresh grid: the tables, all the figures, then
report.md and report.html. Two times come back from that process:

- cold: the first `build_report` in the process (importing matplotlib, loading fonts,
  building the mathtext parser: what `rnnkit compare` and `rnnkit report` pay once);
- warm: a second build of the same figures in the same process (the drawing alone).

Each comes as wall seconds and as the process's CPU seconds (`time.process_time`):
on a shared machine the CPU seconds move much less with the load than the wall time.

Sources alternate within each repeat, so a change of the machine's load hits all of
them alike. Prints min and median per source, the speed-up of each source over the
first, and `uptime` before and after, since the load moves every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs in the child process: argv[1] is the store copy; prints one JSON line.
CHILD = r"""
import json, shutil, sys, time
from pathlib import Path
import rnnkit.report.report as report

folder = Path(sys.argv[1])

def remove_figures():
    shutil.rmtree(folder / "figures", ignore_errors=True)
    for run_figures in (folder / "runs").glob("*/figures"):
        shutil.rmtree(run_figures)

seconds, cpu = [], []
for _ in range(2):
    remove_figures()
    started, started_cpu = time.perf_counter(), time.process_time()
    report.build_report(folder)
    seconds.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
figures = len(list(folder.glob("figures/*.png"))) + len(list(folder.glob("runs/*/figures/*.png")))
print(json.dumps({"cold": seconds[0], "warm": seconds[1], "cold_cpu": cpu[0], "warm_cpu": cpu[1],
                  "figures": figures, "rnnkit": report.__file__}))
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def check_store(path: Path) -> Path:
    if not (path / "runs").is_dir() or not (path / "results.csv").is_file():
        raise SystemExit(f"Invalid value for `store`: got {str(path)!r}; expected a folder written by "
                         "`rnnkit compare` (with runs/ and results.csv)")
    return path


def check_source(path: Path) -> Path:
    if not (path / "rnnkit" / "__init__.py").is_file():
        raise SystemExit(f"Invalid value for `--sources`: got {str(path)!r}; expected a folder holding the "
                         "rnnkit package (a checkout or an export of one)")
    return path.resolve()


def check_repeats(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"Invalid value for `--repeats`: got {value!r}; expected a positive integer")
    return int(value)


def measure(store: Path, source: Path) -> dict:
    """One report build (cold, then warm) of a figure-less copy of `store` with `source`'s rnnkit."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / store.name
        shutil.copytree(store, copy, ignore=shutil.ignore_patterns("report.html", "report.md"))
        env = {**os.environ, "PYTHONPATH": str(source), "MPLBACKEND": "Agg"}
        completed = subprocess.run([sys.executable, "-c", CHILD, str(copy)], env=env, capture_output=True,
                                   text=True, check=False, cwd=source)
    if completed.returncode != 0:
        raise SystemExit(f"building the report with {source} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a folder written by `rnnkit compare`")
    parser.add_argument("--sources", type=Path, nargs="+", default=[Path(".")], metavar="SOURCE",
                        help="folders holding rnnkit (default: this one); the first is the reference")
    parser.add_argument("--repeats", type=check_repeats, default=5)
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    store = check_store(args.store)
    sources = [check_source(source) for source in args.sources]
    load_before = uptime()
    keys = ("cold", "warm", "cold_cpu", "warm_cpu")
    times = {str(source): {key: [] for key in keys} for source in sources}
    for repeat in range(args.repeats):
        for source in sources:
            result = measure(store, source)
            for key in keys:
                times[str(source)][key].append(result[key])
            print(f"repeat {repeat + 1} {source}: cold {result['cold']:.2f} s (cpu {result['cold_cpu']:.2f}), "
                  f"warm {result['warm']:.2f} s (cpu {result['warm_cpu']:.2f}); {result['figures']} figures, "
                  f"rnnkit from {result['rnnkit']}", flush=True)
    load_after = uptime()
    print(f"seconds, min / median over {args.repeats} repeats")
    print(f"{'source':<32}" + "".join(f"{key:>16}" for key in keys))
    for source, values in times.items():
        print(f"{source:<32}" + "".join(
            f"{min(values[key]):8.2f} /{statistics.median(values[key]):6.2f}" for key in keys))
    reference = times[str(sources[0])]
    for source in sources[1:]:
        values = times[str(source)]
        print(f"speed-up of {source} over {sources[0]} (min, median):")
        for key in keys:
            print(f"  {key:<10} {min(reference[key]) / min(values[key]):.2f}x  "
                  f"{statistics.median(reference[key]) / statistics.median(values[key]):.2f}x")
    print(f"uptime before: {load_before}")
    print(f"uptime after:  {load_after}")
    if args.json:
        args.json.write_text(json.dumps({"seconds": times, "uptime_before": load_before,
                                         "uptime_after": load_after}, indent=2))


if __name__ == "__main__":
    main()
