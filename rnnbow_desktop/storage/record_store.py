"""The records a window shows: the overview's series at any zoom, full records read lazily from the session file.

One interface for both cases: a live run (records arrive from the training worker and are also
being written to the file) and a saved session (possibly still growing in another process). The
overview draws from a multi-resolution summary (analysis/series_summary.py): the file's own
(record_summary.py), or one kept in memory for a live run and rebuilt for a file without one; only
the visible slice of the full columns is read. So opening ten million records reads a few thousand
numbers; the full columns (16 bytes a record) are read only by whoever asks for `batches`,
`max_gradient` or `horizon`. A full record (n² floats) is read on demand and kept in a small cache.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..analysis.series_summary import Blocks, MemorySummary, envelope, record_blocks
from ..core.cells import make_cell
from ..core.config import TrainConfig
from ..core.labels import IdLabels
from ..core.loss_smoothing import LOSS_UNIT, TOKEN_LOSS_UNIT
from ..core.records import BatchRecord
from ..core.errors import RnnbowError
from .reader import Session
from .record_summary import FileSummary, read_records, rebuild_summary

OVERVIEW_SERIES = ("max_gradient", "horizon")  # what the overview draws, and a rebuilt summary keeps
# A file without a summary is summarised at once when it has at most this many records (16 bytes
# each to read, well under a second); beyond it, the window rebuilds it in the background
# (`summary_task`) and the overview draws a sample of the records meanwhile.
SUMMARY_AT_ONCE = 1 << 20


class _NoLevels:
    """The summary levels of a file that has none (yet): every range is read or sampled from the records."""

    sizes: tuple[int, ...] = ()
    series = OVERVIEW_SERIES

    def available(self, level: int) -> int:
        return 0

    def blocks(self, level: int, lo: int, hi: int) -> Blocks:
        raise IndexError(level)


class _Column:
    """A growable 1-D array with amortized O(1) append; `view()` is the filled part."""

    def __init__(self, dtype, data=None):
        data = np.asarray(data if data is not None else [], dtype=dtype)
        self._buf = np.empty(max(1024, 2 * len(data)), dtype=dtype)
        self._buf[: len(data)] = data
        self._len = len(data)

    def append(self, value) -> None:
        if self._len == len(self._buf):
            grown = np.empty(2 * len(self._buf), dtype=self._buf.dtype)
            grown[: self._len] = self._buf[: self._len]
            self._buf = grown
        self._buf[self._len] = value
        self._len += 1

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self._buf.dtype)
        need = self._len + len(values)
        if need > len(self._buf):
            grown = np.empty(max(need, 2 * len(self._buf)), dtype=self._buf.dtype)
            grown[: self._len] = self._buf[: self._len]
            self._buf = grown
        self._buf[self._len : need] = values
        self._len = need

    def view(self) -> np.ndarray:
        out = self._buf[: self._len]
        out.flags.writeable = False  # a read-only view; appends write through _buf
        return out

    def __len__(self):
        return self._len


class RecordStore:
    """Records of one session, for the views. Not thread-safe: use it from the GUI thread."""

    CACHE = 4096  # full records kept in memory (~10 MB at n = 25)
    # ... and at most this many bytes of them: a record at n = 512 holds n² floats several times over.
    CACHE_BYTES = 128 << 20

    def __init__(self, config: TrainConfig, vocab, title: str, session: Session | None = None, gate_names=None):
        self.config = config
        self.vocab = vocab if isinstance(vocab, IdLabels) else tuple(vocab)  # IdLabels cannot be listed
        self.title = title
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        self.gate_names = tuple(gate_names or cell.gate_names)
        self.session = session
        info = session.info if session is not None else None
        # A session recorded from a PyTorch module: its layers (shown one at a time), no model RNNbow can run.
        self.layers = info.layers if info is not None else 1
        self.layer = 0
        self.source = info.source if info is not None else "rnnbow"
        self.module = info.module if info is not None else None
        self._batch = _Column(np.int64)
        self._max_gradient = _Column(np.float32)
        self._horizon = _Column(np.int32)
        # A live store holds its columns; a file's are read only when someone asks for them.
        self._columns_loaded = session is None
        self._count = session.n_records if session is not None else 0
        self._summary: FileSummary | MemorySummary | None = None
        self._cache: OrderedDict[int, BatchRecord] = OrderedDict()
        self.last_error: str | None = None  # why the last get() found nothing
        self.closed = False
        self._choose_summary()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> "RecordStore":
        """A store over a saved (or still growing) session file."""
        session = Session(path)
        info = session.info
        title = Path(path).name
        return cls(info.config, info.vocab, title, session=session, gate_names=info.gate_names)

    @classmethod
    def live(cls, config: TrainConfig, vocab, title: str) -> "RecordStore":
        """A store fed by `append` from a training worker; the session file is still being written."""
        return cls(config, vocab, title)

    def _load_columns(self, start: int) -> None:
        n = self._count
        if n > start:
            self._batch.extend(self.session.column("batch", start, n))
            self._max_gradient.extend(self.session.column("max_gradient", start, n, layer=self.layer))
            self._horizon.extend(self.session.column("horizon", start, n, layer=self.layer))

    @property
    def has_model(self) -> bool:
        """Whether RNNbow can run the model (replay, generated text, units, dynamics): not for a recorded PyTorch module."""
        return self.source == "rnnbow"

    @property
    def loss_unit(self) -> str:
        """The unit of its per-step losses: "nats/char", or "nats/token" for a recorded PyTorch model."""
        return LOSS_UNIT if self.has_model else TOKEN_LOSS_UNIT

    @property
    def model_name(self) -> str:
        """How the window names the model: the cell ("lstm"), or the recorded module ("torch LSTM, 2 layers")."""
        if self.module is None:
            return self.config.cell
        return f"torch {self.module.kind}" + (f", {self.layers} layers" if self.layers > 1 else "")

    def set_layer(self, layer: int) -> None:
        """Show another recorded layer: the overview columns are read again, cached records dropped."""
        if layer == self.layer or self.session is None:
            return
        if not 0 <= layer < self.layers:
            raise IndexError(f"layer {layer} out of range (0–{self.layers - 1})")
        self.layer = layer
        self._cache.clear()
        self._batch, self._max_gradient, self._horizon = _Column(np.int64), _Column(np.float32), _Column(np.int32)
        self._columns_loaded = False
        self._choose_summary()

    # -- growth -------------------------------------------------------------------------------------
    def append(self, record: BatchRecord) -> None:
        self._batch.append(record.batch)
        self._max_gradient.append(record.max_gradient)
        self._horizon.append(record.horizon)
        self._count += 1
        self._remember(self._count - 1, record)

    def refresh(self) -> bool:
        """For a session another process is writing: take in the records flushed since. True if grown."""
        if self.session is None:
            return False
        # Not `if session.refresh()`: another reader of this handle (the findings) may have refreshed it first.
        self.session.refresh()
        before = self._count
        if self.session.n_records > before:
            self._count = self.session.n_records
            if self._columns_loaded:
                self._load_columns(before)
        return self._count != before

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def _ensure_columns(self) -> None:
        if not self._columns_loaded:
            self._columns_loaded = True
            self._load_columns(0)

    @property
    def batches(self) -> np.ndarray:
        """(R,) batch number of every record (read from the file at the first use: 8 bytes a record)."""
        self._ensure_columns()
        return self._batch.view()

    @property
    def max_gradient(self) -> np.ndarray:
        self._ensure_columns()
        return self._max_gradient.view()

    @property
    def horizon(self) -> np.ndarray:
        self._ensure_columns()
        return self._horizon.view()

    # -- the overview's series at any zoom -----------------------------------------------------------
    def _choose_summary(self) -> None:
        session = self.session
        if session is None:
            self._summary = MemorySummary(series=OVERVIEW_SERIES)
        elif session.summary_sizes and self.layers == 1:
            self._summary = FileSummary(session)
        elif self._count <= SUMMARY_AT_ONCE:
            self._summary = rebuild_summary(session, layer=self.layer, series=OVERVIEW_SERIES)
        else:
            self._summary = None  # rebuilt in the background: see summary_task

    @property
    def needs_summary(self) -> bool:
        """Whether the overview draws a sample until `summary_task` has rebuilt this file's summary."""
        return self._summary is None

    def summary_task(self):
        """A function `build(progress) -> summary` to run off the GUI thread (it opens the file once more,
        so no handle is shared between threads); give its result to `install_summary`."""
        path, layer, count = self.session.path, self.layer, self._count

        def build(progress=None) -> MemorySummary:
            with Session(path, check=False) as session:
                return rebuild_summary(session, progress, layer=layer, series=OVERVIEW_SERIES, stop=count)

        return build

    def install_summary(self, summary: MemorySummary) -> None:
        if self._summary is None:
            self._summary = summary

    def _levels(self):
        summary = self._summary
        if summary is None:
            return _NoLevels()
        if isinstance(summary, MemorySummary) and summary.records < self._count:
            # Records that came since: a live run's from memory, a growing file's from the file.
            if self.session is None or self._columns_loaded:
                lo, hi = summary.records, self._count
                summary.extend(self._batch.view()[lo:hi], {"max_gradient": self._max_gradient.view()[lo:hi],
                                                           "horizon": self._horizon.view()[lo:hi]})
            else:
                rebuild_summary(self.session, layer=self.layer, series=OVERVIEW_SERIES, summary=summary, stop=self._count)
        return summary

    def _read_records(self, series):
        if self.session is None or self._columns_loaded:
            columns = {"max_gradient": self._max_gradient, "horizon": self._horizon}

            def read(start: int, stop: int, step: int) -> Blocks:
                rows = slice(start, stop, step)
                return record_blocks(np.arange(start, stop, step), self._batch.view()[rows],
                                     {name: columns[name].view()[rows] for name in series})

            return read
        return read_records(self.session, self.layer, series)

    def envelope(self, start: int, stop: int, max_blocks: int, series=OVERVIEW_SERIES) -> Blocks:
        """Records start:stop of `series` as at least ~`max_blocks` blocks, each with its batch span and
        (min, max, mean): what the overview draws at any zoom, reading a few thousand numbers."""
        start, stop = max(0, start), min(stop, self._count)
        return envelope(self._levels(), self._read_records(series), start, stop, max_blocks, series=series)

    def max_gradient_peak(self, start: int = 0, stop: int | None = None) -> float:
        """The largest max gradient of records start:stop (0 where there are none)."""
        stop = self._count if stop is None else stop
        blocks = self.envelope(start, stop, 1, ("max_gradient",))
        return float(blocks.stats["max_gradient"][:, 1].max(initial=0.0))

    def batch_at(self, index: int) -> int:
        """The batch number of record `index`, without reading the whole column."""
        if self._columns_loaded:
            return int(self._batch.view()[index])
        return int(self.session.column("batch", index, index + 1)[0])

    def _search(self, batch: float) -> int:
        """The first record whose batch number is at least `batch` (len(self) if none), from the column where
        it is in memory, else from the file: a guess and a look at its neighbours (records usually are
        every `record_every`-th batch), and a binary search reading some twenty numbers where that fails."""
        if self._columns_loaded:
            return int(np.searchsorted(self._batch.view(), batch))
        count = self._count
        if count == 0:
            return 0
        guess = int(np.clip(np.ceil((batch - self.batch_at(0)) / self.config.record_every), 0, count))
        a, b = max(0, guess - 2), min(count, guess + 2)
        near = self.session.column("batch", a, b)
        k = int(np.searchsorted(near, batch))
        if (k > 0 or a == 0) and (k < len(near) or b == count):
            return a + k
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) // 2
            if self.batch_at(mid) < batch:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def index_range(self, first_batch: float, last_batch: float) -> tuple[int, int]:
        """(start, stop): the records whose batch numbers lie within [first_batch, last_batch], one more each side."""
        return max(0, self._search(first_batch) - 1), min(self._count, self._search(last_batch) + 1)

    def record(self, index: int) -> BatchRecord:
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} out of range (0–{len(self) - 1})")
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        if self.session is None:
            raise KeyError(f"record {index} is no longer in memory")
        if index >= self.session.n_records:
            self.session.refresh()  # a file being written: the record has been flushed since
        record = self.session.record(index, self.layer)
        self._remember(index, record)
        return record

    def get(self, index: int | None) -> BatchRecord | None:
        """`record(index)`, or None where there is none or it cannot be read (the reason in `last_error`).

        For the views: a record they cannot show is drawn as empty, never raised into Qt's event loop.
        """
        if index is None or not 0 <= index < len(self):
            return None
        try:
            return self.record(index)
        except (KeyError, IndexError, RnnbowError, OSError) as exc:
            reason = exc.args[0] if exc.args else type(exc).__name__
            self.last_error = f"record {index} cannot be read: {reason}"
            return None

    def _remember(self, index: int, record: BatchRecord) -> None:
        self._cache[index] = record
        self._cache.move_to_end(index)
        n, matrices = self.config.seq_length, 2 + (self.n_gates if self.n_gates > 1 else 0)
        # Never fewer than 8: a live run's newest records must stay until the writer has flushed them.
        limit = min(self.CACHE, max(8, self.CACHE_BYTES // (n * n * matrices * 8)))
        while len(self._cache) > limit:
            self._cache.popitem(last=False)

    def index_of_batch(self, batch: int) -> int | None:
        i = self._search(batch)
        return i if i < self._count and self.batch_at(i) == batch else None

    def nearest_index(self, batch: float) -> int | None:
        """The record whose batch number is closest to `batch` (for hover and click on the overview)."""
        if self._count == 0:
            return None
        i = self._search(batch)
        if i == 0:
            return 0
        if i == self._count:
            return self._count - 1
        return i if self.batch_at(i) - batch < batch - self.batch_at(i - 1) else i - 1

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def attach_session(self, session: Session) -> None:
        """Let a live store fall back to the file for records that left the memory cache."""
        self.session = session

    def close(self) -> None:
        self.closed = True  # a view asked to draw afterwards (a timer firing late) draws nothing
        if self.session is not None:
            self.session.close()
