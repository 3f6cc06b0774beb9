"""The per-record columns of a session that the interesting-batch finder reads, read in bounded blocks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analysis.findings import RunSeries, conflict_share
from .reader import Session

BLOCK_RECORDS = 65_536  # records read at a time for the (R, n) and (R, n, n) columns


def read_run_series(session: Session, progress: Callable[[float, str], None] | None = None) -> RunSeries:
    """Every record's batch, max gradient, horizon, loss per character, conflict share and corpus position,
    plus the loss of every batch and the corpus. Matrices are read a block of records at a time, so
    memory stays bounded however long the run."""
    R = session.n_records
    loss_per_char = np.empty(R)
    conflict = np.empty(R)
    for start in range(0, R, BLOCK_RECORDS):
        stop = min(R, start + BLOCK_RECORDS)
        loss_per_char[start:stop] = session.column("loss", start, stop).mean(axis=1)
        conflict[start:stop] = conflict_share(session.column("contribution", start, stop))
        if progress is not None:
            progress(stop / max(R, 1), f"read {stop:,} of {R:,} records")
    corpus = session.corpus()
    return RunSeries(
        batch=session.batches(), max_gradient=session.column("max_gradient"), horizon=session.column("horizon"),
        loss_per_char=loss_per_char, conflict_share=conflict, position=session.column("position"),
        training_loss=np.asarray(session.training_loss(), dtype=np.float64), corpus_ids=corpus.ids,
        vocab_size=corpus.vocab_size, seq_length=session.info.config.seq_length,
    )
