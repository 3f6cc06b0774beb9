"""The row of display options above the gradient views (mode, separate offsets k, bar scale), for one session or for all compared ones."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from ..analysis.view_options import MODE_ITEMS, SCALE_ITEMS


class OptionBar(QWidget):
    """Emits what the user chose; `show_values` sets the controls without emitting (selection → controls)."""

    modeChosen = Signal(str)
    horizonKChosen = Signal(int)
    scaleChosen = Signal(str)

    def __init__(self, show_label: str = "show", parent=None):
        super().__init__(parent)
        self.mode_combo = QComboBox()
        for key, text in MODE_ITEMS:
            self.mode_combo.addItem(text, key)
        self.mode_combo.setToolTip("magnitude: the norm of each part; contribution: its signed share of the step's total gradient")
        self.mode_combo.currentIndexChanged.connect(lambda i: self.modeChosen.emit(self.mode_combo.itemData(i)))

        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 25)
        self.k_spin.setToolTip("how many loss offsets t − j get their own colour; the rest form the \"≥ k\" segment")
        self.k_spin.valueChanged.connect(self.horizonKChosen)

        self.scale_combo = QComboBox()
        for key, text in SCALE_ITEMS:
            self.scale_combo.addItem(text, key)
        self.scale_combo.setToolTip(
            "per batch: bars fill the plot; global: one scale for all batches (largest max gradient); "
            "recent window: the largest max gradient of the last 200 records up to the shown one"
        )
        self.scale_combo.currentIndexChanged.connect(lambda i: self.scaleChosen.emit(self.scale_combo.itemData(i)))

        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(6)
        for text, control in ((show_label, self.mode_combo), ("separate offsets k", self.k_spin),
                              ("bar scale", self.scale_combo)):
            label = QLabel(text)
            label.setBuddy(control)  # a label names its control: hidden with it when a figure is rendered
            self.row.addWidget(label)
            self.row.addWidget(control)
        self.row.addStretch(1)

    def add_option(self, widget: QWidget) -> None:
        """Another control after the bar scale, left of the gap."""
        self.row.insertWidget(self.row.count() - 1, widget)  # before the stretch

    def add_right(self, widget: QWidget) -> None:
        """A control or note at the right end of the row."""
        self.row.addWidget(widget)

    def show_values(self, mode: str, horizon_k: int, scale: str) -> None:
        for combo, value in ((self.mode_combo, mode), (self.scale_combo, scale)):
            with QSignalBlocker(combo):
                combo.setCurrentIndex(max(0, combo.findData(value)))
        with QSignalBlocker(self.k_spin):
            self.k_spin.setValue(horizon_k)
