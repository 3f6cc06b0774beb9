"""The trainer's smooth loss (min-char-rnn's running average of the batch loss): the one definition of its rule."""

from __future__ import annotations

import math

SMOOTH_DECAY = 0.999
# 1 − SMOOTH_DECAY, written out: in floating point 1 − 0.999 is not 0.001, and the step must stay
# min-char-rnn's `smooth_loss * 0.999 + loss * 0.001` bit for bit.
SMOOTH_WEIGHT = 0.001


def initial_smooth_loss(vocab_size: int, seq_length: int) -> float:
    """Where the smooth loss starts: uniform guessing over the vocabulary for seq_length steps (nats)."""
    return -math.log(1.0 / max(vocab_size, 1)) * seq_length


def smooth_loss_step(smooth_loss: float, loss: float) -> float:
    """The smooth loss after one more batch whose loss (summed over its steps) is `loss`."""
    return smooth_loss * SMOOTH_DECAY + loss * SMOOTH_WEIGHT
