"""The recently used session files and folder, kept in the app's settings, and the File › Open Recent menu that lists them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMenu

MAX_RECENT = 10


class RecentSessions:
    """Newest first, at most MAX_RECENT; each with the cell it was trained with, so the menu names it
    without opening the file."""

    def __init__(self, settings):
        self.settings = settings

    def paths(self) -> list[Path]:
        values = self.settings.value("recent_sessions", [], type=list) or []
        return [Path(v) for v in values if v]

    def cells(self) -> dict[str, str]:
        """The cell of each recent session, as it was when added."""
        try:
            cells = json.loads(self.settings.value("recent_cells", "{}", type=str) or "{}")
        except ValueError:
            return {}
        return cells if isinstance(cells, dict) else {}

    def add(self, path: Path, cell: str | None) -> None:
        """Put `path` first; `cell` (None: unknown) is remembered with it."""
        path = Path(path).resolve()
        recent = [path, *(p for p in self.paths() if p != path)][:MAX_RECENT]
        self.settings.setValue("recent_sessions", [str(p) for p in recent])
        cells = self.cells()
        if cell is not None:
            cells[str(path)] = cell
        self.settings.setValue("recent_cells", json.dumps({str(p): cells[str(p)] for p in recent if str(p) in cells}))

    def last_folder(self) -> Path:
        """Where file dialogs start: the folder last opened from or saved to (else the home folder)."""
        return Path(self.settings.value("paths/last_dir", "", type=str) or str(Path.home()))

    def remember_folder(self, folder: Path) -> None:
        self.settings.setValue("paths/last_dir", str(folder))

    def clear(self) -> None:
        self.settings.setValue("recent_sessions", [])

    def fill_menu(self, menu: QMenu, open_session: Callable[[Path], object]) -> None:
        """List the recent sessions that still exist in `menu`; choosing one calls `open_session(path)`."""
        menu.clear()
        existing = [p for p in self.paths() if p.exists()]
        if not existing:
            menu.addAction("No recent sessions").setEnabled(False)
            return
        cells = self.cells()
        for number, path in enumerate(existing, 1):
            cell = cells.get(str(path))
            action = menu.addAction(f"&{number % 10} {path.name}" + (f" ({cell})" if isinstance(cell, str) else ""))
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: open_session(p))
        menu.addSeparator()
        menu.addAction("Clear Menu").triggered.connect(lambda _checked=False: self.clear())
