"""What the main window keeps between runs of the app: its size and dock layout, the training form and the last corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray

if TYPE_CHECKING:
    from .mainwindow import MainWindow

DEFAULT_SIZE = (1500, 950)


def restore_window_settings(window: MainWindow) -> None:
    s = window.settings
    geometry = s.value("window/geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
    else:
        window.resize(*DEFAULT_SIZE)
    state = s.value("window/state")
    if isinstance(state, QByteArray) and not state.isEmpty():
        window.restoreState(state)
    values = {}
    for name in window.panel.settings_values():
        value = s.value(f"training/{name}")
        if value is not None:
            values[name] = value
    window.panel.restore_values(values)


def save_window_settings(window: MainWindow) -> None:
    s = window.settings
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/state", window.saveState())
    for name, value in window.panel.settings_values().items():
        s.setValue(f"training/{name}", value)
    if window.picker.current_spec:
        s.setValue("corpus/last", window.picker.current_spec)
    s.sync()
