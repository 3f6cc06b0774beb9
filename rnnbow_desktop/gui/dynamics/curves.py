"""The spread and community curves over checkpoints, one series per session: beside the Dynamics view's scatter, and in the comparison."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ...analysis.dynamics import MAX_COMMUNITIES
from ..views import palette


@dataclass(frozen=True)
class CurveSeries:
    """One session's curves, as drawn."""

    label: str
    color: str
    checkpoints: np.ndarray  # (C,) batches
    spread: np.ndarray  # (C,)
    communities: np.ndarray  # (C,) ints


def relative(values: np.ndarray) -> np.ndarray:
    """Values as a share of their largest: embeddings of different sessions have scales of their own."""
    top = float(np.max(values)) if len(values) else 0.0
    return values / top if top > 0 else values


class DynamicsCurvesPlot(QWidget):
    """Spread (top) and number of unit communities (bottom) against the training batch, x-linked.

    `relative_spread` draws each series' spread as a share of its own maximum, so sessions compare by
    shape (when they expand and compress), not by the arbitrary scale of their separate embeddings.
    Clicking either plot emits the batch of the nearest checkpoint of the first series.
    """

    checkpointClicked = Signal(object)  # int batch

    def __init__(self, relative_spread: bool = False, parent=None):
        super().__init__(parent)
        self.relative_spread = relative_spread
        self.series: list[CurveSeries] = []
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(palette.BACKGROUND)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.spread_plot = self.graphics.addPlot(row=0, col=0)
        self.community_plot = self.graphics.addPlot(row=1, col=0)
        self.community_plot.setXLink(self.spread_plot)
        for plot in (self.spread_plot, self.community_plot):
            palette.style_plot(plot)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
        self.spread_plot.setLabel("left", "spread (of its max)" if relative_spread else "spread")
        self.spread_plot.getAxis("bottom").setStyle(showValues=False)
        self.community_plot.setLabel("left", "communities")
        self.community_plot.setLabel("bottom", "training batch")
        # Whole numbers only, labelled sparsely enough for a low plot (1, 2, 4, 6, 8), a tick at every count.
        self.community_plot.getAxis("left").setTicks([
            [(k, str(k)) for k in (1, *range(2, MAX_COMMUNITIES + 1, 2))],
            [(k, "") for k in range(1, MAX_COMMUNITIES + 1)]])
        self.markers = []
        for plot in (self.spread_plot, self.community_plot):
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.SELECTED, width=1))
            marker.hide()
            plot.addItem(marker, ignoreBounds=True)
            self.markers.append(marker)
        self.spread_curves: list[pg.PlotDataItem] = []
        self.community_curves: list[pg.PlotDataItem] = []
        self.graphics.scene().sigMouseClicked.connect(self._clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

    def set_series(self, series: list[CurveSeries]) -> None:
        """Draw these series (replacing what was drawn); existing items are updated, not recreated."""
        self.series = list(series)
        while len(self.spread_curves) < len(self.series):
            self.spread_curves.append(self.spread_plot.plot())
            self.community_curves.append(self.community_plot.plot())
        for i, (spread_curve, community_curve) in enumerate(zip(self.spread_curves, self.community_curves)):
            if i >= len(self.series):
                spread_curve.setData([], [])
                community_curve.setData([], [])
                continue
            s = self.series[i]
            x = np.asarray(s.checkpoints, dtype=float)
            spread = relative(np.asarray(s.spread, dtype=float)) if self.relative_spread else s.spread
            style = dict(pen=pg.mkPen(s.color, width=2), symbol="o", symbolSize=5, symbolPen=None,
                         symbolBrush=pg.mkBrush(s.color))
            spread_curve.setData(x, spread, **style)
            community_curve.setData(x, np.asarray(s.communities, dtype=float), **style)
        top = max((int(np.max(s.communities)) for s in self.series if len(s.communities)), default=2)
        self.community_plot.setYRange(0.5, min(MAX_COMMUNITIES, max(top, 2)) + 0.5, padding=0)
        if self.relative_spread:
            self.spread_plot.setYRange(0, 1.05, padding=0)
        else:
            self.spread_plot.enableAutoRange(axis="y")
        self.spread_plot.enableAutoRange(axis="x")

    def set_marker(self, batch: int | None) -> None:
        """A vertical line at the chosen checkpoint's batch (None hides it)."""
        for marker in self.markers:
            if batch is None:
                marker.hide()
            else:
                marker.setValue(float(batch))
                marker.show()

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.series or not len(self.series[0].checkpoints):
            return
        for plot in (self.spread_plot, self.community_plot):
            if plot.sceneBoundingRect().contains(event.scenePos()):
                x = plot.vb.mapSceneToView(event.scenePos()).x()
                batches = self.series[0].checkpoints
                self.checkpointClicked.emit(int(batches[int(np.argmin(np.abs(batches - x)))]))
                return
