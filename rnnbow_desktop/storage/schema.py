"""The session file's schema: the one description of every dataset that writer, reader, docs and tests use.

The format itself is documented in docs/session-format.md; `describe_schema()` prints the tables that page shows.
"""

from __future__ import annotations

import numpy as np

FORMAT = "rnnbow-session"
FORMAT_VERSION = 2  # the newest version this program reads
# Version 2 is written by the PyTorch recorder (rnnbow_desktop.torch.Recorder: several layers, token
# labels, no corpus) and by RNNbow's own trainer, whose version-2 records are compact (below): a
# version-1 reader would miss the derived fields and the packed matrices, so the version says so.
# SessionWriter(compact=False) still writes version 1, every field stored as it is, and no summary.
TRAINER_FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1
SOURCES = ("rnnbow", "torch")  # the `source` attribute: who recorded the session

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
# Record fields measured per layer: in version 2 they carry a layer axis after the record axis.
LAYER_FIELDS = ("itemized", "contribution", "step_gradient", "max_gradient", "truncation_error", "horizon", "itemized_gate")
# Version 2: the recorded module's state_dict, one dataset per name, apart from the numpy model's checkpoints.
MODULE_CHECKPOINTS = "module_checkpoints"


# Compact records (RNNbow's trainer, format 2; docs/session-format.md, "Compact records"). Every
# number is still a plain HDF5 dataset value; what is left out is derived exactly by readers:
DERIVED_FIELDS = ("inputs", "targets")  # corpus[position : position + n] and corpus[position + 1 : position + n + 1]
DERIVED_ATTR = "derived"  # attribute of the records group listing the fields not stored
# [t, j] matrices are zero above the diagonal: only the lower triangle is stored, its n(n+1)/2 entries
# in numpy.tril_indices(n) order taking the place of the two axes (n, n).
TRIANGLE_FIELDS = ("itemized", "contribution", "itemized_gate")
PACKING_ATTR, LOWER_TRIANGLE = "packing", "lower triangle"
# Stored with HDF5's shuffle and deflate filters, a chunk compressed once it is complete: every stored
# field but `batch`, the commit column readers count rows by.
COMPRESSED_FIELDS = ("position", "predictions", "loss", "itemized", "contribution", "step_gradient", "max_gradient",
                     "truncation_error", "horizon", "itemized_gate")
SUMMARY_GROUP = "summary"  # the multi-resolution summary of the per-record series (storage/record_summary.py)


def packed_row_shape(row_shape: tuple, n: int) -> tuple:
    """The stored shape of a TRIANGLE_FIELDS row (n, n, *rest): (n(n+1)/2, *rest)."""
    return (n * (n + 1) // 2, *row_shape[2:])


def record_fields(n_gates: int) -> dict:
    """The per-record datasets of a session whose cell has `n_gates` gates: name -> (shape(n, G), dtype)."""
    fields = dict(RECORD_FIELDS)
    if n_gates > 1:
        fields[GATE_FIELD[0]] = GATE_FIELD[1:]
    return fields


def layered_record_fields(n_gates: int, layers: int) -> dict:
    """The per-record datasets of a version-2 session: those of `record_fields`, with (layers,) before the
    trailing shape of every field measured per layer."""
    return {
        name: ((lambda n, G, shape=shape: (layers, *shape(n, G))) if name in LAYER_FIELDS else shape, dtype)
        for name, (shape, dtype) in record_fields(n_gates).items()
    }


def checkpoint_shapes(n_gates: int, n_state: int, H: int, V: int) -> dict[str, tuple]:
    """The per-checkpoint datasets (without `batch`): PyTorch-named parameters, the carried state and
    Adagrad's memory of every parameter (`memory_name(p)`, optional: see OPTIONAL_CHECKPOINT_FIELDS)."""
    GH = n_gates * H
    shapes = {
        "weight_ih": (GH, V), "weight_hh": (GH, H), "bias_ih": (GH,), "bias_hh": (GH,),
        "decoder_weight": (V, H), "decoder_bias": (V,), "h0": (H,),
    }
    if n_state > 1:
        shapes["c0"] = (H,)
    shapes.update({memory_name(p): shapes[p] for p in PARAM_NAMES})
    return shapes


# Adagrad's memory (running sum of squared clipped gradients) of each parameter at a checkpoint: with
# it, training resumes from the checkpoint bit-identically. Files written before it was saved lack
# these datasets; readers open them all the same and report such checkpoints without memory.
MEMORY_PREFIX = "adagrad_"
OPTIONAL_CHECKPOINT_FIELDS = frozenset(MEMORY_PREFIX + p for p in PARAM_NAMES)


def memory_name(param: str) -> str:
    """The checkpoint dataset holding Adagrad's memory of parameter `param`."""
    return MEMORY_PREFIX + param


def fill_value(dtype):
    """Rows that were allocated but never written read as this: never a valid value."""
    kind = np.dtype(dtype).kind
    return np.nan if kind == "f" else -1 if kind in "iu" else None


def corpus_dtype(vocab_size: int):
    """The smallest integer type that holds every token id of a corpus."""
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32
