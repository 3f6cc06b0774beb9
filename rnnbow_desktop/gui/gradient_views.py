"""The four linked gradient views of the paper's Figure 5 with their option bar, as one embeddable widget."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSignalBlocker, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGraphicsItem, QGraphicsView, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget,
)

from ..core.errors import RnnbowError
from .views import palette
from .views.horizon import HorizonView
from .views.labels import LabelsView
from .views.overview import OverviewView
from .views.stacked_bars import StackedBarsView

MODE_ITEMS = (("magnitude", "magnitude ‖G[t, j]‖"), ("contribution", "contribution (signed, sums to the step)"))
SCALE_ITEMS = (("batch", "per batch"), ("global", "global"), ("recent", "recent window"))
EXPORT_SUFFIXES = (".png", ".svg")


@contextmanager
def _vector_items(widget: QWidget):
    """Switch off pixel caches while painting an SVG, so cached items are written as vectors, not images."""
    saved = []
    for view in widget.findChildren(QGraphicsView):
        saved.append((view, view.cacheMode()))
        view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        for item in view.scene().items():
            if item.cacheMode() != QGraphicsItem.CacheMode.NoCache:
                saved.append((item, item.cacheMode()))
                item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        yield
    finally:
        for obj, mode in saved:
            obj.setCacheMode(mode)


class GradientViews(QWidget):
    """Labels and bars (x-linked), horizon and truncation error, overview; all driven by one SelectionModel."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        palette.light_palette(self)

        self.labels = LabelsView(selection)
        self.bars = StackedBarsView(selection)
        self.horizon = HorizonView(selection)
        self.overview = OverviewView(selection)
        self.labels.plot.setXLink(self.bars.plot)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(self._build_toolbar())
        column = QVBoxLayout()
        column.setSpacing(0)  # labels sit directly on their bars
        column.addWidget(self.labels)
        column.addWidget(self.bars, 1)
        layout.addLayout(column, 5)
        layout.addWidget(self.horizon, 3)
        layout.addWidget(self.overview, 3)

        selection.modeChanged.connect(self._sync_controls)
        selection.horizonKChanged.connect(self._sync_controls)
        selection.scaleChanged.connect(self._sync_controls)
        selection.gateChanged.connect(self._sync_controls)
        selection.followLiveChanged.connect(self._sync_controls)
        self._sync_controls()

    # -- option bar ------------------------------------------------------------------------------------
    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.mode_combo = QComboBox()
        for key, text in MODE_ITEMS:
            self.mode_combo.addItem(text, key)
        self.mode_combo.setToolTip("magnitude: the norm of each part; contribution: its signed share of the step's total gradient")
        self.mode_combo.currentIndexChanged.connect(lambda i: self.selection.set_mode(self.mode_combo.itemData(i)))

        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 25)
        self.k_spin.setToolTip("how many loss offsets t − j get their own colour; the rest form the \"≥ k\" segment")
        self.k_spin.valueChanged.connect(self.selection.set_horizon_k)

        self.scale_combo = QComboBox()
        for key, text in SCALE_ITEMS:
            self.scale_combo.addItem(text, key)
        self.scale_combo.setToolTip(
            "per batch: bars fill the plot; global: one scale for all batches (largest max gradient); "
            "recent window: the largest max gradient of the last 200 records up to the shown one"
        )
        self.scale_combo.currentIndexChanged.connect(lambda i: self.selection.set_scale(self.scale_combo.itemData(i)))

        self.gate_label = QLabel("gate")
        self.gate_combo = QComboBox()
        self.gate_combo.currentIndexChanged.connect(self._gate_chosen)

        self.follow_box = QCheckBox("Follow live")
        self.follow_box.setToolTip("show each new batch as it is trained")
        self.follow_box.toggled.connect(self.selection.set_follow_live)

        for widget in (QLabel("show"), self.mode_combo, QLabel("separate offsets k"), self.k_spin,
                       QLabel("bar scale"), self.scale_combo, self.gate_label, self.gate_combo):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.follow_box)
        self._fill_gates()
        return row

    def _fill_gates(self) -> None:
        with QSignalBlocker(self.gate_combo):
            self.gate_combo.clear()
            self.gate_combo.addItem("All gates", None)
            names = self.store.gate_names if self.store is not None else ()
            for g, name in enumerate(names):
                self.gate_combo.addItem(name, g)
        gated = self.store is not None and self.store.n_gates > 1
        self.gate_label.setVisible(gated)
        self.gate_combo.setVisible(gated)

    def _gate_chosen(self, i: int) -> None:
        self.selection.set_gate(self.gate_combo.itemData(i) if i >= 0 else None)

    def _sync_controls(self, *_) -> None:
        """Selection → controls (the other direction is wired in `_build_toolbar`)."""
        s = self.selection
        for widget, value in ((self.mode_combo, s.mode), (self.scale_combo, s.scale), (self.gate_combo, s.gate)):
            with QSignalBlocker(widget):
                widget.setCurrentIndex(max(0, widget.findData(value)))
        with QSignalBlocker(self.k_spin):
            self.k_spin.setValue(s.horizon_k)
        with QSignalBlocker(self.follow_box):
            self.follow_box.setChecked(s.follow_live)

    # -- the contract with the main window ---------------------------------------------------------------
    def set_store(self, store) -> None:
        """Show a new session (or none): views reset, the last record is selected, previews and hovers cleared."""
        self.store = store
        s = self.selection
        s.set_preview(None)
        s.set_hovered_loss(None)
        if store is not None:
            n = store.config.seq_length
            self.k_spin.setMaximum(n)
            if s.horizon_k > n:
                s.set_horizon_k(n)
        if s.gate is not None and (store is None or s.gate >= store.n_gates):
            s.set_gate(None)
        self._fill_gates()
        self._sync_controls()
        for view in (self.labels, self.bars, self.horizon, self.overview):
            view.set_store(store)
        last = len(store) - 1 if store is not None and len(store) else None
        before = s.shown
        s.select(last, user=False)
        if s.shown == before:
            # Same index as the previous session's: no signal fired, but the data behind it changed.
            for view in (self.labels, self.bars, self.horizon, self.overview):
                view.refresh()

    def records_appended(self) -> None:
        """The store grew: extend the overview (call at most ~30 times a second)."""
        self.overview.records_appended()

    def info_text(self) -> str:
        return self.overview.info_text()

    # -- export --------------------------------------------------------------------------------------------
    def export(self, path) -> Path:
        """Write all four views as they look now to a PNG or SVG file (chosen by the suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in EXPORT_SUFFIXES:
            raise RnnbowError(f"{path}: unknown image type {path.suffix or '(none)'!r}; use .png or .svg")
        if not path.parent.is_dir():
            raise RnnbowError(f"{path}: folder {path.parent} does not exist")
        size = self.size()
        if suffix == ".png":
            # Paint into an image of exactly the widget's size: grab() would scale by the screen's
            # device pixel ratio, and the requested size is what the user asked for.
            image = QImage(size, QImage.Format.Format_ARGB32)
            image.fill(QColor(palette.BACKGROUND))
            painter = QPainter(image)
            try:
                self.render(painter, QPoint(0, 0))
            finally:
                painter.end()  # an image destroyed mid-paint crashes Qt
            ok = image.save(str(path))
        else:
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(path))
            generator.setSize(size)
            generator.setResolution(96)  # CSS pixels: browsers then show it at the widget's pixel size
            generator.setViewBox(QRect(0, 0, size.width(), size.height()))
            generator.setTitle("RNNbow gradient views")
            generator.setDescription(self.info_text())
            painter = QPainter()
            ok = painter.begin(generator)
            if ok:
                try:
                    with _vector_items(self):
                        self.render(painter, QPoint(0, 0))
                finally:
                    ok = painter.end()
        if not ok or not path.exists() or path.stat().st_size == 0:
            raise RnnbowError(f"{path}: could not write the image")
        return path

    def sizeHint(self) -> QSize:
        return QSize(1400, 900)

