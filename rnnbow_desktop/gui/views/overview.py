"""Area 4: the max gradient of every recorded batch and the effective horizon over training; hover previews, click selects."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...analysis.series_summary import peak_path
from ...core.errors import RnnbowError
from ...core.loss_smoothing import loss_text, per_character
from ..summary_rebuild import SummaryRebuild
from . import palette
from .finding_markers import FindingMarkers

HORIZON_ROW_HEIGHT = 0.3  # share of the plot height given to the horizon strip
REDRAW_MS = 30  # a zoom or pan redraws the series once it has paused this long


def _add_series(plot: pg.PlotItem, pen, **kwargs) -> pg.PlotDataItem:
    """A curve of at most a few thousand points: the store's summary has already reduced the visible records
    to the minimum and maximum of about one block per pixel (see `_draw_series`)."""
    item = pg.PlotDataItem(pen=pen, **kwargs)
    item.setSkipFiniteCheck(True)
    # Cached as pixels: moving the hover cursor or the selected-batch line over the curve then only blits it.
    item.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.addItem(item)
    # No pyqtgraph downsampling or clip-to-view on top of the summary: with them every change of the view
    # range re-processed the data and re-set it, which moved the auto range again, and while training the
    # overview repainted about 30 times a second instead of once per new frame (measured with
    # benchmarks/bench_gui_latency.py; PlotItem.addItem sets these options on each curve, so they are
    # switched off on the plot).
    plot.setDownsampling(auto=False, ds=1)
    plot.setClipToView(False)
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
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.horizon_plot = self.graphics.addPlot(row=1, col=0)
        layout_item = self.graphics.ci.layout
        layout_item.setRowStretchFactor(0, round((1 - HORIZON_ROW_HEIGHT) * 10))
        layout_item.setRowStretchFactor(1, round(HORIZON_ROW_HEIGHT * 10))
        for plot in (self.plot, self.horizon_plot):
            palette.style_plot(plot, mouse=True)
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
            # x zooms and pans; y always fits what is visible, so a zoomed-in stretch fills the height.
            plot.setMouseEnabled(x=True, y=False)
            plot.enableAutoRange(axis="y")
            plot.setAutoVisible(y=True)
        self.horizon_plot.setXLink(self.plot)
        self.plot.hideAxis("bottom")
        # Interesting batches, marked along the top of the max gradient once `show_findings` is called.
        self.findings = FindingMarkers(self.plot)
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
        # The series come from the store's multi-resolution summary at the zoom shown (RecordStore.envelope):
        # redrawn when the visible range changes. A file without a summary gets one rebuilt in the background.
        self._drawn: tuple | None = None  # (store, records, start, stop, blocks) of what the curves show
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._range_changed)
        self.plot.sigXRangeChanged.connect(self._redraw_timer.start)
        self.rebuild = SummaryRebuild(self)
        self.summary_note = QLabel()
        self.summary_note.hide()
        self.rebuild.progressed.connect(self._show_rebuild_progress)
        self.rebuild.done.connect(self._rebuilt)
        self.rebuild.failed.connect(self._rebuild_failed)

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
        layout.addWidget(self.summary_note)
        layout.addWidget(self.info)

        scene = self.graphics.scene()
        self._proxy = pg.SignalProxy(scene.sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_clicked)
        self.graphics.installEventFilter(self)

        selection.selectedChanged.connect(self._draw_markers)
        selection.previewChanged.connect(self._draw_markers)
        selection.shownChanged.connect(self._update_info)

    def show_findings(self, tracker) -> None:
        """Mark the findings of `tracker` (a FindingsTracker) along the top of the max gradient, with a legend
        row under the heading once there are any."""
        self.findings.attach(tracker)

    # -- data ----------------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self._drawn = None
        self.rebuild.cancel()
        self.summary_note.hide()
        if store is not None and store.needs_summary:
            self.rebuild.start(store)
            self._show_rebuild_progress(0.0, f"summarising {len(store):,} records")
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
        self._draw_series()
        self._draw_markers()  # a marker may point at a record that only now arrived

    def _range_changed(self) -> None:
        """The x range changed (a zoom or pan, or the auto range following new data) and has settled.

        Following a growing run, the range changes because new records were drawn; drawing again here with the
        records that arrived since would move the range again, and so on: while training, that loop repainted
        the overview about 20 times a second. Records that arrive are drawn by `records_appended` (the
        window's frame clock); here only the range is redrawn, with the records already on show."""
        following = self.plot.vb.autoRangeEnabled()[0]
        self._draw_series(records=self._drawn[1] if following and self._drawn is not None else None)

    def _draw_series(self, records: int | None = None) -> None:
        """The visible records' max gradient and horizon, a block of records per pixel or so (the minimum
        and maximum of each block, so that no spike is lost), from the store's summary. `records`: draw only
        the first so many (default: all the store has)."""
        store = self.store
        if store is None or store.closed or not len(store):
            self.max_curve.setData([], [])
            self.horizon_curve.setData([], [])
            self._drawn = None
            return
        count = len(store) if records is None else min(records, len(store))
        if self.plot.vb.autoRangeEnabled()[0]:
            start, stop = 0, count  # the whole run; the x range then follows the data
        else:
            start, stop = store.index_range(*self.plot.vb.viewRange()[0])
            stop = min(stop, count)
        blocks_wanted = max(256, int(self.plot.vb.width()))
        drawn = (id(store), count, start, stop, blocks_wanted)
        if drawn == self._drawn:
            return  # e.g. the range change that setting these very data made
        self._drawn = drawn
        try:
            blocks = store.envelope(start, stop, blocks_wanted)
        except (KeyError, IndexError, RnnbowError, OSError) as exc:  # a damaged file, or one closed meanwhile
            self.max_curve.setData([], [])
            self.horizon_curve.setData([], [])
            self.summary_note.setText(f"The overview cannot be drawn: {exc.args[0] if exc.args else type(exc).__name__}")
            self.summary_note.show()
            return
        self.max_curve.setData(*peak_path(blocks, "max_gradient"))
        self.horizon_curve.setData(*peak_path(blocks, "horizon"))

    def _show_rebuild_progress(self, fraction: float, text: str) -> None:
        self.summary_note.setText(f"This file has no overview summary; showing a sample of its records while "
                                  f"one is made: {text} ({fraction:.0%})")
        self.summary_note.show()

    def _rebuild_failed(self, message: str) -> None:
        self.summary_note.setText(f"The overview shows a sample of the records: {message}")

    def _rebuilt(self) -> None:
        self.summary_note.hide()
        self._drawn = None
        self._draw_series()

    def _batch_at(self, index) -> float | None:
        if self.store is None or index is None or index >= len(self.store):
            return None
        return float(self.store.batch_at(index))

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
            f"   ·   loss {loss_text(per_character(float(record.loss.sum()), n), self.store.loss_unit)}"
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
        for plot in (self.plot, self.horizon_plot):
            if plot.vb.sceneBoundingRect().contains(pos):
                return self.store.nearest_index(plot.vb.mapSceneToView(pos).x())
        return None

    def _on_mouse_moved(self, args) -> None:
        self.hover_at_scene(args[0])

    def hover_at_scene(self, pos: QPointF) -> None:
        self.selection.set_preview(self._index_at(pos))
        finding = self.findings.finding_near(pos)
        self.plot.vb.setToolTip(f"batch {finding.batch:,}: {finding.reason}" if finding is not None else "")

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
