"""The session file: an HDF5 file written while training and read, live or later, by any program.

The format is documented in docs/session-format.md. The writer appends in blocks (one resize and
one slice assignment per dataset) and flushes at least every `flush_interval` seconds in SWMR mode,
so another process can watch a session grow. The reader trusts nothing in the file: it refuses
links and external storage that would make it read another file, checks every shape against the
header, and reads only the consistent prefix of the record datasets.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..core.cells import make_cell
from ..core.corpus import Corpus
from ..core.training import BatchRecord, Checkpoint, StepResult, TrainConfig
from ..errors import ConfigError, RnnbowError, SessionFormatError, SessionWriteError

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
_CHUNK_BYTES = 256 * 1024


def _record_fields(n_gates: int) -> dict:
    fields = dict(RECORD_FIELDS)
    if n_gates > 1:
        fields[GATE_FIELD[0]] = GATE_FIELD[1:]
    return fields


def _append(ds: h5py.Dataset, rows: np.ndarray) -> None:
    start = ds.shape[0]
    ds.resize(start + len(rows), axis=0)
    ds[start:] = rows


def _growable(group: h5py.Group, name: str, row_shape: tuple, dtype) -> h5py.Dataset:
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    chunk_rows = max(1, min(4096, _CHUNK_BYTES // row_bytes))
    return group.create_dataset(
        name, shape=(0, *row_shape), maxshape=(None, *row_shape), dtype=dtype, chunks=(chunk_rows, *row_shape)
    )


def _corpus_dtype(vocab_size: int):
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32


class SessionWriter:
    """Creates a session file and appends what a Trainer produces; use as a context manager."""

    def __init__(self, path, config: TrainConfig, corpus: Corpus, force: bool = False, flush_interval: float = 0.5):
        self.path = Path(path)
        self.config = config
        self.flush_interval = flush_interval
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(f"{self.path}: folder {folder} does not exist")
        if self.path.exists() and not force:
            raise SessionWriteError(f"{self.path}: already exists (use --force to overwrite it)")
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        try:
            self.file = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            raise SessionWriteError(f"{self.path}: cannot be created ({exc})") from None
        try:
            self._create(corpus, cell)
        except OSError as exc:
            self.file.close()
            raise SessionWriteError(f"{self.path}: write failed ({exc})") from None
        self._pending_loss: list[float] = []
        self._pending_records: list[BatchRecord] = []
        self._pending_checkpoints: list[Checkpoint] = []
        self._pending_samples: list = []
        self._last_flush = time.monotonic()
        self.closed = False

    def _create(self, corpus: Corpus, cell) -> None:
        f, cfg = self.file, self.config
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
        for name, (shape, dtype) in _record_fields(cell.n_gates).items():
            _growable(records, name, shape(n, cell.n_gates), dtype)
        checkpoints = f.create_group("checkpoints")
        _growable(checkpoints, "batch", (), np.int64)
        GH = cell.n_gates * H
        for name, shape in {
            "weight_ih": (GH, V), "weight_hh": (GH, H), "bias_ih": (GH,), "bias_hh": (GH,),
            "decoder_weight": (V, H), "decoder_bias": (V,), "h0": (H,),
        }.items():
            _growable(checkpoints, name, shape, np.float64)
        if cell.n_state > 1:
            _growable(checkpoints, "c0", (H,), np.float64)
        training = f.create_group("training")
        _growable(training, "loss", (), np.float32)
        samples = f.create_group("samples")
        _growable(samples, "batch", (), np.int64)
        _growable(samples, "text", (), h5py.string_dtype())
        f.swmr_mode = True

    def add(self, step: StepResult) -> None:
        """Queue what one trained batch produced; flushes when the interval has passed."""
        self._pending_loss.append(step.loss)
        if step.record is not None:
            self._pending_records.append(step.record)
        if step.checkpoint is not None:
            self._pending_checkpoints.append(step.checkpoint)
        if step.sample is not None:
            self._pending_samples.append(step.sample)
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        try:
            self._write_pending()
            self.file.flush()
        except OSError as exc:
            raise SessionWriteError(f"{self.path}: write failed ({exc})") from None
        self._last_flush = time.monotonic()

    def _write_pending(self) -> None:
        f = self.file
        # Records first, the loss of every batch last: a reader that sees a batch's loss sees its record.
        if self._pending_records:
            recs = self._pending_records
            for name in _record_fields(self.n_gates):
                _append(f["records"][name], np.stack([getattr(r, name) for r in recs]))
            self._pending_records = []
        if self._pending_checkpoints:
            cps = self._pending_checkpoints
            group = f["checkpoints"]
            _append(group["batch"], np.array([c.batch for c in cps]))
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "decoder_weight", "decoder_bias"):
                _append(group[name], np.stack([c.params[name] for c in cps]))
            _append(group["h0"], np.stack([c.state[0] for c in cps]))
            if "c0" in group:
                _append(group["c0"], np.stack([c.state[1] for c in cps]))
            self._pending_checkpoints = []
        if self._pending_samples:
            _append(f["samples"]["batch"], np.array([s.batch for s in self._pending_samples]))
            _append(f["samples"]["text"], np.array([s.text for s in self._pending_samples], dtype=object))
            self._pending_samples = []
        if self._pending_loss:
            _append(f["training"]["loss"], np.array(self._pending_loss, dtype=np.float32))
            self._pending_loss = []

    def close(self) -> None:
        """Write what is pending and mark the session complete. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            self._write_pending()
            self.file.attrs["complete"] = True
            self.file.flush()
        except OSError as exc:
            raise SessionWriteError(f"{self.path}: write failed ({exc})") from None
        finally:
            try:
                self.file.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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


def _refuse_foreign(path: Path, f: h5py.File) -> None:
    """Refuse links and storage that would make us read anything outside this file."""
    def walk(group: h5py.Group, prefix: str):
        for name in group:
            link = group.get(name, getlink=True)
            where = f"{prefix}/{name}"
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
                raise SessionFormatError(f"{path}: {where} is {kind}; sessions never contain links, refusing to read it")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                walk(obj, where)
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    raise SessionFormatError(f"{path}: {where} is a virtual dataset pointing at other files; refusing to read it")
                if obj.external:
                    raise SessionFormatError(f"{path}: {where} stores its data in external files; refusing to read it")

    walk(f, "")


def _open_h5(path: Path):
    """Open read-only; fall back to SWMR for files still (or last) open for writing. Returns (file, note)."""
    if not path.exists():
        raise SessionFormatError(f"{path}: no such file")
    if path.is_dir():
        raise SessionFormatError(f"{path}: is a folder, not a session file")
    if not h5py.is_hdf5(str(path)):
        raise SessionFormatError(f"{path}: not an RNNbow session (not an HDF5 file)")
    # Plain first; then SWMR, which is what works while a writer (in this process or another) has
    # the file open, and after a writer was killed; without locking last, for media that refuse locks.
    attempts = ({}, {"swmr": True}, {"swmr": True, "locking": False}, {"locking": False})
    first_error = None
    for options in attempts:
        try:
            f = h5py.File(path, "r", **options)
        except OSError as exc:
            first_error = first_error or exc
            continue
        note = "" if not options.get("swmr") else (
            "opened in read-while-writing mode: the file is being written, or its writer was stopped abruptly"
        )
        return f, note
    raise SessionFormatError(f"{path}: damaged HDF5 file ({_short(first_error)})")


def _short(exc: Exception) -> str:
    text = str(exc).split("(", 1)[0].strip().rstrip(",;:")
    return text or exc.__class__.__name__


class Session:
    """A session file opened for reading. Reads lazily: one record or one slice at a time."""

    def __init__(self, path):
        self.path = Path(path)
        self.file, note = _open_h5(self.path)
        self.notes: list[str] = [note] if note else []
        try:
            self._validate()
        except SessionFormatError:
            self.file.close()
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            self.file.close()
            raise SessionFormatError(f"{self.path}: damaged session ({_short(exc)})") from None

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        f, path = self.file, self.path
        attrs = f.attrs
        fmt = attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            raise SessionFormatError(f"{path}: an HDF5 file, but not an RNNbow session")
        version = attrs.get("format_version")
        if not isinstance(version, (int, np.integer)):
            raise SessionFormatError(f"{path}: session header has no valid format_version")
        if version > FORMAT_VERSION:
            raise SessionFormatError(
                f"{path}: written by a newer RNNbow (session format {version}; this version reads up to {FORMAT_VERSION})"
            )
        _refuse_foreign(path, f)
        try:
            config = TrainConfig(
                cell=str(attrs["cell"]),
                hidden_size=int(attrs["hidden_size"]),
                seq_length=int(attrs["seq_length"]),
                learning_rate=float(attrs["learning_rate"]),
                record_every=int(attrs["record_every"]),
                checkpoint_every=int(attrs["checkpoint_every"]),
                seed=int(attrs["seed"]),
                horizon_epsilon=float(attrs["horizon_epsilon"]),
                clip=float(attrs.get("clip", 5.0)),
                sample_every=int(attrs.get("sample_every", 0)),
                sample_length=int(attrs.get("sample_length", 200)),
            ).validate()
        except KeyError as exc:
            raise SessionFormatError(f"{path}: session header lacks {exc}") from None
        except (RnnbowError, ValueError, TypeError) as exc:
            raise SessionFormatError(f"{path}: session header is invalid ({exc})") from None
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        n, H = config.seq_length, config.hidden_size

        vocab_ds = self._dataset("vocab", ndim=1, kind="iu")
        if not 0 < vocab_ds.shape[0] <= 1_114_112:
            raise SessionFormatError(f"{path}: vocab has an impossible size {vocab_ds.shape[0]}")
        codes = vocab_ds[()]
        if (codes < 0).any() or (codes > 0x10FFFF).any() or ((codes >= 0xD800) & (codes <= 0xDFFF)).any():
            raise SessionFormatError(f"{path}: vocab holds values that are not Unicode characters")
        vocab = tuple(chr(int(c)) for c in codes)
        V = len(vocab)

        corpus_ds = self._dataset("corpus", ndim=1, kind="iu")
        self._check_size("corpus", corpus_ds)
        self.record_fields = _record_fields(self.n_gates)
        lengths = []
        for name, (shape, _dtype) in self.record_fields.items():
            ds = self._dataset(f"records/{name}", ndim=None, kind="iuf")
            if ds.shape[1:] != shape(n, self.n_gates):
                raise SessionFormatError(
                    f"{path}: records/{name} has shape {ds.shape}, expected (N, {', '.join(map(str, shape(n, self.n_gates)))})"
                )
            self._check_size(f"records/{name}", ds)
            lengths.append(ds.shape[0])
        self._record_lengths = lengths
        loss_ds = self._dataset("training/loss", ndim=1, kind="f")
        self._check_size("training/loss", loss_ds)
        for name in ("batch", "text"):
            self._check_size(f"samples/{name}", self._dataset(f"samples/{name}", ndim=1, kind="iuO"))
        cps = {"batch": ()}
        cps.update({"weight_hh": (cell.n_gates * H, H), "h0": (H,), "decoder_weight": (V, H)})
        for name, shape in cps.items():
            ds = self._dataset(f"checkpoints/{name}", ndim=None, kind="iuf")
            if ds.shape[1:] != shape:
                raise SessionFormatError(f"{path}: checkpoints/{name} has shape {ds.shape}, expected (C, {shape})")
            self._check_size(f"checkpoints/{name}", ds)
        if min(lengths) != max(lengths):
            self.notes.append(
                f"record datasets have different lengths ({min(lengths)}–{max(lengths)}); "
                f"reading the first {min(lengths)} records, which are complete"
            )
        complete = bool(attrs.get("complete", False))
        corpus_attrs = corpus_ds.attrs
        self.info = SessionInfo(
            path=str(path),
            format_version=int(version),
            app_version=str(attrs.get("app_version", "?")),
            config=config,
            vocab=vocab,
            gate_names=tuple(str(g) for g in attrs.get("gate_names", cell.gate_names)),
            corpus_name=str(corpus_attrs.get("name", "?")),
            corpus_sha256=str(corpus_attrs.get("sha256", "")),
            corpus_length=int(corpus_ds.shape[0]),
            complete=complete,
        )
        self._batches_cache: np.ndarray | None = None

    def _dataset(self, name: str, ndim: int | None, kind: str) -> h5py.Dataset:
        obj = self.file.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise SessionFormatError(f"{self.path}: {name} is missing")
        if ndim is not None and obj.ndim != ndim:
            raise SessionFormatError(f"{self.path}: {name} has {obj.ndim} dimensions, expected {ndim}")
        if obj.dtype.kind not in kind:
            raise SessionFormatError(f"{self.path}: {name} has the wrong data type ({obj.dtype})")
        return obj

    def _check_size(self, name: str, ds: h5py.Dataset) -> None:
        """A dataset cannot honestly declare far more data than the file can hold."""
        declared = int(np.prod(ds.shape, dtype=np.float64) * max(ds.dtype.itemsize, 1))
        budget = 2 * os.path.getsize(self.path) + 64 * 1024 * 1024
        if ds.compression is None and declared > budget:
            raise SessionFormatError(
                f"{self.path}: {name} declares {ds.shape[0]:,} rows ({declared / 1e9:.1f} GB) "
                "but the file is far smaller; refusing to read it"
            )
        if ds.compression is not None and ds.shape[0] > 10**9:
            raise SessionFormatError(f"{self.path}: {name} declares an absurd {ds.shape[0]:,} rows")

    # -- live growth ----------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Pick up rows a live writer has flushed since; returns True if anything grew."""
        if not self.file.swmr_mode:
            return False
        before = (self.n_records, self.batches_trained)
        try:
            for name in self.record_fields:
                self.file["records"][name].refresh()
            for name in ("training/loss", "samples/batch", "samples/text", "checkpoints/batch"):
                self.file[name].refresh()
        except (OSError, RuntimeError) as exc:
            raise SessionFormatError(f"{self.path}: could not re-read the growing file ({_short(exc)})") from None
        self._record_lengths = [self.file["records"][n].shape[0] for n in self.record_fields]
        self._batches_cache = None
        return (self.n_records, self.batches_trained) != before

    # -- reading -----------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        return int(min(self._record_lengths))

    @property
    def batches_trained(self) -> int:
        return int(self.file["training/loss"].shape[0])

    @property
    def n_checkpoints(self) -> int:
        return int(self.file["checkpoints/batch"].shape[0])

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A slice of one per-record dataset (e.g. max_gradient, horizon, batch) within the valid prefix."""
        stop = self.n_records if stop is None else min(stop, self.n_records)
        start = max(0, min(start, stop))
        return self.file["records"][name][start:stop]

    def batches(self) -> np.ndarray:
        """Batch numbers of all records (cached; 8 bytes per record)."""
        if self._batches_cache is None or len(self._batches_cache) != self.n_records:
            self._batches_cache = self.column("batch")
        return self._batches_cache

    def record(self, index: int) -> BatchRecord:
        if not 0 <= index < self.n_records:
            raise IndexError(f"record {index} out of range (0–{self.n_records - 1})")
        group = self.file["records"]
        try:
            row = {name: group[name][index] for name in self.record_fields}
        except (OSError, RuntimeError) as exc:
            raise SessionFormatError(f"{self.path}: record {index} cannot be read ({_short(exc)})") from None
        V = len(self.info.vocab)
        for name in ("inputs", "targets", "predictions"):
            if row[name].min() < 0 or row[name].max() >= V:
                raise SessionFormatError(f"{self.path}: record {index} holds {name} outside the vocabulary")
        frozen = {}
        for name, value in row.items():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            frozen[name] = value
        return BatchRecord(
            batch=int(frozen["batch"]),
            position=int(frozen["position"]),
            inputs=frozen["inputs"],
            targets=frozen["targets"],
            predictions=frozen["predictions"],
            loss=frozen["loss"],
            itemized=frozen["itemized"],
            contribution=frozen["contribution"],
            step_gradient=frozen["step_gradient"],
            max_gradient=float(frozen["max_gradient"]),
            truncation_error=frozen["truncation_error"],
            horizon=int(frozen["horizon"]),
            itemized_gate=frozen.get("itemized_gate"),
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

    def training_loss(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.file["training/loss"][start:stop]

    def samples(self) -> list[tuple[int, str]]:
        n = min(self.file["samples/batch"].shape[0], self.file["samples/text"].shape[0])
        batches = self.file["samples/batch"][:n]
        texts = self.file["samples/text"][:n]
        return [(int(b), t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)) for b, t in zip(batches, texts)]

    def checkpoint(self, index: int) -> Checkpoint:
        group = self.file["checkpoints"]
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "decoder_weight", "decoder_bias")
        params = {name: group[name][index] for name in names}
        state = (group["h0"][index],) + ((group["c0"][index],) if "c0" in group else ())
        return Checkpoint(batch=int(group["batch"][index]), params=params, state=state)

    def corpus(self) -> Corpus:
        ids = self.file["corpus"][()]
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.info.vocab)):
            raise SessionFormatError(f"{self.path}: corpus holds ids outside the vocabulary")
        return Corpus.from_ids(self.info.corpus_name, self.info.vocab, ids)

    def decode(self, ids) -> str:
        vocab = self.info.vocab
        return "".join(vocab[int(i)] for i in ids)

    def summary(self) -> dict:
        """The facts `rnnbow info --json` prints."""
        cfg = self.info.config
        horizons = self.column("horizon") if self.n_records else np.array([], dtype=np.int32)
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
            "records": self.n_records,
            "batches_trained": self.batches_trained,
            "checkpoints": self.n_checkpoints,
            "samples": int(self.file["samples/batch"].shape[0]),
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
        try:
            self.file.close()
        except (OSError, RuntimeError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_session(path) -> Session:
    return Session(path)
