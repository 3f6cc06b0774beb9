"""The session file: an HDF5 file written while training and read, live or later, by any program.

The format is documented in docs/session-format.md, and what survives which fault in
docs/reliability.md. The writer appends in blocks and flushes at least every `flush_interval`
seconds in SWMR mode, so another process can watch a session grow and a killed writer leaves every
flushed block readable. Each flush is a small commit: the bulky columns are written and flushed
first, the `batch` and `loss` columns that say "these rows exist" last. After a failed write the
writer stops touching the file at once. The reader trusts nothing in the file: it refuses links
and storage that would make it read another file, checks every shape and size against the header
and the file's real size, reads only the committed prefix of each table, and turns every low-level
failure into a `SessionFormatError`.
"""

from __future__ import annotations

import errno
import functools
import io
import math
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..core.cells import make_cell
from ..core.corpus import Corpus
from ..core.config import TrainConfig
from ..core.records import BatchRecord, Checkpoint, StepResult
from ..core.errors import ConfigError, RnnbowError, SessionFormatError, SessionWriteError

try:  # POSIX advisory locks tell a live writer from a dead one; elsewhere the reader just cannot tell
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "rnnbow-session"
FORMAT_VERSION = 1

# name -> (trailing shape as a function of n = seq_length and G = gates, dtype)
RECORD_FIELDS = {
    "batch": (lambda n, G: (), np.int64),
    "position": (lambda n, G: (), np.int64),
    "inputs": (lambda n, G: (n,), np.int32),
    "targets": (lambda n, G: (n,), np.int32),
    "predictions": (lambda n, G: (n,), np.int32),
    "loss": (lambda n, G: (n,), np.float32),
    "itemized": (lambda n, G: (n, n), np.float32),
    "contribution": (lambda n, G: (n, n), np.float32),
    "step_gradient": (lambda n, G: (n,), np.float32),
    "max_gradient": (lambda n, G: (), np.float32),
    "truncation_error": (lambda n, G: (n,), np.float32),
    "horizon": (lambda n, G: (), np.int32),
}
GATE_FIELD = ("itemized_gate", lambda n, G: (n, n, G), np.float32)
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "decoder_weight", "decoder_bias")
_CHUNK_BYTES = 256 * 1024

# Reader limits. A session's own chunks are at most _CHUNK_BYTES; 64 MiB leaves room for files
# re-packed by other tools while refusing a chunk that would have to be decompressed into gigabytes.
_MAX_CHUNK_BYTES = 64 * 1024 * 1024
_MAX_LINKS = 10_000  # a session has about 35 objects
# Filters HDF5 and h5py have built in: deflate, shuffle, fletcher32, scale-offset, LZF. Anything else
# would make HDF5 look for a plugin library on disk.
_ALLOWED_FILTERS = {1, 2, 3, 6, 32000}
_TAIL_ROWS = 4096  # how far back from the end the reader looks for half-written rows
_H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError, MemoryError, UnicodeError)


def _record_fields(n_gates: int) -> dict:
    fields = dict(RECORD_FIELDS)
    if n_gates > 1:
        fields[GATE_FIELD[0]] = GATE_FIELD[1:]
    return fields


def _fill_value(dtype):
    """Rows that were allocated but never written read as this: never a valid value."""
    kind = np.dtype(dtype).kind
    return np.nan if kind == "f" else -1 if kind in "iu" else None


def _growable(group: h5py.Group, name: str, row_shape: tuple, dtype) -> h5py.Dataset:
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    chunk_rows = max(1, min(4096, _CHUNK_BYTES // row_bytes))
    fill = _fill_value(dtype)
    extra = {} if fill is None else {"fillvalue": fill}
    return group.create_dataset(
        name, shape=(0, *row_shape), maxshape=(None, *row_shape), dtype=dtype, chunks=(chunk_rows, *row_shape), **extra
    )


def _append(ds: h5py.Dataset, rows: np.ndarray, start: int) -> None:
    """Write `rows` at `start` (not at the current end): repeating an interrupted block is harmless."""
    ds.resize(start + len(rows), axis=0)
    ds[start:] = rows


def _corpus_dtype(vocab_size: int):
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failed write ('No space left on device'), else HDF5's summary."""
    text = str(exc)
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found.group(1)))
    found = re.search(r"error message = '([^']+)'", text)
    if found:
        return found.group(1)
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror
    return _short(exc)


def _short(exc: BaseException) -> str:
    """HDF5's one-line summary of an error, without its multi-line details."""
    # str() of a KeyError quotes its message ("'Unable to open object (...)'"); take the message itself.
    text = str(exc.args[0]) if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    text = " ".join(text.split("(", 1)[0].split()).rstrip(",;:")
    return text or exc.__class__.__name__


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


def _writer_lock(path: Path):
    """A shared lock held while writing, so readers can tell a live writer from a dead one. fd or None."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _in_use(path: Path) -> bool | None:
    """True if some process holds a lock on `path` (a live writer, or HDF5 reading it); None if unknown."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@dataclass
class _Pending:
    """What was trained since the last flush."""

    loss: list = field(default_factory=list)
    records: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)
    samples: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.loss or self.records or self.checkpoints or self.samples)


class SessionWriter:
    """Creates a session file and appends what a Trainer produces; use as a context manager.

    The first failed write (disk full, file too large, I/O error) raises `SessionWriteError` and
    ends all writing: the file is closed without another byte written, so it stays as readable as
    after the last successful flush. Later calls to `add` and `flush` raise the same error again;
    `close` does not.
    """

    def __init__(self, path, config: TrainConfig, corpus: Corpus, force: bool = False, flush_interval: float = 0.5):
        self.path = Path(path)
        self.config = config
        self.flush_interval = flush_interval
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
            if _in_use(self.path):
                raise SessionWriteError(f"{self.path}: is open in another program (a training run writing it?); not overwriting it")
        ignore_file_size_signal()
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        self.record_fields = _record_fields(cell.n_gates)
        self.file = None
        self._datasets: dict[str, h5py.Dataset] = {}
        # The empty session is laid out in memory and written with plain file I/O: when HDF5 itself
        # hit a full disk while creating objects, the failure surfaced in a destructor and the next
        # call crashed (segfault); an OSError from Python's write is reported cleanly instead.
        try:
            image = self._layout(corpus, cell)
        except _H5_ERRORS as exc:
            raise SessionWriteError(f"{self.path}: cannot be created ({_reason(exc)})") from None
        try:
            with open(self.path, "wb") as out:
                out.write(image)
            self.file = h5py.File(self.path, "r+", libver="latest")
            # Handles stay open for the whole run: a handle closed mid-run makes HDF5 write its
            # object header, and after a failed write that fails again inside a destructor.
            for name in self._dataset_names(cell):
                self._datasets[name] = self.file[name]
            self.file.swmr_mode = True
        except _H5_ERRORS as exc:
            # Nothing of value is in the file yet: leave no half-made session behind.
            self._abandon()
            try:
                self.path.unlink()
            except OSError:
                pass
            raise SessionWriteError(f"{self.path}: cannot be created ({_reason(exc)})") from None
        self._lock_fd = _writer_lock(self.path)
        self._trust_key = _writer_opened(self.path)
        self._pending = _Pending()
        self._rows = {"records": 0, "checkpoints": 0, "samples": 0, "loss": 0}
        self._last_flush = time.monotonic()

    def _dataset_names(self, cell) -> list[str]:
        names = [f"records/{name}" for name in self.record_fields]
        names += [f"checkpoints/{name}" for name in ("batch", *PARAM_NAMES, "h0")]
        if cell.n_state > 1:
            names.append("checkpoints/c0")
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
            "format_version": FORMAT_VERSION,
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
            "complete": False,
        }
        f.attrs.update(attrs)
        f.create_dataset("vocab", data=np.array([ord(c) for c in corpus.vocab], dtype=np.int32))
        ds = f.create_dataset("corpus", data=corpus.ids.astype(_corpus_dtype(V)), chunks=True)
        ds.attrs.update({"name": corpus.name, "sha256": corpus.sha256, "source": corpus.source, "length": len(corpus.ids)})

        records = f.create_group("records")
        for name, (shape, dtype) in self.record_fields.items():
            _growable(records, name, shape(n, cell.n_gates), dtype)
        checkpoints = f.create_group("checkpoints")
        _growable(checkpoints, "batch", (), np.int64)
        GH = cell.n_gates * H
        shapes = {
            "weight_ih": (GH, V), "weight_hh": (GH, H), "bias_ih": (GH,), "bias_hh": (GH,),
            "decoder_weight": (V, H), "decoder_bias": (V,), "h0": (H,),
        }
        if cell.n_state > 1:
            shapes["c0"] = (H,)
        for name, shape in shapes.items():
            _growable(checkpoints, name, shape, np.float64)
        training = f.create_group("training")
        _growable(training, "loss", (), np.float32)
        samples = f.create_group("samples")
        _growable(samples, "batch", (), np.int64)
        _growable(samples, "text", (), h5py.string_dtype())

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
        """Queue what one trained batch produced; flushes when the interval has passed."""
        if self.failed is not None:
            raise self.failed
        if self.closed:
            raise SessionWriteError(f"{self.path}: the session is already closed")
        pending = self._pending
        pending.loss.append(step.loss)
        if step.record is not None:
            pending.records.append(step.record)
        if step.checkpoint is not None:
            pending.checkpoints.append(step.checkpoint)
        if step.sample is not None:
            pending.samples.append(step.sample)
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Commit everything queued; a reader (or a crash) sees all of it or none of each row."""
        if self.failed is not None:
            raise self.failed
        if self.closed:
            return
        try:
            self._write_pending()
        except _H5_ERRORS as exc:
            raise self._fail(exc) from None
        self._last_flush = time.monotonic()

    def _write_pending(self) -> None:
        pending, rows, ds = self._pending, self._rows, self._datasets
        if not pending:
            return
        # Phase 1: everything except the columns that say a row exists, then flush, so those rows'
        # data are on disk before any reader (or the file left by a crash) counts them.
        if pending.records:
            recs = pending.records
            for name in self.record_fields:
                if name != "batch":
                    _append(ds[f"records/{name}"], np.stack([getattr(r, name) for r in recs]), rows["records"])
        if pending.checkpoints:
            cps = pending.checkpoints
            for name in PARAM_NAMES:
                _append(ds[f"checkpoints/{name}"], np.stack([c.params[name] for c in cps]), rows["checkpoints"])
            _append(ds["checkpoints/h0"], np.stack([c.state[0] for c in cps]), rows["checkpoints"])
            if "checkpoints/c0" in ds:
                _append(ds["checkpoints/c0"], np.stack([c.state[1] for c in cps]), rows["checkpoints"])
        if pending.samples:
            texts = np.array([s.text for s in pending.samples], dtype=object)
            _append(ds["samples/text"], texts, rows["samples"])
        self.file.flush()
        # Phase 2: the commit columns. A crash in here leaves at most rows whose batch reads as the
        # fill value -1 (or a loss of NaN), which readers drop.
        if pending.records:
            _append(ds["records/batch"], np.array([r.batch for r in pending.records], dtype=np.int64), rows["records"])
        if pending.checkpoints:
            _append(ds["checkpoints/batch"], np.array([c.batch for c in pending.checkpoints], dtype=np.int64), rows["checkpoints"])
        if pending.samples:
            _append(ds["samples/batch"], np.array([s.batch for s in pending.samples], dtype=np.int64), rows["samples"])
        _append(ds["training/loss"], np.array(pending.loss, dtype=np.float32), rows["loss"])
        self.file.flush()
        committed = {
            "records": rows["records"] + len(pending.records),
            "checkpoints": rows["checkpoints"] + len(pending.checkpoints),
            "samples": rows["samples"] + len(pending.samples),
            "loss": rows["loss"] + len(pending.loss),
        }
        # One statement, so an interrupt (Ctrl+C in a notebook) cannot separate the two.
        self._rows, self._pending = committed, _Pending()

    def _fail(self, exc: BaseException) -> SessionWriteError:
        """Stop writing for good after `exc`; returns the error to raise (now and on later calls)."""
        self.failed = SessionWriteError(
            f"{self.path}: cannot write the session ({_reason(exc)}); training stopped. "
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
        except _H5_ERRORS:
            pass
        try:
            self.file.close()
        except _H5_ERRORS:
            pass
        self._release_lock()

    def _release_lock(self) -> None:
        _writer_closed(self.path, self._trust_key)
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
            self._write_pending()
            self.file.attrs["complete"] = True
            self.file.flush()
            self._datasets = {}
            self.file.close()
        except _H5_ERRORS as exc:
            raise self._fail(exc) from None
        finally:
            self._release_lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------
# Files this process wrote need no pre-flight check (see Session)

_writing_here: dict[tuple[int, int], int] = {}  # (device, inode) -> writers open on it in this process
_written_here: set[tuple[int, int, int, int]] = set()  # (device, inode, size, mtime) when a writer closed it


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _writer_opened(path: Path) -> tuple[int, int] | None:
    ident = _identity(path)
    if ident is None:
        return None
    key = ident[:2]
    _writing_here[key] = _writing_here.get(key, 0) + 1
    return key


def _writer_closed(path: Path, key: tuple[int, int] | None) -> None:
    if key is None:
        return
    count = _writing_here.get(key, 0) - 1
    if count > 0:
        _writing_here[key] = count
    else:
        _writing_here.pop(key, None)
    ident = _identity(path)
    if ident is not None and ident[:2] == key:
        _written_here.add(ident)


def _writer_here(path: Path) -> bool:
    """Whether a SessionWriter of this process has `path` open."""
    ident = _identity(path)
    return ident is not None and ident[:2] in _writing_here


def _written_by_us(path: Path) -> bool:
    ident = _identity(path)
    return ident is not None and (ident[:2] in _writing_here or ident in _written_here)


# ----------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class SessionInfo:
    """The header of a session, as plain values."""

    path: str
    format_version: int
    app_version: str
    config: TrainConfig
    vocab: tuple
    gate_names: tuple
    corpus_name: str
    corpus_sha256: str
    corpus_length: int
    complete: bool


def _text(value, default: str = "?") -> str:
    """An attribute as text, whether stored as a variable- or fixed-length string."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (str, np.str_)):
        return str(value)
    return default


def _integer(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} is not a whole number")
    return int(value)


def _number(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} is not a number")
    return float(value)


def _flag(value) -> bool:
    return isinstance(value, (bool, np.bool_, int, np.integer)) and bool(value)


def _open_h5(path: Path):
    """Open read-only; fall back to SWMR for files still (or last) open for writing.

    Returns (file, why): why is "" for a plain open, else the reason the plain open failed.
    """
    try:
        with open(path, "rb") as probe:
            probe.read(8)
    except FileNotFoundError:
        raise SessionFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SessionFormatError(f"{path}: is a folder, not a session file") from None
    except PermissionError:
        raise SessionFormatError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SessionFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise SessionFormatError(f"{path}: is a folder, not a session file")
    try:
        hdf5 = h5py.is_hdf5(str(path))
    except _H5_ERRORS:
        hdf5 = False
    if not hdf5:
        raise SessionFormatError(f"{path}: not an RNNbow session (not an HDF5 file)")
    # Plain first; then SWMR, which is what works while a writer (in this process or another) has
    # the file open, after a writer was killed, and on a file cut short (SWMR skips the size check).
    # SWMR needs no lock, and holding one would hide whether a writer still holds its own (see
    # _in_use); last, plain without locking, for media that refuse locks. None of these writes.
    attempts = ((False, True), (True, False), (False, False))
    first_error = None
    # HDF5 shares one open file among all handles of a process on it. A reader must not share a
    # writer's: after a failed write the writer points its descriptor at the null device (see
    # SessionWriter._abandon), and a shared reader would then read zeros, and keep that dead file
    # registered as open for every later open of the path in this process.
    separate = _writer_here(path)
    for swmr, locking in attempts:
        try:
            f = _open_read_only(path, swmr, locking, separate)
            if not separate and not _reads_path(f, path):
                # Joined a file left open by a writer that failed (its last close could not
                # complete): open the real file once more, beside it.
                f.close()
                f = _open_read_only(path, swmr, locking, separate=True)
        except _H5_ERRORS as exc:
            first_error = first_error or exc
            continue
        return f, ("" if first_error is None else str(first_error))
    raise SessionFormatError(f"{path}: damaged HDF5 file, cannot be opened ({_short(first_error)})")


def _reads_path(f: h5py.File, path: Path) -> bool:
    """Whether an open file's descriptor really is the file at `path` (True if that cannot be told)."""
    try:
        opened, named = os.fstat(f.id.get_vfd_handle()), os.stat(path)
    except (*_H5_ERRORS, OSError):
        return True
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


# In SWMR mode HDF5 re-reads metadata whose checksum fails, to wait out a writer caught mid-write:
# 100 attempts by default, sleeping 1 ns, 2 ns, 4 ns, … between them, so a block that is really
# damaged (a cut-off file, a kill mid-flush, a corrupted byte) makes a read hang for 2^100 ns.
# 24 attempts wait at most 2^24 ns ≈ 17 ms per block: ample for a live writer's single write.
_SWMR_READ_ATTEMPTS = 24


@functools.lru_cache(maxsize=1)
def _read_attempts_setter():
    """H5Pset_metadata_read_attempts of the HDF5 library h5py uses (h5py does not wrap it), or None."""
    import ctypes

    try:
        # h5py's compiled wrappers link the HDF5 library; looking the symbol up through them finds
        # that same library (a wheel's bundled copy or the system's), never a second one.
        setter = ctypes.CDLL(h5py.defs.__file__).H5Pset_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    setter.argtypes = [ctypes.c_int64, ctypes.c_uint]  # hid_t, unsigned
    setter.restype = ctypes.c_int
    return setter


def _open_read_only(path: Path, swmr: bool, locking: bool, separate: bool = False) -> h5py.File:
    """`separate`: through HDF5's "log" driver with logging off: the same POSIX I/O as the default
    driver, but HDF5 never lets handles of two different drivers share one open file."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
    if separate:
        fapl.set_fapl_log(b"", 0, 0)
    if not locking:
        fapl.set_file_locking(False, True)
    flags = h5py.h5f.ACC_RDONLY
    if swmr:
        flags |= h5py.h5f.ACC_SWMR_READ
        setter = _read_attempts_setter()
        if setter is not None:
            setter(fapl.id, _SWMR_READ_ATTEMPTS)
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))


def _guarded(what: str):
    """Report any low-level failure of a read method as SessionFormatError naming the file."""

    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except (SessionFormatError, _OutOfRange):
                raise
            except _H5_ERRORS as exc:
                raise SessionFormatError(f"{self.path}: {what} cannot be read, the file is damaged ({_short(exc)})") from None

        return guarded

    return decorate


class _OutOfRange(IndexError):
    """The caller asked for a row that does not exist (not a problem of the file)."""


def _committed(ds: h5py.Dataset, n: int, rule: str) -> int:
    """How many of the first `n` rows of a commit column were really written.

    A writer stopped mid-flush can leave a column's new length on disk before its data; such rows
    read as the fill value (-1 for batch numbers, NaN for losses), which no real row holds.
    """
    if n == 0:
        return 0
    lo = max(0, n - _TAIL_ROWS)
    tail = ds[lo:n]
    if rule == "finite":
        ok = np.isfinite(tail)
    else:  # batch numbers: non-negative and strictly increasing
        ok = tail >= 0
        ok[1:] &= tail[1:] > tail[:-1]
    bad = np.flatnonzero(~ok)
    return lo + int(bad[0]) if len(bad) else n


class Session:
    """A session file opened for reading. Reads lazily: one record or one slice at a time.

    Every public read raises only `SessionFormatError` for a damaged or hostile file (and
    IndexError for an index out of range). `notes` says what the reader had to work around.

    Some damage makes the HDF5 library itself loop forever (a global heap object of size 0, seen
    with HDF5 2.0) or could crash it; nothing in-process can stop that. So a file this process did
    not write is first read by `preflight` in a child process with a time limit, which parses
    everything this reader will parse; only a file that passes is opened here.
    """

    def __init__(self, path, check: bool | None = None):
        """Open `path`. `check`: run the pre-flight check in a child process first (True), never
        (False), or unless this process wrote the file (None, the default)."""
        self.path = Path(path)
        self._ds = {}
        if check or (check is None and not _written_by_us(self.path)):
            preflight(self.path)
        self.file, why = _open_h5(self.path)
        self.notes: list[str] = []
        # An unfinished file whose writer is gone (killed, crashed, out of space): it will not grow.
        self.writer_stopped = False
        try:
            self._validate()
            self._measure(first=True)
            self._explain_open(why)
        except SessionFormatError:
            self.close()
            raise
        except _H5_ERRORS as exc:
            self.close()
            raise SessionFormatError(f"{self.path}: damaged session ({_short(exc)})") from None

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        f, path = self.file, self.path
        attrs = f.attrs
        # Not attrs.get(): it answers None for an attribute that exists but cannot be read, and a
        # damaged session would then be called "not a session".
        try:
            stamp = attrs["format"] if "format" in attrs else None
        except _H5_ERRORS as exc:
            raise SessionFormatError(f"{path}: damaged session header ({_short(exc)})") from None
        if _text(stamp, "") != FORMAT:
            raise SessionFormatError(f"{path}: an HDF5 file, but not an RNNbow session")
        try:
            version = _integer(attrs.get("format_version"), "format_version")
        except TypeError:
            raise SessionFormatError(f"{path}: session header has no valid format_version") from None
        if version > FORMAT_VERSION:
            raise SessionFormatError(
                f"{path}: written by a newer RNNbow (session format {version}; this version reads up to {FORMAT_VERSION})"
            )
        if version < 1:
            raise SessionFormatError(f"{path}: session header has an impossible format_version {version}")
        self._refuse_links()
        try:
            config = TrainConfig(
                cell=_text(attrs["cell"], ""),
                hidden_size=_integer(attrs["hidden_size"], "hidden_size"),
                seq_length=_integer(attrs["seq_length"], "seq_length"),
                learning_rate=_number(attrs["learning_rate"], "learning_rate"),
                record_every=_integer(attrs["record_every"], "record_every"),
                checkpoint_every=_integer(attrs["checkpoint_every"], "checkpoint_every"),
                seed=_integer(attrs["seed"], "seed"),
                horizon_epsilon=_number(attrs["horizon_epsilon"], "horizon_epsilon"),
                clip=_number(attrs.get("clip", 5.0), "clip"),
                sample_every=_integer(attrs.get("sample_every", 0), "sample_every"),
                sample_length=_integer(attrs.get("sample_length", 200), "sample_length"),
            ).validate()
        except KeyError as exc:
            raise SessionFormatError(f"{path}: session header lacks {exc}") from None
        except (RnnbowError, ValueError, TypeError) as exc:
            raise SessionFormatError(f"{path}: session header is invalid ({exc})") from None
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        n, H, G = config.seq_length, config.hidden_size, cell.n_gates
        self._file_size = os.path.getsize(path)
        self._ds: dict[str, h5py.Dataset] = {}

        vocab_ds = self._dataset("vocab", (), "iu")
        if not 0 < vocab_ds.shape[0] <= 0x110000:
            raise SessionFormatError(f"{path}: vocab has an impossible size {vocab_ds.shape[0]}")
        codes = vocab_ds[()].astype(np.int64)
        if (codes < 0).any() or (codes > 0x10FFFF).any() or ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
            raise SessionFormatError(f"{path}: vocab holds values that are not Unicode characters")
        vocab = tuple(chr(int(c)) for c in codes)
        V = len(vocab)

        corpus_ds = self._dataset("corpus", (), "iu")
        self.record_fields = _record_fields(G)
        for name, (shape, _dtype) in self.record_fields.items():
            self._dataset(f"records/{name}", shape(n, G), "iuf")
        GH = G * H
        checkpoint_shapes = {
            "batch": (), "weight_ih": (GH, V), "weight_hh": (GH, H), "bias_ih": (GH,), "bias_hh": (GH,),
            "decoder_weight": (V, H), "decoder_bias": (V,), "h0": (H,),
        }
        if cell.n_state > 1:
            checkpoint_shapes["c0"] = (H,)
        self._checkpoint_names = tuple(checkpoint_shapes)
        for name, shape in checkpoint_shapes.items():
            self._dataset(f"checkpoints/{name}", shape, "iu" if name == "batch" else "f")
        self._dataset("training/loss", (), "f")
        self._dataset("samples/batch", (), "iu")
        self._dataset("samples/text", (), "OS")

        gate_names = attrs.get("gate_names", cell.gate_names)
        gate_names = tuple(_text(g) for g in gate_names) if isinstance(gate_names, (list, tuple, np.ndarray)) else ()
        if len(gate_names) != G:
            gate_names = cell.gate_names
        corpus_attrs = corpus_ds.attrs
        self.info = SessionInfo(
            path=str(path),
            format_version=version,
            app_version=_text(attrs.get("app_version")),
            config=config,
            vocab=vocab,
            gate_names=gate_names,
            corpus_name=_text(corpus_attrs.get("name")),
            corpus_sha256=_text(corpus_attrs.get("sha256"), ""),
            corpus_length=int(corpus_ds.shape[0]),
            complete=_flag(attrs.get("complete", False)),
        )
        self._batches_cache: np.ndarray | None = None

    def _refuse_links(self) -> None:
        """Refuse soft and external links anywhere: a session never contains any, and must never
        make the reader open another file. Visits each link once, so hard-link cycles end."""
        seen = 0
        problem = None

        def look(name: bytes, info) -> int | None:
            # Only the link info HDF5 hands over: an HDF5 call raising inside this callback would
            # surface from h5py as a SystemError instead of its real error.
            nonlocal seen, problem
            seen += 1
            where = name.decode("utf-8", "replace")
            if info.type == h5py.h5l.TYPE_EXTERNAL:
                problem = f"{where} is an external link to another file"
            elif info.type == h5py.h5l.TYPE_SOFT:
                problem = f"{where} is a soft link"
            elif info.type != h5py.h5l.TYPE_HARD:
                problem = f"{where} is a link of an unknown kind"
            elif seen > _MAX_LINKS:
                problem = f"more than {_MAX_LINKS:,} objects, far more than a session has"
            return 1 if problem else None

        self.file.id.links.visit(look, info=True)
        if problem:
            raise SessionFormatError(f"{self.path}: {problem}; sessions never contain that, refusing to read it")

    def _dataset(self, name: str, row_shape: tuple, kinds: str) -> h5py.Dataset:
        """Open one dataset the reader uses, after checking it can only make us read this file."""
        group: h5py.Group = self.file
        parts = name.split("/")
        for i, part in enumerate(parts):
            link = group.get(part, getlink=True)
            if link is None:
                raise SessionFormatError(f"{self.path}: {'/'.join(parts[: i + 1])} is missing")
            if not isinstance(link, h5py.HardLink):
                raise SessionFormatError(f"{self.path}: {'/'.join(parts[: i + 1])} is a link; refusing to follow it")
            obj = group[part]
            if i < len(parts) - 1:
                if not isinstance(obj, h5py.Group):
                    raise SessionFormatError(f"{self.path}: {'/'.join(parts[: i + 1])} is not a group")
                group = obj
        if not isinstance(obj, h5py.Dataset):
            raise SessionFormatError(f"{self.path}: {name} is not a dataset")
        if obj.is_virtual:
            raise SessionFormatError(f"{self.path}: {name} is a virtual dataset reading other files; refusing to read it")
        if obj.external:
            raise SessionFormatError(f"{self.path}: {name} keeps its data in external files; refusing to read it")
        if obj.ndim != 1 + len(row_shape) or obj.shape[1:] != tuple(row_shape):
            expected = ", ".join(["N", *map(str, row_shape)])
            raise SessionFormatError(f"{self.path}: {name} has shape {obj.shape}, expected ({expected})")
        if obj.dtype.kind not in kinds or obj.dtype.kind in "iuf" and obj.dtype.itemsize > 8:
            raise SessionFormatError(f"{self.path}: {name} has the wrong data type ({obj.dtype})")
        plist = obj.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code = plist.get_filter(i)[0]
            if code not in _ALLOWED_FILTERS:
                raise SessionFormatError(f"{self.path}: {name} needs compression filter {code}, which RNNbow does not read")
        if obj.chunks is not None:
            chunk_bytes = math.prod(obj.chunks) * obj.dtype.itemsize
            if chunk_bytes > _MAX_CHUNK_BYTES:
                raise SessionFormatError(f"{self.path}: {name} is stored in chunks of {chunk_bytes / 1e6:,.0f} MB; refusing to read it")
        self._ds[name] = obj
        self._check_size(name)
        return obj

    def _check_size(self, name: str) -> None:
        """A dataset cannot honestly declare far more data than the file can hold."""
        ds = self._ds[name]
        declared = math.prod(ds.shape) * max(ds.dtype.itemsize, 1)
        # Uncompressed data needs its bytes in the file; compressed data at most ~1000× less
        # (deflate's limit). Unwritten chunks need none, but a session never leaves more than a
        # block of rows unwritten.
        ratio = 2 if ds.compression is None else 1100
        budget = ratio * self._file_size + 64 * 1024 * 1024
        if declared > budget:
            raise SessionFormatError(
                f"{self.path}: {name} declares {ds.shape[0]:,} rows ({declared / 1e9:,.1f} GB) "
                f"but the file holds only {self._file_size / 1e6:,.1f} MB; refusing to read it"
            )

    # -- lengths ----------------------------------------------------------------------------------
    def _measure(self, first: bool = False) -> None:
        """Count the rows of each table that were completely written."""
        ds = self._ds
        record_lengths = [ds[f"records/{name}"].shape[0] for name in self.record_fields]
        written = min(record_lengths)
        self._n_records = _committed(ds["records/batch"], written, "increasing")
        longest = max(record_lengths)
        cp_written = min(ds[f"checkpoints/{name}"].shape[0] for name in self._checkpoint_names)
        self._n_checkpoints = _committed(ds["checkpoints/batch"], cp_written, "increasing")
        samples_written = min(ds["samples/batch"].shape[0], ds["samples/text"].shape[0])
        self._n_samples = _committed(ds["samples/batch"], samples_written, "increasing")
        loss_length = ds["training/loss"].shape[0]
        self._n_batches = _committed(ds["training/loss"], loss_length, "finite")
        self._batches_cache = None
        if first and longest > self._n_records:
            self.notes.append(
                f"left out {longest - self._n_records:,} record(s) at the end that were only partly written "
                f"when the writer stopped; the {self._n_records:,} before are complete"
            )
        if first and loss_length > self._n_batches:
            self.notes.append(f"left out the unwritten loss of {loss_length - self._n_batches:,} batch(es) at the end")

    def _explain_open(self, why: str) -> None:
        if not why:
            return
        if "truncated" in why:
            self.notes.insert(0, (
                "the file is shorter than its header says (cut off, e.g. by an interrupted copy or a full disk); "
                "reading what is left"
            ))
        elif self.info.complete:
            self.notes.insert(0, "opened in read-while-writing mode; nothing was changed in the file")
        elif _in_use(self.path):
            self.notes.insert(0, "the file is being written by a training run; refresh to see it grow")
        else:
            self.writer_stopped = True
            self.notes.insert(0, (
                "the training that wrote this file stopped without closing it (killed, crashed or out of space); "
                f"read the {self._n_records:,} records it had saved, in read-while-writing mode, "
                "without changing the file"
            ))

    # -- live growth ----------------------------------------------------------------------------
    @_guarded("the growing file")
    def refresh(self) -> bool:
        """Pick up rows a live writer has flushed since; returns True if anything grew."""
        if not self.file.swmr_mode:
            return False
        before = (self._n_records, self._n_batches, self._n_checkpoints, self._n_samples)
        for ds in self._ds.values():
            ds.refresh()
        self._file_size = os.path.getsize(self.path)
        for name in self._ds:
            self._check_size(name)
        self._measure()
        return (self._n_records, self._n_batches, self._n_checkpoints, self._n_samples) != before

    # -- reading -----------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        return self._n_records

    @property
    def batches_trained(self) -> int:
        return self._n_batches

    @property
    def n_checkpoints(self) -> int:
        return self._n_checkpoints

    @property
    def n_samples(self) -> int:
        return self._n_samples

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A slice of one per-record dataset (e.g. max_gradient, horizon, batch) within the valid prefix."""
        if name not in self.record_fields:
            raise KeyError(f"no record field {name!r}")
        return self._column(name, start, stop)

    @_guarded("a record column")
    def _column(self, name: str, start: int, stop: int | None) -> np.ndarray:
        stop = self._n_records if stop is None else max(0, min(stop, self._n_records))
        start = max(0, min(start, stop))
        return self._ds[f"records/{name}"][start:stop]

    def batches(self) -> np.ndarray:
        """Batch numbers of all records (cached; 8 bytes per record)."""
        if self._batches_cache is None or len(self._batches_cache) != self._n_records:
            self._batches_cache = self.column("batch")
        return self._batches_cache

    def record(self, index: int) -> BatchRecord:
        if not 0 <= index < self._n_records:
            raise _OutOfRange(f"record {index} out of range (0–{self._n_records - 1})")
        return self._record(index)

    @_guarded("a record")
    def _record(self, index: int) -> BatchRecord:
        row = {name: self._ds[f"records/{name}"][index] for name in self.record_fields}
        V = len(self.info.vocab)
        for name in ("inputs", "targets", "predictions"):
            if row[name].min() < 0 or row[name].max() >= V:
                raise SessionFormatError(f"{self.path}: record {index} holds {name} outside the vocabulary")
        for value in row.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        return BatchRecord(
            batch=int(row["batch"]),
            position=int(row["position"]),
            inputs=row["inputs"],
            targets=row["targets"],
            predictions=row["predictions"],
            loss=row["loss"],
            itemized=row["itemized"],
            contribution=row["contribution"],
            step_gradient=row["step_gradient"],
            max_gradient=float(row["max_gradient"]),
            truncation_error=row["truncation_error"],
            horizon=int(row["horizon"]),
            itemized_gate=row.get("itemized_gate"),
        )

    def find_record(self, batch: int) -> int | None:
        """Index of the record of `batch`, or None if that batch was not recorded."""
        batches = self.batches()
        i = int(np.searchsorted(batches, batch))
        return i if i < len(batches) and batches[i] == batch else None

    def nearest_batches(self, batch: int, count: int = 2) -> list[int]:
        batches = self.batches()
        if len(batches) == 0:
            return []
        i = int(np.searchsorted(batches, batch))
        lo, hi = max(0, i - count), min(len(batches), i + count)
        near = sorted(batches[lo:hi], key=lambda b: (abs(int(b) - batch), b))[:count]
        return sorted(int(b) for b in near)

    @_guarded("the training loss")
    def training_loss(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        n = self._n_batches
        stop = n if stop is None else max(0, min(stop, n))
        start = max(0, min(start, stop))
        return self._ds["training/loss"][start:stop]

    @_guarded("the text samples")
    def samples(self) -> list[tuple[int, str]]:
        n = self._n_samples
        batches = self._ds["samples/batch"][:n]
        texts = self._ds["samples/text"][:n]
        return [(int(b), _text(t, "")) for b, t in zip(batches, texts)]

    def checkpoint(self, index: int) -> Checkpoint:
        if not 0 <= index < self._n_checkpoints:
            raise _OutOfRange(f"checkpoint {index} out of range (0–{self._n_checkpoints - 1})")
        return self._checkpoint(index)

    @_guarded("a checkpoint")
    def _checkpoint(self, index: int) -> Checkpoint:
        ds = self._ds
        params = {name: ds[f"checkpoints/{name}"][index] for name in PARAM_NAMES}
        state = (ds["checkpoints/h0"][index],) + ((ds["checkpoints/c0"][index],) if "checkpoints/c0" in ds else ())
        return Checkpoint(batch=int(ds["checkpoints/batch"][index]), params=params, state=state)

    @_guarded("the corpus")
    def corpus(self) -> Corpus:
        ids = self._ds["corpus"][()]
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.info.vocab)):
            raise SessionFormatError(f"{self.path}: corpus holds ids outside the vocabulary")
        return Corpus.from_ids(self.info.corpus_name, self.info.vocab, ids)

    def decode(self, ids) -> str:
        vocab = self.info.vocab
        return "".join(vocab[int(i)] for i in ids)

    @_guarded("the summary")
    def summary(self) -> dict:
        """The facts `rnnbow info --json` prints."""
        cfg = self.info.config
        horizons = self._column("horizon", 0, None)
        return {
            "path": str(self.path),
            "format_version": self.info.format_version,
            "app_version": self.info.app_version,
            "cell": cfg.cell,
            "hidden_size": cfg.hidden_size,
            "seq_length": cfg.seq_length,
            "learning_rate": cfg.learning_rate,
            "seed": cfg.seed,
            "record_every": cfg.record_every,
            "checkpoint_every": cfg.checkpoint_every,
            "horizon_epsilon": cfg.horizon_epsilon,
            "records": self._n_records,
            "batches_trained": self._n_batches,
            "checkpoints": self._n_checkpoints,
            "samples": self._n_samples,
            "complete": self.info.complete,
            "corpus": {
                "name": self.info.corpus_name,
                "sha256": self.info.corpus_sha256,
                "characters": self.info.corpus_length,
                "vocab_size": len(self.info.vocab),
            },
            "median_horizon": float(np.median(horizons)) if len(horizons) else None,
            "notes": list(self.notes),
        }

    def close(self) -> None:
        self._ds = {}
        try:
            self.file.close()
        except _H5_ERRORS:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_session(path) -> Session:
    return Session(path)


# ----------------------------------------------------------------------------------------------
# Pre-flight check in a child process

PREFLIGHT_TIMEOUT = 15.0  # seconds; a real session's metadata parses in well under one


def _exercise(path: str) -> None:
    """Parse every piece of metadata the reader can ever reach: header, links, every dataset's
    chunk index, the global heap (attributes, samples), and the first and last rows."""
    try:
        with Session(path, check=False) as s:
            s.summary()
            s.samples()
            s.corpus()
            s.training_loss()
            for i in {0, s.n_records - 1} - {-1}:
                s.record(i)
            for i in {0, s.n_checkpoints - 1} - {-1}:
                s.checkpoint(i)
            for ds in s._ds.values():
                if ds.chunks is not None:
                    ds.id.chunk_iter(_ignore)
    except Exception:  # noqa: BLE001 - only a crash or a hang matters here; the parent's own
        pass  # reading reports any error properly (and a traceback here would reach the user's terminal)


def _ignore(_info) -> None:
    return None


_PREFLIGHT_CODE = "import sys; from rnnbow_desktop.storage.session import _exercise; _exercise(sys.argv[1])"


def preflight(path, timeout: float | None = None) -> None:
    """Read `path` in a child process; raise SessionFormatError if that crashes or never ends.

    The child is a fresh `python -c` that imports only this package: multiprocessing's "spawn"
    would re-run the caller's main script in the child, and "fork" would copy a GUI's threads.
    A frozen app has no Python to start; there multiprocessing is the only way (the app's entry
    point must call multiprocessing.freeze_support()).
    """
    path = Path(path)
    timeout = PREFLIGHT_TIMEOUT if timeout is None else timeout
    if not path.is_file():
        return  # the reader's own checks give the message
    if getattr(sys, "frozen", False):
        code = _preflight_frozen(path, timeout)
    else:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            code = subprocess.run(
                [sys.executable, "-c", _PREFLIGHT_CODE, os.fspath(path)], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            code = None  # subprocess.run has killed it
        except OSError:
            return  # cannot start processes here: read without the check
    if code is None:
        raise SessionFormatError(
            f"{path}: damaged in a way that makes the HDF5 library loop (reading it did not finish within "
            f"{timeout:g} s); refusing to open it"
        )
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        raise SessionFormatError(f"{path}: damaged in a way that crashes the HDF5 library ({name}); refusing to open it")


def _preflight_frozen(path: Path, timeout: float) -> int | None:
    """Exit code of the check run through multiprocessing, None if it did not finish."""
    child = multiprocessing.get_context("spawn").Process(target=_exercise, args=(os.fspath(path),), daemon=True)
    try:
        child.start()
    except (OSError, RuntimeError):
        return 0  # cannot start processes here: read without the check
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode
