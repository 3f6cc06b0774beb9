"""The session file's schema: the one description of every dataset that writer, reader, docs and tests use.

The format itself is documented in docs/session-format.md; `describe_schema()` prints the tables that page shows.
"""

from __future__ import annotations

import numpy as np

FORMAT = "rnnbow-session"
FORMAT_VERSION = 1

# name -> (trailing shape as a function of n = seq_length and G = gates, dtype)
RECORD_FIELDS = {
    "batch": (lambda n, G: (), np.int64),
    "position": (lambda n, G: (), np.int64),
    "inputs": (lambda n, G: (n,), np.int32),
    "targets": (lambda n, G: (n,), np.int32),
    "predictions": (lambda n, G: (n,), np.int32),
    "loss": (lambda n, G: (n,), np.float32),
    "itemized": (lambda n, G: (n, n), np.float32),
    "contribution": (lambda n, G: (n, n), np.float32),
    "step_gradient": (lambda n, G: (n,), np.float32),
    "max_gradient": (lambda n, G: (), np.float32),
    "truncation_error": (lambda n, G: (n,), np.float32),
    "horizon": (lambda n, G: (), np.int32),
}
GATE_FIELD = ("itemized_gate", lambda n, G: (n, n, G), np.float32)
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "decoder_weight", "decoder_bias")


def record_fields(n_gates: int) -> dict:
    """The per-record datasets of a session whose cell has `n_gates` gates: name -> (shape(n, G), dtype)."""
    fields = dict(RECORD_FIELDS)
    if n_gates > 1:
        fields[GATE_FIELD[0]] = GATE_FIELD[1:]
    return fields


def checkpoint_shapes(n_gates: int, n_state: int, H: int, V: int) -> dict[str, tuple]:
    """The per-checkpoint datasets (without `batch`): PyTorch-named parameters and the carried state."""
    GH = n_gates * H
    shapes = {
        "weight_ih": (GH, V), "weight_hh": (GH, H), "bias_ih": (GH,), "bias_hh": (GH,),
        "decoder_weight": (V, H), "decoder_bias": (V,), "h0": (H,),
    }
    if n_state > 1:
        shapes["c0"] = (H,)
    return shapes


def fill_value(dtype):
    """Rows that were allocated but never written read as this: never a valid value."""
    kind = np.dtype(dtype).kind
    return np.nan if kind == "f" else -1 if kind in "iu" else None


def corpus_dtype(vocab_size: int):
    """The smallest integer type that holds every token id of a corpus."""
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32
