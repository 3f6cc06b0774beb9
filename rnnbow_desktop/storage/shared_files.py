"""One open HDF5 file per session file per process, shared by every reader of it.

HDF5 already shares one open file among all handles of a process on it, but each handle opens the
datasets again. When the file grows (another process writes it) and one handle refreshes its
datasets, HDF5 re-reads their metadata for that handle only; the other handle's copy of a chunk
index then disagrees with the shared file's, and its reads fail ("can't insert duplicate key",
"Can't synchronously read data") or return stale rows. Seen in the window: the Units view's handle
made the findings tracker's reads of the same live file fail.

So every `Session` of a path takes the same `SharedFile` here: one h5py.File and one h5py.Dataset per
dataset name, refreshed by whichever reader refreshes. Each reader still keeps its own row counts
(how far it has looked), so nothing changes for a reader that does not refresh.

One exception: a file opened while it was being written (read-while-writing mode) keeps the header it
was opened with, so it never learns that its writer has since closed it. Once the writer is gone, the
next reader gets the file opened afresh, beside the old handle (a file that no longer grows cannot
trip the bug above), and readers after it share that one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from .h5io import H5_ERRORS, open_h5, reraise_own_bugs
from .locks import in_use, writer_here


@dataclass(eq=False)
class SharedFile:
    """An open session file and the datasets readers have opened in it."""

    file: h5py.File
    why: str  # why the plain open failed ("" if it did not), as open_h5 says
    key: tuple
    writer_gone: bool  # when it was opened, no writer had the file open
    separate: bool  # opened through HDF5's "log" driver (h5py calls it "unknown"), see h5io._open_read_only
    datasets: dict[str, h5py.Dataset] = field(default_factory=dict)
    users: int = 0

    def outdated(self, path: Path) -> bool:
        """Opened in read-while-writing mode, and the writer has gone since: the header is out of date."""
        return self.file.swmr_mode and not self.writer_gone and not _writer_active(path)


_lock = threading.Lock()
_open: dict[tuple, SharedFile] = {}


def _identity(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _same_file(shared: SharedFile, key: tuple) -> bool:
    """Whether the shared handle is still open on the file `key` names."""
    try:
        if not shared.file.id.valid:
            return False
        st = os.fstat(shared.file.id.get_vfd_handle())
    except (*H5_ERRORS, OSError) as exc:
        reraise_own_bugs(exc)
        return False
    return (st.st_dev, st.st_ino) == key


def _writer_active(path: Path) -> bool:
    return writer_here(path) or in_use(path) is not False


def acquire(path: Path) -> SharedFile:
    """The shared open file of `path`, opened now if no reader of this process has it open (or only an
    outdated one, see the module's notes). Raises what `open_h5` raises."""
    with _lock:
        key = _identity(path)
        shared = _open.get(key) if key is not None else None
        if shared is not None and _same_file(shared, key):
            if not shared.outdated(path):
                shared.users += 1
                return shared
            # Beside the outdated handle, which its readers keep until they close it.
            separate = not shared.separate
        else:
            separate = writer_here(path)  # never sharing a writer's open file: see open_h5
        writer_gone = not _writer_active(path)
        file, why = open_h5(path, separate)
        key = _identity(path) or (id(file),)
        shared = SharedFile(file, why, key, writer_gone, separate, users=1)
        _open[key] = shared
        return shared


def read_beside(shared: SharedFile, path: Path, name: str, rows: int):
    """The first `rows` rows of dataset `name`, read through a new handle opened beside `shared` and closed again.

    For variable-length text in a file another process is appending to: HDF5 keeps the text in a heap whose
    cached copy in a long-open handle can miss what was added since, and its reads then fail. A new handle
    reads the heap as it is now. Raises what h5py raises (the caller reports it as damage).
    """
    file, _ = open_h5(path, not shared.separate)
    try:
        dataset = file[name]
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype != shared.datasets[name].dtype:
            raise ValueError(f"{name} changed its kind while the file was open")
        return dataset[:rows]
    finally:
        file.close()


def release(shared: SharedFile) -> None:
    """One reader is done with `shared`; the last one closes the file."""
    with _lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if _open.get(shared.key) is shared:
            del _open[shared.key]
        shared.datasets.clear()
        try:
            shared.file.close()
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)


def is_open(path: Path) -> bool:
    """Whether a reader of this process has `path` open (so it passed its checks already)."""
    with _lock:
        key = _identity(path)
        shared = _open.get(key) if key is not None else None
        return shared is not None and _same_file(shared, key)


def open_count() -> int:
    """Files open for readers in this process (for tests)."""
    with _lock:
        return len(_open)
