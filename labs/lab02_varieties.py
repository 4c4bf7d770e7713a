"""Lab 2: The varieties of sequence modeling, side by side.

Title: Five varieties, one SimpleRNN each
Goal: Train one small model per variety (one_to_one, one_to_many, many_to_one,
    many_to_many, seq2seq) on a task that needs it, and compare shapes, parameter counts
    and held-out scores against a trivial baseline in one table.
Estimated run time (measured on an idle 2-core CPU machine, imports included):
    --quick about 12 s (quiet machine, 2026-11-27; 30 s at load 4.5); full 18 s.

Run it:

    python labs/lab02_varieties.py            # full setting
    python labs/lab02_varieties.py --quick    # tiny sizes
    python labs/lab02_varieties.py --out DIR  # where figures and tables go

Outputs (in `--out`, default `labs_out/lab02`): `varieties.csv`, `varieties.png`,
`learning_curves.png`, `summary.json`.
"""

# ## Introduction
#
# The course sorts sequence problems by what goes in and what comes out:
#
# | variety      | in -> out                    | task here                          |
# |--------------|------------------------------|------------------------------------|
# | one_to_one   | vector -> vector             | sine window, flattened, -> next value (an MLP) |
# | many_to_one  | sequence -> vector           | the same sine window read step by step          |
# | one_to_many  | vector -> sequence           | (frequency, phase, amplitude) -> the sampled wave |
# | many_to_many | sequence -> aligned sequence | copy: output at t is the input at t - delay       |
# | seq2seq      | sequence -> other length     | reverse a string, "abc" -> "cba" + <end>          |
#
# one_to_one is not sequence modeling: it is the baseline that forgets the order of the
# input. Every recurrent model here is a SimpleRNN, so the differences come from the
# variety (how input and output are wired), not from the cell.

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

SEED = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lab 2: the five varieties side by side.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default="labs_out/lab02", help="output folder (default labs_out/lab02)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    return parser.parse_args(argv)


def settings(quick: bool) -> dict:
    """Sizes for the two modes; both are sized for every variety to beat its baseline.

    Quick reverses every string of up to 4 letters over 5 (780 exist), so its test
    strings never occur in training; its waves have 12 steps, which the learning rate of
    1e-2 fits in 5 epochs.
    """
    if quick:
        return {"num_samples": 1500, "units": 16, "epochs": 5, "timesteps": 12, "copy_delay": 2,
                "reverse_length": 4, "reverse_samples": 780, "batch_size": 32,
                "learning_rate": 1e-2}
    return {"num_samples": 2000, "units": 32, "epochs": 15, "timesteps": 20, "copy_delay": 3,
            "reverse_length": 5, "reverse_samples": 2000, "batch_size": 32,
            "learning_rate": 3e-3}


def make_setups(sizes: dict) -> list[dict]:
    """One entry per variety: the task to train on and what to score."""
    forecast = {"timesteps": sizes["timesteps"], "num_samples": sizes["num_samples"], "seed": SEED}
    return [
        {"variety": "one_to_one", "task": ("sine_forecast", forecast), "score": "mse"},
        {"variety": "many_to_one", "task": ("sine_forecast", forecast), "score": "mse"},
        {"variety": "one_to_many",
         "task": ("waveform", {"timesteps": sizes["timesteps"], "num_samples": sizes["num_samples"], "seed": SEED}),
         "score": "mse"},
        {"variety": "many_to_many",
         "task": ("copy", {"timesteps": sizes["timesteps"], "delay": sizes["copy_delay"], "num_symbols": 4,
                           "num_samples": sizes["num_samples"], "seed": SEED}),
         "score": "token_accuracy"},
        {"variety": "seq2seq",
         "task": ("reverse", {"timesteps": sizes["reverse_length"], "alphabet_size": 5,
                              "num_samples": sizes["reverse_samples"], "seed": SEED}),
         "score": "exact_match"},
    ]


def shape_text(shape) -> str:
    return "(" + ", ".join("batch" if size is None else str(size) for size in shape) + ")"


def baseline(task, score: str) -> float:
    """The score of a model that ignores its input.

    Regression: always predict the training mean (its MSE). Copy: guess a symbol (1 /
    number of symbols). Reversal: guess a whole string right, which is about zero.
    """
    if score == "mse":
        mean = np.mean(task.train.y, axis=0)
        return float(np.mean((task.test.y - mean) ** 2))
    if score == "token_accuracy":
        return 1.0 / task.params["num_symbols"]
    return 0.0


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
    # All tasks are generated and seeded (no download). Each is split 80/10/10.
    setups = make_setups(sizes)
    tasks = {setup["variety"]: rnnkit.get_task(setup["task"][0], **setup["task"][1]) for setup in setups}
    for setup in setups:
        task = tasks[setup["variety"]]
        x_shape = {key: value.shape for key, value in task.train.x.items()} if isinstance(task.train.x, dict) \
            else task.train.x.shape
        print(f"{setup['variety']:>12}: task {task.name!r}, train x {x_shape}, train y {task.train.y.shape}")

    # ## Model
    #
    # The same ModelSpec for every variety except the `variety` field; one_to_one uses
    # `units` as the width of its hidden Dense layer.
    base_spec = rnnkit.ModelSpec(cell="simple_rnn", units=sizes["units"])
    config = rnnkit.TrainConfig(epochs=sizes["epochs"], batch_size=sizes["batch_size"],
                                learning_rate=sizes["learning_rate"], seed=SEED)

    # ## Train
    rows, results = [], {}
    for setup in setups:
        variety, task = setup["variety"], tasks[setup["variety"]]
        spec = base_spec.replace(variety=variety)
        result = rnnkit.run_experiment(spec, task, config, gradient_flow=False)
        results[variety] = result
        model = result.model
        if len(model.inputs) == 1:
            model_input = shape_text(model.inputs[0].shape)
        else:  # seq2seq: name each input, encoder first.
            named = sorted((tensor.name.split(":")[0], shape_text(tensor.shape)) for tensor in model.inputs)
            model_input = " + ".join(f"{name} {shape}" for name, shape in reversed(named))
        rows.append({
            "variety": variety,
            "task": task.name,
            "model_input": model_input,
            "model_output": shape_text(model.output_shape),
            "params": result.params["total"],
            "score": setup["score"],
            "value": result.metrics[setup["score"]],
            "baseline": baseline(task, setup["score"]),
            "fit_seconds": result.timings["fit_seconds"],
        })
        print(f"trained {variety:>12}: {setup['score']} = {rows[-1]['value']:.4f} "
              f"(baseline {rows[-1]['baseline']:.4f}) in {rows[-1]['fit_seconds']:.1f} s")
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(args.out, "varieties.csv"), index=False)

    # ## Results
    #
    # One panel per variety, each showing what that model produces on held-out data.
    # Two rows of three panels (the last left empty): each panel is wide enough to read.
    figure, grid = plt.subplots(2, 3, figsize=(15, 8.5))
    axes = grid.ravel()
    axes[5].axis("off")
    shown = 40
    for axis, variety in zip(axes[:2], ("one_to_one", "many_to_one")):
        task = tasks[variety]
        predicted = results[variety].model.predict(task.test.x[:shown], verbose=0).ravel()
        axis.plot(task.test.y[:shown].ravel(), "k-", label="truth")
        axis.plot(predicted, "o--", markersize=3, label="prediction")
        axis.set_title(f"{variety}: next sine value")
        # Consecutive test windows of one series: the x axis is time.
        axis.set_xlabel("test window (time order)")
        axis.set_ylabel("value")
        axis.legend(fontsize=8)
    task = tasks["one_to_many"]
    predicted = results["one_to_many"].model.predict(task.test.x[:1], verbose=0)[0, :, 0]
    axes[2].plot(task.test.y[0, :, 0], "k-", label="truth")
    axes[2].plot(predicted, "o--", markersize=3, label="prediction")
    frequency, _phase, amplitude = task.test.x[0]
    axes[2].set_title(f"one_to_many: wave f={frequency:.2f} a={amplitude:.2f}")
    axes[2].set_xlabel("output step")
    axes[2].set_ylabel("value")
    axes[2].legend(fontsize=8)
    task = tasks["many_to_many"]
    predicted_ids = results["many_to_many"].model.predict(task.test.x, verbose=0).argmax(axis=-1)
    weights = task.test.sample_weight
    per_step = ((predicted_ids == task.test.y) * weights).sum(axis=0) / np.maximum(weights.sum(axis=0), 1)
    delay = task.params["delay"]
    axes[3].bar(np.arange(delay, per_step.size), per_step[delay:])
    axes[3].axhline(baseline(task, "token_accuracy"), color="k", linestyle=":", label="chance")
    axes[3].set_title(f"many_to_many: copy with delay {delay}")
    axes[3].set_xlabel("output step (first steps have nothing to copy)")
    axes[3].set_ylabel("accuracy")
    axes[3].legend(fontsize=8)
    samples = results["seq2seq"].samples
    lines = [f"{sample['input']!r} -> {sample['predicted']!r}  ({'ok' if sample['correct'] else 'wrong'})"
             for sample in samples]
    axes[4].axis("off")
    axes[4].text(0.0, 0.95, "seq2seq: reverse (greedy decoding)\n\n" + "\n".join(lines),
                 va="top", family="monospace", fontsize=9)
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "varieties.png"), dpi=90)
    plt.close(figure)

    histories = {variety: result.history for variety, result in results.items()}
    rnnkit.save_figure(rnnkit.plot_learning_curves(histories, metric="loss"),
                       os.path.join(args.out, "learning_curves.png"))

    print("\nThe five varieties side by side:")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))

    summary = {}
    for row in rows:
        summary[f"{row['variety']}_params"] = int(row["params"])
        summary[f"{row['variety']}_{row['score']}"] = float(row["value"])
        summary[f"{row['variety']}_baseline_{row['score']}"] = float(row["baseline"])
    summary["run_seconds"] = time.perf_counter() - started
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)

    print("\nWhat to look at")
    print(f"- one_to_one (MLP, {summary['one_to_one_params']} params) vs many_to_one (SimpleRNN, "
          f"{summary['many_to_one_params']} params) on the same windows: MSE {summary['one_to_one_mse']:.4f} "
          f"vs {summary['many_to_one_mse']:.4f} (predicting the mean: {summary['many_to_one_baseline_mse']:.4f}).")
    print(f"- one_to_many builds a whole wave from 3 numbers: MSE {summary['one_to_many_mse']:.4f} "
          f"(mean wave: {summary['one_to_many_baseline_mse']:.4f}).")
    print(f"- many_to_many copy: token accuracy {summary['many_to_many_token_accuracy']:.3f} "
          f"(chance {summary['many_to_many_baseline_token_accuracy']:.3f}).")
    print(f"- seq2seq reverse: exact match {summary['seq2seq_exact_match']:.3f} of whole held-out strings "
          "(guessing: about 0); input and output lengths differ, so it needs an encoder and a decoder.")
    print("- Compare the model_input / model_output columns: the variety is the wiring, the cell is the same.")
    if args.quick:
        print("- Quick size: 5 epochs on 1500 samples, one seed. The full run (15 epochs on 2000 samples, "
              "20 steps, about 40 s) fits every variety more closely: measured one_to_many MSE 0.11 "
              "against 0.53 for the mean wave, seq2seq exact match 0.96.")

    # ## Exercises
    #
    # Printed at the end of every run, and listed in labs/README.md.
    print(textwrap.dedent("""
        Exercises
        1. Read `model_input` and `model_output` in varieties.csv. Which varieties need the
           output length to equal the input length? Which one cannot be built that way?
        2. The one_to_one MLP and the many_to_one SimpleRNN see the same windows. Which has
           more parameters, which scores better, and why might the MLP win on short windows?
        3. (Course question 2) The many_to_many copy model predicts a distribution over
           symbols at every step from h_t, and h_t depends on all inputs up to t. Why does
           that let an RNN express p(x_t | x_1..x_(t-1))? What breaks if the delay exceeds
           what the state can remember? Rerun with a larger `copy_delay`.
        4. Change the one_to_many context to "every_step" (ModelSpec(context=...)) and compare.
        5. Why does the seq2seq exact match lag behind its teacher-forced token accuracy
           (run rnnkit.run_experiment yourself and read result.metrics)?
        """))
    return summary


if __name__ == "__main__":
    main()
