"""Running the main window: open what the command line asked for, and run until the window closes."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.environment import has_display
from .app import application, report_unexpected_errors, schedule_test_quit

NO_DISPLAY_MESSAGE = "rnnbow: no display found; to train without a window use: rnnbow train CORPUS --out SESSION.h5"


def run_app(session: Path | None = None, corpus: str | None = None, start: bool = False, out: Path | None = None) -> int:
    """Show the main window, open what the command line asked for, and run until it closes."""
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    app = application()

    from .mainwindow import MainWindow

    window = MainWindow()
    report_unexpected_errors(window)
    window.show()
    if not window.isVisible():
        print("rnnbow: the window could not be shown", file=sys.stderr)
        return 1
    # After show(), so that an error dialog has a visible parent to sit on.
    window.apply_command_line(session=session, corpus=corpus, start=start, out=out)
    failures = schedule_test_quit(app, window)
    code = app.exec()
    return 1 if failures else code
