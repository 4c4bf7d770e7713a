"""The verdict of a comparison: intervals over seeds, "did it learn", ranking, fair wording.

Seeds are the unit of evidence. For each configuration the test value of the task's
primary metric (mse, accuracy, perplexity, token accuracy or exact match; see
`rnnkit.training.metrics.PRIMARY_METRICS`) is summarised by its mean, standard
deviation, n and a 95% confidence interval from Student's t distribution (mean ±
t(0.975, n-1) · std / √n). The interval shown is cut at the metric's possible range
(`rnnkit.training.metrics.metric_range`: 0 for an MSE, 1 for perplexity, 0 and 1 for
an accuracy), so that an MSE is never shown with a negative end. Each configuration is
then compared with the best one:

- the difference of means with a Welch 95% interval (unequal variances; Welch-
  Satterthwaite degrees of freedom), never cut: a difference can be negative;
- the seeds won: seeds present in both, on which the configuration beat the best one;
- the wording: a configuration is called worse only when the interval of its
  difference excludes zero; otherwise the two "are not distinguishable at n seeds".
  With one seed no interval exists and the verdict says so.

A configuration "learned" when it beats the task's best trivial baseline by more than
its seeds' uncertainty: the whole 95% interval of its mean lies on the better side of
the baseline. The rule reads only the end of the interval that faces the baseline (the
upper end of an error, the lower end of an accuracy); cutting the interval at the
metric's range moves only an end that lies beyond the range, past any baseline, so the
cut never changes whether a configuration learned (the rule uses the uncut interval all
the same). With one seed, where no interval exists, it must close at least 5% of the
gap between the baseline and a perfect score (0 error, perplexity 1, accuracy 1).

Configurations are only ever compared within one task *instance* (the task with its
options): runs of `adding` at 50 and at 100 steps are two separate verdicts.

Example:

>>> low, high = mean_interval([1.0, 2.0, 3.0])
>>> round(low, 3), round(high, 3)
(-0.484, 4.484)
>>> low, high = mean_interval([1.0, 2.0, 3.0], metric="mse")  # An MSE is never below 0.
>>> round(low, 3), round(high, 3)
(0.0, 4.484)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnkit.training.metrics import better, metric_direction, metric_range, perfect_score

CONFIDENCE = 0.95
# With one seed, "learned" needs this share of the gap from the baseline to a perfect score.
SINGLE_SEED_MARGIN = 0.05


def _t_quantile(degrees: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, degrees))


def mean_interval(values, metric: str | None = None) -> tuple[float, float]:
    """The 95% Student-t confidence interval of the mean of `values` (NaN for n < 2).

    Args:
        values: One value per seed (None and non-finite values are left out).
        metric: Optional metric name (`mse`, `test_accuracy`, ...): the interval is then
            cut at the metric's possible range (`metric_range`), e.g. at 0 for an MSE and
            at 1 for an accuracy. Without it the interval is the raw mean ± t · s / √n.

    Returns:
        `(low, high)`.

    Raises:
        ValueError: `metric` is not a registered metric.
    """
    lowest, highest = metric_range(metric) if metric is not None else (-math.inf, math.inf)
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype="float64")
    if values.size < 2:
        return math.nan, math.nan
    half = _t_quantile(values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    low, high = float(values.mean() - half), float(values.mean() + half)
    return max(low, lowest), min(high, highest)


def difference_interval(first, second) -> tuple[float, float, float]:
    """Mean of `first` minus mean of `second`, with its Welch 95% interval.

    Returns:
        (difference, low, high); low and high are NaN when either side has fewer than
        two values.

    Example:

    >>> difference, low, high = difference_interval([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    >>> difference, round(low, 3), round(high, 3)
    (2.0, -0.267, 4.267)
    """
    a = np.asarray([v for v in first if np.isfinite(v)], dtype="float64")
    b = np.asarray([v for v in second if np.isfinite(v)], dtype="float64")
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    difference = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return difference, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    standard_error = math.sqrt(va + vb)
    if standard_error == 0:
        return difference, difference, difference
    degrees = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = _t_quantile(degrees) * standard_error
    return difference, difference - half, difference + half


def learned(values, baseline: float, metric: str) -> bool | None:
    """Whether test `values` (one per seed) beat `baseline` beyond their uncertainty.

    Returns:
        True or False; None when there are no values or no baseline.

    Example:

    >>> learned([0.10, 0.11, 0.12], baseline=0.167, metric="mse")
    True
    >>> learned([0.10, 0.30], baseline=0.167, metric="mse")
    False
    """
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values or baseline is None or not np.isfinite(baseline):
        return None
    if len(values) >= 2:
        low, high = mean_interval(values)  # Uncut: the rule is the plain statistical one.
        worst = high if metric_direction(metric) == "min" else low
        return better(metric, worst, baseline)
    perfect = perfect_score(metric)
    needed = SINGLE_SEED_MARGIN * abs(perfect - baseline)
    gain = (baseline - values[0]) if metric_direction(metric) == "min" else (values[0] - baseline)
    return bool(gain > needed) if needed > 0 else bool(gain > 0)


def _seed_values(results: pd.DataFrame, config_id: str, column: str) -> dict:
    rows = results[(results["config_id"] == config_id) & (results["status"] == "ok")]
    values = pd.to_numeric(rows[column], errors="coerce")
    return {int(seed): float(v) for seed, v in zip(rows["seed"], values) if np.isfinite(v)}


def select_configurations(summary: pd.DataFrame, select: tuple[str, ...]) -> pd.DataFrame:
    """Keeps, per group of configurations that differ only in the `select` fields, the one
    with the lowest mean validation loss (`best_val_loss_mean`); test metrics are not read.

    Args:
        summary: Summary rows of one task instance.
        select: Column names of the swept settings to choose on validation
            (e.g. ("learning_rate",)).

    Returns:
        The chosen rows, with a `selected` column such as "learning_rate=0.01".
    """
    summary = summary.copy()
    if not select or summary.empty:
        summary["selected"] = ""
        return summary
    missing = [name for name in select if name not in summary.columns]
    if missing:
        from rnnkit.checks import invalid

        raise invalid("select", list(select), f"settings that the grid sweeps; {missing} are not in the results")
    # Configurations are grouped by everything that describes them except the selected fields.
    statistics = ("_mean", "_std", "_ci_low", "_ci_high")
    ignored = {"config_id", "label", "num_seeds", "num_ok", "n", "learned", "params", *select}
    keys = [c for c in summary.columns if c not in ignored and not c.endswith(statistics)
            and not c.startswith("baseline_")]
    grouped = summary.assign(_key=summary[keys].astype(str).agg("|".join, axis=1))
    chosen = []
    for _, group in grouped.groupby("_key", sort=False):
        losses = pd.to_numeric(group["best_val_loss_mean"], errors="coerce")
        row = group.loc[losses.idxmin()] if losses.notna().any() else group.iloc[0]
        row = row.copy()
        row["selected"] = ", ".join(f"{name}={row[name]}" for name in select)
        chosen.append(row)
    return pd.DataFrame(chosen).drop(columns="_key")


def instance_verdict(results: pd.DataFrame, summary: pd.DataFrame, select=()) -> pd.DataFrame:
    """Ranks the configurations of ONE task instance against the best one.

    Args:
        results: Results rows of the instance (one per run).
        summary: Summary rows of the instance (one per configuration).
        select: Swept settings chosen per configuration on validation (see
            `select_configurations`).

    Returns:
        One row per (selected) configuration, best first: label, selected, metric, n,
        mean, ci_low, ci_high (cut at the metric's range), baseline, baseline_value, learned, difference, diff_low,
        diff_high (not cut), seeds_won, verdict (one sentence).
    """
    if summary.empty:
        return pd.DataFrame()
    metric = str(summary["primary_metric"].iloc[0])
    column = f"test_{metric}"
    chosen = select_configurations(summary, tuple(select))
    if f"{column}_mean" not in chosen:
        return pd.DataFrame()
    chosen = chosen[pd.to_numeric(chosen[f"{column}_mean"], errors="coerce").notna()]
    if chosen.empty:
        return pd.DataFrame()
    ascending = metric_direction(metric) == "min"
    chosen = chosen.sort_values(f"{column}_mean", ascending=ascending, kind="stable")
    best = chosen.iloc[0]
    best_seeds = _seed_values(results, best["config_id"], column)
    rows = []
    for _, row in chosen.iterrows():
        seeds = _seed_values(results, row["config_id"], column)
        values = list(seeds.values())
        low, high = mean_interval(values, metric)
        baseline_value = row.get(f"baseline_{column}")
        did_learn = learned(values, baseline_value, metric)
        difference, diff_low, diff_high = difference_interval(values, list(best_seeds.values()))
        common = sorted(set(seeds) & set(best_seeds))
        won = sum(better(metric, seeds[s], best_seeds[s]) for s in common)
        rows.append({
            "label": row["label"], "selected": row.get("selected", ""), "metric": metric,
            "n": len(values), "mean": float(np.mean(values)) if values else math.nan,
            "ci_low": low, "ci_high": high,
            "baseline": row.get("baseline_name"), "baseline_value": baseline_value,
            "learned": did_learn, "difference": difference, "diff_low": diff_low, "diff_high": diff_high,
            "seeds_won": f"{won}/{len(common)}",
            "is_best": row["config_id"] == best["config_id"],
        })
    frame = pd.DataFrame(rows)
    frame["verdict"] = [_sentence(row, frame) for _, row in frame.iterrows()]
    return frame


def _distinct(row) -> bool:
    """Whether the difference's interval excludes zero."""
    return np.isfinite(row["diff_low"]) and (row["diff_low"] > 0 or row["diff_high"] < 0)


def _sentence(row, frame) -> str:
    """The verdict of one configuration against the best mean (the frame's first row)."""
    best = frame.iloc[0]
    if row["is_best"]:
        others = frame.iloc[1:]
        if others.empty:
            return "best mean (the only configuration)"
        if row["n"] < 2:
            return "best mean, but one seed gives no interval: not a winner"
        tied = [other["label"] for _, other in others.iterrows() if other["n"] < 2 or not _distinct(other)]
        if tied:
            return f"best mean, but not a winner: not distinguishable from {', '.join(tied)}"
        return "best: every other configuration is worse beyond the 95% interval"
    if row["n"] < 2 or best["n"] < 2:
        return f"not distinguishable from {best['label']}: one seed gives no interval"
    if _distinct(row):
        return f"worse than {best['label']} (interval of the difference excludes 0)"
    return f"not distinguishable from {best['label']} at {min(row['n'], best['n'])} seeds"


def headline(verdict: pd.DataFrame, instance: str) -> list[str]:
    """The verdict of one task instance in plain sentences (did-not-learn first).

    Example:

    >>> frame = pd.DataFrame({"label": ["gru", "lstm"], "metric": "mse", "n": [3, 3],
    ...     "mean": [0.01, 0.02], "learned": [True, True], "diff_low": [float("nan"), -0.01],
    ...     "diff_high": [float("nan"), 0.03], "is_best": [True, False], "baseline": "mean"})
    >>> headline(frame, "adding")[-1]
    'adding: gru and lstm are not distinguishable on test mse at 3 seeds; no winner is named.'
    """
    if verdict.empty:
        return [f"{instance}: no finished run to judge."]
    metric = verdict["metric"].iloc[0]
    lines = []
    not_learned = verdict[verdict["learned"].astype(str) == "False"]  # None means "unknown", not False.
    if len(not_learned):
        names = ", ".join(not_learned["label"])
        lines.append(f"{instance}: did not learn (not better than the {verdict['baseline'].iloc[0]} "
                     f"baseline beyond the seeds' noise): {names}.")
    best = verdict.iloc[0]
    if (verdict["learned"].astype(str) == "False").all():
        lines.append(f"{instance}: no configuration beat the baseline; no winner is named.")
        return lines
    if best["n"] < 2:
        lines.append(f"{instance}: best mean test {metric} is {best['label']} ({best['mean']:.4g}), but with one "
                     "seed no uncertainty can be given: run more seeds before naming a winner.")
        return lines
    if len(verdict) == 1:
        lines.append(f"{instance}: one configuration only ({best['label']}); nothing to rank.")
        return lines
    tied = [best["label"]] + [row["label"] for _, row in verdict.iloc[1:].iterrows() if not _distinct(row)]
    if len(tied) == 1:
        lines.append(f"{instance}: {best['label']} is best on test {metric} ({best['mean']:.4g}); every other "
                     f"configuration is worse beyond the 95% interval at {best['n']} seeds.")
    else:
        names = " and ".join([", ".join(tied[:-1]), tied[-1]]) if len(tied) > 2 else " and ".join(tied)
        lines.append(f"{instance}: {names} are not distinguishable on test {metric} at {best['n']} seeds; "
                     "no winner is named.")
    return lines


__all__ = ["difference_interval", "headline", "instance_verdict", "learned", "mean_interval",
           "select_configurations"]
