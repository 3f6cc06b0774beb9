"""Recomputing one training batch's per-unit itemized gradients by re-running training from the session's checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import ConfigError
from ..core.records import frozen_array
from ..core.training import Trainer
from ..core.unit_itemized import unit_itemized
from ..storage.reader import Session

# Only the weight update matters on the way to the batch: nothing is itemized, checkpointed or sampled
# (none of that changes training). record_every must be positive; this one is due at batch 0 alone.
_NEVER = 2**62


@dataclass(frozen=True)
class UnitGradients:
    """One batch's per-unit itemized gradients and how they were recomputed."""

    batch: int
    values: np.ndarray  # (n, n, H) [t, j, u] = ‖rows of unit u in G[t, j]‖_F (all of u's gate rows); 0 where j > t
    inputs: np.ndarray  # (n,) token ids the batch read
    targets: np.ndarray  # (n,) token ids it predicted
    from_checkpoint: int | None  # the checkpointed batch training resumed from; None: from the initial weights
    batches_retrained: int  # batches re-run (with their updates) to reach `batch`
    seconds: float  # wall time of the whole recomputation, reading the file included
    # For a recorded batch: max |√(Σ_u values²) − recorded itemized| / max recorded itemized. About 1e-7
    # (float32 storage) when the recomputation reproduced the run; None when the batch was not recorded.
    record_deviation: float | None


def recompute_unit_gradients(session: Session, batch: int,
                             progress: Callable[[float, str], None] | None = None) -> UnitGradients:
    """Re-run training to `batch` from the nearest checkpoint at or before it, then itemize it per unit.

    A checkpoint with Adagrad's memory resumes training exactly (`Trainer.resume`). A session written
    before checkpoints kept that memory is re-trained from batch 0 instead: training is deterministic
    (the seed fixes the initial weights), so that too is bit-identical on the same machine and
    libraries, only slower. `progress(fraction, text)` is called after each re-run batch and may
    raise `core.errors.Cancelled` to stop.
    """
    started = time.perf_counter()
    trained = session.batches_trained
    if not 0 <= batch < trained:
        raise ConfigError(f"batch {batch} was not trained; this session has batches 0 … {trained - 1}")
    config = replace(session.info.config, record_every=_NEVER, checkpoint_every=0, sample_every=0)
    corpus = session.corpus()
    resume_from = _resumable_checkpoint(session, batch)
    if resume_from is None:
        trainer = Trainer(corpus, config)
    else:
        trainer = Trainer.resume(corpus, config, resume_from)
    first = trainer.batch
    where = "from the initial weights" if resume_from is None else f"from the checkpoint at batch {first:,}"
    for done in range(1, batch - first + 1):
        trainer.step()
        if progress is not None:
            progress(done / (batch - first), f"re-training batch {first + done:,} of {batch:,} {where}")
    _, inputs, targets, state0 = trainer.next_batch()
    values = unit_itemized(trainer.cell, trainer.params, inputs, targets, state0)  # (n, n, H)
    return UnitGradients(
        batch=batch,
        values=frozen_array(values),
        inputs=frozen_array(inputs),
        targets=frozen_array(targets),
        from_checkpoint=None if resume_from is None else resume_from.batch,
        batches_retrained=batch - first,
        seconds=time.perf_counter() - started,
        record_deviation=_record_deviation(session, batch, values),
    )


def _resumable_checkpoint(session: Session, batch: int):
    """The latest checkpoint at or before `batch` if it saved Adagrad's memory, else None.

    Memory is saved with every checkpoint or (files from before) with none, so an earlier checkpoint
    is no better when the latest lacks it.
    """
    index = int(np.searchsorted(session.checkpoint_batches(), batch, side="right")) - 1
    if index < 0:
        return None
    checkpoint = session.checkpoint(index)
    return checkpoint if checkpoint.memory is not None else None


def _record_deviation(session: Session, batch: int, values: np.ndarray) -> float | None:
    index = session.find_record(batch)
    if index is None:
        return None
    recorded = np.asarray(session.column("itemized", index, index + 1)[0], dtype=float)  # (n, n)
    scale = float(recorded.max(initial=0.0))
    deviation = float(np.abs(np.sqrt((values**2).sum(axis=2)) - recorded).max(initial=0.0))
    return deviation / scale if scale > 0 else deviation
