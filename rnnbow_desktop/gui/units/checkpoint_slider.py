"""The Units view's checkpoint slider: moves through training one checkpoint at a time; at its right end it follows new ones."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

SETTLE_MS = 150  # a drag asks for one replay when it pauses, not one per checkpoint passed


class CheckpointSlider(QWidget):
    """`chosen(batch | None)`: a checkpointed batch, or None for "the newest" (the slider at its right end)."""

    chosen = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.batches: tuple[int, ...] = ()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("the checkpoint whose model is replayed; at the right end it follows new checkpoints")
        self.label = QLabel("no checkpoints")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("checkpoint 9,999,999 (99 of 99, newest)"))
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._emit)
        self.slider.valueChanged.connect(self._moved)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("checkpoint"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)

    @property
    def following(self) -> bool:
        return bool(self.batches) and self.slider.value() == len(self.batches) - 1

    @property
    def batch(self) -> int | None:
        """The checkpoint on the slider; None when there is none."""
        return self.batches[self.slider.value()] if self.batches else None

    def set_checkpoints(self, batches: tuple[int, ...], current: int | None) -> None:
        """New list of checkpoints; `current` None puts the slider at the newest."""
        self.batches = tuple(batches)
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, max(0, len(self.batches) - 1))
            index = len(self.batches) - 1 if current is None or current not in self.batches else self.batches.index(current)
            self.slider.setValue(max(0, index))
        self._label()

    def _label(self) -> None:
        if not self.batches:
            self.label.setText("no checkpoints")
            return
        i = self.slider.value()
        newest = ", newest" if i == len(self.batches) - 1 else ""
        self.label.setText(f"batch {self.batches[i]:,} ({i + 1} of {len(self.batches)}{newest})")

    def _moved(self, _value: int) -> None:
        self._label()
        self._settle.start()

    def _emit(self) -> None:
        if self.batches:
            self.chosen.emit(None if self.following else self.batch)
