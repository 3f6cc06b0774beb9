"""The smoothing rules for series over training: the trainer's smooth loss, and the moving average of noisy per-record series.

The smooth loss is defined once, in `core.loss_smoothing` (the trainer steps it batch by batch);
here it is computed for a whole series of batch losses at once, as a reopened session needs it.
"""

from __future__ import annotations

import numpy as np

from ..core.loss_smoothing import SMOOTH_DECAY, SMOOTH_WEIGHT, initial_smooth_loss, smooth_loss_step

__all__ = [
    "SMOOTH_DECAY",
    "final_smooth_loss",
    "initial_smooth_loss",
    "moving_average",
    "session_smooth_loss",
    "smooth_loss_series",
    "smooth_loss_step",
]

_EMA_CHUNK = 4096  # 0.999^-4096 ≈ 60: the chunked closed form below stays well conditioned


def smooth_loss_series(losses: np.ndarray, start: float) -> np.ndarray:
    """The trainer's smooth loss after each of `losses` (per-batch, summed over steps), from `start`; vectorized."""
    losses = np.asarray(losses, dtype=np.float64)  # (B,)
    out = np.empty_like(losses)
    previous = float(start)
    for lo in range(0, len(losses), _EMA_CHUNK):
        chunk = losses[lo : lo + _EMA_CHUNK]
        k = np.arange(len(chunk))
        # s_k = a^(k+1) s_prev + w Σ_{i ≤ k} a^(k-i) x_i, with a = SMOOTH_DECAY and w = SMOOTH_WEIGHT
        powers = SMOOTH_DECAY**k
        acc = np.cumsum(chunk / powers) * powers * SMOOTH_WEIGHT
        values = SMOOTH_DECAY ** (k + 1) * previous + acc
        out[lo : lo + len(chunk)] = values
        previous = float(values[-1])
    return out


def final_smooth_loss(losses: np.ndarray, start: float) -> float:
    """The smooth loss after the last of `losses` (`start` when there are none)."""
    series = smooth_loss_series(losses, start)
    return float(series[-1]) if len(series) else float(start)


def session_smooth_loss(vocab_size: int, seq_length: int, losses: np.ndarray) -> float:
    """The trainer's smooth loss after the last of a session's per-batch `losses` (summed over `seq_length`
    steps), recomputed from where training started it: what `rnnbow train` reported when it finished."""
    return final_smooth_loss(np.asarray(losses, dtype=np.float64), initial_smooth_loss(vocab_size, seq_length))


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over `window` values (fewer at the start; same length), for noisy
    per-record series such as the horizon."""
    values = np.asarray(values, dtype=np.float64)  # (R,)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))  # (R + 1,)
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(0, idx - window)
    out: np.ndarray = (cumulative[idx] - cumulative[start]) / (idx - start)
    return out
