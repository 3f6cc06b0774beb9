"""Fixtures shared by all tests: a child process for which file permissions hold, even under root; three
tiny sessions of one corpus, one per cell; children that draw offscreen.

Shared helpers that are not fixtures are plain modules beside this file (tests/ is on sys.path):
processes.py (running rnnbow and Python children), session_faults.py (damaged files, full disks),
textbook.py (independent gradient references), tiny_sessions.py (small real sessions), pictures.py (PNG facts).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from processes import python

_PR_CAPBSET_DROP = 24
# The two capabilities that let root read a file whatever its mode says.
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_permission_override(libc):
    def preexec() -> None:
        # Dropped from the bounding set before exec, these are missing from the new program's
        # permitted and effective sets, although it still runs as uid 0. Switching to the "nobody"
        # user instead would not do: the interpreter may live under /root (mode 700), and Python
        # imports parts of its standard library lazily.
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")

    return preexec


@pytest.fixture
def permissions_apply(tmp_path):
    """`preexec_fn` for a subprocess that cannot read a mode-000 file: None when not root.

    Root reads such a file anyway; its child then runs without the capabilities that allow that.
    Skips where that cannot be arranged (not Linux, or a container that refuses to drop them).
    """
    if sys.platform == "win32":
        pytest.skip("POSIX file modes")
    if os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root, and dropping root's file-permission override needs Linux capabilities")
    preexec = _drop_permission_override(ctypes.CDLL(None, use_errno=True))
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        done = python("import sys; open(sys.argv[1]).read()", probe, preexec_fn=preexec, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"running as root, and cannot drop root's file-permission override here ({exc})")
    finally:
        probe.unlink()
    if "PermissionError" not in done.stderr:
        pytest.skip("running as root, and a child without CAP_DAC_OVERRIDE still read a mode-000 file")
    return preexec


CELLS = ("rnn", "lstm", "gru")


@pytest.fixture(scope="session")
def cell_sessions(tmp_path_factory):
    """tiny-rnn.h5, tiny-lstm.h5, tiny-gru.h5: the same small corpus, 30 batches each, by the real trainer."""
    from tiny_sessions import train_session

    folder = tmp_path_factory.mktemp("cell-sessions")
    return [train_session(folder / f"tiny-{cell}.h5", 30, cell=cell, record_every=2, seed=1) for cell in CELLS]


@pytest.fixture
def offscreen_children(monkeypatch):
    """Child processes draw offscreen, unless a Qt platform is chosen already (`processes.app_env(display=False)`
    gives a child no display at all)."""
    monkeypatch.setenv("QT_QPA_PLATFORM", os.environ.get("QT_QPA_PLATFORM", "offscreen"))
