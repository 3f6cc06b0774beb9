"""Multi-resolution summaries of per-record series: the min, max and mean of blocks of 64, 512, … records, so that a
plot of ten million records reads a few thousand numbers at any zoom.

Level k holds the complete blocks of BLOCK_SIZES[k] consecutive records, block i covering records
[i·size, (i+1)·size). Each block keeps the first and last batch number it spans and, per series, the
minimum, maximum and mean. A range of records is covered by the coarsest level that still gives enough
blocks, its ragged ends by finer levels and, below the finest, by the records themselves (`envelope`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

BLOCK_SIZES = (64, 512, 4096, 32768, 262144, 2097152)  # records per block; each level 8× the one before
SERIES = ("max_gradient", "horizon", "loss_per_char")  # the per-record series a summary keeps
STATS = ("min", "max", "mean")  # the columns of each series' (blocks, 3) array


@dataclass(frozen=True)
class Blocks:
    """Consecutive runs of records with their batch span and, per series, (min, max, mean).

    A single record is a block of one; a summary level is a sequence of equal blocks; an envelope
    mixes both.
    """

    first: np.ndarray  # (B,) int64 index of each block's first record
    count: np.ndarray  # (B,) int64 records in each block
    batch: np.ndarray  # (B, 2) int64 first and last batch number of each block
    stats: Mapping[str, np.ndarray]  # series name -> (B, 3) float64: min, max, mean

    def __len__(self) -> int:
        return len(self.first)

    @property
    def stop(self) -> int:
        """The record after the last block (0 when there are no blocks)."""
        return int(self.first[-1] + self.count[-1]) if len(self.first) else 0

    def take(self, lo: int, hi: int) -> Blocks:
        return Blocks(self.first[lo:hi], self.count[lo:hi], self.batch[lo:hi],
                      {name: s[lo:hi] for name, s in self.stats.items()})


def empty_blocks(series: Sequence[str] = SERIES) -> Blocks:
    return Blocks(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2), np.int64),
                  {name: np.zeros((0, 3)) for name in series})


def record_blocks(first: np.ndarray, batch: np.ndarray, values: Mapping[str, np.ndarray]) -> Blocks:
    """Records as blocks of one: record `first[r]` of batch `batch[r]` with `values[name][r]`."""
    first = np.asarray(first, dtype=np.int64)
    batch = np.asarray(batch, dtype=np.int64)
    stats = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        stats[name] = np.stack([v, v, v], axis=1)  # (R, 3)
    return Blocks(first, np.ones(len(first), np.int64), np.stack([batch, batch], axis=1), stats)


def concat_blocks(parts: Sequence[Blocks], series: Sequence[str] = SERIES) -> Blocks:
    """Blocks one after another, keeping the statistics of `series` (which every part must have)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_blocks(series)
    if len(parts) == 1 and set(parts[0].stats) == set(series):
        return parts[0]
    return Blocks(
        np.concatenate([p.first for p in parts]), np.concatenate([p.count for p in parts]),
        np.concatenate([p.batch for p in parts]),
        {name: np.concatenate([p.stats[name] for p in parts]) for name in series},
    )


def combine(blocks: Blocks, factor: int) -> tuple[Blocks, Blocks]:
    """(complete groups of `factor` consecutive blocks merged into one each, the blocks left over)."""
    m = len(blocks) // factor
    used = m * factor
    count = blocks.count[:used].reshape(m, factor)  # (m, factor)
    total = count.sum(axis=1)  # (m,)
    stats = {}
    for name, s in blocks.stats.items():
        g = s[:used].reshape(m, factor, 3)
        # The mean of a block is the count-weighted mean of its parts.
        mean = (g[:, :, 2] * count).sum(axis=1) / np.maximum(total, 1)
        stats[name] = np.stack([g[:, :, 0].min(axis=1, initial=np.inf), g[:, :, 1].max(axis=1, initial=-np.inf), mean],
                               axis=1)
    batch = np.stack([blocks.batch[:used:factor, 0], blocks.batch[factor - 1:used:factor, 1]], axis=1)
    # Copies, not views: a view of the (large) input would keep all of it alive as long as the summary.
    merged = Blocks(blocks.first[:used:factor].copy(), total.astype(np.int64), batch, stats)
    rest = blocks.take(used, len(blocks))
    return merged, Blocks(rest.first.copy(), rest.count.copy(), rest.batch.copy(),
                          {name: v.copy() for name, v in rest.stats.items()})


class SummaryBuilder:
    """Grows every level of a summary as records arrive, and hands out each level's new complete blocks.

    Records must come in order from record `start`, which must start a block of every level (0 does).
    """

    def __init__(self, sizes: Sequence[int] = BLOCK_SIZES, series: Sequence[str] = SERIES, start: int = 0):
        if any(start % size for size in sizes):
            raise ValueError(f"a summary can only be extended from the start of a block, not from record {start}")
        self.sizes = tuple(sizes)
        self.series = tuple(series)
        self.records = start  # records taken in so far
        # Per level, what has not yet made a complete block of it: single records below level 0,
        # then blocks of each level waiting for the rest of their group.
        self._waiting = [empty_blocks(self.series) for _ in range(len(self.sizes))]

    def extend(self, batch: np.ndarray, values: Mapping[str, np.ndarray]) -> list[Blocks]:
        """Take in the next records (their batch numbers and per-series values); returns, per level,
        the blocks completed by them."""
        first = self.records + np.arange(len(batch), dtype=np.int64)
        self.records += len(batch)
        incoming = record_blocks(first, batch, {name: values[name] for name in self.series})
        out = []
        for level, size in enumerate(self.sizes):
            factor = size if level == 0 else size // self.sizes[level - 1]
            pending = concat_blocks([self._waiting[level], incoming], self.series)
            incoming, self._waiting[level] = combine(pending, factor)
            out.append(incoming)
        return out


class SummaryLevels(Protocol):
    """The stored levels of a summary: how many complete blocks each has, and reading some."""

    sizes: tuple[int, ...]
    series: tuple[str, ...]

    def available(self, level: int) -> int: ...

    def blocks(self, level: int, lo: int, hi: int) -> Blocks: ...


# Reads records start:stop:step as blocks of one (a step above 1 only where no summary covers a range).
RecordReader = Callable[[int, int, int], Blocks]


class MemorySummary:
    """Summary levels kept in memory: for a live run, and for a file written without a summary."""

    def __init__(self, sizes: Sequence[int] = BLOCK_SIZES, series: Sequence[str] = SERIES):
        self.sizes = tuple(sizes)
        self.series = tuple(series)
        self._builder = SummaryBuilder(self.sizes, self.series)
        self._parts: list[list[Blocks]] = [[] for _ in self.sizes]
        self._levels: list[Blocks] = [empty_blocks(self.series) for _ in self.sizes]

    @property
    def records(self) -> int:
        """Records taken in so far."""
        return self._builder.records

    def extend(self, batch: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        for level, new in enumerate(self._builder.extend(batch, values)):
            if len(new):
                self._parts[level].append(new)

    def _level(self, level: int) -> Blocks:
        if self._parts[level]:
            self._levels[level] = concat_blocks([self._levels[level], *self._parts[level]], self.series)
            self._parts[level] = []
        return self._levels[level]

    def available(self, level: int) -> int:
        return len(self._level(level))

    def blocks(self, level: int, lo: int, hi: int) -> Blocks:
        return self._level(level).take(lo, hi)


def envelope(levels: SummaryLevels, read_records: RecordReader, start: int, stop: int, max_blocks: int,
             raw_limit: int = 16384, series: Sequence[str] | None = None) -> Blocks:
    """Records start:stop as at least ~`max_blocks` blocks (fewer only where there are fewer records).

    Ranges of up to `raw_limit` records, or too short for the finest level to give `max_blocks` blocks,
    come as the records themselves; longer ones from the coarsest level that gives at least `max_blocks`
    blocks, with the ragged ends (and any part the summary does not cover yet) from finer levels. Where no level covers a long stretch (a summary still being
    built), that stretch is sampled: every k-th record, `raw_limit` to twice as many of them. The blocks keep
    `series` (default: all the levels have; `read_records` must give them too).
    """
    series = tuple(levels.series if series is None else series)
    raw_limit = max(raw_limit, max_blocks)  # a sampled stretch, too, has at least max_blocks records
    if stop <= start:
        return empty_blocks(series)
    finest = levels.sizes[0] if levels.sizes else 1
    if stop - start <= max(raw_limit, max_blocks * finest - 1):
        return read_records(start, stop, 1)
    level = 0 if levels.sizes else -1
    for k, size in enumerate(levels.sizes):
        if (stop - start) // size >= max_blocks:
            level = k
    return concat_blocks(_cover(levels, read_records, start, stop, level, raw_limit), series)


def _cover(levels: SummaryLevels, read_records: RecordReader, start: int, stop: int, level: int,
           raw_limit: int) -> list[Blocks]:
    if stop <= start:
        return []
    if level < 0:
        step = max(1, (stop - start) // raw_limit)  # from raw_limit to twice as many records
        return [read_records(start, stop, step)]
    size = levels.sizes[level]
    lo = -(-start // size)
    hi = min(stop // size, levels.available(level))
    if lo >= hi:
        return _cover(levels, read_records, start, stop, level - 1, raw_limit)
    return [
        *_cover(levels, read_records, start, lo * size, level - 1, raw_limit),
        levels.blocks(level, lo, hi),
        *_cover(levels, read_records, hi * size, stop, level - 1, raw_limit),
    ]


def peak_path(blocks: Blocks, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a line through each block's minimum at its first batch and maximum at its last: what
    peak downsampling draws, so every spike stays visible however many records a pixel holds. A
    block of one record is one point."""
    stats = blocks.stats[name]
    several = blocks.count > 1
    points = np.where(several, 2, 1)
    x = np.repeat(blocks.batch[:, 0], points).astype(np.float64)
    y = np.repeat(stats[:, 0], points)
    last = np.cumsum(points) - 1  # each block's last point
    x[last[several]] = blocks.batch[several, 1]
    y[last[several]] = stats[several, 1]
    return x, y
