"""The panels that follow training: the smooth-loss curve and the text the model generates."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from ..core.loss_smoothing import LOSS_UNIT
from ..storage.module_session import NOT_AVAILABLE_FOR_EXTERNAL_MODEL


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    return font


class LossCurve(QWidget):
    """Smooth loss per character over batches. Keeps at most MAX_POINTS points: past that it thins itself by 2,
    which loses nothing visible on a smoothed curve and keeps every redraw cheap on long runs."""

    MAX_POINTS = 100_000
    # A smoothed loss barely moves in a third of a second, while each redraw of the plot costs 6–8 ms
    # (both axes re-laid as the ranges grow) that the live gradient views need more.
    REFRESH_INTERVAL = 0.35

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(120)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "batch")
        self.set_unit(LOSS_UNIT)
        item.setMenuEnabled(False)
        # Peak downsampling keeps spikes visible; no stepMode (it breaks with downsampling in 0.14).
        self.curve = item.plot(pen=pg.mkPen("#3060c0", width=1))
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        layout.addWidget(self.plot)
        self._x = np.empty(1024)
        self._y = np.empty(1024)
        self._n = 0
        self._stride = 1  # keep the batches that are multiples of this
        self._dirty = False
        self._last_refresh = 0.0

    def __len__(self) -> int:
        return self._n

    @property
    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x[: self._n], self._y[: self._n]

    def set_unit(self, unit: str) -> None:
        """The unit of the smooth loss: LOSS_UNIT, or TOKEN_LOSS_UNIT for a model recorded from PyTorch."""
        self.plot.getPlotItem().setLabel("left", f"smooth loss ({unit})")

    def clear(self) -> None:
        self._n = 0
        self._stride = 1
        self._dirty = True
        self.refresh(force=True)

    def append(self, batches: np.ndarray, losses: np.ndarray) -> None:
        """Add points: smooth losses per character at batch numbers that are whole numbers, increasing."""
        if len(batches) == 0:
            return
        xs, ys = np.asarray(batches, dtype=float), np.asarray(losses, dtype=float)
        # Keeping multiples of the stride makes the result independent of how the points arrive.
        keep = xs % self._stride == 0
        xs, ys = xs[keep], ys[keep]
        need = self._n + len(xs)
        if need > len(self._x):
            size = max(need, 2 * len(self._x))
            self._x = np.resize(self._x, size)
            self._y = np.resize(self._y, size)
        self._x[self._n : need] = xs
        self._y[self._n : need] = ys
        self._n = need
        while self._n > self.MAX_POINTS:
            self._stride *= 2
            kept = np.flatnonzero(self._x[: self._n] % self._stride == 0)
            self._x[: len(kept)] = self._x[kept]
            self._y[: len(kept)] = self._y[kept]
            self._n = len(kept)
        self._dirty = True

    @property
    def due(self) -> bool:
        """Something changed and REFRESH_INTERVAL has passed: `refresh()` would redraw."""
        return self._dirty and time.monotonic() - self._last_refresh >= self.REFRESH_INTERVAL

    def refresh(self, force: bool = False) -> None:
        """Redraw if anything changed and REFRESH_INTERVAL has passed (or `force`); called from the
        window's frame timer, never per append."""
        now = time.monotonic()
        if not self._dirty or (not force and now - self._last_refresh < self.REFRESH_INTERVAL):
            return
        self._dirty = False
        self._last_refresh = now
        x, y = self.data
        # Copies: pyqtgraph keeps references and our buffers are overwritten in place when thinning.
        self.curve.setData(x.copy(), y.copy())


class SamplesPanel(QPlainTextEdit):
    """Text the model generated while training, newest on top (the paper's Figure 4)."""

    MAX_SAMPLES = 300

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFont(monospace_font())
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.set_available(True)
        self._samples: list[tuple[int, str]] = []  # oldest first
        self._header = QTextCharFormat()
        self._header.setFontWeight(QFont.Weight.Bold)
        self._body = QTextCharFormat()

    def set_available(self, available: bool) -> None:
        """Whether the shown session can have generated text: not one recorded from an external model."""
        self.setPlaceholderText(
            "Text generated by the network appears here as it trains: random characters at first, then more "
            "and more like the corpus." if available else f"Generated text is {NOT_AVAILABLE_FOR_EXTERNAL_MODEL}."
        )

    @property
    def samples(self) -> list[tuple[int, str]]:
        return list(self._samples)

    def clear_samples(self) -> None:
        self._samples.clear()
        self.clear()

    def set_samples(self, samples) -> None:
        self.clear_samples()
        self.add_samples(samples)

    def add_samples(self, samples) -> None:
        samples = [(int(b), str(t)) for b, t in samples]
        if not samples:
            return
        self._samples.extend(samples)
        if len(self._samples) > self.MAX_SAMPLES:
            # Rare (every MAX_SAMPLES / 10 samples): drop a tenth of the oldest and redraw all.
            del self._samples[: len(self._samples) - self.MAX_SAMPLES * 9 // 10]
            self.clear()
            for i, (batch, text) in enumerate(self._samples):
                self._prepend(batch, text, first=i == 0)
        else:
            for batch, text in samples:
                self._prepend(batch, text, first=self.document().isEmpty())
        self.verticalScrollBar().setValue(0)

    def _prepend(self, batch: int, text: str, first: bool) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        cursor.beginEditBlock()
        cursor.insertText(f"Batch {batch:,}:", self._header)
        cursor.insertBlock()
        cursor.insertText(text.rstrip("\n"), self._body)
        if not first:
            cursor.insertBlock()  # ends this sample's text, before the older sample's header
            cursor.insertBlock()  # an empty line between samples
        cursor.endEditBlock()
