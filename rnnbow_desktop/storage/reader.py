"""Reading a session, live or later, trusting nothing in the file.

The reader refuses links and storage that would make it read another file, checks every shape and
size against the header and the file's real size, reads only the committed prefix of each table,
and turns every low-level failure into a `SessionFormatError`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..core.cells import make_cell
from ..core.config import TrainConfig
from ..core.corpus import Corpus
from ..core.errors import RnnbowError, SessionFormatError
from ..core.labels import NOT_RECORDED, IdLabels
from ..core.records import BatchRecord, Checkpoint, LayeredRecord
from . import shared_files
from .h5io import H5_ERRORS, reraise_own_bugs, short
from .locks import in_use, written_by_us
from .module_session import ModuleDescription
from .preflight import preflight
from .record_layout import RecordLayout, derive_tokens
from .schema import FORMAT, FORMAT_VERSION, PARAM_NAMES, checkpoint_shapes, record_fields
from .schema import OPTIONAL_CHECKPOINT_FIELDS, memory_name
from .schema import LAYER_FIELDS, MODULE_CHECKPOINTS, RECORD_FIELDS, SOURCES, layered_record_fields
from .schema import SUMMARY_GROUP
from ..analysis.series_summary import BLOCK_SIZES, SERIES, Blocks


# Reader limits. A session's own chunks are at most 256 KiB (the writer's choice); 64 MiB leaves room for files
# re-packed by other tools while refusing a chunk that would have to be decompressed into gigabytes.
_MAX_CHUNK_BYTES = 64 * 1024 * 1024
_MAX_LINKS = 10_000  # a session has about 35 objects
# Filters HDF5 and h5py have built in: deflate, shuffle, fletcher32, scale-offset, LZF. Anything else
# would make HDF5 look for a plugin library on disk.
_ALLOWED_FILTERS = {1, 2, 3, 6, 32000}
_TAIL_ROWS = 4096  # how far back from the end the reader looks for half-written rows
_MAX_ENVIRONMENT_CHARS = 64 * 1024  # a real one is under 1,000 characters
_MAX_LAYERS = 1024
_MAX_LABELS = 1 << 24  # token labels of a version-2 session; real vocabularies have up to a few 100,000


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
    # The software and machine of the run (Python, numpy, BLAS, CPU, OS, h5py, HDF5: see
    # docs/session-format.md); {} for files written before it was recorded.
    environment: dict = field(default_factory=dict)
    # Format 2: "torch" for a session recorded from a user's PyTorch module, which has `layers` recorded
    # layers and the `module` described, token labels in `vocab` (IdLabels without a vocabulary), no corpus.
    source: str = "rnnbow"
    layers: int = 1
    module: ModuleDescription | None = None
    reduction: str = "sum"  # how the batch's losses were reduced: RNNbow's own batches are one sequence

    @property
    def has_model(self) -> bool:
        """Whether RNNbow can run the session's model (replay, generated text, units, dynamics): its own
        numpy model, checkpointed, with the corpus it read. False for a recorded PyTorch module."""
        return self.source == "rnnbow"


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



def _gate_names(attrs, cell) -> tuple:
    """The recorded gate names, or the cell's own where they are missing or do not fit."""
    names = attrs.get("gate_names", cell.gate_names)
    names = tuple(_text(g) for g in names) if isinstance(names, (list, tuple, np.ndarray)) else ()
    return names if len(names) == cell.n_gates else tuple(cell.gate_names)


def _guarded(what: str):
    """Report any low-level failure of a read method as SessionFormatError naming the file."""

    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except (SessionFormatError, _OutOfRange):
                raise
            except H5_ERRORS as exc:
                reraise_own_bugs(exc)
                raise SessionFormatError(f"{self.path}: {what} cannot be read, the file is damaged ({short(exc)})") from None

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

    # A session recorded from a PyTorch module (format 2) sets these in _validate_module_session.
    _layered = False  # record fields measured per layer have a layer axis
    _module_checkpoint_names: tuple = ()  # its state_dict checkpoints, apart from the numpy model's
    _n_module_checkpoints = 0
    # How the records are stored (record_layout.py): each field as it is, unless the file says otherwise.
    _layout = RecordLayout(n=0, derived=frozenset(), packed=frozenset())
    summary_sizes: tuple = ()  # block sizes of the file's multi-resolution summary; () without one

    def __init__(self, path, check: bool | None = None):
        """Open `path`. `check`: run the pre-flight check in a child process first (True), never
        (False), or unless this process wrote the file (None, the default)."""
        self.path = Path(path)
        self._ds = {}
        # A file another reader of this process has open passed its pre-flight check then.
        if check or (check is None and not written_by_us(self.path) and not shared_files.is_open(self.path)):
            preflight(self.path, exercise)
        # Shared with every other reader of the file in this process (see shared_files.py).
        self._shared: shared_files.SharedFile | None = None
        self._shared, _ = shared_files.acquire(self.path)
        self.file, why = self._shared.file, self._shared.why
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
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            self.close()
            raise SessionFormatError(f"{self.path}: damaged session ({short(exc)})") from None

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        f, path = self.file, self.path
        attrs = f.attrs
        # Not attrs.get(): it answers None for an attribute that exists but cannot be read, and a
        # damaged session would then be called "not a session".
        try:
            stamp = attrs["format"] if "format" in attrs else None
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            raise SessionFormatError(f"{path}: damaged session header ({short(exc)})") from None
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
        source = _text(attrs.get("source", "rnnbow"), "")
        if source not in SOURCES or (source == "torch" and version < 2):
            raise SessionFormatError(f"{path}: session header names source {source!r}, which format {version} does not have")
        if source == "torch":
            self._validate_module_session(version)
            return
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
        self.record_fields = record_fields(G)
        if "records" in f and isinstance(f["records"], h5py.Group):  # else _dataset says what is missing
            self._layout = RecordLayout.of_file(f["records"], self.record_fields, n, path)
        for name, shape in self._layout.stored(self.record_fields).items():
            self._dataset(f"records/{name}", shape(n, G), "iuf")
        shapes = {"batch": (), **checkpoint_shapes(G, cell.n_state, H, V)}
        for name, shape in shapes.items():
            if name in OPTIONAL_CHECKPOINT_FIELDS and self.file["checkpoints"].get(name, getlink=True) is None:
                continue  # a file written before this dataset was saved
            self._dataset(f"checkpoints/{name}", shape, "iu" if name == "batch" else "f")
        self._checkpoint_names = tuple(name for name in shapes if f"checkpoints/{name}" in self._ds)
        self._dataset("training/loss", (), "f")
        self._dataset("samples/batch", (), "iu")
        self._dataset("samples/text", (), "OS")
        self._validate_summary()

        gate_names = _gate_names(attrs, cell)
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
            environment=self._environment(),
        )
        self._batches_cache: np.ndarray | None = None

    def _validate_module_session(self, version: int) -> None:
        """The header and datasets of a session recorded from a PyTorch module (format 2, source "torch")."""
        f, path = self.file, self.path
        attrs = f.attrs
        try:
            module = ModuleDescription.from_json(_text(attrs["module"], ""))
            config = TrainConfig(
                cell=_text(attrs["cell"], ""),
                hidden_size=_integer(attrs["hidden_size"], "hidden_size"),
                seq_length=_integer(attrs["seq_length"], "seq_length"),
                record_every=_integer(attrs["record_every"], "record_every"),
                checkpoint_every=_integer(attrs["checkpoint_every"], "checkpoint_every"),
                horizon_epsilon=_number(attrs["horizon_epsilon"], "horizon_epsilon"),
            ).validate()
            layers = _integer(attrs["layers"], "layers")
        except KeyError as exc:
            raise SessionFormatError(f"{path}: session header lacks {exc}") from None
        except (RnnbowError, ValueError, TypeError) as exc:
            raise SessionFormatError(f"{path}: session header is invalid ({exc})") from None
        if not 0 < layers <= _MAX_LAYERS or (module.cell, module.hidden_size, module.num_layers) != (
                config.cell, config.hidden_size, layers):
            raise SessionFormatError(f"{path}: session header is invalid (its module description does not match it)")
        cell = make_cell(config.cell)
        self.n_gates = G = cell.n_gates
        n = config.seq_length
        self._file_size = os.path.getsize(path)
        self._ds = {}
        self._layered = True
        labels: tuple | IdLabels = IdLabels()
        if "labels" in f:
            labels_ds = self._dataset("labels", (), "OS")
            if labels_ds.shape[0] > _MAX_LABELS:
                raise SessionFormatError(f"{path}: labels has an impossible size {labels_ds.shape[0]:,}")
            labels = tuple(_text(label, "") for label in labels_ds[()])
        self.record_fields = record_fields(G)
        for name, (shape, _dtype) in layered_record_fields(G, layers).items():
            self._dataset(f"records/{name}", shape(n, G), "iuf")
        self._checkpoint_names = ()
        self._module_checkpoint_names = ("batch", *module.parameters)
        for name in self._module_checkpoint_names:
            self._dataset(f"{MODULE_CHECKPOINTS}/{name}", module.parameters.get(name, ()), "iu" if name == "batch" else "f")
        self._dataset("training/loss", (), "f")
        self.info = SessionInfo(
            path=str(path),
            format_version=version,
            app_version=_text(attrs.get("app_version")),
            config=config,
            vocab=labels,
            gate_names=_gate_names(attrs, cell),
            corpus_name="",
            corpus_sha256="",
            corpus_length=0,
            complete=_flag(attrs.get("complete", False)),
            environment=self._environment(),
            source="torch",
            layers=layers,
            module=module,
            reduction=_text(attrs.get("reduction"), "mean"),
        )
        self._batches_cache = None

    def _validate_summary(self) -> None:
        """The optional summary of the per-record series (record_summary.py): the levels of known block
        sizes the file has, each checked like every other dataset. Files without one are summarised
        by whoever needs it."""
        group = self.file.get(SUMMARY_GROUP)
        if not isinstance(group, h5py.Group):
            return
        sizes = []
        for size in BLOCK_SIZES:
            if str(size) in group:
                self._dataset(f"{SUMMARY_GROUP}/{size}/batch", (2,), "iu")
                for name in SERIES:
                    self._dataset(f"{SUMMARY_GROUP}/{size}/{name}", (3,), "f")
                sizes.append(size)
        self.summary_sizes = tuple(sizes)

    def _environment(self) -> dict:
        """The recorded environment: a JSON object in a root attribute. Optional, so anything
        unusable there is left out with a note rather than refusing the session."""
        attrs = self.file.attrs
        if "environment" not in attrs:
            return {}
        try:
            text = _text(attrs["environment"], "")
            found = json.loads(text) if 0 < len(text) <= _MAX_ENVIRONMENT_CHARS else None
        except H5_ERRORS as exc:  # includes json's ValueError, and RecursionError (a RuntimeError) for deep nesting
            reraise_own_bugs(exc)
            found = None
        if isinstance(found, dict):
            return found
        self.notes.append("left out the recorded environment: its attribute is not a JSON object of at most 64 KiB")
        return {}

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
        shared = self._shared.datasets.get(name) if self._shared is not None else None
        if shared is not None:  # opened and checked by another reader of this file
            self._ds[name] = shared
            self._check_size(name)
            return shared
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
        if self._shared is not None:
            self._shared.datasets[name] = obj
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
        record_lengths = [ds[f"records/{name}"].shape[0] for name in self.record_fields if name not in self._layout.derived]
        written = min(record_lengths)
        self._n_records = _committed(ds["records/batch"], written, "increasing")
        longest = max(record_lengths)
        if self._layered:  # no numpy model: no checkpoints of it, no samples
            self._n_checkpoints = self._n_samples = 0
            written = min(ds[f"{MODULE_CHECKPOINTS}/{name}"].shape[0] for name in self._module_checkpoint_names)
            self._n_module_checkpoints = _committed(ds[f"{MODULE_CHECKPOINTS}/batch"], written, "increasing")
        else:
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
        elif in_use(self.path):
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
        before = (self._n_records, self._n_batches, self._n_checkpoints, self._n_samples, self._n_module_checkpoints)
        for ds in self._ds.values():
            ds.refresh()
        self._file_size = os.path.getsize(self.path)
        for name in self._ds:
            self._check_size(name)
        self._measure()
        return (self._n_records, self._n_batches, self._n_checkpoints, self._n_samples,
                self._n_module_checkpoints) != before

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

    @property
    def n_module_checkpoints(self) -> int:
        """Checkpoints of a recorded PyTorch module's state_dict (0 for RNNbow's own sessions)."""
        return self._n_module_checkpoints

    def column(self, name: str, start: int = 0, stop: int | None = None, step: int = 1, layer: int = 0) -> np.ndarray:
        """Rows start:stop:step of one per-record dataset (e.g. max_gradient, horizon, itemized) within
        the valid prefix; a strided read takes only those rows from the file. Of a session with several
        layers, a quantity measured per layer is that of `layer` (0: the bottom one)."""
        if name not in self.record_fields:
            raise KeyError(f"no record field {name!r}")
        self._check_layer(layer)
        return self._column(name, start, stop, step, layer)

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.info.layers:
            raise _OutOfRange(f"layer {layer} out of range (0–{self.info.layers - 1})")

    @_guarded("a record column")
    def _column(self, name: str, start: int, stop: int | None, step: int = 1, layer: int = 0) -> np.ndarray:
        stop = self._n_records if stop is None else max(0, min(stop, self._n_records))
        start = max(0, min(start, stop))
        if self._layered and name in LAYER_FIELDS:
            return self._ds[f"records/{name}"][start:stop:step, layer]
        if name in self._layout.derived:
            return self._derived(name, self._ds["records/position"][start:stop:step])
        return self._layout.decode(name, self._ds[f"records/{name}"][start:stop:step])

    def _derived(self, name: str, positions: np.ndarray) -> np.ndarray:
        """Inputs or targets of records at `positions`, from the corpus (compact records store neither)."""
        offset = 1 if name == "targets" else 0
        return derive_tokens(self._ds["corpus"], positions, self._layout.n, offset, len(self.info.vocab), self.path)

    def batches(self) -> np.ndarray:
        """Batch numbers of all records (cached; 8 bytes per record)."""
        if self._batches_cache is None or len(self._batches_cache) != self._n_records:
            self._batches_cache = self.column("batch")
        return self._batches_cache

    def summary_available(self, level: int) -> int:
        """Complete blocks of summary level `level` (of `summary_sizes`) that cover committed records only."""
        size = self.summary_sizes[level]
        names = [f"{SUMMARY_GROUP}/{size}/{name}" for name in ("batch", *SERIES)]
        return min(min(self._ds[name].shape[0] for name in names), self._n_records // size)

    @_guarded("the overview summary")
    def summary_blocks(self, level: int, lo: int, hi: int) -> Blocks:
        """Blocks lo:hi of summary level `level`, within `summary_available(level)`."""
        size = self.summary_sizes[level]
        hi = max(0, min(hi, self.summary_available(level)))
        lo = max(0, min(lo, hi))
        prefix = f"{SUMMARY_GROUP}/{size}"
        first = np.arange(lo, hi, dtype=np.int64) * size
        stats = {name: np.nan_to_num(self._ds[f"{prefix}/{name}"][lo:hi].astype(np.float64)) for name in SERIES}
        return Blocks(first, np.full(hi - lo, size, np.int64), self._ds[f"{prefix}/batch"][lo:hi].astype(np.int64), stats)

    def record(self, index: int, layer: int = 0) -> BatchRecord:
        """Record `index`; of a session with several layers, what was measured for `layer` (0: the bottom one)."""
        if not 0 <= index < self._n_records:
            raise _OutOfRange(f"record {index} out of range (0–{self._n_records - 1})")
        self._check_layer(layer)
        return self._record(index, layer)

    def layered_record(self, index: int) -> LayeredRecord:
        """Record `index` with every layer's measurements (a layer axis first); one layer for RNNbow's own sessions."""
        if not 0 <= index < self._n_records:
            raise _OutOfRange(f"record {index} out of range (0–{self._n_records - 1})")
        return self._layered_record(index)

    @_guarded("a record")
    def _layered_record(self, index: int) -> LayeredRecord:
        row = self._row(index)
        if not self._layered:
            row = {name: value[None] if name in LAYER_FIELDS else value for name, value in row.items()}
        return LayeredRecord(**{name: row.get(name) for name in (*RECORD_FIELDS, "itemized_gate")})

    def _row(self, index: int) -> dict:
        """Every dataset's row `index`, read-only, after checking its token ids."""
        derived, layout = self._layout.derived, self._layout
        row = {name: layout.decode(name, self._ds[f"records/{name}"][index:index + 1])[0]
               for name in self.record_fields if name not in derived}
        for name in derived:
            row[name] = self._derived(name, np.array([row["position"]]))[0]
        V = len(self.info.vocab)
        low = NOT_RECORDED if self._layered else 0  # a recorded module's tokens may be left out
        for name in ("inputs", "targets", "predictions"):
            if row[name].min() < low or row[name].max() >= V:
                raise SessionFormatError(f"{self.path}: record {index} holds {name} outside the vocabulary")
        for value in row.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        row["batch"], row["position"] = int(row["batch"]), int(row["position"])
        return row

    @_guarded("a record")
    def _record(self, index: int, layer: int = 0) -> BatchRecord:
        row = self._row(index)
        if self._layered:
            row = {name: value[layer] if name in LAYER_FIELDS and value is not None else value for name, value in row.items()}
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
        if not n:
            return []  # (a recorded module's session has no samples datasets)
        batches = self._ds["samples/batch"][:n]
        texts = self._ds["samples/text"][:n]
        return [(int(b), _text(t, "")) for b, t in zip(batches, texts)]

    @_guarded("the checkpoint batches")
    def checkpoint_batches(self) -> np.ndarray:
        """(n_checkpoints,) the batch each checkpoint was taken at, without reading their parameters."""
        if self._layered:
            return np.zeros(0, dtype=np.int64)  # a recorded module's state_dicts: module_checkpoint_batches
        return self._ds["checkpoints/batch"][: self._n_checkpoints]

    @_guarded("the module checkpoint batches")
    def module_checkpoint_batches(self) -> np.ndarray:
        """(n_module_checkpoints,) the batches a recorded PyTorch module's state_dict was saved at."""
        if not self._layered:
            return np.zeros(0, dtype=np.int64)
        return self._ds[f"{MODULE_CHECKPOINTS}/batch"][: self._n_module_checkpoints]

    def module_checkpoint(self, index: int) -> Checkpoint:
        """A recorded PyTorch module's state_dict (numpy arrays under the module's own names) before a batch's
        update; `state` is empty. Load it with `module.load_state_dict({k: torch.from_numpy(v) …})`."""
        if not 0 <= index < self._n_module_checkpoints:
            raise _OutOfRange(f"module checkpoint {index} out of range (0–{self._n_module_checkpoints - 1})")
        return self._module_checkpoint(index)

    @_guarded("a module checkpoint")
    def _module_checkpoint(self, index: int) -> Checkpoint:
        ds = self._ds
        params = {name: ds[f"{MODULE_CHECKPOINTS}/{name}"][index] for name in self._module_checkpoint_names[1:]}
        return Checkpoint(batch=int(ds[f"{MODULE_CHECKPOINTS}/batch"][index]), params=params, state=())

    def checkpoint(self, index: int) -> Checkpoint:
        if not 0 <= index < self._n_checkpoints:
            raise _OutOfRange(f"checkpoint {index} out of range (0–{self._n_checkpoints - 1})")
        return self._checkpoint(index)

    @_guarded("a checkpoint")
    def _checkpoint(self, index: int) -> Checkpoint:
        ds = self._ds
        params = {name: ds[f"checkpoints/{name}"][index] for name in PARAM_NAMES}
        state = (ds["checkpoints/h0"][index],) + ((ds["checkpoints/c0"][index],) if "checkpoints/c0" in ds else ())
        memory = None
        if all(f"checkpoints/{memory_name(name)}" in ds for name in PARAM_NAMES):
            memory = {name: ds[f"checkpoints/{memory_name(name)}"][index] for name in PARAM_NAMES}
            if not all(np.isfinite(m).all() and (m >= 0).all() for m in memory.values()):
                memory = None  # not saved for this checkpoint (NaN fill), or damaged: a sum of squares is ≥ 0
        return Checkpoint(batch=int(ds["checkpoints/batch"][index]), params=params, state=state, memory=memory)

    @_guarded("the corpus")
    def corpus(self) -> Corpus:
        if not self.info.has_model:
            raise SessionFormatError(f"{self.path}: recorded from an external PyTorch model; it has no corpus")
        ids = self._ds["corpus"][()]
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.info.vocab)):
            raise SessionFormatError(f"{self.path}: corpus holds ids outside the vocabulary")
        return Corpus.from_ids(self.info.corpus_name, self.info.vocab, ids)

    def decode(self, ids) -> str:
        """The text of token ids: characters joined, word labels separated by spaces; ids left out are skipped."""
        vocab = self.info.vocab
        joiner = "" if self.info.source == "rnnbow" else " "
        return joiner.join(vocab[int(i)] for i in ids if int(i) != NOT_RECORDED)

    @_guarded("the summary")
    def summary(self) -> dict:
        """The facts `rnnbow info --json` prints."""
        cfg, info = self.info.config, self.info
        horizons = self._column("horizon", 0, None)
        if info.module is not None:
            return self._module_summary(horizons)
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
            "environment": dict(self.info.environment),
            "notes": list(self.notes),
        }

    def _module_summary(self, horizons: np.ndarray) -> dict:
        """The summary of a session recorded from a PyTorch module: its description instead of a corpus and settings."""
        info, cfg = self.info, self.info.config
        module = info.module
        medians = [float(np.median(self._column("horizon", 0, None, 1, k))) if len(horizons) else None
                   for k in range(info.layers)]
        return {
            "path": str(self.path),
            "format_version": info.format_version,
            "app_version": info.app_version,
            "source": info.source,
            "cell": cfg.cell,
            "hidden_size": cfg.hidden_size,
            "seq_length": cfg.seq_length,
            "layers": info.layers,
            "module": {"kind": module.kind, "input_size": module.input_size, "nonlinearity": module.nonlinearity,
                       "batch_first": module.batch_first, "bias": module.bias, "dtype": module.dtype,
                       "device": module.device, "text": module.text, "summary": module.summary()},
            "reduction": info.reduction,
            "vocab_size": None if isinstance(info.vocab, IdLabels) else len(info.vocab),
            "record_every": cfg.record_every,
            "checkpoint_every": cfg.checkpoint_every,
            "horizon_epsilon": cfg.horizon_epsilon,
            "records": self._n_records,
            "batches_trained": self._n_batches,
            "checkpoints": self._n_module_checkpoints,
            "complete": info.complete,
            "median_horizon": medians[0],
            "median_horizon_per_layer": medians,
            "environment": dict(info.environment),
            "notes": list(self.notes),
        }

    def close(self) -> None:
        """Done reading; the file closes when no other reader of this process has it open. Idempotent."""
        self._ds = {}
        shared, self._shared = self._shared, None
        if shared is not None:
            shared_files.release(shared)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exercise(path: str) -> None:
    """Parse every piece of metadata the reader can ever reach: header, links, every dataset's
    chunk index, the global heap (attributes, samples), and the first and last rows.

    Whole columns are not read: past the metadata, reading is inflating chunks, which cannot hang,
    and reading them all made the check of a ten-million-record file take seconds."""
    try:
        with Session(path, check=False) as s:
            s.samples()
            if s.info.has_model:
                s.corpus()
            for i in {0, s.batches_trained - 1} - {-1}:
                s.training_loss(i, i + 1)
            for level in range(len(s.summary_sizes)):
                for i in {0, s.summary_available(level) - 1} - {-1}:
                    s.summary_blocks(level, i, i + 1)
            for i in {0, s.n_records - 1} - {-1}:
                s.layered_record(i)
            for i in {0, s.n_module_checkpoints - 1} - {-1}:
                s.module_checkpoint(i)
            for i in {0, s.n_checkpoints - 1} - {-1}:
                s.checkpoint(i)
            for ds in s._ds.values():
                if ds.chunks is not None:
                    ds.id.get_num_chunks()  # walks the whole chunk index, in C (chunk_iter calls Python per chunk)
    except Exception:  # noqa: BLE001 - only a crash or a hang matters here; the parent's own
        pass  # reading reports any error properly (and a traceback here would reach the user's terminal)

