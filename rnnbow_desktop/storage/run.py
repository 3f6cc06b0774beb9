"""A training run in this process: a Trainer whose every step is appended to a session file
(training_process.py runs the same in a child process, for the GUI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.config import TrainConfig
from ..core.corpus import Corpus
from ..core.errors import TrainingDiverged
from ..core.records import StepResult
from ..core.training import Trainer
from .writer import SessionWriter

# Recorded arrays that must be finite for a record to mean anything.
_MEASURED = ("loss", "itemized", "contribution", "step_gradient", "truncation_error", "itemized_gate")


def _check_record(result: StepResult) -> None:
    """The trainer checks the loss and the float64 gradients; a record is stored as float32, where
    a finite but huge gradient norm overflows to Inf. Such a record must not be stored as valid."""
    record = result.record
    if record is None:
        return
    for name in _MEASURED:
        values = getattr(record, name)
        if values is not None and not np.isfinite(values).all():
            raise TrainingDiverged(result.batch, f"the recorded {name.replace('_', ' ')}")
    if not np.isfinite(record.max_gradient):
        raise TrainingDiverged(result.batch, "the recorded max gradient")


class TrainingRun:
    """Trains one batch per `step()` and writes it; `close()` leaves a complete session file.

    Failures end the run with one error each: `TrainingDiverged` (nothing of that batch is written;
    `close()` then saves everything before it) or `SessionWriteError` (the file keeps what was
    flushed; `close()` is then silent). After either, `step()` raises the same kind of error again
    instead of training on.
    """

    in_process = True  # trains on the calling thread, under this interpreter's lock

    def __init__(self, corpus: Corpus, config: TrainConfig, out: Path, force: bool = False):
        self.trainer = Trainer(corpus, config)  # validates before any file is touched
        self.writer = SessionWriter(out, config, corpus, force=force)
        self.config = self.trainer.config
        self.path = Path(out)
        self.last: StepResult | None = None
        self.records = 0
        self.diverged: TrainingDiverged | None = None
        self.diverged_at: int | None = None

    def step(self) -> StepResult:
        if self.diverged is not None:
            raise self.diverged
        if self.writer.failed is not None:
            raise self.writer.failed
        batch = self.trainer.batch
        try:
            # Overflow on the way to a divergence is detected below and by the trainer; numpy's
            # own RuntimeWarnings would only add noise to the one message the user gets.
            with np.errstate(all="ignore"):
                result = self.trainer.step()
            _check_record(result)
        except TrainingDiverged as exc:
            # The trainer may have advanced past the bad batch; what is saved ends before it.
            self.diverged = exc
            self.diverged_at = batch
            raise
        self.writer.add(result)
        self.last = result
        self.records += result.record is not None
        return result

    @property
    def batch(self) -> int:
        """Batches trained so far (not counting a batch that diverged)."""
        if self.diverged is not None:
            return self.diverged_at
        return self.trainer.batch

    def settle(self) -> list[StepResult]:
        """Batches trained beyond the last `step()`: none here (see TrainingProcess)."""
        return []

    def flush(self) -> None:
        """Commit every trained batch to the file, so a reader (or a copy) sees all of them."""
        self.writer.flush()

    def close(self) -> None:
        """Save what is pending and mark the session complete; after a write error, does nothing."""
        self.writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
