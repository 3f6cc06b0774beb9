"""Long sequences in views 1–3: which steps j are shown, a strip of all steps to choose them, and step ticks that never crowd.

Up to `STRIP_FROM` steps a batch is always shown whole, as in the paper. Longer ones (up to n = 512)
start whole too, with labels thinned out; the strip under the bars shows the step gradient of every
step with a band over the steps shown: drag the band, drag its edges, or turn the wheel over the
bars, labels or strip to zoom about the mouse. The range lives in the SelectionModel, so the views
follow it without calling each other.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from . import palette

STRIP_FROM = 64  # longer sequences get the strip and the wheel zoom
MIN_STEPS = 8  # the fewest steps a zoom shows
WHEEL_ZOOM = 0.8  # range width per wheel notch (towards the steps under the mouse)
TICK_SPACINGS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
MIN_TICK_PIXELS = 36  # labelled step ticks at least this far apart
STRIP_HEIGHT = 44


def zoomable(n: int) -> bool:
    return n > STRIP_FROM


def clamp_steps(lo: float, hi: float, n: int) -> tuple[float, float]:
    """The range (lo, hi) moved and cut to lie within the batch's n steps, at least MIN_STEPS wide."""
    full = n  # x from −0.5 to n − 0.5
    width = min(full, max(MIN_STEPS, hi - lo))
    lo = min(max(lo, -0.5), n - 0.5 - width)
    return lo, lo + width


def shown_steps(selection, n: int) -> tuple[float, float]:
    """The x range views 1–3 show for a batch of n steps: the selection's step range, or every step."""
    steps = selection.step_range
    if steps is None or not zoomable(n):
        return -0.5, n - 0.5
    return clamp_steps(steps[0], steps[1], n)


def visible_slice(lo: float, hi: float, n: int) -> slice:
    """The steps j whose bars lie (at least partly) within x range (lo, hi)."""
    return slice(max(0, math.ceil(lo - 0.5)), min(n, math.floor(hi + 0.5) + 1))


def zoom_steps(selection, n: int, centre: float, factor: float) -> None:
    """Narrow (factor < 1) or widen the shown steps about step position `centre`."""
    lo, hi = shown_steps(selection, n)
    new_lo = centre - (centre - lo) * factor
    new_hi = centre + (hi - centre) * factor
    lo, hi = clamp_steps(new_lo, new_hi, n)
    selection.set_step_range(None if hi - lo >= n else (lo, hi))


def step_tick_spacing(lo: float, hi: float, pixels: float) -> tuple[int, int]:
    """(major, minor) tick spacing in steps for a range (lo, hi) drawn `pixels` wide: labels stay apart."""
    per_step = pixels / max(hi - lo, 1e-9)
    major = next((s for s in TICK_SPACINGS if s * per_step >= MIN_TICK_PIXELS), TICK_SPACINGS[-1])
    minor = 1 if major <= 5 else major // 5 if major % 5 == 0 else major // 2
    return major, minor


def fit_step_ticks(plot: pg.PlotItem) -> None:
    """Space the bottom axis's integer step ticks for the plot's current range and width."""
    lo, hi = plot.vb.viewRange()[0]
    plot.getAxis("bottom").setTickSpacing(*step_tick_spacing(lo, hi, max(plot.vb.width(), 1.0)))


def follow_steps(plot: pg.PlotItem, fit_y=None) -> None:
    """Keep `plot`'s step ticks fitted as it is resized or its range changes (and call `fit_y` on range changes)."""
    plot.vb.sigResized.connect(lambda *_: fit_step_ticks(plot))
    plot.vb.sigXRangeChanged.connect(lambda *_: fit_step_ticks(plot))
    if fit_y is not None:
        plot.vb.sigXRangeChanged.connect(lambda *_: fit_y())


class WheelZoom(QObject):
    """Turning the wheel over a static plot zooms the selection's step range about the step under the mouse."""

    def __init__(self, widget: pg.PlotWidget, selection, steps_of):
        super().__init__(widget)
        self.widget = widget
        self.selection = selection
        self.steps_of = steps_of  # () -> n of the shown session, or 0
        widget.viewport().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.Type.Wheel:
            return False
        n = self.steps_of()
        notches = event.angleDelta().y() / 120
        if not zoomable(n) or notches == 0:
            return False
        vb = self.widget.getPlotItem().vb
        centre = vb.mapSceneToView(self.widget.mapToScene(event.position().toPoint())).x()
        zoom_steps(self.selection, n, centre, WHEEL_ZOOM ** notches)
        return True


class StepRangeStrip(QWidget):
    """All steps of the shown batch (their step gradient ‖S_j‖) with a band over the steps views 1–3 show.

    Hidden for sequences of up to STRIP_FROM steps.
    """

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        self.n = 0
        self.header = QLabel()
        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
        self.plot.getAxis("left").setTicks([[]])
        self.plot_widget.setFixedHeight(STRIP_HEIGHT)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1.0, pen=None, brush=palette.OVERVIEW_LINE)
        self.plot.addItem(self.bars)
        self.band = pg.LinearRegionItem(values=(0, 1), orientation="vertical",
                                        brush=pg.mkBrush(47, 111, 223, 50), pen=pg.mkPen(palette.SELECTED, width=1))
        self.band.setZValue(10)
        self.plot.addItem(self.band)
        follow_steps(self.plot)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.plot_widget)

        self.wheel = WheelZoom(self.plot_widget, selection, lambda: self.n)
        self._moving_band = False
        self.band.sigRegionChanged.connect(self._band_moved)
        self.plot_widget.scene().sigMouseClicked.connect(self._clicked)
        selection.shownChanged.connect(self.refresh)
        selection.stepRangeChanged.connect(self._show_range)
        self.setVisible(False)

    def set_store(self, store) -> None:
        self.store = store
        self.n = store.config.seq_length if store is not None else 0
        self.setVisible(zoomable(self.n))
        if zoomable(self.n):
            self.plot.setXRange(-0.5, self.n - 0.5, padding=0)
            self.band.setBounds((-0.5, self.n - 0.5))
        self.refresh()
        self._show_range()

    def refresh(self, *_) -> None:
        if not zoomable(self.n):
            return
        record = self.store.get(self.selection.shown) if self.store is not None else None
        if record is None:
            self.bars.setOpts(x=[], height=[])
            return
        height = np.asarray(record.step_gradient, dtype=float)  # (n,)
        self.bars.setOpts(x=np.arange(len(height), dtype=float), height=height)
        palette.set_y_range(self.plot, 0, float(height.max(initial=0.0)) or 1.0)

    def _show_range(self, *_) -> None:
        if not zoomable(self.n):
            return
        lo, hi = shown_steps(self.selection, self.n)
        self._moving_band = True
        self.band.setRegion((lo, hi))
        self._moving_band = False
        first, last = math.ceil(lo), math.floor(hi)
        whole = self.selection.step_range is None
        self.header.setText(palette.header_html(
            f"Steps {first} … {last} of {self.n}" if not whole else f"All {self.n} steps",
            "drag the band or its edges, or turn the wheel over the bars, to zoom; double-click shows all",
        ))

    def _band_moved(self) -> None:
        if self._moving_band:
            return
        lo, hi = self.band.getRegion()
        lo, hi = clamp_steps(lo, hi, self.n)
        self.selection.set_step_range(None if hi - lo >= self.n else (lo, hi))

    def _clicked(self, event) -> None:
        if event.double():
            self.selection.set_step_range(None)

    def band_region(self) -> tuple[float, float]:
        return tuple(self.band.getRegion())

