"""The multi-resolution summary of a session's per-record series in the file: written as training goes, read
for the overview, and rebuilt in memory (with progress) for files written without one.

Layout (docs/session-format.md): group `summary`, one subgroup per block size (`summary/64`,
`summary/512`, …), each with `batch` (M, 2) int64, the first and last batch number of block i, and
one (M, 3) float32 dataset per series (`max_gradient`, `horizon`, `loss_per_char`): the minimum,
maximum and mean over records [i·size, (i+1)·size). Only complete blocks are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import h5py
import numpy as np

from ..analysis.series_summary import BLOCK_SIZES, SERIES, STATS, Blocks, MemorySummary, SummaryBuilder, record_blocks
from ..core.records import BatchRecord
from .schema import SUMMARY_GROUP

REBUILD_BLOCK = 65_536  # records read at a time when rebuilding a summary
# Rows per chunk of a summary dataset (3 to 4 KiB): small, as a session makes 6 levels × 4 of them and
# a short run fills few rows of each.
SUMMARY_CHUNK_ROWS = 256


def record_values(records: Sequence[BatchRecord]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(batch numbers, per-series values) of records, computed from the values as the file stores them
    (float32), so a summary written during training equals one rebuilt from the file."""
    batch = np.array([r.batch for r in records], dtype=np.int64)
    loss = np.stack([r.loss for r in records]).astype(np.float32)  # (R, n)
    return batch, {
        "max_gradient": np.array([r.max_gradient for r in records], dtype=np.float32).astype(np.float64),
        "horizon": np.array([r.horizon for r in records], dtype=np.float64),
        "loss_per_char": loss.mean(axis=1, dtype=np.float64),
    }


def create_summary(f: h5py.Group, growable: Callable) -> None:
    """The empty summary datasets of a new session (`growable(group, name, row_shape, dtype)` makes one)."""
    group = f.create_group(SUMMARY_GROUP)
    group.attrs.update({"block_sizes": list(BLOCK_SIZES), "series": list(SERIES), "stats": list(STATS)})
    for size in BLOCK_SIZES:
        level = group.create_group(str(size))
        growable(level, "batch", (2,), np.int64, SUMMARY_CHUNK_ROWS)
        for name in SERIES:
            growable(level, name, (3,), np.float32, SUMMARY_CHUNK_ROWS)


def summary_dataset_names() -> list[str]:
    return [f"{SUMMARY_GROUP}/{size}/{name}" for size in BLOCK_SIZES for name in ("batch", *SERIES)]


class SummaryWriter:
    """Appends the summary blocks that committed records complete (the writer's phase 1)."""

    def __init__(self, datasets: dict[str, h5py.Dataset], append_rows: Callable):
        self._datasets = datasets
        self._append = append_rows
        self._builder = SummaryBuilder()
        self._rows = [0] * len(BLOCK_SIZES)

    def add(self, records: Sequence[BatchRecord]) -> None:
        batch, values = record_values(records)
        for level, new in enumerate(self._builder.extend(batch, values)):
            if not len(new):
                continue
            prefix = f"{SUMMARY_GROUP}/{BLOCK_SIZES[level]}"
            self._append(self._datasets[f"{prefix}/batch"], new.batch, self._rows[level])
            for name in SERIES:
                self._append(self._datasets[f"{prefix}/{name}"], new.stats[name].astype(np.float32), self._rows[level])
            self._rows[level] += len(new)


def read_records(session, layer: int = 0, series: Sequence[str] = SERIES) -> Callable[[int, int, int], Blocks]:
    """A reader of records start:stop:step of `series` as blocks of one, from the session's columns."""

    def read(start: int, stop: int, step: int) -> Blocks:
        batch = session.column("batch", start, stop, step)
        values = {}
        for name in series:
            if name == "loss_per_char":
                values[name] = session.column("loss", start, stop, step).astype(np.float32).mean(axis=1, dtype=np.float64)
            else:
                values[name] = session.column(name, start, stop, step, layer=layer)
        first = start + step * np.arange(len(batch), dtype=np.int64)
        return record_blocks(first, batch, values)

    return read


def rebuild_summary(session, progress: Callable[[float, str], None] | None = None, layer: int = 0,
                    series: Sequence[str] = SERIES, summary: MemorySummary | None = None,
                    stop: int | None = None) -> MemorySummary:
    """The summary of `series` over a session's records up to `stop` (or of those from `summary.records`
    on, added to `summary`), read REBUILD_BLOCK records at a time. `progress(fraction, text)` may raise
    Cancelled to stop."""
    summary = summary if summary is not None else MemorySummary(series=series)
    stop = session.n_records if stop is None else stop
    start = summary.records
    read = read_records(session, layer, summary.series)
    for lo in range(start, stop, REBUILD_BLOCK):
        hi = min(stop, lo + REBUILD_BLOCK)
        blocks = read(lo, hi, 1)
        summary.extend(blocks.batch[:, 0], {name: blocks.stats[name][:, 2] for name in summary.series})
        if progress is not None:
            progress((hi - start) / max(1, stop - start), f"summarised {hi:,} of {stop:,} records")
    return summary


class FileSummary:
    """The summary levels stored in a session file (`SummaryLevels` for `series_summary.envelope`)."""

    series = SERIES

    def __init__(self, session):
        self.session = session
        self.sizes = tuple(session.summary_sizes)

    def available(self, level: int) -> int:
        return self.session.summary_available(level)

    def blocks(self, level: int, lo: int, hi: int) -> Blocks:
        return self.session.summary_blocks(level, lo, hi)

