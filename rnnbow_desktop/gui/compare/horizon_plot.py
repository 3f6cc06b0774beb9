"""(b) of the comparison: the effective horizon of every session over training; hover previews and click selects a batch in all."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

from ...analysis.compare import horizon_over_training
from ...analysis.smoothing import moving_average
from ..views import palette
from .batch_link import BatchLink
from .overlay import header_label, overlay_panel
from .sessions import ComparedSession

SMOOTHING_DIVISIONS = 50  # the horizon-over-training curves average over 1/50 of the longest session
CURVE_POINTS = 20000  # points per horizon-over-training curve


class HorizonTrainingPlot(QWidget):
    """(b) The effective horizon of every session over training; hover previews and click selects a batch in all."""

    def __init__(self, link: BatchLink, parent=None):
        super().__init__(parent)
        self.link = link
        self.sessions: list[ComparedSession] = []
        self.raw: list[tuple[np.ndarray, np.ndarray]] = []  # (batch, horizon) per session, as read
        self.smoothed: list[np.ndarray] = []
        self.windows: list[int] = []  # smoothing window (points) per session
        self.span_batches = 1

        self.header = header_label(
            "Effective horizon over training",
            "smallest k whose truncation error e(k) ≤ ε; hover to preview a batch in every session, click to select it",
        )
        self.raw_box = QCheckBox("show every record")
        self.raw_box.setToolTip("draw the unsmoothed horizon of every record as a faint line")
        self.raw_box.toggled.connect(self._show_raw)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        self.smoothing_label = QLabel()
        controls.addWidget(self.smoothing_label)
        controls.addStretch(1)
        controls.addWidget(self.raw_box)

        self.plot_widget, self.plot, self.readout = overlay_panel(
            self, self.header, controls, "training batch", "effective horizon (steps)")
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.raw_curves: list[pg.PlotDataItem] = []
        self.curves: list[pg.PlotDataItem] = []
        self.selected_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.SELECTED, width=2))
        self.preview_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.PREVIEW, width=1, style=Qt.PenStyle.DashLine))
        for line in (self.selected_line, self.preview_line):
            line.setZValue(5)
            line.hide()
            self.plot.addItem(line, ignoreBounds=True)

        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)
        self.plot_widget.installEventFilter(self)
        link.selectedBatchChanged.connect(self._draw_markers)
        link.previewBatchChanged.connect(self._draw_markers)

    def set_sessions(self, sessions: list[ComparedSession]) -> None:
        self.sessions = list(sessions)
        longest = max(int(s.store.batches[-1]) + 1 for s in self.sessions)
        self.span_batches = max(1, longest // SMOOTHING_DIVISIONS)
        for s in self.sessions:
            batches, horizon = horizon_over_training(s.store.session, max_points=CURVE_POINTS)
            spacing = float(np.median(np.diff(batches))) if len(batches) > 1 else 1.0
            window = max(1, round(self.span_batches / spacing))
            smoothed = moving_average(horizon, window)
            self.raw.append((batches, horizon))
            self.smoothed.append(smoothed)
            self.windows.append(window)
            faint = QColor(s.color)
            faint.setAlpha(70)
            raw_curve = pg.PlotDataItem(batches, horizon.astype(float), pen=pg.mkPen(faint, width=1))
            raw_curve.setVisible(self.raw_box.isChecked())
            curve = pg.PlotDataItem(batches, smoothed, pen=pg.mkPen(s.color, width=2), name=s.label)
            self.plot.addItem(raw_curve)
            self.plot.addItem(curve)
            self.raw_curves.append(raw_curve)
            self.curves.append(curve)
        self.smoothing_label.setText(
            f'<span style="color:{palette.MUTED}">each point: mean of the previous {self.span_batches:,} '
            f"batch{'es' if self.span_batches > 1 else ''}</span>"
        )
        self._draw_markers()

    def _show_raw(self, on: bool) -> None:
        for curve in self.raw_curves:
            curve.setVisible(on)

    def smoothed_at(self, i: int, batch: int) -> float:
        batches = self.raw[i][0]
        k = max(0, min(len(batches) - 1, int(np.searchsorted(batches, batch, side="right")) - 1))
        return float(self.smoothed[i][k])

    def _draw_markers(self, *_) -> None:
        for line, batch in ((self.selected_line, self.link.selected_batch), (self.preview_line, self.link.preview_batch)):
            if batch is None:
                line.hide()
            else:
                line.setPos(batch)
                line.show()
        self._update_readout()

    def readout_text(self) -> str:
        batch = self.link.preview_batch if self.link.preview_batch is not None else self.link.selected_batch
        if batch is None or not self.sessions:
            return ""
        parts = []
        for i, s in enumerate(self.sessions):
            shown = s.selection.shown
            record_horizon = int(s.store.horizon[shown]) if shown is not None else None
            parts.append(
                f'<span style="color:{s.color}">■</span> {html.escape(s.cell)} '
                f"{self.smoothed_at(i, batch):.1f} steps (this record: {record_horizon})"
            )
        return f"<b>batch {batch:,}</b>: " + " &nbsp; ".join(parts)

    def _update_readout(self) -> None:
        self.readout.setText(self.readout_text())

    # -- mouse: the same linked preview and selection as the columns' overviews ---------------------------
    def _batch_at(self, pos) -> int | None:
        vb = self.plot.vb
        if not self.sessions or not vb.sceneBoundingRect().contains(pos):
            return None
        return int(round(vb.mapSceneToView(pos).x()))

    def _on_mouse_moved(self, args) -> None:
        self.hover_at_scene(args[0])

    def hover_at_scene(self, pos) -> None:
        self.link.set_preview_batch(self._batch_at(pos))

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        batch = self._batch_at(event.scenePos())
        if batch is not None:
            self.link.select_batch(batch)

    def eventFilter(self, obj, event):
        if obj is self.plot_widget and event.type() == QEvent.Type.Leave:
            self._proxy.flush()
            self.link.set_preview_batch(None)
        return super().eventFilter(obj, event)

