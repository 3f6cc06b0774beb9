"""Low-level HDF5 access that trusts nothing: opening read-only (plain, SWMR, without locks), and turning
HDF5's failures into one-line reasons for users.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import h5py

from ..core.errors import SessionFormatError, why_unreadable

# What h5py raises for a damaged or hostile file, or a failed write. h5py also reports damage as
# KeyError (an object it cannot open) and TypeError (a type it cannot map); raised by our own code those
# are programming errors, so every `except H5_ERRORS` calls `reraise_own_bugs` first to keep them loud.
H5_ERRORS = (OSError, RuntimeError, ValueError, IndexError, OverflowError, MemoryError, UnicodeError, KeyError, TypeError)


def raised_in_h5py(exc: BaseException) -> bool:
    """Whether `exc` was raised inside h5py (its Python or compiled modules), not by this package."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and "h5py" in Path(last.tb_frame.f_code.co_filename).parts


def reraise_own_bugs(exc: BaseException) -> None:
    """Re-raise a KeyError or TypeError that did not come from h5py: a bug, not a damaged file."""
    if isinstance(exc, (KeyError, TypeError)) and not raised_in_h5py(exc):
        raise exc


def reason(exc: BaseException) -> str:
    """The operating system's words for a failed write ('No space left on device'), else HDF5's summary."""
    text = str(exc)
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found.group(1)))
    found = re.search(r"error message = '([^']+)'", text)
    if found:
        return found.group(1)
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror
    return short(exc)


def short(exc: BaseException) -> str:
    """HDF5's one-line summary of an error, without its multi-line details."""
    # str() of a KeyError quotes its message ("'Unable to open object (...)'"); take the message itself.
    text = str(exc.args[0]) if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    text = " ".join(text.split("(", 1)[0].split()).rstrip(",;:")
    return text or exc.__class__.__name__



def open_h5(path: Path, separate: bool):
    """Open read-only; fall back to SWMR for files still (or last) open for writing.

    `separate`: open beside any handle of this process on the file (HDF5's "log" driver, see
    `_open_read_only`); shared_files.acquire decides.
    Returns (file, why): why is "" for a plain open, else the reason the plain open failed.
    """
    try:
        with open(path, "rb") as probe:
            probe.read(8)
    except IsADirectoryError:
        raise SessionFormatError(f"{path}: is a folder, not a session file") from None
    except OSError as exc:
        raise SessionFormatError(f"{path}: {why_unreadable(exc)}") from None
    if path.is_dir():
        raise SessionFormatError(f"{path}: is a folder, not a session file")
    try:
        hdf5 = h5py.is_hdf5(str(path))
    except H5_ERRORS as exc:
        reraise_own_bugs(exc)
        hdf5 = False
    if not hdf5:
        raise SessionFormatError(f"{path}: not an RNNbow session (not an HDF5 file)")
    # Plain first; then SWMR, which is what works while a writer (in this process or another) has
    # the file open, after a writer was killed, and on a file cut short (SWMR skips the size check).
    # SWMR needs no lock, and holding one would hide whether a writer still holds its own (see
    # _in_use); last, plain without locking, for media that refuse locks. None of these writes.
    attempts = ((False, True), (True, False), (False, False))
    first_error = None
    # HDF5 shares one open file among all handles of a process on it. A reader must not share a
    # writer's: after a failed write the writer points its descriptor at the null device (see
    # SessionWriter._abandon), and a shared reader would then read zeros, and keep that dead file
    # registered as open for every later open of the path in this process.
    for swmr, locking in attempts:
        try:
            f = _open_read_only(path, swmr, locking, separate)
            if not separate and not _reads_path(f, path):
                # Joined a file left open by a writer that failed (its last close could not
                # complete): open the real file once more, beside it.
                f.close()
                f = _open_read_only(path, swmr, locking, separate=True)
        except H5_ERRORS as exc:
            reraise_own_bugs(exc)
            first_error = first_error or exc
            continue
        return f, ("" if first_error is None else str(first_error))
    raise SessionFormatError(f"{path}: damaged HDF5 file, cannot be opened ({short(first_error)})")


def _reads_path(f: h5py.File, path: Path) -> bool:
    """Whether an open file's descriptor really is the file at `path` (True if that cannot be told)."""
    try:
        opened, named = os.fstat(f.id.get_vfd_handle()), os.stat(path)
    except (*H5_ERRORS, OSError) as exc:
        reraise_own_bugs(exc)
        return True
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


# In SWMR mode HDF5 re-reads metadata whose checksum fails, to wait out a writer caught mid-write:
# 100 attempts by default, sleeping 1 ns, 2 ns, 4 ns, … between them, so a block that is really
# damaged (a cut-off file, a kill mid-flush, a corrupted byte) makes a read hang for 2^100 ns.
# 24 attempts wait at most 2^24 ns ≈ 17 ms per block: ample for a live writer's single write.
_SWMR_READ_ATTEMPTS = 24


@functools.lru_cache(maxsize=1)
def _read_attempts_setter():
    """H5Pset_metadata_read_attempts of the HDF5 library h5py uses (h5py does not wrap it), or None."""
    import ctypes

    try:
        # h5py's compiled wrappers link the HDF5 library; looking the symbol up through them finds
        # that same library (a wheel's bundled copy or the system's), never a second one.
        setter = ctypes.CDLL(h5py.defs.__file__).H5Pset_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    setter.argtypes = [ctypes.c_int64, ctypes.c_uint]  # hid_t, unsigned
    setter.restype = ctypes.c_int
    return setter


def _open_read_only(path: Path, swmr: bool, locking: bool, separate: bool = False) -> h5py.File:
    """`separate`: through HDF5's "log" driver with logging off: the same POSIX I/O as the default
    driver, but HDF5 never lets handles of two different drivers share one open file."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
    if separate:
        fapl.set_fapl_log(b"", 0, 0)
    if not locking:
        fapl.set_file_locking(False, True)
    flags = h5py.h5f.ACC_RDONLY
    if swmr:
        flags |= h5py.h5f.ACC_SWMR_READ
        setter = _read_attempts_setter()
        if setter is not None:
            setter(fapl.id, _SWMR_READ_ATTEMPTS)
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))

