"""Faults for tests to put sessions through: damaged and hostile session files, each with the words a user must
read about it, and the disk room a session needs before a full disk can keep a record.

One builder for tests/test_reliability.py (the readers and `rnnbow info`) and tests/gui/test_window_faults.py
(the window's dialogs), so both meet the same files and expect the same messages.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import Corpus
from rnnbow_desktop.storage.run import TrainingRun

# A damage rewrites the session copy at `path`; links and external storage it adds point at `target`, an HDF5
# file holding /data (or a FIFO, which a reader that followed them would block on forever).
Damage = Callable[[Path, Path], None]


def _replace_dataset(f: h5py.File, name: str, **kwargs) -> h5py.Dataset:
    del f[name]
    return f.create_dataset(name, **kwargs)


def random_bytes(path: Path, target: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(50_000))


def hdf5_signature_then_garbage(path: Path, target: Path) -> None:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + random.Random(2).randbytes(50_000))


def truncated(path: Path, target: Path) -> None:
    path.write_bytes(path.read_bytes()[:3000])


def not_a_session(path: Path, target: Path) -> None:
    path.unlink()
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10)


def newer(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99  # far ahead of any format this version reads


def bad_header(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["hidden_size"] = "sixteen"


def external_link(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["records/itemized"]
        f["records/itemized"] = h5py.ExternalLink(str(target), "/data")


def soft_link(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["records/loss"]
        f["records/loss"] = h5py.SoftLink("/records/truncation_error")


def virtual(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        shape = f["records/itemized"].shape
        layout = h5py.VirtualLayout(shape=shape, dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(target), "data", shape=shape)
        del f["records/itemized"]
        f.create_virtual_dataset("records/itemized", layout, fillvalue=0)


def external_storage(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        n = f["training/loss"].shape[0]
        _replace_dataset(f, "training/loss", shape=(n,), dtype=np.float32, external=[(str(target), 0, 4 * n)])


def absurd_records(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        for name in f["records"]:
            f["records"][name].resize(2_000_000_000, axis=0)


def absurd_corpus(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        _replace_dataset(f, "corpus", shape=(10**12,), dtype=np.uint8, chunks=(65536,))


def absurd_compressed(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        _replace_dataset(f, "training/loss", shape=(10**10,), dtype=np.float32, chunks=(65536,), compression="gzip")


def huge_chunks(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        _replace_dataset(f, "training/loss", shape=(60,), maxshape=(None,), dtype=np.float32, chunks=(2**27,))


def absurd_vocab(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        _replace_dataset(f, "vocab", shape=(2_000_000,), dtype=np.int32, chunks=(65536,))


def unknown_filter(path: Path, target: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["training/loss"]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((64,))
        dcpl.set_filter(307, h5py.h5z.FLAG_OPTIONAL)  # bzip2's id; HDF5 would look for a plugin
        space = h5py.h5s.create_simple((60,), (h5py.h5s.UNLIMITED,))
        h5py.h5d.create(f["training"].id, b"loss", h5py.h5t.NATIVE_FLOAT, space, dcpl=dcpl)


def heap_loop(path: Path, target: Path) -> None:
    # A global heap object with index 0 and size 0: HDF5 2.0's parser then never advances
    # (found by tests/test_fuzz_sessions.py). The first heap holds the header's strings.
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL")
    data[heap + 16 : heap + 32] = bytes(16)
    path.write_bytes(bytes(data))


# Every damage with the words the reader's one-line message must hold.
HOSTILE: dict[Damage, str] = {
    random_bytes: "not an RNNbow session (not an HDF5 file)",
    hdf5_signature_then_garbage: "damaged HDF5 file, cannot be opened",
    truncated: "damaged",
    not_a_session: "an HDF5 file, but not an RNNbow session",
    newer: "written by a newer RNNbow (session format 99; this version reads up to ",
    bad_header: "session header is invalid",
    external_link: "records/itemized is an external link to another file",
    soft_link: "records/loss is a soft link",
    virtual: "records/itemized is a virtual dataset reading other files",
    external_storage: "training/loss keeps its data in external files",
    absurd_records: "declares 2,000,000,000 rows",
    absurd_corpus: "corpus declares 1,000,000,000,000 rows",
    absurd_compressed: "training/loss declares 10,000,000,000 rows",
    huge_chunks: "stored in chunks of 537 MB",
    absurd_vocab: "vocab has an impossible size 2000000",
    unknown_filter: "needs compression filter 307",
    heap_loop: "damaged in a way that makes the HDF5 library loop",
}


def hostile_cases(*damages: Damage) -> list:
    """pytest parameters (damage, message) named after each damage: those given, or every one in HOSTILE."""
    return [pytest.param(damage, HOSTILE[damage], id=damage.__name__) for damage in damages or HOSTILE]


def damaged_copy(good: Path, folder: Path, damage: Damage, target: Path | None = None) -> Path:
    """A new file `folder`/bad.h5 (not one this process wrote) copied from the session `good`, then damaged.

    Without `target`, links and external storage point at `folder`/elsewhere.h5, a real HDF5 file whose /data
    has the shape of the records' itemized column.
    """
    path = Path(folder) / "bad.h5"
    path.write_bytes(Path(good).read_bytes())
    if target is None:
        target = Path(folder) / "elsewhere.h5"
        with h5py.File(good, "r") as f:
            shape = f["records/itemized"].shape
        with h5py.File(target, "w") as f:
            f["data"] = np.ones(shape, dtype=np.float32)
    damage(path, target)
    return path


def first_flush_size(folder: Path, corpus: Corpus, config: TrainConfig) -> int:
    """Bytes of a new session file once its first batch is flushed: what a disk must hold for the file to keep
    a record. File-size limits and small disks in tests are set from it, not fixed: it depends on the HDF5
    version, the corpus (stored in the file) and the settings, and a fixed limit below it keeps no record."""
    path = Path(folder) / "measured.h5"
    run = TrainingRun(corpus, config, path)
    run.step()
    run.writer.flush()
    size = path.stat().st_size
    run.close()
    path.unlink()
    return size


def file_size_limit(limit: int) -> Callable[[], None]:
    """`preexec_fn` for a child that may write files of at most `limit` bytes (RLIMIT_FSIZE: a full disk
    without mounting one, and for the child alone)."""

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
