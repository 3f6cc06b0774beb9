"""Drawing a widget without a screen: the one harness `rnnbow render` and `rnnbow compare --out` paint through."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..core.errors import RnnbowError

_app = None  # the QApplication this module made, kept alive for later renders in the same process


def ensure_app():
    """The running QApplication, or a new one (offscreen when there is no display to draw on)."""
    global _app
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
        # Only X11/Wayland systems signal a display through the environment.
        if headless and sys.platform not in ("win32", "darwin"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = _app = QApplication(["rnnbow-render"])
    return app


def check_size(size, minimum: tuple[int, int]) -> tuple[int, int]:
    """`size` as whole pixels (width, height); RnnbowError if it is below `minimum`, where the drawing no longer fits."""
    width, height = (int(v) for v in size)
    if width < minimum[0] or height < minimum[1]:
        raise RnnbowError(f"image size {width}×{height} is too small; use at least {minimum[0]}×{minimum[1]}")
    return width, height


def hide_controls(widget) -> None:
    """Hide what is there to operate `widget`, not to read it: buttons, check boxes, combo and spin boxes, the
    labels that name them (their buddies), and the rows this leaves empty. What stays is a figure: the views,
    their titles and legends. Only for a widget made to be rendered: a window on screen keeps its controls.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QLineEdit, QSlider, QWidget

    controls = [w for w in widget.findChildren(QWidget)
                if isinstance(w, (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider))]
    for control in controls:
        control.hide()
    for label in widget.findChildren(QLabel):
        if label.buddy() is not None and label.buddy().isHidden():
            label.hide()
    # Deepest first, so a row inside a row that empties empties its parent too.
    containers = [w for w in widget.findChildren(QWidget) if w.layout() is not None]
    for container in sorted(containers, key=_depth, reverse=True):
        children = [w for w in container.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
                    if not w.isWindow()]
        if children and all(child.isHidden() for child in children):
            container.hide()


def _depth(widget) -> int:
    depth = 0
    while (widget := widget.parentWidget()) is not None:
        depth += 1
    return depth


@contextmanager
def offscreen(widget, size: tuple[int, int], *owned) -> Iterator[Callable[[], None]]:
    """Give `widget` exactly `size` and yield `paint`, which lays it out and paints it as a shown window, but
    never on a screen, with its controls hidden (`hide_controls`). Afterwards the widget and the `owned` objects
    are deleted.

    Create the widget after `ensure_app()`. Set up what it should show, then call `paint()` and export it.
    """
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtWidgets import QApplication

    def paint() -> None:
        hide_controls(widget)
        widget.show()
        QApplication.processEvents()

    try:
        widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        widget.setFixedSize(*size)
        yield paint
    finally:
        widget.close()
        widget.deleteLater()
        for obj in owned:
            obj.deleteLater()
        # Delete now: a caller rendering many files may never run an event loop.
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
