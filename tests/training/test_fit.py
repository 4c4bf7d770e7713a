"""train / run_experiment: results, reproducibility, bad input, NaN loss, stateful training."""

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import get_task
from rnnkit.errors import ConfigError, TrainingError
from rnnkit.training import callbacks as rk_callbacks
from rnnkit.training.fit import epoch_timings, make_optimizer, run_experiment, train

from .helpers import regression_task, rnn_regressor


def test_train_fills_every_part_of_the_result():
    keras.utils.set_random_seed(0)
    task = regression_task()
    model = rnn_regressor()
    result = train(model, task, TrainConfig(epochs=2, batch_size=8, seed=0))
    assert result.status == "ok" and result.error is None
    assert list(result.history["epoch"]) == [1, 2]
    for column in ("loss", "mae", "val_loss", "val_mae", "learning_rate", "epoch_seconds", "grad_norm",
                   "spectral_radius"):
        assert result.history[column].notna().all(), column
    assert np.allclose(result.history["learning_rate"], 1e-3)
    assert (result.history["grad_norm"] > 0).all()
    # Test metrics agree with a direct computation on the model's own predictions.
    predictions = model.predict(task.test.x, verbose=0)
    assert result.metrics["mse"] == pytest.approx(float(np.mean((predictions - task.test.y) ** 2)), rel=1e-5)
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(result.metrics["mse"]))
    assert np.allclose(result.predictions, predictions, atol=1e-6)  # kept for the harness's figures
    # SimpleRNN(4) on 2 features + Dense(1): 4 * (4 + 2 + 1) + (4 + 1) = 33 weights.
    assert result.params == {"total": 33, "trainable": 33, "non_trainable": 0}
    for key in ("compile_seconds", "fit_seconds", "seconds_per_epoch", "samples_per_second", "evaluate_seconds"):
        assert result.timings[key] > 0, key
    assert result.environment["seed"] == 0 and result.environment["keras"] == keras.__version__
    assert len(result.diagnostics["gradient_flow"]) == 5
    assert len(result.diagnostics["gradient_flow_initial"]) == 5
    assert 0 <= result.diagnostics["saturation"] <= 1
    assert len(result.samples) == 5 and set(result.samples[0]) == {"target", "predicted"}


def test_epoch_timings_leave_the_first_epoch_out_of_the_steady_state():
    # Median of the epochs after the first: median(0.58, 0.25) = 0.415; median(1, 5, 2) = 2.
    assert epoch_timings([4.32, 0.58, 0.25]) == {"first_epoch_seconds": 4.32, "seconds_per_epoch": 0.415}
    assert epoch_timings([3.0, 1.0, 5.0, 2.0]) == {"first_epoch_seconds": 3.0, "seconds_per_epoch": 2.0}
    # A single epoch is all there is.
    assert epoch_timings([1.5]) == {"first_epoch_seconds": 1.5, "seconds_per_epoch": 1.5}
    assert all(np.isnan(value) for value in epoch_timings([]).values())


def test_train_reports_steady_state_seconds_per_epoch(monkeypatch):
    fake_seconds = [4.32, 0.58, 0.25]

    class FakeClockLogger(rk_callbacks.EpochLogger):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            self.rows[-1]["epoch_seconds"] = fake_seconds[epoch]

    monkeypatch.setattr(rk_callbacks, "EpochLogger", FakeClockLogger)
    keras.utils.set_random_seed(0)
    result = train(rnn_regressor(), regression_task(), TrainConfig(epochs=3, batch_size=8), gradient_flow=False)
    assert list(result.history["epoch_seconds"]) == fake_seconds
    assert result.timings["first_epoch_seconds"] == 4.32
    assert result.timings["seconds_per_epoch"] == pytest.approx(0.415)
    # regression_task() trains on 24 of its 48 samples.
    assert result.timings["samples_per_second"] == pytest.approx(24 / 0.415)


def test_gradient_flow_can_be_switched_off():
    keras.utils.set_random_seed(0)
    result = train(rnn_regressor(), regression_task(), TrainConfig(epochs=1, batch_size=8), gradient_flow=False)
    assert "gradient_flow" not in result.diagnostics and "saturation" not in result.diagnostics


def test_same_seed_same_metrics_and_other_seed_differs():
    task = get_task("adding", timesteps=6, num_samples=120, seed=0)
    spec = ModelSpec(cell="gru", units=4)
    first = run_experiment(spec, task, TrainConfig(epochs=2, batch_size=16, seed=3), gradient_flow=False)
    second = run_experiment(spec, task, TrainConfig(epochs=2, batch_size=16, seed=3), gradient_flow=False)
    other = run_experiment(spec, task, TrainConfig(epochs=2, batch_size=16, seed=4), gradient_flow=False)
    assert first.metrics == second.metrics
    assert np.array_equal(first.history["loss"], second.history["loss"])
    assert first.metrics["loss"] != other.metrics["loss"]
    assert first.timings["build_seconds"] > 0


def test_model_that_does_not_fit_the_task_is_refused_before_training():
    task = regression_task()
    inputs = keras.Input((5, 2), name="inputs")
    wrong = keras.Model(inputs, keras.layers.Dense(3, name="head")(keras.layers.SimpleRNN(2, name="rnn_1")(inputs)))
    with pytest.raises(TrainingError, match=r"outputs shape \('batch', 3\) but task 'toy_sum' needs \('batch', 1\)"):
        train(wrong, task, TrainConfig(epochs=1))
    inputs = keras.Input((7, 2), name="inputs")
    too_long = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.SimpleRNN(2)(inputs)))
    with pytest.raises(TrainingError, match=r"takes inputs of shape \('batch', 7, 2\) but task 'toy_sum' provides"):
        train(too_long, task, TrainConfig(epochs=1))
    first, second = keras.Input((5, 2), name="first"), keras.Input((5, 2), name="second")
    two_inputs = keras.Model([first, second], keras.layers.Dense(1)(keras.layers.SimpleRNN(2)(first + second)))
    with pytest.raises(TrainingError, match=r"has 2 inputs but task 'toy_sum' provides one array\."):
        train(two_inputs, task, TrainConfig(epochs=1))


def test_seq2seq_input_names_must_match_the_task():
    task = get_task("reverse", num_samples=40, seed=0)
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="decoder_inputs")
    vocab_size = task.output_spec.dim
    features = keras.layers.Embedding(vocab_size, 2)(target)
    model = keras.Model([source, target], keras.layers.Dense(vocab_size, activation="softmax")(features))
    with pytest.raises(TrainingError, match=r"has inputs \['decoder_inputs', 'source'\] but task 'reverse' provides "
                       r"\['decoder_inputs', 'encoder_inputs'\]\."):
        train(model, task, TrainConfig(epochs=1))


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="`config`: got 'fast'; expected a rnnkit TrainConfig"):
        train(rnn_regressor(), regression_task(), "fast")
    with pytest.raises(ConfigError, match="`task`: got 3; expected a rnnkit Task"):
        train(rnn_regressor(), 3, TrainConfig())
    with pytest.raises(ConfigError, match="`spec`: got 'lstm'; expected a rnnkit ModelSpec"):
        run_experiment("lstm", regression_task(), TrainConfig())
    with pytest.raises(ConfigError, match="`gradient_flow`: got 1; expected True or False"):
        train(rnn_regressor(), regression_task(), TrainConfig(), gradient_flow=1)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("learning_rate", -0.1, "`learning_rate`: got -0.1; expected a finite number > 0"),
        ("epochs", 0, "`epochs`: got 0; expected a positive integer"),
        ("global_clipnorm", 0.0, "`global_clipnorm`: got 0.0; expected a finite number > 0"),
    ],
)
def test_train_config_refuses_bad_values(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        TrainConfig(**{field: value})


def test_only_one_kind_of_clipping_is_accepted():
    with pytest.raises(ConfigError, match="`clipvalue`: got 0.5; expected None when `clipnorm` is set"):
        TrainConfig(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ConfigError, match="`global_clipnorm`: got 2.0; expected None when `clipvalue` is set"):
        TrainConfig(clipvalue=1.0, global_clipnorm=2.0)


def test_optimizer_gets_learning_rate_and_clipping():
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", learning_rate=0.5, clipnorm=1.5))
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.learning_rate) == pytest.approx(0.5) and optimizer.clipnorm == 1.5
    optimizer = make_optimizer(TrainConfig(optimizer="rmsprop", clipvalue=0.25))
    assert isinstance(optimizer, keras.optimizers.RMSprop) and optimizer.clipvalue == 0.25
    assert make_optimizer(TrainConfig(global_clipnorm=3.0)).global_clipnorm == 3.0


def test_nan_loss_stops_the_run_with_a_status_and_keeps_history():
    keras.utils.set_random_seed(0)
    # Inputs around 1e30 make the squared error overflow float32 at once.
    task = regression_task(scale=1e30)
    result = train(rnn_regressor(cell=keras.layers.LSTM), task, TrainConfig(epochs=5, batch_size=8))
    assert result.status == "diverged"
    assert len(result.history) == 1  # Stopped after the first epoch, which is kept.
    assert not np.isfinite(result.history["loss"].iloc[0])
    assert "Loss became" in result.error and "in epoch 1" in result.error and "learning rate" in result.error
    assert result.metrics == {}


def test_early_stopping_ends_training_when_validation_gets_worse():
    keras.utils.set_random_seed(0)
    # Validation targets have the opposite sign: learning the training rule makes them worse.
    task = regression_task(num_samples=64, y_sign=(1, -1, 1))
    config = TrainConfig(epochs=12, batch_size=8, learning_rate=0.02, early_stopping_patience=1)
    result = train(rnn_regressor(), task, config, gradient_flow=False)
    assert result.status == "ok"
    assert len(result.history) < 12
    increases = np.diff(result.history["val_loss"].to_numpy()) > 0
    assert increases[-1]  # Stopped right after a worse epoch (patience 1).


def test_user_callbacks_run():
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    train(rnn_regressor(), regression_task(), TrainConfig(epochs=2, batch_size=8), callbacks=[Record()],
          gradient_flow=False)
    assert seen == [0, 1]


def test_series_metrics_in_original_units():
    from rnnkit.data.series import StandardScaler
    from rnnkit.data.tasks import replace_splits

    keras.utils.set_random_seed(0)
    task = replace_splits(regression_task(), scaler=StandardScaler(mean=100.0, std=4.0))
    result = train(rnn_regressor(), task, TrainConfig(epochs=1, batch_size=8), gradient_flow=False)
    # Standardised errors times std = errors in original units.
    assert result.metrics["rmse_original"] == pytest.approx(4.0 * result.metrics["rmse"], rel=1e-6)
    assert result.metrics["mse_original"] == pytest.approx(16.0 * result.metrics["mse"], rel=1e-6)


def test_classification_reports_a_confusion_matrix():
    task = get_task("parity", timesteps=5, num_samples=32, seed=0)
    result = run_experiment(ModelSpec(cell="gru", units=4), task, TrainConfig(epochs=1, batch_size=8),
                            gradient_flow=False)
    matrix = np.array(result.diagnostics["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == task.test.num_samples
    assert result.metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())


def test_seq2seq_scores_decoded_outputs_not_only_teacher_forcing():
    task = get_task("reverse", timesteps=4, num_samples=80, seed=0)
    spec = ModelSpec(cell="gru", variety="seq2seq", units=8)
    result = run_experiment(spec, task, TrainConfig(epochs=1, batch_size=16), gradient_flow=False)
    for key in ("token_accuracy", "exact_match", "decoded_token_accuracy"):
        assert 0.0 <= result.metrics[key] <= 1.0
    sample = result.samples[0]
    assert set(sample) == {"input", "target", "predicted", "correct"}
    assert sample["target"] == sample["input"][::-1]  # the reverse task, decoded back to text
    assert all(s["correct"] == (s["predicted"] == s["target"]) for s in result.samples)


def test_run_result_repr_is_one_line_without_the_history():
    import pandas as pd

    from rnnkit import RunResult

    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.25], "val_loss": [1.0, 0.6, 0.4]})
    result = RunResult(status="ok", history=history, metrics={"loss": 0.123456, "mae": 0.5},
                       params={"total": 97, "trainable": 97, "non_trainable": 0})
    assert repr(result) == "RunResult(status='ok', epochs=3, metrics={loss=0.1235, mae=0.5}, params=97)"


@pytest.mark.jax
def test_run_experiment_seeds_as_keras_set_random_seed_does():
    from rnnkit.models.builders import build_model
    from rnnkit.training.fit import seed_everything

    task = regression_task(num_samples=40)
    spec = ModelSpec(cell="gru", units=3)
    config = TrainConfig(epochs=2, batch_size=8, seed=4)
    ours = run_experiment(spec, task, config)
    # The same run seeded by Keras's own function: same weights, shuffling, metrics.
    keras.utils.set_random_seed(4)
    model = build_model(spec, task)
    theirs = train(model, task, config)
    assert ours.metrics == theirs.metrics
    seed_everything(4)
    first = np.random.random()
    keras.utils.set_random_seed(4)
    assert np.random.random() == first


@pytest.mark.jax
def test_the_initial_gradient_flow_is_measured_at_the_weights_before_training():
    # Measured after training (its pass compiles while `fit` runs), but at the initial
    # weights: it must equal the flow of an untrained copy built from the same seed,
    # computed by the separate eager `gradient_flow`.
    from rnnkit.models.builders import build_model
    from rnnkit.training.diagnostics import gradient_flow, probe_batch
    from rnnkit.training.fit import seed_everything

    task = get_task("adding", timesteps=5, num_samples=60)
    spec, config = ModelSpec(cell="lstm", units=3), TrainConfig(epochs=2, batch_size=8, seed=3, learning_rate=0.05)
    result = run_experiment(spec, task, config)
    seed_everything(3)
    untrained = build_model(spec, task)
    x, y, weights = probe_batch(task.test, 8)
    expected = gradient_flow(untrained, x, y, loss=task.loss, sample_weight=weights)
    assert np.allclose(result.diagnostics["gradient_flow_initial"], expected, rtol=1e-4, atol=1e-7)
    # Training moved the weights, so the flow after training differs.
    assert not np.allclose(result.diagnostics["gradient_flow"], expected, rtol=1e-3)
    # The prediction pass compiled during training is dropped with the run: it refers to
    # the model, and a grid trains many models in one process.
    from rnnkit.training.metrics import _PREDICTION_AHEAD

    assert result.model not in _PREDICTION_AHEAD
