"""Drawing the gradient views of a recorded batch to a PNG or SVG file without opening a window."""

from __future__ import annotations

from pathlib import Path

from ..analysis.view_options import MODES
from ..core.errors import RnnbowError
from .export import check_image_path
from .offscreen import check_size, ensure_app, offscreen

MIN_SIZE = (640, 420)  # below this the views' labels and axes no longer fit


def render_store(store, out, index: int | None = None, hover_step: int | None = None, mode: str = "magnitude",
                 horizon: int = 5, scale: str = "batch", size=(1400, 900), log_horizon: bool = False) -> Path:
    """Draw record `index` of `store` (None: the last) as GradientViews would show it, into `out`."""
    from .gradient_views import GradientViews
    from .selection import SelectionModel

    ensure_app()
    size = check_size(size, MIN_SIZE)
    selection = SelectionModel()
    views = GradientViews(selection)
    with offscreen(views, size, selection) as paint:
        selection.set_follow_live(False)
        selection.set_mode(mode)
        selection.set_horizon_k(horizon)
        selection.set_scale(scale)
        views.set_store(store)
        if index is not None:
            selection.select(index, user=False)
        selection.set_hovered_loss(hover_step)
        views.horizon.log_box.setChecked(log_horizon)
        paint()
        return views.export(out)


def render_session(session_path, out, batch: int | None = None, hover_step: int | None = None,
                   mode: str = "magnitude", horizon: int = 5, size=(1400, 900), force: bool = False) -> Path:
    """Draw recorded batch `batch` (None: the last record) of a session file to PNG or SVG."""
    from ..storage.record_store import RecordStore

    out = check_image_path(out, overwrite=force)
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
