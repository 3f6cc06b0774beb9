"""The Dynamics view's scatter: every (checkpoint, unit) of the multislice embedding, each unit's trajectory a faint line."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ...analysis.hidden_dynamics import HiddenDynamics
from ..views import palette

COLOR_BY = (("checkpoint", "training time (checkpoint)"), ("unit", "unit"))
HOVER_PIXELS = 8  # how near the mouse a point must be to count as hovered
TRAJECTORY = (90, 90, 90, 40)  # every unit's path: faint, so the cloud stays readable
HIGHLIGHT_WIDTH = 2
GOLDEN = 0.6180339887498949  # unit u's hue: u × golden ratio (mod 1) puts neighbouring indices far apart


def checkpoint_colors(count: int) -> list[QColor]:
    """Viridis from the first checkpoint (dark) to the last (yellow)."""
    return pg.colormap.get("viridis").getLookupTable(0.0, 1.0, max(count, 2), mode="qcolor")[:count]


def unit_colors(count: int) -> list[QColor]:
    """One colour per unit; unit indices mean nothing in order, so neighbours get distant hues."""
    table = pg.colormap.get("turbo").getLookupTable(0.08, 0.92, 256, mode="qcolor")
    return [table[int((u * GOLDEN) % 1.0 * 255)] for u in range(count)]


class DynamicsScatter(QWidget):
    """The embedding as a scatter. Hover names the point; click emits it; a highlighted unit's trajectory is drawn bold."""

    pointHovered = Signal(object)  # (checkpoint index, point index) or None
    pointClicked = Signal(object)  # (checkpoint index, point index)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dynamics: HiddenDynamics | None = None
        self.color_by = "checkpoint"
        self.highlighted: int | None = None  # unit
        self.marked: tuple[int, int] | None = None  # (checkpoint index, point index)
        self.hovered: tuple[int, int] | None = None
        self._xy = np.empty((0, 2))  # (C·P, 2) every point, checkpoint-major

        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot = self.plot_widget.getPlotItem()
        palette.style_plot(self.plot, mouse=True)  # pan and zoom: clouds of hundreds of units
        self.plot.setAspectLocked(True)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(showValues=False)  # embedding coordinates have no units
        self.plot.setLabel("bottom", "PHATE 1")
        self.plot.setLabel("left", "PHATE 2")
        self.trajectories = pg.PlotDataItem(pen=pg.mkPen(TRAJECTORY, width=1), connect="finite")
        self.points = pg.ScatterPlotItem(size=6, pen=None, hoverable=False)
        self.highlight = pg.PlotDataItem(pen=pg.mkPen(palette.FOREGROUND, width=HIGHLIGHT_WIDTH), symbol="o",
                                         symbolSize=7, symbolPen=pg.mkPen(palette.FOREGROUND), symbolBrush=None)
        self.mark = pg.ScatterPlotItem(size=14, pen=pg.mkPen(palette.CURSOR, width=2), brush=None)
        self.hover_mark = pg.ScatterPlotItem(size=12, pen=pg.mkPen(palette.PREVIEW, width=1), brush=None)
        for z, item in enumerate((self.trajectories, self.points, self.highlight, self.mark, self.hover_mark)):
            item.setZValue(z)
            self.plot.addItem(item)
        self.key = QLabel(" ")  # what the colours mean
        self.key.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._mouse = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._moved)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.key)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.readout)

    # -- data ------------------------------------------------------------------------------------------
    def set_dynamics(self, dynamics: HiddenDynamics | None) -> None:
        self.dynamics = dynamics
        self.hovered = None
        if dynamics is None:
            self._xy = np.empty((0, 2))
            for item in (self.trajectories, self.highlight):
                item.setData([], [])
            for item in (self.points, self.mark, self.hover_mark):
                item.setData([])
            self.readout.setText(" ")
            self.key.setText(" ")
            return
        C, P, _ = dynamics.embedding.shape
        self._xy = dynamics.embedding.reshape(C * P, 2)
        # Every unit's path through the checkpoints as one item: NaN rows break the line between units.
        paths = np.swapaxes(dynamics.embedding[:, dynamics.curve_points()], 0, 1)  # (H, C, 2)
        broken = np.concatenate([paths, np.full((paths.shape[0], 1, 2), np.nan)], axis=1).reshape(-1, 2)
        self.trajectories.setData(broken[:, 0], broken[:, 1])
        self._color_points()
        self._draw_highlight()
        self._draw_mark()
        self.plot.enableAutoRange()
        self.readout.setText(self._hint())

    def set_color_by(self, key: str) -> None:
        if key not in dict(COLOR_BY):
            raise ValueError(f"unknown colouring {key!r}; choose {', '.join(k for k, _ in COLOR_BY)}")
        self.color_by = key
        self._color_points()

    def _color_points(self) -> None:
        d = self.dynamics
        if d is None:
            return
        C, P, _ = d.embedding.shape
        if self.color_by == "checkpoint":
            colors = checkpoint_colors(C)
            index = np.repeat(np.arange(C), P)
        else:
            colors = unit_colors(d.units)
            index = np.tile(d.point_unit, C)
        brushes = [pg.mkBrush(c) for c in colors]  # one brush per colour, shared by its points
        self.points.setData(pos=self._xy, brush=[brushes[i] for i in index])
        self.key.setText(self._key_html(colors))

    def _key_html(self, colors: list[QColor]) -> str:
        d = self.dynamics
        assert d is not None
        muted = f'<span style="color:{palette.MUTED}">'
        if self.color_by == "unit":
            dots = "".join(f'<span style="color:{c.name()}">●</span>' for c in colors[:8])
            return f"{dots} {muted}one colour per unit; grey lines: each unit's path over training</span>"
        first, last = int(d.checkpoints[0]), int(d.checkpoints[-1])
        middle = colors[len(colors) // 2].name()
        return (f'<span style="color:{colors[0].name()}">●</span> batch {first:,} '
                f'<span style="color:{middle}">●</span> … <span style="color:{colors[-1].name()}">●</span> '
                f"batch {last:,} &nbsp;{muted}grey lines: each unit's path over training</span>")

    # -- unit and checkpoint -------------------------------------------------------------------------
    def highlight_unit(self, unit: int | None) -> None:
        """Draw this unit's trajectory bold (None: no unit)."""
        self.highlighted = unit
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        d, unit = self.dynamics, self.highlighted
        if d is None or unit is None or not 0 <= unit < d.units:
            self.highlight.setData([], [])
            return
        path = d.unit_trajectory(unit)  # (C, 2)
        self.highlight.setData(path[:, 0], path[:, 1])

    def mark_point(self, checkpoint: int | None, point: int | None) -> None:
        """Ring the point of `point` at checkpoint index `checkpoint` (None: no ring)."""
        self.marked = None if checkpoint is None or point is None else (checkpoint, point)
        self._draw_mark()
        if self.hovered is None and self.dynamics is not None:
            self.readout.setText(self._hint())

    def _valid(self, found: tuple[int, int] | None) -> bool:
        """Whether `found` (checkpoint index, point index) is a point of the result on show."""
        d = self.dynamics
        return d is not None and found is not None and 0 <= found[0] < d.embedding.shape[0] and 0 <= found[1] < d.embedding.shape[1]

    def _draw_mark(self) -> None:
        if not self._valid(self.marked):
            self.mark.setData([])
            return
        self.mark.setData(pos=self.dynamics.embedding[self.marked][None, :])

    # -- mouse -----------------------------------------------------------------------------------------
    def point_at(self, scene_pos) -> tuple[int, int] | None:
        """(checkpoint index, point index) of the point nearest `scene_pos` within HOVER_PIXELS, or None."""
        d = self.dynamics
        if d is None or not len(self._xy) or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        where = self.plot.vb.mapSceneToView(scene_pos)
        pixel = self.plot.vb.viewPixelSize()  # (data per pixel in x, in y)
        offsets = (self._xy - [where.x(), where.y()]) / [max(pixel[0], 1e-300), max(pixel[1], 1e-300)]
        distances = np.hypot(offsets[:, 0], offsets[:, 1])
        nearest = int(np.argmin(distances))
        if distances[nearest] > HOVER_PIXELS:
            return None
        return divmod(nearest, d.embedding.shape[1])

    def describe(self, found: tuple[int, int]) -> str:
        d = self.dynamics
        assert d is not None
        checkpoint, point = found
        step = "" if d.point_step is None else f" at step {int(d.point_step[point])}"
        return (f"unit <b>{int(d.point_unit[point])}</b>{step} · checkpoint {checkpoint + 1} of {len(d.checkpoints)}, "
                f"batch <b>{int(d.checkpoints[checkpoint]):,}</b>")

    def _hint(self) -> str:
        """What the readout says while no point is hovered: the selected point, and how to use the scatter."""
        how = f'<span style="color:{palette.MUTED}">hover a point to name it; click selects that unit at that checkpoint</span>'
        if not self._valid(self.marked):
            return how
        return f"selected: {self.describe(self.marked)} &nbsp;{how}"

    def _moved(self, args) -> None:
        found = self.point_at(args[0])
        if found == self.hovered:
            return
        self.hovered = found
        if found is None:
            self.hover_mark.setData([])
            self.readout.setText(self._hint() if self.dynamics is not None else " ")
        else:
            self.hover_mark.setData(pos=self.dynamics.embedding[found][None, :])
            self.readout.setText(self.describe(found))
        self.pointHovered.emit(found)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        found = self.point_at(event.scenePos())
        if found is not None:
            self.pointClicked.emit(found)
