"""Area 1: the true next characters of the shown batch over the network's predictions, one cell per step."""

from __future__ import annotations

import unicodedata

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from . import palette

TRUE_ROW, PREDICTED_ROW = 1.0, 0.0
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


class CharacterRows(pg.GraphicsObject):
    """Two rows of glyphs centred on x = j, drawn in one paint call at a fixed pixel size.

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
        for row, cells in self.rows.items():
            for j, (glyph, color) in enumerate(cells):
                centre = transform.map(QPointF(j, row))
                box = QRectF(centre.x() - 2 * half, centre.y() - half, 4 * half, 2 * half)
                painter.setPen(QColor(color))
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, glyph)
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
        self.plot_widget.setFixedHeight(64)
        self.characters = CharacterRows()
        self.plot.addItem(self.characters)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.plot_widget)

        self.plot.vb.sigResized.connect(self._fit_font)
        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=60, slot=self._on_mouse_moved)
        selection.shownChanged.connect(self.refresh)

    def set_store(self, store) -> None:
        self.store = store
        n = store.config.seq_length if store is not None else 1
        self.plot.setXRange(-0.5, n - 0.5, padding=0)
        self.refresh()

    def _fit_font(self, *_) -> None:
        n = self.store.config.seq_length if self.store is not None else 25
        cell = self.plot.vb.width() / max(n, 1)
        self.characters.set_pixel_size(int(min(18, max(7, cell * 0.55))))

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
            c = vocab[target]
            glyph = visible_char(c)
            # Stand-in glyphs are greyed in the true row so they don't read as literal characters;
            # the prediction row keeps its right/wrong colour, which matters more.
            true_cells.append((glyph, palette.MUTED if glyph != c else palette.FOREGROUND))
            predicted_cells.append((visible_char(vocab[prediction]), palette.CORRECT if prediction == target else palette.WRONG))
        self.characters.set_cells(true_cells, predicted_cells)
        self._fit_font()

    def cells(self) -> list[tuple[str, str, str]]:
        """What is drawn: (true glyph, predicted glyph, predicted colour) per step."""
        rows = self.characters.rows
        return [(t[0], p[0], p[1]) for t, p in zip(rows[TRUE_ROW], rows[PREDICTED_ROW])]

    def tooltip(self, j: int) -> str:
        record, vocab = self.record, self.store.vocab
        true_c, pred_c, input_c = vocab[record.targets[j]], vocab[record.predictions[j]], vocab[record.inputs[j]]
        right = record.predictions[j] == record.targets[j]
        return (
            f"step j = {j}\ninput {describe_char(input_c)}\ntrue next {describe_char(true_c)}\n"
            f"predicted {describe_char(pred_c)}: {'right' if right else 'wrong'}\nloss {float(record.loss[j]):.4g}"
        )

    def _on_mouse_moved(self, args) -> None:
        # The tooltip is made for the cell under the mouse only: cheaper than one per cell per record.
        vb = self.plot.vb
        if self.record is None or not vb.sceneBoundingRect().contains(args[0]):
            return
        j = int(round(vb.mapSceneToView(args[0]).x()))
        vb.setToolTip(self.tooltip(j) if 0 <= j < len(self.record.targets) else "")
