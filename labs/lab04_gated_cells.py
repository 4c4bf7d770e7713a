"""Lab 4: Gated cells (LSTM and GRU) against SimpleRNN on long-range dependencies.

Title: LSTM and GRU vs SimpleRNN on the adding problem
Goal: Train the three cells with the same number of units on the adding problem for a
    sweep of sequence lengths, and put parameter counts next to held-out MSE and an
    accuracy-like score (share of predictions within 0.04 of the target).
Estimated run time (measured on an idle 2-core CPU machine, imports included):
    --quick about 11 s (one length, T=25; quiet machine, 2026-11-27; 19 s at load 3.9); full 65 s.

Run it:

    python labs/lab04_gated_cells.py            # full setting
    python labs/lab04_gated_cells.py --quick    # tiny sizes
    python labs/lab04_gated_cells.py --out DIR  # where figures and tables go

Outputs (in `--out`, default `labs_out/lab04`): `results.csv`, `params.csv`,
`score_vs_timesteps.png`, `learning_curves_longest.png`, `summary.json`.
"""

# ## Introduction
#
# The adding problem (Hochreiter & Schmidhuber, 1997): every step carries a value in
# [0, 1] and a marker; exactly two steps are marked, one in each half of the sequence,
# and the target is the sum of the two marked values. The first marked value can lie
# up to T - 1 steps before the end, so the network must keep it that long.
#
# A model that ignores its input can at best predict the mean sum, 1.0; its MSE is the
# variance of the sum of two U(0, 1) numbers, 2 * 1/12 = 1/6 ~ 0.167. Anything near 0.167
# has learned nothing. We also count the share of test samples predicted within 0.04 of
# the target (an "accuracy" for a regression task).
#
# LSTM and GRU update their state additively through gates, which lets the gradient
# (and the memory) survive many steps; SimpleRNN multiplies by W_hh at every step (see
# lab 3). At equal units the gated cells have 4x (LSTM) and 3x (GRU) more recurrent
# weights, so the table shows the parameter counts next to the scores.

# ## Setup

from __future__ import annotations

import argparse
import json
import os
import textwrap
import time

# rnnkit before keras: it keeps TensorFlow's start-up lines off stderr (see --verbose).
import rnnkit

# isort: split
import keras
import matplotlib

matplotlib.use("Agg")  # Labs write PNG files; no window is opened.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

SEED = 4
CELLS = ("simple_rnn", "lstm", "gru")
TOLERANCE = 0.04  # A prediction within this distance of the target counts as correct.


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lab 4: gated cells on the adding problem.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default="labs_out/lab04", help="output folder (default labs_out/lab04)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    return parser.parse_args(argv)


def settings(quick: bool) -> dict:
    if quick:
        # One length, long enough for SimpleRNN to stay near the mean predictor while
        # LSTM and GRU (with 16 units, 10 epochs at a large step) already learn the sum.
        return {"lengths": (25,), "num_samples": 1600, "units": 16, "epochs": 10, "batch_size": 32,
                "learning_rate": 1e-2}
    return {"lengths": (10, 40, 80), "num_samples": 3000, "units": 24, "epochs": 20, "batch_size": 32,
            "learning_rate": 3e-3}


def share_within(y_true, y_pred, tolerance: float = TOLERANCE) -> float:
    """The share of samples whose prediction lies within `tolerance` of the target."""
    return float(np.mean(np.abs(np.ravel(y_true) - np.ravel(y_pred)) <= tolerance))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.verbose:
        rnnkit.set_verbose()
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()
    sizes = settings(args.quick)

    # ## Data
    #
    # One adding task per sequence length, same number of samples (80/10/10 split).
    tasks = {
        length: rnnkit.get_task("adding", timesteps=length, num_samples=sizes["num_samples"], seed=SEED)
        for length in sizes["lengths"]
    }

    # ## Model
    #
    # The same ModelSpec for all three cells, only `cell` changes: one recurrent layer of
    # `units` units and a linear Dense head. Parameter counts come from rnnkit.param_table,
    # which checks the course formulas against Keras.
    base_spec = rnnkit.ModelSpec(variety="many_to_one", units=sizes["units"])
    config = rnnkit.TrainConfig(epochs=sizes["epochs"], batch_size=sizes["batch_size"],
                                learning_rate=sizes["learning_rate"], seed=SEED)
    param_rows = []
    for cell in CELLS:
        model = rnnkit.build_model(base_spec.replace(cell=cell), tasks[sizes["lengths"][0]])
        table = rnnkit.param_table(model).set_index("layer")
        param_rows.append({
            "cell": cell,
            "recurrent_formula": table.loc["rnn_1", "formula"],
            "recurrent_params": int(table.loc["rnn_1", "keras"]),
            "total_params": int(model.count_params()),
        })
    params = pd.DataFrame(param_rows)
    params.to_csv(os.path.join(args.out, "params.csv"), index=False)
    print("Parameters at equal units:")
    print(params.to_string(index=False))

    # ## Train
    rows, longest_histories = [], {}
    longest = max(sizes["lengths"])
    for length, task in tasks.items():
        mean_target = float(np.mean(task.train.y))
        baseline_mse = float(np.mean((task.test.y - mean_target) ** 2))
        baseline_within = share_within(task.test.y, np.full_like(task.test.y, mean_target))
        for cell in CELLS:
            result = rnnkit.run_experiment(base_spec.replace(cell=cell), task, config, gradient_flow=False)
            predictions = result.model.predict(task.test.x, verbose=0)
            rows.append({
                "timesteps": length,
                "cell": cell,
                "params": result.params["total"],
                "test_mse": result.metrics["mse"],
                f"within_{TOLERANCE}": share_within(task.test.y, predictions),
                "baseline_mse": baseline_mse,
                f"baseline_within_{TOLERANCE}": baseline_within,
                "mse_over_baseline": result.metrics["mse"] / baseline_mse,
                "fit_seconds": result.timings["fit_seconds"],
                "status": result.status,
            })
            print(f"T={length:>3} {cell:>10}: test MSE {rows[-1]['test_mse']:.4f} "
                  f"(mean predictor {baseline_mse:.4f}), within {TOLERANCE}: "
                  f"{rows[-1][f'within_{TOLERANCE}']:.2f}, {rows[-1]['fit_seconds']:.1f} s")
            if length == longest:
                longest_histories[cell] = result.history
    results = pd.DataFrame(rows)
    results.to_csv(os.path.join(args.out, "results.csv"), index=False)

    # ## Results
    figure, (mse_axis, share_axis) = plt.subplots(1, 2, figsize=(12, 4))
    for cell, group in results.groupby("cell", sort=False):
        count = int(group["params"].iloc[0])
        mse_axis.plot(group["timesteps"], group["test_mse"], "o-", label=f"{cell} ({count} params)")
        share_axis.plot(group["timesteps"], group[f"within_{TOLERANCE}"], "o-", label=f"{cell} ({count} params)")
    baseline = results.groupby("timesteps")[["baseline_mse", f"baseline_within_{TOLERANCE}"]].first()
    mse_axis.plot(baseline.index, baseline["baseline_mse"], "k:", label="predict the mean (~1/6)")
    share_axis.plot(baseline.index, baseline[f"baseline_within_{TOLERANCE}"], "k:", label="predict the mean")
    mse_axis.set_yscale("log")
    mse_axis.set_ylabel("test MSE (log scale)")
    share_axis.set_ylabel(f"share of test samples within {TOLERANCE}")
    for axis in (mse_axis, share_axis):
        axis.set_xlabel("sequence length T")
        axis.legend(fontsize=8)
    figure.suptitle(f"Adding problem, units={sizes['units']}, {sizes['epochs']} epochs")
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "score_vs_timesteps.png"), dpi=90)
    plt.close(figure)
    curves = rnnkit.plot_learning_curves(longest_histories, metric="loss")
    curves.axes[0].set_title(f"Learning curves (MSE) at T={longest}")
    rnnkit.save_figure(curves, os.path.join(args.out, "learning_curves_longest.png"))

    print("\nParameters next to scores:")
    shown = results[["timesteps", "cell", "params", "test_mse", f"within_{TOLERANCE}", "baseline_mse", "fit_seconds"]]
    print(shown.to_string(index=False, float_format=lambda value: f"{value:.4f}"))

    summary = {"units": sizes["units"]}
    for row in param_rows:
        summary[f"{row['cell']}_params"] = row["total_params"]
    for row in rows:
        key = f"{row['cell']}_T{row['timesteps']}"
        summary[f"{key}_test_mse"] = float(row["test_mse"])
        summary[f"{key}_within_{TOLERANCE}"] = float(row[f"within_{TOLERANCE}"])
    for length in sizes["lengths"]:
        summary[f"baseline_T{length}_test_mse"] = float(baseline.loc[length, "baseline_mse"])
    summary["run_seconds"] = time.perf_counter() - started
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)

    at_longest = results[results["timesteps"] == longest].set_index("cell")
    print("\nWhat to look at")
    print(f"- Parameters at units={sizes['units']}: SimpleRNN {summary['simple_rnn_params']}, "
          f"LSTM {summary['lstm_params']}, GRU {summary['gru_params']}.")
    for cell in CELLS:
        print(f"- T={longest}, {cell}: MSE {at_longest.loc[cell, 'test_mse']:.4f} "
              f"({at_longest.loc[cell, 'mse_over_baseline']:.2f} x the mean predictor's "
              f"{at_longest.loc[cell, 'baseline_mse']:.4f}), within {TOLERANCE}: "
              f"{at_longest.loc[cell, f'within_{TOLERANCE}']:.2f}.")
    print("- Follow each cell along T in score_vs_timesteps.png: where does SimpleRNN fall back "
          "to the mean predictor, and do the gated cells?")

    # ## Exercises
    #
    # Printed at the end of every run, and listed in labs/README.md.
    print(textwrap.dedent("""
        Exercises
        1. At which T does SimpleRNN stop beating the mean predictor (MSE ~ 1/6)? Relate it
           to the course's "plain RNNs handle about 10-20 steps".
        2. Give SimpleRNN as many parameters as the GRU (solve h*(h+2+1) = 3*h'*(h'+2+2) for
           h) and rerun at the longest T. Does the gap close? What does that say about
           "gated cells win because they are bigger"?
        3. Set `unit_forget_bias=False` for the LSTM (ModelSpec) and compare its learning
           curve at the longest T with the default.
        4. (Course question 3) Use rnnkit.gradient_flow on the trained models at the longest
           T: how do ||dL/dx_1|| and ||dL/dx_T|| compare for each cell?
        """))
    return summary


if __name__ == "__main__":
    main()
