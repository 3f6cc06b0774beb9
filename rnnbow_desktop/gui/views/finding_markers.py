"""The overview's findings row: a symbol at the batch of every interesting batch found, and a legend that shows or hides each kind."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from ...analysis.findings import KINDS, Finding
from . import palette

ROW_HEIGHT = 22  # pixels of the findings row
SYMBOL_SIZE = 9
NEAR_PIXELS = 6  # a mouse this close to a symbol points at its finding


class FindingMarkers:
    """Draws a FindingsTracker's shown findings into `plot` (a row x-linked to the overview) and owns the legend.

    One scatter item per kind, updated in place. The legend's boxes set which kinds the tracker shows,
    so the findings list and these markers always show the same kinds.
    """

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.tracker = None
        self.items: dict[str, pg.ScatterPlotItem] = {}
        for kind, _label in KINDS:
            color, symbol = palette.FINDING_STYLES[kind]
            item = pg.ScatterPlotItem(size=SYMBOL_SIZE, symbol=symbol, pen=pg.mkPen(color, width=1), brush=pg.mkBrush(color))
            item.setZValue(6)  # above the selected-batch line
            plot.addItem(item)
            self.items[kind] = item
        self._shown: list[Finding] = []  # sorted by batch
        self._batches = np.zeros(0)

        self.legend = QWidget()
        row = QHBoxLayout(self.legend)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(palette.header_html("Findings")))
        self.boxes: dict[str, QCheckBox] = {}
        for kind, label in KINDS:
            color, symbol = palette.FINDING_STYLES[kind]
            box = QCheckBox()
            box.setChecked(True)
            box.setStyleSheet(f"QCheckBox {{ color: {color}; }}")
            box.setToolTip(f"show or hide the {label} findings (markers and list)")
            box.toggled.connect(lambda shown, kind=kind: self._toggled(kind, shown))
            row.addWidget(box)
            self.boxes[kind] = box
        row.addStretch(1)
        self._label_boxes({})
        self.legend.hide()

    def attach(self, tracker) -> None:
        """Show the findings of `tracker` (a FindingsTracker), now and whenever they change."""
        self.tracker = tracker
        tracker.changed.connect(self.redraw)
        self.legend.show()
        self.redraw()

    def _toggled(self, kind: str, shown: bool) -> None:
        if self.tracker is not None:
            self.tracker.set_shown(kind, shown)

    def _label_boxes(self, counts: dict[str, int]) -> None:
        for kind, label in KINDS:
            glyph = palette.FINDING_GLYPHS[palette.FINDING_STYLES[kind][1]]
            self.boxes[kind].setText(f"{glyph} {label} {counts.get(kind, 0):,}")

    def redraw(self) -> None:
        tracker = self.tracker
        if tracker is None:
            return
        self._shown = sorted(tracker.shown(), key=lambda f: f.batch)
        self._batches = np.array([f.batch for f in self._shown], dtype=float)
        for kind, item in self.items.items():
            x = [f.batch for f in self._shown if f.kind == kind]
            item.setData(x=x, y=np.zeros(len(x)))
        self._label_boxes(tracker.counts())
        for kind, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(kind not in tracker.hidden)
            box.blockSignals(False)

    def finding_near(self, pos: QPointF) -> Finding | None:
        """The shown finding whose symbol is within a few pixels of scene position `pos`, if any."""
        vb = self.plot.vb
        if not len(self._batches) or not vb.sceneBoundingRect().contains(pos):
            return None
        x = vb.mapSceneToView(pos).x()
        tolerance = NEAR_PIXELS * vb.viewPixelSize()[0]
        i = int(np.searchsorted(self._batches, x))
        candidates = [c for c in (i - 1, i) if 0 <= c < len(self._batches)]
        best = min(candidates, key=lambda c: abs(self._batches[c] - x))
        return self._shown[best] if abs(self._batches[best] - x) <= tolerance else None

    def drawn(self) -> dict[str, np.ndarray]:
        """Batch numbers of the drawn symbols per kind (hidden kinds: none), for tests and exports."""
        return {kind: np.asarray(item.getData()[0], dtype=float) for kind, item in self.items.items()}
