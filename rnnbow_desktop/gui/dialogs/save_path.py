"""The save dialog the main window asks for a file name with: the chosen filter's suffix is appended, and replacing asks first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QFileDialog, QWidget


def ask_save_path(parent: QWidget, caption: str, suggested: Path, filters: dict[str, str]) -> Path | None:
    """The file chosen to save to, or None if cancelled. `filters` maps a filter's text to its suffix."""
    dialog = QFileDialog(parent, caption, str(suggested))
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilters(list(filters))
    suffix = suggested.suffix.lstrip(".").lower()
    for name, ext in filters.items():
        if ext == suffix:
            dialog.selectNameFilter(name)
    dialog.setDefaultSuffix(suffix or next(iter(filters.values())))
    dialog.filterSelected.connect(lambda name: dialog.setDefaultSuffix(filters.get(name, suffix)))
    if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
        return None
    return Path(dialog.selectedFiles()[0])
