"""What the two overlaid plots of the comparison share: their heading, their plot style and their layout."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..views import palette


def header_label(title: str, note: str) -> QLabel:
    label = QLabel(palette.header_html(title, note))
    label.setWordWrap(True)
    return label


def style_overlay(plot: pg.PlotItem) -> None:
    palette.style_plot(plot)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)


def overlay_panel(panel: QWidget, header: QLabel, controls: QHBoxLayout, x_label: str,
                  y_label: str) -> tuple[pg.PlotWidget, pg.PlotItem, QLabel]:
    """Lay out `panel` as heading, row of controls, overlay plot and a note under it; the plot (its axes named
    `x_label` and `y_label`) takes whatever height the comparison gives the panel. Returns (widget, plot, note)."""
    plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
    plot_widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
    plot = plot_widget.getPlotItem()
    style_overlay(plot)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)

    note = QLabel()
    note.setWordWrap(True)
    note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    layout = QVBoxLayout(panel)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(header)
    layout.addLayout(controls)
    layout.addWidget(plot_widget, 1)
    layout.addWidget(note)
    return plot_widget, plot, note
