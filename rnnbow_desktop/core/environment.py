"""The machine a run happens on: what a session records about it, and whether a window can open here."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """False only where Qt would abort for want of a display: Linux/BSD without X11 or Wayland."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    if os.environ.get("QT_QPA_PLATFORM"):
        return True  # the user chose a platform (offscreen, vnc, …); let Qt judge it
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
