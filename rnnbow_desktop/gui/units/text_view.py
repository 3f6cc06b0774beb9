"""The probe text in a monospace grid, each character's background coloured by a value (a unit's activation, a loss difference).

Drawing is one image and a few dozen text runs per paint, whatever the text's length: the colours are
a (rows, columns) RGBA image drawn scaled, one pixel per character cell, and each visible row's text
is one drawText call. Only the rows in view are drawn; layout is vectorized over the characters.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QAbstractScrollArea

from ..live_panels import monospace_font
from ..views import palette

MARGIN = 4  # pixels around the grid
MIN_COLUMNS = 16
# Whitespace is drawn as a muted stand-in over its coloured cell, so a unit's value at a newline shows.
STAND_INS = {"\n": "↵", "\t": "⇥"}


class TextLayout:
    """Where every character of a text sits in a grid `columns` wide: a newline ends its row, long lines wrap."""

    def __init__(self, text: str, columns: int):
        self.text = text
        self.columns = columns = max(1, int(columns))
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        T = len(codes)
        index = np.arange(T)
        # A line is a newline and everything before it since the previous one.
        starts = np.flatnonzero(np.concatenate(([True], codes[:-1] == ord("\n")))) if T else np.zeros(0, np.int64)
        line = np.searchsorted(starts, index, side="right") - 1  # (T,) line of each character
        lengths = np.diff(np.append(starts, T))  # (lines,)
        rows_per_line = (lengths - 1) // columns + 1
        first_row = np.concatenate(([0], np.cumsum(rows_per_line)[:-1])).astype(np.int64)
        within = index - starts[line] if T else index
        self.row = first_row[line] + within // columns if T else index  # (T,)
        self.col = within % columns  # (T,)
        self.n_rows = int(rows_per_line.sum())
        self.grid = np.full((self.n_rows, columns), -1, dtype=np.int64)  # character index of each cell, −1 empty
        self.grid[self.row, self.col] = index
        # Each row holds a contiguous run of the text: its first index and length.
        self.row_first = np.zeros(self.n_rows, dtype=np.int64)
        self.row_count = np.bincount(self.row, minlength=self.n_rows).astype(np.int64)
        self.row_first[1:] = np.cumsum(self.row_count)[:-1]
        # Rows holding characters past Latin-1 are drawn cell by cell: another font may supply such a
        # glyph with another advance, which would shift the rest of a row drawn as one run.
        wide = codes > 0xFF
        self.row_is_wide = np.bincount(self.row[wide], minlength=self.n_rows) > 0
        printable = {c: (" " if c in STAND_INS else c if c.isprintable() else "·") for c in set(text)}
        self.display = "".join(printable[c] for c in text) if T else ""
        special = np.isin(codes, [ord(c) for c in STAND_INS])
        self.special = np.flatnonzero(special)  # indices drawn as muted stand-ins

    def row_text(self, r: int) -> str:
        first = int(self.row_first[r])
        return self.display[first : first + int(self.row_count[r])]


class UnitTextView(QAbstractScrollArea):
    """A text with a background colour per character; hovering a character emits its index."""

    hovered = Signal(object)  # int | None: the character under the mouse

    def __init__(self, parent=None, scrollable: bool = True):
        super().__init__(parent)
        self.setFont(monospace_font())
        metrics = QFontMetrics(self.font())
        self.cell_width = max(1, metrics.horizontalAdvance("M"))
        self.cell_height = metrics.height() + 2
        self.ascent = metrics.ascent() + 1
        self.text = ""
        self.layout_: TextLayout | None = None
        self.rgba: np.ndarray | None = None  # (T, 4) uint8 colour of each character, or None (all white)
        self._image: QImage | None = None
        self.hovered_index: int | None = None
        self.marked_index: int | None = None  # a character outlined for the user (e.g. by a click elsewhere)
        self.viewport().setMouseTracking(True)
        self.viewport().setAutoFillBackground(False)
        policy = Qt.ScrollBarPolicy.ScrollBarAsNeeded if scrollable else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        self.setVerticalScrollBarPolicy(policy)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    # -- content --------------------------------------------------------------------------------------
    def set_text(self, text: str) -> None:
        self.text = text
        self.rgba = None
        self.hovered_index = self.marked_index = None
        self._relayout(force=True)

    def set_colours(self, rgba: np.ndarray | None) -> None:
        """One RGBA colour (T, 4) uint8 per character, or None for a plain white background."""
        if rgba is not None and np.shape(rgba) != (len(self.text), 4):
            raise ValueError(f"colours must be ({len(self.text)}, 4), got {np.shape(rgba)}")
        self.rgba = None if rgba is None else np.asarray(rgba, dtype=np.uint8)
        self._build_image()
        self.viewport().update()

    def columns_for_width(self, width: int) -> int:
        return max(MIN_COLUMNS, (width - 2 * MARGIN) // self.cell_width)

    def rows_for_height(self, height: int) -> int:
        return max(1, (height - 2 * MARGIN) // self.cell_height)

    def _relayout(self, force: bool = False) -> None:
        columns = self.columns_for_width(self.viewport().width())
        if not force and self.layout_ is not None and self.layout_.columns == columns:
            return
        self.layout_ = TextLayout(self.text, columns)
        self._build_image()
        visible = self.rows_for_height(self.viewport().height())
        bar = self.verticalScrollBar()
        bar.setRange(0, max(0, self.layout_.n_rows - visible))
        bar.setPageStep(visible)
        bar.setSingleStep(1)
        self.viewport().update()

    def _build_image(self) -> None:
        layout = self.layout_
        if layout is None or layout.n_rows == 0:
            self._image = None
            return
        pixels = np.full((layout.n_rows, layout.columns, 4), 255, dtype=np.uint8)
        if self.rgba is not None:
            pixels[layout.row, layout.col] = self.rgba
        # Converted once to the raster engine's own format (the conversion copies the pixels): drawn as
        # RGBA8888, every paint converted the whole image again (4 ms of a 6 ms redraw at 10,000 characters).
        self._image = QImage(pixels.data, layout.columns, layout.n_rows, 4 * layout.columns,
                             QImage.Format.Format_RGBA8888).convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)

    # -- geometry -------------------------------------------------------------------------------------
    @property
    def first_row(self) -> int:
        return self.verticalScrollBar().value()

    def index_at(self, pos: QPoint) -> int | None:
        """The character at a viewport position, or None."""
        layout = self.layout_
        if layout is None:
            return None
        col = (pos.x() - MARGIN) // self.cell_width
        row = self.first_row + (pos.y() - MARGIN) // self.cell_height
        if pos.x() < MARGIN or pos.y() < MARGIN or not (0 <= col < layout.columns and 0 <= row < layout.n_rows):
            return None
        index = int(layout.grid[row, col])
        return index if index >= 0 else None

    def cell_rect(self, index: int) -> QRect:
        """The viewport rectangle of character `index` (possibly outside the visible part)."""
        layout = self.layout_
        row, col = int(layout.row[index]), int(layout.col[index])
        return QRect(MARGIN + col * self.cell_width, MARGIN + (row - self.first_row) * self.cell_height,
                     self.cell_width, self.cell_height)

    def scroll_to(self, index: int) -> None:
        """Scroll so that character `index` is in view."""
        if self.layout_ is None or not 0 <= index < len(self.text):
            return
        row = int(self.layout_.row[index])
        visible = self.rows_for_height(self.viewport().height())
        if not self.first_row <= row < self.first_row + visible:
            self.verticalScrollBar().setValue(max(0, row - visible // 3))

    def set_marked(self, index: int | None) -> None:
        if index != self.marked_index:
            self.marked_index = index
            self.viewport().update()

    # -- events ---------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()
        visible = self.rows_for_height(self.viewport().height())
        if self.layout_ is not None:
            self.verticalScrollBar().setRange(0, max(0, self.layout_.n_rows - visible))
            self.verticalScrollBar().setPageStep(visible)

    def mouseMoveEvent(self, event) -> None:
        index = self.index_at(event.position().toPoint())
        if index != self.hovered_index:
            self.hovered_index = index
            self.viewport().update()
            self.hovered.emit(index)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        if self.hovered_index is not None:
            self.hovered_index = None
            self.viewport().update()
            self.hovered.emit(None)
        super().leaveEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self.viewport())
        try:
            self.paint_rows(painter, self.first_row, self.rows_for_height(self.viewport().height()) + 1)
        finally:
            painter.end()

    def paint_rows(self, painter: QPainter, first: int, count: int) -> None:
        """Draw rows first … first + count − 1 of the layout at the top of the painter's device."""
        painter.fillRect(self.viewport().rect(), QColor(palette.BACKGROUND))
        layout = self.layout_
        if layout is None or layout.n_rows == 0:
            return
        first = max(0, min(first, layout.n_rows - 1))
        count = max(0, min(count, layout.n_rows - first))
        cw, ch = self.cell_width, self.cell_height
        if self._image is not None and self.rgba is not None:
            # Nearest-neighbour scaling (no smooth transform): each pixel becomes one sharp cell.
            target = QRectF(MARGIN, MARGIN, layout.columns * cw, count * ch)
            painter.drawImage(target, self._image, QRectF(0, first, layout.columns, count))
        painter.setFont(self.font())
        painter.setPen(QColor(palette.FOREGROUND))
        for k in range(count):
            r = first + k
            baseline = MARGIN + k * ch + self.ascent
            row_text = layout.row_text(r)
            if not layout.row_is_wide[r]:
                painter.drawText(QPointF(MARGIN, baseline), row_text)
                continue
            for c, glyph in enumerate(row_text):
                painter.drawText(QPointF(MARGIN + c * cw, baseline), glyph)
        # Newlines and tabs: muted stand-ins on the visible rows.
        lo, hi = np.searchsorted(layout.special, [layout.row_first[first],
                                                  layout.row_first[first + count - 1] + layout.row_count[first + count - 1]])
        if hi > lo:
            painter.setPen(QColor(palette.MUTED))
            for index in layout.special[lo:hi]:
                x = MARGIN + int(layout.col[index]) * cw
                y = MARGIN + (int(layout.row[index]) - first) * ch + self.ascent
                painter.drawText(QPointF(x, y), STAND_INS[self.text[index]])
        for index, colour, width in ((self.marked_index, palette.CURSOR, 2), (self.hovered_index, palette.FOREGROUND, 1)):
            if index is None or not 0 <= index < len(self.text):
                continue
            row = int(layout.row[index])
            if first <= row < first + count:
                painter.setPen(QPen(QColor(colour), width))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRect(MARGIN + int(layout.col[index]) * cw, MARGIN + (row - first) * ch, cw - 1, ch - 1))
