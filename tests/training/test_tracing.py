"""The retracing notice is hidden inside rnnkit's training and decoding, and nothing else is."""

import logging

import keras

from rnnkit.config import TrainConfig
from rnnkit.startup import set_verbose
from rnnkit.training.fit import train
from rnnkit.training.tracing import retracing_notice_hidden

from .helpers import regression_task, rnn_regressor

NOTICE = "5 out of the last 5 calls to <function f> triggered tf.function retracing. Tracing is expensive"


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def tensorflow_messages(action) -> list[str]:
    logger, handler = logging.getLogger("tensorflow"), Collect()
    logger.addHandler(handler)
    try:
        action()
    finally:
        logger.removeHandler(handler)
    return handler.messages


def log_both():
    logging.getLogger("tensorflow").warning(NOTICE)
    logging.getLogger("tensorflow").warning("Some other TensorFlow warning")


def test_only_the_retracing_notice_is_dropped_and_only_inside_the_block():
    def inside():
        with retracing_notice_hidden():
            log_both()

    # With --verbose (rnnkit.set_verbose) the notice shows everywhere except in the block.
    set_verbose(True)
    try:
        assert tensorflow_messages(inside) == ["Some other TensorFlow warning"]
        assert tensorflow_messages(log_both) == [NOTICE, "Some other TensorFlow warning"]
    finally:
        set_verbose(False)


def test_quiet_by_default_the_notice_is_dropped_everywhere_and_nothing_else():
    # `import rnnkit` (rnnkit.startup.install) drops the notice from the tensorflow logger.
    assert tensorflow_messages(log_both) == ["Some other TensorFlow warning"]


def test_train_hides_the_notice_while_it_runs():
    class LogsAtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log_both()

    keras.utils.set_random_seed(0)
    config = TrainConfig(epochs=1, batch_size=8)

    def run():
        train(rnn_regressor(), regression_task(), config, callbacks=[LogsAtEpochEnd()], gradient_flow=False)

    set_verbose(True)  # Quiet by default hides the notice everywhere; verbose shows it outside train.
    try:
        assert tensorflow_messages(run) == ["Some other TensorFlow warning"]
        assert tensorflow_messages(log_both) == [NOTICE, "Some other TensorFlow warning"]
    finally:
        set_verbose(False)
