"""Record columns compressed a whole chunk at a time and written with HDF5's direct chunk writes.

Why not let HDF5 compress: it compresses a chunk again each time rows are added to it, and a file open
for SWMR writing never reuses the space an older copy took, so a chunk that grows over several flushes
leaves each earlier copy behind as dead space (a session flushed every 10 records grew by 12 KB per
record instead of 1.1 KB). So a column here keeps the rows of its newest chunk until the chunk is
complete and then compresses it once. A chunk whose first rows must reach the disk before it is
complete is written compressed if that costs little (its copy is left behind when the complete chunk
is written), and otherwise as it is, with a filter mask saying so, staying so: rewritten in place, at
the same size, as it fills.

The bytes are exactly what HDF5's shuffle filter followed by its deflate filter accept (the filters
each dataset declares), so every HDF5 reader decodes them. The encoder is ours, for size and speed:
after the shuffle, the three low byte planes of a float32 column (the exponent's lowest bit and the
mantissas) are noise that deflate cannot shrink, so they go into deflate's "stored" blocks, and only the
top plane (signs and exponents) is compressed, with Huffman codes of its own. Measured on n = 25
records: 4 % smaller and three times faster than deflating all four planes at once
(benchmarks/bench_file_size.py).
"""

from __future__ import annotations

import struct
import zlib

import h5py
import numpy as np

from .schema import fill_value

DEFLATE_LEVEL = 4  # on the plane deflate can shrink; see the benchmark for the sizes and times of others
STORED_AS_IS = 0b11  # filter mask of a chunk written uncompressed: shuffle (filter 0) and deflate (1) skipped
_NOISE_PLANES = 3  # low byte planes of a float32 column stored rather than compressed
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window; the level hint is informative only
_MAX_STORED = 65535  # bytes per deflate stored block


def _stored_blocks(data: bytes) -> bytes:
    """`data` as deflate stored blocks (none of them final), each byte-aligned: a 0 header byte, LEN, NLEN."""
    out = bytearray()
    for i in range(0, len(data), _MAX_STORED):
        part = data[i : i + _MAX_STORED]
        out += b"\x00" + struct.pack("<HH", len(part), len(part) ^ 0xFFFF) + part
    return bytes(out)


def shuffle_deflate(block: np.ndarray, level: int = DEFLATE_LEVEL, whole: bool = False) -> bytes:
    """A chunk as HDF5's shuffle filter then its deflate filter store it (a zlib stream of the shuffled bytes).
    `whole`: deflate every byte plane (for a chunk mostly of fill values, which that squeezes away)."""
    size = block.dtype.itemsize
    planes = block.reshape(-1).view(np.uint8).reshape(-1, size).T  # (size, values): byte k of every value
    data = planes.tobytes()
    if whole or block.dtype.kind != "f" or size != 4:
        return zlib.compress(data, level)
    cut = _NOISE_PLANES * planes.shape[1]
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)  # a raw deflate stream: blocks only
    body = deflate.compress(data[cut:]) + deflate.flush()  # ends with the final block
    return _ZLIB_HEADER + _stored_blocks(data[:cut]) + body + struct.pack(">I", zlib.adler32(data))


def write_chunk(ds: h5py.Dataset, offset: tuple, data: bytes, filter_mask: int) -> None:
    """Put one chunk's bytes into the file as they are (HDF5's direct chunk write)."""
    ds.id.write_direct_chunk(offset, data, filter_mask=filter_mask)


class CompressedColumn:
    """One growable dataset with the shuffle and deflate filters, written a chunk at a time.

    `extend` takes rows as training makes them and compresses each chunk as it completes; `write` puts
    them into the file and returns how many rows the file holds.
    """

    def __init__(self, ds: h5py.Dataset, level: int = DEFLATE_LEVEL):
        self.ds = ds
        self.level = level
        self.rows_per_chunk = ds.chunks[0]
        self._fill = fill_value(ds.dtype)
        self._chunk = self._new_chunk()  # the chunk being filled
        self._filled = 0  # rows of it that hold data
        self._first = 0  # record index of its first row
        self._stored_as_is = False  # it has been written uncompressed (and stays so)
        self._left_behind = 0  # bytes of compressed copies of it written so far (dead space once rewritten)
        self._complete_size = int(0.85 * self._chunk.nbytes)  # bytes of the last complete chunk, compressed
        self._ready: list[tuple[int, bytes, int]] = []  # completed chunks not yet in the file: (first row, bytes, mask)
        self.rows = 0  # rows appended
        self.written = 0  # rows in the file

    def _new_chunk(self) -> np.ndarray:
        chunk = np.empty(self.ds.chunks, dtype=self.ds.dtype)
        if self._fill is not None:
            chunk.fill(self._fill)
        return chunk

    def extend(self, rows: np.ndarray) -> None:
        """Take the next rows (R, *row shape)."""
        done = 0
        while done < len(rows):
            take = min(len(rows) - done, self.rows_per_chunk - self._filled)
            self._chunk[self._filled : self._filled + take] = rows[done : done + take]
            self._filled += take
            self.rows += take
            done += take
            if self._filled == self.rows_per_chunk:
                self._complete()

    def _complete(self) -> None:
        if self._stored_as_is:
            self._ready.append((self._first, self._chunk.tobytes(), STORED_AS_IS))
        else:
            packed = shuffle_deflate(self._chunk, self.level)
            self._complete_size = len(packed)
            self._ready.append((self._first, packed, 0))
        self._chunk, self._filled, self._first = self._new_chunk(), 0, self.rows
        self._stored_as_is, self._left_behind = False, 0

    @property
    def may_hold(self) -> bool:
        """Whether holding back the incomplete chunk's new rows spares anything (not once it is stored as it is)."""
        return not self._stored_as_is

    def rows_to_write(self, hold: bool) -> int:
        """The rows `write(hold)` leaves the file with: all, or with `hold` none of the incomplete chunk's
        rows that the file does not have yet (so that it can be written once, complete and compressed)."""
        if hold and self._filled:
            return max(self.written, self.rows - self._filled)
        return self.rows

    def write(self, hold: bool, final: bool = False) -> int:
        """Write the completed chunks and, unless `hold`, the rows of the incomplete one (stored as they
        are, as it will grow; compressed when `final` says no rows will follow)."""
        target = self.rows_to_write(hold)
        if target > self.ds.shape[0]:
            self.ds.resize(target, axis=0)
        rest = (0,) * (self.ds.ndim - 1)
        for first, data, mask in self._ready:
            write_chunk(self.ds, (first, *rest), data, mask)
        self._ready = []
        if self._filled and target == self.rows:
            self._write_incomplete((self._first, *rest), final)
        self.written = target
        return target

    def _write_incomplete(self, where: tuple, final: bool) -> None:
        """Write the incomplete chunk compressed when no rows follow (`final`) or when the copies it leaves
        behind stay cheaper than storing it as it is; otherwise as it is, for good."""
        if not self._stored_as_is:
            packed = shuffle_deflate(self._chunk, self.level, whole=True)
            # Storing the chunk as it is costs its raw size minus its size compressed (as the last
            # complete chunk was); each compressed copy written now is dead space once rewritten.
            stored_cost = self._chunk.nbytes - self._complete_size
            if final or self._left_behind + len(packed) < stored_cost:
                write_chunk(self.ds, where, packed, 0)
                self._left_behind += len(packed)
                return
        write_chunk(self.ds, where, self._chunk.tobytes(), STORED_AS_IS)
        self._stored_as_is = True
