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


@contextmanager
def offscreen(widget, size: tuple[int, int], *owned) -> Iterator[Callable[[], None]]:
    """Give `widget` exactly `size` and yield `paint`, which lays it out and paints it as a shown window, but
    never on a screen. Afterwards the widget and the `owned` objects are deleted.

    Create the widget after `ensure_app()`. Set up what it should show, then call `paint()` and export it.
    """
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtWidgets import QApplication

    def paint() -> None:
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
