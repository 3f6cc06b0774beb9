"""The training settings form, the session file to write, and the Start / Pause / Stop buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
    QStyle, QVBoxLayout, QWidget,
)

from ..core.cells import CELLS
from ..core.config import MAX_SEQ_LENGTH, TrainConfig

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"
_DEFAULTS = TrainConfig()
# The settings this form shows; the others keep TrainConfig's defaults.
FORM_FIELDS = ("cell", "hidden_size", "seq_length", "learning_rate", "record_every", "checkpoint_every", "seed")


def _spin(minimum: int, maximum: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setValue(value)
    box.setToolTip(tip)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    return box


class TrainingPanel(QWidget):
    """Settings with TrainConfig's defaults; emits requests, the window decides what happens."""

    startRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    stateChanged = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cell = QComboBox()
        self.cell.addItems(list(CELLS))
        self.cell.setToolTip("Recurrent cell: 'rnn' is the paper's vanilla tanh network")
        # Caps: one itemized batch costs n²·H·GH; beyond these a single batch takes seconds, and the
        # window could no longer stop (and finish the file) promptly on close.
        self.hidden_size = _spin(1, 1024, _DEFAULTS.hidden_size, "Number of hidden units (the paper: 100)")
        self.seq_length = _spin(2, MAX_SEQ_LENGTH, _DEFAULTS.seq_length,
                                "Characters per batch n, and steps the network is unrolled (the paper: 25; "
                                f"at most {MAX_SEQ_LENGTH}, where one recorded batch takes about a second at H = 256)")
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(4)
        self.learning_rate.setRange(0.0001, 100.0)
        self.learning_rate.setSingleStep(0.01)
        self.learning_rate.setValue(_DEFAULTS.learning_rate)
        self.learning_rate.setToolTip("Adagrad learning rate (min-char-rnn: 0.1)")
        self.record_every = _spin(1, 1_000_000, _DEFAULTS.record_every,
                                  "Record the itemized gradients of every k-th batch (1: every batch)", " batches")
        self.checkpoint_every = _spin(0, 10_000_000, _DEFAULTS.checkpoint_every,
                                      "Save the network's weights every k-th batch", " batches")
        self.checkpoint_every.setSpecialValueText("never")
        for box in (self.record_every, self.checkpoint_every):
            box.valueChanged.connect(lambda value, box=box: box.setSuffix(" batch" if value == 1 else " batches"))
            box.setSuffix(" batch" if box.value() == 1 else " batches")
        self.seed = _spin(0, 2**31 - 1, _DEFAULTS.seed, "Random seed: the same seed and settings train the same network")

        form = QFormLayout()
        form.addRow("Cell", self.cell)
        form.addRow("Hidden size", self.hidden_size)
        form.addRow("Sequence length", self.seq_length)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Record every", self.record_every)
        form.addRow("Checkpoint every", self.checkpoint_every)
        form.addRow("Seed", self.seed)
        self.defaults_button = QPushButton("Restore defaults")
        self.defaults_button.setToolTip("The paper's settings (TrainConfig's defaults)")
        self.defaults_button.clicked.connect(lambda: self.set_config(TrainConfig(cell=self.cell.currentText())))
        form.addRow("", self.defaults_button)

        self._out_path: Path | None = None
        self._out_confirmed = False
        self.out_label = QLabel()
        self.out_button = QPushButton("Choose…")
        self.out_button.setToolTip("Where the session is written while it trains")
        self.out_button.clicked.connect(self.choose_out_path)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_label, 1)
        out_row.addWidget(self.out_button)
        form.addRow("Session file", out_row)
        self._show_out_path()

        style = self.style()
        self.start_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Start training")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.stop_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self.stopRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self._state = IDLE
        self._can_start = False
        self.set_state(IDLE)

    # -- settings -----------------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        return TrainConfig(
            cell=self.cell.currentText(),
            hidden_size=self.hidden_size.value(),
            seq_length=self.seq_length.value(),
            learning_rate=self.learning_rate.value(),
            record_every=self.record_every.value(),
            checkpoint_every=self.checkpoint_every.value(),
            seed=self.seed.value(),
        )

    def set_config(self, config: TrainConfig) -> None:
        if self.cell.findText(config.cell) >= 0:
            self.cell.setCurrentText(config.cell)
        self.hidden_size.setValue(config.hidden_size)
        self.seq_length.setValue(config.seq_length)
        self.learning_rate.setValue(config.learning_rate)
        self.record_every.setValue(config.record_every)
        self.checkpoint_every.setValue(config.checkpoint_every)
        self.seed.setValue(config.seed)

    def settings_values(self) -> dict:
        """The form as plain values, for QSettings."""
        config = self.config()
        return {name: getattr(config, name) for name in FORM_FIELDS}

    def restore_values(self, values: dict) -> None:
        """Apply saved values, ignoring any that are missing or no longer valid."""
        current = self.config().to_dict()
        for name in FORM_FIELDS:
            if name not in values:
                continue
            try:
                # QSettings' INI backend hands back strings; convert to the default's type.
                current[name] = type(getattr(_DEFAULTS, name))(values[name])
            except (TypeError, ValueError):
                continue
        try:
            self.set_config(TrainConfig.from_dict(current))
        except (TypeError, ValueError):
            pass

    # -- session file -------------------------------------------------------------------------------
    @property
    def out_path(self) -> Path | None:
        """The file the user chose, or None for a new file in the per-user sessions folder."""
        return self._out_path

    @property
    def out_confirmed(self) -> bool:
        """True when the user agreed to replace an existing file (the save dialog asked)."""
        return self._out_confirmed

    def set_out_path(self, path: Path | None, confirmed: bool = False) -> None:
        self._out_path = None if path is None else Path(path)
        self._out_confirmed = confirmed
        self._show_out_path()

    def choose_out_path(self) -> None:
        start = str(self._out_path) if self._out_path else ""
        path, _ = QFileDialog.getSaveFileName(self, "Write the session to", start, "RNNbow sessions (*.h5)")
        if path:
            path = Path(path)
            if path.suffix.lower() not in (".h5", ".hdf5"):
                path = path.with_suffix(".h5")
            # The dialog has asked before returning an existing file; only then may it be replaced.
            self.set_out_path(path, confirmed=path.exists())

    def _show_out_path(self) -> None:
        if self._out_path is None:
            self.out_label.setText("<i>automatic</i>")
            self.out_label.setToolTip("A new file in your sessions folder, named after the corpus, cell and time. "
                                      "File › Save Session As copies it anywhere.")
        else:
            metrics = self.out_label.fontMetrics()
            self.out_label.setText(metrics.elidedText(self._out_path.name, Qt.TextElideMode.ElideMiddle, 160))
            self.out_label.setToolTip(str(self._out_path))

    # -- state --------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def set_can_start(self, can_start: bool) -> None:
        """Whether a corpus is chosen (it may still be loading: the window starts once it is ready)."""
        self._can_start = can_start
        self.set_state(self._state)

    def set_state(self, state: str) -> None:
        self._state = state
        idle = state == IDLE
        for widget in (self.cell, self.hidden_size, self.seq_length, self.learning_rate,
                       self.record_every, self.checkpoint_every, self.seed, self.out_button, self.defaults_button):
            widget.setEnabled(idle)
        self.start_button.setEnabled(idle and self._can_start)
        busy = state in (RUNNING, PAUSED)
        self.pause_button.setEnabled(busy)
        self.stop_button.setEnabled(busy)
        style = self.style()
        if state == PAUSED:
            self.pause_button.setText("Resume")
            self.pause_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        else:
            self.pause_button.setText("Pause")
            self.pause_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.stateChanged.emit(state)

    def _on_pause_clicked(self) -> None:
        if self._state == PAUSED:
            self.resumeRequested.emit()
        elif self._state == RUNNING:
            self.pauseRequested.emit()
