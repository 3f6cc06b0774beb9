"""The interesting batches of the shown session, found off the GUI thread and found again, throttled, as the session grows.

Reading and ranking are split. The records are read through the window's own handle of the session
file (a second handle of a file that is being written breaks reads of its compressed columns in
HDF5), on the GUI thread, in slices of at most `READ_BUDGET` seconds per timer tick, and each record
only once. Ranking the whole run (`find_interesting`, ~0.2 s of CPU per million records) runs on a
single pool thread; the next ranking starts only after a pause that grows with the last one's cost,
so finding takes at most `DUTY` of one core however long the run, and the GUI never waits for it.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from ..analysis.findings import KINDS, Finding, find_interesting
from ..core.errors import RnnbowError
from ..storage.run_series import RunSeriesParts, RunSeriesReader
from .thread_priority import yield_to_the_window

TICK_MS = 100  # the timer that reads, starts rankings and collects them
READ_BUDGET = 0.012  # seconds of reading per tick: the GUI stays responsive while a long session is read
READ_BLOCK = 512  # records per read call, at most ...
READ_BYTES = 1 << 20  # ... and about this many bytes of (n, n) contributions: one record at n = 512
MIN_INTERVAL = 2.0  # seconds from the end of one ranking to the start of the next, at least
DUTY = 0.2  # a ranking that took T seconds is followed by a pause of at least T (1 / DUTY − 1)
REFRESH_INTERVAL = 1.0  # seconds between looks for rows a writer has added
RETRY_AFTER_ERROR = 10.0  # seconds before a session that could not be read is tried again
MAX_FINDINGS = 1000  # the best this many are listed and marked


@dataclass(frozen=True)
class Ranking:
    """What one ranking found, from the first `records` records."""

    generation: int
    findings: tuple[Finding, ...]
    records: int
    took: float  # seconds
    snapshot: RunSeriesParts
    series: object  # the joined RunSeries, kept by the reader instead of its blocks


def _rank(generation: int, snapshot: RunSeriesParts) -> Ranking:
    """On the pool thread: join the columns read so far and rank the whole run."""
    start = time.monotonic()
    series = snapshot.join()
    findings = tuple(find_interesting(series, top=MAX_FINDINGS)) if len(series) else ()
    return Ranking(generation, findings, len(series), time.monotonic() - start, snapshot, series)


class FindingsTracker(QObject):
    """Findings of the followed RecordStore's session file, best first, and which kinds are shown.

    `changed`: the findings or the shown kinds changed (redraw markers and list); `statusChanged`: only
    the status line did (reading progressed, or failed).
    """

    changed = Signal()
    statusChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.findings: tuple[Finding, ...] = ()
        self.records = 0  # records the findings were computed from
        self.hidden: frozenset[str] = frozenset()
        self.message = ""  # why there are no findings, if something went wrong
        self.min_interval = MIN_INTERVAL
        self.store = None
        self._reader: RunSeriesReader | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="findings",
                                                           initializer=yield_to_the_window)
        self._future: concurrent.futures.Future | None = None
        self._generation = 0
        self._ranked = -1  # records and batch losses read when the last ranking started
        self._next_rank = 0.0  # monotonic time before which no ranking starts
        self._next_refresh = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    # -- what is followed -------------------------------------------------------------------------------
    def follow(self, store) -> None:
        """Find the interesting batches of this RecordStore's session (None: none), now and as it grows."""
        self._generation += 1  # a ranking still running belongs to the previous session
        self._future = None
        self.store, self._reader = store, None
        self.findings, self.records, self.message = (), 0, ""
        self._ranked, self._next_rank, self._next_refresh = -1, 0.0, 0.0
        if store is not None:
            self._timer.start()
            self._tick()
        else:
            self._timer.stop()
        self.changed.emit()
        self.statusChanged.emit()

    def shutdown(self) -> None:
        """Stop; a ranking still running is left to finish on its own (it touches no file). Idempotent."""
        self._timer.stop()
        self._generation += 1
        self.store = self._reader = self._future = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- shown kinds ----------------------------------------------------------------------------------------
    def set_shown(self, kind: str, shown: bool) -> None:
        hidden = self.hidden - {kind} if shown else self.hidden | {kind}
        if hidden != self.hidden:
            self.hidden = frozenset(hidden)
            self.changed.emit()
            self.statusChanged.emit()

    def shown(self) -> list[Finding]:
        """The findings of the kinds shown, best first."""
        return [f for f in self.findings if f.kind not in self.hidden]

    def counts(self) -> dict[str, int]:
        """Findings per kind (shown or not), for every kind."""
        counts = dict.fromkeys((name for name, _ in KINDS), 0)
        for f in self.findings:
            counts[f.kind] += 1
        return counts

    def status(self) -> str:
        """One line on what the findings are, and how far reading has got."""
        if self.store is None:
            return "Open or train a session to find its interesting batches."
        if self.message:
            return f"Cannot look for findings: {self.message}"
        reader = self._reader
        reading = ""
        if reader is not None and reader.records < reader.session.n_records:
            reading = f"reading records: {reader.records:,} of {reader.session.n_records:,}"
        if not self.records:
            return f"Looking for interesting batches… {reading}".rstrip() if reading or self._future else "No batches recorded yet."
        found = len(self.findings)
        text = (f"{found:,} finding{'s' if found != 1 else ''} in {self.records:,} records" if found
                else f"Nothing stands out in {self.records:,} records")
        hidden = found - len(self.shown())
        if hidden:
            text += f" ({hidden:,} of hidden kinds)"
        return text + (f" · {reading}" if reading else "")

    # -- reading and ranking, on the GUI thread -------------------------------------------------------------
    def _tick(self) -> None:
        self._collect()
        store = self.store
        if store is None:
            return
        now = time.monotonic()
        session = store.session
        if session is None:
            self._say("the session file is not open")
            return
        try:
            if self._reader is None:
                if now < self._next_refresh:
                    return
                n = store.config.seq_length
                self._reader = RunSeriesReader(session, max(1, min(READ_BLOCK, READ_BYTES // (4 * n * n))))
            elif self._reader.session is not session:
                self._reader.session = session  # the window swapped its handle (a run finished)
            reader = self._reader
            if not reader.behind and now >= self._next_refresh:
                self._next_refresh = now + REFRESH_INTERVAL
                session.refresh()
            if reader.behind:
                deadline = now + READ_BUDGET
                while reader.behind and time.monotonic() < deadline:
                    reader.update(limit=reader.block)
                self.statusChanged.emit()
        except (RnnbowError, OSError) as exc:
            self._reader = None  # read again from the start on the next try
            self._next_refresh = now + RETRY_AFTER_ERROR
            self._say(str(exc) or type(exc).__name__)
            return
        self._say("")
        read = (reader.records, reader.batches)
        if not reader.behind and read != self._ranked and self._future is None and now >= self._next_rank:
            self._ranked = read
            self._future = self._pool.submit(_rank, self._generation, reader.snapshot())

    def _collect(self) -> None:
        future = self._future
        if future is None or not future.done():
            return
        self._future = None
        try:
            ranking = future.result()
        except Exception as exc:  # noqa: BLE001 — a ranking must report, never take the window down
            self._next_rank = time.monotonic() + RETRY_AFTER_ERROR
            self._say(f"{type(exc).__name__}: {exc}")
            return
        if ranking.generation != self._generation:
            return  # a ranking of a session no longer followed
        self._next_rank = time.monotonic() + max(self.min_interval, ranking.took * (1 / DUTY - 1))
        if self._reader is not None:
            self._reader.compact(ranking.snapshot, ranking.series)
        self.findings, self.records = ranking.findings, ranking.records
        self.changed.emit()
        self.statusChanged.emit()

    def _say(self, message: str) -> None:
        if message != self.message:
            self.message = message
            self.statusChanged.emit()
