"""The overview's findings: a symbol along the top of the max-gradient plot at every interesting batch, and a legend that shows or hides each kind."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from ...analysis.findings import KINDS, Finding
from . import palette

SYMBOL_SIZE = 9
TOP_PIXELS = 7  # symbol centres this far below the plot's top edge
NEAR_PIXELS = 6  # a mouse this close to a symbol points at its finding
# Short names: six of them share one line under the overview's heading.
LEGEND_NAMES = {
    "gradient_spike": "gradient spike", "loss_spike": "loss spike", "plateau_end": "plateau ends",
    "horizon_shift": "horizon shift", "conflict": "conflict", "corpus_change": "corpus change",
}


class FindingMarkers:
    """Draws a FindingsTracker's shown findings along the top of `plot` and owns their legend.

    One scatter item per kind, kept at the top edge whatever the y range (linear or log): the items
    hold y = 0 and are moved, not redrawn, when the range changes. The legend, a row for the overview's
    layout, lists the kinds that have findings; its boxes set which kinds the tracker shows, so the
    findings list and these markers always show the same kinds.
    """

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.tracker = None
        self.items: dict[str, pg.ScatterPlotItem] = {}
        for kind, label in KINDS:
            color, symbol = palette.FINDING_STYLES[kind]
            item = pg.ScatterPlotItem(size=SYMBOL_SIZE, symbol=symbol, pen=pg.mkPen(color, width=1), brush=pg.mkBrush(color))
            item.setZValue(6)  # above the curve and the selected-batch line
            # On the view box itself: markers are not data, so they must neither stretch the auto range nor
            # take part in the plot's downsampling and log mode (they are placed in view coordinates).
            plot.vb.addItem(item, ignoreBounds=True)
            self.items[kind] = item
        self._shown: list[Finding] = []  # sorted by batch
        self._batches = np.zeros(0)
        plot.vb.sigYRangeChanged.connect(self._place)
        plot.vb.sigResized.connect(self._place)

        self.legend = QWidget()
        row = QHBoxLayout(self.legend)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        row.addWidget(QLabel(palette.header_html("Findings")))
        self.boxes: dict[str, QCheckBox] = {}
        for kind, label in KINDS:
            color, symbol = palette.FINDING_STYLES[kind]
            box = QCheckBox()
            box.setChecked(True)
            box.setStyleSheet(f"QCheckBox {{ color: {color}; }}")
            box.setToolTip(f"show or hide the {label} findings (marks above and the Findings list)")
            box.toggled.connect(lambda shown, kind=kind: self._toggled(kind, shown))
            box.hide()
            row.addWidget(box)
            self.boxes[kind] = box
        row.addStretch(1)
        self.legend.hide()

    def attach(self, tracker) -> None:
        """Show the findings of `tracker` (a FindingsTracker), now and whenever they change."""
        self.tracker = tracker
        tracker.changed.connect(self.redraw)
        self.redraw()

    def _toggled(self, kind: str, shown: bool) -> None:
        if self.tracker is not None:
            self.tracker.set_shown(kind, shown)

    def redraw(self) -> None:
        tracker = self.tracker
        if tracker is None:
            return
        self._shown = sorted(tracker.shown(), key=lambda f: f.batch)
        self._batches = np.array([f.batch for f in self._shown], dtype=float)
        for kind, item in self.items.items():
            x = [f.batch for f in self._shown if f.kind == kind]
            item.setData(x=x, y=np.zeros(len(x)))
        counts = tracker.counts()
        for kind, box in self.boxes.items():
            glyph = palette.FINDING_GLYPHS[palette.FINDING_STYLES[kind][1]]
            box.setText(f"{glyph} {LEGEND_NAMES[kind]} {counts[kind]:,}")
            box.setVisible(counts[kind] > 0)
            box.blockSignals(True)
            box.setChecked(kind not in tracker.hidden)
            box.blockSignals(False)
        self.legend.setVisible(any(counts.values()))  # the row takes room only when there is something to name
        self._place()

    def _top(self) -> float:
        """The y (view coordinates) of the symbols' centres."""
        vb = self.plot.vb
        return vb.viewRange()[1][1] - TOP_PIXELS * vb.viewPixelSize()[1]

    def _place(self, *_) -> None:
        y = self._top()
        for item in self.items.values():
            item.setPos(0, y)

    def finding_near(self, pos: QPointF) -> Finding | None:
        """The shown finding whose symbol is within a few pixels of scene position `pos`, if any."""
        vb = self.plot.vb
        if not len(self._batches) or not vb.sceneBoundingRect().contains(pos):
            return None
        point = vb.mapSceneToView(pos)
        px, py = vb.viewPixelSize()
        if abs(point.y() - self._top()) > NEAR_PIXELS * py:
            return None
        i = int(np.searchsorted(self._batches, point.x()))
        candidates = [c for c in (i - 1, i) if 0 <= c < len(self._batches)]
        best = min(candidates, key=lambda c: abs(self._batches[c] - point.x()))
        return self._shown[best] if abs(self._batches[best] - point.x()) <= NEAR_PIXELS * px else None

    def scene_position(self, batch: float) -> QPointF:
        """Where the symbol of a finding at `batch` sits in the scene (for tests)."""
        return self.plot.vb.mapViewToScene(QPointF(batch, self._top()))

    def drawn(self) -> dict[str, np.ndarray]:
        """Batch numbers of the drawn symbols per kind (hidden kinds: none), for tests and exports."""
        return {kind: np.asarray(item.getData()[0], dtype=float) for kind, item in self.items.items()}
