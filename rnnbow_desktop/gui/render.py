"""Drawing the gradient views of a recorded batch to a PNG or SVG file without opening a window."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.errors import RnnbowError
from .gradient_views import EXPORT_SUFFIXES

MIN_SIZE = (640, 420)  # below this the views' labels and axes no longer fit
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


def _check_out(out, force: bool) -> Path:
    out = Path(out)
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise RnnbowError(f"{out}: unknown image type {out.suffix or '(none)'!r}; use .png or .svg")
    if out.exists() and not force:
        raise RnnbowError(f"{out}: already exists (use --force to overwrite it)")
    if not out.parent.is_dir():
        raise RnnbowError(f"{out}: folder {out.parent} does not exist")
    return out


def render_store(store, out, index: int | None = None, hover_step: int | None = None, mode: str = "magnitude",
                 horizon: int = 5, scale: str = "batch", size=(1400, 900), log_horizon: bool = False) -> Path:
    """Draw record `index` of `store` (None: the last) as GradientViews would show it, into `out`."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtWidgets import QApplication

    from .gradient_views import GradientViews
    from .selection import SelectionModel

    app = ensure_app()
    width, height = (int(v) for v in size)
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise RnnbowError(f"image size {width}×{height} is too small; use at least {MIN_SIZE[0]}×{MIN_SIZE[1]}")
    selection = SelectionModel()
    views = GradientViews(selection)
    try:
        # Laid out and painted like a shown window, but never put on a screen.
        views.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        views.setFixedSize(width, height)
        selection.set_follow_live(False)
        selection.set_mode(mode)
        selection.set_horizon_k(horizon)
        selection.set_scale(scale)
        views.set_store(store)
        if index is not None:
            selection.select(index, user=False)
        selection.set_hovered_loss(hover_step)
        views.horizon.log_box.setChecked(log_horizon)
        views.show()
        app.processEvents()
        return views.export(out)
    finally:
        views.close()
        views.deleteLater()
        selection.deleteLater()
        # Delete now: a caller rendering many files may never run an event loop.
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def render_session(session_path, out, batch: int | None = None, hover_step: int | None = None,
                   mode: str = "magnitude", horizon: int = 5, size=(1400, 900), force: bool = False) -> Path:
    """Draw recorded batch `batch` (None: the last record) of a session file to PNG or SVG."""
    from ..storage.record_store import RecordStore
    from .selection import MODES

    out = _check_out(out, force)
    if mode not in MODES:
        raise RnnbowError(f"unknown mode {mode!r}; choose {' or '.join(MODES)}")
    store = RecordStore.open(session_path)
    try:
        if not len(store):
            raise RnnbowError(f"{session_path}: no batch was recorded in this session")
        if batch is None:
            index = len(store) - 1
        else:
            index = store.index_of_batch(batch)
            if index is None:
                near = ", ".join(str(b) for b in store.session.nearest_batches(batch))
                raise RnnbowError(f"batch {batch} was not recorded; nearest recorded batches: {near}")
        n = store.config.seq_length
        if hover_step is not None and not 0 <= hover_step < n:
            raise RnnbowError(f"hover step {hover_step} is out of range: a batch has steps 0–{n - 1}")
        if not 1 <= horizon <= n:
            raise RnnbowError(f"horizon k = {horizon} is out of range: use 1–{n} (the sequence length)")
        return render_store(store, out, index=index, hover_step=hover_step, mode=mode, horizon=horizon, size=size)
    finally:
        store.close()
