"""Sessions recorded from a user's own recurrent module (format version 2): the module's description, and the
SessionWriter laid out for several layers, token labels and the module's state_dict instead of a corpus and a numpy model.

Nothing here needs PyTorch: rnnbow_desktop.torch describes the module and hands over numpy arrays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import h5py
import numpy as np

from ..core.config import TrainConfig
from ..core.errors import ConfigError
from ..core.labels import IdLabels
from ..core.version import __version__
from .schema import FORMAT, FORMAT_VERSION, MODULE_CHECKPOINTS, fill_value, layered_record_fields
from .writer import SessionWriter, append_rows, growable, session_environment

CELLS = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
# What every view that needs RNNbow's own numpy model (replay, generated text, units, dynamics) says of a
# session recorded from a PyTorch module: it has the module's itemized gradients, not a model RNNbow runs.
NOT_AVAILABLE_FOR_EXTERNAL_MODEL = "not available for an external PyTorch model"
_MAX_DESCRIPTION_CHARS = 256 * 1024  # a real description is a few hundred characters per parameter
_PARAMETER_CHUNK_BYTES = 1024 * 1024  # checkpoint chunks: one checkpoint, and a large parameter split by rows
_CHECKPOINT_CHUNK_ROWS = 8  # checkpoints come every thousand batches or so: a chunk holds a few, not a run's worth


@dataclass(frozen=True)
class ModuleDescription:
    """What a session records about the recorded module: its kind and sizes, where it ran, and its parameters."""

    kind: str  # "RNN", "LSTM" or "GRU": the torch.nn class
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    nonlinearity: str  # "tanh" or "relu" for an RNN, "" otherwise
    dtype: str  # "float32" or "float64"
    device: str  # "cpu", "cuda:0", …
    text: str  # the module's repr, e.g. "LSTM(128, 256, num_layers=2, batch_first=True)"
    # state_dict name -> shape, in the module's own order
    parameters: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """The session's `cell`: "rnn", "lstm" or "gru" (an RNN's nonlinearity is in `nonlinearity`)."""
        return CELLS[self.kind]

    def summary(self) -> str:
        """One line for a title or `rnnbow info`: "torch LSTM, 2 layers, input 128, hidden 256, float32 on cpu"."""
        kind = f"{self.kind} ({self.nonlinearity})" if self.nonlinearity and self.nonlinearity != "tanh" else self.kind
        layers = f"{self.num_layers} layer{'s' if self.num_layers != 1 else ''}"
        return f"torch {kind}, {layers}, input {self.input_size}, hidden {self.hidden_size}, {self.dtype} on {self.device}"

    def to_json(self) -> str:
        values = asdict(self)
        values["parameters"] = {name: list(shape) for name, shape in self.parameters.items()}
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> ModuleDescription:
        """Parse and check a recorded description; ValueError says what is wrong with it."""
        if not 0 < len(text) <= _MAX_DESCRIPTION_CHARS:
            raise ValueError("the module description is empty or too long")
        try:
            values = json.loads(text)
        except (ValueError, RecursionError):
            raise ValueError("the module description is not JSON") from None
        if not isinstance(values, dict):
            raise ValueError("the module description is not a JSON object")
        ints = {name: values.get(name) for name in ("input_size", "hidden_size", "num_layers")}
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in ints.values()):
            raise ValueError("the module description's sizes are not positive whole numbers")
        if values.get("kind") not in CELLS:
            raise ValueError(f"the module description names an unknown kind {values.get('kind')!r}")
        texts = {name: values.get(name, "") for name in ("nonlinearity", "dtype", "device", "text")}
        if not all(isinstance(v, str) for v in texts.values()):
            raise ValueError("the module description's names are not text")
        params = values.get("parameters", {})
        shapes: dict[str, tuple[int, ...]] = {}
        if not isinstance(params, dict):
            raise ValueError("the module description's parameters are not an object")
        for name, shape in params.items():
            if (not name or "/" in name or name == "batch" or not isinstance(shape, list) or len(shape) > 4
                    or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in shape)):
                raise ValueError(f"the module description has an invalid parameter {name!r}")
            shapes[name] = tuple(shape)
        return cls(kind=values["kind"], bias=bool(values.get("bias", True)),
                   batch_first=bool(values.get("batch_first", False)), parameters=shapes, **ints, **texts)


def _parameter_column(group: h5py.Group, name: str, shape: tuple[int, ...], dtype) -> h5py.Dataset:
    """One parameter's checkpoints: chunks of one checkpoint, a large parameter's split along its first axis
    (a readers refuses chunks far larger than a session writes)."""
    row_bytes = max(1, math.prod(shape)) * np.dtype(dtype).itemsize
    if not shape or row_bytes <= _PARAMETER_CHUNK_BYTES:
        rows = max(1, min(_CHECKPOINT_CHUNK_ROWS, _PARAMETER_CHUNK_BYTES // row_bytes))
        chunks = (rows, *shape)
    else:
        first = max(1, shape[0] * _PARAMETER_CHUNK_BYTES // row_bytes)
        chunks = (1, first, *shape[1:])
    return group.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks,
                                fillvalue=fill_value(dtype))


class ModuleSessionWriter(SessionWriter):
    """The session writer for a recorded module: the same SWMR file, flushes, commits and failure handling.

    Takes `StepResult`s whose record is a `LayeredRecord` (checkpoint and sample None), and the module's
    state_dict through `add_checkpoint`.
    """

    def __init__(self, path, module: ModuleDescription, seq_length: int, labels: Sequence[str] | None, *,
                 record_every: int, checkpoint_every: int, horizon_epsilon: float, reduction: str,
                 environment: dict, parameter_dtype=np.float32, force: bool = False, flush_interval: float = 0.5):
        # Read by _create, which the base class's constructor calls.
        self.module = module
        self.labels = None if labels is None or isinstance(labels, IdLabels) else tuple(labels)
        self.reduction = reduction
        self.extra_environment = dict(environment)
        self.parameter_dtype = np.dtype(parameter_dtype)
        self._module_pending: list[tuple[int, dict]] = []
        self._module_rows = 0
        config = TrainConfig(cell=module.cell, hidden_size=module.hidden_size, seq_length=seq_length,
                             record_every=record_every, checkpoint_every=checkpoint_every,
                             horizon_epsilon=horizon_epsilon).validate()
        # Records as they are (compact=False): compact records derive tokens from a corpus, which this has not.
        super().__init__(path, config, corpus=None, force=force, flush_interval=flush_interval, compact=False)

    def _create(self, f: h5py.File, corpus, cell) -> None:
        cfg, module = self.config, self.module
        G, L = cell.n_gates, module.num_layers
        f.attrs.update({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": __version__,
            "source": "torch",
            "cell": cfg.cell,
            "hidden_size": cfg.hidden_size,
            "seq_length": cfg.seq_length,
            "layers": L,
            "horizon_epsilon": cfg.horizon_epsilon,
            "record_every": cfg.record_every,
            "checkpoint_every": cfg.checkpoint_every,
            "reduction": self.reduction,
            "vocab_size": len(self.labels) if self.labels is not None else 0,
            "gate_names": list(cell.gate_names),
            "module": module.to_json(),
            "environment": json.dumps({**session_environment(), **self.extra_environment}),
            "complete": False,
        })
        if self.labels is not None:
            f.create_dataset("labels", data=np.array(self.labels, dtype=object), dtype=h5py.string_dtype())
        records = f.create_group("records")
        for name, (shape, dtype) in layered_record_fields(G, L).items():
            growable(records, name, shape(cfg.seq_length, G), dtype)
        checkpoints = f.create_group(MODULE_CHECKPOINTS)
        growable(checkpoints, "batch", (), np.int64, _CHECKPOINT_CHUNK_ROWS)
        for name, shape in module.parameters.items():
            _parameter_column(checkpoints, name, shape, self.parameter_dtype)
        growable(f.create_group("training"), "loss", (), np.float32)

    def _dataset_names(self, cell) -> list[str]:
        names = [f"records/{name}" for name in self.record_fields]
        names += [f"{MODULE_CHECKPOINTS}/{name}" for name in ("batch", *self.module.parameters)]
        return names + ["training/loss"]

    def add_checkpoint(self, batch: int, state: dict[str, np.ndarray]) -> None:
        """Queue the module's state_dict taken before `batch`'s update (written with the next flush)."""
        if self.failed is not None:
            raise self.failed
        missing = set(self.module.parameters) - set(state)
        if missing:
            raise ConfigError(f"the module's state_dict lacks {', '.join(sorted(missing))}")
        self._module_pending.append((batch, {name: state[name] for name in self.module.parameters}))

    @property
    def checkpoints_written(self) -> int:
        return self._module_rows

    def _write_pending(self, final: bool = False) -> None:
        # The same two phases as the records: the parameters are on disk before the `batch` rows that
        # say they exist, so a reader (or the file left by a crash) never counts a half-written checkpoint.
        pending, ds, start = self._module_pending, self._datasets, self._module_rows
        for name in self.module.parameters if pending else ():
            rows = np.stack([state[name] for _batch, state in pending]).astype(self.parameter_dtype, copy=False)
            append_rows(ds[f"{MODULE_CHECKPOINTS}/{name}"], rows, start)
        super()._write_pending(final)
        if pending:
            self.file.flush()
            append_rows(ds[f"{MODULE_CHECKPOINTS}/batch"], np.array([b for b, _s in pending], dtype=np.int64), start)
            self.file.flush()
            self._module_rows, self._module_pending = start + len(pending), []

