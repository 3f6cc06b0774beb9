"""Reading a session, live or later, trusting nothing in the file.

The reader refuses links and storage that would make it read another file, checks every shape and
size against the header and the file's real size (file_checks.py), reads only the committed prefix of
each table, and turns every low-level failure into a `SessionFormatError`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..core.cells import make_cell
from ..core.config import TrainConfig
from ..core.corpus import Corpus
from ..core.errors import SessionFormatError
from ..core.labels import NOT_RECORDED, IdLabels
from ..core.records import BatchRecord, Checkpoint, LayeredRecord
from . import shared_files
from .file_checks import as_flag, as_text, check_size, checked_dataset, committed_rows, format_version, header_config
from .file_checks import header_source, labels_of, module_header, recorded_environment, recorded_gate_names, refuse_links
from .file_checks import vocab_of
from .h5io import H5_ERRORS, reraise_own_bugs, short
from .locks import in_use, written_by_us
from .module_session import ModuleDescription
from .preflight import preflight
from .record_layout import RecordLayout, derive_tokens
from .schema import FORMAT_VERSION, PARAM_NAMES, checkpoint_shapes, record_fields
from .schema import OPTIONAL_CHECKPOINT_FIELDS, memory_name
from .schema import LAYER_FIELDS, MODULE_CHECKPOINTS, RECORD_FIELDS, layered_record_fields
from .schema import SUMMARY_GROUP
from .session_facts import session_facts
from ..analysis.series_summary import BLOCK_SIZES, SERIES, Blocks


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
        self._shared = shared_files.acquire(self.path)
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
        version = format_version(attrs, path, FORMAT_VERSION)
        refuse_links(f, path)
        if header_source(attrs, version, path) == "torch":
            self._validate_module_session(version)
            return
        config = header_config(attrs, path)
        cell = make_cell(config.cell)
        self.n_gates = cell.n_gates
        n, H, G = config.seq_length, config.hidden_size, cell.n_gates
        self._file_size = os.path.getsize(path)
        self._ds: dict[str, h5py.Dataset] = {}

        vocab = vocab_of(self._dataset("vocab", (), "iu"), path)
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

        corpus_attrs = corpus_ds.attrs
        self.info = self._info(version, config, cell, vocab=vocab, corpus_name=as_text(corpus_attrs.get("name")),
                               corpus_sha256=as_text(corpus_attrs.get("sha256"), ""), corpus_length=int(corpus_ds.shape[0]))
        self._batches_cache: np.ndarray | None = None

    def _validate_module_session(self, version: int) -> None:
        """The header and datasets of a session recorded from a PyTorch module (format 2, source "torch")."""
        f, path = self.file, self.path
        attrs = f.attrs
        module, config, layers = module_header(attrs, path)
        cell = make_cell(config.cell)
        self.n_gates = G = cell.n_gates
        n = config.seq_length
        self._file_size = os.path.getsize(path)
        self._ds = {}
        self._layered = True
        labels: tuple | IdLabels = IdLabels()
        if "labels" in f:
            labels = labels_of(self._dataset("labels", (), "OS"), path)
        self.record_fields = record_fields(G)
        for name, (shape, _dtype) in layered_record_fields(G, layers).items():
            self._dataset(f"records/{name}", shape(n, G), "iuf")
        self._checkpoint_names = ()
        self._module_checkpoint_names = ("batch", *module.parameters)
        for name in self._module_checkpoint_names:
            self._dataset(f"{MODULE_CHECKPOINTS}/{name}", module.parameters.get(name, ()), "iu" if name == "batch" else "f")
        self._dataset("training/loss", (), "f")
        self.info = self._info(version, config, cell, vocab=labels, corpus_name="", corpus_sha256="", corpus_length=0,
                               source="torch", layers=layers, module=module, reduction=as_text(attrs.get("reduction"), "mean"))
        self._batches_cache = None

    def _info(self, version: int, config: TrainConfig, cell, **kind) -> SessionInfo:
        """The header as plain values; `kind`: those of RNNbow's own sessions or of a recorded module's."""
        attrs = self.file.attrs
        return SessionInfo(path=str(self.path), format_version=version, app_version=as_text(attrs.get("app_version")),
                           config=config, gate_names=recorded_gate_names(attrs, cell),
                           complete=as_flag(attrs.get("complete", False)),
                           environment=recorded_environment(attrs, self.notes), **kind)

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

    def _dataset(self, name: str, row_shape: tuple, kinds: str) -> h5py.Dataset:
        """Open one dataset the reader uses, after checking it can only make us read this file."""
        shared = self._shared.datasets.get(name) if self._shared is not None else None
        if shared is not None:  # opened and checked by another reader of this file
            self._ds[name] = shared
            self._check_size(name)
            return shared
        obj = checked_dataset(self.file, name, row_shape, kinds, self.path)
        self._ds[name] = obj
        self._check_size(name)
        if self._shared is not None:
            self._shared.datasets[name] = obj
        return obj

    def _check_size(self, name: str) -> None:
        check_size(self._ds[name], name, self._file_size, self.path)

    # -- lengths ----------------------------------------------------------------------------------
    def _measure(self, first: bool = False) -> None:
        """Count the rows of each table that were completely written."""
        ds = self._ds
        record_lengths = [ds[f"records/{name}"].shape[0] for name in self.record_fields if name not in self._layout.derived]
        written = min(record_lengths)
        self._n_records = committed_rows(ds["records/batch"], written, "increasing")
        longest = max(record_lengths)
        if self._layered:  # no numpy model: no checkpoints of it, no samples
            self._n_checkpoints = self._n_samples = 0
            written = min(ds[f"{MODULE_CHECKPOINTS}/{name}"].shape[0] for name in self._module_checkpoint_names)
            self._n_module_checkpoints = committed_rows(ds[f"{MODULE_CHECKPOINTS}/batch"], written, "increasing")
        else:
            cp_written = min(ds[f"checkpoints/{name}"].shape[0] for name in self._checkpoint_names)
            self._n_checkpoints = committed_rows(ds["checkpoints/batch"], cp_written, "increasing")
            samples_written = min(ds["samples/batch"].shape[0], ds["samples/text"].shape[0])
            self._n_samples = committed_rows(ds["samples/batch"], samples_written, "increasing")
        loss_length = ds["training/loss"].shape[0]
        self._n_batches = committed_rows(ds["training/loss"], loss_length, "finite")
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
        try:
            texts = self._ds["samples/text"][:n]
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            if not self.file.swmr_mode or self._shared is None:
                raise
            # Text appended by another process since this handle cached its heap (shared_files.read_beside).
            texts = shared_files.read_beside(self._shared, self.path, "samples/text", n)
        return [(int(b), as_text(t, "")) for b, t in zip(batches, texts)]

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
        return session_facts(self)

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

