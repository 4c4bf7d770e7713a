"""The selected epoch: best validation loss, its weights restored, its values reported."""

import keras
import numpy as np
import pandas as pd

from rnnkit.harness.store import selected_epoch
from rnnkit.training.callbacks import KeepBestWeights


def tiny_model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(inputs))


def test_the_weights_of_the_best_validation_epoch_are_restored():
    model = tiny_model()
    callback = KeepBestWeights("val_loss")
    callback.set_model(model)
    kernels = []
    for epoch, val_loss in enumerate([0.5, 0.3, 0.4]):
        kernel = np.full((2, 1), float(epoch + 1), "float32")
        model.get_layer("head").kernel.assign(kernel)
        kernels.append(kernel)
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
    callback.on_train_end()
    assert callback.selected_epoch == 2
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), kernels[1])


def test_a_nan_validation_loss_is_never_selected_and_no_validation_keeps_the_last_epoch():
    model = tiny_model()
    callback = KeepBestWeights("val_loss")
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_loss": float("nan")})
    callback.on_epoch_end(1, {"val_loss": 0.9})
    callback.on_train_end()
    assert callback.selected_epoch == 2
    without = KeepBestWeights("val_loss")
    without.set_model(model)
    for epoch in range(3):
        without.on_epoch_end(epoch, {"loss": 1.0})
    without.on_train_end()
    assert without.selected_epoch == 3


def test_stores_without_a_record_select_by_their_history():
    history = pd.DataFrame({"epoch": [1, 2, 3], "val_loss": [0.4, 0.2, 0.3], "val_mae": [0.5, 0.4, 0.1]})
    assert selected_epoch(history) == 2
    assert selected_epoch(history, stored=3) == 3
    assert selected_epoch(history.drop(columns="val_loss")) == 3
