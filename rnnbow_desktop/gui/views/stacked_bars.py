"""Area 2: one stacked bar per step j, split by how far in the future (t − j) the loss behind it lies."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...analysis.gradient_stack import Stack, gradient_matrix, stack
from . import palette, step_range
from ...core.labels import token_label
from ...core.loss_smoothing import loss_text
from .labels import visible_label

BAR_WIDTH = 0.8
RECENT_WINDOW = 200  # records in the "recent window" bar scale


def legend_html(k: int, n: int) -> str:
    """Colour key: one swatch per offset (elided in the middle when k is large) and the highlight."""
    colors = palette.offset_colors(k)
    offsets = list(range(k))
    if k > 8:
        offsets = offsets[:4] + [None] + offsets[-2:]
    parts = []
    for d in offsets:
        if d is None:
            parts.append("…")
            continue
        label = "t − j = 0 (local loss)" if d == 0 else str(d)
        parts.append(f'<span style="color:{colors[d]}">■</span>&nbsp;{label}')
    if k < n:
        parts.append(f'<span style="color:{colors[k]}">■</span>&nbsp;≥&nbsp;{k}')
    parts.append(f'<span style="color:{palette.HIGHLIGHT}">■</span>&nbsp;hovered loss')
    return "&nbsp;&nbsp; ".join(parts)


class StackedBarsView(QWidget):
    """The bars of the shown batch; hovering a part highlights every part caused by the same loss."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        self.record = None
        self.stack: Stack | None = None
        self.note = ""
        self._cursor_j: int | None = None  # bar under the mouse; the outline sits on loss t's part of it

        self.header = QLabel()
        self.legend = QLabel()
        header_row = QHBoxLayout()
        header_row.setContentsMargins(0, 0, 0, 0)
        header_row.addWidget(self.header)
        header_row.addStretch(1)
        header_row.addWidget(self.legend)

        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
        self.plot.setLabel("bottom", "step j")
        step_range.follow_steps(self.plot)  # tick spacing that suits n = 25 and n = 512 alike
        palette.fit_axis_label_on_resize(self.plot)
        palette.room_for_top_tick(self.plot)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header_row)
        layout.addWidget(self.plot_widget, 1)

        # One item per colour (offset), updated in place: a single brush draws all its bars in one call.
        self.segment_items: list[pg.BarGraphItem] = []
        self.remainder_item = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, pen=None, brush=palette.MUTED)
        self.plot.addItem(self.remainder_item)
        self.highlight_item = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, pen=None, brush=palette.HIGHLIGHT)
        self.highlight_item.setZValue(10)
        self.plot.addItem(self.highlight_item)
        self.cursor_item = pg.BarGraphItem(
            x=[], height=[], width=BAR_WIDTH, pen=pg.mkPen(palette.CURSOR, width=2), brush=None
        )
        self.cursor_item.setZValue(11)
        self.plot.addItem(self.cursor_item)
        self.zero_line = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(palette.FOREGROUND, width=1))
        self.plot.addItem(self.zero_line)

        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        self.plot_widget.installEventFilter(self)
        self.wheel = step_range.WheelZoom(self.plot_widget, selection, lambda: self.store.config.seq_length if self.store else 0)
        selection.stepRangeChanged.connect(self._show_steps)

        for signal in (selection.shownChanged, selection.modeChanged, selection.horizonKChanged,
                       selection.scaleChanged, selection.gateChanged):
            signal.connect(self.refresh)
        selection.hoveredLossChanged.connect(self._draw_hover)
        # select() clears the hovered loss without a signal when the shown record stays the same.
        selection.selectedChanged.connect(self._draw_hover)
        self._set_header()

    # -- drawing -----------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.store = store
        self._show_steps()
        self.refresh()

    def _show_steps(self, *_) -> None:
        """Show the selection's range of steps (all of a short sequence), its bars filling the height."""
        n = self.store.config.seq_length if self.store is not None else 1
        lo, hi = step_range.shown_steps(self.selection, n)
        self.plot.setXRange(lo, hi, padding=0)
        if self.stack is not None:
            self._fit_y()

    def _k(self) -> int:
        n = self.store.config.seq_length if self.store is not None else 1
        return max(1, min(self.selection.horizon_k, n))

    def _set_header(self) -> None:
        scale = {"batch": "scale: this batch", "global": "scale: all batches", "recent": f"scale: last {RECENT_WINDOW} records"}
        notes = [scale[self.selection.scale]] + ([self.note] if self.note else [])
        self.header.setText(palette.header_html("2 · Gradient per step, by source of loss", " · ".join(notes)))

    def refresh(self, *_) -> None:
        index = self.selection.shown
        record = None if self.store is None else self.store.get(index)
        if record is None:
            self.record, self.stack = None, None
            for item in self.segment_items + [self.remainder_item, self.highlight_item, self.cursor_item]:
                item.setOpts(x=[], y0=[], height=[])
            self._set_header()
            return
        self.record = record
        n, k = len(record.loss), self._k()
        values, self.note = gradient_matrix(record, self.selection.mode, self.selection.gate, self.store.gate_names)
        self.stack = stack(values, k)
        colors = palette.offset_colors(k)
        while len(self.segment_items) < k:
            item = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, pen=None, brush=palette.MUTED)
            self.plot.addItem(item)
            self.segment_items.append(item)
        for d, item in enumerate(self.segment_items):
            if d < k:
                x, y0, height = self.stack.offset_segments(d)
                item.setOpts(x=x, y0=y0, height=height, brush=colors[d])
                item.setVisible(True)
            else:
                item.setVisible(False)
        up, down = self.stack.remainder()
        bars = np.arange(n, dtype=float)
        self.remainder_item.setOpts(
            x=np.concatenate([bars, bars]), y0=np.zeros(2 * n), height=np.concatenate([up, down]), brush=colors[k]
        )
        self.remainder_item.setVisible(k < n)
        self.zero_line.setVisible(self.selection.mode == "contribution")
        # Short names: in a low window the bars are ~120 px tall, and a longer name is clipped.
        palette.set_axis_label(self.plot, "‖G[t, j]‖" if self.selection.mode == "magnitude" else "contribution")
        self.legend.setText(legend_html(k, n))
        self._set_header()
        self._fit_y()
        self._draw_hover()

    def _fit_y(self) -> None:
        top, bottom = self.stack.totals()
        # Only the bars in view: a zoomed-in stretch of a long sequence fills the height.
        shown = step_range.visible_slice(*self.plot.vb.viewRange()[0], len(top))
        top, bottom = top[shown], bottom[shown]
        high, low = float(top.max(initial=0.0)), float(bottom.min(initial=0.0))
        scale = self.selection.scale
        if scale != "batch" and len(self.store):
            # Scales shared across batches come from the per-record max gradient; a taller bar of
            # this batch (sum of norms ≥ norm of the sum) still fits rather than being cut off.
            # From the store's overview summary: a run of millions of records is not read for it.
            i = self.selection.shown
            start, stop = (max(0, i - RECENT_WINDOW + 1), i + 1) if scale == "recent" else (0, len(self.store))
            high = max(high, self.store.max_gradient_peak(start, stop))
        high = high if high > 0 else 1.0
        palette.set_y_range(self.plot, low * 1.04, high * 1.04)

    def y_range(self) -> tuple[float, float]:
        return tuple(self.plot.vb.viewRange()[1])

    def _draw_hover(self, *_) -> None:
        t = self.selection.hovered_loss
        if self.stack is None or t is None or not 0 <= t < self.stack.n:
            self.highlight_item.setOpts(x=[], y0=[], height=[])
            self.cursor_item.setOpts(x=[], y0=[], height=[])
            return
        j = np.arange(t + 1)
        bottom, top = self.stack.bottom, self.stack.top
        self.highlight_item.setOpts(x=j.astype(float), y0=bottom[t, j], height=top[t, j] - bottom[t, j])
        cj = self._cursor_j if self._cursor_j is not None and self._cursor_j <= t else t
        self.cursor_item.setOpts(x=[float(cj)], y0=[bottom[t, cj]], height=[top[t, cj] - bottom[t, cj]])

    def highlighted_segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y0, y1 of the drawn highlight rectangles (for tests and exports)."""
        opts = self.highlight_item.opts
        x, y0, height = (np.atleast_1d(np.asarray(opts[name], dtype=float)) for name in ("x", "y0", "height"))
        return x, y0, y0 + height

    # -- mouse ----------------------------------------------------------------------------------------
    def _on_mouse_moved(self, args) -> None:
        self.hover_at_scene(args[0])

    def hover_at_scene(self, pos: QPointF) -> None:
        """Mouse at scene position `pos`: hover the part under it (over the plot but between parts: keep)."""
        vb = self.plot.vb
        if self.stack is None:
            return
        if not vb.sceneBoundingRect().contains(pos):
            self._leave()
            return
        point = vb.mapSceneToView(pos)
        j = int(round(point.x()))
        if not 0 <= j < self.stack.n or abs(point.x() - j) > BAR_WIDTH / 2:
            return
        t = self.stack.loss_at(j, point.y())
        if t is None:
            return
        moved = (t, j) != (self.selection.hovered_loss, self._cursor_j)
        self._cursor_j = j
        if t != self.selection.hovered_loss:
            self.selection.set_hovered_loss(t)  # redraws the highlight through the signal
        elif moved:
            self._draw_hover()
        vb.setToolTip(self._tooltip(t, j))

    def _tooltip(self, t: int, j: int) -> str:
        record, vocab = self.record, self.store.vocab
        value = self.stack.values[t, j]
        d = t - j
        what = (
            f"‖G[{t}, {j}]‖ = {value:.4g}" if self.selection.mode == "magnitude"
            else f"contribution {value:+.4g} of the step's total {float(record.step_gradient[j]):.4g}"
        )
        where = " (inside the ≥ k segment)" if d >= self._k() else ""
        return (
            f"bar j = {j} under {visible_label(token_label(vocab, record.targets[j]))!r}\n"
            f"loss at t = {t}: true {visible_label(token_label(vocab, record.targets[t]))!r}, "
            f"predicted {visible_label(token_label(vocab, record.predictions[t]))!r}, "
            f"loss {loss_text(float(record.loss[t]))}\n"
            f"offset t − j = {d}{where}\n{what}"
        )

    def _leave(self) -> None:
        self._cursor_j = None
        self.plot.vb.setToolTip("")
        self.selection.set_hovered_loss(None)

    def eventFilter(self, obj, event):
        if obj is self.plot_widget and event.type() == QEvent.Type.Leave:
            self._proxy.flush()  # a move still held back by the rate limit must not re-hover after leaving
            self._leave()
        return super().eventFilter(obj, event)
