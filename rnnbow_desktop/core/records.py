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
