"""`open_session(path)`: a session file, read-only, as numpy arrays and plain values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.config import TrainConfig
from ..core.errors import SessionFormatError
from ..core.records import BatchRecord, Checkpoint
from ..storage.reader import Session
from ..storage.schema import record_fields


class OpenSession:
    """A session opened for reading. Use as a context manager, or call `close()`.

    Per-record series come as numpy arrays indexed by record (`records("max_gradient")`, shape (R,);
    `records("itemized")`, shape (R, n, n) — mind the size of a long run's matrices); whole records,
    checkpoints and samples come as the same immutable objects the trainer hands out. Every read raises
    `SessionFormatError` (one line naming the file) for a damaged file.
    """

    def __init__(self, path):
        self._session = Session(path)
        info = self._session.info
        self.path: Path = Path(path)
        self.settings: TrainConfig = info.config
        self.cell: str = info.config.cell
        self.gate_names: tuple[str, ...] = tuple(info.gate_names)
        self.vocab: tuple[str, ...] = tuple(info.vocab)
        self.corpus_name: str = info.corpus_name
        self.format_version: int = info.format_version
        self.complete: bool = info.complete
        self.notes: tuple[str, ...] = tuple(self._session.notes)
        self.environment: dict = dict(getattr(info, "environment", {}) or {})

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        return self._session.n_records

    @property
    def batches_trained(self) -> int:
        return self._session.batches_trained

    @property
    def record_fields(self) -> tuple[str, ...]:
        """The names `records()` accepts: batch, position, inputs, targets, predictions, loss, itemized, …"""
        return tuple(record_fields(len(self.gate_names)))

    # -- per-record series ---------------------------------------------------------------------------
    def records(self, name: str, start: int = 0, stop: int | None = None, step: int = 1) -> np.ndarray:
        """Rows start:stop:step of one recorded quantity, e.g. records("max_gradient") (R,), records("horizon") (R,),
        records("itemized", -100) (100, n, n). Indices are record numbers; `batches` maps them to batches."""
        if name not in self.record_fields:
            raise KeyError(f"no recorded quantity {name!r}; choose from {', '.join(self.record_fields)}")
        count = self.n_records
        start = start + count if start < 0 else start
        stop = count if stop is None else (stop + count if stop < 0 else stop)
        return self._session.column(name, start, stop, step)

    @property
    def batches(self) -> np.ndarray:
        """(R,) the batch number of every record."""
        return self._session.batches()

    def record(self, batch: int) -> BatchRecord:
        """The whole record of training batch `batch` (a KeyError if that batch was not recorded)."""
        index = self._session.find_record(batch)
        if index is None:
            raise KeyError(f"batch {batch} was not recorded; nearest recorded: {self._session.nearest_batches(batch)}")
        return self._session.record(index)

    def __iter__(self) -> Iterator[BatchRecord]:
        """Every record, oldest first, one read at a time."""
        for index in range(self.n_records):
            yield self._session.record(index)

    # -- per-batch loss, checkpoints, samples, corpus ---------------------------------------------------
    @property
    def losses(self) -> np.ndarray:
        """(B,) the loss of every trained batch, summed over its n steps (nats)."""
        return np.asarray(self._session.training_loss(), dtype=np.float64)

    @property
    def loss_per_char(self) -> np.ndarray:
        """(B,) the loss of every trained batch per character (nats)."""
        return self.losses / self.settings.seq_length

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """The batches a checkpoint was taken at (before that batch's update)."""
        return tuple(self._session.checkpoint(i).batch for i in range(self._session.n_checkpoints))

    def checkpoint(self, batch: int | None = None) -> Checkpoint:
        """The checkpoint taken at `batch` (default: the last): PyTorch-named parameters and the state."""
        count = self._session.n_checkpoints
        if count == 0:
            raise SessionFormatError(f"{self.path}: the session has no checkpoints")
        if batch is None:
            return self._session.checkpoint(count - 1)
        for i in range(count):
            found = self._session.checkpoint(i)
            if found.batch == batch:
                return found
        raise KeyError(f"no checkpoint at batch {batch}; checkpoints: {list(self.checkpoints)}")

    @property
    def samples(self) -> list[tuple[int, str]]:
        """(batch, generated text) pairs."""
        return self._session.samples()

    def corpus_text(self) -> str:
        return self._session.corpus().text

    def summary(self) -> dict:
        """What `rnnbow info --json` prints."""
        return self._session.summary()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "OpenSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<OpenSession {self.path.name}: {self.cell}, hidden {self.settings.hidden_size}, "
                f"{self.batches_trained:,} batches, {self.n_records:,} records>")


def open_session(path) -> OpenSession:
    """Open a session file read-only (also one still being written)."""
    return OpenSession(path)
