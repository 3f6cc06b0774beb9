"""Drawing the comparison of several sessions to a PNG or SVG file without opening a window."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import RnnbowError
from ...storage.multi import check_sessions
from ..export import check_image_path
from ..offscreen import check_size, ensure_app, offscreen

MIN_COMPARE_SIZE = (960, 640)  # below this the columns' views and the plots' legends no longer fit


def render_comparison(paths, out, size=(1600, 1000), force: bool = False, profile_over: str = "whole",
                      profile_statistic: str = "mean", batch: int | None = None,
                      hover_step: int | None = None, progress=None) -> Path:
    """Draw the "Compare sessions" window for `paths` (two or more session files) into `out`.

    `profile_over` chooses the batches the horizon profile averages over ("whole", "last", "around"),
    `profile_statistic` how ("mean": all gradient pooled; "median": the typical batch's profile);
    `batch` the training batch every session is aligned to (None: the last batch all of them reached);
    `hover_step` a loss step t shown hovered in every session (its parts highlighted, its horizon in view 3).
    (c), the dynamics of the hidden units, is computed first: progress(fraction, text) reports it, and
    raising `Cancelled` from it stops the drawing.
    """
    from .profile_plot import PROFILE_RANGES, PROFILE_STATISTICS
    from .window import CompareWindow

    out = check_image_path(out, overwrite=force)
    size = check_size(size, MIN_COMPARE_SIZE)
    if profile_over not in dict(PROFILE_RANGES):
        raise RnnbowError(f"unknown profile range {profile_over!r}; choose {', '.join(k for k, _ in PROFILE_RANGES)}")
    if profile_statistic not in dict(PROFILE_STATISTICS):
        raise RnnbowError(
            f"unknown profile statistic {profile_statistic!r}; choose {', '.join(k for k, _ in PROFILE_STATISTICS)}"
        )
    paths = [Path(p) for p in paths]
    check_sessions(paths, hover_step)

    ensure_app()
    window = CompareWindow(paths, profile_over=profile_over, profile_statistic=profile_statistic)
    with offscreen(window, size) as paint:
        if window.dynamics_plot is not None:
            window.dynamics_plot.compute_now(progress)
        window.menuBar().hide()  # the picture is the content; without a menu bar it is exactly `size`
        if batch is not None:
            window.link.select_batch(batch, user=False)
        if hover_step is not None:
            window.sessions[0].selection.set_hovered_loss(hover_step)  # the link repeats it in the others
        paint()
        return window.export(out)
