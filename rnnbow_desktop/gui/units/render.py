"""Drawing the text-over-unit picture of `rnnbow units --out`: the probe coloured by the best unit of each feature."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...analysis.unit_report import UnitReport, state_values
from ..export import export_widget
from ..offscreen import ensure_app, offscreen
from ..views import palette
from .colours import state_scale
from .text_view import MARGIN, UnitTextView

ROWS = 10  # text rows shown per feature
WIDTH = 1000


class UnitPicture(QWidget):
    """One panel per feature: its best unit's activation as the background of the probe's first rows."""

    def __init__(self, report: UnitReport, rows: int = ROWS, title: str = "", parent=None):
        super().__init__(parent)
        palette.light_palette(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(2)
        if title:
            heading = QLabel(palette.header_html(title))
            layout.addWidget(heading)
        self.panels: list[UnitTextView] = []
        for match in report.best:
            if report.is_constant(match.feature):
                continue  # no unit tracks what the text does not have
            scale = state_scale(match.state)
            header = QLabel(palette.header_html(
                f"{match.feature}: {match.state} unit {match.unit}, r = {match.r:+.2f}", scale.label))
            view = UnitTextView(scrollable=False)
            view.setFrameShape(UnitTextView.Shape.NoFrame)
            view.set_text(report.text)
            view.set_colours(scale.rgba(state_values(report.replay, match.state)[:, match.unit]))
            view.setFixedHeight(rows * view.cell_height + 2 * MARGIN)
            layout.addWidget(header)
            layout.addWidget(view)
            self.panels.append(view)
        layout.addStretch(1)


def render_unit_picture(report: UnitReport, out, rows: int = ROWS, width: int = WIDTH, title: str = "") -> Path:
    """Draw the picture of `report` (one panel per feature) into a PNG or SVG file `out`."""
    ensure_app()
    picture = UnitPicture(report, rows, title)
    height = picture.sizeHint().height()
    with offscreen(picture, (width, height)) as paint:
        paint()
        return export_widget(picture, out, "RNNbow units", title or f"units at checkpoint {report.checkpoint}")
