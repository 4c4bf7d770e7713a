"""Quiet start-up: TensorFlow's import-time log lines stay off stderr unless asked for.

Importing TensorFlow 2.21 writes lines from C++ before `TF_CPP_MIN_LOG_LEVEL` takes
effect ("Could not find cuda drivers", the CPU-instructions notice, "failed call to
cuInit" when the devices are first probed), and Keras' loops log TensorFlow's
"triggered tf.function retracing" notice whenever a lab builds a new model (see
`rnnkit.training.tracing`). A student cannot act on any of them.

One more line came from a failure, not a notice: Grappler's remapper (the graph pass
that fuses MatMul + BiasAdd + activation into one oneDNN op) breaks on the ReLU inside
a Keras RNN loop ("... while/simple_rnn_cell_1/Relu has an empty op name", logged as
errors by `tfg_optimizer_hook.cc` and `meta_optimizer.cc` at every trace). TensorFlow
then runs the unoptimised loop, so the pass gains nothing there. Whenever rnnkit sees
TensorFlow loaded (verbose or not), it turns that one pass off with
`tf.config.optimizer.set_experimental_options({"remapping": False})`: the errors are
gone at their source, with the same losses (a ReLU SimpleRNN: identical; GRU and
LSTM: identical; a tanh SimpleRNN: within 1e-7) and no measurable change of speed
on these small models.

`import rnnkit` therefore (unless the environment variable `RNNKIT_VERBOSE` is set):

- sets `TF_CPP_MIN_LOG_LEVEL=2` if it is unset (C++ INFO and WARNING lines after
  start-up; errors still show). Numerics are unchanged: oneDNN stays as TensorFlow
  chooses.
- arranges that TensorFlow, when something imports it later, is imported with file
  descriptor 2 captured, and its devices probed, so the start-up lines are kept in
  memory rather than printed;
- drops the retracing notice from the `tensorflow` logger;
- turns the remapper pass off as TensorFlow loads (with `RNNKIT_VERBOSE` too).

Nothing is imported at that point: `import rnnkit` stays fast. `set_verbose()` (the
labs' and the CLI's `--verbose`) prints what was captured and shows everything from
then on. Import rnnkit before keras for this to apply.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys
import tempfile

_captured: list[str] = []  # Start-up lines TensorFlow wrote while it was imported.
_verbose = False
_set_by_rnnkit: list[str] = []  # Environment variables install() set (set_verbose undoes them).


class _DropRetracingNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING_FILTER = _DropRetracingNotice()


def _run_with_stderr_captured(function) -> None:
    """Calls `function()` with file descriptor 2 written to a temporary file; keeps its text."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            function()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _captured.append(capture.read().decode("utf-8", errors="replace"))


def _turn_off_remapper(tensorflow) -> None:
    """Turns off Grappler's remapper, the pass that fails on ReLU RNN loops (module docstring)."""
    tensorflow.config.optimizer.set_experimental_options({"remapping": False})


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader: same module, start-up output captured unless verbose."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        def load_and_probe():
            self.loader.exec_module(module)
            # The first device probe writes the CUDA lines; do it now, while captured.
            module.config.list_physical_devices()

        if _verbose:
            self.loader.exec_module(module)
        else:
            _run_with_stderr_captured(load_and_probe)
        _turn_off_remapper(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the other finders and wraps its loader (once)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # One import only; later look-ups go straight through.
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None and spec.loader is not None:
                spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Sets up the quiet start-up (called by `import rnnkit`).

    With `RNNKIT_VERBOSE` set, only the remapper is turned off (when TensorFlow loads).
    """
    global _verbose
    if os.environ.get("RNNKIT_VERBOSE"):
        _verbose = True
    if not _verbose:
        if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
            _set_by_rnnkit.append("TF_CPP_MIN_LOG_LEVEL")
        logging.getLogger("tensorflow").addFilter(_RETRACING_FILTER)
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and hasattr(tensorflow, "config"):
        _turn_off_remapper(tensorflow)  # Imported before rnnkit: too late to capture, not to fix.
    elif not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


def set_verbose(verbose: bool = True) -> None:
    """Shows TensorFlow's own messages again (the `--verbose` of the labs and the CLI).

    Prints the start-up lines captured so far to stderr, and lets the retracing notice
    through from now on. `set_verbose(False)` hides the notice again.

    Args:
        verbose: True to show TensorFlow's messages, False to hide them again.
    """
    global _verbose
    _verbose = bool(verbose)
    logger = logging.getLogger("tensorflow")
    if _verbose:
        logger.removeFilter(_RETRACING_FILTER)
        # If TensorFlow is not loaded yet, let it load and log as it would without rnnkit (the
        # finder stays, to turn the remapper off; with `_verbose` set it captures nothing).
        if "tensorflow" not in sys.modules:
            while _set_by_rnnkit:
                os.environ.pop(_set_by_rnnkit.pop(), None)
        for text in _captured:
            sys.stderr.write(text)
        _captured.clear()
        sys.stderr.flush()
    else:
        logger.addFilter(_RETRACING_FILTER)
