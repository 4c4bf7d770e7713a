"""Stateful training for sequentially partitioned language models."""

import dataclasses

import keras
import numpy as np
import pytest

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.data.tasks import Split, get_task
from rnnkit.errors import TrainingError
from rnnkit.models.builders import build_model
from rnnkit.training.callbacks import ResetStatesAtEpochStart
from rnnkit.training.fit import run_experiment, train

BATCH = 4


@pytest.fixture(scope="module")
def sequential_task():
    return get_task("builtin_lm", timesteps=8, partition="sequential", batch_size=BATCH, max_chars=4000)


def test_state_is_carried_between_batches_until_reset(sequential_task):
    keras.utils.set_random_seed(0)
    spec = ModelSpec(cell="gru", variety="many_to_many", units=6, stateful=True)
    model = build_model(spec, sequential_task, batch_size=BATCH)
    batch = sequential_task.train.x[:BATCH]
    first = model.predict_on_batch(batch)
    second = model.predict_on_batch(batch)  # starts from the state the first call left
    assert not np.allclose(first, second)
    callback = ResetStatesAtEpochStart()
    callback.set_model(model)
    callback.on_epoch_begin(0)
    assert np.allclose(model.predict_on_batch(batch), first)


def test_stateful_run_trains_and_reports_perplexity_and_text(sequential_task):
    spec = ModelSpec(cell="lstm", variety="many_to_many", units=8, embedding_dim=4, stateful=True)
    config = TrainConfig(epochs=1, batch_size=BATCH, seed=0)
    result = run_experiment(spec, sequential_task, config)
    assert result.status == "ok"
    vocab_size = sequential_task.output_spec.dim
    # An untrained-ish model is far from perfect but much better than nothing: 1 < ppl.
    assert 1.0 < result.metrics["perplexity"] < 2 * vocab_size
    assert result.metrics["perplexity"] == pytest.approx(np.exp(result.metrics["loss"]), rel=1e-3)
    assert 0 <= result.metrics["token_accuracy"] <= 1
    assert {sample["mode"] for sample in result.samples} == {"greedy", "temperature 0.8"}
    assert all(sample["text"].startswith(sample["prefix"]) for sample in result.samples)


def test_stream_count_must_match_the_batch_size(sequential_task):
    spec = ModelSpec(cell="gru", variety="many_to_many", units=4, stateful=True)
    with pytest.raises(TrainingError, match="cut into 4 sequential streams but `batch_size` is 8"):
        run_experiment(spec, sequential_task, TrainConfig(epochs=1, batch_size=8))


def test_stateful_batch_size_and_split_sizes_are_checked_before_training(sequential_task):
    spec = ModelSpec(cell="gru", variety="many_to_many", units=4, stateful=True)
    model = build_model(spec, sequential_task, batch_size=2)
    with pytest.raises(TrainingError, match="is stateful with batch size 2, but `batch_size` is 4; build it"):
        train(model, sequential_task, TrainConfig(epochs=1, batch_size=BATCH))
    test = sequential_task.test
    tiny = dataclasses.replace(sequential_task, test=Split(test.x[:3], test.y[:3]))
    model = build_model(spec, sequential_task, batch_size=BATCH)
    with pytest.raises(TrainingError, match="The test split has 3 samples, fewer than `batch_size` 4; "):
        train(model, tiny, TrainConfig(epochs=1, batch_size=BATCH))
