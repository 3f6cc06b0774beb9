"""Area 3: the gradient horizon of the hovered loss, beside the shown batch's truncation-error curve e(k)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...analysis.gradient_stack import gradient_matrix
from . import palette, step_range
from ...core.labels import token_label
from .labels import visible_label
from .stacked_bars import BAR_WIDTH

HINT = "hover a bar segment above to see the horizon of one loss"
LOG_DECADES = 8  # the log axis shows at most this many powers of ten below the batch's largest part


def log_k_ticks(n: int) -> list[list[tuple[float, str]]]:
    """Ticks of a log axis of k = 1 … n: 1, 10, 100 labelled, the steps between them marked only (pyqtgraph's
    own labels the minor ticks too when there are only two decades, and they run into each other)."""
    decades = [10**e for e in range(int(np.log10(n)) + 1)]
    major = [(float(np.log10(k)), str(k)) for k in decades]
    minor = [(float(np.log10(m * k)), "") for k in decades for m in range(2, 10) if m * k <= n]
    return [major, minor]


class HorizonView(QWidget):
    """Bars over j = 0 … t of the hovered loss's parts (how its gradient decays back in time), and e(k)."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        self.record = None
        self.values: np.ndarray | None = None  # the (n, n) [t, j] matrix of the current mode
        self.log_k = False  # e(k) drawn over log10 k (long sequences)
        self.unit_horizon = None  # the selected unit's share of the selected batch (units.unit_horizon.UnitHorizon)

        # Left: the horizon of one loss.
        self.header = QLabel()
        self.log_box = QCheckBox("log scale")
        self.log_box.toggled.connect(self._draw_horizon)
        left_header = QHBoxLayout()
        left_header.setContentsMargins(0, 0, 0, 0)
        left_header.addWidget(self.header)
        left_header.addStretch(1)
        left_header.addWidget(self.log_box)
        self.horizon_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.horizon_widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.getAxis("left").setWidth(palette.LEFT_AXIS_WIDTH)
        self.plot.setLabel("bottom", "step j (earlier steps to the left)")
        step_range.follow_steps(self.plot)
        palette.fit_axis_label_on_resize(self.plot)
        palette.room_for_top_tick(self.plot)
        self.bars = pg.BarGraphItem(x=[], y0=[], height=[], width=BAR_WIDTH, pen=None, brush=palette.HIGHLIGHT)
        self.plot.addItem(self.bars)
        self.hint = pg.TextItem(HINT, color=palette.MUTED, anchor=(0.5, 0.5))
        self.plot.addItem(self.hint)

        # Right: e(k), the relative error of keeping only offsets t − j < k, for the whole batch.
        self.truncation_header = QLabel(palette.header_html("Truncation error e(k)", "kept offsets t − j < k"))
        self.truncation_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.truncation_plot = self.truncation_widget.getPlotItem()
        palette.style_plot(self.truncation_plot)
        self.truncation_plot.setLabel("bottom", "offsets kept k")
        self.truncation_plot.setLabel("left", "e(k)")
        # A plain line: symbols would be pixmaps (images in an SVG export) and cost a scatter update per record.
        self.truncation_curve = pg.PlotDataItem(pen=pg.mkPen(palette.FOREGROUND, width=1))
        self.truncation_plot.addItem(self.truncation_curve)
        self.epsilon_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(palette.EPSILON, width=1, style=Qt.PenStyle.DashLine),
            label="ε", labelOpts={"position": 0.9, "color": palette.EPSILON},
        )
        self.truncation_plot.addItem(self.epsilon_line)
        self.horizon_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(palette.HORIZON_SERIES, width=2),
            label="horizon", labelOpts={"position": 0.85, "color": palette.HORIZON_SERIES},
        )
        self.truncation_plot.addItem(self.horizon_line)

        left = QVBoxLayout()
        left.setSpacing(2)
        left.addLayout(left_header)
        left.addWidget(self.horizon_widget, 1)
        right = QVBoxLayout()
        right.setSpacing(2)
        right.addWidget(self.truncation_header)
        right.addWidget(self.truncation_widget, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)

        for signal in (selection.shownChanged, selection.modeChanged, selection.gateChanged):
            signal.connect(self.refresh)
        selection.hoveredLossChanged.connect(self._draw_horizon)
        # select() clears the hovered loss without a signal when the shown record stays the same.
        selection.selectedChanged.connect(self._draw_horizon)
        # The steps of a long sequence shown above are the steps shown here.
        selection.stepRangeChanged.connect(self._show_steps)
        self.wheel = step_range.WheelZoom(self.horizon_widget, selection, lambda: self.store.config.seq_length if self.store else 0)

    def set_store(self, store) -> None:
        self.store = store
        n = store.config.seq_length if store is not None else 1
        self._show_steps()
        # A long sequence's e(k) on a log axis of k: its shape is in the first steps, which a linear axis
        # of 512 would squeeze into a few pixels. (The horizon line is then placed at log10(horizon).)
        self.log_k = step_range.zoomable(n)
        self.truncation_plot.setLogMode(x=self.log_k, y=False)
        self.truncation_plot.setLabel("bottom", "offsets kept k (log scale)" if self.log_k else "offsets kept k")
        low, high = (np.log10(0.8), np.log10(n + 0.5)) if self.log_k else (0.5, n + 0.5)
        self.truncation_plot.setXRange(low, high, padding=0)
        self.truncation_plot.getAxis("bottom").setTicks(log_k_ticks(n) if self.log_k else None)
        self.refresh()

    def _show_steps(self, *_) -> None:
        n = self.store.config.seq_length if self.store is not None else 1
        self.plot.setXRange(*step_range.shown_steps(self.selection, n), padding=0)
        self._draw_horizon()

    def refresh(self, *_) -> None:
        index = self.selection.shown
        record = None if self.store is None else self.store.get(index)
        if record is None:
            self.record, self.values = None, None
            self.truncation_curve.setData([], [])
            self.epsilon_line.hide()
            self.horizon_line.hide()
            self._draw_horizon()
            return
        self.record = record
        self.values, _ = gradient_matrix(record, self.selection.mode, self.selection.gate, self.store.gate_names)
        n = len(record.loss)
        error = np.asarray(record.truncation_error, dtype=float)
        self.truncation_curve.setData(np.arange(1, n + 1), error)
        epsilon = self.store.config.horizon_epsilon
        # Shown before the label text is set: a hidden label ignores setFormat.
        self.epsilon_line.show()
        self.horizon_line.show()
        self.epsilon_line.setPos(epsilon)
        palette.set_line_label(self.epsilon_line, f"ε = {epsilon:g}")
        self.horizon_line.setPos(np.log10(record.horizon) if self.log_k else record.horizon)
        palette.set_line_label(self.horizon_line, f"horizon = {record.horizon}")
        # e(k) is a relative error, almost always ≤ 1: a fixed range saves re-laying the axis per record.
        palette.set_y_range(self.truncation_plot, 0, max(1.0, float(error.max(initial=0.0))) * 1.05)
        self._draw_horizon()

    def _draw_horizon(self, *_) -> None:
        t = self.selection.hovered_loss
        log = self.log_box.isChecked()
        # Each of these setters rebuilds the axis picture even when nothing changes: only on a change.
        axis = self.plot.getAxis("left")
        if axis.logMode != log:
            axis.setLogMode(False, log)
        unit = self._unit_for_record()
        values = self.values if unit is None else unit.values
        what = "‖G[t, j]‖" if self.selection.mode == "magnitude" else "contribution of loss t"
        if unit is not None:
            what = f"‖unit {unit.unit.unit}'s rows of G[t, j]‖"
        palette.set_axis_label(self.plot, what + (" (log)" if log else ""))
        if values is None or t is None or not 0 <= t < len(values):
            centre = (self.plot.vb.viewRange()[0][0] + self.plot.vb.viewRange()[0][1]) / 2
            if self.hint.isVisible() and self.hint.pos().x() == centre and not len(self.bars.opts["x"]):
                return  # already the empty plot with its hint (live training passes here 5 times a second)
            self.bars.setOpts(x=[], y0=[], height=[])
            self.hint.show()
            if axis.style["showValues"]:
                axis.setStyle(showValues=False)  # an empty plot needs no numbers
            self.hint.setPos(centre, 0.5)
            palette.set_y_range(self.plot, 0, 1)
            self.header.setText(palette.header_html("3 · Horizon of one loss"))
            return
        self.hint.hide()
        if not axis.style["showValues"]:
            axis.setStyle(showValues=True)
        record, vocab = self.record, self.store.vocab
        self.header.setText(palette.header_html(
            f"3 · Horizon of loss t = {t}",
            f"true {visible_label(token_label(vocab, record.targets[t]))!r}, predicted {visible_label(token_label(vocab, record.predictions[t]))!r}:"
            + (" how far back its gradient reaches" if unit is None else f" {unit.note}"),
        ))
        row = values[t, : t + 1]  # (t + 1,)  the parts of loss t at steps j = 0 … t
        j = np.arange(t + 1, dtype=float)
        if not log:
            self.bars.setOpts(x=j, y0=np.zeros(t + 1), height=row)
            # Scaled to this loss (its steps in view): the shape of the decay is the point, the axis gives the size.
            seen = row[step_range.visible_slice(*self.plot.vb.viewRange()[0], len(row))]
            seen = seen if len(seen) else row
            low, high = min(float(seen.min()), 0.0), max(float(seen.max()), 0.0)
            palette.set_y_range(self.plot, low * 1.08, (high if high > 0 else 1.0) * 1.08)
            return
        # Log scale: only positive parts can be drawn; bars rise from a floor fixed per batch so
        # that sweeping across losses keeps one scale.
        positive = values[values > 0]
        if not len(positive):
            self.bars.setOpts(x=[], y0=[], height=[])
            return
        top = np.log10(positive.max())
        floor = np.floor(max(np.log10(positive.min()), top - LOG_DECADES))
        keep = row > 10.0**floor
        heights = np.log10(row[keep]) - floor
        self.bars.setOpts(x=j[keep], y0=np.full(len(heights), floor), height=heights)
        palette.set_y_range(self.plot, float(floor), float(top) + 0.1)

    def show_unit(self, horizon) -> None:
        """Draw one hidden unit's share of each part (a UnitHorizon), while its batch is the one shown; None: all units."""
        self.unit_horizon = horizon
        self._draw_horizon()

    def _unit_for_record(self):
        horizon = self.unit_horizon
        if horizon is None or self.record is None or horizon.batch != self.record.batch:
            return None
        return horizon

    def drawn_bars(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y0, height of the horizon bars as drawn (log10 units in log mode)."""
        opts = self.bars.opts
        return tuple(np.atleast_1d(np.asarray(opts[name], dtype=float)) for name in ("x", "y0", "height"))
