"""The installed Qt binding must not leak references to None (PySide6 6.12.0 on Python < 3.12 does).

That binding decrements None's reference count on every Qt call returning None; a live GUI makes
enough such calls to abort the interpreter ("Fatal Python error: none_dealloc"). pyproject.toml keeps
users off that pair; this test catches it (or any later binding with the same fault) in CI. It
measures in a subprocess with few enough calls that a faulty binding fails the assertion instead of
aborting the whole test run (measured here: with PySide6 6.12.0 on Python 3.11, None starts with ~5,200 references and
loses one per call, so a few thousand calls abort).
"""

import os

from processes import python

CALLS = 200  # None starts with ~5,000 references; a faulty binding must not run out mid-probe

PROBE = f"""
import sys
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
obj, label = QObject(), QLabel()
before = sys.getrefcount(None)
for _ in range({CALLS}):
    obj.setObjectName("x")  # QtCore, returns None
    label.setText("a")      # QtWidgets, returns None
print(before - sys.getrefcount(None))
"""


def test_void_qt_calls_keep_none_alive():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = python(PROBE, env=env)
    assert out.returncode == 0, f"the Qt probe crashed: {out.stderr[-500:]}"
    lost = int(out.stdout.strip().splitlines()[-1])
    # Unrelated code may take or drop a few references meanwhile; the fault loses one per call.
    assert lost < CALLS // 10, f"{lost} references to None lost over {2 * CALLS} void Qt calls"
