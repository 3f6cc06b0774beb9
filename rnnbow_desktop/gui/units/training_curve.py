"""The finder over training: the best |r| of each feature at every checkpoint, so one sees when a unit for it appeared."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...analysis.unit_finder import TrainingCurve, first_appearance
from ..views import palette

# Colour-blind-safe (Okabe–Ito), one per feature in order; user features continue the cycle.
FEATURE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")


class TrainingCurvePlot(QWidget):
    """Best |r| per feature against the training batch; a line marks the checkpoint on show, a click chooses one."""

    checkpointClicked = Signal(object)  # int: the checkpointed batch nearest the click

    def __init__(self, parent=None):
        super().__init__(parent)
        self.widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.setLabel("bottom", "training batch (checkpoints)")
        self.plot.setLabel("left", "best |r|")
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        # Bottom right: the curves rise towards the top as training goes on.
        self.legend = self.plot.addLegend(offset=(-10, -10), labelTextColor=palette.FOREGROUND)
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.SELECTED, width=1))
        self.marker.hide()
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.curve: TrainingCurve | None = None
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.widget.scene().sigMouseClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.note)

    def set_curve(self, curve: TrainingCurve | None, constant: tuple[str, ...] = ()) -> None:
        """Draw `curve` (features constant over the probe are left out: no unit can track them)."""
        self.curve = curve
        shown = [] if curve is None else [f for f in curve.features if f not in constant]
        for name in list(self.curves):
            if name not in shown:
                self.legend.removeItem(self.curves[name])
                self.plot.removeItem(self.curves.pop(name))
        if curve is None:
            self.note.setText("")
            return
        x = curve.batches.astype(float)
        appeared = []
        for name in shown:
            f = curve.features.index(name)
            item = self.curves.get(name)
            if item is None:
                colour = FEATURE_COLOURS[f % len(FEATURE_COLOURS)]
                item = self.plot.plot(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                                      symbolBrush=colour, symbolPen=None, name=name)
                self.curves[name] = item
            item.setData(x, curve.best_abs_r[:, f])
            found = first_appearance(curve, name)
            if found is not None:
                appeared.append(f"{name} at batch {found.batch:,} ({found.initial:.2f} → {found.final:.2f})")
        if len(x) > 1:
            self.plot.setXRange(float(x[0]), float(x[-1]), padding=0.03)
        self.note.setText("Appeared (half of the gain reached): " + "; ".join(appeared) if appeared
                          else "No feature's best |r| has grown over training yet.")

    def show_checkpoint(self, batch: int | None) -> None:
        if batch is None:
            self.marker.hide()
        else:
            self.marker.setPos(batch)
            self.marker.show()

    def _clicked(self, event) -> None:
        if self.curve is None or not len(self.curve.batches):
            return
        x = self.plot.vb.mapSceneToView(event.scenePos()).x()
        nearest = int(self.curve.batches[int(np.argmin(np.abs(self.curve.batches - x)))])
        self.checkpointClicked.emit(nearest)
