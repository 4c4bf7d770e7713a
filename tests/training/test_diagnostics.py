"""Diagnostics on hand-weighted recurrent layers, where the answers follow from the equations."""

import keras
import numpy as np
import pytest

from rnnkit.errors import ConfigError
from rnnkit.training.callbacks import COMPILE_FROM_EPOCHS, GradientNormProbe
from rnnkit.training.diagnostics import (
    compiled_gradient_norm,
    gate_spectral_radii,
    gradient_flow,
    gradient_norm,
    hidden_states,
    probe_gradients,
    saturation,
    spectral_radius,
)

# Backend-neutral: CI also runs this module under KERAS_BACKEND=jax (`pytest -m jax`).
pytestmark = pytest.mark.jax


def linear_rnn(recurrent_weight, timesteps=6, return_sequences=False):
    """h_t = x_t + w * h_{t-1} (1 unit, no bias), read out by a Dense of weight 1."""
    inputs = keras.Input((timesteps, 1), name="inputs")
    rnn = keras.layers.SimpleRNN(
        1, activation="linear", use_bias=False, name="rnn_1", return_sequences=return_sequences,
        kernel_initializer="ones", recurrent_initializer=keras.initializers.Constant(recurrent_weight),
    )
    head = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="head")
    return keras.Model(inputs, head(rnn(inputs)))


def test_gradient_flow_decays_like_the_recurrent_weight_to_the_power_of_distance():
    timesteps, weight = 6, 0.5
    model = linear_rnn(weight, timesteps)
    x = np.ones((1, timesteps, 1), "float32")
    # y_hat = sum_t w^(T-1-t) x_t, so dL/dx_t = 2 (y_hat - y) w^(T-1-t): a geometric decay.
    flow = gradient_flow(model, x, np.zeros((1, 1), "float32"), loss="mse")
    assert flow.shape == (timesteps,)
    y_hat = sum(weight ** k for k in range(timesteps))
    expected = 2 * y_hat * weight ** np.arange(timesteps - 1, -1, -1)
    assert np.allclose(flow, expected, rtol=1e-5)


def test_gradient_flow_grows_when_the_recurrent_weight_exceeds_one():
    model = linear_rnn(1.5, timesteps=5)
    flow = gradient_flow(model, np.ones((2, 5, 1), "float32"), np.zeros((2, 1), "float32"), loss="mse")
    assert np.all(np.diff(flow) < 0)  # earliest step gets the largest gradient: explosion
    assert flow[0] / flow[-1] == pytest.approx(1.5 ** 4, rel=1e-5)


def test_gradient_norm_by_hand():
    model = linear_rnn(0.0, timesteps=2)
    # w_h = 0: y_hat = v * k * x_T with kernel k = 1 and head v = 1. With x_T = 1, y = 0:
    # L = y_hat^2, dL/dk = 2, dL/dv = 2, dL/dw_h = 2 * h_1 = 2 (h_1 = x_1 = 1); norm = sqrt(12).
    norm = gradient_norm(model, np.ones((1, 2, 1), "float32"), np.zeros((1, 1), "float32"), loss="mse")
    assert norm == pytest.approx(np.sqrt(12), rel=1e-5)


def expected_norm(head_weight):
    """linear_rnn(0) on x = (1, 1), y = 0 with kernel 1 and head v: y_hat = v, L = v^2,
    dL/dv = 2v, dL/dk = 2v^2, dL/dw_h = 2v^2 (h_1 = 1), so the norm is sqrt(4v^2 + 8v^4)."""
    return np.sqrt(4 * head_weight**2 + 8 * head_weight**4)


def test_compiled_gradient_norm_reads_the_current_weights():
    model = linear_rnn(0.0, timesteps=2)
    measure = compiled_gradient_norm(model, np.ones((1, 2, 1), "float32"), np.zeros((1, 1), "float32"), loss="mse")
    assert measure() == pytest.approx(expected_norm(1.0), rel=1e-5)
    model.get_layer("head").kernel.assign([[2.0]])
    assert measure() == pytest.approx(expected_norm(2.0), rel=1e-5)  # 12


@pytest.mark.parametrize("compile", [False, True])
def test_probe_gradients_gives_norm_and_flow_in_one_pass(compile):
    timesteps, weight = 6, 0.5
    model = linear_rnn(weight, timesteps)
    measure = probe_gradients(model, loss="mse", compile=compile)
    x, y = np.ones((1, timesteps, 1), "float32"), np.zeros((1, 1), "float32")
    norm, flow = measure(x, y)
    # y_hat = sum_t w^(T-1-t) x_t = S; dL/dx_t = 2 S w^(T-1-t) (as in the flow test above).
    y_hat = sum(weight ** k for k in range(timesteps))
    assert np.allclose(flow, 2 * y_hat * weight ** np.arange(timesteps - 1, -1, -1), rtol=1e-5)
    # dL/dk = 2 S * S (k multiplies every x_t), dL/dv = 2 S * S (head v = 1 on h_T = S),
    # dL/dw = 2 S * sum_t (T-1-t) w^(T-2-t).
    d_w = sum(k * weight ** (k - 1) for k in range(1, timesteps))
    assert norm == pytest.approx(np.sqrt(2 * (2 * y_hat * y_hat) ** 2 + (2 * y_hat * d_w) ** 2), rel=1e-5)
    # The weights are read at every call: with head v = 2, y_hat = 2 S and dL/dy_hat = 4 S,
    # so dL/dv = 4 S * S, dL/dk = 4 S * 2 S and dL/dw = 4 S * 2 d_w.
    model.get_layer("head").kernel.assign([[2.0]])
    expected = np.sqrt((4 * y_hat * y_hat) ** 2 + (8 * y_hat * y_hat) ** 2 + (8 * y_hat * d_w) ** 2)
    assert measure(x, y)[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("calls", [None, 4])  # optimised, and quickly compiled for a few calls
def test_a_pass_compiled_ahead_gives_the_same_numbers_and_measures_at_given_weights(calls):
    timesteps, weight = 6, 0.5
    model = linear_rnn(weight, timesteps)
    measure = probe_gradients(model, loss="mse", compile=True)
    x, y = np.ones((1, timesteps, 1), "float32"), np.zeros((1, 1), "float32")
    measure.prepare(x, y, calls=calls)  # On JAX: compiling in a background thread from here.
    y_hat = sum(weight ** k for k in range(timesteps))
    d_w = sum(k * weight ** (k - 1) for k in range(1, timesteps))
    norm, flow = measure(x, y)
    assert np.allclose(flow, 2 * y_hat * weight ** np.arange(timesteps - 1, -1, -1), rtol=1e-5)
    assert norm == pytest.approx(np.sqrt(2 * (2 * y_hat * y_hat) ** 2 + (2 * y_hat * d_w) ** 2), rel=1e-5)
    # Another batch shape than the one prepared: the ordinary compiled pass. Two rows of
    # ones average to the same loss, so the same gradients.
    norm_two, _ = measure(np.ones((2, timesteps, 1), "float32"), np.zeros((2, 1), "float32"))
    assert norm_two == pytest.approx(norm, rel=1e-5)
    # Weights given explicitly (here the head v = 2, as in the test above), model untouched.
    given = [np.array(w) for w in model.trainable_weights]
    given[-1] = np.array([[2.0]], "float32")
    expected = np.sqrt((4 * y_hat * y_hat) ** 2 + (8 * y_hat * y_hat) ** 2 + (8 * y_hat * d_w) ** 2)
    assert measure(x, y, trainable=given)[0] == pytest.approx(expected, rel=1e-5)
    assert float(np.asarray(model.get_layer("head").kernel)[0, 0]) == 1.0
    measure.wait()


@pytest.mark.parametrize("epochs", [2, COMPILE_FROM_EPOCHS])  # the eager and the traced replay
def test_gradient_norm_probe_replays_each_epochs_weights(epochs):
    model = linear_rnn(0.0, timesteps=2)
    probe = GradientNormProbe(np.ones((1, 2, 1), "float32"), np.zeros((1, 1), "float32"), loss="mse")
    probe.set_model(model)
    head = model.get_layer("head").kernel
    for epoch in range(epochs):  # Stand-in for training: epoch e ends with head weight e + 1.
        head.assign([[float(epoch + 1)]])
        probe.on_epoch_end(epoch)
    head.assign([[7.0]])
    values = probe.compute()
    assert values == pytest.approx([expected_norm(v) for v in range(1, epochs + 1)], rel=1e-5)
    assert float(head.numpy()[0, 0]) == 7.0  # the final weights are put back


def test_spectral_radius_of_a_rotation_and_of_gate_blocks():
    inputs = keras.Input((3, 2))
    rnn = keras.layers.SimpleRNN(2, name="rnn_1")
    keras.Model(inputs, rnn(inputs))
    # A scaled rotation has complex eigenvalues +-0.8i: radius 0.8 although no entry is 0.8 on the diagonal.
    rnn.cell.recurrent_kernel.assign(np.array([[0.0, -0.8], [0.8, 0.0]], "float32"))
    model = keras.Model(inputs, rnn.output)
    assert spectral_radius(model) == pytest.approx(0.8)

    lstm = keras.layers.LSTM(3, name="rnn_1")
    model = keras.Model(inputs, lstm(inputs))
    lstm.cell.recurrent_kernel.assign(np.hstack([scale * np.eye(3) for scale in (0.1, 0.2, 0.3, 0.4)]).astype("float32"))
    assert gate_spectral_radii(model) == pytest.approx({"input": 0.1, "forget": 0.2, "cell": 0.3, "output": 0.4})
    assert spectral_radius(model) == pytest.approx(0.4)


def test_saturation_and_hidden_states():
    inputs = keras.Input((4, 1), name="inputs")
    rnn = keras.layers.SimpleRNN(2, name="rnn_1", kernel_initializer=keras.initializers.Constant(10.0),
                                 recurrent_initializer="zeros", use_bias=False)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(rnn(inputs)))
    x = np.ones((3, 4, 1), "float32")
    states = hidden_states(model, x)
    assert states.shape == (3, 4, 2)
    assert np.allclose(states, np.tanh(10.0), atol=1e-6)  # every h_t = tanh(10 * 1)
    assert saturation(model, x) == 1.0
    assert saturation(model, np.zeros_like(x)) == 0.0
    # The layer itself returns only h_T; hidden_states' last step must equal it.
    last = keras.Model(inputs, rnn.output)(x)
    assert np.allclose(states[:, -1], last, atol=1e-6)
    with pytest.raises(ConfigError, match=r"`threshold`: got 1.5; expected a number in \(0, 1\)"):
        saturation(model, x, threshold=1.5)


def test_saturation_from_the_reference_equations_counts_the_same_states():
    # h_t = tanh(x_t * k + h_{t-1} * w) with one unit, k = 2 and w = 0.5: for x = (1, 0, 0, 0)
    # the states are tanh(2) = 0.964, tanh(0.482) = 0.448, tanh(0.224) = 0.220, tanh(0.110) = 0.110.
    inputs = keras.Input((4, 1), name="inputs")
    rnn = keras.layers.SimpleRNN(1, name="rnn_1", kernel_initializer=keras.initializers.Constant(2.0),
                                 recurrent_initializer=keras.initializers.Constant(0.5), use_bias=False)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(rnn(inputs)))
    x = np.array([[[1.0], [0.0], [0.0], [0.0]]], "float32")
    # Above 0.95: only h_1 (1 of 4); above 0.2: h_1, h_2, h_3 (3 of 4).
    for threshold, share in ((0.95, 0.25), (0.2, 0.75)):
        assert saturation(model, x, threshold=threshold, reference=True) == share
        assert saturation(model, x, threshold=threshold) == share
    with pytest.raises(ConfigError, match="`reference`: got 'yes'"):
        saturation(model, x, reference="yes")


def test_saturation_falls_back_to_keras_where_the_reference_cannot_run():
    inputs = keras.Input((3, 1), name="inputs")
    layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(2, kernel_initializer=keras.initializers.Constant(10.0),
                                                              recurrent_initializer="zeros", use_bias=False), name="rnn_1")
    model = keras.Model(inputs, layer(inputs))
    # Every state of both directions is tanh(10) > 0.95 for an input of ones.
    assert saturation(model, np.ones((2, 3, 1), "float32"), reference=True) == 1.0


def test_missing_recurrent_layer_is_named():
    inputs = keras.Input((4, 1), name="inputs")
    model = keras.Model(inputs, keras.layers.SimpleRNN(2, name="rnn_1")(inputs))
    with pytest.raises(ConfigError, match="`layer_name`: got 'rnn_9'; expected the name of a recurrent layer of the model \\(rnn_1\\)"):
        spectral_radius(model, layer_name="rnn_9")
    dense = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="mlp")
    with pytest.raises(ConfigError, match="Model 'mlp' has no recurrent layer"):
        spectral_radius(dense)
    with pytest.raises(ConfigError, match="`loss`: got None; expected a Keras loss name"):
        gradient_flow(model, np.ones((1, 4, 1)), np.ones((1, 2)))


def test_spectral_radius_recorder_keeps_each_epochs_kernel():
    from rnnkit.training.callbacks import SpectralRadiusRecorder

    inputs = keras.Input((3, 2), name="inputs")
    rnn = keras.layers.SimpleRNN(2, name="rnn_1")
    model = keras.Model(inputs, rnn(inputs))
    recorder = SpectralRadiusRecorder()
    recorder.set_model(model)
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # Epoch 1 ends with 0.8 x a rotation (eigenvalues 0.8 e^{+-i 0.3}), epoch 2 with 0.5 x I.
    for epoch, kernel in enumerate((0.8 * rotation, 0.5 * np.eye(2))):
        rnn.cell.recurrent_kernel.assign(kernel.astype("float32"))
        recorder.on_epoch_end(epoch)
    assert recorder.values == pytest.approx([0.8, 0.5])
    assert recorder.values == pytest.approx([0.8, 0.5])  # read twice, computed once


def test_a_step_run_a_few_times_compiles_without_optimisations_and_computes_the_same():
    from rnnkit.training.gradients import (
        FEW_CALLS,
        QUICK_COMPILE_MAX_WEIGHTS,
        QUICK_COMPILE_OPTIONS,
        compile_ahead,
        compiled,
    )

    def f(a, b):
        return keras.ops.tanh(keras.ops.matmul(a, b)).sum(axis=0)

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(8, 4)).astype("float32")
    expected = np.tanh(a.astype("float64") @ b.astype("float64")).sum(axis=0)
    handles = {calls: compile_ahead(compiled(f), [a, b], calls=calls) for calls in (None, FEW_CALLS, FEW_CALLS + 1)}
    # A few calls of a large model: each slower call would cost more than the compile saves.
    handles["large"] = compile_ahead(compiled(f), [a, b], calls=FEW_CALLS, weights=QUICK_COMPILE_MAX_WEIGHTS + 1)
    handles["small"] = compile_ahead(compiled(f), [a, b], calls=FEW_CALLS, weights=QUICK_COMPILE_MAX_WEIGHTS)
    if keras.backend.backend() != "jax":
        assert set(handles.values()) == {None}  # TensorFlow traces in Python; nothing to start
        return
    assert handles[FEW_CALLS].compiler_options == handles["small"].compiler_options == QUICK_COMPILE_OPTIONS
    assert handles[None].compiler_options == handles[FEW_CALLS + 1].compiler_options == {}
    assert handles["large"].compiler_options == {}
    for handle in handles.values():
        np.testing.assert_allclose(np.asarray(handle(a, b)), expected, rtol=1e-5)
