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


# --- Transparent huge pages for the memory malloc hands out (the CLI's training commands) ---
#
# On Linux the kernel can back memory with 2 MiB pages instead of 4 KiB ones ("transparent
# huge pages"); most distributions enable them only where a program asks (`madvise`), and
# glibc's malloc asks only when its tunable `glibc.malloc.hugetlb=1` is set (glibc 2.35 and
# later). XLA (JAX's compiler) and TensorFlow take their buffers from malloc. The char LM's
# buffers run to megabytes per step (a 35 x 64 x 1024 gate array is 9 MiB), so with 4 KiB
# pages each step walks thousands of pages and misses the TLB often. With huge pages the char
# LM's training ran 1.2-1.5x faster at LSTM 256 and GRU 256 on JAX, and no differently at 32 and
# 128 units or for SimpleRNN 256 (README, "Speed and backends").
# The tunable is read once, when a process starts, so `rnnkit train` and `rnnkit compare`
# start Python again with it set (`restart_with_hugepages`) before importing anything large;
# their worker processes inherit it. Numbers are unchanged: only where memory sits differs.

HUGEPAGES_VARIABLE = "RNNKIT_HUGEPAGES"  # "auto" (the default) or "off".
HUGEPAGES_CHOICES = ("auto", "off")
HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb=1"
_THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"
_RESTARTED_VARIABLE = "RNNKIT_HUGEPAGES_RESTARTED"  # Set in the restarted process: never twice.


def _hugepages_choice(environ) -> str:
    value = environ.get(HUGEPAGES_VARIABLE, "auto").strip().lower() or "auto"
    if value not in HUGEPAGES_CHOICES:
        from rnnkit.errors import ConfigError

        raise ConfigError(f"{HUGEPAGES_VARIABLE}={environ.get(HUGEPAGES_VARIABLE)!r} is not a choice: "
                          f"use one of {', '.join(HUGEPAGES_CHOICES)} (or leave it unset for auto)")
    return value


def transparent_hugepage_mode(path: str = _THP_SETTING) -> str | None:
    """The kernel's transparent huge page setting ("always", "madvise" or "never"), None if unknown.

    >>> transparent_hugepage_mode("/nonexistent") is None
    True
    """
    try:
        with open(path, encoding="ascii") as setting:
            text = setting.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def _glibc_version() -> tuple[int, ...] | None:
    import platform

    library, version = platform.libc_ver()
    if library != "glibc" or not version:
        return None
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None


def hugepage_environment(environ=None, *, system: str | None = None, thp_mode: str | None = "",
                         glibc: tuple[int, ...] | None = ()) -> dict:
    """The environment variables a new process needs for malloc to use huge pages; {} if none.

    Empty where they would change nothing or cannot work: not Linux, no glibc 2.35+, the
    kernel's setting is not `madvise` ("always" gives huge pages already, "never" none),
    the tunable is already set, `RNNKIT_HUGEPAGES=off`, or this process was already
    restarted for it. The keyword arguments stand in for this machine's facts (tests).

    Raises:
        ConfigError: `RNNKIT_HUGEPAGES` is set to something other than auto or off.

    >>> hugepage_environment({}, system="linux", thp_mode="madvise", glibc=(2, 36))["GLIBC_TUNABLES"]
    'glibc.malloc.hugetlb=1'
    >>> hugepage_environment({"RNNKIT_HUGEPAGES": "off"}, system="linux", thp_mode="madvise", glibc=(2, 36))
    {}
    """
    environ = os.environ if environ is None else environ
    if _hugepages_choice(environ) == "off" or environ.get(_RESTARTED_VARIABLE):
        return {}
    system = sys.platform if system is None else system
    thp_mode = transparent_hugepage_mode() if thp_mode == "" else thp_mode
    glibc = _glibc_version() if glibc == () else glibc
    tunables = environ.get("GLIBC_TUNABLES", "")
    if (not system.startswith("linux") or thp_mode != "madvise" or glibc is None or glibc < (2, 35)
            or "glibc.malloc.hugetlb" in tunables):
        return {}
    return {"GLIBC_TUNABLES": f"{tunables}:{HUGEPAGE_TUNABLE}" if tunables else HUGEPAGE_TUNABLE,
            _RESTARTED_VARIABLE: "1"}


def hugepages_in_use(environ=None) -> str:
    """Whether this process's large allocations get huge pages, in words (the run's environment).

    "malloc (glibc.malloc.hugetlb=1)", "kernel (always)", or "no". glibc reads its
    tunables once, from the environment the process started with, so that is what is
    read here (`/proc/self/environ`), not `os.environ`, which Python code may change later.
    """
    environ = _starting_environment() if environ is None else environ
    mode = transparent_hugepage_mode()
    if mode == "always":
        return "kernel (always)"
    if mode == "madvise" and HUGEPAGE_TUNABLE in environ.get("GLIBC_TUNABLES", "").split(":"):
        return f"malloc ({HUGEPAGE_TUNABLE})"
    return "no"


def _starting_environment() -> dict:
    """The environment this process started with (Linux), else `os.environ`."""
    try:
        with open("/proc/self/environ", "rb") as initial:
            items = initial.read().split(b"\0")
    except OSError:
        return dict(os.environ)
    pairs = (item.decode("utf-8", errors="replace").partition("=") for item in items if b"=" in item)
    return {key: value for key, _, value in pairs}


def restart_with_hugepages() -> None:
    """Starts this Python process again, same command line, with malloc's huge pages on.

    Returns (does nothing) where `hugepage_environment()` is empty; otherwise it does
    not return: `os.execve` replaces the process. Call it first thing, before anything
    is written or imported that matters (the CLI calls it for `train` and `compare`).
    """
    extra = hugepage_environment()
    if not extra:
        return
    if not sys.executable:  # An embedded interpreter: nothing to start again.
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:  # `sys.orig_argv` (Python 3.10+): the command line as typed, interpreter options included.
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **extra})
    except OSError:
        return  # Could not start again (a sandbox, say): carry on with ordinary pages.
