"""The per-record columns of a session that the interesting-batch finder reads, read in bounded blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..analysis.findings import RunSeries, conflict_share
from .reader import Session

BLOCK_RECORDS = 65_536  # records read at a time for the (R, n) and (R, n, n) columns


@dataclass(frozen=True)
class RunSeriesParts:
    """The columns a RunSeriesReader has read, as the blocks it read them in: cheap to take on one thread,
    joined into a RunSeries (O(records)) on another."""

    parts: dict[str, tuple[np.ndarray, ...]]
    corpus_ids: np.ndarray | None
    vocab_size: int | None
    seq_length: int

    def join(self) -> RunSeries:
        columns = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in self.parts.items()}
        return RunSeries(**columns, corpus_ids=self.corpus_ids, vocab_size=self.vocab_size, seq_length=self.seq_length)


class RunSeriesReader:
    """The finder's columns of one session, each record read once: after the file grew (a live run, a writer
    in another process; `session.refresh()` first), `update()` reads only the records and batch losses added
    since. Matrices are read a block of records at a time, so memory stays bounded however long the run.

    `session` may be replaced by another handle of the same file (the rows read stay valid).
    """

    def __init__(self, session: Session, block: int = BLOCK_RECORDS):
        self.session = session
        self.block = block
        self.records = 0  # records read so far
        self.batches = 0  # batch losses read so far
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}
        self._corpus = session.corpus() if session.info.has_model else None  # a recorded PyTorch model has none

    @property
    def behind(self) -> bool:
        """The session (as last refreshed) holds records or batch losses not read yet."""
        return self.records < self.session.n_records or self.batches < self.session.batches_trained

    def update(self, progress: Callable[[float, str], None] | None = None, limit: int | None = None) -> bool:
        """Read what the session holds beyond what was read (at most `limit` records); True if there was
        anything. `progress(fraction, text)` is called after every block (and may raise to stop; what was
        read until then is kept)."""
        session, first = self.session, self.records
        R = session.n_records if limit is None else min(session.n_records, first + limit)
        for start in range(first, R, self.block):
            stop = min(R, start + self.block)
            parts = self._parts
            parts["batch"].append(session.column("batch", start, stop))
            parts["max_gradient"].append(session.column("max_gradient", start, stop))
            parts["horizon"].append(session.column("horizon", start, stop))
            parts["position"].append(session.column("position", start, stop))
            parts["loss_per_char"].append(session.column("loss", start, stop).mean(axis=1))
            parts["conflict_share"].append(conflict_share(session.column("contribution", start, stop)))
            self.records = stop
            if progress is not None:
                progress((stop - first) / (R - first), f"read {stop:,} of {session.n_records:,} records")
        batches, known = session.batches_trained, self.batches
        if batches > known:
            self._parts["training_loss"].append(np.asarray(session.training_loss(known, batches), dtype=np.float64))
            self.batches = batches
        return self.records > first or self.batches > known

    def snapshot(self) -> RunSeriesParts:
        """What has been read so far; `join()` it where the copying may take time."""
        corpus = self._corpus
        return RunSeriesParts(
            {name: tuple(parts) for name, parts in self._parts.items()},
            corpus_ids=None if corpus is None else corpus.ids, vocab_size=None if corpus is None else corpus.vocab_size,
            seq_length=self.session.info.config.seq_length,
        )

    def compact(self, snapshot: RunSeriesParts, joined: RunSeries) -> None:
        """Keep `joined` (made from `snapshot`) instead of the blocks it was made of: fewer, larger arrays."""
        for name, parts in self._parts.items():
            taken = snapshot.parts[name]
            if len(taken) > 1 and len(parts) >= len(taken) and all(a is b for a, b in zip(parts, taken)):
                parts[: len(taken)] = [getattr(joined, name)]

    def series(self) -> RunSeries:
        snapshot = self.snapshot()
        joined = snapshot.join()
        self.compact(snapshot, joined)
        return joined


_COLUMNS = ("batch", "max_gradient", "horizon", "loss_per_char", "conflict_share", "position", "training_loss")


def read_run_series(session: Session, progress: Callable[[float, str], None] | None = None) -> RunSeries:
    """Every record's batch, max gradient, horizon, loss per character, conflict share and corpus position,
    plus the loss of every batch and the corpus."""
    reader = RunSeriesReader(session)
    reader.update(progress)
    return reader.series()
