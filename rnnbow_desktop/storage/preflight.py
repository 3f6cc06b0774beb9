"""The pre-flight check: read a session file in a child process with a time limit before this process opens it.

Some damage makes the HDF5 library itself loop forever or crash; nothing in-process can stop that.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..core.errors import SessionFormatError

PREFLIGHT_TIMEOUT = 15.0  # seconds; a real session's metadata parses in well under one




def preflight(path, exercise: Callable[[str], None], timeout: float | None = None) -> None:
    """Run `exercise(path)` (a reader's read of everything) in a child process; raise
    SessionFormatError if that crashes or never ends.

    The child is a fresh `python -c` that imports only this package: multiprocessing's "spawn"
    would re-run the caller's main script in the child, and "fork" would copy a GUI's threads.
    A frozen app has no Python to start; there multiprocessing is the only way (the app's entry
    point must call multiprocessing.freeze_support()).
    """
    path = Path(path)
    timeout = PREFLIGHT_TIMEOUT if timeout is None else timeout
    if not path.is_file():
        return  # the reader's own checks give the message
    if getattr(sys, "frozen", False):
        code = _preflight_frozen(path, exercise, timeout)
    else:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            code = subprocess.run(
                [sys.executable, "-c", f"import sys; from {exercise.__module__} import {exercise.__name__} as run; run(sys.argv[1])", os.fspath(path)], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            code = None  # subprocess.run has killed it
        except OSError:
            return  # cannot start processes here: read without the check
    if code is None:
        raise SessionFormatError(
            f"{path}: damaged in a way that makes the HDF5 library loop (reading it did not finish within "
            f"{timeout:g} s); refusing to open it"
        )
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        raise SessionFormatError(f"{path}: damaged in a way that crashes the HDF5 library ({name}); refusing to open it")


def _preflight_frozen(path: Path, exercise: Callable[[str], None], timeout: float) -> int | None:
    """Exit code of the check run through multiprocessing, None if it did not finish."""
    child = multiprocessing.get_context("spawn").Process(target=exercise, args=(os.fspath(path),), daemon=True)
    try:
        child.start()
    except (OSError, RuntimeError):
        return 0  # cannot start processes here: read without the check
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode
