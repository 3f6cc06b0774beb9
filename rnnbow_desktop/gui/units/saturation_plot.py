"""Karpathy et al.'s gate-saturation scatter: per unit and sigmoid gate, how often the gate is nearly shut (x) against nearly open (y)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...analysis.saturation import GateSaturation
from ..selection import UnitChoice
from ..views import palette

GATE_COLOURS = {"input": "#1b9e77", "forget": "#d95f02", "output": "#7570b3", "reset": "#e7298a", "update": "#66a61e"}
POINT_SIZE = 7


class SaturationPlot(QWidget):
    """One point per (gate, unit) at (fraction < 0.1, fraction > 0.9); a click selects that unit of that gate."""

    unitClicked = Signal(object)  # UnitChoice

    def __init__(self, parent=None):
        super().__init__(parent)
        self.widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.setLabel("bottom", "left-saturated: fraction of characters with the gate < 0.1")
        self.plot.setLabel("left", "right-saturated: > 0.9")
        self.plot.setXRange(0, 1, padding=0.03)
        self.plot.setYRange(0, 1, padding=0.03)
        self.plot.addItem(pg.PlotDataItem([0, 1], [1, 0], pen=pg.mkPen(palette.MUTED, width=1, style=pg.QtCore.Qt.PenStyle.DotLine)))
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextColor=palette.FOREGROUND)
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.marker = pg.ScatterPlotItem(size=POINT_SIZE + 8, pen=pg.mkPen(palette.CURSOR, width=2), brush=None)
        self.plot.addItem(self.marker)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.note)
        self.saturation: Mapping[str, GateSaturation] = {}

    def set_saturation(self, saturation: Mapping[str, GateSaturation], cell: str | None) -> None:
        """Draw the gates of one report; a vanilla RNN has none (its tanh output is no gate)."""
        self.saturation = saturation
        for name in list(self.scatters):
            if name not in saturation:
                self.legend.removeItem(self.scatters[name])
                self.plot.removeItem(self.scatters.pop(name))
        for name, s in saturation.items():
            scatter = self.scatters.get(name)
            if scatter is None:
                colour = GATE_COLOURS.get(name, palette.FOREGROUND)
                scatter = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, brush=pg.mkBrush(colour), name=name)
                scatter.sigClicked.connect(self._clicked)
                self.plot.addItem(scatter)
                self.legend.addItem(scatter, name)
                self.scatters[name] = scatter
            scatter.setData(x=np.asarray(s.left), y=np.asarray(s.right), data=[(name, u) for u in range(len(s.left))])
        if not saturation:
            self.note.setText("A vanilla RNN has no sigmoid gates to saturate." if cell == "rnn" else "")
        else:
            self.note.setText("Karpathy et al. (2015): points at the left edge never saturate; along the diagonal "
                              "a gate works as a switch.")
        self.show_unit(None)

    def show_unit(self, choice: UnitChoice | None) -> None:
        """Ring the selected unit: one point for a gate, that unit's point in every gate for h or c."""
        if choice is None or not self.saturation:
            self.marker.setData([], [])
            return
        gates = [choice.state] if choice.state in self.saturation else list(self.saturation)
        points = [(self.saturation[g].left[choice.unit], self.saturation[g].right[choice.unit])
                  for g in gates if choice.unit < len(self.saturation[g].left)]
        self.marker.setData([p[0] for p in points], [p[1] for p in points])

    def _clicked(self, _scatter, points, *_) -> None:
        if len(points):
            name, unit = points[0].data()
            self.unitClicked.emit(UnitChoice(name, int(unit)))
