"""Area 4: the max gradient of every recorded batch and the effective horizon over training; hover previews, click selects."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtWidgets import QCheckBox, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...core.loss_smoothing import loss_text, per_character
from . import palette
from .finding_markers import ROW_HEIGHT as FINDINGS_ROW_HEIGHT, FindingMarkers

HORIZON_ROW_HEIGHT = 0.3  # share of the plot height given to the horizon strip


def _add_series(plot: pg.PlotItem, pen, **kwargs) -> pg.PlotDataItem:
    """A curve that stays fast at a million points: peak downsampling, drawn only where visible."""
    item = pg.PlotDataItem(pen=pen, **kwargs)
    item.setSkipFiniteCheck(True)
    # Cached as pixels: moving the hover cursor over a million-point curve then only blits it.
    item.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.addItem(item)
    # Set on the plot: PlotItem.addItem overwrites a curve's own downsampling and clipping options.
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    return item


class OverviewView(QWidget):
    """The training at a glance: max gradient per batch (area), effective horizon (strip below)."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None

        self.header = QLabel(palette.header_html(
            "4 · Overview: max gradient per batch, effective horizon below",
            "hover to preview a batch above, click to select it; wheel zooms, drag pans"
        ))
        # Early batches often spike far above the rest; on a log axis both stay readable.
        self.log_box = QCheckBox("log scale")
        self.log_box.setToolTip("Show the max gradient on a logarithmic axis")
        self.log_box.toggled.connect(self.set_log_scale)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(palette.BACKGROUND)
        # Row 0: the findings (hidden until a FindingsTracker is attached with `show_findings`).
        self.findings_plot = self.graphics.addPlot(row=0, col=0)
        self.plot = self.graphics.addPlot(row=1, col=0)
        self.horizon_plot = self.graphics.addPlot(row=2, col=0)
        layout_item = self.graphics.ci.layout
        layout_item.setRowStretchFactor(1, round((1 - HORIZON_ROW_HEIGHT) * 10))
        layout_item.setRowStretchFactor(2, round(HORIZON_ROW_HEIGHT * 10))
        self.findings = FindingMarkers(self.findings_plot)
        self._show_findings_row(False)
        for plot in (self.findings_plot, self.plot, self.horizon_plot):
            palette.style_plot(plot, mouse=True)
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
            # x zooms and pans; y always fits what is visible, so a zoomed-in stretch fills the height.
            plot.setMouseEnabled(x=True, y=False)
            plot.enableAutoRange(axis="y")
            plot.setAutoVisible(y=True)
        self.horizon_plot.setXLink(self.plot)
        self.findings_plot.setXLink(self.plot)
        self.findings_plot.hideAxis("bottom")
        self.findings_plot.getAxis("left").setTicks([[(0, "findings")]])
        self.findings_plot.disableAutoRange(axis="y")
        self.findings_plot.setYRange(-1, 1, padding=0)
        self.plot.hideAxis("bottom")
        # Short axis names: the strips are low, and long vertical labels of neighbours collide.
        self.plot.setLabel("left", "max grad.")
        self.horizon_plot.setLabel("left", "horizon")
        for plot in (self.plot, self.horizon_plot):
            palette.fit_axis_label_on_resize(plot)  # the header names both series when these do not fit
        self.graphics.setMinimumHeight(150)
        self.horizon_plot.setLabel("bottom", "batch")

        self.max_curve = _add_series(self.plot, pg.mkPen(palette.OVERVIEW_LINE, width=1), fillLevel=0, brush=palette.OVERVIEW_FILL)
        self.horizon_curve = _add_series(self.horizon_plot, pg.mkPen(palette.HORIZON_SERIES, width=1))

        self.selected_lines = []
        self.preview_lines = []
        for plot in (self.plot, self.horizon_plot):
            selected = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.SELECTED, width=2))
            preview = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.PREVIEW, width=1, style=Qt.PenStyle.DashLine))
            for line in (selected, preview):
                line.setZValue(5)
                line.hide()
                # Lines are markers, not data: they must not stretch the auto range.
                plot.addItem(line, ignoreBounds=True)
            self.selected_lines.append(selected)
            self.preview_lines.append(preview)

        self.info = QLabel()
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        header_row = QHBoxLayout()
        header_row.setContentsMargins(0, 0, 0, 0)
        # The heading takes all the width the box leaves (it may word-wrap in narrow compare columns).
        header_row.addWidget(self.header, 1)
        header_row.addWidget(self.log_box)
        layout.addLayout(header_row)
        layout.addWidget(self.findings.legend)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)

        scene = self.graphics.scene()
        self._proxy = pg.SignalProxy(scene.sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_clicked)
        self.graphics.installEventFilter(self)

        selection.selectedChanged.connect(self._draw_markers)
        selection.previewChanged.connect(self._draw_markers)
        selection.shownChanged.connect(self._update_info)

    def show_findings(self, tracker) -> None:
        """Mark the findings of `tracker` (a FindingsTracker) in a row above the max gradient, with a legend."""
        self.findings.attach(tracker)
        self._show_findings_row(True)

    def _show_findings_row(self, shown: bool) -> None:
        self.findings_plot.setVisible(shown)
        self.graphics.ci.layout.setRowFixedHeight(0, FINDINGS_ROW_HEIGHT if shown else 0)

    # -- data ----------------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self.records_appended()
        self.plot.enableAutoRange(axis="x")
        self.refresh()

    def refresh(self, *_) -> None:
        self._draw_markers()
        self._update_info()

    def set_log_scale(self, log: bool) -> None:
        """Max gradient on a log10 axis (the fill to zero is dropped: zero has no place on it)."""
        if self.log_box.isChecked() != log:
            self.log_box.setChecked(log)  # comes back here through toggled
            return
        self.max_curve.setFillLevel(None if log else 0)
        self.plot.setLogMode(x=False, y=log)
        self.plot.setLabel("left", "max grad. (log)" if log else "max grad.")
        palette.fit_axis_label(self.plot)
        self.plot.enableAutoRange(axis="y")

    def records_appended(self) -> None:
        """Redraw the series from the store (it grew); the x range follows unless the user zoomed."""
        if self.store is None or not len(self.store):
            self.max_curve.setData([], [])
            self.horizon_curve.setData([], [])
            return
        self.max_curve.setData(self.store.batches, self.store.max_gradient)
        self.horizon_curve.setData(self.store.batches, self.store.horizon)
        self._draw_markers()  # a marker may point at a record that only now arrived

    def _batch_at(self, index) -> float | None:
        if self.store is None or index is None or index >= len(self.store):
            return None
        return float(self.store.batches[index])

    def _draw_markers(self, *_) -> None:
        for lines, index in ((self.selected_lines, self.selection.selected), (self.preview_lines, self.selection.preview)):
            x = self._batch_at(index)
            for line in lines:
                if x is None:
                    line.hide()
                else:
                    line.setPos(x)
                    line.show()

    def info_text(self) -> str:
        """Batch number, corpus character range, max gradient, loss per character and horizon of the shown record."""
        index = self.selection.shown
        if self.store is None or index is None or index >= len(self.store):
            return "no batch recorded yet" if self.store is not None else "no session"
        record = self.store.get(index)
        if record is None:
            return self.store.last_error or f"record {index} cannot be read"
        n = len(record.loss)
        # A recorded PyTorch batch has no place in a corpus; of several layers, say which one is shown.
        where = (f"corpus characters {record.position:,} … {record.position + n:,}" if record.position >= 0
                 else f"layer {self.store.layer} of {self.store.layers}" if self.store.layers > 1 else "")
        text = (
            f"batch {record.batch:,}   ·   " + (f"{where}   ·   " if where else "")
            + f"max gradient {record.max_gradient:.4g}"
            f"   ·   loss {loss_text(per_character(float(record.loss.sum()), n))}"
            f"   ·   horizon {record.horizon} steps"
        )
        if self.selection.preview is not None and self.selection.preview != self.selection.selected:
            text += "   (preview: click to select)"
        return text

    def _update_info(self, *_) -> None:
        self.info.setText(self.info_text())

    # -- mouse ----------------------------------------------------------------------------------------
    def _index_at(self, pos: QPointF) -> int | None:
        """The record of the finding under the mouse, else the one nearest the mouse's x over any of the plots."""
        if self.store is None or not len(self.store):
            return None
        finding = self.findings.finding_near(pos)
        if finding is not None:
            return self.store.nearest_index(finding.batch)
        for plot in (self.findings_plot, self.plot, self.horizon_plot):
            if plot.vb.sceneBoundingRect().contains(pos):
                return self.store.nearest_index(plot.vb.mapSceneToView(pos).x())
        return None

    def _on_mouse_moved(self, args) -> None:
        self.hover_at_scene(args[0])

    def hover_at_scene(self, pos: QPointF) -> None:
        self.selection.set_preview(self._index_at(pos))
        finding = self.findings.finding_near(pos)
        self.findings_plot.vb.setToolTip(f"batch {finding.batch:,}: {finding.reason}" if finding is not None else "")

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self._index_at(event.scenePos())
        if index is not None:
            self.selection.select(index, user=True)
            self._update_info()  # the "(preview …)" note goes away although the shown record stays

    def eventFilter(self, obj, event):
        if obj is self.graphics and event.type() == QEvent.Type.Leave:
            self._proxy.flush()  # a held-back move must not set a preview after the mouse left
            self.selection.set_preview(None)
        return super().eventFilter(obj, event)
