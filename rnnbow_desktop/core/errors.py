"""The project's error types: one per failure kind, each carrying a one-line message for users."""


class RnnbowError(Exception):
    """Base class: a user-facing problem with a message that needs no traceback."""


class CorpusError(RnnbowError):
    """A corpus could not be read or is unusable (empty, binary, too short, missing)."""


class ConfigError(RnnbowError):
    """A training setting or command-line argument is invalid."""


class SessionFormatError(RnnbowError):
    """A file is not a readable RNNbow session (wrong format, damaged, hostile, too new)."""


class SessionWriteError(RnnbowError):
    """Writing a session failed (disk full, permission, existing file without --force)."""


class TrainingDiverged(RnnbowError):
    """The loss or a gradient became NaN or Inf; training stopped at that batch."""

    def __init__(self, batch: int, what: str):
        super().__init__(f"training diverged at batch {batch}: {what} is not finite")
        self.batch = batch


class Cancelled(Exception):
    """Long work (an embedding, a replay over many checkpoints) was cancelled by the user.

    Not an RnnbowError: nothing went wrong. Long computations take a `progress(fraction, text)`
    callback; raising Cancelled from it stops the work.
    """
