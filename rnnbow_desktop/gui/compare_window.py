"""The "Compare sessions" window: sessions side by side, aligned by training batch, under two overlaid horizon plots."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QSizePolicy, QSpinBox, QSplitter,
    QVBoxLayout, QWidget,
)

from ..core.errors import RnnbowError
from ..storage.compare import horizon_over_training, horizon_profile, smooth
from ..storage.record_store import RecordStore
from .dialogs.errors import show_error_dialog
from .gradient_views import EXPORT_SUFFIXES, MODE_ITEMS, SCALE_ITEMS, _vector_items
from .selection import SelectionModel
from .views import palette
from .views.horizon import HorizonView
from .views.labels import LabelsView
from .views.overview import OverviewView
from .views.stacked_bars import StackedBarsView
from .views.stacked_bars import legend_html as bar_legend_html

# One colour per session, the same in every plot, the legend and the column headers. Mostly Okabe–Ito
# hues (told apart with the common colour-vision deficiencies); the first three avoid the views' greens.
SESSION_COLORS = ("#0072b2", "#d55e00", "#8e44ad", "#009e73", "#b8860b", "#555555")
PROFILE_RANGES = (
    ("whole", "whole training"),
    ("last", "last 20% of training"),
    ("around", "around the selected batch (±500 batches)"),
)
PROFILE_STATISTICS = (
    ("mean", "all gradient (pooled mean)"),
    ("median", "typical batch (median)"),
)
LAST_FRACTION = 0.2
AROUND_BATCHES = 500
SMOOTHING_DIVISIONS = 50  # the horizon-over-training curves average over 1/50 of the longest session
PROFILE_RECORDS = 2000  # records read per profile, however long the session
CURVE_POINTS = 20000  # points per horizon-over-training curve
TOP_SHARE = 35  # percent of the height given to the two overlaid plots


def session_label(path, cell: str) -> str:
    """How a session is named everywhere in the comparison: its file name and its cell."""
    return f"{Path(path).name} ({cell})"


def open_stores(paths) -> tuple[list[RecordStore], list[str]]:
    """Open every session that can be read; one message per file that cannot (which is skipped)."""
    stores, problems = [], []
    for path in paths:
        path = Path(path)
        try:
            store = RecordStore.open(path)
        except RnnbowError as exc:
            problems.append(str(exc))
            continue
        except OSError as exc:  # the file vanished or cannot be read at all
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if not len(store):
            problems.append(f"{path}: no batch was recorded in this session")
            store.close()
            continue
        stores.append(store)
    return stores, problems


@dataclass(eq=False)
class ComparedSession:
    """One session of the comparison: its records, its own selection model and its colour."""

    path: Path
    store: RecordStore
    selection: SelectionModel
    color: str

    @property
    def cell(self) -> str:
        return self.store.config.cell

    @property
    def label(self) -> str:
        return session_label(self.path, self.cell)


def _batch_or_none(store: RecordStore, index) -> int | None:
    return None if index is None or not 0 <= index < len(store) else int(store.batches[index])


class BatchLink(QObject):
    """Keeps every session on the same training batch: a preview, a selection or a hovered loss step in
    one session is repeated in the others (at the record nearest that batch: sessions may record at
    different intervals). The guard flag stops the echo of our own changes from starting another round.
    """

    selectedBatchChanged = Signal(object)  # int | None: the batch every session was aligned to
    previewBatchChanged = Signal(object)  # int | None

    def __init__(self, sessions: list[ComparedSession], parent=None):
        super().__init__(parent)
        self.sessions = list(sessions)
        self.selected_batch: int | None = None
        self.preview_batch: int | None = None
        self._busy = False
        for i, s in enumerate(self.sessions):
            s.selection.previewChanged.connect(partial(self._preview_from, i))
            s.selection.selectedChanged.connect(partial(self._selected_from, i))
            s.selection.hoveredLossChanged.connect(partial(self._hovered_from, i))

    # -- from one session to all ------------------------------------------------------------------------
    def _preview_from(self, i: int, index) -> None:
        if not self._busy:
            self.set_preview_batch(_batch_or_none(self.sessions[i].store, index))

    def _selected_from(self, i: int, index) -> None:
        if not self._busy:
            batch = _batch_or_none(self.sessions[i].store, index)
            if batch is not None:
                self.select_batch(batch)

    def _hovered_from(self, i: int, t) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            for j, s in enumerate(self.sessions):
                if j != i:
                    fits = t is None or t < s.store.config.seq_length
                    s.selection.set_hovered_loss(t if fits else None)
        finally:
            self._busy = False

    # -- to all sessions --------------------------------------------------------------------------------
    def set_preview_batch(self, batch: int | None) -> None:
        """Preview (as the overview's hover does) the record nearest `batch` in every session; None ends it."""
        self._busy = True
        try:
            for s in self.sessions:
                s.selection.set_preview(None if batch is None else s.store.nearest_index(batch))
        finally:
            self._busy = False
        if batch != self.preview_batch:
            self.preview_batch = batch
            self.previewBatchChanged.emit(batch)

    def select_batch(self, batch: int, user: bool = True) -> None:
        """Select the record nearest `batch` in every session."""
        batch = int(batch)
        self._busy = True
        try:
            for s in self.sessions:
                s.selection.select(s.store.nearest_index(batch), user=user)
        finally:
            self._busy = False
        if batch != self.selected_batch:
            self.selected_batch = batch
            self.selectedBatchChanged.emit(batch)

    def step(self, delta: int) -> None:
        """Select the next (delta > 0) or previous recorded batch of any session: ←/→ move all together."""
        current = self.selected_batch
        if current is None:
            return
        candidates = []
        for s in self.sessions:
            batches = s.store.batches
            if delta > 0:
                i = int(np.searchsorted(batches, current, side="right"))
                if i < len(batches):
                    candidates.append(int(batches[i]))
            else:
                i = int(np.searchsorted(batches, current, side="left"))
                if i > 0:
                    candidates.append(int(batches[i - 1]))
        if candidates:
            self.select_batch(min(candidates) if delta > 0 else max(candidates))

    def select_end(self, last: bool) -> None:
        """Home/End: the first or last batch any session recorded."""
        ends = [int(s.store.batches[-1] if last else s.store.batches[0]) for s in self.sessions]
        self.select_batch(max(ends) if last else min(ends))


# -- the two overlaid plots ------------------------------------------------------------------------------

def _header(title: str, note: str) -> QLabel:
    label = QLabel(palette.header_html(title, note))
    label.setWordWrap(True)
    return label


def _style_overlay(plot: pg.PlotItem) -> None:
    palette.style_plot(plot)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)


def legend_html(sessions: list[ComparedSession]) -> str:
    """The key to both plots and the columns: one colour per session, named by file and cell."""
    items = [
        f'<span style="color:{s.color}; font-size:x-large">▬</span>&nbsp;<b>{html.escape(s.label)}</b>'
        for s in sessions
    ]
    return "&nbsp;&nbsp;&nbsp;&nbsp; ".join(items)


class ProfilePlot(QWidget):
    """(a) The horizon profile of every session: relative gradient magnitude against distance t − j."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sessions: list[ComparedSession] = []
        self.profiles: list = []  # HorizonProfile | None per session, as drawn
        self.selected_batch: int | None = None

        self.header = _header(
            "Horizon profile: how much of a loss's gradient reaches back t − j steps",
            "‖G[t, j]‖ at each distance, relative to the local loss's own part (t = j)",
        )
        self.range_combo = QComboBox()
        for key, text in PROFILE_RANGES:
            self.range_combo.addItem(text, key)
        self.range_combo.setToolTip("which recorded batches the profile averages over")
        self.range_combo.currentIndexChanged.connect(self.refresh)
        self.statistic_combo = QComboBox()
        for key, text in PROFILE_STATISTICS:
            self.statistic_combo.addItem(text, key)
        self.statistic_combo.setToolTip(
            "all gradient: the mean magnitude at each distance over all batches, relative to the mean local part "
            "(what the summed updates are made of; a few exploding batches can dominate it)\n"
            "typical batch: each batch's own profile, relative to its own local part; the median over batches"
        )
        self.statistic_combo.currentIndexChanged.connect(self.refresh)
        self.log_box = QCheckBox("log scale")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("gradients fade roughly exponentially with distance: a log axis shows the rate")
        self.log_box.toggled.connect(self._apply_log)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("profile over"))
        controls.addWidget(self.range_combo)
        controls.addWidget(QLabel("of"))
        controls.addWidget(self.statistic_combo)
        controls.addStretch(1)
        controls.addWidget(self.log_box)

        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.plot = self.plot_widget.getPlotItem()
        _style_overlay(self.plot)
        self.plot.setLabel("bottom", "distance t − j (steps back)")
        self.plot.setLabel("left", "relative magnitude (1 = local loss)")
        self.curves: list[pg.PlotDataItem] = []

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.note)

    def set_sessions(self, sessions: list[ComparedSession]) -> None:
        self.sessions = list(sessions)
        for s in self.sessions:
            curve = pg.PlotDataItem(pen=pg.mkPen(s.color, width=2), name=s.label)
            self.plot.addItem(curve)
            self.curves.append(curve)
        self.refresh()

    def range_key(self) -> str:
        return self.range_combo.currentData()

    def set_range(self, key: str) -> None:
        index = self.range_combo.findData(key)
        if index < 0:
            raise ValueError(f"unknown profile range {key!r}; choose {', '.join(k for k, _ in PROFILE_RANGES)}")
        self.range_combo.setCurrentIndex(index)

    def statistic(self) -> str:
        return self.statistic_combo.currentData()

    def set_statistic(self, key: str) -> None:
        index = self.statistic_combo.findData(key)
        if index < 0:
            raise ValueError(f"unknown statistic {key!r}; choose {', '.join(k for k, _ in PROFILE_STATISTICS)}")
        self.statistic_combo.setCurrentIndex(index)

    def set_selected_batch(self, batch) -> None:
        self.selected_batch = batch
        if self.range_key() == "around":
            self.refresh()

    def batch_range(self, s: ComparedSession) -> tuple[int | None, int | None]:
        """First and last batch the profile of session `s` averages over, for the chosen range."""
        key = self.range_key()
        if key == "last":
            trained = int(s.store.batches[-1]) + 1
            return int((1 - LAST_FRACTION) * trained), None
        if key == "around" and self.selected_batch is not None:
            return self.selected_batch - AROUND_BATCHES, self.selected_batch + AROUND_BATCHES
        return None, None

    def refresh(self, *_) -> None:
        self.profiles = []
        notes = []
        ranges = set()
        for s, curve in zip(self.sessions, self.curves):
            first, last = self.batch_range(s)
            try:
                profile = horizon_profile(s.store.session, first, last, max_records=PROFILE_RECORDS,
                                          statistic=self.statistic())
            except RnnbowError:
                profile = None
            self.profiles.append(profile)
            if profile is None:
                curve.setData([], [])
                notes.append(f'<span style="color:{s.color}">■</span> {html.escape(s.cell)}: no records in this range')
                continue
            curve.setData(profile.distance.astype(float), profile.relative)
            lo, hi = profile.batch_range
            ranges.add((lo, hi, profile.records_used))
            notes.append(
                f'<span style="color:{s.color}">■</span> {html.escape(s.cell)}: batches {lo:,}–{hi:,} '
                f"({profile.records_used:,} records)"
            )
        if len(ranges) == 1 and all(p is not None for p in self.profiles):
            lo, hi, used = ranges.pop()  # the usual case: sessions trained alike
            text = f"averaged over batches {lo:,}–{hi:,} ({used:,} records each)"
        else:
            text = "averaged over: " + " &nbsp; ".join(notes)
        self.note.setText(f'<span style="color:{palette.MUTED}">{text}</span>')
        self._apply_log()

    def _apply_log(self, *_) -> None:
        self.plot.setLogMode(False, self.log_box.isChecked())
        self.plot.enableAutoRange()


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

        self.header = _header(
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

        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.plot = self.plot_widget.getPlotItem()
        _style_overlay(self.plot)
        self.plot.setLabel("bottom", "training batch")
        self.plot.setLabel("left", "effective horizon (steps)")
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

        self.readout = QLabel()
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.readout)

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
            smoothed = smooth(horizon, window)
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


# -- one column per session -------------------------------------------------------------------------------

def _let_fill_row(layout, label: QLabel) -> bool:
    """Give a view's heading the spare width of its row (a wrapped label otherwise takes only its hint)."""
    if layout.indexOf(label) >= 0:
        layout.setStretchFactor(label, 10)  # against the row's stretch (1) that pushes the options right
        return True
    return any(
        _let_fill_row(layout.itemAt(i).layout(), label)
        for i in range(layout.count()) if layout.itemAt(i).layout() is not None
    )


class SessionColumn(QWidget):
    """Views 1–4 of one session (labels, bars, horizon of one loss, overview) under a header naming it."""

    def __init__(self, session: ComparedSession, parent=None):
        super().__init__(parent)
        self.session = session
        store, selection = session.store, session.selection
        cfg = store.config
        every = f"every {cfg.record_every} batches" if cfg.record_every > 1 else "every batch"
        self.header = QLabel(
            f'<span style="color:{session.color}; font-size:large">■</span> '
            f'<b style="color:{session.color}">{html.escape(session.label)}</b>'
            f'&nbsp; <span style="color:{palette.MUTED}">hidden {cfg.hidden_size} · n = {cfg.seq_length} · '
            f"{len(store):,} records</span>"
        )
        self.header.setToolTip(f"{session.path}\nrecorded {every}")
        self.header.setWordWrap(True)
        self.labels = LabelsView(selection)
        self.bars = StackedBarsView(selection)
        self.horizon = HorizonView(selection)
        self.overview = OverviewView(selection)
        self.labels.plot.setXLink(self.bars.plot)
        # In this session's colour, so its strip matches its curve in the plot above.
        self.overview.horizon_curve.setPen(pg.mkPen(session.color, width=1))
        # Narrow columns: long header and info lines wrap instead of widening the window.
        self.bars.legend.hide()  # one colour key for all columns sits in the window's option bar
        # The overview's strips are too low here for their rotated axis names; the heading names them.
        self.overview.header.setText(palette.header_html(
            "4 · Overview: max gradient, horizon", "hover previews, click selects (all sessions)"))
        for plot in (self.overview.plot, self.overview.horizon_plot):
            plot.getAxis("left").showLabel(False)
        for label in (self.overview.info, self.bars.header, self.horizon.header,
                      self.horizon.truncation_header, self.overview.header, self.labels.header):
            label.setWordWrap(True)
        for view in (self.bars, self.horizon):
            _let_fill_row(view.layout(), view.header)
        # Two lines kept for the hovered loss's longer heading, so hovering does not shift the plots.
        self.horizon.header.setMinimumHeight(2 * self.horizon.header.fontMetrics().lineSpacing())
        # The views' size hints ask for a whole window each; here the stretch factors below share the height.
        self.labels.setFixedHeight(self.labels.minimumSizeHint().height())
        for view in (self.bars, self.horizon, self.overview):
            view.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.overview.graphics.setMinimumHeight(90)
        # Narrow plots: a shorter hint, and the ε label moved in from the right edge, where it was cut.
        self.horizon.hint.setText("hover a bar segment above")
        self.horizon.epsilon_line.label.setPosition(0.7)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.labels)
        layout.addWidget(self.bars, 5)
        layout.addWidget(self.horizon, 3)
        layout.addWidget(self.overview, 3)

        n = cfg.seq_length
        if selection.horizon_k > n:
            selection.set_horizon_k(n)
        for view in (self.labels, self.bars, self.horizon, self.overview):
            view.set_store(store)
        selection.select(len(store) - 1, user=False)


# -- the window ----------------------------------------------------------------------------------------------

class CompareWindow(QMainWindow):
    """Two or more sessions side by side with linked hover and selection, under (a) the horizon profiles
    and (b) the effective horizon over training of all of them."""

    def __init__(self, paths, parent=None, profile_over: str = "whole", profile_statistic: str = "mean"):
        super().__init__(parent)
        self.errors: list[str] = []
        self.sessions: list[ComparedSession] = []
        self.columns: list[SessionColumn] = []
        self.link: BatchLink | None = None
        self.profile_plot: ProfilePlot | None = None
        self.horizon_plot: HorizonTrainingPlot | None = None
        self._shown = False

        paths = [Path(p) for p in paths]
        stores, problems = open_stores(paths)
        for i, store in enumerate(stores):
            selection = SelectionModel(self)
            selection.set_follow_live(False)
            path = Path(store.session.path)
            self.sessions.append(ComparedSession(path, store, selection, SESSION_COLORS[i % len(SESSION_COLORS)]))

        self.content = QWidget()
        palette.light_palette(self.content)
        self.setCentralWidget(self.content)
        self._build_menus()
        if len(self.sessions) >= 2:
            self._build(profile_over, profile_statistic)
        else:
            self._build_empty(len(paths))
        self._set_title()
        self.resize(1600, 1000)

        if problems:
            skipped = "\n".join(f"• {p}" for p in problems)
            opened = len(self.sessions)
            if opened >= 2:
                self.show_error(f"Skipped {len(problems)} of {len(paths)} sessions:\n{skipped}",
                                "Some sessions could not be opened")
            else:
                self.show_error(f"{skipped}\n\nComparing needs at least two readable sessions; "
                                f"{opened} could be opened.", "Not enough sessions to compare")
        elif len(self.sessions) < 2:
            self.show_error(f"Comparing needs at least two sessions; {len(self.sessions)} given.",
                            "Not enough sessions to compare")

    # -- building ------------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.export_action = self._action(file_menu, "&Export Image…", self.export_dialog, QKeySequence("Ctrl+E"))
        file_menu.addSeparator()
        self._action(file_menu, "&Close", self.close, QKeySequence.StandardKey.Close)
        go = self.menuBar().addMenu("&Go")
        self.prev_action = self._action(go, "&Previous Batch (all sessions)", lambda: self._step(-1), Qt.Key.Key_Left)
        self.next_action = self._action(go, "&Next Batch (all sessions)", lambda: self._step(1), Qt.Key.Key_Right)
        self._action(go, "&First Batch", lambda: self._end(False), Qt.Key.Key_Home)
        self._action(go, "&Last Batch", lambda: self._end(True), Qt.Key.Key_End)

    def _action(self, menu, text, slot, shortcut) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_toolbar(self) -> QHBoxLayout:
        """Display options shared by every column (each session's own selection model gets them)."""
        row = QHBoxLayout()
        self.mode_combo = QComboBox()
        for key, text in MODE_ITEMS:
            self.mode_combo.addItem(text, key)
        self.mode_combo.currentIndexChanged.connect(
            lambda i: self._for_all(lambda s: s.set_mode(self.mode_combo.itemData(i))))
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, min(s.store.config.seq_length for s in self.sessions))
        self.k_spin.setValue(min(5, self.k_spin.maximum()))
        self.k_spin.setToolTip("how many loss offsets t − j get their own colour; the rest form the \"≥ k\" segment")
        self.k_spin.valueChanged.connect(lambda k: self._for_all(lambda s: s.set_horizon_k(k)))
        self.k_spin.valueChanged.connect(self._update_bar_key)
        self.scale_combo = QComboBox()
        for key, text in SCALE_ITEMS:
            self.scale_combo.addItem(text, key)
        self.scale_combo.currentIndexChanged.connect(
            lambda i: self._for_all(lambda s: s.set_scale(self.scale_combo.itemData(i))))
        for widget in (QLabel("all sessions: show"), self.mode_combo, QLabel("separate offsets k"), self.k_spin,
                       QLabel("bar scale"), self.scale_combo):
            row.addWidget(widget)
        row.addStretch(1)
        self.bar_key = QLabel()
        self.bar_key.setToolTip("the colours of the bars in view 2: which loss (how many steps t − j later) each part comes from")
        row.addWidget(self.bar_key)
        self._update_bar_key()
        return row

    def _update_bar_key(self, *_) -> None:
        n = min(s.store.config.seq_length for s in self.sessions)
        self.bar_key.setText("bars: " + bar_legend_html(self.k_spin.value(), n))

    def _for_all(self, change) -> None:
        for s in self.sessions:
            change(s.selection)

    def _build(self, profile_over: str, profile_statistic: str) -> None:
        # Columns first: each selects its own last record, before the link would echo that to the others.
        for s in self.sessions:
            self.columns.append(SessionColumn(s))
        self.link = BatchLink(self.sessions, self)
        self.profile_plot = ProfilePlot()
        self.profile_plot.set_range(profile_over)
        self.profile_plot.set_statistic(profile_statistic)
        self.horizon_plot = HorizonTrainingPlot(self.link)
        self.profile_plot.set_sessions(self.sessions)
        self.horizon_plot.set_sessions(self.sessions)
        self.link.selectedBatchChanged.connect(self.profile_plot.set_selected_batch)

        self.legend = QLabel(legend_html(self.sessions))
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setToolTip(
            "hover or click a batch in any overview or in (b): every session shows its record nearest that batch; "
            "←/→ step all sessions together"
        )
        plots = QHBoxLayout()
        plots.setSpacing(16)
        plots.addWidget(self._titled("a", self.profile_plot), 1)
        plots.addWidget(self._titled("b", self.horizon_plot), 1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        top_layout.addWidget(self.legend)
        top_layout.addLayout(plots, 1)

        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.setSpacing(0)
        for i, column in enumerate(self.columns):
            if i:
                rule = QFrame()
                rule.setFrameShape(QFrame.Shape.VLine)
                rule.setStyleSheet("color: #d0d0d0")
                bottom_layout.addWidget(rule)
            bottom_layout.addWidget(column, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(splitter, 1)

        # Start aligned: the last batch every session has reached.
        self.link.select_batch(min(int(s.store.batches[-1]) for s in self.sessions), user=False)

    @staticmethod
    def _titled(letter: str, widget: QWidget) -> QWidget:
        """Prefix the plot's header with its letter, so the README and help can refer to (a) and (b)."""
        widget.header.setText(widget.header.text().replace("<b>", f"<b>({letter}) ", 1))
        return widget

    def _build_empty(self, given: int) -> None:
        layout = QVBoxLayout(self.content)
        self.empty_label = QLabel(
            f"<p align='center'>Comparing needs at least two readable sessions; "
            f"{len(self.sessions)} of the {given} given could be opened.</p>"
            "<p align='center'>Choose two or more session files (for example the same corpus trained with "
            "rnn, lstm and gru).</p>"
        )
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label, 1)
        self.export_action.setEnabled(False)

    def _set_title(self) -> None:
        names = ", ".join(s.label for s in self.sessions) or "no sessions"
        self.setWindowTitle(f"Compare: {names} — RNNbow")

    # -- actions ---------------------------------------------------------------------------------------------
    def _step(self, delta: int) -> None:
        if self.link is not None:
            self.link.step(delta)

    def _end(self, last: bool) -> None:
        if self.link is not None:
            self.link.select_end(last)

    def show_error(self, message: str, title: str = "Cannot compare these sessions"):
        """Tell the user in a (non-blocking) dialog; the message is kept in `errors` too."""
        self.errors.append(message)
        return show_error_dialog(self, title, message)

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", "comparison.png",
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if not path:
            return
        try:
            self.export(path)
        except RnnbowError as exc:
            self.show_error(str(exc), "Export failed")

    def export(self, path) -> Path:
        """Write the window's content (plots and columns, without the menu bar) to a PNG or SVG file."""
        return export_widget(self.content, path, "RNNbow comparison", self.windowTitle())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.columns and not self._shown:
            # Only now is the height known; sizes set earlier are replaced by the size hints.
            self._shown = True
            height = self.splitter.height()
            self.splitter.setSizes([height * TOP_SHARE // 100, height - height * TOP_SHARE // 100])

    def closeEvent(self, event) -> None:
        self.close_sessions()
        super().closeEvent(event)

    def close_sessions(self) -> None:
        for s in self.sessions:
            s.store.close()

    def sizeHint(self) -> QSize:
        return QSize(1600, 1000)


def run_compare_window(paths, profile_over: str = "whole", profile_statistic: str = "mean", batch: int | None = None,
                       hover_step: int | None = None, size: tuple[int, int] | None = None) -> int:
    """Show the comparison of `paths` as the application's window (`rnnbow compare`, `rnnbow demo`) until it is closed.

    The caller has checked that there is a display. `batch` aligns every session on that training
    batch; `hover_step` shows that loss step hovered (its horizon in every column's view 3).
    """
    from .app import _application, _report_unexpected_errors, _schedule_test_quit

    app = _application()
    window = CompareWindow(paths, profile_over=profile_over, profile_statistic=profile_statistic)
    if size is not None:
        window.resize(*size)
    if batch is not None and window.link is not None:
        window.link.select_batch(batch, user=False)
    if hover_step is not None and window.link is not None:
        window.sessions[0].selection.set_hovered_loss(hover_step)  # the link repeats it in the others
    _report_unexpected_errors(window)
    window.show()
    failures = _schedule_test_quit(app, window)  # RNNBOW_QUIT_AFTER_MS / RNNBOW_SCREENSHOT, as for `rnnbow gui`
    code = app.exec()
    return 1 if failures else code


def export_widget(widget: QWidget, path, title: str, description: str) -> Path:
    """Paint `widget` as it looks now into a PNG (exactly its pixel size) or an SVG, chosen by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise RnnbowError(f"{path}: unknown image type {path.suffix or '(none)'!r}; use .png or .svg")
    if not path.parent.is_dir():
        raise RnnbowError(f"{path}: folder {path.parent} does not exist")
    size = widget.size()
    if suffix == ".png":
        # Not grab(): it scales by the screen's device pixel ratio, and the size asked for is the size wanted.
        image = QImage(size, QImage.Format.Format_ARGB32)
        image.fill(QColor(palette.BACKGROUND))
        painter = QPainter(image)
        try:
            widget.render(painter, QPoint(0, 0))
        finally:
            painter.end()
        ok = image.save(str(path))
    else:
        from PySide6.QtSvg import QSvgGenerator

        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(size)
        generator.setResolution(96)
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
        generator.setTitle(title)
        generator.setDescription(description)
        painter = QPainter()
        ok = painter.begin(generator)
        if ok:
            try:
                with _vector_items(widget):
                    widget.render(painter, QPoint(0, 0))
            finally:
                ok = painter.end()
    if not ok or not path.exists() or path.stat().st_size == 0:
        raise RnnbowError(f"{path}: could not write the image")
    return path
