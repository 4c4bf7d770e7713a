"""The exceptions rnnkit raises for user errors.

Every error is a `ValueError` subclass, so code that already catches `ValueError`
keeps working, and the CLI turns any `RnnkitError` into one line on stderr and exit
code 2.
"""


class RnnkitError(ValueError):
    """Base class of every user-facing rnnkit error."""


class ConfigError(RnnkitError):
    """A model, training, run or grid setting is invalid."""


class DataError(RnnkitError):
    """A task, dataset or data file cannot be used as given."""


class TrainingError(RnnkitError):
    """A model cannot be trained on a task as configured (for example, shapes do not fit)."""


# Exit codes of the `rnnkit` command (documented in the README).
EXIT_INVALID = 2  # Bad input: an argument, a grid, a data file, a path that is not a folder.
EXIT_CANNOT_WRITE = 73  # The file system refused a write: permission, read-only, disk full.
EXIT_LOCKED = 75  # Another rnnkit process is writing the same store; try again later.


class OutputError(RnnkitError):
    """The file system refused to write (permission denied, read-only, disk full)."""

    exit_code = EXIT_CANNOT_WRITE


class StoreLockedError(RnnkitError):
    """Another process holds the run store's lock."""

    exit_code = EXIT_LOCKED


RnnkitError.exit_code = EXIT_INVALID

_FREE_SPACE = "free some space or choose another folder; runs already stored are kept and the same command resumes"
# errno -> (what went wrong, what to do), for one-line messages about OS failures.
_OS_REASONS = {
    "EACCES": ("permission denied", "choose a folder you can write to, or change its permissions"),
    "EPERM": ("operation not permitted", "choose a folder you can write to, or change its permissions"),
    "EROFS": ("the file system is read-only", "choose a folder on a writable disk"),
    "ENOSPC": ("no space left on the device", _FREE_SPACE),
    "EDQUOT": ("the disk quota is exceeded", _FREE_SPACE),
    "ENOENT": ("no such file or folder", "create the folder first or correct the path"),
    "ENOTDIR": ("a part of the path is a file, not a folder", "choose another path"),
    "EISDIR": ("it is a folder, not a file", "give a file path"),
    "EEXIST": ("a file of that name exists", "choose another path"),
}
# errno names that describe a wrong path (exit 2) rather than a refused write (exit 73).
_PATH_ERRORS = ("ENOENT", "ENOTDIR", "EISDIR", "EEXIST")


def os_error(error: OSError) -> RnnkitError:
    """Turns an `OSError` into one-line rnnkit error naming the path and what to do.

    Args:
        error: The operating system's error (its `filename` is the path, when known).

    Returns:
        A `RnnkitError` (exit code 2) for a path that does not fit (missing folder, a file
        where a folder is needed), else an `OutputError` (exit code 73).
    """
    import errno as errno_names

    name = errno_names.errorcode.get(error.errno or 0, "")
    reason, fix = _OS_REASONS.get(name, (error.strerror or str(error), "check the path and the disk"))
    path = error.filename if error.filename is not None else "?"
    if name in _PATH_ERRORS:
        return RnnkitError(f"Cannot use {str(path)!r}: {reason}; {fix}.")
    return OutputError(f"Cannot write {str(path)!r}: {reason}; {fix}.")
