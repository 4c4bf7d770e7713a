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
