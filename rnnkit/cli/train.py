"""`rnnkit train`: train one configuration into its own folder (a one-run comparison)."""

from __future__ import annotations

import argparse

from rnnkit.cli.compare import add_grid_flags, apply_flags, print_table
from rnnkit.config import CELLS, VARIETIES

EXAMPLES = """examples:
  rnnkit train --task adding --cell lstm --units 16 --epochs 5
  rnnkit train --task adding --cell gru --variety one_to_one --option timesteps=20
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one configuration into its own folder",
        description="Trains one model on one task and stores it like a one-run comparison: "
        "config.json, history.csv, metrics.json, params.csv, figures and report.html.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", required=True, help="task name (see `rnnkit tasks`)")
    parser.add_argument("--cell", default="lstm", choices=CELLS, help="the recurrent cell (default lstm)")
    parser.add_argument("--variety", choices=VARIETIES,
                        help="the model's variety (default: the task's; one_to_one is the MLP baseline)")
    parser.add_argument("--bidirectional", action="store_true", help="bidirectional recurrent layers")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    add_grid_flags(parser, many=False)
    parser.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.harness.grid import expand_grid
    from rnnkit.harness.runner import default_out_dir, run_single
    from rnnkit.report.report import build_report

    grid = {
        "tasks": [args.task],
        "cells": [args.cell],
        "varieties": [args.variety or "task"],
        "model": {"bidirectional": True} if args.bidirectional else {},
        "seeds": [args.seed],
    }
    (run_config,) = expand_grid(apply_flags(grid, args))
    out_dir = args.out or default_out_dir("train")
    print(f"rnnkit train: {run_config.label} -> {out_dir}")
    results = run_single(run_config, out_dir, verbose=2 if args.verbose else 0, tensorboard=args.tensorboard)
    print_table(results)
    row = results.iloc[0]
    if row["status"] != "ok":
        print(f"run {row['status']}: {row['error']}")
    print(f"report: {build_report(out_dir)}")
    return 0 if row["status"] == "ok" else 1
