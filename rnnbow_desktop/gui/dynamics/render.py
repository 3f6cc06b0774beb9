"""Drawing a computed dynamics result (the Dynamics view's scatter and curves) to a PNG or SVG file without a window."""

from __future__ import annotations

import html
from pathlib import Path

from ...analysis.hidden_dynamics import HiddenDynamics
from ...core.errors import RnnbowError
from ..export import check_image_path, export_widget
from ..offscreen import check_size, ensure_app, offscreen

MIN_DYNAMICS_SIZE = (640, 400)  # below this the scatter and the curves no longer fit side by side


def render_dynamics(dynamics: HiddenDynamics, out, size=(1400, 800), color_by: str = "checkpoint", force: bool = False,
                    title: str = "") -> Path:
    """Draw `dynamics` as the Dynamics view shows it (points coloured `color_by` "checkpoint" or "unit") into `out`."""
    from ..selection import SelectionModel
    from .scatter import COLOR_BY
    from .view import DynamicsView

    if color_by not in dict(COLOR_BY):
        raise RnnbowError(f"unknown colouring {color_by!r}; choose {', '.join(k for k, _ in COLOR_BY)}")
    out = check_image_path(out, overwrite=force)
    size = check_size(size, MIN_DYNAMICS_SIZE)
    ensure_app()
    selection = SelectionModel()
    view = DynamicsView(selection)
    with offscreen(view, size, selection) as paint:
        view.color_combo.setCurrentIndex(view.color_combo.findData(color_by))
        view.show_dynamics(dynamics, html.escape(title))
        view.scatter.readout.hide()  # the hover hint: nothing to hover in a picture
        paint()
        view.scatter.plot.enableAutoRange()
        paint()
        return export_widget(view, out, "RNNbow dynamics", title or "hidden-state dynamics over training")
