"""`rnnkit compare`: run a comparison grid, store every run, build the report."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from rnnkit.checks import invalid
from rnnkit.config import CELLS, VARIETIES

EXAMPLES = """examples:
  rnnkit compare --quick                      the built-in grid at toy size (about 20 s on 2 cores)
  rnnkit compare                              the full built-in grid (39 runs; times in the README)
  rnnkit compare grid.yaml --out runs/mine    a grid file; run again to resume
  rnnkit compare --tasks adding --cells lstm gru --units 8 16 --epochs 3 --seeds 0 1
  rnnkit compare --workers 2                  two runs at a time in worker processes
  rnnkit compare --ray HEAD:6379 --gpus-per-run 0.25   every run a Ray task on a cluster
"""


def parse_option(text: str) -> tuple[str, object]:
    """Parses `KEY=VALUE`, the value read as a grid file reads it (10 -> int, 1e-3 -> float, [1, 2] -> list)."""
    from rnnkit.harness.grid import parse_value

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise invalid("--option", text, "KEY=VALUE, for example timesteps=20")
    return key.strip(), parse_value(value, f"--option {key.strip()}")


def add_grid_flags(parser: argparse.ArgumentParser, *, many: bool) -> None:
    """Declares the model and training flags shared by `compare` (lists) and `train` (one value)."""
    nargs = "+" if many else None
    sweep = " (several values are swept)" if many else ""
    parser.add_argument("--units", type=int, nargs=nargs, help=f"hidden units{sweep}")
    parser.add_argument("--num-layers", type=int, nargs=nargs, help=f"stacked recurrent layers{sweep}")
    parser.add_argument("--dropout", type=float, nargs=nargs, help=f"input dropout in [0, 1){sweep}")
    parser.add_argument("--learning-rate", type=float, nargs=nargs, help=f"optimizer learning rate{sweep}")
    parser.add_argument("--batch-size", type=int, nargs=nargs, help=f"batch size{sweep}")
    parser.add_argument("--clipnorm", type=float, nargs=nargs, help=f"gradient clipping by norm{sweep}")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a task option, e.g. --option timesteps=20 (repeatable)")
    parser.add_argument("--out", type=Path, help="output folder (default runs/<command>-<timestamp>)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs and an HParams summary (needs tensorboard)")
    parser.add_argument("--max-memory", default="auto", metavar="SIZE",
                        help="refuse a run whose estimated memory (data, parameters, one batch of "
                        "activations) exceeds SIZE, e.g. 8G or 512M; 'none' turns the guard off "
                        "(default: 80%% of the available memory)")
    parser.add_argument("--verbose", action="store_true", help="show Keras's per-epoch progress")
    parser.add_argument("--backend", choices=("auto", "tensorflow", "jax"), default=None,
                        help="Keras backend (default: KERAS_BACKEND if set, else auto: on a CPU "
                        "by a measured cost model, JAX for most grids; on a GPU a backend installed with GPU "
                        "support, TensorFlow first for LSTM and GRU (cuDNN); recorded in each run's environment)")


def apply_flags(grid: dict, args) -> dict:
    """Returns `grid` (the YAML format) with the settings the flags give replacing its own."""
    model = dict(grid.get("model") or {})
    train = dict(grid.get("train") or {})
    for flag, key in (("units", "units"), ("num_layers", "num_layers"), ("dropout", "dropout")):
        if getattr(args, flag) is not None:
            model[key] = getattr(args, flag)
    for flag in ("learning_rate", "batch_size", "clipnorm", "epochs"):
        if getattr(args, flag) is not None:
            train[flag] = getattr(args, flag)
    grid = {**grid, "model": model, "train": train}
    if args.option:
        options = dict(parse_option(text) for text in args.option)
        tasks = []
        for task in grid.get("tasks") or []:
            task = {"name": task} if isinstance(task, str) else dict(task)
            task["options"] = {**(task.get("options") or {}), **options}
            tasks.append(task)
        grid["tasks"] = tasks
    return grid


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run a grid of cells x tasks x settings x seeds and build the report",
        description="Runs every configuration of a grid (in worker processes, or on Ray), stores each run, "
        "then writes results.csv, summary.csv, params.csv, comparison figures and report.html. "
        "Started again with the same --out, finished runs are skipped.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("grid", nargs="?", type=Path, help="a grid YAML file (default: the built-in grid)")
    parser.add_argument("--quick", action="store_true", help="the built-in grid at toy size")
    parser.add_argument("--tasks", nargs="+", help="task names (see `rnnkit tasks`)")
    parser.add_argument("--cells", nargs="+", choices=CELLS, help="cells to compare")
    parser.add_argument("--varieties", nargs="+", choices=("task", *VARIETIES),
                        help="varieties ('task' = each task's own; one_to_one adds the MLP baseline)")
    parser.add_argument("--seeds", type=int, nargs="+", help="run seeds (3 or more give intervals)")
    parser.add_argument("--match-params", type=int, metavar="N",
                        help="choose each model's units so that its parameter count is closest to N")
    parser.add_argument("--select", nargs="+", metavar="FIELD",
                        help="swept settings chosen per configuration on validation (e.g. learning_rate)")
    add_grid_flags(parser, many=True)
    parser.add_argument("--workers", default="auto", metavar="N",
                        help="worker processes training runs at the same time: a number, or 'auto' (default: "
                        "one per core, no more than the runs to do and the memory allows); 1 trains every "
                        "run in this process, one after another")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run every run as a Ray task: on the cluster at ADDRESS (HOST:PORT of its head, "
                        "or 'auto' for the one `ray start` made on this machine), or, without ADDRESS, on a "
                        "new local Ray; results land in --out on this machine")
    parser.add_argument("--cpus-per-run", type=float, default=1, metavar="C",
                        help="with --ray: CPUs each run reserves, and its thread limit (default 1)")
    parser.add_argument("--gpus-per-run", type=float, default=0, metavar="G",
                        help="with --ray: GPUs each run reserves; a fraction such as 0.25 lets four small "
                        "runs share a GPU (default 0)")
    parser.add_argument("--retry-failed", action="store_true", help="run the failed runs again")
    parser.add_argument("--no-report", action="store_true", help="skip report.md / report.html")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar over runs")
    parser.set_defaults(run=run, check=check, planned_runs=planned_runs)


def planned_runs(args) -> list:
    """The runs the arguments describe (for `--backend auto`; Keras is not imported)."""
    from rnnkit.harness.grid import expand_grid, load_grid

    return expand_grid(load_grid(build_grid(args)))


def build_grid(args) -> dict:
    """The grid the arguments describe: a file or the built-in grid, then the flags."""
    from rnnkit.harness.defaults import default_grid_dict
    from rnnkit.harness.grid import read_grid_file

    if args.grid is not None and args.quick:
        raise invalid("--quick", True, "no grid file (--quick shrinks the built-in grid)")
    grid = read_grid_file(args.grid) if args.grid is not None else default_grid_dict(args.quick)
    if not isinstance(grid, dict):
        raise invalid("grid", str(args.grid), "a YAML mapping with keys tasks, cells, model, train, seeds")
    if args.tasks:
        given = {(t if isinstance(t, str) else t.get("name")): t for t in grid.get("tasks") or []}
        grid["tasks"] = [given.get(name, name) for name in args.tasks]
    for flag in ("cells", "varieties", "seeds", "select"):
        if getattr(args, flag):
            grid[flag] = getattr(args, flag)
    if args.match_params is not None:
        grid["match_params"] = args.match_params
        grid.get("model", {}).pop("units", None)  # The budget chooses the units.
    return apply_flags(grid, args)


def print_table(results) -> None:
    """Prints the short results table: one line per run."""
    columns = [c for c in ("label", "status", "params", "best_val_loss", "seconds_per_epoch") if c in results]
    print(results[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def print_verdict(out_dir) -> None:
    """Prints the verdict of every task instance: did-not-learn first, then the ranking."""
    from rnnkit.harness import store

    verdict = store.load_verdict(out_dir)
    print("\nVerdict (test primary metric; 95% intervals over seeds, cut at the metric's possible range):")
    for line in store.verdict_lines(verdict):
        print(f"  {line}")
    if verdict.empty:
        return
    for instance, rows in verdict.groupby("task_instance", sort=False):
        print(f"\n  {instance}")
        for _, row in rows.iterrows():
            interval = "" if pd.isna(row["ci_low"]) else f" [{row['ci_low']:.4g}, {row['ci_high']:.4g}]"
            learned = {True: "learned", False: "DID NOT LEARN"}.get(_truth(row["learned"]), "?")
            selected = f" ({row['selected']})" if isinstance(row.get("selected"), str) and row["selected"] else ""
            print(f"    {row['label']}{selected}: {row['metric']} {row['mean']:.4g}{interval} n={int(row['n'])} "
                  f"{learned}; {row['verdict']}")


def check_common(args, grid) -> None:
    """The checks `compare` and `train` share that need no TensorFlow: folder, memory, data sizes."""
    from rnnkit.errors import StoreLockedError
    from rnnkit.harness import lock, store
    from rnnkit.harness.resources import check_grid_memory, memory_limit

    if args.out is not None:
        store.check_out_dir(args.out)
        holder = lock.read_holder(args.out)
        if holder is not None and not lock.is_stale(holder):  # Said now, not after loading TensorFlow.
            raise StoreLockedError(lock.describe(holder, args.out))
    check_grid_memory(grid, memory_limit(args.max_memory))


def check(args) -> None:
    """Everything that can be checked before TensorFlow is imported: grid, folder, data sizes,
    workers and the Ray address."""
    from rnnkit.harness.executors import check_ray_address, check_workers
    from rnnkit.harness.grid import load_grid

    check_common(args, load_grid(build_grid(args)))
    args.workers = check_workers(args.workers)
    if args.ray is not None:
        if args.workers not in (1, "auto"):
            raise invalid("--workers", args.workers, "'auto' or 1 with --ray (Ray decides how many runs run at once)")
        check_ray_address(args.ray)
    elif args.gpus_per_run:
        raise invalid("--gpus-per-run", args.gpus_per_run, "0 without --ray (GPUs per run are Ray resources)")
    # Runs train in this process only with --workers 1 (or auto on one core / one run, decided later).
    args.in_process = args.ray is None and args.workers == 1


def print_failures(results) -> None:
    """One line per run that did not finish normally: its status and the exception's own line."""
    for _, row in results[results["status"] != "ok"].iterrows():
        print(f"run {row['label']} {row['status']}: {row['error']}")


def run(args) -> int:
    from rnnkit.harness.grid import load_grid
    from rnnkit.harness.runner import compare, default_out_dir
    from rnnkit.report.report import build_report

    grid = load_grid(build_grid(args))
    out_dir = args.out or default_out_dir("compare")
    requested = getattr(args, "backend_requested", None) or args.backend
    chosen = f"Keras backend {requested}{' (chosen by the size of the runs; on a GPU, by which backend can use it)' if requested == 'auto' else ''}"
    if args.ray is not None:
        how = f"{f'Ray at {args.ray}' if args.ray != 'local' else 'a local Ray'}, {chosen}"
    elif args.in_process:
        how = f"Keras backend {args.backend}"
    else:
        how = f"workers {args.workers}, {chosen}"
    print(f"rnnkit compare: writing to {out_dir} ({how})")
    results = compare(grid, out_dir, verbose=2 if args.verbose else 0, progress=not args.no_progress,
                      tensorboard=args.tensorboard, retry_failed=args.retry_failed, max_memory=args.max_memory,
                      workers=args.workers, ray=args.ray, backend=None if args.in_process else requested,
                      cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    print_failures(results)
    from rnnkit.harness import store
    from rnnkit.report.report import execution_line

    print(execution_line(store.load_environment(out_dir)))
    print_verdict(out_dir)
    if not args.no_report:
        print(f"report: {build_report(out_dir)}")
    print(f"results: {Path(out_dir) / 'results.csv'}")
    return 0


def _truth(value):
    if isinstance(value, str):
        return {"True": True, "False": False}.get(value)
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else bool(value)
