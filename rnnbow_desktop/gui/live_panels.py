"""The panels that follow training: the smooth-loss curve, the text the model generates, and the status-bar figures."""

from __future__ import annotations

import html
import math
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QStatusBar, QVBoxLayout, QWidget

SMOOTH_DECAY = 0.999  # the trainer's smooth loss: s ← 0.999 s + 0.001 loss (min-char-rnn)
_EMA_CHUNK = 4096  # 0.999^-4096 ≈ 60: the chunked closed form below stays well conditioned


def smooth_loss_series(losses: np.ndarray, start: float, decay: float = SMOOTH_DECAY) -> np.ndarray:
    """The trainer's exponential moving average over per-batch losses, vectorized chunk by chunk."""
    losses = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(losses)
    previous = float(start)
    for lo in range(0, len(losses), _EMA_CHUNK):
        chunk = losses[lo : lo + _EMA_CHUNK]
        k = np.arange(len(chunk))
        # s_k = a^(k+1) s_prev + (1 - a) Σ_{i ≤ k} a^(k-i) x_i
        powers = decay ** k
        acc = np.cumsum(chunk / powers) * powers * (1.0 - decay)
        values = decay ** (k + 1) * previous + acc
        out[lo : lo + len(chunk)] = values
        previous = values[-1]
    return out


def initial_smooth_loss(vocab_size: int, seq_length: int) -> float:
    """The smooth loss a trainer starts from: uniform guessing over the vocabulary for n steps."""
    return -math.log(1.0 / max(vocab_size, 1)) * seq_length


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    return font


class LossCurve(QWidget):
    """Smooth loss over batches. Keeps at most MAX_POINTS points: past that it thins itself by 2,
    which loses nothing visible on a smoothed curve and keeps every redraw cheap on long runs."""

    MAX_POINTS = 100_000
    # A smoothed loss barely moves in half a second, while each redraw of the plot costs ~4 ms
    # (axes included) that the live gradient views need more.
    REFRESH_INTERVAL = 0.5

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(120)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "batch")
        item.setLabel("left", "smooth loss")
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

    def clear(self) -> None:
        self._n = 0
        self._stride = 1
        self._dirty = True
        self.refresh(force=True)

    def append(self, batches: np.ndarray, losses: np.ndarray) -> None:
        """Add points; batch numbers are whole numbers, increasing."""
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
        self.setPlaceholderText("Text generated by the network appears here as it trains: "
                                "random characters at first, then more and more like the corpus.")
        self._samples: list[tuple[int, str]] = []  # oldest first
        self._header = QTextCharFormat()
        self._header.setFontWeight(QFont.Weight.Bold)
        self._body = QTextCharFormat()

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


class TrainingStatus:
    """The figures in the status bar: state, batch, chars/s, smooth loss, records and the session file."""

    def __init__(self, bar: QStatusBar):
        self.state = QLabel()
        self.batch = QLabel()
        self.rate = QLabel()
        self.loss = QLabel()
        self.records = QLabel()
        self.path = QLabel()
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cell: str | None = None  # the shown session's cell, named after its file
        for label in (self.state, self.batch, self.rate, self.loss, self.records):
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.path, 1)
        self.show(state="", batch=None, rate=None, loss=None, records=None, path=None)

    def show(self, state: str, batch: int | None, rate: float | None, loss: float | None,
             records: int | None, path: Path | None) -> None:
        self.state.setText(f"<b>{html.escape(state)}</b>" if state else "")
        self.batch.setText("" if batch is None else f"batch {batch:,}")
        self.rate.setText("" if rate is None else f"{rate:,.0f} chars/s")
        self.loss.setText("" if loss is None or not math.isfinite(loss) else f"smooth loss {loss:.2f}")
        self.records.setText("" if records is None else f"{records:,} records")
        named = "" if path is None else str(path) + (f" ({self.cell})" if self.cell else "")
        self.path.setText(named)
        self.path.setToolTip("" if path is None else f"Session file: {named}")

    def text(self) -> str:
        """All figures as one line (what tests and screen readers see)."""
        parts = [w.text() for w in (self.state, self.batch, self.rate, self.loss, self.records, self.path)]
        return "  ".join(p.replace("<b>", "").replace("</b>", "") for p in parts if p)
