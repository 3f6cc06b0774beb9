"""A training run: a Trainer whose every step is appended to a session file. Used by the CLI and the GUI worker."""

from __future__ import annotations

from pathlib import Path

from .core.corpus import Corpus
from .core.training import StepResult, TrainConfig, Trainer
from .storage.session import SessionWriter


class TrainingRun:
    """Trains one batch per `step()` and writes it; `close()` leaves a complete session file."""

    def __init__(self, corpus: Corpus, config: TrainConfig, out: Path, force: bool = False):
        self.trainer = Trainer(corpus, config)  # validates before any file is touched
        self.writer = SessionWriter(out, config, corpus, force=force)
        self.path = Path(out)
        self.last: StepResult | None = None
        self.records = 0

    def step(self) -> StepResult:
        result = self.trainer.step()
        self.writer.add(result)
        self.last = result
        self.records += result.record is not None
        return result

    @property
    def batch(self) -> int:
        """Batches trained so far."""
        return self.trainer.batch

    def close(self) -> None:
        self.writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
