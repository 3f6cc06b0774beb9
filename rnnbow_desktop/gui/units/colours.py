"""The colour scales of the Units view: a diverging map for h, c and loss differences, a sequential one for gates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis.saturation import SIGMOID_GATES

EMPTY_RGBA = (255, 255, 255, 255)  # a character without a value (the last one of an n-gram difference)


def _ramp(anchors: list[tuple[float, tuple[int, int, int]]], size: int = 256) -> np.ndarray:
    """A (size, 4) uint8 lookup table through `anchors` (position 0…1, RGB), linear in between."""
    positions = np.array([a[0] for a in anchors])
    rgb = np.array([a[1] for a in anchors], dtype=float)  # (A, 3)
    x = np.linspace(0.0, 1.0, size)
    table = np.column_stack([np.interp(x, positions, rgb[:, k]) for k in range(3)] + [np.full(size, 255.0)])
    return np.round(table).astype(np.uint8)


# Blue below zero, white at zero, red above (ColorBrewer RdBu, reversed): a unit's sign is visible at a glance.
DIVERGING = _ramp([(0.0, (33, 102, 172)), (0.25, (146, 197, 222)), (0.5, (255, 255, 255)),
                   (0.75, (244, 165, 130)), (1.0, (178, 24, 43))])
# White for a closed gate, deep purple for an open one.
SEQUENTIAL = _ramp([(0.0, (255, 255, 255)), (0.5, (188, 189, 220)), (1.0, (84, 39, 143))])


@dataclass(frozen=True)
class ColourScale:
    """How values map to colours: `low` and `high` are the ends of `table`; values beyond are clipped."""

    low: float
    high: float
    table: np.ndarray  # (256, 4) uint8 RGBA
    label: str  # what the colour means, for headers and legends

    def rgba(self, values: np.ndarray) -> np.ndarray:
        """(T, 4) uint8 colours of values (T,); NaN gets EMPTY_RGBA."""
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        position = np.clip((np.where(finite, values, self.low) - self.low) / (self.high - self.low), 0.0, 1.0)
        out = self.table[np.round(position * (len(self.table) - 1)).astype(np.intp)]
        out[~finite] = EMPTY_RGBA
        return out


def state_scale(state: str) -> ColourScale:
    """−1 … +1 for h, c and tanh gates; 0 … 1 for sigmoid gates (input, forget, output, reset, update)."""
    if state in SIGMOID_GATES:
        return ColourScale(0.0, 1.0, SEQUENTIAL, f"{state} gate: 0 (closed) … 1 (open)")
    return ColourScale(-1.0, 1.0, DIVERGING, f"{state}: −1 … +1")


# Nats: the n-gram difference is clipped at ±3 (a factor of e³ ≈ 20 in probability).
NGRAM_DIFFERENCE = ColourScale(-3.0, 3.0, DIVERGING,
                               "model − n-gram loss of each character: blue where the network predicts it better")
