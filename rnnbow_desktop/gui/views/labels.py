"""Area 1: the true next tokens of the shown batch over the network's predictions, one cell per step.

Characters (RNNbow's own sessions) are drawn one per cell; tokens of any length (the words or ids of a
recorded PyTorch model) are drawn across their cell where they fit, else upright along it, elided.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...core.labels import is_character_vocabulary, token_label
from ...core.loss_smoothing import loss_text
from . import palette, step_range

TRUE_ROW, PREDICTED_ROW = 1.0, 0.0
CHARACTER_HEIGHT = 64  # pixels for two rows of characters
TOKEN_HEIGHT = 116  # for two rows of tokens: room for about 7 characters of a token drawn upright
SMALL_PIXELS = 11  # the font of tokens longer than their cell
_STAND_INS = {" ": "␣", "\n": "↵", "\t": "⇥"}
_CONTROL_NAMES = {"\n": "newline", "\t": "tab", "\r": "carriage return"}


def visible_char(c: str) -> str:
    """A glyph that can be seen: whitespace and control characters would otherwise be blank cells."""
    if c in _STAND_INS:
        return _STAND_INS[c]
    return c if c.isprintable() else "·"


def describe_char(c: str) -> str:
    """The exact character for a tooltip: its repr, code point and (when it has one) its name."""
    name = unicodedata.name(c, "").lower() or _CONTROL_NAMES.get(c, "")
    return f"{c!r} (U+{ord(c):04X}{' ' + name if name else ''})"


def visible_label(label: str) -> str:
    """A token as it can be seen: a character as `visible_char` shows it, a longer token with its whitespace
    made visible; "" (a token that was not recorded) stays empty."""
    if len(label) <= 1:
        return visible_char(label) if label else ""
    return "".join(_STAND_INS.get(c, c) if c in "\n\t" or c.isprintable() else "·" for c in label)


def describe_label(label: str) -> str:
    """A token for a tooltip: a character as `describe_char` says it, else its repr ("not recorded" if empty)."""
    if not label:
        return "(not recorded)"
    return describe_char(label) if len(label) == 1 else repr(label)


def label_stride(cell_pixels: float, font_pixels: int) -> int:
    """Label every k-th step (k = 1, 2, 5, 10, …) so that labelled cells are at least a glyph and a gap apart
    (a bold monospace glyph is about 0.6 of the font's pixel size wide)."""
    room = float(font_pixels)
    return next((k for k in step_range.TICK_SPACINGS if k * cell_pixels >= room), step_range.TICK_SPACINGS[-1])


class CharacterRows(pg.GraphicsObject):
    """Two rows of labels centred on x = j, drawn in one paint call at a fixed pixel size.

    One item instead of 2n TextItems: re-texting 50 TextItems cost ~15 ms per shown record, this
    costs a fraction of a millisecond, which keeps overview hovering fluid.
    """

    def __init__(self):
        super().__init__()
        self.rows: dict[float, list[tuple[str, str]]] = {TRUE_ROW: [], PREDICTED_ROW: []}  # row -> [(glyph, colour)]
        self.font = QFont("monospace")
        self.font.setStyleHint(QFont.StyleHint.Monospace)
        self.font.setBold(True)
        self.font.setPixelSize(14)

    def set_cells(self, true_cells, predicted_cells) -> None:
        self.prepareGeometryChange()
        self.rows = {TRUE_ROW: list(true_cells), PREDICTED_ROW: list(predicted_cells)}
        self.update()

    def set_pixel_size(self, size: int) -> None:
        if size != self.font.pixelSize():
            self.font.setPixelSize(size)
            self.update()

    def boundingRect(self) -> QRectF:
        n = max(len(cells) for cells in self.rows.values())
        return QRectF(-0.5, PREDICTED_ROW - 0.5, max(n, 1), TRUE_ROW - PREDICTED_ROW + 1)

    def paint(self, painter, *args) -> None:
        # Map each cell centre to device pixels, then draw untransformed so glyphs keep their size.
        transform = painter.transform()
        painter.resetTransform()
        painter.setFont(self.font)
        half = self.font.pixelSize()
        metrics = QFontMetrics(self.font)
        # Tokens longer than their cell: a smaller font, across the cell if that fits, else upright along it.
        small = QFont(self.font)
        small.setPixelSize(min(half, SMALL_PIXELS))
        small_metrics = QFontMetrics(small)
        cell = abs(transform.m11())  # pixels per step
        row_height = abs(transform.m22()) * (TRUE_ROW - PREDICTED_ROW)  # pixels per row
        # A long sequence seen whole: every stride-th label, each with the room of the ones left out.
        stride = label_stride(cell, self.font.pixelSize())
        cell *= stride
        vb = self.getViewBox()
        lo, hi = vb.viewRange()[0] if vb is not None else (-np.inf, np.inf)
        for row, cells in self.rows.items():
            for j, (glyph, color) in enumerate(cells):
                if not glyph or j % stride or not lo - 1 <= j <= hi + 1:
                    continue
                centre = transform.map(QPointF(j, row))
                painter.setPen(QColor(color))
                across = len(glyph) == 1 or metrics.horizontalAdvance(glyph) <= cell - 2
                if across or small_metrics.horizontalAdvance(glyph) <= cell - 2:
                    painter.setFont(self.font if across else small)
                    box = QRectF(centre.x() - max(2 * half, cell / 2), centre.y() - half, max(4 * half, cell), 2 * half)
                    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, glyph)
                    continue
                # Upright along its cell (read bottom to top), cut with "…" to the row's height.
                painter.save()
                painter.setFont(small)
                painter.translate(centre)
                painter.rotate(-90)
                length = max(row_height - 4, 2 * half)
                text = small_metrics.elidedText(glyph, Qt.TextElideMode.ElideRight, int(length))
                painter.drawText(QRectF(-length / 2, -cell / 2, length, cell), Qt.AlignmentFlag.AlignCenter, text)
                painter.restore()
        painter.setTransform(transform)


class LabelsView(QWidget):
    """Two rows of characters whose cells sit exactly above the bars of area 2 (the x axes are linked)."""

    def __init__(self, selection, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store = None
        self.record = None  # the BatchRecord drawn

        self.header = QLabel(palette.header_html("1 · Labels", "true next character (top) and the network's prediction (bottom)"))
        self.plot_widget = pg.PlotWidget(background=palette.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        palette.style_plot(self.plot)
        self.plot.hideAxis("bottom")
        left = self.plot.getAxis("left")
        left.setWidth(palette.LEFT_AXIS_WIDTH)
        left.setTicks([[(TRUE_ROW, "true"), (PREDICTED_ROW, "predicted")]])
        self.plot.setYRange(PREDICTED_ROW - 0.6, TRUE_ROW + 0.6, padding=0)
        self.plot_widget.setFixedHeight(CHARACTER_HEIGHT)
        self.characters = CharacterRows()
        self.plot.addItem(self.characters)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.plot_widget)

        self.plot.vb.sigResized.connect(self._fit_font)
        self.plot.vb.sigXRangeChanged.connect(self._fit_font)  # zoomed steps of a long sequence (linked to area 2)
        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        selection.shownChanged.connect(self.refresh)

    def set_store(self, store) -> None:
        self.store = store
        n = store.config.seq_length if store is not None else 1
        self.plot.setXRange(-0.5, n - 0.5, padding=0)
        characters = store is None or is_character_vocabulary(store.vocab)
        self.plot_widget.setFixedHeight(CHARACTER_HEIGHT if characters else TOKEN_HEIGHT)
        thing = "character" if characters else "token"
        self.header.setText(palette.header_html("1 · Labels", f"true next {thing} (top) and the network's prediction (bottom)"))
        self.refresh()

    def _fit_font(self, *_) -> None:
        lo, hi = self.plot.vb.viewRange()[0]
        cell = self.plot.vb.width() / max(hi - lo, 1.0)
        # Up to 0.8 of a cell: zoomed-in steps of a long sequence get readable glyphs (n = 25 stays at 18).
        self.characters.set_pixel_size(int(min(18, max(7, cell * 0.8))))

    def refresh(self, *_) -> None:
        index = self.selection.shown
        record = None if self.store is None else self.store.get(index)
        if record is None:
            self.record = None
            self.characters.set_cells([], [])
            return
        self.record = record
        vocab = self.store.vocab
        true_cells, predicted_cells = [], []
        for target, prediction in zip(record.targets, record.predictions):
            c = token_label(vocab, target)
            glyph = visible_label(c)
            # Stand-in glyphs are greyed in the true row so they don't read as literal characters;
            # the prediction row keeps its right/wrong colour, which matters more.
            true_cells.append((glyph, palette.MUTED if glyph != c else palette.FOREGROUND))
            predicted_cells.append((visible_label(token_label(vocab, prediction)),
                                    palette.CORRECT if prediction == target else palette.WRONG))
        self.characters.set_cells(true_cells, predicted_cells)
        self._fit_font()

    def cells(self) -> list[tuple[str, str, str]]:
        """What is drawn: (true glyph, predicted glyph, predicted colour) per step."""
        rows = self.characters.rows
        return [(t[0], p[0], p[1]) for t, p in zip(rows[TRUE_ROW], rows[PREDICTED_ROW])]

    def tooltip(self, j: int) -> str:
        record, vocab = self.record, self.store.vocab
        true_c, pred_c, input_c = (token_label(vocab, ids[j]) for ids in (record.targets, record.predictions, record.inputs))
        right = record.predictions[j] == record.targets[j]
        verdict = f": {'right' if right else 'wrong'}" if true_c and pred_c else ""
        return (
            f"step j = {j}\ninput {describe_label(input_c)}\ntrue next {describe_label(true_c)}\n"
            f"predicted {describe_label(pred_c)}{verdict}\nloss {loss_text(float(record.loss[j]))}"
        )

    def _on_mouse_moved(self, args) -> None:
        # The tooltip is made for the cell under the mouse only: cheaper than one per cell per record.
        vb = self.plot.vb
        if self.record is None or not vb.sceneBoundingRect().contains(args[0]):
            return
        j = int(round(vb.mapSceneToView(args[0]).x()))
        vb.setToolTip(self.tooltip(j) if 0 <= j < len(self.record.targets) else "")
