"""How a session file stores its record fields: each as it is (format 1), or compactly (format 2: the lower
triangle of the [t, j] matrices, inputs and targets derived from the corpus), and turning what is stored
back into the arrays every reader gets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import h5py
import numpy as np

from ..core.errors import SessionFormatError
from .schema import DERIVED_ATTR, DERIVED_FIELDS, LOWER_TRIANGLE, PACKING_ATTR, TRIANGLE_FIELDS, packed_row_shape


@functools.lru_cache(maxsize=8)
def lower_triangle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, j) of the entries t ≥ j of an n × n matrix, in the order they are stored."""
    t, j = np.tril_indices(n)
    t.flags.writeable = j.flags.writeable = False
    return t, j


def pack_row(matrix: np.ndarray) -> np.ndarray:
    """One record's (n, n, *rest) [t, j] matrix → its lower triangle, (n(n+1)/2, *rest)."""
    t, j = lower_triangle(matrix.shape[0])
    return matrix[t, j]


def unpack_rows(packed: np.ndarray, n: int) -> np.ndarray:
    """(R, n(n+1)/2, *rest) stored triangles → (R, n, n, *rest) matrices, zero above the diagonal."""
    t, j = lower_triangle(n)
    out = np.zeros((packed.shape[0], n, n, *packed.shape[2:]), dtype=packed.dtype)
    out[:, t, j] = packed
    return out


@dataclass(frozen=True)
class RecordLayout:
    """Which record fields a file stores, which it derives, and which it stores as lower triangles."""

    n: int
    derived: frozenset
    packed: frozenset

    @classmethod
    def of_file(cls, records: h5py.Group, fields: dict, n: int, path) -> RecordLayout:
        """Read a file's layout from its records group, refusing what no RNNbow writer makes."""
        derived = records.attrs.get(DERIVED_ATTR, ())
        if isinstance(derived, (str, bytes)) or not isinstance(derived, (list, tuple, np.ndarray)):
            derived = [derived]
        names = {n_.decode() if isinstance(n_, bytes) else str(n_) for n_ in derived}
        if not names <= set(DERIVED_FIELDS):
            raise SessionFormatError(f"{path}: records lists {', '.join(sorted(names))} as derived; "
                                     f"only {' and '.join(DERIVED_FIELDS)} can be")
        packed = set()
        for name in fields:
            link = records.get(name, getlink=True)
            if name in TRIANGLE_FIELDS and link is not None and isinstance(link, h5py.HardLink):
                obj = records[name]
                if isinstance(obj, h5py.Dataset) and _text(obj.attrs.get(PACKING_ATTR)) == LOWER_TRIANGLE:
                    packed.add(name)
        return cls(n=n, derived=frozenset(names), packed=frozenset(packed))

    def stored(self, fields: dict) -> dict:
        """The fields the file holds datasets for: name -> stored row shape (as a function of n and G)."""
        out = {}
        for name, (shape, _dtype) in fields.items():
            if name in self.derived:
                continue
            out[name] = (lambda n, G, shape=shape: packed_row_shape(shape(n, G), n)) if name in self.packed else shape
        return out

    def decode(self, name: str, stored: np.ndarray) -> np.ndarray:
        """Rows as read from a field's dataset → the field's rows as every reader gets them."""
        if name in self.packed:
            return unpack_rows(stored, self.n)
        return stored


def derive_tokens(corpus: h5py.Dataset, positions: np.ndarray, n: int, offset: int, vocab_size: int, path) -> np.ndarray:
    """(R, n) int32 token ids corpus[p + offset : p + offset + n] for each position p (inputs: offset 0,
    targets: 1), reading only the stretch of the corpus they span."""
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return np.zeros((0, n), np.int32)
    length = corpus.shape[0]
    lo, hi = int(positions.min()), int(positions.max())
    if lo < 0 or hi + n + 1 > length:
        raise SessionFormatError(f"{path}: a record's position lies outside the corpus ({length:,} characters)")
    stretch = corpus[lo + offset : hi + offset + n].astype(np.int32)
    if len(stretch) and (stretch.min() < 0 or stretch.max() >= vocab_size):
        raise SessionFormatError(f"{path}: corpus holds ids outside the vocabulary")
    return stretch[(positions - lo)[:, None] + np.arange(n)]  # (R, n)


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value) if isinstance(value, (str, np.str_)) else ""
