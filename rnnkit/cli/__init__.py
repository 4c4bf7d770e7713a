"""The `rnnkit` command line: `rnnkit tasks | params | train | compare | report`.

Each subcommand lives in its own module of this package and exposes two functions:
`add_parser(subparsers)` to declare its arguments and `run(args) -> int` to execute,
and may set `check=` (a function of `args`) for the checks that need no TensorFlow:
they run before TensorFlow is imported, so most mistakes are answered in a second.

Every failure is one line on stderr, without a traceback, and a documented exit code:
2 for bad input (argparse's usage errors, any `RnnkitError`, a path that is missing or
not a folder), 73 when the file system refuses a write (permission, read-only, disk
full), 75 when another process holds the store's lock, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rnnkit.errors import RnnkitError, os_error
from rnnkit.startup import restart_with_hugepages

# Subcommand modules, in the order `rnnkit --help` lists them.
SUBCOMMANDS = ("tasks", "params", "train", "compare", "report")
# Subcommands that build Keras models, so TensorFlow is imported (quietly) before they run.
NEEDS_TENSORFLOW = ("params", "train", "compare")
# Commands that train, and so start again with malloc's huge pages (`rnnkit.startup`).
TRAINING_COMMANDS = ("train", "compare")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up log lines (oneDNN, CUDA probing) kept off stderr.

    TensorFlow 2.21 writes these lines from C++ before `TF_CPP_MIN_LOG_LEVEL` takes
    effect, which would break the CLI's promise of one clean line per error. File
    descriptor 2 is pointed at the null device only for the import and the device
    probe; Python exceptions raised meanwhile still propagate and print afterwards.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    null_device = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null_device, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(null_device)


def select_backend(args) -> None:
    """Resolves `--backend` (auto, tensorflow, jax) for the planned runs and sets KERAS_BACKEND.

    Without the flag, an explicit KERAS_BACKEND is followed, else `auto` decides.
    """
    import os

    from rnnkit.backend import resolve_backend, use_backend

    requested = args.backend or ("auto" if not os.environ.get("KERAS_BACKEND") else os.environ["KERAS_BACKEND"])
    args.backend_requested = requested  # Worker processes choose per run from it.
    if not getattr(args, "in_process", True):
        return  # This process trains nothing: each worker sets its own backend.
    runs = args.planned_runs(args) if requested == "auto" else []
    args.backend = use_backend(resolve_backend(requested, runs))


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rnnkit",
        description="A course lab kit for recurrent neural networks (Keras 3 / TensorFlow).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"rnnkit.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI and returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if argv is None and args.command in TRAINING_COMMANDS:
            # The console script or `python -m rnnkit` (not a call from Python): this
            # process is ours to start again, before anything large is imported.
            restart_with_hugepages()
        if getattr(args, "check", None) is not None:
            args.check(args)
        if getattr(args, "backend", "") != "":
            select_backend(args)  # Before anything imports Keras (its backend is fixed at import).
        if getattr(args, "verbose", False):
            from rnnkit.startup import set_verbose

            set_verbose()  # Shows TensorFlow's own lines, the start-up ones included.
        elif (args.command in NEEDS_TENSORFLOW and getattr(args, "in_process", True)
              and (getattr(args, "backend", None) != "jax" or getattr(args, "tensorboard", False))):
            # Worker processes import it themselves, quietly; on JAX only TensorBoard needs it.
            import_tensorflow_quietly()
        return int(args.run(args) or 0)
    except RnnkitError as error:
        return _fail(args.command, error)
    except OSError as error:  # Permission, disk full, a file where a folder belongs.
        return _fail(args.command, os_error(error))
    except MemoryError:
        return _fail(args.command, RnnkitError(
            "Out of memory; use smaller sizes (the estimate before each run is rough: see --max-memory)."))
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, error: RnnkitError) -> int:
    """Prints the error as one line (whatever newlines its message holds) and returns its exit code."""
    message = " ".join(str(error).split())
    print(f"rnnkit {command}: error: {message}", file=sys.stderr)
    return error.exit_code
