"""The application every window of the app lives in: the QApplication, the persistent settings, the
error hook for bugs in slots, and the testing hooks that close a window after a delay."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ORGANIZATION = "rnnbow"
APP_NAME = "RNNbow Desktop"
SETTINGS_DIR_VAR = "RNNBOW_SETTINGS_DIR"
# Testing hooks (the smoke test of the frozen app, tests/gui/test_app_subprocess.py, scripts/):
# RNNBOW_QUIT_AFTER_MS=N closes the window N ms after it was shown and the command line applied,
# exactly as the user closing it would (training stops, the session is completed, settings saved);
# RNNBOW_SCREENSHOT=FILE.png saves what the window shows just before that, proving it really drew.
QUIT_AFTER_VAR = "RNNBOW_QUIT_AFTER_MS"
SCREENSHOT_VAR = "RNNBOW_SCREENSHOT"


def open_settings():
    """The app's QSettings; `RNNBOW_SETTINGS_DIR` redirects them to an INI file (tests, portable use)."""
    from PySide6.QtCore import QSettings

    folder = os.environ.get(SETTINGS_DIR_VAR)
    if folder:
        return QSettings(str(Path(folder) / "rnnbow-desktop.ini"), QSettings.Format.IniFormat)
    return QSettings(APP_ORGANIZATION, APP_NAME)


def application():
    """The one QApplication of this process, named and with the app's icon."""
    from PySide6.QtWidgets import QApplication

    from .icon import app_icon

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "rnnbow"])
    app.setOrganizationName(APP_ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setWindowIcon(app_icon())
    # Lets Wayland and X11 docks match the window to resources/rnnbow.desktop.
    app.setDesktopFileName("rnnbow")
    return app


def report_unexpected_errors(window) -> None:
    """A bug in a slot must not pass unnoticed (PySide only prints it): also show it, one box at a time."""
    import traceback

    from .dialogs.errors import show_error_dialog

    previous = sys.excepthook
    open_boxes = []

    def hook(kind, value, tb):
        previous(kind, value, tb)
        # While a box is open, later errors only go to stderr: a failing redraw repeats every frame.
        if open_boxes or not window.isVisible():
            return
        box = show_error_dialog(window, "Unexpected error", f"{kind.__name__}: {value}",
                                "".join(traceback.format_exception(kind, value, tb)))
        open_boxes.append(box)
        box.finished.connect(lambda _result: open_boxes.clear())

    sys.excepthook = hook


def schedule_test_quit(app, window) -> list[str]:
    """Honour RNNBOW_QUIT_AFTER_MS / RNNBOW_SCREENSHOT; returns a list that collects any failure."""
    failures: list[str] = []
    text = os.environ.get(QUIT_AFTER_VAR, "").strip()
    if not text:
        return failures
    try:
        delay = int(text)
    except ValueError:
        print(f"rnnbow: ignoring {QUIT_AFTER_VAR}={text!r} (not a whole number of milliseconds)", file=sys.stderr)
        return failures
    screenshot = os.environ.get(SCREENSHOT_VAR, "").strip()

    def quit_now():
        if screenshot:
            if not window.grab().save(screenshot):
                failures.append(screenshot)
                print(f"rnnbow: could not write the screenshot {screenshot}", file=sys.stderr)
        window.close()  # the user's way out: stops training and completes the session
        app.quit()  # also when a dialog is still open

    from PySide6.QtCore import QTimer

    QTimer.singleShot(max(0, delay), quit_now)
    return failures
