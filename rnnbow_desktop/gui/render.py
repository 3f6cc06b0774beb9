"""Drawing the gradient views of a recorded batch to a PNG or SVG file without opening a window."""

from __future__ import annotations

from pathlib import Path

from ..analysis.view_options import MODES, VIEW_SIZES, VIEWS
from ..core.errors import RnnbowError
from .export import check_image_path
from .offscreen import check_size, ensure_app, offscreen

# The least picture of each view (analysis.view_options.VIEWS) in which its labels and axes still fit.
MIN_SIZES = {"all": (640, 420), "labels": (640, 110), "bars": (640, 240), "horizon": (640, 220), "overview": (640, 220)}


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise RnnbowError(f"unknown view {view!r}; choose {', '.join(VIEWS)}")
    return view


def render_store(store, out, index: int | None = None, hover_step: int | None = None, mode: str = "magnitude",
                 horizon: int = 5, scale: str = "batch", size=None, log_horizon: bool = False,
                 view: str = "all", layer: int = 0) -> Path:
    """Draw record `index` of `store` (None: the last) as GradientViews would show it, into `out`: the four views,
    or with `view` one of them alone, with their titles and legends and without the window's controls; of a
    session with several layers, layer `layer`'s."""
    from .gradient_views import GradientViews
    from .selection import SelectionModel

    view = check_view(view)
    size = check_size(VIEW_SIZES[view] if size is None else size, MIN_SIZES[view])
    ensure_app()
    selection = SelectionModel()
    views = GradientViews(selection)
    with offscreen(views, size, selection) as paint:
        if view != "all":
            views.labels.plot.setXLink(None)  # linked to hidden bars, the labels would take their stale x range
            for name, part in views.parts().items():
                part.setVisible(name == view)
        selection.set_follow_live(False)
        selection.set_mode(mode)
        selection.set_horizon_k(horizon)
        selection.set_scale(scale)
        selection.set_layer(layer)
        views.set_store(store)
        if index is not None:
            selection.select(index, user=False)
        selection.set_hovered_loss(hover_step)
        views.horizon.log_box.setChecked(log_horizon)
        paint()
        return views.export(out)


def render_session(session_path, out, batch: int | None = None, hover_step: int | None = None,
                   mode: str = "magnitude", horizon: int = 5, size=None, force: bool = False,
                   view: str = "all", layer: int = 0) -> Path:
    """Draw recorded batch `batch` (None: the last record) of a session file to PNG or SVG: the four views, or
    one of them (`view`: "labels", "bars", "horizon" or "overview"), at `size` (None: the view's default); of a
    session recorded from a PyTorch module with several layers, layer `layer`'s (0: the one nearest the input)."""
    from ..storage.record_store import RecordStore

    check_view(view)
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
        if not 0 <= layer < store.layers:
            raise RnnbowError(f"layer {layer} is out of range: this session recorded layers 0–{store.layers - 1}")
        return render_store(store, out, index=index, hover_step=hover_step, mode=mode, horizon=horizon, size=size,
                            view=view, layer=layer)
    finally:
        store.close()
