"""Hides TensorFlow's "triggered tf.function retracing" notice while rnnkit trains and decodes.

Keras gives every new model its own `tf.function` per step (train, test, predict), all
made from the same Python function inside Keras. TensorFlow's retracing detector counts
traces per *Python function*, so the first trace of each new model's function counts as
a retrace of the previous model's. A grid (or a lab loop) that builds a fresh model per
run, or seq2seq decoding, which builds an encoder and a one-step decoder from the
trained model, therefore prints the notice although every function is traced once per
input shape (Keras's `reduce_retracing` then generalises the batch size). Nothing can
be cached across different models, so the notice only says that models were built.

Only that one message of the `tensorflow` logger is dropped, and only inside the
functions that use `retracing_notice_hidden` (as a `with` block or a decorator); every
other TensorFlow warning still shows.

Example:

```python
with retracing_notice_hidden():
    for units in (4, 8, 16):
        run_experiment(ModelSpec(cell="gru", units=units), task, TrainConfig(epochs=1))
```
"""

from __future__ import annotations

import contextlib
import logging

# The start of the notice TensorFlow logs from its tf.function retracing detector.
RETRACING_NOTICE = "triggered tf.function retracing"


class _DropRetracingNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return RETRACING_NOTICE not in record.getMessage()


@contextlib.contextmanager
def retracing_notice_hidden():
    """Drops TensorFlow's retracing notice from the `tensorflow` logger inside the block."""
    logger = logging.getLogger("tensorflow")
    notice_filter = _DropRetracingNotice()
    logger.addFilter(notice_filter)
    try:
        yield
    finally:
        logger.removeFilter(notice_filter)
