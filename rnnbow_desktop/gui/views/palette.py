"""The colours and plot styling shared by the four gradient views (one light theme, good in print)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette

BACKGROUND = "#ffffff"
FOREGROUND = "#222222"
MUTED = "#8a8a8a"  # stand-in glyphs for whitespace, hints, secondary text

CORRECT = "#1b7a36"  # a right prediction (the paper: green)
WRONG = "#c62828"  # a wrong prediction (the paper: red)

HIGHLIGHT = "#2f6fdf"  # every segment caused by the hovered loss (the paper: blue)
CURSOR = "#6a1b9a"  # outline of the segment under the mouse (the paper: a purple cursor)
SELECTED = "#2f6fdf"  # the selected batch in the overview (the paper: a blue bar)
PREVIEW = "#555555"  # the overview batch under the mouse

OVERVIEW_LINE = "#2e7d46"
OVERVIEW_FILL = (76, 160, 100, 150)
HORIZON_SERIES = "#d9730d"  # effective horizon over training
EPSILON = "#c62828"

# Findings (analysis.findings.KINDS) on the overview and in their list: a colour and a pyqtgraph symbol each.
FINDING_STYLES = {
    "gradient_spike": ("#c62828", "t1"),  # ▲
    "loss_spike": ("#8e24aa", "t"),  # ▼
    "plateau_end": ("#1565c0", "d"),  # ◆
    "horizon_shift": (HORIZON_SERIES, "s"),  # ■
    "conflict": ("#5d4037", "x"),
    "corpus_change": ("#00897b", "o"),  # ●
}
FINDING_GLYPHS = {"t1": "▲", "t": "▼", "d": "◆", "s": "■", "x": "✕", "o": "●"}  # the symbols as text

# Sequential greens: offset 0 (the step's own loss) darkest, farther losses lighter, like the paper.
_DARKEST = np.array([0, 68, 27], dtype=float)
_LIGHTEST = np.array([199, 233, 192], dtype=float)


def offset_colors(k: int) -> list[str]:
    """k + 1 colours: offsets t − j = 0 … k − 1, then the "≥ k" remainder (lightest)."""
    k = max(1, int(k))
    # A slight ease-out keeps the first few offsets (where most gradient lives) well apart.
    fractions = (np.arange(k + 1) / k) ** 0.8
    colors = _DARKEST + fractions[:, None] * (_LIGHTEST - _DARKEST)
    return [QColor(*np.round(c).astype(int)).name() for c in colors]


def style_plot(plot: pg.PlotItem, mouse: bool = False) -> None:
    """Dark axes on white; views 1–3 are static (no pan/zoom, no menu) so they stay aligned."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(FOREGROUND, width=1))
        axis.setTextPen(pg.mkPen(FOREGROUND))
        axis.enableAutoSIPrefix(False)  # "e(k) (x0.001)" reads worse than plain numbers
    plot.hideButtons()
    if not mouse:
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)


def set_y_range(plot: pg.PlotItem, low: float, high: float) -> None:
    """Set the y range and apply it now: left to the next paint, it costs a second full repaint."""
    if tuple(plot.vb.viewRange()[1]) != (low, high):
        plot.setYRange(low, high, padding=0)
        plot.vb.updateMatrix()


def set_axis_label(plot: pg.PlotItem, text: str, side: str = "left") -> None:
    """Name an axis, then fit it (see fit_axis_label). The same name again costs nothing: a new one
    makes pyqtgraph rebuild the axis's whole picture on the next paint (~1 ms of Python per axis)."""
    if plot.getAxis(side).labelText != text:
        plot.setLabel(side, text)
    fit_axis_label(plot, side)


def set_line_label(line: pg.InfiniteLine, text: str) -> None:
    """Give a visible line's label new text; the same text again costs nothing (setFormat re-lays it out)."""
    if line.label.format != text:
        line.label.setFormat(text)


def room_for_top_tick(plot: pg.PlotItem) -> None:
    """Leave half a line above the plot: y ranges are fitted tightly, and a tick label centred on the
    top edge would otherwise be cut in half by the widget's border."""
    plot.layout.setContentsMargins(1, 7, 1, 1)


def fit_axis_label(plot: pg.PlotItem, side: str = "left") -> None:
    """Show a vertical axis's name only while the plot is tall enough for it: a name longer than the
    axis is clipped, or runs into the name of the plot above (the overview's strips, a low window)."""
    axis = plot.getAxis(side)
    if not axis.labelText:
        return
    fits = axis.label.boundingRect().width() <= plot.vb.height() + 2
    if axis.label.isVisible() != fits:
        axis.showLabel(fits)


def fit_axis_label_on_resize(plot: pg.PlotItem, side: str = "left") -> None:
    """Keep `fit_axis_label` true as the plot is resized (call fit_axis_label again after setLabel)."""
    plot.vb.sigResized.connect(lambda *_: fit_axis_label(plot, side))


def light_palette(widget) -> None:
    """Give a widget the views' light theme regardless of the desktop's theme (exports look alike)."""
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(BACKGROUND))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(FOREGROUND))
    palette.setColor(QPalette.ColorRole.Text, QColor(FOREGROUND))
    widget.setPalette(palette)
    widget.setAutoFillBackground(True)


def header_html(title: str, note: str = "") -> str:
    """A view's heading: the paper's area number and name, with an optional grey note."""
    extra = f'&nbsp;&nbsp;<span style="color:{MUTED}; font-weight:normal">{note}</span>' if note else ""
    return f"<b>{title}</b>{extra}"

# Views 1 and 2 share the x axis: equal left-axis widths keep each label above its bar.
LEFT_AXIS_WIDTH = 64
