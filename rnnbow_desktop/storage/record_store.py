"""The records a window shows: overview columns in memory, full records read lazily from the session file.

One interface for both cases: a live run (records arrive from the training worker and are also
being written to the file) and a saved session (possibly still growing in another process). The
overview needs only three small columns per record (batch, max gradient, horizon: 16 bytes), so a
million records cost 16 MB; a full record (n² floats) is read on demand and kept in a small cache.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..core.cells import make_cell
from ..core.config import TrainConfig
from ..core.labels import IdLabels
from ..core.records import BatchRecord
from ..core.errors import RnnbowError
from .reader import Session


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
        self._cache: OrderedDict[int, BatchRecord] = OrderedDict()
        self.last_error: str | None = None  # why the last get() found nothing
        if session is not None:
            self._load_columns(0)

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
        n = self.session.n_records
        if n > start:
            self._batch.extend(self.session.column("batch", start, n))
            self._max_gradient.extend(self.session.column("max_gradient", start, n, layer=self.layer))
            self._horizon.extend(self.session.column("horizon", start, n, layer=self.layer))

    @property
    def has_model(self) -> bool:
        """Whether RNNbow can run the model (replay, generated text, units, dynamics): not for a recorded PyTorch module."""
        return self.source == "rnnbow"

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
        self._load_columns(0)

    # -- growth -------------------------------------------------------------------------------------
    def append(self, record: BatchRecord) -> None:
        self._batch.append(record.batch)
        self._max_gradient.append(record.max_gradient)
        self._horizon.append(record.horizon)
        self._remember(len(self._batch) - 1, record)

    def refresh(self) -> bool:
        """For a session another process is writing: take in the records flushed since. True if grown."""
        if self.session is None:
            return False
        # Not `if session.refresh()`: another reader of this handle (the findings) may have refreshed it first.
        self.session.refresh()
        before = len(self)
        self._load_columns(before)
        return len(self) != before

    # -- reading ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._batch)

    @property
    def batches(self) -> np.ndarray:
        return self._batch.view()

    @property
    def max_gradient(self) -> np.ndarray:
        return self._max_gradient.view()

    @property
    def horizon(self) -> np.ndarray:
        return self._horizon.view()

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
        batches = self.batches
        i = int(np.searchsorted(batches, batch))
        return i if i < len(batches) and batches[i] == batch else None

    def nearest_index(self, batch: float) -> int | None:
        """The record whose batch number is closest to `batch` (for hover and click on the overview)."""
        batches = self.batches
        if len(batches) == 0:
            return None
        i = int(np.searchsorted(batches, batch))
        if i == 0:
            return 0
        if i == len(batches):
            return len(batches) - 1
        return i if batches[i] - batch < batch - batches[i - 1] else i - 1

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def attach_session(self, session: Session) -> None:
        """Let a live store fall back to the file for records that left the memory cache."""
        self.session = session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
