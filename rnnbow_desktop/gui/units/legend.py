"""A small colour bar under the Units view's text: what the background colours mean."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

from ..views import palette
from .colours import ColourScale

BAR_WIDTH = 120


class ColourLegend(QWidget):
    """low [colour bar] high — label."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scale: ColourScale | None = None
        self._image: QImage | None = None
        self.setMinimumHeight(self.fontMetrics().height() + 4)

    def set_scale(self, scale: ColourScale | None) -> None:
        self.scale = scale
        if scale is not None:
            self._pixels = scale.table.copy()  # (256, 4): one pixel row, kept alive with the image
            self._image = QImage(self._pixels.data, len(self._pixels), 1, 4 * len(self._pixels), QImage.Format.Format_RGBA8888)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(BAR_WIDTH + 300, self.fontMetrics().height() + 4)

    def paintEvent(self, event) -> None:
        if self.scale is None or self._image is None:
            return
        painter = QPainter(self)
        try:
            metrics = self.fontMetrics()
            h = self.height()
            low, high = f"{self.scale.low:+g}", f"{self.scale.high:+g}"
            x = 0
            painter.setPen(QColor(palette.FOREGROUND))
            painter.drawText(QRect(x, 0, metrics.horizontalAdvance(low) + 4, h), Qt.AlignmentFlag.AlignVCenter, low)
            x += metrics.horizontalAdvance(low) + 4
            painter.drawImage(QRect(x, 3, BAR_WIDTH, h - 6), self._image)
            painter.drawRect(QRect(x, 3, BAR_WIDTH, h - 6))
            x += BAR_WIDTH + 4
            painter.drawText(QRect(x, 0, metrics.horizontalAdvance(high) + 4, h), Qt.AlignmentFlag.AlignVCenter, high)
            x += metrics.horizontalAdvance(high) + 10
            painter.setPen(QColor(palette.MUTED))
            painter.drawText(QRect(x, 0, max(0, self.width() - x), h), Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(self.scale.label, Qt.TextElideMode.ElideRight, max(0, self.width() - x)))
        finally:
            painter.end()
