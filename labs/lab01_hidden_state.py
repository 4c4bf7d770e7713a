"""Lab 1: Hidden state and parameters.

Title: Hidden state and parameters of a recurrent layer
Goal: See one recurrent step as matrix shapes, check the concatenation identity with a
    real layer's weights, and count the parameters of SimpleRNN, LSTM, GRU (both
    `reset_after` modes), Bidirectional and stacked models by formula and by Keras.
Estimated run time (measured on an idle 2-core CPU machine, imports included):
    --quick 4 s; full 4 s.

Run it:

    python labs/lab01_hidden_state.py            # full setting
    python labs/lab01_hidden_state.py --quick    # tiny sizes
    python labs/lab01_hidden_state.py --out DIR  # where figures and tables go

Outputs (in `--out`, default `labs_out/lab01`): `params.csv`, `length_invariance.csv`,
`summaries.txt`, `param_counts.png`, `state_vs_params.png`, `summary.json`.
"""

# ## Introduction
#
# A SimpleRNN keeps a hidden state h_t and updates it with the same weights at every step:
#
#     h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)
#
# Keras multiplies row vectors from the left, so for a minibatch of n samples the input
# X_t is (n, d), the kernel W_xh is (d, h), the previous state H is (n, h) and the
# recurrent kernel W_hh is (h, h). Both products are (n, h). Writing [X, H] (n, d + h)
# times the stacked [W_xh; W_hh] (d + h, h) gives the same numbers with one product.
#
# The weights are shared over time, so the parameter count depends on d and h only,
# never on the sequence length. The hidden *state* (one vector per sample and step)
# does grow with the length: a hidden layer is a set of weights, a hidden state is data.
#
# This lab measures all of this on real Keras layers.

# ## Setup

from __future__ import annotations

import argparse
import io
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

SEED = 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lab 1: hidden state and parameters.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a few seconds)")
    parser.add_argument("--out", default="labs_out/lab01", help="output folder (default labs_out/lab01)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    return parser.parse_args(argv)


# The course formulas, written out here independently of rnnkit.params:
# SimpleRNN h*(h+d+1); LSTM four such blocks; GRU three blocks, each with one more bias
# vector when reset_after=True (Keras keeps separate input and recurrent biases).
def course_formula(cell: str, units: int, input_dim: int, reset_after: bool = True) -> int:
    if cell == "simple_rnn":
        return units * (units + input_dim + 1)
    if cell == "lstm":
        return 4 * units * (units + input_dim + 1)
    return 3 * units * (units + input_dim + (2 if reset_after else 1))


def dense_formula(input_dim: int, units: int) -> int:
    return input_dim * units + units


def build_regressor(spec: rnnkit.ModelSpec, timesteps: int, num_features: int) -> keras.Model:
    """A many_to_one model with a one-number regression head."""
    return rnnkit.build_model(
        spec,
        input_spec=rnnkit.InputSpec(timesteps=timesteps, num_features=num_features),
        output_spec=rnnkit.OutputSpec("regression", 1),
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.verbose:
        rnnkit.set_verbose()
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()

    # Sizes: n samples in the minibatch, d features per step, h units, T steps.
    if args.quick:
        num_samples, num_features, units, timesteps = 2, 3, 4, 6
        lengths = (5, 50, 500)
    else:
        num_samples, num_features, units, timesteps = 4, 10, 32, 20
        lengths = (5, 50, 500, 5000)

    # ## Data
    #
    # Random inputs are enough: we study shapes and counts, not a task.
    rng = np.random.default_rng(SEED)
    inputs = rng.normal(size=(num_samples, timesteps, num_features)).astype("float32")
    previous_state = rng.normal(size=(num_samples, units)).astype("float32")

    # ## Model
    #
    # One SimpleRNN layer, named `rnn_1` by the builder. We read its weights by name.
    spec = rnnkit.ModelSpec(cell="simple_rnn", variety="many_to_one", units=units)
    model = build_regressor(spec, timesteps, num_features)
    rnn = model.get_layer("rnn_1")
    kernel = np.asarray(rnn.cell.kernel)  # W_xh (d, h)
    recurrent_kernel = np.asarray(rnn.cell.recurrent_kernel)  # W_hh (h, h)
    bias = np.asarray(rnn.cell.bias)  # b_h (h,)

    print("One recurrent step, shapes as Keras stores them:")
    x_step = inputs[:, 0, :]
    input_part = x_step @ kernel
    state_part = previous_state @ recurrent_kernel
    print(f"  X {x_step.shape} @ W_xh {kernel.shape} = {input_part.shape}")
    print(f"  H {previous_state.shape} @ W_hh {recurrent_kernel.shape} = {state_part.shape}")
    print(f"  sum + b_h {bias.shape} -> tanh -> new H {(input_part + state_part + bias).shape}")

    # The concatenation identity, by hand and with rnnkit.stacked_projection.
    joined_inputs = np.concatenate([x_step, previous_state], axis=1)  # (n, d + h)
    stacked_weights = np.concatenate([kernel, recurrent_kernel], axis=0)  # (d + h, h)
    by_concatenation = joined_inputs @ stacked_weights
    print(f"  [X, H] {joined_inputs.shape} @ [W_xh; W_hh] {stacked_weights.shape} = {by_concatenation.shape}")
    concat_difference = float(np.max(np.abs(by_concatenation - (input_part + state_part))))
    library_difference = float(np.max(np.abs(
        rnnkit.stacked_projection(x_step, previous_state, kernel, recurrent_kernel) - (input_part + state_part)
    )))
    print(f"  max |[X,H][W_xh;W_hh] - (X W_xh + H W_hh)| = {concat_difference:.2e} "
          f"(rnnkit.stacked_projection: {library_difference:.2e})")

    # The whole recurrence by hand, against what the Keras layer computes.
    state = np.zeros((num_samples, units), dtype="float64")
    by_hand = []
    for step in range(timesteps):
        state = np.tanh(inputs[:, step, :] @ kernel + state @ recurrent_kernel + bias)
        by_hand.append(state)
    by_hand = np.stack(by_hand, axis=1)  # (n, T, h)
    from_keras = rnnkit.hidden_states(model, inputs, layer_name="rnn_1")
    sequence_difference = float(np.max(np.abs(by_hand - from_keras)))
    print(f"  hidden states h_1..h_T {from_keras.shape}: max |by hand - Keras| = {sequence_difference:.2e}")

    # ## Train
    #
    # Nothing is trained in this lab: parameter counts and shapes are fixed at build time.
    # Instead we build one model per kind of recurrent layer and count.
    variants = [
        ("SimpleRNN", rnnkit.ModelSpec(cell="simple_rnn", units=units), "simple_rnn", True, 1, False),
        ("LSTM", rnnkit.ModelSpec(cell="lstm", units=units), "lstm", True, 1, False),
        ("GRU reset_after=True", rnnkit.ModelSpec(cell="gru", units=units, reset_after=True), "gru", True, 1, False),
        ("GRU reset_after=False", rnnkit.ModelSpec(cell="gru", units=units, reset_after=False), "gru", False, 1, False),
        ("Bidirectional LSTM", rnnkit.ModelSpec(cell="lstm", units=units, bidirectional=True), "lstm", True, 1, True),
        ("Stacked GRU (2 layers)", rnnkit.ModelSpec(cell="gru", units=units, num_layers=2), "gru", True, 2, False),
    ]
    rows, summaries = [], []
    for label, variant_spec, cell, reset_after, num_layers, bidirectional in variants:
        # A model name per variant, so the summaries below tell them apart.
        name = label.lower().replace(" ", "_").replace("=", "_").replace("(", "").replace(")", "")
        variant = build_regressor(variant_spec.replace(name=name), timesteps, num_features)
        lines = io.StringIO()
        variant.summary(print_fn=lambda line, *args, sink=lines, **kwargs: sink.write(line + "\n"))
        summaries.append(f"=== {label} ===\n{lines.getvalue()}")
        table = rnnkit.param_table(variant).set_index("layer")
        width = num_features
        for index in range(1, num_layers + 1):
            formula = course_formula(cell, units, width, reset_after) * (2 if bidirectional else 1)
            layer = variant.get_layer(f"rnn_{index}")
            rows.append({
                "model": label, "layer": layer.name, "formula_text": table.loc[layer.name, "formula"],
                "course_formula": formula, "keras_count_params": int(layer.count_params()),
            })
            width = units * (2 if bidirectional else 1)  # The next layer reads this layer's sequence.
        head = variant.get_layer("head")
        rows.append({
            "model": label, "layer": "head", "formula_text": table.loc["head", "formula"],
            "course_formula": dense_formula(width, 1), "keras_count_params": int(head.count_params()),
        })
        rows.append({
            "model": label, "layer": "TOTAL", "formula_text": "sum of the rows above",
            "course_formula": sum(row["course_formula"] for row in rows if row["model"] == label),
            "keras_count_params": int(variant.count_params()),
        })
    params = pd.DataFrame(rows)
    params["match"] = params["course_formula"] == params["keras_count_params"]
    params.to_csv(os.path.join(args.out, "params.csv"), index=False)
    with open(os.path.join(args.out, "summaries.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(summaries))

    # Parameter count against sequence length: build the same models for longer inputs.
    length_rows = []
    for cell in ("simple_rnn", "lstm", "gru"):
        for length in lengths:
            variant = build_regressor(rnnkit.ModelSpec(cell=cell, units=units), length, num_features)
            length_rows.append({
                "cell": cell, "timesteps": length, "count_params": int(variant.count_params()),
                # One h-vector per step and sample: the state grows with T, the weights do not.
                "hidden_state_values_per_sample": length * units,
            })
    lengths_table = pd.DataFrame(length_rows)
    lengths_table.to_csv(os.path.join(args.out, "length_invariance.csv"), index=False)
    length_invariant = bool(lengths_table.groupby("cell")["count_params"].nunique().eq(1).all())

    # Exercise question 1: a next-character model on a vocabulary of V symbols.
    vocab_size = 28
    language_model = rnnkit.build_model(
        rnnkit.ModelSpec(cell="simple_rnn", variety="many_to_many", units=units),
        input_spec=rnnkit.InputSpec(timesteps=timesteps, vocab_size=vocab_size),
        output_spec=rnnkit.OutputSpec("classification", vocab_size, timesteps),
    )
    language_output_dim = int(language_model.output_shape[-1])

    # ## Results
    totals = params[params["layer"] == "TOTAL"]
    figure, axis = plt.subplots(figsize=(9, 4))
    positions = np.arange(len(totals))
    axis.bar(positions - 0.2, totals["course_formula"], width=0.4, label="course formula")
    axis.bar(positions + 0.2, totals["keras_count_params"], width=0.4, label="Keras count_params()")
    axis.set_xticks(positions, totals["model"], rotation=20, ha="right")
    axis.set_ylabel("parameters")
    axis.set_title(f"Parameter counts, units={units}, input_dim={num_features}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "param_counts.png"), dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(7, 4))
    for cell, group in lengths_table.groupby("cell"):
        axis.plot(group["timesteps"], group["count_params"], marker="o", label=f"{cell}: parameters")
    first = lengths_table[lengths_table["cell"] == "simple_rnn"]
    axis.plot(first["timesteps"], first["hidden_state_values_per_sample"], "k--", marker="s",
              label="hidden-state values per sample (T*h)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("sequence length T")
    axis.set_ylabel("count")
    axis.set_title("Weights are shared over time; the hidden state is not")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "state_vs_params.png"), dpi=100)
    plt.close(figure)

    print("\nParameter counts (course formula vs Keras count_params()):")
    print(params.to_string(index=False))
    print(f"\nmodel.summary() of each model ({len(summaries)} models):")
    print("\n".join(summaries))
    print("Parameter count against sequence length:")
    print(lengths_table.to_string(index=False))

    summary = {
        "concat_identity_max_abs_diff": concat_difference,
        "stacked_projection_max_abs_diff": library_difference,
        "hand_vs_keras_hidden_states_max_abs_diff": sequence_difference,
        "formulas_matching_keras": int(params["match"].sum()),
        "formulas_checked": len(params),
        "parameter_count_independent_of_length": float(length_invariant),
        "next_char_output_dim": language_output_dim,
        "next_char_vocab_size": vocab_size,
    }
    for _, row in totals.iterrows():
        key = row["model"].lower().replace(" ", "_").replace("=", "_").replace("(", "").replace(")", "")
        summary[f"params_{key}"] = int(row["keras_count_params"])
    summary["run_seconds"] = time.perf_counter() - started
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)

    print("\nWhat to look at")
    print(f"- Concatenation identity: max difference {concat_difference:.1e} (float32 round-off only).")
    print(f"- Your own loop h_t = tanh(x_t W_xh + h_(t-1) W_hh + b) matches Keras to {sequence_difference:.1e}.")
    print(f"- {summary['formulas_matching_keras']} of {summary['formulas_checked']} formula rows equal count_params().")
    print(f"- GRU: reset_after=True has {summary['params_gru_reset_after_true']} parameters, "
          f"reset_after=False {summary['params_gru_reset_after_false']}: a difference of "
          f"{summary['params_gru_reset_after_true'] - summary['params_gru_reset_after_false']}, "
          f"against 3*h = {3 * units} extra bias values per layer.")
    print(f"- Bidirectional LSTM: {summary['params_bidirectional_lstm']} vs LSTM {summary['params_lstm']} "
          "(the recurrent layer doubles; the head reads 2h).")
    print(f"- Parameters unchanged for T in {list(lengths)}: {length_invariant}; "
          "the hidden state per sample grows as T*h.")
    print(f"- A next-character model over {vocab_size} symbols outputs {language_output_dim} numbers per step.")

    # ## Exercises
    #
    # Printed at the end of every run, and listed in labs/README.md.
    print(textwrap.dedent("""
        Exercises
        1. (Course question 1) If an RNN predicts the next character, what must the output
           dimension be? Check `next_char_output_dim` against the vocabulary size, then change
           `vocab_size` above and run again.
        2. Why does the GRU with reset_after=True have 3*h more parameters than with
           reset_after=False? Find the two bias rows in `rnn_1`'s weights (`layer.cell.bias.shape`).
        3. Predict the parameter count of a 3-layer bidirectional GRU with units=16 on 5
           features before building it; then build it with rnnkit.build_model and compare.
        4. Explain with `state_vs_params.png` the difference between a hidden layer and a
           hidden state. Which of the two must be stored for backpropagation through time?
        5. Set `unroll=True` in a ModelSpec: does the parameter count change? Why not?
        """))
    return summary


if __name__ == "__main__":
    main()
