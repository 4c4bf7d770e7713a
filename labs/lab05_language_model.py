"""Lab 5: a character-level language model.

Title: A character-level language model, from perplexity to generated text
Goal: Train a recurrent network to predict the next character of a book, measure how
    surprised it is by text it never saw (perplexity), compare random and sequential
    minibatch partitioning (the latter with stateful training), and generate text from
    a prefix at several temperatures.
Estimated run time (measured on an idle 2-core CPU machine, imports included):
    --quick about 9 s (quiet machine, 2026-11-27; 18 s at load 4); full 48 s (The Time Machine).

Run it:

    python labs/lab05_language_model.py --quick --out labs_out/lab05
    RNNKIT_DATA_DIR=../shared/datasets python labs/lab05_language_model.py

The corpus is H. G. Wells' The Time Machine when `timemachine.txt` lies in the folder
named by `RNNKIT_DATA_DIR` (or you pass `--text PATH`); otherwise the lab falls back to
the built-in corpus (the Python documentation topics, task `builtin_lm`), which needs
no download. The lab itself never downloads anything.

Outputs (in `--out`, default `labs_out/lab05`): `perplexity.csv`, `history.csv`, `samples.csv`,
`learning_curves.png`, `perplexity.png`, `summary.json`.
"""

# ## Introduction
#
# A language model gives a probability to every possible next token, given the tokens
# so far. Read character by character, "the machine" becomes a sequence of training
# pairs: from "machin" the model must predict "achine", one step ahead at every
# position. The hidden state h_t summarises everything read so far, so the softmax on
# top of it can express P(x_{t+1} | x_1, ..., x_t); chaining those factors gives the
# probability of a whole text.
#
# How good is the model? Average the negative log-likelihood of the true next
# character over held-out text and take exp: that is the perplexity, the effective
# number of characters the model hesitates between at each step. A model that knows
# nothing scores the vocabulary size; a perfect one scores 1.
#
# Two ways to cut a long text into minibatches:
# - random partitioning: windows at random offsets; every window starts from a zero
#   state, so the model never sees context older than `timesteps` characters;
# - sequential partitioning: `batch_size` parallel streams, where row i of batch k + 1
#   continues row i of batch k. A *stateful* model carries its state across batches,
#   so its memory is no longer cut at the window boundary (while gradients still are:
#   that is truncated backpropagation through time).

# ## Setup

from __future__ import annotations

import argparse
import json
import math
import os
import textwrap
import time
from pathlib import Path

# rnnkit before keras: it keeps TensorFlow's start-up lines off stderr (see --verbose).
import rnnkit

# isort: split
import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

SEED = 0
TEMPERATURES = (0.5, 1.0, 1.5)
QUICK = {
    "max_chars": 20_000,
    "timesteps": 20,
    "batch_size": 32,
    "units": 48,
    "embedding_dim": 16,
    "epochs": 8,
    "generate_tokens": 60,
}
FULL = {
    "max_chars": None,
    "timesteps": 32,
    "batch_size": 32,
    "units": 128,
    "embedding_dim": 32,
    "epochs": 10,
    "generate_tokens": 200,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Lab 5: a character-level language model.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (well under a minute)")
    parser.add_argument(
        "--out", default="labs_out/lab05", help="output folder (default labs_out/lab05)"
    )
    parser.add_argument(
        "--text", default=None, help="a UTF-8 text file to use instead of the default corpus"
    )
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log lines")
    return parser.parse_args(argv)


# ## Data


def corpus_choice(text_path) -> tuple[str, dict, str]:
    """Returns (task name, task options, prefix) for the corpus this machine has.

    The Time Machine is used only when its file is already local, so the lab never
    downloads; `builtin_lm` (shipped with Python) is the offline fallback.
    """
    if text_path is not None:
        return "text_lm", {"path": str(text_path)}, "the "
    data_dir = os.environ.get("RNNKIT_DATA_DIR")
    if data_dir and (Path(data_dir) / "timemachine.txt").is_file():
        return "timemachine_lm", {}, "the time traveller "
    return "builtin_lm", {}, "the function "


def make_task(name: str, options: dict, settings: dict, partition: str):
    """Builds the language-model task with one of the two partitionings."""
    options = dict(
        options,
        timesteps=settings["timesteps"],
        partition=partition,
        batch_size=settings["batch_size"],
    )
    if name != "text_lm":
        options["max_chars"] = settings["max_chars"]
    return rnnkit.get_task(name, seed=SEED, **options)


def unigram_perplexity(task) -> float:
    """Perplexity on the test split of a model that ignores context (training frequencies)."""
    counts = np.bincount(task.train.y.ravel(), minlength=task.vocab.vocab_size).astype("float64")
    # Add-one smoothing so a character unseen in training costs a finite amount.
    probs = (counts + 1.0) / (counts.sum() + len(counts))
    return float(np.exp(-np.log(probs[task.test.y.ravel()]).mean()))


# ## Model


def language_model_spec(settings: dict, stateful: bool) -> rnnkit.ModelSpec:
    return rnnkit.ModelSpec(
        cell="gru",
        variety="many_to_many",
        units=settings["units"],
        embedding_dim=settings["embedding_dim"],
        stateful=stateful,
        name="stateful_lm" if stateful else "lm",
    )


# ## Train


def train_language_model(task, settings: dict, stateful: bool):
    config = rnnkit.TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=5e-3,
        clipnorm=1.0,
        seed=SEED,
        shuffle=not stateful,
    )
    return rnnkit.run_experiment(
        language_model_spec(settings, stateful), task, config, gradient_flow=False
    )


def perplexity_with_state_reset(model, split, batch_size: int) -> float:
    """Scores a stateful model that forgets at every batch boundary (as random windows do)."""
    probs = []
    for start in range(0, split.num_samples - batch_size + 1, batch_size):
        for layer in model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()
        probs.append(np.asarray(model.predict_on_batch(split.x[start : start + batch_size])))
    probs = np.concatenate(probs)
    return rnnkit.perplexity_from_probs(probs, split.y[: len(probs)])


def unigram_sample(task, prefix: str, num_tokens: int, seed: int) -> str:
    """Text drawn character by character from the training frequencies, ignoring all context.

    The baseline for the samples: whatever a trained model writes beyond this comes from
    what its hidden state knows about the characters before.
    """
    vocab = task.vocab
    counts = np.bincount(task.train.y.ravel(), minlength=vocab.vocab_size).astype("float64")
    ids = np.random.default_rng(seed).choice(vocab.vocab_size, size=num_tokens, p=counts / counts.sum())
    return prefix + vocab.decode(ids)


def training_words(task) -> set:
    """Returns the words of the training text (the cut words at window edges left out)."""
    words = set()
    for window in task.train.x:
        words.update(word.strip(".,;:!?\"'()") for word in vocab_words(task.vocab, window))
    return words


def vocab_words(vocab, window) -> list:
    return vocab.decode(window).split()[1:-1]


def text_statistics(generated: str, prefix: str, known_words: set) -> dict:
    """Measures generated text: share of real words, and how repetitive it is."""
    new_text = generated[len(prefix) :]
    words = [word.strip(".,;:!?\"'()") for word in new_text.split()]
    words = [word for word in words if word]
    real_share = sum(word in known_words for word in words) / len(words) if words else math.nan
    grams = [new_text[i : i + 4] for i in range(max(len(new_text) - 3, 0))]
    distinct_share = len(set(grams)) / len(grams) if grams else math.nan
    return {"real_word_share": real_share, "distinct_4gram_share": distinct_share}


# ## Results


def plot_perplexities(table: pd.DataFrame, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.barh(table["model"], table["test_perplexity"], color="tab:blue")
    for row, value in enumerate(table["test_perplexity"]):
        axis.text(value, row, f" {value:.2f}", va="center")
    axis.set_xlabel("test perplexity (lower is better)")
    axis.set_title("Held-out perplexity")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.verbose:
        rnnkit.set_verbose()
    settings = QUICK if args.quick else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()

    # Data: the same text, cut two ways.
    name, options, prefix = corpus_choice(args.text)
    random_task = make_task(name, options, settings, "random")
    sequential_task = make_task(name, options, settings, "sequential")
    vocab = random_task.vocab
    first_x, first_y = random_task.train.x[0], random_task.train.y[0]
    print(
        f"Corpus task {name!r}: vocab_size {vocab.vocab_size}, "
        f"{random_task.train.num_samples} training windows of {settings['timesteps']} characters."
    )
    print(f"  input  {vocab.decode(first_x)!r}\n  target {vocab.decode(first_y)!r}")

    # Model and training: random windows (stateless) and sequential streams (stateful).
    random_run = train_language_model(random_task, settings, stateful=False)
    sequential_run = train_language_model(sequential_task, settings, stateful=True)
    model = random_run.model
    output_dim = int(model.output_shape[-1])
    batch_size = settings["batch_size"]
    reset_perplexity = perplexity_with_state_reset(
        sequential_run.model, sequential_task.test, batch_size
    )

    rows = [
        {"model": "uniform guess", "test_perplexity": float(vocab.vocab_size), "params": 0},
        {
            "model": "unigram frequencies",
            "test_perplexity": unigram_perplexity(random_task),
            "params": vocab.vocab_size,
        },
        {
            "model": "GRU, random windows",
            "test_perplexity": random_run.metrics["perplexity"],
            "params": random_run.params["total"],
        },
        {
            "model": "GRU, sequential + stateful",
            "test_perplexity": sequential_run.metrics["perplexity"],
            "params": sequential_run.params["total"],
        },
        {
            "model": "same, state reset per batch",
            "test_perplexity": reset_perplexity,
            "params": sequential_run.params["total"],
        },
    ]
    table = pd.DataFrame(rows)
    table.to_csv(out / "perplexity.csv", index=False)
    histories = {"random": random_run.history, "sequential+stateful": sequential_run.history}
    pd.concat([h.assign(partition=label) for label, h in histories.items()]).to_csv(
        out / "history.csv", index=False
    )
    # exp(mean loss per epoch) is the perplexity on the epoch's windows.
    as_perplexity = {
        label: history.assign(
            perplexity=np.exp(history["loss"]), val_perplexity=np.exp(history["val_loss"])
        )
        for label, history in histories.items()
    }
    curves = rnnkit.plot_learning_curves(as_perplexity, metric="perplexity")
    curves.axes[0].set_title("Character language model: perplexity per epoch")
    rnnkit.save_figure(curves, out / "learning_curves.png")
    plot_perplexities(table, out / "perplexity.png")

    # Generation: greedy, then sampling at several temperatures, from the same prefix.
    known_words = training_words(random_task)
    samples = []
    generation_started = time.perf_counter()
    greedy = rnnkit.generate_text(model, vocab, prefix, settings["generate_tokens"], greedy=True)
    generation_seconds = time.perf_counter() - generation_started
    samples.append(
        {
            "decoding": "greedy",
            "temperature": 0.0,
            "text": greedy,
            **text_statistics(greedy, prefix, known_words),
        }
    )
    for temperature in TEMPERATURES:
        text = rnnkit.generate_text(
            model, vocab, prefix, settings["generate_tokens"], temperature=temperature, seed=SEED
        )
        samples.append(
            {
                "decoding": "sample",
                "temperature": temperature,
                "text": text,
                **text_statistics(text, prefix, known_words),
            }
        )
    unigram_text = unigram_sample(random_task, prefix, settings["generate_tokens"], SEED)
    samples.append(
        {
            "decoding": "unigram baseline",
            "temperature": 1.0,
            "text": unigram_text,
            **text_statistics(unigram_text, prefix, known_words),
        }
    )
    samples = pd.DataFrame(samples)
    samples.to_csv(out / "samples.csv", index=False)

    summary = {
        "vocab_size": vocab.vocab_size,
        "output_dim": output_dim,
        "train_windows": random_task.train.num_samples,
        "uniform_perplexity": float(vocab.vocab_size),
        "unigram_perplexity": table.loc[1, "test_perplexity"],
        "random_test_perplexity": random_run.metrics["perplexity"],
        "stateful_test_perplexity": sequential_run.metrics["perplexity"],
        "stateful_reset_test_perplexity": reset_perplexity,
        "params": random_run.params["total"],
        "random_seconds_per_epoch": random_run.timings["seconds_per_epoch"],
        "stateful_seconds_per_epoch": sequential_run.timings["seconds_per_epoch"],
        "generated_chars_per_second": settings["generate_tokens"] / generation_seconds,
        "greedy_distinct_4gram_share": samples.loc[0, "distinct_4gram_share"],
        "real_word_share_unigram": samples.iloc[-1]["real_word_share"],
    }
    for row in samples.itertuples():
        if row.decoding == "sample":
            summary[f"real_word_share_t{row.temperature}"] = row.real_word_share
            summary[f"distinct_4gram_share_t{row.temperature}"] = row.distinct_4gram_share
    summary["run_seconds"] = time.perf_counter() - started
    summary = {key: float(value) for key, value in summary.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    print("\nWhat to look at")
    relation = "equals" if output_dim == vocab.vocab_size else "differs from"
    print(
        f"- Output dimension {output_dim} {relation} vocab_size {vocab.vocab_size}: "
        "one probability per character."
    )
    print(
        f"- Test perplexity: uniform {vocab.vocab_size:.0f}, unigram {summary['unigram_perplexity']:.2f}, "
        f"GRU random windows {summary['random_test_perplexity']:.2f}, "
        f"GRU sequential+stateful {summary['stateful_test_perplexity']:.2f} "
        f"(the same model with its state reset every batch: {reset_perplexity:.2f})."
    )
    print(
        f"- Generation runs at {summary['generated_chars_per_second']:.0f} characters per second "
        "(one forward pass per character)."
    )
    sampled = samples[samples["decoding"] == "sample"]
    sampled_shares = ", ".join(
        f"T={row.temperature} {row.distinct_4gram_share:.2f}" for row in sampled.itertuples()
    )
    print(
        f"- Distinct 4-gram share (lower = more repetitive): greedy "
        f"{summary['greedy_distinct_4gram_share']:.2f}, sampled {sampled_shares}."
    )
    print(
        f"- Share of generated words that occur in the training text: sampled at T=0.5 "
        f"{summary['real_word_share_t0.5']:.2f}, against {summary['real_word_share_unigram']:.2f} "
        "for characters drawn from the unigram frequencies (no context)."
    )
    for row in samples.itertuples():
        label = {"greedy": "greedy", "sample": f"T={row.temperature}"}.get(row.decoding, row.decoding)
        print(f"  [{label}] real words {row.real_word_share:.2f}: {row.text!r}")
    print(
        f"- Tables and figures in {out}: perplexity.csv, history.csv, samples.csv, "
        "learning_curves.png, perplexity.png, summary.json."
    )

    # ## Exercises
    #
    # Printed at the end of every run, and listed in labs/README.md.
    print(textwrap.dedent("""
        Exercises
        1. (Course question 1) If an RNN predicts the next character, what must the output
           dimension be? Compare `output_dim` and `vocab_size` in summary.json, then
           rerun with `--text` on another file: does the number follow the vocabulary?
        2. (Course question 2) Why can an RNN express P(token | all previous tokens)? Look at
           the gap between `stateful_test_perplexity` and `stateful_reset_test_perplexity`:
           the same weights, scored once with the state carried across windows and once with
           it reset. What does the hidden state carry?
        3. Random versus sequential partitioning: which gave the lower test perplexity, and
           which trained faster per epoch? Why must a stateful model keep `shuffle=False`?
        4. Temperature: how do `real_word_share_t*` and `distinct_4gram_share_t*` change from
           0.5 to 1.5? Does greedy decoding repeat itself more than sampling, and why can it
           fall into a loop?
        5. (Course question 4) What problems does the character-level model have? Find them
           in your measurements: misspelt words (real_word_share below 1), slow generation
           (`generated_chars_per_second`), a context limited by `timesteps` for gradients,
           and the gap between training and validation perplexity in learning_curves.png.
        """))
    return summary


if __name__ == "__main__":
    main()
