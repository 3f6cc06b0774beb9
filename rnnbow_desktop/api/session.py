"""`open_session(path)`: a session file, read-only, as numpy arrays and plain values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..analysis.replay import Replay, encode, replay
from ..core.config import TrainConfig
from ..core.errors import SessionFormatError
from ..core.records import BatchRecord, Checkpoint
from ..storage.module_session import NOT_AVAILABLE_FOR_EXTERNAL_MODEL, ModuleDescription
from ..storage.reader import Session
from ..storage.schema import record_fields
from .unit_gradients import UnitGradients, recompute_unit_gradients


class OpenSession:
    """A session opened for reading. Use as a context manager, or call `close()`.

    Per-record series come as numpy arrays indexed by record (`records("max_gradient")`, shape (R,);
    `records("itemized")`, shape (R, n, n) — mind the size of a long run's matrices); whole records,
    checkpoints and samples come as the same immutable objects the trainer hands out. Every read raises
    `SessionFormatError` (one line naming the file) for a damaged file.
    """

    def __init__(self, path):
        self._session = Session(path)
        info = self._session.info
        self.path: Path = Path(path)
        self.settings: TrainConfig = info.config
        self.cell: str = info.config.cell
        self.gate_names: tuple[str, ...] = tuple(info.gate_names)
        # The characters; of a recorded PyTorch model its token labels, or IdLabels (labels are the ids).
        self.vocab: Sequence[str] = info.vocab
        self.corpus_name: str = info.corpus_name
        self.format_version: int = info.format_version
        self.complete: bool = info.complete
        self.notes: tuple[str, ...] = tuple(self._session.notes)
        self.environment: dict = dict(getattr(info, "environment", {}) or {})
        # "rnnbow", or "torch" for a session recorded from a PyTorch module (rnnbow_desktop.torch.Recorder):
        # then `layers` layers were itemized and `module` describes it; it has no corpus, samples or numpy model.
        self.source: str = info.source
        self.layers: int = info.layers
        self.module: ModuleDescription | None = info.module

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        return self._session.n_records

    @property
    def batches_trained(self) -> int:
        return self._session.batches_trained

    @property
    def record_fields(self) -> tuple[str, ...]:
        """The names `records()` accepts: batch, position, inputs, targets, predictions, loss, itemized, …"""
        return tuple(record_fields(len(self.gate_names)))

    # -- per-record series ---------------------------------------------------------------------------
    def records(self, name: str, start: int = 0, stop: int | None = None, step: int = 1, layer: int = 0) -> np.ndarray:
        """Rows start:stop:step of one recorded quantity, e.g. records("max_gradient") (R,), records("horizon") (R,),
        records("itemized", -100) (100, n, n). Indices are record numbers; `batches` maps them to batches.
        Of a session with several layers, what was measured for `layer` (0: the one nearest the input)."""
        if name not in self.record_fields:
            raise KeyError(f"no recorded quantity {name!r}; choose from {', '.join(self.record_fields)}")
        count = self.n_records
        start = start + count if start < 0 else start
        stop = count if stop is None else (stop + count if stop < 0 else stop)
        return self._session.column(name, start, stop, step, layer)

    @property
    def batches(self) -> np.ndarray:
        """(R,) the batch number of every record."""
        return self._session.batches()

    def record(self, batch: int, layer: int = 0) -> BatchRecord:
        """The whole record of training batch `batch` (a KeyError if that batch was not recorded); of a session
        with several layers, that of `layer`."""
        index = self._session.find_record(batch)
        if index is None:
            raise KeyError(f"batch {batch} was not recorded; nearest recorded: {self._session.nearest_batches(batch)}")
        return self._session.record(index, layer)

    def __iter__(self) -> Iterator[BatchRecord]:
        """Every record, oldest first, one read at a time."""
        for index in range(self.n_records):
            yield self._session.record(index)

    # -- per-batch loss, checkpoints, samples, corpus ---------------------------------------------------
    @property
    def losses(self) -> np.ndarray:
        """(B,) the loss of every trained batch, summed over its n steps (nats)."""
        return np.asarray(self._session.training_loss(), dtype=np.float64)

    @property
    def loss_per_char(self) -> np.ndarray:
        """(B,) the loss of every trained batch per character (nats)."""
        return self.losses / self.settings.seq_length

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """The batches a checkpoint was taken at (before that batch's update)."""
        return tuple(int(b) for b in self._session.checkpoint_batches())

    def checkpoint(self, batch: int | None = None) -> Checkpoint:
        """The checkpoint taken at `batch` (default: the last): PyTorch-named parameters, the state and
        (`memory`, None in files written before it was saved) Adagrad's memory."""
        self._need_model("checkpoints of RNNbow's own model (see module_checkpoint)")
        count = self._session.n_checkpoints
        if count == 0:
            raise SessionFormatError(f"{self.path}: the session has no checkpoints")
        if batch is None:
            return self._session.checkpoint(count - 1)
        batches = self.checkpoints
        if batch not in batches:
            raise KeyError(f"no checkpoint at batch {batch}; checkpoints: {list(batches)}")
        return self._session.checkpoint(batches.index(batch))

    # -- inside the network: replay and per-unit gradients ---------------------------------------------
    def replay(self, text: str, checkpoint: int | None = None) -> Replay:
        """Run the model checkpointed at batch `checkpoint` (default: the last) over `text`, from the zero state.

        Returns per character k (T = len(text)): `h` (T, H) after reading text[k], `c` (T, H) for an
        LSTM (else None), `gates` (gate name -> (T, H) activations), `probs` (T, V) of the next
        character, `loss` (T,) in nats of predicting text[k + 1] (NaN for the last character).
        A character outside the session's vocabulary raises ConfigError naming it.
        """
        self._need_model("replay")
        cp = self.checkpoint(checkpoint)
        return replay(self.cell, cp.params, None, encode(text, self.vocab))

    def unit_gradients(self, batch: int, progress=None) -> UnitGradients:
        """[t, j, u] = ‖rows of unit u in G[t, j]‖ of training batch `batch`, shape (n, n, H), recomputed by
        re-running training from the nearest checkpoint at or before it (bit-identically; from batch 0
        for files whose checkpoints lack Adagrad's memory). Σ_u [t, j, u]² is the recorded itemized².
        `progress(fraction, text)` follows the re-run batches (raise core.errors.Cancelled in it to stop).
        See docs/api.md."""
        self._need_model("unit gradients")
        return recompute_unit_gradients(self._session, batch, progress)

    def _need_model(self, what: str) -> None:
        if self.source != "rnnbow":
            raise SessionFormatError(f"{self.path}: {what}: {NOT_AVAILABLE_FOR_EXTERNAL_MODEL}")

    @property
    def module_checkpoints(self) -> tuple[int, ...]:
        """The batches a recorded PyTorch module's state_dict was saved at (before that batch's update)."""
        return tuple(int(b) for b in self._session.module_checkpoint_batches())

    def module_checkpoint(self, batch: int | None = None) -> dict[str, np.ndarray]:
        """A recorded PyTorch module's state_dict saved at `batch` (default: the last), as numpy arrays under
        its own names: `module.load_state_dict({k: torch.from_numpy(v) for k, v in …items()})`."""
        batches = self.module_checkpoints
        if not batches:
            raise SessionFormatError(f"{self.path}: the session has no checkpoints of a PyTorch module")
        if batch is not None and batch not in batches:
            raise KeyError(f"no module checkpoint at batch {batch}; checkpoints: {list(batches)}")
        index = len(batches) - 1 if batch is None else batches.index(batch)
        return dict(self._session.module_checkpoint(index).params)

    def refresh(self) -> bool:
        """For a file a training run is still writing: take in what it has flushed since; True if it grew."""
        return self._session.refresh()

    @property
    def samples(self) -> list[tuple[int, str]]:
        """(batch, generated text) pairs."""
        return self._session.samples()

    def corpus_text(self) -> str:
        """The whole corpus (SessionFormatError for a recorded PyTorch model, which has none)."""
        return self._session.corpus().text

    def summary(self) -> dict:
        """What `rnnbow info --json` prints."""
        return self._session.summary()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "OpenSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        what = self.cell if self.module is None else f"torch {self.module.kind}, {self.layers} layer(s)"
        return (f"<OpenSession {self.path.name}: {what}, hidden {self.settings.hidden_size}, "
                f"{self.batches_trained:,} batches, {self.n_records:,} records>")


def open_session(path) -> OpenSession:
    """Open a session file read-only (also one still being written)."""
    return OpenSession(path)
