"""Recording a user's own nn.RNN / nn.LSTM / nn.GRU from inside their training loop into a session RNNbow opens.

    rec = Recorder(model.lstm, "run.h5", every=10, vocab=itos)
    for inputs, targets in loader:
        out, _ = model.lstm(model.embed(inputs))
        logits = model.head(out)
        step_losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")   # (B, n)
        rec.record(step_losses, inputs=inputs, targets=targets, predictions=logits.argmax(-1))
        step_losses.sum(1).mean().backward(); opt.step(); opt.zero_grad()
    rec.close()

A forward hook, registered at construction, keeps what the module was called with and returned on the
batches that will be recorded (and nothing on the others); `record` hands it to `itemize_module` and
lets go of it, so no graph outlives its batch. Every batch's loss is kept as a detached scalar on the
module's device and copied to the host a few hundred at a time, so a batch that is not recorded costs
two small kernels and no synchronisation with a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import ConfigError, SessionWriteError, TrainingDiverged
from ..core.labels import NOT_RECORDED, IdLabels
from ..core.records import LayeredRecord, StepResult
from ..storage.module_session import ModuleDescription, ModuleSessionWriter
from .itemized import REDUCTIONS, LayerItemized, check_module, itemize_module

DRAIN_LOSSES = 256  # batch losses held on the device before one copy to the host
_MEASURED = ("loss", "itemized", "contribution", "step_gradient", "truncation_error", "itemized_gate")


def describe_module(module: nn.Module) -> ModuleDescription:
    """What a session records about `module` (checked by check_module first)."""
    kind = next(name for cls, name in ((nn.LSTM, "LSTM"), (nn.GRU, "GRU"), (nn.RNN, "RNN")) if isinstance(module, cls))
    weight = module.weight_hh_l0
    return ModuleDescription(
        kind=kind, input_size=module.input_size, hidden_size=module.hidden_size, num_layers=module.num_layers,
        bias=bool(module.bias), batch_first=bool(module.batch_first),
        nonlinearity=module.nonlinearity if kind == "RNN" else "",
        dtype=str(weight.dtype).removeprefix("torch."), device=str(weight.device), text=repr(module),
        parameters={name: tuple(value.shape) for name, value in module.state_dict().items()},
    )


def _torch_environment(device: torch.device) -> dict:
    found = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(device)
    return found


def _labels(vocab) -> tuple[str, ...] | None:
    if vocab is None:
        return None
    if isinstance(vocab, (str, bytes)) or not isinstance(vocab, Sequence):
        raise ConfigError("vocab must be a sequence of token labels (vocab[id] is the text of token id), e.g. a list of str")
    labels = tuple(vocab)
    if not labels or not all(isinstance(label, str) for label in labels):
        raise ConfigError("vocab must be a non-empty sequence of str: the text of every token id")
    return labels


def _positive(name: str, value, zero_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero_ok else 1):
        raise ConfigError(f"{name} must be a {'non-negative' if zero_ok else 'positive'} whole number, not {value!r}")
    return value


class Recorder:
    """Records the itemized gradients of every layer of `module` into the session file `path`.

    `every`: batch b (counted from 0 by calls of `record`) is itemized when b % every == 0.
    `vocab`: the text of every token id, for the labels row (else the ids are shown).
    `reduction`: how the user's loss reduces the batch, "mean" (step_losses.sum(1).mean()) or "sum".
    `checkpoint_every`: the module's state_dict is saved before batch b's update when b % checkpoint_every == 0
    (0: never). `rank`: under torch.distributed, the one rank that writes; the others' calls do nothing.
    `epsilon`: the truncation error that defines the effective horizon. `force`: replace an existing file.

    Errors a user can cause raise ConfigError (a module or call the recorder cannot itemize),
    SessionWriteError (the file) or TrainingDiverged (a non-finite loss: the file keeps every batch
    before it, and the recorder closes).
    """

    def __init__(self, module: nn.Module, path, every: int = 1, vocab: Sequence[str] | None = None,
                 reduction: str = "mean", checkpoint_every: int = 1000, rank: int = 0, *,
                 epsilon: float = 0.05, force: bool = False, flush_interval: float = 0.5):
        check_module(module)
        self.module = module
        self.path = Path(path)
        self.every = _positive("every", every)
        self.checkpoint_every = _positive("checkpoint_every", checkpoint_every, zero_ok=True)
        self.rank = _positive("rank", rank, zero_ok=True)
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
        if not (math.isfinite(epsilon) and 0 < epsilon < 1):
            raise ConfigError(f"epsilon must be between 0 and 1, not {epsilon!r}")
        self.reduction, self.epsilon, self.force, self.flush_interval = reduction, float(epsilon), force, flush_interval
        self.labels = _labels(vocab)
        self.description = describe_module(module)
        self.closed = False
        self.batches_seen = 0
        self.seq_length: int | None = None  # n, fixed by the first batch
        self._writer: ModuleSessionWriter | None = None
        self._writing: bool | None = None  # decided once the process group (if any) is known
        self._owed = False  # a due batch had another length: the next batch of the session's length is recorded
        self._forward: tuple | None = None  # (input, h0, output) of the last forward pass to be itemized
        self._losses: list[torch.Tensor] = []  # detached scalars on the module's device, not yet on the host
        self._queued: list[tuple[int, LayeredRecord | None]] = []  # (batch, record) matching _losses
        self._last_drain = time.monotonic()
        self._records_at_close = 0
        self._hook = module.register_forward_hook(self._remember_forward, with_kwargs=True)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            self._decide_writing()
        if self._writing is not False and self.path.exists() and not force:
            self.close()
            raise SessionWriteError(f"{self.path}: already exists (pass force=True to replace it)")
        if self._writing is not False and not self.path.parent.is_dir():
            self.close()
            raise ConfigError(f"{self.path}: folder {self.path.parent} does not exist")

    # -- which process writes ----------------------------------------------------------------------
    def _decide_writing(self) -> bool:
        if self._writing is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            self._writing = (torch.distributed.get_rank() if distributed else 0) == self.rank
            if not self._writing:
                self._hook.remove()
                self._forward = None
        return self._writing

    @property
    def writing(self) -> bool:
        """Whether this process writes the session (False on the other ranks of a distributed run)."""
        return self._decide_writing()

    # -- the hook ---------------------------------------------------------------------------------
    def _due(self) -> bool:
        return self._owed or self.batches_seen % self.every == 0

    def _remember_forward(self, module, args, kwargs, output) -> None:
        # Only forward passes that a backward will follow, on batches that will be itemized: otherwise
        # nothing is kept, and an evaluation pass under no_grad never replaces the training pass.
        if self.closed or not torch.is_grad_enabled() or not self._due():
            return
        x = args[0] if args else kwargs.get("input")
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        if isinstance(x, torch.Tensor):
            x = x.detach()
        if isinstance(hx, torch.Tensor):
            hx = hx.detach()
        elif isinstance(hx, (tuple, list)):
            hx = tuple(h.detach() if isinstance(h, torch.Tensor) else h for h in hx)
        # The output itself stays attached: the per-step losses' gradient with respect to it is taken.
        self._forward = (x, hx, output[0] if isinstance(output, tuple) else output)

    # -- recording --------------------------------------------------------------------------------
    def record(self, step_losses: torch.Tensor, *, inputs: torch.Tensor | None = None,
               targets: torch.Tensor | None = None, predictions: torch.Tensor | None = None) -> bool:
        """Take one batch, after the module's forward pass and before the user's backward.

        `step_losses` (B, n), or (n,) for an unbatched sequence: the loss of every sequence and step,
        each depending on the module's output at its own step only. `inputs`, `targets`, `predictions`:
        optional integer token ids, (B, n) or (n, B); the first sequence's are shown as labels.
        Returns whether this batch was itemized. Never changes a .grad, the graph or a random state.
        """
        if self.closed:
            raise ConfigError("the recorder is closed")
        if not self._decide_writing():
            return False
        forward, self._forward = self._forward, None  # kept for this batch only
        if not isinstance(step_losses, torch.Tensor) or step_losses.dim() not in (1, 2):
            raise ConfigError("step_losses must be a (B, n) tensor: one loss per sequence and step")
        batch = self.batches_seen
        self.batches_seen += 1
        n = step_losses.shape[-1]
        if self._writer is None:
            self._open(n)
        with torch.no_grad():
            per_sequence = step_losses.detach().sum(-1)
            self._losses.append(per_sequence.mean() if self.reduction == "mean" else per_sequence.sum())
        record = None
        if self._owed or batch % self.every == 0:
            if n != self.seq_length:
                self._owed = True  # e.g. the shorter last batch of an epoch: the next full one is recorded
            else:
                if forward is None:
                    raise ConfigError(
                        "record() saw no forward pass of the module since the last call: call it after the "
                        "module's forward pass (with gradients enabled) and before backward"
                    )
                record = self._itemize(batch, forward, step_losses, inputs, targets, predictions)
                self._owed = False
        if self.checkpoint_every and batch % self.checkpoint_every == 0:
            state = {name: value.detach().cpu().numpy() for name, value in self.module.state_dict().items()}
            self._writer.add_checkpoint(batch, state)
        self._queued.append((batch, record))
        if record is not None or len(self._losses) >= DRAIN_LOSSES or \
                time.monotonic() - self._last_drain >= self.flush_interval:
            self._drain()
        return record is not None

    def _open(self, n: int) -> None:
        self.seq_length = n
        weight = self.module.weight_hh_l0
        self._writer = ModuleSessionWriter(
            self.path, self.description, n, self.labels, record_every=self.every,
            checkpoint_every=self.checkpoint_every, horizon_epsilon=self.epsilon, reduction=self.reduction,
            environment=_torch_environment(weight.device), parameter_dtype=weight.detach().cpu().numpy().dtype,
            force=self.force, flush_interval=self.flush_interval,
        )

    def _itemize(self, batch, forward, step_losses, inputs, targets, predictions) -> LayeredRecord:
        x, hx, out = forward
        layers = itemize_module(self.module, x, step_losses, out, reduction=self.reduction, epsilon=self.epsilon, h0=hx)
        with torch.no_grad():
            losses = step_losses.detach()
            if losses.dim() == 2:
                losses = losses.mean(0) if self.reduction == "mean" else losses.sum(0)
            loss = losses.to("cpu", torch.float32).numpy()
        shape = tuple(step_losses.shape)
        record = LayeredRecord(
            batch=batch, position=-1,
            inputs=self._tokens("inputs", inputs, shape), targets=self._tokens("targets", targets, shape),
            predictions=self._tokens("predictions", predictions, shape), loss=loss,
            **_stack_layers(layers),
        )
        for name in _MEASURED:
            values = getattr(record, name)
            if values is not None and not np.isfinite(values).all():
                self._drain()
                self.close()
                raise TrainingDiverged(batch, f"the recorded {name.replace('_', ' ')}")
        return record

    def _tokens(self, name: str, tokens, loss_shape: tuple) -> np.ndarray:
        """The first sequence's token ids (n,) int32, -1 for each when none were given."""
        n = loss_shape[-1]
        if tokens is None:
            return np.full(n, NOT_RECORDED, dtype=np.int32)
        if not isinstance(tokens, torch.Tensor) or tokens.dtype.is_floating_point or tokens.dtype.is_complex \
                or tokens.dtype == torch.bool:
            raise ConfigError(f"{name} must be a tensor of integer token ids (leave it out for real-valued series)")
        shape = tuple(tokens.shape)
        if len(loss_shape) == 1:
            if shape != (n,):
                raise ConfigError(f"{name} has shape {shape}; an unbatched sequence needs ({n},)")
            first = tokens
        else:
            B = loss_shape[0]
            if shape not in ((B, n), (n, B)):
                raise ConfigError(f"{name} has shape {shape}; step_losses need (B, n) = ({B}, {n}) or (n, B)")
            batch_first = shape == (B, n) if B != n else self.module.batch_first
            first = tokens[0] if batch_first else tokens[:, 0]
        ids = first.detach().to("cpu", torch.int64).numpy()
        size = len(self.labels) if self.labels is not None else IdLabels.SIZE
        if len(ids) and (ids.min() < 0 or ids.max() >= size):
            bad = int(ids[(ids < 0) | (ids >= size)][0])
            raise ConfigError(f"{name} holds token id {bad}, outside the vocabulary of {size:,} labels")
        return ids.astype(np.int32)

    def _drain(self) -> None:
        """Copy the batch losses to the host (one synchronisation) and hand the batches to the writer."""
        self._hand_over(self._writer, stop_quietly=False)

    def _hand_over(self, writer: ModuleSessionWriter, stop_quietly: bool) -> None:
        if not self._queued:
            return
        values = torch.stack(self._losses).to("cpu", torch.float64).numpy()
        queued = self._queued
        self._losses, self._queued = [], []
        self._last_drain = time.monotonic()
        for (batch, record), loss in zip(queued, values):
            if not math.isfinite(loss):
                if stop_quietly:
                    return
                self.close()  # the file keeps every batch before this one
                raise TrainingDiverged(batch, "the loss")
            writer.add(StepResult(batch=batch, position=-1, loss=float(loss), smooth_loss=float("nan"),
                                  record=record, checkpoint=None, sample=None))

    # -- the end -----------------------------------------------------------------------------------
    @property
    def records_written(self) -> int:
        """Records committed to the file so far."""
        return self._writer.records_written if self._writer is not None else self._records_at_close

    def flush(self) -> None:
        """Write everything taken so far to the file now (it is also written twice a second as batches come)."""
        if self._writer is not None and not self.closed:
            self._drain()
            self._writer.flush()

    def close(self) -> None:
        """Write what is pending, mark the session complete and remove the hook. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self._hook.remove()
        self._forward = None
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            if writer.failed is None:
                self._hand_over(writer, stop_quietly=True)
        finally:
            writer.close()
            self._records_at_close = writer.records_written

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "writing" if self._writing else "not writing" if self._writing is False else "open"
        return f"<Recorder {self.path.name}: {self.description.summary()}, every {self.every}, {state}>"


def _stack_layers(layers: list[LayerItemized]) -> dict:
    """The per-layer fields of a LayeredRecord from itemize_module's layers, as the session stores them."""
    def stacked(name, dtype=np.float32):
        return np.stack([getattr(layer, name) for layer in layers]).astype(dtype)

    step = stacked("step_gradient")
    gated = layers[0].itemized_gate is not None
    return {
        "itemized": stacked("itemized"),
        "contribution": stacked("contribution"),
        "step_gradient": step,
        "max_gradient": step.max(axis=1),
        "truncation_error": stacked("truncation_error"),
        "horizon": np.array([layer.horizon for layer in layers], dtype=np.int32),
        "itemized_gate": stacked("itemized_gate") if gated else None,
    }
