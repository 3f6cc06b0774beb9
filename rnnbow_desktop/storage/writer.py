"""Writing a session: an HDF5 file appended to while training, readable live and after a crash.

The writer appends in blocks and flushes right after the first batch, then at least every
`flush_interval` seconds, in SWMR mode, so another process can watch a session grow and a killed
writer (or a full disk) leaves every flushed block readable, from the first batch on.
Each flush is a small commit: the bulky columns are written and flushed first, the `batch` and
`loss` columns that say "these rows exist" last. After a failed write the writer stops touching the
file at once. What survives which fault: docs/reliability.md.

Sessions are written in format 2 (docs/session-format.md): compact records (compressed_columns.py,
record_layout.py) and the overview's summary (record_summary.py); `compact=False` writes format 1.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..core.version import __version__
from ..core.cells import make_cell
from ..core.config import TrainConfig
from ..core.corpus import Corpus
from ..core.environment import describe_environment
from ..core.errors import ConfigError, SessionWriteError
from ..core.records import Checkpoint, StepResult
from .h5io import H5_ERRORS, reraise_own_bugs, reason
from .locks import in_use, writer_closed, writer_lock, writer_opened
from .schema import FORMAT, PARAM_NAMES, TRAINER_FORMAT_VERSION, checkpoint_shapes, corpus_dtype, fill_value, record_fields
from .schema import memory_name
from .compressed_columns import DEFLATE_LEVEL, CompressedColumn
from .record_layout import lower_triangle
from .record_summary import SummaryWriter, create_summary, summary_dataset_names
from .schema import COMPRESSED_FIELDS, DERIVED_ATTR, DERIVED_FIELDS, LEGACY_FORMAT_VERSION, LOWER_TRIANGLE, PACKING_ATTR
from .schema import TRIANGLE_FIELDS, packed_row_shape

# HDF5 writes a dataset's first chunk whole on its first flush, so chunk sizes decide how much disk
# the first batch needs. Records arrive up to one per batch: chunks of up to 256 KiB keep the writes
# few. Checkpoints and samples come every few dozen batches or more: a chunk of a few rows each, not
# 256 KiB that the first checkpoint would fill with one row (1.8 MB over the seven checkpoint columns).
_CHUNK_BYTES = 256 * 1024
_MAX_CHUNK_ROWS = 4096
_FEW_ROWS = 8
# Compact records: the compressed columns share one number of rows per chunk (so they reach the file
# together): at most 48, and at most 256 KiB of the widest column uncompressed. A chunk is compressed
# once it is complete (compressed_columns.py), so an interval flush holds back the rows of an
# incomplete chunk while its first row is younger than _HOLD_SECONDS; older rows go out as they are.
# 48 rows fill within that second at 48 batches/s and more (a loaded machine here trained 60–100);
# larger chunks compress barely better (at n = 25: 32 rows 0.4 % larger than 128, 64 rows 0.1 %) but
# fill more slowly, and each chunk costs the file 16 bytes of index and the pre-flight check a visit.
_COMPRESSED_CHUNK_BYTES = 256 * 1024
_MAX_COMPRESSED_ROWS = 48
_HOLD_SECONDS = 1.0


def growable(group: h5py.Group, name: str, row_shape: tuple, dtype, max_rows: int = _MAX_CHUNK_ROWS) -> h5py.Dataset:
    """An empty dataset that rows of `row_shape` are appended to; chunks of at most `max_rows` rows."""
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    chunk_rows = max(1, min(max_rows, _CHUNK_BYTES // row_bytes))
    fill = fill_value(dtype)
    extra = {} if fill is None else {"fillvalue": fill}
    return group.create_dataset(
        name, shape=(0, *row_shape), maxshape=(None, *row_shape), dtype=dtype, chunks=(chunk_rows, *row_shape), **extra
    )


def append_rows(ds: h5py.Dataset, rows: np.ndarray, start: int) -> None:
    """Write `rows` at `start` (not at the current end): repeating an interrupted block is harmless."""
    ds.resize(start + len(rows), axis=0)
    ds[start:] = rows



def ignore_file_size_signal() -> None:
    """Let writes past a file-size limit fail with EFBIG (which is reported) instead of killing us.

    The default action of SIGXFSZ ends the process on the spot, which would lose the error message
    and the orderly close. Only the main thread may set signal handlers; elsewhere this does nothing.
    """
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except (OSError, ValueError):
            pass


def session_environment() -> dict:
    """What a new session records about its run's software and machine: the core's description
    and the HDF5 stack that writes the file."""
    return {**describe_environment(), "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}


def checkpoint_memory(checkpoint: Checkpoint, name: str) -> np.ndarray:
    """The row of Adagrad's memory of parameter `name` to save: zeros for a parameter the cell never
    trains (its memory never grows), NaN (the fill value, read as "not saved") without memory."""
    param = checkpoint.params[name]
    if checkpoint.memory is None:
        return np.full(np.shape(param), np.nan)
    return np.asarray(checkpoint.memory[name]) if name in checkpoint.memory else np.zeros(np.shape(param))


@dataclass
class _Pending:
    """What was trained since the last flush."""

    loss: list = field(default_factory=list)
    records: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    record_times: list = field(default_factory=list)  # when each record came (time.monotonic())
    fed: int = 0  # records already given to the compressed columns (held back at the last flush)
    loss_from: int = 0  # the batch of loss[0]

    def __bool__(self) -> bool:
        return bool(self.loss or self.records or self.checkpoints or self.samples)


class SessionWriter:
    """Creates a session file and appends what a Trainer produces; use as a context manager.

    The first failed write (disk full, file too large, I/O error) raises `SessionWriteError` and
    ends all writing: the file is closed without another byte written, so it stays as readable as
    after the last successful flush. Later calls to `add` and `flush` raise the same error again;
    `close` does not.
    """

    def __init__(self, path, config: TrainConfig, corpus: Corpus, force: bool = False, flush_interval: float = 0.5,
                 compact: bool = True):
        """`compact`: format 2's compact records (docs/session-format.md) and a summary for the overview;
        False writes format 1, every field as it is (what earlier releases read)."""
        self.path = Path(path)
        self.config = config
        self.flush_interval = flush_interval
        self.compact = compact
        self._corpus_ids = corpus.ids if corpus is not None else None  # None: a recorded PyTorch model's session
        self._hold = False  # set by add() around an interval flush: see CompressedColumn.write
        self._columns: dict[str, CompressedColumn] = {}
        self._summary: SummaryWriter | None = None
        self.closed = False
        self.failed: SessionWriteError | None = None
        self._lock_fd = None
        self._trust_key = None
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(f"{self.path}: folder {folder} does not exist")
        if self.path.is_dir():
            raise SessionWriteError(f"{self.path}: is a folder")
        if self.path.exists():
            if not force:
                raise SessionWriteError(f"{self.path}: already exists (use --force to overwrite it)")
            # Writing the new file empties the old one at once; make sure no training run is writing it.
            if in_use(self.path):
                raise SessionWriteError(f"{self.path}: is open in another program (a training run writing it?); not overwriting it")
        ignore_file_size_signal()
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        self.record_fields = record_fields(cell.n_gates)
        self.file = None
        self._datasets: dict[str, h5py.Dataset] = {}
        # The empty session is laid out in memory and written with plain file I/O: when HDF5 itself
        # hit a full disk while creating objects, the failure surfaced in a destructor and the next
        # call crashed (segfault); an OSError from Python's write is reported cleanly instead.
        try:
            image = self._layout(corpus, cell)
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            raise SessionWriteError(f"{self.path}: cannot be created ({reason(exc)})") from None
        try:
            with open(self.path, "wb") as out:
                out.write(image)
            self.file = h5py.File(self.path, "r+", libver="latest")
            # Handles stay open for the whole run: a handle closed mid-run makes HDF5 write its
            # object header, and after a failed write that fails again inside a destructor.
            for name in self._dataset_names(cell):
                self._datasets[name] = self.file[name]
            self.file.swmr_mode = True
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            # Nothing of value is in the file yet: leave no half-made session behind.
            self._abandon()
            try:
                self.path.unlink()
            except OSError:
                pass
            raise SessionWriteError(f"{self.path}: cannot be created ({reason(exc)})") from None
        if compact:
            self._columns = {name: CompressedColumn(self._datasets[f"records/{name}"], DEFLATE_LEVEL)
                             for name in self._stored_fields() if name in COMPRESSED_FIELDS}
            self._summary = SummaryWriter(self._datasets, append_rows)
        self._lock_fd = writer_lock(self.path)
        self._trust_key = writer_opened(self.path)
        self._pending = _Pending()
        self._rows = {"records": 0, "checkpoints": 0, "samples": 0, "loss": 0}
        self._last_flush = time.monotonic()

    def _stored_fields(self) -> list[str]:
        """The record fields this file holds datasets for (compact records derive inputs and targets)."""
        return [name for name in self.record_fields if not (self.compact and name in DERIVED_FIELDS)]

    def _dataset_names(self, cell) -> list[str]:
        names = [f"records/{name}" for name in self._stored_fields()]
        if self.compact:
            names += summary_dataset_names()
        names += [f"checkpoints/{name}" for name in ("batch", *PARAM_NAMES, "h0")]
        if cell.n_state > 1:
            names.append("checkpoints/c0")
        names += [f"checkpoints/{memory_name(name)}" for name in PARAM_NAMES]
        return names + ["training/loss", "samples/batch", "samples/text"]

    def _layout(self, corpus: Corpus, cell) -> bytes:
        """The bytes of a new, empty session file."""
        buffer = io.BytesIO()
        with h5py.File(buffer, "w", libver="latest") as f:
            self._create(f, corpus, cell)
        return buffer.getvalue()

    def _create(self, f: h5py.File, corpus: Corpus, cell) -> None:
        cfg = self.config
        H, n, V = cfg.hidden_size, cfg.seq_length, corpus.vocab_size
        attrs = {
            "format": FORMAT,
            "format_version": TRAINER_FORMAT_VERSION if self.compact else LEGACY_FORMAT_VERSION,
            "source": "rnnbow",
            "app_version": __version__,
            "cell": cfg.cell,
            "hidden_size": H,
            "seq_length": n,
            "learning_rate": cfg.learning_rate,
            "seed": cfg.seed,
            "horizon_epsilon": cfg.horizon_epsilon,
            "record_every": cfg.record_every,
            "checkpoint_every": cfg.checkpoint_every,
            "sample_every": cfg.sample_every,
            "sample_length": cfg.sample_length,
            "clip": cfg.clip,
            "optimizer": "adagrad",
            "vocab_size": V,
            "gate_names": list(cell.gate_names),
            "environment": json.dumps(session_environment()),
            "complete": False,
        }
        f.attrs.update(attrs)
        f.create_dataset("vocab", data=np.array([ord(c) for c in corpus.vocab], dtype=np.int32))
        ds = f.create_dataset("corpus", data=corpus.ids.astype(corpus_dtype(V)), chunks=True)
        ds.attrs.update({"name": corpus.name, "sha256": corpus.sha256, "source": corpus.source, "length": len(corpus.ids)})

        records = f.create_group("records")
        if not self.compact:
            for name, (shape, dtype) in self.record_fields.items():
                growable(records, name, shape(n, cell.n_gates), dtype)
        else:
            self._create_compact_records(records, n, cell.n_gates)
            create_summary(f, growable)
        checkpoints = f.create_group("checkpoints")
        growable(checkpoints, "batch", (), np.int64, _FEW_ROWS)
        shapes = checkpoint_shapes(cell.n_gates, cell.n_state, H, V)
        for name, shape in shapes.items():
            growable(checkpoints, name, shape, np.float64, _FEW_ROWS)
        training = f.create_group("training")
        growable(training, "loss", (), np.float32)
        samples = f.create_group("samples")
        growable(samples, "batch", (), np.int64, _FEW_ROWS)
        growable(samples, "text", (), h5py.string_dtype(), _FEW_ROWS)

    def _create_compact_records(self, records: h5py.Group, n: int, G: int) -> None:
        records.attrs[DERIVED_ATTR] = list(DERIVED_FIELDS)
        shapes = {}
        for name in self._stored_fields():
            shape, dtype = self.record_fields[name]
            shapes[name] = (packed_row_shape(shape(n, G), n) if name in TRIANGLE_FIELDS else shape(n, G), dtype)
        widest = max(int(np.prod(shape)) * np.dtype(dtype).itemsize
                     for name, (shape, dtype) in shapes.items() if name in COMPRESSED_FIELDS)
        chunk_rows = max(1, min(_MAX_COMPRESSED_ROWS, _COMPRESSED_CHUNK_BYTES // widest))
        for name, (shape, dtype) in shapes.items():
            if name not in COMPRESSED_FIELDS:
                growable(records, name, shape, dtype)
                continue
            ds = records.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                                        chunks=(chunk_rows, *shape), shuffle=True, compression="gzip",
                                        compression_opts=DEFLATE_LEVEL, fillvalue=fill_value(dtype))
            if name in TRIANGLE_FIELDS:
                ds.attrs[PACKING_ATTR] = LOWER_TRIANGLE

    # -- progress ---------------------------------------------------------------------------------
    @property
    def records_written(self) -> int:
        """Records committed to the file (flushed)."""
        return self._rows["records"]

    @property
    def batches_written(self) -> int:
        """Batches whose loss is committed to the file (flushed)."""
        return self._rows["loss"]

    # -- writing --------------------------------------------------------------------------------------
    def add(self, step: StepResult) -> None:
        """Queue what one trained batch produced; flushes after the first batch and when the interval has passed."""
        if self.failed is not None:
            raise self.failed
        if self.closed:
            raise SessionWriteError(f"{self.path}: the session is already closed")
        pending = self._pending
        if not pending.loss:
            pending.loss_from = step.batch
        pending.loss.append(step.loss)
        now = time.monotonic()
        if step.record is not None:
            pending.records.append(step.record)
            pending.record_times.append(now)
        if step.checkpoint is not None:
            pending.checkpoints.append(step.checkpoint)
        if step.sample is not None:
            pending.samples.append(step.sample)
        # The first batch is committed at once: a disk that fills later then always leaves records.
        # Waiting for the interval made the first flush hold every batch a fast machine trained in
        # it, and a disk without room for all of them kept none.
        first = self._rows["loss"] == 0
        if first or now - self._last_flush >= self.flush_interval:
            # An interval flush may hold back the first rows of an incomplete compressed chunk until
            # the next one; the first batch, explicit flushes and close hold nothing back.
            self._hold = not first
            try:
                self.flush()
            finally:
                self._hold = False

    def _feed_columns(self) -> None:
        """Hand the queued records' compressed fields to their columns, which compress each chunk once it is
        complete (before the file is touched: a mistake here is ours, not the disk's)."""
        pending = self._pending
        records = pending.records[pending.fed:]
        if not self._columns or not records:
            return
        n = self.config.seq_length
        window = np.array([r.position for r in records], dtype=np.int64)[:, None] + np.arange(n)  # (R, n)
        ids = self._corpus_ids
        # Compact records derive inputs and targets from the corpus; that must give the trainer's.
        if not (np.array_equal(np.stack([r.inputs for r in records]), ids[window])
                and np.array_equal(np.stack([r.targets for r in records]), ids[window + 1])):
            raise ValueError(f"batches {records[0].batch}–{records[-1].batch}: inputs and targets are not the corpus "
                             "at their positions, which compact records derive them from")
        t, j = lower_triangle(n)
        for name, column in self._columns.items():
            values = np.stack([getattr(r, name) for r in records]) if name != "position" else \
                np.array([r.position for r in records], dtype=np.int64)
            column.extend(values[:, t, j] if name in TRIANGLE_FIELDS else values)
        pending.fed = len(pending.records)

    def flush(self) -> None:
        """Commit everything queued; a reader (or a crash) sees all of it or none of each row."""
        if self.failed is not None:
            raise self.failed
        if self.closed:
            return
        self._feed_columns()
        try:
            self._write_pending()
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            raise self._fail(exc) from None
        self._last_flush = time.monotonic()

    def _write_pending(self, final: bool = False) -> None:
        pending, rows, ds = self._pending, self._rows, self._datasets
        if not pending:
            return
        # Phase 1: everything except the columns that say a row exists, then flush, so those rows'
        # data are on disk before any reader (or the file left by a crash) counts them. Compressed
        # columns may keep the newest records back for the next flush (see _create_compact_records).
        records, kept, kept_times = pending.records, [], []
        losses, cps, samples = pending.loss, pending.checkpoints, pending.samples
        if self._columns:
            # Held back only while the oldest record not in the file is younger than _HOLD_SECONDS.
            # The columns hold back together, so that they hold the same rows.
            hold = (self._hold and bool(records) and time.monotonic() - pending.record_times[0] < _HOLD_SECONDS
                    and all(column.may_hold for column in self._columns.values()))
            written = {column.write(hold, final) for column in self._columns.values()}
            assert len(written) == 1, written  # the columns share their chunking
            count = written.pop() - rows["records"]
            records, kept, kept_times = records[:count], records[count:], pending.record_times[count:]
        if kept:
            # What came from the first record held back on waits with it, so that the file always
            # holds the same prefix of training in every table (N records of the first N batches).
            first = kept[0].batch
            losses = losses[: first - pending.loss_from]
            cps = [c for c in cps if c.batch < first]
            samples = [x for x in samples if x.batch < first]
        if records:
            for name in self._stored_fields():
                if name != "batch" and name not in self._columns:
                    append_rows(ds[f"records/{name}"], np.stack([getattr(r, name) for r in records]), rows["records"])
            if self._summary is not None:
                self._summary.add(records)
        if cps:
            for name in PARAM_NAMES:
                append_rows(ds[f"checkpoints/{name}"], np.stack([c.params[name] for c in cps]), rows["checkpoints"])
            append_rows(ds["checkpoints/h0"], np.stack([c.state[0] for c in cps]), rows["checkpoints"])
            if "checkpoints/c0" in ds:
                append_rows(ds["checkpoints/c0"], np.stack([c.state[1] for c in cps]), rows["checkpoints"])
            for name in PARAM_NAMES:
                append_rows(ds[f"checkpoints/{memory_name(name)}"], np.stack([checkpoint_memory(c, name) for c in cps]),
                            rows["checkpoints"])
        if samples:
            texts = np.array([x.text for x in samples], dtype=object)
            append_rows(ds["samples/text"], texts, rows["samples"])
        self.file.flush()
        # Phase 2: the commit columns. A crash in here leaves at most rows whose batch reads as the
        # fill value -1 (or a loss of NaN), which readers drop.
        if records:
            append_rows(ds["records/batch"], np.array([r.batch for r in records], dtype=np.int64), rows["records"])
        if cps:
            append_rows(ds["checkpoints/batch"], np.array([c.batch for c in cps], dtype=np.int64), rows["checkpoints"])
        if samples:
            append_rows(ds["samples/batch"], np.array([x.batch for x in samples], dtype=np.int64), rows["samples"])
        if losses:
            append_rows(ds["training/loss"], np.array(losses, dtype=np.float32), rows["loss"])
        self.file.flush()
        committed = {
            "records": rows["records"] + len(records),
            "checkpoints": rows["checkpoints"] + len(cps),
            "samples": rows["samples"] + len(samples),
            "loss": rows["loss"] + len(losses),
        }
        rest = _Pending(loss=pending.loss[len(losses):], records=kept, checkpoints=pending.checkpoints[len(cps):],
                        samples=pending.samples[len(samples):], record_times=kept_times, fed=len(kept),
                        loss_from=pending.loss_from + len(losses))
        # One statement, so an interrupt (Ctrl+C in a notebook) cannot separate the two.
        self._rows, self._pending = committed, rest

    def _fail(self, exc: BaseException) -> SessionWriteError:
        """Stop writing for good after `exc`; returns the error to raise (now and on later calls)."""
        self.failed = SessionWriteError(
            f"{self.path}: cannot write the session ({reason(exc)}); training stopped. "
            f"The file keeps the {self._rows['records']:,} records of the first {self._rows['loss']:,} "
            "batches, saved before the failure."
        )
        self._abandon()
        return self.failed

    def _abandon(self) -> None:
        """Close the HDF5 file without writing another byte to it.

        After a failed write HDF5's caches hold data the disk refused. A normal close retries those
        writes; some then succeed (metadata rewritten in place) and describe data that never reached
        the disk, and h5py crashed (segfault) in a later clean-up. Pointing HDF5's file descriptor at
        the null device first makes the close write nowhere, so the file stays exactly as the last
        successful write left it: the same state as after a kill, which readers open fine.
        """
        self._datasets = {}
        if self.file is None:
            self._release_lock()
            return
        try:
            if self.file.id.valid and self.file.driver == "sec2":
                fd = self.file.id.get_vfd_handle()
                null = os.open(os.devnull, os.O_RDWR)
                try:
                    os.dup2(null, fd)
                finally:
                    os.close(null)
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            pass
        try:
            self.file.close()
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            pass
        self._release_lock()

    def _release_lock(self) -> None:
        writer_closed(self.path, self._trust_key)
        self._trust_key = None
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)
            except OSError:
                pass
            self._lock_fd = None

    def close(self) -> None:
        """Write what is pending and mark the session complete. Safe to call twice, and after a failure."""
        if self.closed:
            return
        self.closed = True
        if self.failed is not None:
            return  # already closed by _fail; the error was raised where it happened
        try:
            self._feed_columns()
        except ValueError:
            self._abandon()  # the file keeps what was flushed; nothing of these records is written
            raise
        try:
            self._write_pending(final=True)
            self.file.attrs["complete"] = True
            self.file.flush()
            self._datasets = {}
            self.file.close()
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            raise self._fail(exc) from None
        finally:
            self._release_lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


