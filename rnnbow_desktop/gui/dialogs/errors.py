"""The error dialog: a plain message for the user, with a traceback only under "Show Details" for unexpected errors."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def _rich(text: str) -> str:
    # Wrapped in <p> so Qt treats it as rich text and shows the escaped "<", ">" and "&" literally.
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


def show_error_dialog(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """Open a window-modal error box without blocking the caller (no nested event loop) and return it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical if details else QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(f"<b>{html.escape(title)}</b>")
    box.setInformativeText(_rich(message))
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    # QMessageBox sizes itself to the title; long file paths then wrap into a narrow column.
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 420px; }")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
