"""The trainer's smooth loss (min-char-rnn's running average of the batch loss): the one definition of its rule,
and the one way any loss is stated to a user: per character, its unit named."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

LOSS_UNIT = "nats/char"
TOKEN_LOSS_UNIT = "nats/token"  # a model recorded from PyTorch predicts tokens (words, sub-words), not characters

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


Loss = TypeVar("Loss", float, np.ndarray)


def per_character(loss: Loss, seq_length: int) -> Loss:
    """A loss summed over a batch's `seq_length` steps (as the trainer and the session file keep it), or an array
    of them, as the mean loss of one character: the figure models are compared by, whatever their sequence length."""
    return loss / seq_length


def loss_text(loss_per_char: float, unit: str = LOSS_UNIT) -> str:
    """A per-character (or, with `unit` TOKEN_LOSS_UNIT, per-token) loss as every front end shows it, its unit
    named: "1.234 nats/char"."""
    return f"{loss_per_char:.3f} {unit}"
