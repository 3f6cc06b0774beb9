"""The project's error types: one per failure kind, each carrying a one-line message for users."""


class RnnbowError(Exception):
    """Base class: a user-facing problem with a message that needs no traceback."""


class CorpusError(RnnbowError):
    """A corpus or a probe text could not be read or is unusable (empty, binary, too short, missing)."""


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



def why_unreadable(exc: OSError) -> str:
    """Why a file could not be opened for reading, in the words of a one-line message: 'no such file', …"""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder"
    return f"cannot be read ({exc.strerror or exc})"


class Cancelled(Exception):
    """Long work (an embedding, a replay over many checkpoints) was cancelled by the user.

    Not an RnnbowError: nothing went wrong. Long computations take a `progress(fraction, text)`
    callback; raising Cancelled from it stops the work.
    """
