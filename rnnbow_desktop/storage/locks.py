"""Who has a session file open: POSIX advisory locks between processes, and a registry of this process's writers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

try:  # POSIX advisory locks tell a live writer from a dead one; elsewhere the reader just cannot tell
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _descriptor(path: Path) -> int | None:
    """A read-only descriptor of `path` to hold a lock on, or None where locks are unknown or it cannot open."""
    if fcntl is None:
        return None
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def writer_lock(path: Path) -> int | None:
    """A shared lock held while writing, so readers can tell a live writer from a dead one. fd or None."""
    fd = _descriptor(path)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def in_use(path: Path) -> bool | None:
    """True if some process holds a lock on `path` (a live writer, or HDF5 reading it); None if unknown."""
    fd = _descriptor(path)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)



# ----------------------------------------------------------------------------------------------
# Files this process wrote need no pre-flight check (see Session)

_writing_here: dict[tuple[int, int], int] = {}  # (device, inode) -> writers open on it in this process
_written_here: set[tuple[int, int, int, int]] = set()  # (device, inode, size, mtime) when a writer closed it


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def writer_opened(path: Path) -> tuple[int, int] | None:
    ident = _identity(path)
    if ident is None:
        return None
    key = ident[:2]
    _writing_here[key] = _writing_here.get(key, 0) + 1
    return key


def writer_closed(path: Path, key: tuple[int, int] | None) -> None:
    if key is None:
        return
    count = _writing_here.get(key, 0) - 1
    if count > 0:
        _writing_here[key] = count
    else:
        _writing_here.pop(key, None)
    ident = _identity(path)
    if ident is not None and ident[:2] == key:
        _written_here.add(ident)


def writer_here(path: Path) -> bool:
    """Whether a SessionWriter of this process has `path` open."""
    ident = _identity(path)
    return ident is not None and ident[:2] in _writing_here


def written_by_us(path: Path) -> bool:
    ident = _identity(path)
    return ident is not None and (ident[:2] in _writing_here or ident in _written_here)

