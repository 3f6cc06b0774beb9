"""The application icon, built from the PNG renderings in the bundled resources/ folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
_ENV_VAR = "RNNBOW_RESOURCES"


def _candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get(_ENV_VAR):
        dirs.append(Path(os.environ[_ENV_VAR]))
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        dirs.append(Path(sys._MEIPASS) / "resources")
    dirs.append(Path(__file__).resolve().parents[2] / "resources")
    return dirs


def _icon_files(directory: Path) -> list[tuple[int, Path]]:
    files = [(size, directory / "icons" / f"rnnbow-{size}.png") for size in ICON_SIZES]
    try:
        return [(size, path) for size, path in files if path.is_file()]
    except (OSError, ValueError):  # an unreadable folder or a malformed env path: no icon, not a crash
        return []


def app_icon() -> QIcon:
    """The icon at every bundled size, or an empty icon when none is found (the app runs without it)."""
    icon = QIcon()
    for directory in _candidate_dirs():
        files = _icon_files(directory)
        if files:
            for size, path in files:
                icon.addFile(str(path), QSize(size, size))
            break
    return icon
