"""What training hands out: immutable per-batch records, checkpoints, samples and step results.

Every array is a read-only copy, so another thread (the GUI) may keep any of these objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frozen_array(array, dtype=None) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class BatchRecord:
    """Everything recorded for one batch; arrays are read-only. Matrices are indexed [t, j]."""

    batch: int
    position: int  # corpus offset of the first input character
    inputs: np.ndarray  # (n,) token ids
    targets: np.ndarray  # (n,)
    predictions: np.ndarray  # (n,) most likely next character per step
    loss: np.ndarray  # (n,) per-step cross-entropy (natural log)
    itemized: np.ndarray  # (n, n)
    contribution: np.ndarray  # (n, n)
    step_gradient: np.ndarray  # (n,)
    max_gradient: float
    truncation_error: np.ndarray  # (n,)
    horizon: int
    itemized_gate: np.ndarray | None = None  # (n, n, G) for gated cells


@dataclass(frozen=True)
class Checkpoint:
    """Parameters (PyTorch names) and the carried state, taken before `batch`'s update."""

    batch: int
    params: dict  # name -> read-only array
    state: tuple  # (h0,) or (h0, c0)
    # Adagrad's memory (the running sum of squared clipped gradients) of every trained parameter:
    # with it, params, state and the corpus position (which follows from `batch`), training resumes
    # bit-identically. None where it was not saved (session files written before it was).
    memory: dict | None = None


@dataclass(frozen=True)
class Sample:
    batch: int
    text: str


@dataclass(frozen=True)
class StepResult:
    batch: int
    position: int
    loss: float  # summed over the n steps
    smooth_loss: float
    record: BatchRecord | None
    checkpoint: Checkpoint | None
    sample: Sample | None


@dataclass(frozen=True)
class LayeredRecord:
    """One recorded batch of a module with several layers (session format 2).

    The fields of BatchRecord; those measured per layer (itemized … horizon, itemized_gate) have a
    leading layer axis, layer 0 first. Token ids are those of the batch's first sequence, -1 where
    none were given; `loss` (n,) is the per-step loss reduced over the batch as the user's loss is.
    """

    batch: int
    position: int  # -1: a PyTorch batch has no place in a corpus the session knows
    inputs: np.ndarray  # (n,)
    targets: np.ndarray  # (n,)
    predictions: np.ndarray  # (n,)
    loss: np.ndarray  # (n,)
    itemized: np.ndarray  # (L, n, n)
    contribution: np.ndarray  # (L, n, n)
    step_gradient: np.ndarray  # (L, n)
    max_gradient: np.ndarray  # (L,)
    truncation_error: np.ndarray  # (L, n)
    horizon: np.ndarray  # (L,)
    itemized_gate: np.ndarray | None = None  # (L, n, n, G) for gated cells

    @property
    def layers(self) -> int:
        return int(self.itemized.shape[0])

    def layer(self, k: int) -> BatchRecord:
        """Layer k's record, as the views draw one."""
        return BatchRecord(
            batch=self.batch, position=self.position, inputs=self.inputs, targets=self.targets,
            predictions=self.predictions, loss=self.loss, itemized=self.itemized[k],
            contribution=self.contribution[k], step_gradient=self.step_gradient[k],
            max_gradient=float(self.max_gradient[k]), truncation_error=self.truncation_error[k],
            horizon=int(self.horizon[k]),
            itemized_gate=None if self.itemized_gate is None else self.itemized_gate[k],
        )
