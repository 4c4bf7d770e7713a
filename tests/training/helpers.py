"""Tiny hand-made tasks and models for the training tests."""

import keras
import numpy as np

from rnnkit.data.tasks import InputSpec, OutputSpec, Split, Task


def regression_task(num_samples=48, timesteps=5, num_features=2, seed=0, scale=1.0, y_sign=(1, 1, 1)):
    """y = sum of x over time and features (a learnable linear target), split 2/4 : 1/4 : 1/4."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(num_samples, timesteps, num_features)) * scale).astype("float32")
    y = x.sum(axis=(1, 2))[:, None].astype("float32")
    half, three_quarters = num_samples // 2, 3 * num_samples // 4
    parts = [slice(0, half), slice(half, three_quarters), slice(three_quarters, None)]
    splits = [Split(x[part], y[part] * sign) for part, sign in zip(parts, y_sign)]
    return Task(
        name="toy_sum", variety="many_to_one", train=splits[0], validation=splits[1], test=splits[2],
        input_spec=InputSpec(timesteps=timesteps, num_features=num_features),
        output_spec=OutputSpec("regression", 1), loss="mse", metrics=("mae",),
        description="toy", source="test", licence="none",
    )


def rnn_regressor(timesteps=5, num_features=2, units=4, cell=keras.layers.SimpleRNN):
    inputs = keras.Input((timesteps, num_features), name="inputs")
    hidden = cell(units, name="rnn_1")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
