"""rnnkit: a Keras 3 course lab kit for recurrent neural networks.

The public API is listed below, name by name. Names are imported lazily on first
use, so `import rnnkit` (and `rnnkit --help`) stays fast and does not import
TensorFlow until a model, a task or a plot is actually needed.

Example:

```python
import rnnkit

task = rnnkit.get_task("adding", timesteps=20, num_samples=500, seed=0)
spec = rnnkit.ModelSpec(cell="gru", variety="many_to_one", units=8)
result = rnnkit.run_experiment(spec, task, rnnkit.TrainConfig(epochs=2))
print(result.metrics, rnnkit.param_table(result.model))
```
"""

from __future__ import annotations

import importlib

from rnnkit import startup as _startup

__version__ = "0.1.0"

# Before anything imports TensorFlow: keep its start-up lines off stderr (rnnkit.startup).
_startup.install()

# Public name -> module that defines it.
_EXPORTS = {
    # Settings and errors.
    "ModelSpec": "rnnkit.config",
    "TrainConfig": "rnnkit.config",
    "CELLS": "rnnkit.config",
    "VARIETIES": "rnnkit.config",
    "RnnkitError": "rnnkit.errors",
    "ConfigError": "rnnkit.errors",
    "DataError": "rnnkit.errors",
    "TrainingError": "rnnkit.errors",
    # Models and parameter counts.
    "build_model": "rnnkit.models.builders",
    "Cell": "rnnkit.models.cells",
    "register_cell": "rnnkit.models.cells",
    "Seq2SeqInference": "rnnkit.models.seq2seq",
    "run_reference": "rnnkit.models.reference",
    "stacked_projection": "rnnkit.models.reference",
    "recurrent_params": "rnnkit.params",
    "recurrent_formula": "rnnkit.params",
    "dense_params": "rnnkit.params",
    "embedding_params": "rnnkit.params",
    "param_table": "rnnkit.params",
    "param_totals": "rnnkit.params",
    # Tasks and data.
    "Task": "rnnkit.data.tasks",
    "Split": "rnnkit.data.tasks",
    "InputSpec": "rnnkit.data.tasks",
    "OutputSpec": "rnnkit.data.tasks",
    "get_task": "rnnkit.data.tasks",
    "list_tasks": "rnnkit.data.tasks",
    "task_names": "rnnkit.data.tasks",
    "register_task": "rnnkit.data.tasks",
    "Vocab": "rnnkit.data.vocab",
    "tokenize": "rnnkit.data.text",
    "load_text_file": "rnnkit.data.text",
    "builtin_corpus": "rnnkit.data.text",
    "lm_random_partition": "rnnkit.data.text",
    "lm_sequential_partition": "rnnkit.data.text",
    "lm_task": "rnnkit.data.text",
    "StandardScaler": "rnnkit.data.series",
    "make_windows": "rnnkit.data.series",
    "forecast_task": "rnnkit.data.series",
    "load_csv_series": "rnnkit.data.series",
    "classification_task": "rnnkit.data.textclass",
    "load_time_machine": "rnnkit.data.loaders",
    "load_tiny_shakespeare": "rnnkit.data.loaders",
    "load_airline_passengers": "rnnkit.data.loaders",
    "load_sunspots": "rnnkit.data.loaders",
    "load_sentence_polarity": "rnnkit.data.loaders",
    # Training, metrics, decoding and diagnostics.
    "train": "rnnkit.training.fit",
    "run_experiment": "rnnkit.training.fit",
    "RunResult": "rnnkit.training.result",
    "perplexity": "rnnkit.training.metrics",
    "perplexity_from_probs": "rnnkit.training.metrics",
    "token_accuracy": "rnnkit.training.metrics",
    "exact_match": "rnnkit.training.metrics",
    "confusion_matrix": "rnnkit.training.metrics",
    "greedy_decode": "rnnkit.training.decoding",
    "beam_search_decode": "rnnkit.training.decoding",
    "generate_text": "rnnkit.training.decoding",
    "gradient_flow": "rnnkit.training.diagnostics",
    "gradient_norm": "rnnkit.training.diagnostics",
    "spectral_radius": "rnnkit.training.diagnostics",
    "hidden_states": "rnnkit.training.diagnostics",
    "saturation": "rnnkit.training.diagnostics",
    # Plots.
    "plot_learning_curves": "rnnkit.report.plots",
    "plot_gradient_flow": "rnnkit.report.plots",
    "plot_grad_norm": "rnnkit.report.plots",
    "plot_predictions": "rnnkit.report.plots",
    "plot_confusion_matrix": "rnnkit.report.plots",
    "plot_param_counts": "rnnkit.report.plots",
    "plot_metric_vs_params": "rnnkit.report.plots",
    "plot_seconds_per_epoch": "rnnkit.report.plots",
    "save_figure": "rnnkit.report.plots",
    # Output.
    "set_verbose": "rnnkit.startup",
    # Comparison harness and report.
    "RunConfig": "rnnkit.harness.grid",
    "Grid": "rnnkit.harness.grid",
    "load_grid": "rnnkit.harness.grid",
    "expand_grid": "rnnkit.harness.grid",
    "default_grid": "rnnkit.harness.grid",
    "compare": "rnnkit.harness.runner",
    "run_single": "rnnkit.harness.runner",
    "load_results": "rnnkit.harness.store",
    "load_summary": "rnnkit.harness.store",
    "load_verdict": "rnnkit.harness.store",
    "verdict_lines": "rnnkit.harness.store",
    "match_units": "rnnkit.harness.budget",
    "build_report": "rnnkit.report.report",
    # Baselines, metric directions and ranges.
    "task_baselines": "rnnkit.training.baselines",
    "best_baseline": "rnnkit.training.baselines",
    "metric_direction": "rnnkit.training.metrics",
    "metric_range": "rnnkit.training.metrics",
    "plot_curves_over_seeds": "rnnkit.report.plots",
    "plot_metric_over_seeds": "rnnkit.report.plots",
    "plot_prediction_samples": "rnnkit.report.plots",
}

__all__ = list(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    """Imports a public name from its module on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
