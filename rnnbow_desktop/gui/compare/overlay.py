"""What the two overlaid plots of the comparison share: their heading and their plot style."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel

from ..views import palette


def header_label(title: str, note: str) -> QLabel:
    label = QLabel(palette.header_html(title, note))
    label.setWordWrap(True)
    return label


def style_overlay(plot: pg.PlotItem) -> None:
    palette.style_plot(plot)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
