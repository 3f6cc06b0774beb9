"""Drawing the comparison of several sessions to a PNG or SVG file without opening a window."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import RnnbowError
from .render import _check_out, ensure_app

MIN_COMPARE_SIZE = (960, 640)  # below this the columns' views and the plots' legends no longer fit


def check_sessions(paths, hover_step: int | None = None) -> None:
    """Raise RnnbowError naming the first of `paths` that cannot be compared (missing, not a session, no
    records), or if there are fewer than two, or if `hover_step` is not a step of every session's batches.

    A script gets the first problem as a one-line error, not the dialog the window would show.
    """
    from .compare_window import open_stores

    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        given = f"only {paths[0]} given" if paths else "none given"
        raise RnnbowError(f"comparing needs at least two session files; {given}")
    stores, problems = open_stores(paths)
    n = min((store.config.seq_length for store in stores), default=0)
    for store in stores:
        store.close()
    if problems:
        raise RnnbowError(problems[0])
    if hover_step is not None and not 0 <= hover_step < n:
        raise RnnbowError(f"hover step {hover_step} is out of range: these sessions' batches have steps 0–{n - 1}")


def render_comparison(paths, out, size=(1600, 1000), force: bool = False, profile_over: str = "whole",
                      profile_statistic: str = "mean", batch: int | None = None,
                      hover_step: int | None = None) -> Path:
    """Draw the "Compare sessions" window for `paths` (two or more session files) into `out`.

    `profile_over` chooses the batches the horizon profile averages over ("whole", "last", "around"),
    `profile_statistic` how ("mean": all gradient pooled; "median": the typical batch's profile);
    `batch` the training batch every session is aligned to (None: the last batch all of them reached);
    `hover_step` a loss step t shown hovered in every session (its parts highlighted, its horizon in view 3).
    """
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtWidgets import QApplication

    from .compare_window import PROFILE_RANGES, PROFILE_STATISTICS, CompareWindow

    out = _check_out(out, force)
    width, height = (int(v) for v in size)
    if width < MIN_COMPARE_SIZE[0] or height < MIN_COMPARE_SIZE[1]:
        raise RnnbowError(
            f"image size {width}×{height} is too small; use at least {MIN_COMPARE_SIZE[0]}×{MIN_COMPARE_SIZE[1]}"
        )
    if profile_over not in dict(PROFILE_RANGES):
        raise RnnbowError(f"unknown profile range {profile_over!r}; choose {', '.join(k for k, _ in PROFILE_RANGES)}")
    if profile_statistic not in dict(PROFILE_STATISTICS):
        raise RnnbowError(
            f"unknown profile statistic {profile_statistic!r}; choose {', '.join(k for k, _ in PROFILE_STATISTICS)}"
        )
    paths = [Path(p) for p in paths]
    check_sessions(paths, hover_step)

    app = ensure_app()
    window = CompareWindow(paths, profile_over=profile_over, profile_statistic=profile_statistic)
    try:
        # Laid out and painted like a shown window, but never put on a screen.
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.menuBar().hide()  # the picture is the content; without a menu bar it is exactly `size`
        window.setFixedSize(width, height)
        if batch is not None:
            window.link.select_batch(batch, user=False)
        if hover_step is not None:
            window.sessions[0].selection.set_hovered_loss(hover_step)  # the link repeats it in the others
        window.show()
        app.processEvents()
        return window.export(out)
    finally:
        window.close()
        window.deleteLater()
        # Delete now: a caller rendering many files may never run an event loop.
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
