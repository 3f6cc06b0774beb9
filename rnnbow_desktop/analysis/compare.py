"""Quantities for comparing sessions: the horizon profile and the effective horizon over training.

The horizon profile of a session answers "how much of a loss's gradient survives d steps back?":
for each distance d = t − j it is the mean itemized magnitude ‖G[t, j]‖ at that distance divided by
the mean magnitude at distance 0 (the local loss). A vanilla RNN's profile falls off within a few
steps; a cell that carries memory keeps it up longer. Reads a bounded, evenly spaced subset of the
records, so it costs the same for a session of a thousand or a million records.

That pooled mean is what the summed gradient of many batches is made of, so a few batches whose
gradient explodes can dominate it. The "median" statistic answers for the typical batch instead:
each record's own profile (relative to its own local value), then the median over records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.errors import SessionFormatError


class RecordSource(Protocol):
    """What these measures read from a session (storage's Session is one)."""

    path: Path

    @property
    def n_records(self) -> int: ...

    def batches(self) -> np.ndarray: ...

    def column(self, name: str, start: int = 0, stop: int | None = None, step: int = 1) -> np.ndarray: ...


STATISTICS = ("mean", "median")


@dataclass(frozen=True)
class HorizonProfile:
    distance: np.ndarray  # (n,) 0 … n-1
    relative: np.ndarray  # (n,) ‖G[t, j]‖ at t − j = d relative to d = 0 (mean: pooled; median: of records)
    records_used: int
    batch_range: tuple  # (first, last) batch of the records used
    statistic: str = "mean"  # "mean": pooled over records; "median": the median record's profile


def _evenly_spaced(count: int, limit: int) -> slice:
    step = max(1, -(-count // limit))  # ceil division: at most `limit` rows
    return slice(0, count, step)


def horizon_profile(session: RecordSource, first_batch: int | None = None, last_batch: int | None = None,
                    max_records: int = 2000, statistic: str = "mean") -> HorizonProfile:
    """The horizon profile over the records with first_batch ≤ batch ≤ last_batch (default: all)."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose {' or '.join(STATISTICS)}")
    batches = session.batches()
    lo = 0 if first_batch is None else int(np.searchsorted(batches, first_batch))
    hi = len(batches) if last_batch is None else int(np.searchsorted(batches, last_batch, side="right"))
    if hi <= lo:
        raise SessionFormatError(f"{session.path}: no records in the chosen batch range")
    rows = _evenly_spaced(hi - lo, max_records)
    # A strided read: only the used rows leave the file, however long the range.
    itemized = session.column("itemized", lo + rows.start, hi, rows.step).astype(np.float64)  # (R, n, n) [r, t, j]
    n = itemized.shape[1]
    # per_record[r, d] = mean over j of itemized[r, j + d, j]
    per_record = np.stack([np.diagonal(itemized, offset=-d, axis1=1, axis2=2).mean(axis=1) for d in range(n)], axis=1)
    if statistic == "mean":
        by_distance = per_record.mean(axis=0)  # (n,)
        local = by_distance[0]
        relative = by_distance / local if local > 0 else np.zeros(n)
    else:
        usable = per_record[per_record[:, 0] > 0]  # a record without local gradient has no profile
        relative = np.median(usable / usable[:, :1], axis=0) if len(usable) else np.zeros(n)
    used = batches[lo:hi][rows]
    return HorizonProfile(
        distance=np.arange(n), relative=relative, records_used=len(used),
        batch_range=(int(used[0]), int(used[-1])), statistic=statistic,
    )


def horizon_over_training(session: RecordSource, max_points: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """(batch, effective horizon) per record, thinned to at most about `max_points` points."""
    rows = _evenly_spaced(session.n_records, max_points)
    return session.batches()[rows], session.column("horizon")[rows]

