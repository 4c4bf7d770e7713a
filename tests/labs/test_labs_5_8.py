"""Runs labs 5-8 in --quick mode in-process and checks their outputs and one lesson each.

The fixtures `load_lab`, `run_quick` and `check_outputs` (tests/labs/conftest.py) load
each lab from its file, run it into a temporary folder and check the files it promises
and its summary.json; each test then checks properties of the lesson that hold even at
quick sizes, against numbers worked out independently (formulas, the raw text,
arithmetic on the printed questions).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml


def training_vocab_size(text: str) -> int:
    """Distinct lowercased characters of the first 80 % of `text`, plus <pad> and <unk>."""
    text = text.lower()
    return len(set(text[: int(len(text) * 0.8)])) + 2


def check_language_model(summary: dict, tables: dict, expected_vocab_size: int) -> None:
    # Course question 1: one softmax output per vocabulary entry.
    assert summary["vocab_size"] == expected_vocab_size
    assert summary["output_dim"] == expected_vocab_size
    assert summary["uniform_perplexity"] == expected_vocab_size
    # Even a briefly trained GRU must beat context-free guessing, which beats uniform guessing.
    assert (
        summary["random_test_perplexity"]
        < summary["unigram_perplexity"]
        < summary["uniform_perplexity"]
    )
    samples = tables["samples.csv"]
    assert list(samples["decoding"]) == ["greedy", "sample", "sample", "sample", "unigram baseline"]
    assert all(0.0 <= value <= 1.0 for value in samples["distinct_4gram_share"])


def check_language_model_lesson(summary: dict) -> None:
    """What the quick run must show, not only at full size."""
    # Context pays: the GRU cuts the context-free (unigram) perplexity by much more than noise.
    assert summary["random_test_perplexity"] < 0.7 * summary["unigram_perplexity"]
    # The same stateful weights score better when the state carries over from the previous window.
    assert summary["stateful_test_perplexity"] < summary["stateful_reset_test_perplexity"]
    # Sampled text at a low temperature is made of real words far more often than characters
    # drawn from the unigram frequencies; greedy decoding falls into a loop (few distinct 4-grams).
    assert summary["real_word_share_t0.5"] > summary["real_word_share_unigram"] + 0.3
    assert summary["greedy_distinct_4gram_share"] < 0.5 * summary["distinct_4gram_share_t1.0"]


def test_lab05_language_model_falls_back_to_builtin_corpus(
    tmp_path, no_data_dir, run_quick, check_outputs
):
    from pydoc_data.topics import topics

    summary = run_quick("lab05_language_model.py", tmp_path / "out")
    tables = check_outputs(
        tmp_path / "out",
        ["learning_curves.png", "perplexity.png"],
        ["perplexity.csv", "history.csv", "samples.csv"],
    )
    # The quick run uses the first 20,000 characters of the pydoc topics, joined in sorted order.
    corpus = "\n\n".join(topics[key] for key in sorted(topics))[:20_000]
    check_language_model(summary, tables, training_vocab_size(corpus))
    check_language_model_lesson(summary)
    assert all(text.startswith("the function ") for text in tables["samples.csv"]["text"])


@pytest.mark.slow
def test_lab05_language_model_on_the_time_machine(
    tmp_path, shared_datasets, run_quick, check_outputs
):
    summary = run_quick("lab05_language_model.py", tmp_path)
    tables = check_outputs(tmp_path, ["learning_curves.png"], ["perplexity.csv", "samples.csv"])
    text = (shared_datasets / "timemachine.txt").read_text(encoding="utf-8")[:20_000]
    check_language_model(summary, tables, training_vocab_size(text))
    check_language_model_lesson(summary)
    assert all(text.startswith("the time traveller ") for text in tables["samples.csv"]["text"])


# Run as a command: lab 6 once printed TensorFlow's retracing notices on stderr.
def test_lab06_seq2seq(tmp_path, run_quick_in_subprocess, check_outputs):
    summary = run_quick_in_subprocess("lab06_seq2seq.py", tmp_path)
    tables = check_outputs(
        tmp_path,
        ["learning_curves.png", "accuracy.png"],
        ["results.csv", "predictions.csv", "history.csv"],
    )
    assert list(tables["results.csv"]["context"]) == ["initial_state", "every_step"]
    # Read as text: "" is an empty decoded answer, not a missing value.
    predictions = pd.read_csv(tmp_path / "predictions.csv", dtype=str, keep_default_na=False)
    assert len(predictions) == summary["test_questions"]
    # Score the decoded answers again by doing the additions on the printed questions.
    answers = [
        str(sum(int(part) for part in question.split("+"))) for question in predictions["question"]
    ]
    assert list(predictions["target"]) == answers
    for decoding in ("greedy", "beam"):
        share = sum(got == want for got, want in zip(predictions[decoding], answers)) / len(answers)
        assert summary[f"initial_state_{decoding}_exact_match"] == pytest.approx(share)
    # Feeding the context at every step widens the decoder's input kernel, so it costs parameters.
    assert summary["every_step_params"] > summary["initial_state_params"]
    # The lesson at quick size. No constant answer can match more test questions than the most
    # frequent test answer does; each model must answer several times that many exactly.
    most_frequent_share = predictions["target"].value_counts().iloc[0] / len(predictions)
    assert summary["constant_answer_exact_match"] <= most_frequent_share
    for context in ("initial_state", "every_step"):
        assert summary[f"{context}_greedy_exact_match"] > max(0.2, 5 * most_frequent_share)
        assert summary[f"{context}_greedy_token_accuracy"] > summary["majority_token_token_accuracy"] + 0.1
        # Teacher forcing hides the decoder's own mistakes: the same weights score higher per
        # token when fed the true previous digit than when fed their own guess.
        assert (
            summary[f"{context}_teacher_forced_token_accuracy"]
            > summary[f"{context}_greedy_token_accuracy"]
        )


# Six small trainings (about 25 s even at quick sizes), kept in the default run: every lab runs.
def test_lab07_deep_bidirectional(tmp_path, run_quick, check_outputs):
    summary = run_quick("lab07_deep_bidirectional.py", tmp_path)
    tables = check_outputs(tmp_path, ["accuracy.png"], ["results.csv", "params.csv", "unroll.csv"])
    # Quick sizes: GRU units=16 reading an 8-wide embedding: 3*16*(16+8+2) per direction.
    one_direction = 3 * 16 * (16 + 8 + 2)
    assert summary["forward_rnn_1_params"] == one_direction
    assert summary["backward_rnn_1_params"] == one_direction
    assert summary["bidirectional_rnn_1_params"] == 2 * one_direction
    assert set(tables["params.csv"]["reader"]) == {"forward", "backward", "bidirectional"}
    # unroll changes how the loop is built, not the function it computes.
    assert summary["unroll_max_output_difference"] < 1e-5
    # A reader cannot use what it has not read: forward wins looking back, backward looking ahead.
    assert summary["copy_forward_accuracy"] > summary["copy_backward_accuracy"]
    assert summary["lookahead_backward_accuracy"] > summary["lookahead_forward_accuracy"]
    # Chance is 1 of 4 symbols. The reader that has seen the symbol learns it well above chance;
    # the one that has not stays at chance; the bidirectional reader is above chance on both.
    chance = 1 / 4
    assert summary["chance_accuracy"] == pytest.approx(chance)
    assert summary["copy_forward_accuracy"] > chance + 0.2
    assert summary["copy_backward_accuracy"] < chance + 0.05
    assert summary["lookahead_forward_accuracy"] < chance + 0.05
    assert min(summary["copy_bidirectional_accuracy"], summary["lookahead_bidirectional_accuracy"]) > chance + 0.15
    # The backward reader on the time-reversed task is the forward reader on the original one.
    assert summary["lookahead_backward_accuracy"] == pytest.approx(
        summary["copy_forward_accuracy"], abs=0.02
    )


# Run as a command: lab 8 once imported keras before rnnkit, and TensorFlow's start-up lines showed.
def test_lab08_your_comparison(tmp_path, load_lab, run_quick_in_subprocess, check_outputs):
    lab = load_lab("lab08_your_comparison.py")
    summary = run_quick_in_subprocess("lab08_your_comparison.py", tmp_path)
    comparison = tmp_path / "comparison"
    tables = check_outputs(comparison, [], ["results.csv", "params.csv", "summary.csv"])
    assert yaml.safe_load((tmp_path / "grid.yaml").read_text(encoding="utf-8")) == lab.QUICK_GRID
    results, params = tables["results.csv"], tables["params.csv"]
    # simple_rnn, gru and the one_to_one baseline ("mlp") on one task with one seed.
    assert sorted(results["cell"]) == ["gru", "mlp", "simple_rnn"]
    assert list(results["status"]) == ["ok"] * 3
    assert summary["num_runs"] == 3 and summary["runs_retrained_on_resume"] == 0
    # Per-layer Keras counts in params.csv add up to each run's total in results.csv.
    per_config = params.groupby("config_id")["keras"].sum()
    for row in results.itertuples():
        assert per_config[row.config_id] == row.params
    # By hand: adding has 2 features; SimpleRNN 8*(8+2+1) + Dense 8*1+1; GRU 3*8*(8+2+2) + 9.
    assert summary["adding_simple_rnn_u8_L1_seed0_params"] == 88 + 9
    assert summary["adding_gru_u8_L1_seed0_params"] == 288 + 9
    report = (comparison / "report.html").read_text(encoding="utf-8")
    assert "<img" in report
