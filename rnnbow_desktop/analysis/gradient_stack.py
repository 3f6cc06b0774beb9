"""The stacked bars of one batch (the paper's area 2) as numbers: which [t, j] values are drawn, and where each part lies.

Bar j holds one part per loss t ≥ j: ‖G[t, j]‖ (or its signed contribution). The views draw what
`stack` computes; tests and exports read the same numbers without a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.records import BatchRecord


def gradient_matrix(record: BatchRecord, mode: str, gate: int | None,
                    gate_names: Sequence[str] = ()) -> tuple[np.ndarray, str]:
    """The (n, n) [t, j] values drawn for `record`, and a note when the request could not be met exactly."""
    if mode == "contribution":
        note = ""
        if gate is not None and record.itemized_gate is not None:
            note = "contribution is recorded for all gates together; showing all gates"
        return np.asarray(record.contribution, dtype=np.float64), note
    if gate is not None and record.itemized_gate is not None:
        name = gate_names[gate] if gate < len(gate_names) else str(gate)
        return np.asarray(record.itemized_gate[:, :, gate], dtype=np.float64), f"gate: {name}"
    return np.asarray(record.itemized, dtype=np.float64), ""


@dataclass(frozen=True)
class Stack:
    """Where every loss's part of every bar lies. All matrices are (n, n) indexed [t, j], zero for j > t.

    Within bar j the parts are stacked outward from 0 by decreasing t − j, so the step's own loss
    (offset 0, darkest) is the outermost part, as in the paper, and all parts of offset ≥ k form one
    contiguous block next to the axis. Positive parts go up from 0, negative parts down from 0.
    """

    values: np.ndarray
    bottom: np.ndarray
    top: np.ndarray
    k: int

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def offset_segments(self, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y0, height of the parts of offset t − j = d (d < k): one per bar j = 0 … n − 1 − d."""
        j = np.arange(self.n - d)
        t = j + d
        return j.astype(float), self.bottom[t, j], self.top[t, j] - self.bottom[t, j]

    def remainder(self) -> tuple[np.ndarray, np.ndarray]:
        """Per bar: the summed positive and negative parts of offset ≥ k (the "≥ k" segment)."""
        n = self.n
        offset = np.arange(n)[:, None] - np.arange(n)[None, :]  # (n, n) t − j
        far = np.where(offset >= self.k, self.values, 0.0)
        return np.clip(far, 0, None).sum(axis=0), np.clip(far, None, 0).sum(axis=0)

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """Per bar: top of the positive stack and bottom of the negative stack."""
        return np.clip(self.values, 0, None).sum(axis=0), np.clip(self.values, None, 0).sum(axis=0)

    def loss_at(self, j: int, y: float) -> int | None:
        """The loss step t whose part of bar j contains height y, if any."""
        if not 0 <= j < self.n:
            return None
        lo, hi = self.bottom[j:, j], self.top[j:, j]
        hit = np.flatnonzero((lo <= y) & (y < hi) & (hi > lo))
        return int(j + hit[0]) if len(hit) else None


def stack(values: np.ndarray, k: int) -> Stack:
    """Stack the [t, j] parts of every bar (see `Stack`); vectorized over the whole batch."""
    values = np.tril(values)  # (n, n); only t ≥ j carries gradient
    pos, neg = np.clip(values, 0, None), np.clip(values, None, 0)
    # Sum of the parts of larger t (farther losses), which lie between this part and the axis.
    below_pos = np.cumsum(pos[::-1], axis=0)[::-1] - pos
    below_neg = np.cumsum(neg[::-1], axis=0)[::-1] - neg
    bottom = np.where(values >= 0, below_pos, below_neg + values)
    top = np.where(values >= 0, below_pos + values, below_neg)
    return Stack(values=values, bottom=bottom, top=top, k=k)
