"""The File menu's commands that write files: Save Session As (a copy of the session file) and Export Views."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import RnnbowError
from .export import EXPORT_FILTERS, EXPORT_SUFFIXES

if TYPE_CHECKING:
    from .mainwindow import MainWindow


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` via a temporary name, so a failed copy never leaves half a file under the chosen name."""
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def save_session_copy(window: MainWindow) -> None:
    """File › Save Session As: copy the shown session's file where the user chooses (not while it is being written)."""
    source = window.session_path
    if source is None:
        window.show_error("Nothing to save yet", "Train a network or open a session first.")
        return
    if window.training and not window.training_controller.paused:
        window.show_error("Pause training first",
                          "The session is still being written. Pause or stop training, then save a copy.")
        return
    target = window.ask_save_path("Save a copy of the session", window.recent.last_folder() / source.name,
                                  {"RNNbow session (*.h5)": "h5"})
    if target is None:
        return
    try:
        if target.exists() and target.samefile(source):
            return  # already there
        copy_file(source, target)
    except OSError as exc:
        window.show_error("Could not save the copy", f"{target}: {exc.strerror or exc}")
        return
    window.recent.remember_folder(target.parent)
    window.add_recent(target)
    window.statusBar().showMessage(f"Saved a copy to {target}", 8000)


def export_shown_views(window: MainWindow) -> None:
    """File › Export Views: the four views as they look now, to a PNG or SVG file the user chooses."""
    store, shown = window.store, window.selection.shown
    if store is None or shown is None:
        window.show_error("Nothing to export yet", "Train a network or open a session first.")
        return
    stem = window.session_path.stem if window.session_path else "rnnbow"
    batch = int(store.batches[shown])
    target = window.ask_save_path("Export the views", window.recent.last_folder() / f"{stem}-batch{batch}.png",
                                  EXPORT_FILTERS)
    if target is None:
        return
    if target.suffix.lower() not in EXPORT_SUFFIXES:
        target = target.with_name(target.name + ".png")
    try:
        window.views.export(target)
    except (RnnbowError, OSError) as exc:
        window.show_error("Could not export the views", str(exc))
        return
    window.recent.remember_folder(target.parent)
    window.statusBar().showMessage(f"Exported the views to {target}", 8000)
