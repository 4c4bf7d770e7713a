"""Intervals, "did it learn", selection on validation and the verdict's wording."""

import math

import pandas as pd
import pytest

from rnnkit.harness.verdict import (
    difference_interval,
    headline,
    instance_verdict,
    learned,
    mean_interval,
    select_configurations,
)

# Student t quantiles t(0.975, df) from printed tables.
T_2 = 4.302653
T_4 = 2.776445


def test_mean_interval_is_student_t_on_known_numbers():
    low, high = mean_interval([1.0, 2.0, 3.0])  # mean 2, sample std 1, n 3
    half = T_2 * 1.0 / math.sqrt(3)
    assert (low, high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert all(math.isnan(v) for v in mean_interval([5.0]))


def test_welch_difference_with_equal_variances_uses_the_pooled_degrees():
    # Equal sizes and variances: Welch's degrees of freedom are 2n - 2 = 4.
    difference, low, high = difference_interval([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    half = T_4 * math.sqrt(1 / 3 + 1 / 3)
    assert difference == 2.0
    assert (low, high) == (pytest.approx(2 - half), pytest.approx(2 + half))


def test_learned_needs_the_whole_interval_past_the_baseline():
    assert learned([0.10, 0.11, 0.12], 0.167, "mse") is True
    assert learned([0.05, 0.30], 0.167, "mse") is False  # One seed learned, one did not.
    assert learned([0.9, 0.92, 0.91], 0.5, "accuracy") is True
    # One seed: it must close 5% of the gap to a perfect score (0.5 -> 1 needs > 0.525).
    assert learned([0.52], 0.5, "accuracy") is False and learned([0.53], 0.5, "accuracy") is True
    assert learned([], 0.5, "accuracy") is None


def summary_rows(values, metric="mse", select_column=None):
    rows = []
    for label, seeds in values.items():
        row = {"config_id": label, "label": label, "cell": label.split()[0], "variety": "many_to_one",
               "primary_metric": metric, f"test_{metric}_mean": sum(seeds) / len(seeds),
               "baseline_test_" + metric: 1.0, "baseline_name": "mean", "best_val_loss_mean": 0.0}
        rows.append(row)
    return pd.DataFrame(rows)


def results_rows(values, metric="mse"):
    return pd.DataFrame([
        {"config_id": label, "seed": seed, "status": "ok", f"test_{metric}": value}
        for label, seeds in values.items() for seed, value in enumerate(seeds)
    ])


def test_a_real_difference_names_a_winner():
    values = {"gru": [0.10, 0.11, 0.12], "simple_rnn": [0.50, 0.52, 0.51]}
    verdict = instance_verdict(results_rows(values), summary_rows(values))
    assert list(verdict["label"]) == ["gru", "simple_rnn"]
    assert verdict["seeds_won"].iloc[1] == "0/3"
    assert verdict["verdict"].iloc[1].startswith("worse than gru")
    assert headline(verdict, "adding")[-1].startswith("adding: gru is best on test mse")


def test_overlapping_intervals_name_no_winner():
    values = {"gru": [0.10, 0.30, 0.20], "lstm": [0.12, 0.31, 0.21]}
    verdict = instance_verdict(results_rows(values), summary_rows(values))
    line = headline(verdict, "adding")[-1]
    assert line == "adding: gru and lstm are not distinguishable on test mse at 3 seeds; no winner is named."
    assert "winner" not in verdict["verdict"].iloc[1]


def test_one_seed_names_no_winner_and_untrained_models_are_called_out_first():
    values = {"gru": [0.1], "mlp": [0.99]}
    verdict = instance_verdict(results_rows(values), summary_rows(values))
    lines = headline(verdict, "adding")
    assert lines[0] == "adding: did not learn (not better than the mean baseline beyond the seeds' noise): mlp."
    assert "with one seed no uncertainty can be given" in lines[-1]


def test_a_higher_is_better_metric_ranks_the_largest_first():
    values = {"lstm": [0.9, 0.92, 0.91], "gru": [0.7, 0.72, 0.71]}
    verdict = instance_verdict(results_rows(values, "accuracy"), summary_rows(values, "accuracy"))
    assert list(verdict["label"]) == ["lstm", "gru"]


def test_selection_reads_validation_loss_only():
    # Within each cell, learning rate 0.1 has the better validation loss but the worse test
    # value: selection must pick it anyway (it may not look at test metrics).
    summary = pd.DataFrame([
        {"config_id": "a", "label": "gru lr=0.1", "cell": "gru", "variety": "v", "learning_rate": 0.1,
         "best_val_loss_mean": 0.2, "test_mse_mean": 0.9},
        {"config_id": "b", "label": "gru lr=0.01", "cell": "gru", "variety": "v", "learning_rate": 0.01,
         "best_val_loss_mean": 0.3, "test_mse_mean": 0.1},
        {"config_id": "c", "label": "lstm lr=0.1", "cell": "lstm", "variety": "v", "learning_rate": 0.1,
         "best_val_loss_mean": 0.5, "test_mse_mean": 0.1},
        {"config_id": "d", "label": "lstm lr=0.01", "cell": "lstm", "variety": "v", "learning_rate": 0.01,
         "best_val_loss_mean": 0.4, "test_mse_mean": 0.9},
    ])
    chosen = select_configurations(summary, ("learning_rate",))
    assert list(chosen["config_id"]) == ["a", "d"]
    assert list(chosen["selected"]) == ["learning_rate=0.1", "learning_rate=0.01"]
    # Changing every test value changes nothing in the choice.
    shuffled = summary.assign(test_mse_mean=[0.0, 5.0, 5.0, 0.0])
    assert list(select_configurations(shuffled, ("learning_rate",))["config_id"]) == ["a", "d"]
