"""Intervals, "did it learn", selection on validation and the verdict's wording."""

import math

import numpy as np
import pandas as pd
import pytest

from rnnkit.errors import ConfigError
from rnnkit.harness import verdict as verdict_module
from rnnkit.harness.verdict import (
    difference_interval,
    headline,
    instance_verdict,
    learned,
    mean_interval,
    select_configurations,
)

# Student t quantiles t(0.975, df) from printed tables.
T_1 = 12.706205
T_2 = 4.302653
T_4 = 2.776445


def test_mean_interval_is_student_t_on_known_numbers():
    low, high = mean_interval([1.0, 2.0, 3.0])  # mean 2, sample std 1, n 3
    half = T_2 * 1.0 / math.sqrt(3)
    assert (low, high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert all(math.isnan(v) for v in mean_interval([5.0]))


def test_an_mse_interval_is_cut_at_zero():
    # Two seeds, MSE 0.0001 and 0.0009: mean 0.0005, s = 0.0004 * sqrt(2) = 0.000566,
    # half-width = 12.706 * 0.000566 / sqrt(2) = 12.706 * 0.0004 = 0.00508.
    half = T_1 * 0.0004
    raw_low, _ = mean_interval([0.0001, 0.0009])
    assert raw_low == pytest.approx(0.0005 - half) and raw_low < 0  # what a student used to see
    low, high = mean_interval([0.0001, 0.0009], metric="mse")
    assert low == 0.0  # An MSE cannot be negative.
    assert high == pytest.approx(0.0005 + half)  # about 0.00558, untouched
    # Prefixed names are the same metric (the summary passes its column names).
    assert mean_interval([0.0001, 0.0009], metric="test_mse")[0] == 0.0


def test_an_accuracy_interval_is_cut_at_one_and_perplexity_at_one():
    # Accuracy 0.9 and 1.0: mean 0.95, half-width 12.706 * 0.05 = 0.635.
    low, high = mean_interval([0.9, 1.0], metric="accuracy")
    assert low == pytest.approx(0.95 - T_1 * 0.05)  # 0.315, inside [0, 1]: untouched
    assert high == 1.0  # uncut it would be 1.585
    # Perplexity 1.1 and 1.5: mean 1.3, half-width 12.706 * 0.2 = 2.54; a perplexity is at least 1.
    low, high = mean_interval([1.1, 1.5], metric="perplexity")
    assert low == 1.0 and high == pytest.approx(1.3 + T_1 * 0.2)
    # An interval inside the range is the plain Student-t one.
    assert mean_interval([11.0, 12.0, 13.0], metric="mse") == pytest.approx((12 - T_2 / math.sqrt(3), 12 + T_2 / math.sqrt(3)))


def test_an_unknown_metric_for_an_interval_is_refused():
    with pytest.raises(ConfigError, match=r"Invalid value for `metric`: got 'f1'; expected a metric with a "
                                          r"registered direction and range: accuracy, "):
        mean_interval([0.1, 0.2], metric="f1")


def test_the_interval_of_a_difference_is_not_cut():
    # MSE [0.0002, 0.0010] minus [0.0001, 0.0009]: difference 0.0001; equal sizes and
    # variances (s^2 = 3.2e-7 each) give Welch 2n - 2 = 2 degrees and a standard error of
    # sqrt(3.2e-7 / 2 + 3.2e-7 / 2) = 0.0004 * sqrt(2) = 0.000566.
    difference, low, high = difference_interval([0.0002, 0.0010], [0.0001, 0.0009])
    half = T_2 * 0.0004 * math.sqrt(2)
    assert difference == pytest.approx(0.0001)
    assert (low, high) == (pytest.approx(0.0001 - half), pytest.approx(0.0001 + half))
    assert low < 0  # about -0.00233: a difference of two MSEs can be negative
    values = {"gru": [0.0001, 0.0009], "lstm": [0.0002, 0.0010]}
    frame = instance_verdict(results_rows(values), summary_rows(values))
    lstm = frame.set_index("label").loc["lstm"]
    assert lstm["ci_low"] == 0.0 and lstm["diff_low"] == pytest.approx(0.0001 - half)


def test_cutting_the_intervals_changes_no_verdict(monkeypatch):
    # "learned" reads the end of the interval that faces the baseline (the upper end of an
    # error, the lower end of an accuracy). The cut only moves an end beyond the metric's
    # range, which no baseline can pass: the decision is the same with and without it.
    rng = np.random.default_rng(0)
    cases = [([0.0001, 0.0009], 1 / 6, "mse"), ([0.0001, 0.0009], 0.0, "mse"), ([0.0, 0.5], 0.0, "accuracy"),
             ([0.9, 1.0], 0.95, "accuracy"), ([0.9, 1.0], 0.2, "accuracy"), ([1.1, 1.5], 1.0, "perplexity"),
             ([0.0, 1.0, 0.0], 0.0, "exact_match"), ([0.0, 1.0, 1.0], 1.0, "exact_match")]
    for _ in range(300):
        metric = str(rng.choice(["mse", "accuracy", "perplexity"]))
        low, high = {"mse": (0.0, 0.3), "accuracy": (0.0, 1.0), "perplexity": (1.0, 4.0)}[metric]
        values = list(rng.uniform(low, high, size=int(rng.integers(2, 5))))
        cases.append((values, float(rng.uniform(low, high)), metric))
    changed = 0
    for values, baseline, metric in cases:
        raw_low, raw_high = mean_interval(values)
        cut_low, cut_high = mean_interval(values, metric)
        changed += (raw_low, raw_high) != (cut_low, cut_high)
        # The rule written out: the whole interval on the better side of the baseline.
        if metric in ("mse", "perplexity"):
            by_raw, by_cut = raw_high < baseline, cut_high < baseline
        else:
            by_raw, by_cut = raw_low > baseline, cut_low > baseline
        assert by_raw == by_cut == learned(values, baseline, metric), (values, baseline, metric)
    assert changed > 50  # The cut did act on many of these intervals.
    # A whole verdict, rebuilt with the uncut interval, reads the same.
    values = {"gru": [0.0001, 0.0009], "lstm": [0.0002, 0.0010], "mlp": [0.01, 0.5]}
    cut = instance_verdict(results_rows(values), summary_rows(values))
    monkeypatch.setattr(verdict_module, "mean_interval", lambda values, metric=None: mean_interval(values))
    uncut = instance_verdict(results_rows(values), summary_rows(values))
    assert (cut["ci_low"] != uncut["ci_low"]).any()
    columns = ["label", "learned", "difference", "diff_low", "diff_high", "seeds_won", "verdict"]
    pd.testing.assert_frame_equal(cut[columns], uncut[columns])
    assert headline(cut, "adding") == headline(uncut, "adding")


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
    assert verdict["verdict"].iloc[0] == "best: every other configuration is worse beyond the 95% interval"
    assert headline(verdict, "adding")[-1].startswith("adding: gru is best on test mse")


def test_overlapping_intervals_name_no_winner():
    values = {"gru": [0.10, 0.30, 0.20], "lstm": [0.12, 0.31, 0.21]}
    verdict = instance_verdict(results_rows(values), summary_rows(values))
    line = headline(verdict, "adding")[-1]
    assert line == "adding: gru and lstm are not distinguishable on test mse at 3 seeds; no winner is named."
    assert "winner" not in verdict["verdict"].iloc[1]
    # The best mean's own line must not read as a win either.
    assert verdict["verdict"].iloc[0] == "best mean, but not a winner: not distinguishable from lstm"


def test_one_seed_names_no_winner_and_untrained_models_are_called_out_first():
    values = {"gru": [0.1], "mlp": [0.99]}
    verdict = instance_verdict(results_rows(values), summary_rows(values))
    assert verdict["verdict"].iloc[0] == "best mean, but one seed gives no interval: not a winner"
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
